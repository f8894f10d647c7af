/* gm_backfill: finds the completed runs (and jobs) GitHub knows and the
 * ledger does not, and hands each to a receiver as GitHub would; asks
 * GitHub to redeliver the webhook deliveries that never got through.
 *
 * The backfill never writes metrics itself. Each missing run attempt becomes
 * a synthetic, signed `workflow_run` delivery (and with `jobs`, each missing
 * job attempt a `workflow_job` one) given to opts->submit, normally
 * gm_receiver_submit against the receiver: the receiver stores it durably,
 * de-duplicates it (delivery id, then run/job attempt) and records it through
 * the same path as any delivery. So durability and "never counted twice"
 * live in one place, and a backfill can be run again at any time.
 *
 * What it does, in order:
 *  1. Scope: opts->repositories, else every repository of the organization
 *     (GET /orgs/{org}/repos?type=all), else of the App installation
 *     (GET /installation/repositories).
 *  2. Per repository, until the deadline: GET /repos/{o}/{r}/actions/runs?
 *     created=FROM..TO&status=completed&per_page=100 (seconds, UTC), following
 *     Link rel="next". GitHub returns at most 1,000 results of such a query
 *     (total_count still tells the truth), so a window whose first page
 *     says total_count > 1000 is not paginated but split into two halves that
 *     do not overlap (created=A..B is inclusive at both ends: the second half
 *     starts one second after the first ends), recursively, down to one
 *     second (reported: runs_unreachable). Run ids are de-duplicated anyway.
 *     A page is "settled" once every run attempt on it that the ledger
 *     lacked was taken by the receiver (stored or duplicate) or is gone from
 *     GitHub; the GitHub client's ETag cache then keeps only its ETag
 *     (gm_github_cache_keep_body), and a later backfill that GitHub answers
 *     304 for it skips its runs and follows its next link (pages_unchanged).
 *     Any other page keeps its body, and is examined again after a 304.
 *  3. Each listed run is run attempt `run_attempt`; earlier attempts of a
 *     re-run are not listed, so their keys are looked up too and a missing
 *     earlier attempt is fetched (GET .../runs/{id}/attempts/{n}). Keys are
 *     looked up in batches of at most 100 (a page).
 *  4. A missing run attempt is submitted as event workflow_run, delivery id
 *     backfill-run-<id>-<attempt>, body {"action":"completed","workflow_run":
 *     <the REST run object>,"repository":{"full_name","id"},"gha_metrics":
 *     {"source":"backfill"}}. With jobs, its jobs come first (GET .../runs/
 *     {id}/attempts/{n}/jobs?per_page=100): each missing completed job as
 *     workflow_job, backfill-job-<id>-<attempt>, the same envelope. When a
 *     job could not be listed or submitted (an error that may pass), the run
 *     itself is held back (runs_held) so that the next backfill, seeing the
 *     run still missing, tries its jobs again.
 *  5. Redelivery (redeliver_org + redeliver_hook_id, or redeliver_app): the
 *     hook's deliveries, newest first, down to `since`; only workflow_run /
 *     workflow_job deliveries whose action is completed (others make no
 *     record); attempts grouped by guid. A guid with no attempt whose status
 *     is "OK" and whose "d:<guid>" the ledger does not know gets one
 *     redelivery of its newest attempt (POST .../deliveries/{id}/attempts),
 *     at most one POST per second.
 *
 * Dry run: nothing is submitted and nothing redelivered; the runs that would
 * be are printed as a table to table_out (repository, run id, attempt,
 * workflow, conclusion, completed), and the redeliveries that would be asked
 * are listed. GitHub is still read (jobs too, to count them).
 *
 * Failures: a repository that answers 404/403 (or anything but 200/304, or
 * no answer after the client's retries) is reported in failures[] and
 * skipped; the others go on. Rate limits are the client's (gm_github) job:
 * it waits and retries the same request, so no progress is lost; a
 * rate-limit answer that still comes back is asked again (3 more times)
 * before the repository counts as failed. The run stops early (partial)
 * past deadline_ms (no new repository, no new redelivery), when a lookup
 * fails (the ledger cannot say what is missing), or after 5 submissions in
 * a row failed (the receiver is down or refuses everything: a wrong secret).
 *
 * Ownership: opts and everything it points to are borrowed for the call;
 * the summary's strings and arrays are its own (gm_backfill_summary_clear).
 * Thread: single-threaded; the gm_github_t and the callbacks are called from
 * the caller's thread only, one call at a time. */
#ifndef GM_BACKFILL_H
#define GM_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "gm/github.h"

/* Keys of the lookup callback: "r:<run id>:<attempt>", "j:<job id>:<attempt>",
 * "d:<delivery guid>", the strings gm_ledger_key() hashes (gm/ledger.h). */
typedef int (*gm_backfill_lookup_fn)(void *ctx, const char *const *keys, size_t n, unsigned char *known, char *err,
                                     size_t errlen);
/* Returns a gm_receiver_outcome_t (gm/receiver.h); err says why unless
 * stored or duplicate. */
typedef int (*gm_backfill_submit_fn)(void *ctx, const char *event, const char *delivery_id, const char *body,
                                     size_t len, char *err, size_t errlen);

typedef struct {
    /* Scope: the first that is set. */
    const char *const *repositories; /* "owner/name" */
    size_t repository_count;
    const char *organization; /* every repository of the org */
    bool installation;        /* every repository of the App installation */

    int64_t since_ms, until_ms; /* created in [since, until), epoch ms; since < until */
    bool jobs, dry_run;
    gm_github_t *gh; /* borrowed */

    /* known[i] = 1 when the ledger has keys[i], else 0; at most 100 keys a
     * call. 0, or -1 with the reason (the run stops). NULL: nothing is known
     * (everything is submitted; the receiver de-duplicates). */
    gm_backfill_lookup_fn lookup;
    gm_backfill_submit_fn submit; /* required unless dry_run */
    void *ctx;                    /* for lookup and submit */

    /* Redelivery: org + hook id, or the App's hook (needs an App client); none when both unset. */
    const char *redeliver_org;
    int64_t redeliver_hook_id;
    bool redeliver_app;

    /* Clock (epoch ms) and sleep; NULL = the real ones. Give gh the same. */
    int64_t (*now_ms)(void *ctx);
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
    int64_t deadline_ms; /* epoch ms; no new repository or redelivery past it; 0 = none */
    FILE *table_out;     /* the dry-run table and progress lines; NULL = none */
} gm_backfill_opts_t;

typedef struct {
    char *repository;
    long status;  /* the HTTP status that failed it; 0 when no answer came (transport) or not HTTP */
    char *reason; /* GitHub's message or the client's error, control bytes blanked */
} gm_backfill_failure_t;

typedef struct {
    char *guid;
    char *event;
    int64_t delivery_id; /* the attempt redelivered */
    long status;         /* 202 = asked; other = the answer (0: none); -1: dry run, not asked */
    int64_t at_ms;       /* when asked (the options' clock) */
} gm_backfill_redelivery_t;

#define GM_BACKFILL_MAX_LISTED 1000 /* failures[] and redeliveries[] keep at most this many */

typedef struct {
    int exit_status; /* what gm_backfill_run returned */
    bool dry_run, jobs;
    bool partial;  /* stopped before the end: see stopped */
    char *stopped; /* why ("deadline", "ledger lookup failed: ...", ...), NULL when it ran to the end */
    int64_t since_ms, until_ms, started_ms, finished_ms;

    uint64_t repositories;         /* in scope */
    uint64_t repositories_scanned; /* listed to the end */
    uint64_t repositories_failed;
    uint64_t repositories_not_started; /* past the deadline, or stopped */
    gm_backfill_failure_t *failures;   /* failed repositories (and a window over the cap) */
    size_t failure_count;

    uint64_t windows;          /* listing queries (first pages) */
    uint64_t windows_split;    /* windows over the 1,000 cap, split in two */
    uint64_t windows_over_cap; /* one-second windows still over the cap */
    uint64_t runs_unreachable; /* runs beyond the cap in those */
    uint64_t pages_unchanged;  /* listing pages answered 304 that an earlier run had settled: runs not examined */

    /* Run attempts examined, each once: listed on a page that was read (200,
     * or 304 with its body kept) or fetched (earlier attempts). The runs on
     * unchanged pages (pages_unchanged) are not examined, so not counted
     * here nor below: a backfill right after a complete one sees none. */
    uint64_t runs_seen;
    uint64_t runs_known; /* in the ledger */
    uint64_t runs_missing;
    uint64_t runs_stored, runs_duplicate, runs_refused, runs_failed;
    uint64_t runs_held;          /* missing, not submitted because one of their jobs failed */
    uint64_t runs_not_completed; /* listed but not completed (skipped) */
    uint64_t attempts_fetched;   /* earlier attempts of re-runs fetched */

    uint64_t jobs_seen, jobs_known, jobs_missing;
    uint64_t jobs_stored, jobs_duplicate, jobs_refused, jobs_failed;
    uint64_t jobs_not_completed;
    uint64_t fetches_failed; /* job listings / earlier attempts that could not be read */
    uint64_t runs_gone;      /* missing earlier attempts GitHub no longer has (404) */
    char *submit_error;      /* the first failed submission: delivery id, outcome, reason; NULL */

    uint64_t deliveries_checked; /* hook deliveries read (since `since`) */
    uint64_t deliveries_failed;  /* guids with no OK attempt */
    uint64_t redeliveries_due;   /* of those, not in the ledger */
    uint64_t redeliveries_asked; /* answered 202 */
    uint64_t redeliveries_failed;
    char *redelivery_error; /* the deliveries could not be listed; NULL */
    gm_backfill_redelivery_t *redeliveries;
    size_t redelivery_count;

    uint64_t api_requests, api_not_modified, api_rate_limited, api_waited_ms; /* during this run */
    int64_t rate_limit, rate_limit_remaining, rate_limit_reset_s;             /* last seen; -1 unknown */
} gm_backfill_summary_t;

/* Runs the backfill; fills *s (cleared first). Returns the exit status: 0
 * when everything went well; 1 when something failed or it stopped early
 * (repositories, submissions, fetches, redeliveries, a window over the cap,
 * the deadline: see the summary; err holds the first fatal reason when it
 * stopped); 2 when the options are unusable (err says which; nothing was
 * done). */
int gm_backfill_run(const gm_backfill_opts_t *o, gm_backfill_summary_t *s, char *err, size_t errlen);

/* The summary as JSON (new reference): stable snake_case keys, see
 * backfill_report.c. For the Lambda response and --json. */
json_t *gm_backfill_summary_json(const gm_backfill_summary_t *s);
/* A human table (for stderr). */
void gm_backfill_summary_print(const gm_backfill_summary_t *s, FILE *f);
void gm_backfill_summary_clear(gm_backfill_summary_t *s);

/* "owner/name" as GitHub allows it in a URL path (the scope's rule). */
bool gm_backfill_valid_repository(const char *s);

/* Exposed for tests and the CLI: the delivery ids of synthetic deliveries
 * ("backfill-run-<id>-<attempt>", "backfill-job-<id>-<attempt>"; buf of at
 * least 64 bytes). */
void gm_backfill_delivery_id(char *buf, size_t buflen, bool job, int64_t id, int64_t attempt);

#endif
