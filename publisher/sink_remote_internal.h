/* Private to the remote sink (publisher/sink_remote*.c): its state, shared
 * by the publisher (sink_remote.c) and its /metrics rendering
 * (sink_remote_metrics.c). */
#ifndef GM_SINK_REMOTE_INTERNAL_H
#define GM_SINK_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "gm/remote.h"
#include "gm/spool.h"

#define MAX_CODES 16

typedef struct {
    char code[64];
    uint64_t count;
} code_count_t;

typedef struct {
    gm_sink_t super;
    const gm_config_t *cfg;
    char *dir, *outbox_dir, *inflight_dir, *inflight_tmp, *dead_letter;
    gm_remote_client_t *client;
    gm_spool_t *outbox;

    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
    int64_t stop_deadline_ms;
    gm_spool_pos_t readable; /* confirmed by a saved checkpoint (lock) */
    gm_spool_pos_t cursor;   /* publisher thread only: everything before is in committed requests */
    gm_spool_pos_t pending_end; /* publisher thread only: read into the client up to here */
    uint64_t pending_lines;     /* publisher thread only: lines read since the last release */
    char **held;                /* publisher thread only: bodies taken from the client, not yet committed */
    size_t nheld;

    /* Figures (lock). */
    uint64_t requests_ok, requests_failed, retries, throttles, auth_errors, items_sent, bytes_sent, dead_letters;
    int64_t backlog_since_ms; /* write time of the oldest line not yet sent; 0 = none */
    int64_t last_success_ms;
    code_count_t codes[MAX_CODES];
    char last_error[384];
} remote_t;

/* The sink's Prometheus series (gm_sink_ops_t.metrics). */
void gm_remote_metrics(gm_sink_t *s, FILE *f);

/* Wall-clock milliseconds. */
int64_t gm_remote_now_ms(void);

#endif
