/* gm_metrics: the process's counters, rendered in Prometheus text format.
 *
 * One gm_metrics_t lives in the process context. Every field is atomic:
 * event-loop threads and workers bump counters without locks, and the
 * /metrics handler reads them with relaxed loads (a scrape need not be a
 * consistent snapshot, only monotonic per counter). */
#ifndef GM_METRICS_H
#define GM_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "gm/record.h"

typedef enum {
    GM_EV_PING = 0,
    GM_EV_WORKFLOW_RUN,
    GM_EV_WORKFLOW_JOB,
    GM_EV_OTHER,   /* any other X-GitHub-Event */
    GM_EV_UNKNOWN, /* missing, or not yet known when the request was refused */
    GM_EV__COUNT
} gm_event_kind_t;

typedef enum {
    GM_OUT_ACCEPTED = 0,
    GM_OUT_IGNORED,
    GM_OUT_DUPLICATE,
    GM_OUT_BAD_SIGNATURE,
    GM_OUT_BAD_REQUEST,
    GM_OUT_TOO_LARGE,
    GM_OUT_UNSUPPORTED_MEDIA_TYPE,
    GM_OUT_METHOD_NOT_ALLOWED,
    GM_OUT_UNAVAILABLE, /* accepted by the checks, but could not be stored or processed: 503 */
    GM_OUT__COUNT
} gm_outcome_t;

typedef enum { GM_DUP_DELIVERY = 0, GM_DUP_RUN, GM_DUP_JOB, GM_DUP__COUNT } gm_dup_kind_t;

/* Upper bounds (µs) of the delivery latency histogram; +Inf is implicit. */
#define GM_LATENCY_BUCKETS 12

typedef struct {
    _Atomic uint64_t deliveries[GM_EV__COUNT][GM_OUT__COUNT];
    _Atomic uint64_t records_written[2];   /* [0] runs, [1] jobs */
    _Atomic uint64_t records_skipped;      /* completed deliveries that could not make a record */
    _Atomic uint64_t anomalies[GM_ANOMALY_COUNT];
    _Atomic uint64_t sink_errors;
    _Atomic uint64_t duplicates[GM_DUP__COUNT]; /* deliveries refused as seen, records not written twice */
    _Atomic uint64_t processed;                 /* spooled deliveries processed */
    _Atomic uint64_t process_retries;           /* batches retried after a sink or checkpoint error */
    _Atomic uint64_t checkpoints;
    _Atomic uint64_t latency_bucket[GM_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t http_errors; /* errors h2o answered before routing (malformed HTTP) */
    _Atomic uint64_t shared_ledger_errors;  /* DynamoDB claims that failed (retried) */
    _Atomic int64_t shared_ledger_failing_since_ms; /* first failure of the current streak; 0 = answering */
    _Atomic uint64_t records_backfilled[2]; /* of records_written, those the backfill brought: [0] runs, [1] jobs */
    int64_t started_at_ms;        /* set once at start */
} gm_metrics_t;

void gm_metrics_init(gm_metrics_t *m);

gm_event_kind_t gm_metrics_event_kind(const char *event, size_t len);
const char *gm_metrics_outcome_name(gm_outcome_t o);

void gm_metrics_count_delivery(gm_metrics_t *m, gm_event_kind_t ev, gm_outcome_t out, uint64_t elapsed_us);
/* For answers given without a measured exchange (h2o's own 413). */
void gm_metrics_count_outcome(gm_metrics_t *m, gm_event_kind_t ev, gm_outcome_t out);
void gm_metrics_count_anomalies(gm_metrics_t *m, unsigned anomaly_bits);

/* Appends the Prometheus exposition to f. Returns 0, or -1 on a write error. */
int gm_metrics_render(const gm_metrics_t *m, FILE *f);

/* Resident set size of this process in bytes (0 when unknown). */
uint64_t gm_metrics_rss_bytes(void);

#endif
