/* gm_spool: the write-ahead spool between the receiver and everything
 * downstream.
 *
 * Appenders (event-loop threads) write each accepted delivery as one frame
 * at the end of the active segment file, under a lock, into the page cache;
 * a single sync thread then fdatasyncs whatever has gathered (group commit)
 * and tells every waiter whose frame that sync covered. A 2xx may be sent
 * only from that notification. The loops never wait for the disk.
 *
 * One reader (the pipeline) consumes frames in order, only up to what is
 * synced, and releases segments once they are processed; released segments
 * are deleted after the retention (kept meanwhile for operators' replay).
 *
 * Files: DIR/<20-digit segment number>.seg, frames of gm_frame.h.
 *
 * Thread: gm_spool_append from any thread; the reader functions from one
 * thread at a time; open/start/stop/close from the main thread.
 * Ownership: gm_spool_open returns a spool owned by the caller, released by
 * gm_spool_close after gm_spool_stop. Waiters belong to the appender and
 * must stay valid until their on_synced call. */
#ifndef GM_SPOOL_H
#define GM_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "gm/frame.h"

typedef struct gm_spool gm_spool_t;

/* Where the next unprocessed frame starts. */
typedef struct {
    uint64_t segment;
    uint64_t offset;
} gm_spool_pos_t;

typedef struct {
    const char *dir;
    uint64_t segment_bytes;  /* rotate past this size */
    uint64_t min_free_bytes; /* refuse appends when the file system has less free */
    uint32_t max_record;     /* largest payload a frame may hold (for reading) */
    int64_t retention_ms;    /* keep processed segments this long; 0 = delete at once */
    uint64_t reserve_bytes;  /* kept free on top of min_free for the bookkeeping files beside the spool */
} gm_spool_opts_t;

typedef struct gm_spool_waiter gm_spool_waiter_t;
struct gm_spool_waiter {
    /* Called once, on the sync thread, without spool locks held: ok = 1 when
     * the frame is on disk, 0 when the sync failed (answer 503). */
    void (*on_synced)(gm_spool_waiter_t *w, int ok);
    uint64_t _seq;
    gm_spool_waiter_t *_next;
};

/* Recovery: called at open for every frame from `from` on (they will be
 * processed again), so that the caller can rebuild in-memory state such as
 * the delivery ledger. */
typedef void (*gm_spool_recover_cb)(void *ctx, const gm_spool_entry_t *e);

typedef struct {
    uint64_t segments;      /* segment files present */
    uint64_t pending;       /* frames appended or recovered, not yet released by the reader */
    uint64_t pending_bytes;
    uint64_t appended;      /* frames appended since start */
    uint64_t append_errors; /* appends refused (disk full, I/O error, low space) */
    uint64_t syncs;         /* fdatasync batches */
    uint64_t sync_errors;
    uint64_t recovered;     /* frames found after the checkpoint at start */
    uint64_t torn_bytes;    /* cut from segment tails at start */
    uint64_t corrupt;       /* corrupt frames skipped (start and reading) */
    int writable;           /* 0 after a failed append or sync, until one succeeds */
} gm_spool_stats_t;

/* Sync latency histogram bounds in µs (+Inf implicit), for /metrics. */
#define GM_SPOOL_SYNC_BUCKETS 10
extern const uint64_t gm_spool_sync_bounds_us[GM_SPOOL_SYNC_BUCKETS];

gm_spool_t *gm_spool_open(const gm_spool_opts_t *opts, gm_spool_pos_t from, gm_spool_recover_cb cb, void *ctx,
                          char *err, size_t errlen);
int gm_spool_start(gm_spool_t *s, char *err, size_t errlen);
/* Syncs what is appended, notifies the last waiters and stops the thread. */
void gm_spool_stop(gm_spool_t *s);
void gm_spool_close(gm_spool_t *s);

/* Appends one entry and queues w. Returns 0, or -1 with the reason (nothing
 * is left half-written; w is not queued and will not be called). */
int gm_spool_append(gm_spool_t *s, const gm_spool_entry_t *e, gm_spool_waiter_t *w, char *err, size_t errlen);

/* Blocks until everything appended before the call is synced, and returns
 * the position just past it. Returns 0, or -1 when a sync failed (the spool
 * moved to a new segment; the caller may retry). For callers that append
 * without waiters of their own (gm_spool_append_nowait). */
int gm_spool_flush(gm_spool_t *s, gm_spool_pos_t *end, char *err, size_t errlen);

/* Appends without a waiter: durability comes from a later gm_spool_flush. */
int gm_spool_append_nowait(gm_spool_t *s, const gm_spool_entry_t *e, char *err, size_t errlen);

/* Before gm_spool_open: cuts the spool in `dir` back to `to` (the segment
 * file is truncated there, later segments removed), because what follows it
 * will be written again. Returns the bytes removed, or -1 with the reason. */
int64_t gm_spool_cut(const char *dir, gm_spool_pos_t to, char *err, size_t errlen);

/* Reader. gm_spool_wait blocks up to timeout_ms for synced frames after pos
 * (or until gm_spool_wake); returns 1 when there are some. */
int gm_spool_wait(gm_spool_t *s, gm_spool_pos_t pos, int timeout_ms);
void gm_spool_wake(gm_spool_t *s);

/* Calls cb for up to max synced entries from *pos, advancing *pos past each
 * one for which cb returns 0; cb returns 1 to stop before that entry (it is
 * read again next time). Returns
 * the number of entries consumed, or -1 with the reason. */
typedef int (*gm_spool_read_cb)(void *ctx, const gm_spool_entry_t *e);
long gm_spool_read(gm_spool_t *s, gm_spool_pos_t *pos, size_t max, gm_spool_read_cb cb, void *ctx, char *err,
                   size_t errlen);

/* gm_spool_read that stops at `limit` as well as at the synced end. */
long gm_spool_read_until(gm_spool_t *s, gm_spool_pos_t *pos, gm_spool_pos_t limit, size_t max, gm_spool_read_cb cb,
                         void *ctx, char *err, size_t errlen);

/* Everything before `done` is processed (and checkpointed): count it out of
 * the pending figures and delete released segments past the retention. */
void gm_spool_release(gm_spool_t *s, gm_spool_pos_t done, uint64_t frames, int64_t now_ms);

void gm_spool_stats(gm_spool_t *s, gm_spool_stats_t *out);

/* Readiness: 0 when an append would be taken now (enough free space, and no
 * failure in the last few seconds unless an append has worked since), else
 * -1 with the reason. Probes the file system, so it recovers by itself once
 * space returns even when no delivery arrives to prove it. */
int gm_spool_check(gm_spool_t *s, char *err, size_t errlen);
/* Copies the sync latency histogram (GM_SPOOL_SYNC_BUCKETS + 1 counts) and
 * the sum in µs. */
void gm_spool_sync_histogram(gm_spool_t *s, uint64_t *buckets, uint64_t *sum_us);

#endif
