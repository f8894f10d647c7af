/* Private to the spool (spool/spool*.c): the appender, recovery and sync
 * thread (spool.c) and the reader side (spool_read.c) share the structure
 * below. See spool.c for the design. */
#ifndef GM_SPOOL_INTERNAL_H
#define GM_SPOOL_INTERNAL_H

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gm/spool.h"

typedef struct {
    uint64_t segment;
    uint64_t size;
} seginfo_t;

struct gm_spool {
    gm_spool_opts_t opts;
    char *dir;
    int dirfd;

    pthread_mutex_t lock;
    pthread_cond_t sync_cond; /* appends → sync thread */
    pthread_cond_t read_cond; /* sync thread → reader */
    pthread_t thread;
    int running, stopping;

    /* Appender state (lock). */
    uint64_t active;      /* segment number being appended to */
    int active_fd;
    uint64_t active_size;
    int *unsynced_fds;    /* rotated-away segments not yet synced; closed by the sync thread */
    size_t unsynced_count;
    int dir_dirty;        /* a segment was created: its directory entry needs a sync */
    int force_rotate;     /* after a failed sync, never append to that file again */
    uint64_t appended_seq, synced_seq;
    uint64_t sync_failures_seq; /* the last sync batch that failed */
    uint64_t flushed_seq;       /* covered by the last successful gm_spool_flush */
    uint64_t last_batch;        /* appends the last sync covered */
    gm_spool_pos_t append_pos, synced_pos;
    gm_spool_waiter_t *wait_head, *wait_tail;
    int64_t free_checked_ms;
    int64_t failed_ms; /* last failed append or sync */
    uint64_t free_bytes; /* as of free_checked_ms, less what was appended since */

    /* Segments present with their sizes, oldest first (lock). */
    seginfo_t *segs;
    size_t nsegs, capsegs;

    /* Reader state (reader thread only). */
    int read_fd;
    uint64_t read_segment;
    gm_spool_pos_t released;

    /* Figures (lock). */
    gm_spool_stats_t st;
    uint64_t sync_hist[GM_SPOOL_SYNC_BUCKETS + 1];
    uint64_t sync_sum_us;
};

static inline void seg_name(char *buf, size_t len, uint64_t segment)
{
    snprintf(buf, len, "%020" PRIu64 ".seg", segment);
}

/* Segment numbers present in the directory, sorted (spool.c). */
uint64_t *gm_spool_list_segments(int dirfd, size_t *count);

#endif
