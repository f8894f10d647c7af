/* The spool: segment files of frames, one appender lock, one sync thread.
 *
 * Appends go to the page cache under s->lock (a memcpy-sized critical
 * section); the sync thread takes every append made since its last pass,
 * fdatasyncs the files they touched outside the lock, and only then moves
 * `synced` forward and calls the waiters. Readers never look past `synced`,
 * so nothing is processed that a crash could still take back.
 *
 * This file: opening and recovery, appending, the sync thread, flush. The
 * reader side (wait, read, release, figures, cut) is spool_read.c; the
 * shared structure is in spool_internal.h. */
#define _GNU_SOURCE
#include "gm/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/segment.h"
#include "gm/util.h"
#include "spool_internal.h"

const uint64_t gm_spool_sync_bounds_us[GM_SPOOL_SYNC_BUCKETS] = {250,   500,   1000,   2500,   5000,
                                                                 10000, 25000, 100000, 500000, 2000000};

#define FREE_CHECK_INTERVAL_MS 100
/* Group commit waits this long at most for the clients it just answered to
 * send their next delivery, so that one sync covers them all instead of the
 * first one or two. Only when the last batch held more than one delivery:
 * a lone client never waits. */
#define COMMIT_DELAY_US 300
/* /readyz says ready only with room for a delivery of this size. */
#define READY_HEADROOM (64u << 10)

/* Intervals (free-space checks, failure holds) on the monotonic clock, so a
 * step of the wall clock cannot stretch them. */
static int64_t mono_ms(void)
{
    return (int64_t)(gm_mono_us() / 1000);
}

static seginfo_t *seg_find(gm_spool_t *s, uint64_t segment)
{
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i].segment == segment)
            return &s->segs[i];
    return NULL;
}

static void seg_push(gm_spool_t *s, uint64_t segment, uint64_t size)
{
    if (s->nsegs == s->capsegs) {
        s->capsegs = s->capsegs ? s->capsegs * 2 : 16;
        s->segs = gm_realloc(s->segs, s->capsegs * sizeof(*s->segs));
    }
    s->segs[s->nsegs++] = (seginfo_t){segment, size};
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers present in the directory, sorted. */
uint64_t *gm_spool_list_segments(int dirfd, size_t *count)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    uint64_t *out = NULL;
    size_t n = 0, cap = 0;
    *count = 0;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        size_t len = strlen(de->d_name);
        if (len != 24 || strcmp(de->d_name + 20, ".seg") != 0)
            continue;
        uint64_t seg = strtoull(de->d_name, &end, 10);
        if (end != de->d_name + 20)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            out = gm_realloc(out, cap * sizeof(*out));
        }
        out[n++] = seg;
    }
    closedir(d);
    if (n > 1)
        qsort(out, n, sizeof(*out), cmp_u64);
    *count = n;
    return out;
}

static int open_segment(gm_spool_t *s, uint64_t segment, int create, char *err, size_t errlen)
{
    char name[32];
    seg_name(name, sizeof(name), segment);
    int fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0640);
    if (fd < 0)
        snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
    return fd;
}

/* --- recovery ------------------------------------------------------------- */

typedef struct {
    gm_spool_t *s;
    gm_spool_recover_cb cb;
    void *ctx;
} recover_ctx_t;

static int recover_frame(void *arg, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    recover_ctx_t *rc = arg;
    gm_spool_entry_t e;
    (void)offset;
    if (gm_spool_entry_decode(payload, len, &e) != 0) {
        rc->s->st.corrupt++;
    } else {
        rc->s->st.recovered++;
        rc->s->st.pending++;
        rc->s->st.pending_bytes += next - offset;
        if (rc->cb != NULL)
            rc->cb(rc->ctx, &e);
    }
    return 0;
}

/* Scans every segment from `from`, cuts torn tails, and leaves the last one
 * open for appending. */
static int recover(gm_spool_t *s, gm_spool_pos_t from, gm_spool_recover_cb cb, void *ctx, char *err, size_t errlen)
{
    size_t n = 0;
    uint64_t *list = gm_spool_list_segments(s->dirfd, &n);
    recover_ctx_t rc = {s, cb, ctx};
    int rv = -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t seg = list[i];
        int fd = open_segment(s, seg, 0, err, errlen);
        if (fd < 0)
            goto Exit;
        uint64_t start = seg < from.segment ? UINT64_MAX : seg == from.segment ? from.offset : 0;
        gm_segment_scan_t scan = {0};
        int r = 0;
        if (start == UINT64_MAX) {
            /* Already processed: kept only for the retention. */
            struct stat st;
            r = fstat(fd, &st);
            scan.valid_end = r == 0 ? (uint64_t)st.st_size : 0;
        } else {
            r = gm_segment_scan(fd, start, UINT64_MAX, s->opts.max_record, recover_frame, &rc, &scan, err, errlen);
            s->st.corrupt += scan.corrupt;
            if (r == 0 && scan.torn_bytes > 0) {
                /* A crash mid-append: that delivery was never acknowledged. */
                s->st.torn_bytes += scan.torn_bytes;
                if (ftruncate(fd, (off_t)scan.valid_end) != 0 || fdatasync(fd) != 0) {
                    snprintf(err, errlen, "%s: cannot cut a torn tail: %s", s->dir, strerror(errno));
                    r = -1;
                }
            } else if (r == 0) {
                (void)fdatasync(fd); /* what a crashed process left in the page cache */
            }
        }
        if (r != 0) {
            close(fd);
            goto Exit;
        }
        seg_push(s, seg, scan.valid_end);
        if (i + 1 == n) {
            s->active = seg;
            s->active_fd = fd;
            s->active_size = scan.valid_end;
        } else {
            close(fd);
        }
    }
    if (n == 0) {
        s->active = from.segment > 0 ? from.segment : 1;
        if ((s->active_fd = open_segment(s, s->active, 1, err, errlen)) < 0)
            goto Exit;
        s->active_size = 0;
        seg_push(s, s->active, 0);
        if (fsync(s->dirfd) != 0) {
            snprintf(err, errlen, "%s: fsync: %s", s->dir, strerror(errno));
            goto Exit;
        }
    }
    s->append_pos = s->synced_pos = (gm_spool_pos_t){s->active, s->active_size};
    /* A checkpoint past every segment (they were all deleted) still reads
     * from the first present one. */
    s->released = from;
    if (n > 0 && from.segment < list[0])
        s->released = (gm_spool_pos_t){list[0], 0};
    rv = 0;
Exit:
    free(list);
    return rv;
}

gm_spool_t *gm_spool_open(const gm_spool_opts_t *opts, gm_spool_pos_t from, gm_spool_recover_cb cb, void *ctx,
                          char *err, size_t errlen)
{
    gm_spool_t *s = gm_calloc(1, sizeof(*s));
    s->opts = *opts;
    s->dir = gm_strdup(opts->dir);
    s->opts.dir = s->dir;
    s->active_fd = s->read_fd = -1;
    s->st.writable = 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->sync_cond, NULL);
    pthread_cond_init(&s->read_cond, NULL);
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "%s: %s", s->dir, strerror(errno));
        gm_spool_close(s);
        return NULL;
    }
    if (recover(s, from, cb, ctx, err, errlen) != 0) {
        gm_spool_close(s);
        return NULL;
    }
    return s;
}

/* --- appending ------------------------------------------------------------ */

static int rotate_locked(gm_spool_t *s, char *err, size_t errlen)
{
    int fd = open_segment(s, s->active + 1, 1, err, errlen);
    if (fd < 0)
        return -1;
    s->unsynced_fds = gm_realloc(s->unsynced_fds, (s->unsynced_count + 1) * sizeof(int));
    s->unsynced_fds[s->unsynced_count++] = s->active_fd;
    s->active++;
    s->active_fd = fd;
    s->active_size = 0;
    s->dir_dirty = 1;
    s->force_rotate = 0;
    seg_push(s, s->active, 0);
    return 0;
}

static int enough_space_locked(gm_spool_t *s, uint64_t need, char *err, size_t errlen)
{
    int64_t now = mono_ms();
    uint64_t reserve = s->opts.min_free_bytes + s->opts.reserve_bytes;
    if (now - s->free_checked_ms >= FREE_CHECK_INTERVAL_MS || s->free_bytes < reserve + need) {
        struct statvfs vfs;
        if (fstatvfs(s->dirfd, &vfs) == 0) {
            s->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
            s->free_checked_ms = now;
        }
    }
    if (s->free_bytes < reserve + need) {
        snprintf(err, errlen, "%s: %" PRIu64 " bytes free, keeping %" PRIu64 " in reserve", s->dir, s->free_bytes,
                 reserve);
        return 0;
    }
    s->free_bytes -= need;
    return 1;
}

int gm_spool_append_nowait(gm_spool_t *s, const gm_spool_entry_t *e, char *err, size_t errlen)
{
    return gm_spool_append(s, e, NULL, err, errlen);
}

int gm_spool_append(gm_spool_t *s, const gm_spool_entry_t *e, gm_spool_waiter_t *w, char *err, size_t errlen)
{
    size_t plen = gm_spool_entry_size(e);
    size_t flen = GM_FRAME_HEADER + plen;
    uint8_t *frame = gm_malloc(flen);
    gm_spool_entry_encode(e, frame + GM_FRAME_HEADER);
    gm_frame_header(frame, frame + GM_FRAME_HEADER, (uint32_t)plen); /* CRC outside the lock */

    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        snprintf(err, errlen, "spool is stopping");
        goto Exit;
    }
    if (!enough_space_locked(s, flen, err, errlen))
        goto Failed;
    if ((s->force_rotate || (s->active_size > 0 && s->active_size + flen > s->opts.segment_bytes)) &&
        rotate_locked(s, err, errlen) != 0)
        goto Failed;
    if (gm_pwrite_all(s->active_fd, frame, flen, s->active_size) != 0) {
        int saved = errno;
        /* Leave no partial frame behind: the next append starts clean, and a
         * restart would cut it anyway. */
        if (ftruncate(s->active_fd, (off_t)s->active_size) != 0)
            s->force_rotate = 1;
        snprintf(err, errlen, "%s: write: %s", s->dir, strerror(saved));
        goto Failed;
    }
    s->active_size += flen;
    seg_find(s, s->active)->size = s->active_size;
    s->append_pos = (gm_spool_pos_t){s->active, s->active_size};
    ++s->appended_seq;
    if (w != NULL) {
        w->_seq = s->appended_seq;
        w->_next = NULL;
        if (s->wait_tail != NULL)
            s->wait_tail->_next = w;
        else
            s->wait_head = w;
        s->wait_tail = w;
    }
    s->st.appended++;
    s->st.pending++;
    s->st.pending_bytes += flen;
    s->st.writable = 1;
    pthread_cond_signal(&s->sync_cond);
    rc = 0;
    goto Exit;
Failed:
    s->st.append_errors++;
    s->st.writable = 0;
    s->failed_ms = mono_ms();
Exit:
    pthread_mutex_unlock(&s->lock);
    free(frame);
    return rc;
}

/* --- the sync thread ------------------------------------------------------ */

static void *sync_main(void *arg)
{
    gm_spool_t *s = arg;
    pthread_setname_np(pthread_self(), "gm-sync");
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->appended_seq == s->synced_seq && !s->stopping)
            pthread_cond_wait(&s->sync_cond, &s->lock);
        if (s->appended_seq == s->synced_seq && s->stopping)
            break;
        if (s->last_batch > 1 && !s->stopping) {
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_nsec += COMMIT_DELAY_US * 1000L;
            if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
            }
            while (s->appended_seq - s->synced_seq < s->last_batch && !s->stopping)
                if (pthread_cond_timedwait(&s->sync_cond, &s->lock, &deadline) == ETIMEDOUT)
                    break;
        }

        uint64_t target = s->appended_seq;
        s->last_batch = target - s->synced_seq;
        gm_spool_pos_t target_pos = s->append_pos;
        int fd = s->active_fd;
        int *old = s->unsynced_fds;
        size_t nold = s->unsynced_count;
        int dir_dirty = s->dir_dirty;
        s->unsynced_fds = NULL;
        s->unsynced_count = 0;
        s->dir_dirty = 0;
        pthread_mutex_unlock(&s->lock);

        /* The expensive part, with appends going on meanwhile. The active fd
         * cannot be closed under us: only this thread closes segment fds. */
        uint64_t t0 = gm_mono_us();
        int ok = 1;
        for (size_t i = 0; i < nold; i++) {
            if (fdatasync(old[i]) != 0)
                ok = 0;
            close(old[i]);
        }
        free(old);
        if (fdatasync(fd) != 0)
            ok = 0;
        if (dir_dirty && fsync(s->dirfd) != 0)
            ok = 0;
        uint64_t took = gm_mono_us() - t0;

        pthread_mutex_lock(&s->lock);
        s->st.syncs++;
        size_t b = 0;
        while (b < GM_SPOOL_SYNC_BUCKETS && took > gm_spool_sync_bounds_us[b])
            b++;
        s->sync_hist[b]++;
        s->sync_sum_us += took;
        if (!ok) {
            /* After a failed fdatasync the kernel may have dropped the dirty
             * pages: nothing written to that file can be trusted to become
             * durable, so appends move to a new segment. */
            s->st.sync_errors++;
            s->st.writable = 0;
            s->failed_ms = mono_ms();
            s->force_rotate = 1;
        }
        s->synced_seq = target;
        s->synced_pos = target_pos;
        gm_spool_waiter_t *done = s->wait_head, *last = NULL;
        for (gm_spool_waiter_t *w = s->wait_head; w != NULL && w->_seq <= target; w = w->_next)
            last = w;
        if (last != NULL) {
            s->wait_head = last->_next;
            if (s->wait_head == NULL)
                s->wait_tail = NULL;
            last->_next = NULL;
        } else {
            done = NULL;
        }
        if (!ok)
            s->sync_failures_seq = target;
        pthread_cond_broadcast(&s->read_cond);
        pthread_mutex_unlock(&s->lock);

        while (done != NULL) {
            gm_spool_waiter_t *next = done->_next;
            done->on_synced(done, ok);
            done = next;
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int gm_spool_start(gm_spool_t *s, char *err, size_t errlen)
{
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        snprintf(err, errlen, "cannot start the spool sync thread");
        return -1;
    }
    s->running = 1;
    return 0;
}

void gm_spool_stop(gm_spool_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->sync_cond);
    pthread_cond_broadcast(&s->read_cond);
    pthread_mutex_unlock(&s->lock);
    if (s->running)
        pthread_join(s->thread, NULL);
    s->running = 0;
}

void gm_spool_close(gm_spool_t *s)
{
    if (s == NULL)
        return;
    if (s->running)
        gm_spool_stop(s);
    for (size_t i = 0; i < s->unsynced_count; i++) {
        (void)fdatasync(s->unsynced_fds[i]);
        close(s->unsynced_fds[i]);
    }
    if (s->active_fd >= 0)
        close(s->active_fd);
    if (s->read_fd >= 0)
        close(s->read_fd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_cond_destroy(&s->sync_cond);
    pthread_cond_destroy(&s->read_cond);
    pthread_mutex_destroy(&s->lock);
    free(s->unsynced_fds);
    free(s->segs);
    free(s->dir);
    free(s);
}

/* --- flushing and readiness ------------------------------------------------ */

int gm_spool_flush(gm_spool_t *s, gm_spool_pos_t *end, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    uint64_t target = s->appended_seq;
    gm_spool_pos_t pos = s->append_pos;
    while (s->synced_seq < target && s->running && !s->stopping)
        pthread_cond_wait(&s->read_cond, &s->lock);
    int ok = 1;
    if (s->synced_seq < target) {
        /* No sync thread (not started, or stopping): sync here. */
        ok = fdatasync(s->active_fd) == 0;
        if (ok) {
            s->synced_seq = target;
            s->synced_pos = pos;
        }
    }
    /* A failed sync since the last flush may have lost any append since. */
    if (s->sync_failures_seq > s->flushed_seq)
        ok = 0;
    if (ok)
        s->flushed_seq = target;
    else
        s->flushed_seq = s->sync_failures_seq; /* report each failure once */
    pthread_mutex_unlock(&s->lock);
    if (!ok) {
        snprintf(err, errlen, "%s: sync failed", s->dir);
        return -1;
    }
    *end = pos;
    return 0;
}

#define FAILURE_HOLD_MS 2000

int gm_spool_check(gm_spool_t *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    s->free_checked_ms = 0; /* force a fresh look */
    int space = enough_space_locked(s, READY_HEADROOM, err, errlen);
    if (space)
        s->free_bytes += READY_HEADROOM; /* only looked: nothing was written */
    int recent = !s->st.writable && mono_ms() - s->failed_ms < FAILURE_HOLD_MS;
    if (space && !recent)
        s->st.writable = 1;
    pthread_mutex_unlock(&s->lock);
    if (space && recent)
        snprintf(err, errlen, "the last append or sync failed");
    return space && !recent ? 0 : -1;
}
