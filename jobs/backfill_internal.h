/* Private to the backfill (jobs/backfill*.c): the state of one run and what
 * its parts call in one another. Not part of gm/backfill.h.
 *
 *   backfill.c            gm_backfill_run: options, scope, the repository
 *                         loop, lookups and submissions, the exit status
 *   backfill_scan.c       one repository: windows, pages, runs, jobs
 *   backfill_redeliver.c  hook deliveries and their redelivery
 *   backfill_report.c     the summary (JSON, table, clear), the dry-run table */
#ifndef GM_BACKFILL_INTERNAL_H
#define GM_BACKFILL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gm/backfill.h"
#include "gm/receiver.h"

/* GitHub's cap on the results of a filtered runs listing. */
#define BF_RESULT_CAP 1000
/* Keys per lookup call (DynamoDB's BatchGetItem takes 100). */
#define BF_LOOKUP_BATCH 100
/* Submissions failing in a row before the run stops. */
#define BF_MAX_FAILURES_IN_A_ROW 5

/* A set of int64 ids (open addressing; 0 is never an id GitHub gives). */
typedef struct {
    int64_t *slots;
    size_t cap, count;
} bf_idset_t;

typedef struct {
    const gm_backfill_opts_t *o;
    gm_backfill_summary_t *s;
    int64_t (*now_ms)(void *ctx);
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
    bool stop;             /* the whole run stops (s->stopped says why) */
    int failures_in_a_row; /* submissions */
    bool table_header;     /* the dry-run table's header was printed */
    char *err;             /* the caller's, for the first fatal reason */
    size_t errlen;
} bf_t;

/* What a fetch through bf_get came to. */
typedef enum { BF_GOT = 0, BF_GONE, BF_FAILED, BF_UNCHANGED } bf_got_t;

/* ---- backfill.c ---- */

int64_t bf_now(bf_t *b);
/* Stops the run: partial, with the reason (the first one wins). */
void bf_stop(bf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Looks keys up in batches; known[i] set. 0, or -1 (the run is stopped). */
int bf_lookup(bf_t *b, const char *const *keys, size_t n, unsigned char *known);
/* Submits one synthetic delivery; counts it (job or run); returns the outcome. */
gm_receiver_outcome_t bf_submit(bf_t *b, bool job, int64_t id, int64_t attempt, json_t *body);
/* GET path_or_url (as the App when as_app). BF_GOT: 200/304 with a body in
 * *page. BF_UNCHANGED (only when settled_ok): a 304 for a page the caller
 * settled in an earlier run (gm_github_cache_keep_body), no body, the next
 * link in *page (the caller clears it). BF_GONE: 404 (page cleared).
 * BF_FAILED: anything else, with *status and the reason in why (page
 * cleared); a settled page's 304 is that when !settled_ok. */
bf_got_t bf_get(bf_t *b, const char *path_or_url, bool as_app, bool settled_ok, gm_github_page_t *page, long *status,
                char *why, size_t whylen);
/* Adds a failure to the summary (repository may be NULL: "-"). */
void bf_add_failure(bf_t *b, const char *repository, long status, const char *reason);
/* An integer member of o, or dflt. */
int64_t bf_int(json_t *o, const char *key, int64_t dflt);

void bf_idset_init(bf_idset_t *set);
/* 1 when id was added, 0 when it was there. */
int bf_idset_add(bf_idset_t *set, int64_t id);
void bf_idset_free(bf_idset_t *set);

/* ---- backfill_scan.c ---- */

/* Scans one repository ("owner/name") over the options' window. 0 when it
 * was listed to the end, -1 when it failed (already reported). */
int bf_scan_repository(bf_t *b, const char *repository);

/* ---- backfill_redeliver.c ---- */

void bf_redeliver(bf_t *b);

/* ---- backfill_report.c ---- */

/* One row of the dry-run table for a run object. */
void bf_table_run(bf_t *b, const char *repository, json_t *run);
/* One row for a redelivery that would be asked. */
void bf_table_redelivery(bf_t *b, const char *guid, const char *event, int64_t delivery_id, const char *delivered_at);
/* Copies s with control bytes blanked, at most max bytes (new string). */
char *bf_clean(const char *s, size_t max);

#endif
