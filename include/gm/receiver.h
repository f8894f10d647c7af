/* gm_receiver: hands a delivery to a gha-metrics receiver exactly as GitHub
 * would (the backfill's only way to record anything).
 *
 * A submission is a POST of the raw JSON body to the receiver's webhook URL
 * with the headers GitHub sends: Content-Type: application/json,
 * X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256 (HMAC-SHA256 of the
 * exact bytes sent, with the webhook secret), and a User-Agent of its own
 * (gha-metrics-backfill/<version>). The receiver then does what it does for
 * GitHub: stores it durably before answering 202, answers 200 "duplicate"
 * for a delivery id it has seen, and records each run/job attempt once. So
 * a submission can be repeated safely: a retry after a lost answer is
 * answered "duplicate".
 *
 * Retries: 5xx (503 included), 408, 429 and transport errors (no answer,
 * timeout) are retried up to max_retries times (default 4), waiting 0.5 s,
 * 1 s, 2 s, 4 s (capped at 30 s) or, when the answer carries Retry-After
 * (seconds or an HTTP date), that long (capped at 120 s). Once a
 * submission has failed after all its retries, the next ones are tried once
 * each until one is answered (the receiver is down: a backfill should learn
 * that in seconds, not spend the backoff on every delivery). Other 4xx and
 * 3xx are final: GM_RECEIVER_REFUSED.
 *
 * Ownership: the client is the caller's (gm_receiver_close); it keeps its
 * own copies of the URL, CA file and secret (the secret wiped at close).
 * Thread: one libcurl handle, so one thread at a time per client; open one
 * client per thread. Errors never contain the secret, the signature, the
 * body or the URL's user info; they name the status and the receiver's
 * "error" phrase (a fixed phrase by the receiver's contract). */
#ifndef GM_RECEIVER_H
#define GM_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gm_receiver gm_receiver_t;

typedef struct {
    const char *url;             /* http(s)://host:port/webhook */
    const unsigned char *secret; /* the webhook secret (one of the receiver's webhook.secrets) */
    size_t secret_len;           /* > 0 */
    long timeout_ms;             /* per attempt; 30 s when 0 */
    const char *ca_file;         /* PEM bundle to trust; NULL = the system's */
    bool insecure;               /* no certificate check: tests with self-signed certificates only */
    int max_retries;             /* retries after the first attempt; 4 when 0, none when < 0 */
    /* For tests: the wait between retries (ms). NULL = a real sleep. */
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
} gm_receiver_opts_t;

typedef enum {
    GM_RECEIVER_STORED = 0, /* 202: on the receiver's disk */
    GM_RECEIVER_DUPLICATE,  /* 200 {"status":"duplicate"}: the receiver had it already */
    GM_RECEIVER_REFUSED,    /* 3xx/4xx (or 202 "ignored"): will never be taken as it is */
    GM_RECEIVER_ERROR,      /* 5xx / transport error after the retries: may work later */
} gm_receiver_outcome_t;

/* "stored", "duplicate", "refused", "error". */
const char *gm_receiver_outcome_name(gm_receiver_outcome_t o);

/* NULL with the reason when the options are unusable (URL not http(s), a
 * line break in it, no secret). Nothing is sent. */
gm_receiver_t *gm_receiver_open(const gm_receiver_opts_t *o, char *err, size_t errlen);
void gm_receiver_close(gm_receiver_t *r);

/* Submits one delivery. event: [a-z_]+ ("workflow_run"); delivery_id: 1 to
 * 64 of [0-9A-Za-z-] (the receiver's rule); body: the JSON, sent as is and
 * signed. On anything but STORED and DUPLICATE, err says why (and a bad
 * event or delivery id is REFUSED without a request). */
gm_receiver_outcome_t gm_receiver_submit(gm_receiver_t *r, const char *event, const char *delivery_id, const char *body,
                                         size_t len, char *err, size_t errlen);
/* The HTTP status of the last answer of the last submit (0: none came). */
long gm_receiver_last_status(const gm_receiver_t *r);

/* Requests sent (retries included) since open. */
uint64_t gm_receiver_requests(const gm_receiver_t *r);

#endif
