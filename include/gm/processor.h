/* gm_processor: one delivery's bytes → a record in the sink.
 *
 * The single path every delivery takes after it is authenticated, whether it
 * arrives over HTTP, from the spool on recovery, from an operator's replay or
 * from the backfill: decode (JSON or form-encoded), parse, derive the record,
 * render EMF, write to the sink, count. It does no HTTP and no signature
 * checking: callers hand it only bytes whose signature was verified.
 *
 * Thread: gm_processor_handle may be called from several threads at once; it
 * keeps no state of its own beyond the borrowed config, sink and metrics. */
#ifndef GM_PROCESSOR_H
#define GM_PROCESSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "gm/config.h"
#include "gm/ledger.h"
#include "gm/metrics.h"
#include "gm/record.h"
#include "gm/sink.h"

typedef struct {
    const char *event;    /* X-GitHub-Event, NUL-terminated */
    const char *delivery; /* X-GitHub-Delivery, NUL-terminated; NULL when there is none */
    const void *body;     /* the raw, verified body */
    size_t len;
    bool form_encoded; /* application/x-www-form-urlencoded: the JSON is in "payload" */
    int64_t received_at_ms; /* ledger expiry counts from here, so a replay decides as the original did */
} gm_delivery_t;

typedef enum {
    GM_PROC_RECORDED = 0, /* a record was written */
    GM_PROC_NO_RECORD,    /* valid, nothing due (not completed, or skipped as untidy) */
    GM_PROC_PING,         /* a ping: valid JSON object */
    GM_PROC_IGNORED,      /* an event this service does not use: not parsed */
    GM_PROC_INVALID,      /* not valid JSON, or not the shape the event needs */
    GM_PROC_FAILED,       /* the sink refused the record: retry later */
    GM_PROC_DUPLICATE,    /* the ledger already has this run or job attempt: not written again */
} gm_proc_status_t;

typedef struct {
    gm_proc_status_t status;
    gm_record_kind_t kind;  /* when RECORDED */
    unsigned anomalies;     /* GM_ANOMALY_* seen in the payload */
    char action[32];        /* for the log line; "" when unknown */
    char repository[256];   /* for the log line; "" when unknown */
    char reason[192];       /* why INVALID / NO_RECORD / FAILED; never payload text */
    bool backfilled;        /* the body carries the backfill's mark */
} gm_proc_result_t;

/* A ledger shared with other writers (DynamoDB: other receivers, the
 * backfill), consulted after the embedded one. Keys are "d:<delivery>",
 * "r:<run id>:<attempt>", "j:<job id>:<attempt>". Returns 0 when this writer
 * holds the key (it was free, or it is already this writer's: a receiver
 * processing its spool again after a crash must get its own claims back),
 * 1 when another writer holds it, -1 when the ledger cannot say (reason in
 * err; the delivery is retried later). */
typedef int (*gm_shared_claim_fn)(void *ctx, const char *key, int64_t now_ms, char *err, size_t errlen);

typedef struct {
    const gm_config_t *cfg; /* borrowed */
    gm_sink_t *sink;        /* borrowed */
    gm_metrics_t *metrics;  /* borrowed */
    gm_ledger_t *ledger;    /* borrowed; NULL = no de-duplication */
    gm_shared_claim_fn shared_claim; /* NULL = no shared ledger; called from one thread at a time */
    void *shared_ctx;
} gm_processor_t;

/* Everything: parse, derive, de-duplicate by run/job attempt, write, and
 * queue the delivery and record keys for the ledger log. On GM_PROC_FAILED
 * nothing is kept, so the same delivery can be handled again later. */
void gm_processor_handle(gm_processor_t *p, const gm_delivery_t *d, gm_proc_result_t *res);

/* The receiver's check before it stores a delivery: parse and derive, and
 * nothing else (no sink, no ledger, no counters). res->status is one of
 * RECORDED (a record will be due), NO_RECORD, PING, IGNORED, INVALID. */
void gm_processor_validate(const gm_delivery_t *d, gm_proc_result_t *res);

/* Decodes the "payload" field of an x-www-form-urlencoded body into a new
 * buffer (caller frees). Returns NULL when the field is missing or an escape
 * is malformed. Exposed for tests. */
char *gm_form_payload(const char *body, size_t len, size_t *out_len);

#endif
