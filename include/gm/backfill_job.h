/* gm_backfill_job: one backfill run set up from the configuration — the
 * glue between the config, the GitHub client, the ledger the receivers
 * write (embedded: a read-only snapshot of spool.dir; dynamodb: the shared
 * table) and the receiver the missing deliveries are handed to. The CLI
 * (`gha-metrics backfill`) and the Lambda runtime both run it.
 *
 * Ownership: *summary (when set) is the caller's JSON. Thread: one run at a
 * time per process (it owns its clients for the duration of the call). */
#ifndef GM_BACKFILL_JOB_H
#define GM_BACKFILL_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "gm/config.h"
#include "gm/lambda.h"

typedef struct {
    int64_t since_ms, until_ms; /* 0: until = the next whole hour, since = until - backfill.window */
    const char *const *repositories; /* overrides the configured scope when repository_count > 0 */
    size_t repository_count;
    int jobs;                   /* -1: backfill.jobs; 0 / 1 */
    bool dry_run;
    int64_t deadline_ms;        /* epoch ms: no new repository past it; 0 = none */
    FILE *table_out;            /* the dry-run table; NULL = none */
    FILE *summary_out;          /* the summary table; NULL = none */
} gm_backfill_request_t;

/* Exit statuses. */
#define GM_BACKFILL_OK 0
#define GM_BACKFILL_SOME_FAILED 1
#define GM_BACKFILL_BAD_CONFIG 2

/* Returns the exit status. *summary is set whenever the backfill ran (even
 * partly); err says why on 1 (a short note) and 2. */
int gm_backfill_job_run(const gm_config_t *cfg, const gm_backfill_request_t *req, json_t **summary, char *err,
                        size_t errlen);

/* The Lambda handler (gm_lambda_handler_fn): ctx is the const gm_config_t.
 * An event {"since","until","repositories","jobs","dry_run"} (all optional;
 * times as for --since) or an EventBridge scheduled event runs one backfill
 * that stops taking new repositories 30 s before the invocation's deadline;
 * the response is the summary. Bad configuration or event → an error. */
json_t *gm_backfill_job_lambda_handler(void *ctx, const json_t *event, const gm_lambda_invocation_t *inv,
                                       char *errtype, size_t errtypelen, char *err, size_t errlen);

/* The receiver URL the backfill hands deliveries to: backfill.receiver, or
 * the first listener (a wildcard address as loopback) and webhook.path.
 * Newly allocated. */
char *gm_backfill_job_receiver_url(const gm_config_t *cfg);

/* Times as the CLI and the Lambda event take them: "2026-11-01",
 * "2026-11-01T06:00Z", RFC 3339, or a duration back from now ("72h").
 * Returns 0 / -1. */
int gm_backfill_job_parse_when(const char *s, int64_t now_ms, int64_t *out_ms);

#endif
