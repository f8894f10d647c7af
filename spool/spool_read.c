/* The spool, reader side: waiting for and reading synced frames, releasing
 * what is processed (and deleting segments past the retention), figures,
 * and cutting a spool directory back to a position. See spool.c. */
#define _GNU_SOURCE
#include "gm/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/segment.h"

#include "spool_internal.h"

/* --- reading --------------------------------------------------------------- */

static int pos_before(gm_spool_pos_t a, gm_spool_pos_t b)
{
    return a.segment < b.segment || (a.segment == b.segment && a.offset < b.offset);
}

int gm_spool_wait(gm_spool_t *s, gm_spool_pos_t pos, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    while (!(rc = pos_before(pos, s->synced_pos)) && !s->stopping)
        if (pthread_cond_timedwait(&s->read_cond, &s->lock, &deadline) == ETIMEDOUT)
            break;
    if (!rc)
        rc = pos_before(pos, s->synced_pos);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int64_t gm_spool_cut(const char *dir, gm_spool_pos_t to, char *err, size_t errlen)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    size_t n = 0;
    uint64_t *list = gm_spool_list_segments(dirfd, &n);
    int64_t removed = 0;
    for (size_t i = 0; i < n && removed >= 0; i++) {
        char name[32];
        struct stat st;
        seg_name(name, sizeof(name), list[i]);
        if (list[i] < to.segment || fstatat(dirfd, name, &st, 0) != 0)
            continue;
        if (list[i] > to.segment) {
            if (unlinkat(dirfd, name, 0) == 0)
                removed += st.st_size;
        } else if ((uint64_t)st.st_size > to.offset) {
            int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || ftruncate(fd, (off_t)to.offset) != 0 || fdatasync(fd) != 0) {
                snprintf(err, errlen, "%s/%s: cannot cut: %s", dir, name, strerror(errno));
                removed = -1;
            } else {
                removed += st.st_size - (off_t)to.offset;
            }
            if (fd >= 0)
                close(fd);
        }
    }
    if (removed > 0)
        (void)fsync(dirfd);
    free(list);
    close(dirfd);
    return removed;
}

void gm_spool_wake(gm_spool_t *s)
{
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->read_cond);
    pthread_mutex_unlock(&s->lock);
}

typedef struct {
    gm_spool_t *s;
    gm_spool_pos_t *pos;
    size_t max, consumed;
    gm_spool_read_cb cb;
    void *ctx;
    int stopped;
} read_ctx_t;

static int read_frame(void *arg, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    read_ctx_t *rc = arg;
    gm_spool_entry_t e;
    (void)offset;
    if (gm_spool_entry_decode(payload, len, &e) != 0) {
        pthread_mutex_lock(&rc->s->lock);
        rc->s->st.corrupt++;
        pthread_mutex_unlock(&rc->s->lock);
        rc->pos->offset = next;
        return 0;
    }
    if (rc->cb(rc->ctx, &e) != 0) {
        rc->stopped = 1;
        return 1;
    }
    rc->pos->offset = next;
    if (++rc->consumed >= rc->max) {
        rc->stopped = 1;
        return 1;
    }
    return 0;
}

long gm_spool_read(gm_spool_t *s, gm_spool_pos_t *pos, size_t max, gm_spool_read_cb cb, void *ctx, char *err,
                   size_t errlen)
{
    return gm_spool_read_until(s, pos, (gm_spool_pos_t){UINT64_MAX, UINT64_MAX}, max, cb, ctx, err, errlen);
}

long gm_spool_read_until(gm_spool_t *s, gm_spool_pos_t *pos, gm_spool_pos_t limit, size_t max, gm_spool_read_cb cb,
                         void *ctx, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    gm_spool_pos_t synced = s->synced_pos;
    pthread_mutex_unlock(&s->lock);
    if (pos_before(limit, synced))
        synced = limit; /* a limit is a frame boundary the caller was given */

    read_ctx_t rc = {s, pos, max, 0, cb, ctx, 0};
    while (!rc.stopped && pos_before(*pos, synced)) {
        if (s->read_fd < 0 || s->read_segment != pos->segment) {
            if (s->read_fd >= 0)
                close(s->read_fd);
            char name[32];
            seg_name(name, sizeof(name), pos->segment);
            s->read_fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
            s->read_segment = pos->segment;
            if (s->read_fd < 0) {
                if (errno == ENOENT && pos->segment < synced.segment) {
                    *pos = (gm_spool_pos_t){pos->segment + 1, 0}; /* a gap: nothing there */
                    continue;
                }
                snprintf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
                return -1;
            }
        }
        uint64_t end = pos->segment == synced.segment ? synced.offset : UINT64_MAX;
        gm_segment_scan_t scan;
        if (gm_segment_scan(s->read_fd, pos->offset, end, s->opts.max_record, read_frame, &rc, &scan, err, errlen) !=
            0)
            return -1;
        if (scan.corrupt > 0 || scan.torn_bytes > 0) {
            pthread_mutex_lock(&s->lock);
            s->st.corrupt += scan.corrupt + (scan.torn_bytes > 0);
            pthread_mutex_unlock(&s->lock);
        }
        if (rc.stopped)
            break;
        if (pos->segment < synced.segment)
            *pos = (gm_spool_pos_t){pos->segment + 1, 0};
        else
            pos->offset = end; /* everything synced in the active segment is read */
    }
    return (long)rc.consumed;
}

static uint64_t bytes_between(gm_spool_t *s, gm_spool_pos_t a, gm_spool_pos_t b)
{
    if (!pos_before(a, b))
        return 0;
    if (a.segment == b.segment)
        return b.offset - a.offset;
    uint64_t n = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const seginfo_t *g = &s->segs[i];
        if (g->segment == a.segment)
            n += g->size > a.offset ? g->size - a.offset : 0;
        else if (g->segment > a.segment && g->segment < b.segment)
            n += g->size;
    }
    return n + b.offset;
}

void gm_spool_release(gm_spool_t *s, gm_spool_pos_t done, uint64_t frames, int64_t now)
{
    pthread_mutex_lock(&s->lock);
    uint64_t bytes = bytes_between(s, s->released, done);
    s->st.pending -= frames < s->st.pending ? frames : s->st.pending;
    s->st.pending_bytes -= bytes < s->st.pending_bytes ? bytes : s->st.pending_bytes;
    if (pos_before(s->released, done))
        s->released = done;
    /* Segments wholly before `done` are processed: candidates for deletion
     * once their last write is older than the retention. The active one
     * never is. Their files are looked at and unlinked outside the lock that
     * every append takes; nothing else touches a processed segment. */
    uint64_t *cand = NULL;
    size_t ncand = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        const seginfo_t *g = &s->segs[i];
        if (g->segment < done.segment && g->segment != s->active) {
            if (cand == NULL)
                cand = gm_malloc(s->nsegs * sizeof(*cand));
            cand[ncand++] = g->segment;
        }
    }
    pthread_mutex_unlock(&s->lock);

    size_t ngone = 0;
    for (size_t i = 0; i < ncand; i++) {
        char name[32];
        struct stat st;
        seg_name(name, sizeof(name), cand[i]);
        int expired = fstatat(s->dirfd, name, &st, 0) != 0 || (int64_t)st.st_mtime * 1000 + s->opts.retention_ms <= now;
        if (expired && (unlinkat(s->dirfd, name, 0) == 0 || errno == ENOENT))
            cand[ngone++] = cand[i];
    }
    if (ngone == 0) {
        free(cand);
        return;
    }
    pthread_mutex_lock(&s->lock);
    size_t keep = 0;
    for (size_t i = 0, j = 0; i < s->nsegs; i++) {
        /* Both lists are in segment order. */
        while (j < ngone && cand[j] < s->segs[i].segment)
            j++;
        if (j < ngone && cand[j] == s->segs[i].segment)
            continue;
        s->segs[keep++] = s->segs[i];
    }
    s->nsegs = keep;
    pthread_mutex_unlock(&s->lock);
    free(cand);
}

void gm_spool_stats(gm_spool_t *s, gm_spool_stats_t *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    out->segments = s->nsegs;
    pthread_mutex_unlock(&s->lock);
}

void gm_spool_sync_histogram(gm_spool_t *s, uint64_t *buckets, uint64_t *sum_us)
{
    pthread_mutex_lock(&s->lock);
    memcpy(buckets, s->sync_hist, sizeof(s->sync_hist));
    *sum_us = s->sync_sum_us;
    pthread_mutex_unlock(&s->lock);
}
