/* gm_remote: a sink that forwards EMF lines to an AWS service through an
 * on-disk outbox, with at most one ambiguous request across a crash.
 *
 *   pipeline ──write──▶ outbox (a gm_spool in DIR/outbox)
 *                          │  readable only up to the last *checkpointed* mark
 *                          ▼
 *   publisher thread: read lines → client batches them (CloudWatch datums,
 *   log events) → requests written to DIR/inflight.tmp/, then committed by
 *   renaming it to DIR/inflight/ (with the outbox position they cover) →
 *   each request sent until AWS answers 200, its file removed → the
 *   position saved in DIR/cursor.json → DIR/inflight/ removed.
 *
 * So a record leaves the outbox only once the request that holds it got a
 * 200; after a crash, requests already committed are resent from their files
 * (only the one whose 200 arrived just before the crash is sent twice), and
 * lines past the checkpoint are cut and produced again by the pipeline.
 * Retries: throttling, 5xx and transport errors back off exponentially with
 * full jitter (0.2 s doubling to 5 min, or Retry-After); a request AWS
 * rejects as invalid is split in halves until the offending datum or event
 * is alone, which goes to DIR/dead-letter.jsonl with the reason.
 *
 * Thread: the sink's write/commit/confirm come from the pipeline thread;
 * the publisher is its own thread; check/metrics from any thread. */
#ifndef GM_REMOTE_H
#define GM_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "gm/aws.h"
#include "gm/config.h"
#include "gm/sink.h"

typedef struct gm_remote_client gm_remote_client_t;
struct gm_remote_client {
    const char *name;        /* "cloudwatch", "emf-logs": the sink label in /metrics */
    const char *item_name;   /* "datums", "events" */
    /* Adds one EMF line. 0 = added; 1 = not sendable (too old, too new,
     * malformed): set aside with `reason`. */
    int (*add)(gm_remote_client_t *c, const char *line, size_t len, int64_t now_ms, char *reason, size_t rlen);
    /* Items waiting, and whether a whole request's worth is ready. */
    size_t (*pending)(gm_remote_client_t *c);
    int (*full)(gm_remote_client_t *c);
    /* The next request body (caller frees), NULL when nothing is pending. */
    char *(*take)(gm_remote_client_t *c, size_t *items);
    /* Sends one body (the client does any set-up the call needs, such as
     * creating a log stream). Always fills resp. */
    gm_aws_outcome_t (*send)(gm_remote_client_t *c, const char *body, size_t len, gm_aws_response_t *resp);
    /* Halves a body to isolate what AWS refuses; -1 when it holds one item. */
    int (*split)(const char *body, char **first, char **second);
    /* Items in a body (for counting what a request carried). */
    size_t (*count)(const char *body);
    /* Distinct series sent so far (CloudWatch bills each namespace + metric
     * + dimension values as a custom metric), or NULL when not applicable. */
    size_t (*series)(gm_remote_client_t *c);
    void (*destroy)(gm_remote_client_t *c);
};

/* The two services (publisher/remote_cloudwatch.c, publisher/remote_logs.c). */
gm_remote_client_t *gm_cloudwatch_client_new(const gm_config_t *cfg, char *err, size_t errlen);
gm_remote_client_t *gm_logs_client_new(const gm_config_t *cfg, char *err, size_t errlen);

/* The sink. Takes ownership of the client. `dir` holds the outbox and the
 * publisher's files. The publisher thread starts at the sink's rollback
 * (always called once after opening, before any write). */
gm_sink_t *gm_remote_sink_open(const gm_config_t *cfg, const char *dir, gm_remote_client_t *client, char *err,
                               size_t errlen);

#endif
