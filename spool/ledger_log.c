/* gm_ledger, on disk: the log file — open and load, sync, compact, and
 * removal of old generations. The table itself is ledger.c; the design and
 * the log format are described in ledger_internal.h. */
#include "gm/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/frame.h"
#include "gm/segment.h"
#include "gm/util.h"
#include "ledger_internal.h"

#define INITIAL_SLOTS 1024u

/* ---- files ---- */

static char *log_path(const gm_ledger_t *l, uint64_t generation, const char *suffix)
{
    return gm_asprintf("%s/ledger.%" PRIu64 ".log%s", l->dir, generation, suffix);
}

/* Parses "ledger.<generation>.log" or "ledger.<generation>.log.tmp". */
static bool parse_log_name(const char *name, uint64_t *generation, bool *tmp)
{
    if (strncmp(name, "ledger.", 7) != 0 || name[7] < '0' || name[7] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long g = strtoull(name + 7, &end, 10);
    if (errno != 0)
        return false;
    if (strcmp(end, ".log") == 0)
        *tmp = false;
    else if (strcmp(end, ".log.tmp") == 0)
        *tmp = true;
    else
        return false;
    *generation = g;
    return true;
}

/* Removes the logs of other generations than keep (older ones only when
 * older_only) and leftovers of compactions up to keep. */
static void remove_other_logs(const char *dir, uint64_t keep, bool older_only)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t g;
        bool tmp;
        if (!parse_log_name(de->d_name, &g, &tmp))
            continue;
        bool drop = tmp ? (g <= keep || !older_only) : (g < keep || (!older_only && g != keep));
        if (drop)
            (void)unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

/* Entries are laid out in their frames directly: entry j of a run of
 * frames sits at entry_at(buf, j), and seal_frames() then fills in the
 * version bytes and headers. */
#define FRAME_BYTES (GM_FRAME_HEADER + 1u + LOG_FRAME_ENTRIES * LOG_ENTRY)

static size_t frames_len(size_t n)
{
    size_t rem = n % LOG_FRAME_ENTRIES;
    return n / LOG_FRAME_ENTRIES * FRAME_BYTES + (rem ? GM_FRAME_HEADER + 1 + rem * LOG_ENTRY : 0);
}

static uint8_t *entry_at(uint8_t *buf, size_t j)
{
    return buf + j / LOG_FRAME_ENTRIES * FRAME_BYTES + GM_FRAME_HEADER + 1 + j % LOG_FRAME_ENTRIES * LOG_ENTRY;
}

static void seal_frames(uint8_t *buf, size_t n)
{
    for (size_t j = 0; j < n; j += LOG_FRAME_ENTRIES) {
        uint8_t *frame = buf + j / LOG_FRAME_ENTRIES * FRAME_BYTES;
        size_t k = n - j < LOG_FRAME_ENTRIES ? n - j : LOG_FRAME_ENTRIES;
        frame[GM_FRAME_HEADER] = LOG_VERSION;
        gm_frame_header(frame, frame + GM_FRAME_HEADER, (uint32_t)(1 + k * LOG_ENTRY));
    }
}

/* Waits for the file to be free and takes it. */
static void io_begin(gm_ledger_t *l)
{
    while (l->io_busy)
        pthread_cond_wait(&l->io_done, &l->lock);
    l->io_busy = true;
}

static void io_end(gm_ledger_t *l)
{
    l->io_busy = false;
    pthread_cond_broadcast(&l->io_done);
}

/* ---- public: log ---- */

int gm_ledger_sync(gm_ledger_t *l, uint64_t *generation, uint64_t *size, char *err, size_t errlen)
{
    pthread_mutex_lock(&l->lock);
    io_begin(l);
    uint8_t *batch = l->queue;
    size_t n = l->queued;
    uint64_t off = l->log_size, gen = l->generation;
    bool tail_dirty = l->tail_dirty;
    int fd = l->fd;
    if (n == 0) {
        io_end(l);
        pthread_mutex_unlock(&l->lock);
        *generation = gen;
        *size = off;
        return 0;
    }
    l->queue = NULL;
    l->queued = l->queue_cap = 0;
    pthread_mutex_unlock(&l->lock);

    size_t len = frames_len(n);
    uint8_t *buf = gm_malloc(len);
    for (size_t j = 0; j < n; j += LOG_FRAME_ENTRIES) {
        size_t k = n - j < LOG_FRAME_ENTRIES ? n - j : LOG_FRAME_ENTRIES;
        memcpy(entry_at(buf, j), batch + j * LOG_ENTRY, k * LOG_ENTRY);
    }
    seal_frames(buf, n);
    const char *what = "truncate";
    int rc = tail_dirty ? ftruncate(fd, (off_t)off) : 0;
    if (rc == 0) {
        what = "write";
        rc = gm_pwrite_all(fd, buf, len, off);
    }
    if (rc == 0) {
        what = "fdatasync";
        rc = fdatasync(fd);
    }
    int saved = errno;
    free(buf);
    /* Nothing half-written stays: cut back to the last durable size (the
     * next sync retries the cut before writing if this fails too). */
    if (rc != 0)
        tail_dirty = ftruncate(fd, (off_t)off) != 0;

    pthread_mutex_lock(&l->lock);
    if (rc == 0) {
        l->log_size = off + len;
        l->tail_dirty = false;
        for (size_t k = 0; k < n; k++) {
            const uint8_t *e = batch + k * LOG_ENTRY;
            size_t i = find(l, get_u64(e));
            uint32_t exp = get_u32(e + 8);
            if (i != SIZE_MAX && l->slots[i].durable_hour < exp)
                l->slots[i].durable_hour = exp;
        }
        free(batch);
        *generation = l->generation;
        *size = l->log_size;
    } else {
        l->tail_dirty = tail_dirty;
        /* Put the batch back ahead of what was queued meanwhile. */
        batch = gm_realloc(batch, (n + l->queued) * LOG_ENTRY);
        if (l->queued > 0)
            memcpy(batch + n * LOG_ENTRY, l->queue, l->queued * LOG_ENTRY);
        free(l->queue);
        l->queue = batch;
        l->queued += n;
        l->queue_cap = l->queued;
    }
    io_end(l);
    pthread_mutex_unlock(&l->lock);
    if (rc != 0) {
        char *path = log_path(l, gen, "");
        snprintf(err, errlen, "%s: %s failed: %s", path, what, strerror(saved));
        free(path);
        return -1;
    }
    return 0;
}

int gm_ledger_compact(gm_ledger_t *l, int64_t now_ms, uint64_t *generation, uint64_t *size, char *err, size_t errlen)
{
    /* Snapshot what the log durably holds and is still live, straight
     * into the frames; the CRCs are computed after the lock. */
    pthread_mutex_lock(&l->lock);
    io_begin(l);
    uint32_t now_hour = hour_of(now_ms);
    uint8_t *buf = gm_malloc(frames_len(l->count));
    size_t n = 0;
    for (size_t i = 0; i < l->cap; i++) {
        const ledger_slot_t *s = &l->slots[i];
        if (s->key == 0 || s->durable_hour <= now_hour)
            continue;
        uint8_t *e = entry_at(buf, n++);
        put_u64(e, s->key);
        put_u32(e + 8, s->durable_hour);
    }
    uint64_t gen = l->generation + 1;
    pthread_mutex_unlock(&l->lock);

    char *tmp = log_path(l, gen, ".tmp"), *path = log_path(l, gen, "");
    size_t len = frames_len(n);
    seal_frames(buf, n);
    const char *what = "open";
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0) {
        what = "write";
        rc = gm_pwrite_all(fd, buf, len, 0);
    }
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd);
    }
    bool renamed = false;
    if (rc == 0) {
        what = "rename";
        rc = rename(tmp, path);
        renamed = rc == 0;
    }
    if (rc == 0) {
        what = "fsync of the directory";
        rc = gm_fsync_dir(l->dir);
    }
    int saved = errno;
    free(buf);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        (void)unlink(renamed ? path : tmp);
        snprintf(err, errlen, "%s: %s failed: %s", tmp, what, strerror(saved));
    }
    free(tmp);
    free(path);

    pthread_mutex_lock(&l->lock);
    int old = -1;
    if (rc == 0) {
        old = l->fd;
        l->fd = fd;
        l->generation = gen;
        l->log_size = len;
        l->tail_dirty = false;
        *generation = gen;
        *size = len;
    }
    io_end(l);
    pthread_mutex_unlock(&l->lock);
    if (old >= 0)
        close(old);
    return rc == 0 ? 0 : -1;
}

void gm_ledger_drop_old(gm_ledger_t *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t gen = l->generation;
    pthread_mutex_unlock(&l->lock);
    remove_other_logs(l->dir, gen, true);
}

/* ---- open / close ---- */

typedef struct {
    gm_ledger_t *l;
    uint32_t now_hour;
} load_ctx_t;

static int load_cb(void *ctx, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    load_ctx_t *c = ctx;
    gm_ledger_t *l = c->l;
    (void)offset, (void)next;
    if (len < 1 || payload[0] != LOG_VERSION || (len - 1) % LOG_ENTRY != 0) {
        l->stats.corrupt++; /* a sound frame this version cannot read */
        return 0;
    }
    for (const uint8_t *e = payload + 1; e < payload + len; e += LOG_ENTRY) {
        uint64_t key = get_u64(e);
        uint32_t exp = get_u32(e + 8);
        if (key == 0)
            continue;
        if (exp <= c->now_hour) {
            l->stats.expired++;
            continue;
        }
        ledger_slot_t *s;
        gm_ledger_upsert(l, key, c->now_hour, exp, true, &s);
        if (s->durable_hour < exp)
            s->durable_hour = exp;
        l->stats.loaded++;
    }
    return 0;
}

static bool opts_ok(const char *dir, const gm_ledger_opts_t *opts, char *err, size_t errlen)
{
    if (dir == NULL || opts == NULL || opts->retention_ms <= 0 || opts->max_entries == 0) {
        snprintf(err, errlen, "ledger: a directory, a retention > 0 and max_entries > 0 are required");
        return false;
    }
    return true;
}

/* An empty table with no log open yet. */
static gm_ledger_t *ledger_new(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation)
{
    gm_ledger_t *l = gm_calloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->io_done, NULL);
    l->dir = gm_strdup(dir);
    l->retention_ms = opts->retention_ms;
    l->max_entries = opts->max_entries;
    l->cap = INITIAL_SLOTS;
    l->slots = gm_calloc(l->cap, sizeof(*l->slots));
    l->min_exp = UINT32_MAX;
    l->generation = generation;
    l->fd = -1;
    return l;
}

gm_ledger_t *gm_ledger_open(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation, uint64_t durable_size,
                            int64_t now_ms, char *err, size_t errlen)
{
    if (!opts_ok(dir, opts, err, errlen))
        return NULL;
    struct stat st;
    int bad = stat(dir, &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
    if (bad != 0) {
        snprintf(err, errlen, "%s: ledger directory: %s", dir, strerror(bad));
        return NULL;
    }

    gm_ledger_t *l = ledger_new(dir, opts, generation);

    char *path = log_path(l, generation, "");
    const char *what = "open";
    bool created = false;
    l->fd = open(path, O_RDWR | O_CLOEXEC);
    if (l->fd < 0 && errno == ENOENT) {
        l->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        created = true;
    }
    if (l->fd < 0)
        goto Error;
    what = "fsync of the directory";
    if (created && gm_fsync_dir(dir) != 0)
        goto Error;
    what = "fstat";
    if (fstat(l->fd, &st) != 0)
        goto Error;

    /* Past the checkpoint: written, but never acknowledged as durable. */
    uint64_t file_size = (uint64_t)st.st_size;
    if (durable_size != UINT64_MAX && file_size > durable_size) {
        what = "truncate";
        if (ftruncate(l->fd, (off_t)durable_size) != 0 || fsync(l->fd) != 0)
            goto Error;
        l->stats.torn_bytes += file_size - durable_size;
    }

    load_ctx_t ctx = {l, hour_of(now_ms)};
    gm_segment_scan_t scan;
    char scan_err[256];
    if (gm_segment_scan(l->fd, 0, UINT64_MAX, LOG_MAX_PAYLOAD, load_cb, &ctx, &scan, scan_err, sizeof(scan_err)) != 0) {
        snprintf(err, errlen, "%s: %s", path, scan_err);
        goto Cleanup;
    }
    l->stats.corrupt += scan.corrupt;
    l->log_size = scan.file_size;
    /* A bad frame with nothing sound after it, within the checkpoint: a bad
     * disk, or a log kept whole (UINT64_MAX). */
    if (scan.torn_bytes > 0) {
        what = "truncate";
        if (ftruncate(l->fd, (off_t)scan.valid_end) != 0 || fsync(l->fd) != 0)
            goto Error;
        l->stats.torn_bytes += scan.torn_bytes;
        l->log_size = scan.valid_end;
    }

    remove_other_logs(dir, generation, false);
    free(path);
    return l;

Error:
    snprintf(err, errlen, "%s: %s failed: %s", path, what, strerror(errno));
Cleanup:
    free(path);
    gm_ledger_close(l);
    return NULL;
}

gm_ledger_t *gm_ledger_open_snapshot(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation,
                                     int64_t now_ms, char *err, size_t errlen)
{
    if (!opts_ok(dir, opts, err, errlen))
        return NULL;
    gm_ledger_t *l = ledger_new(dir, opts, generation);

    int saved;
    char *path = log_path(l, generation, "");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto Error;
    }
    /* The writer may be appending: what is read is a prefix of whole frames,
     * and a frame cut short at the end is only not there yet. */
    load_ctx_t ctx = {l, hour_of(now_ms)};
    gm_segment_scan_t scan;
    char scan_err[256];
    int rc = gm_segment_scan(fd, 0, UINT64_MAX, LOG_MAX_PAYLOAD, load_cb, &ctx, &scan, scan_err, sizeof(scan_err));
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, scan_err);
        errno = EIO;
        goto Error;
    }
    l->log_size = scan.valid_end;
    free(path);
    return l;
Error:
    /* errno survives the clean-up: ENOENT tells the caller to read the
     * checkpoint again. */
    saved = errno;
    free(path);
    gm_ledger_close(l);
    errno = saved;
    return NULL;
}

void gm_ledger_close(gm_ledger_t *l)
{
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    pthread_cond_destroy(&l->io_done);
    pthread_mutex_destroy(&l->lock);
    free(l->queue);
    free(l->slots);
    free(l->dir);
    free(l);
}
