/* gm_backfill, one repository (see gm/backfill.h): the created window as
 * listing queries, each listed page looked up and its missing run attempts
 * (with their jobs) handed over.
 *
 * Decisions
 * - The window [since, until) in ms becomes created=A..B in whole seconds,
 *   both inclusive as GitHub reads them: A = since rounded up, B = until
 *   rounded up less one second, so a run created at exactly `until` belongs
 *   to the next window and never to two.
 * - Over the cap: the first page of a window tells total_count; when it is
 *   over 1,000 that page is not used (the rest of the window could not be
 *   listed anyway) and the window is split at its middle second into A..M and
 *   M+1..B. Halves never overlap, so no run is listed twice by design; the
 *   run id set still drops any repeat (pages shift when a run completes
 *   while we list). A one-second window still over the cap is listed as far
 *   as GitHub allows and reported.
 * - Earlier attempts: the listing shows a run's latest attempt only. A
 *   re-run whose first attempt's webhook was lost would otherwise never be
 *   recorded, so the keys of attempts 1..n-1 are looked up with the page
 *   (free) and only the missing ones fetched.
 * - Jobs before their run: the run's key is the backfill's "done" mark. If a
 *   job could not be listed or handed over (an error that may pass), the run
 *   is held back, so that the next backfill still sees it missing and tries
 *   its jobs again. A refused job (4xx: it never will be taken) does not
 *   hold the run.
 * - Settled pages: once a listing page is used, the ETag cache is told what
 *   to keep of it (gm_github_cache_keep_body). A page is settled when every
 *   run attempt on it that the ledger lacked was taken (stored or
 *   duplicate) or is gone from GitHub: then only its ETag is kept, and while
 *   GitHub answers 304 for it the next backfills skip its runs and follow
 *   its next link (pages_unchanged), which is what keeps the cache small.
 *   Anything else (a submission refused or failed, a run held, a fetch
 *   failed, a dry run, a stop before the page's end) keeps its body, so that
 *   after a 304 the page is examined again for free. A run listed but not
 *   completed does not unsettle a page: when it completes the page changes,
 *   and GitHub answers 200. The first page of a window over the cap keeps
 *   its body too: total_count decides the split (or the report) every time.
 *   Jobs listings and earlier attempts keep nothing: they are fetched for
 *   missing runs only, which a later backfill sees again only if not taken. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/record.h"

#include "backfill_internal.h"

/* Earlier attempts looked at, at most (GitHub allows 50 re-runs). */
#define MAX_ATTEMPTS_CHECKED 100

typedef struct {
    bf_t *b;
    const char *repo;
    bf_idset_t runs; /* run ids seen in this repository */
    bool failed;     /* a failure was reported: the repository counts as failed */
} scan_t;

static void fail_repo(scan_t *sc, long status, const char *why)
{
    if (!sc->failed)
        bf_add_failure(sc->b, sc->repo, status, why);
    sc->failed = true;
}

/* The envelope GitHub's webhook would carry: action, the object, the
 * top-level repository (read by the record derivation) and the backfill
 * tag (covered by the signature, read by the receiver). */
static json_t *envelope(const char *kind, json_t *obj, const char *repo_name, json_t *repo_id)
{
    json_t *env = json_object();
    json_object_set_new(env, "action", json_string("completed"));
    json_object_set(env, kind, obj);
    json_t *repo = json_object();
    json_object_set_new(repo, "full_name", json_string(repo_name));
    if (json_is_integer(repo_id))
        json_object_set(repo, "id", repo_id);
    json_object_set_new(env, "repository", repo);
    json_object_set_new(env, "gha_metrics", json_pack("{s:s}", "source", "backfill"));
    return env;
}

/* The repository as GitHub spells it in the run (canonical case), else as configured. */
static const char *run_repo_name(scan_t *sc, json_t *run)
{
    const char *n = json_string_value(json_object_get(json_object_get(run, "repository"), "full_name"));
    return n != NULL ? n : sc->repo;
}

static bool completed(json_t *o)
{
    const char *st = json_string_value(json_object_get(o, "status"));
    return st != NULL && strcmp(st, "completed") == 0;
}

/* ---- jobs ------------------------------------------------------------------------ */

typedef struct {
    json_t *job;
    int64_t id, attempt;
} job_ent_t;

/* The jobs of run attempt (run_id, attempt): missing completed ones handed
 * over (or only counted in a dry run). 0, or -1 when something failed that
 * should hold the run back. */
static int scan_jobs(scan_t *sc, json_t *run, int64_t run_id, int64_t attempt)
{
    bf_t *b = sc->b;
    gm_backfill_summary_t *s = b->s;
    bf_idset_t seen;
    bf_idset_init(&seen);
    bool hold = false;
    char *url = gm_asprintf("/repos/%s/actions/runs/%" PRId64 "/attempts/%" PRId64 "/jobs?per_page=100", sc->repo,
                            run_id, attempt);
    while (url != NULL && !b->stop) {
        gm_github_page_t page;
        long st;
        char why[512];
        if (bf_get(b, url, false, false, &page, &st, why, sizeof(why)) != BF_GOT) {
            s->fetches_failed++;
            if (b->o->table_out != NULL && !b->o->dry_run)
                fprintf(b->o->table_out, "%s: jobs of run %" PRId64 " attempt %" PRId64 ": %s\n", sc->repo, run_id,
                        attempt, why);
            hold = true;
            break;
        }
        json_t *jobs = json_object_get(page.body, "jobs");
        size_t n = json_array_size(jobs), m = 0;
        job_ent_t *ents = gm_calloc(n + 1, sizeof(*ents));
        char **keys = gm_calloc(n + 1, sizeof(*keys));
        for (size_t i = 0; i < n; i++) {
            json_t *j = json_array_get(jobs, i);
            int64_t id = bf_int(j, "id", 0);
            if (id <= 0 || !bf_idset_add(&seen, id))
                continue;
            if (!completed(j)) {
                s->jobs_not_completed++;
                continue;
            }
            s->jobs_seen++;
            ents[m] = (job_ent_t){j, id, bf_int(j, "run_attempt", attempt)};
            keys[m] = gm_asprintf("j:%" PRId64 ":%" PRId64, id, ents[m].attempt);
            m++;
        }
        unsigned char *known = gm_calloc(m + 1, 1);
        if (bf_lookup(b, (const char *const *)keys, m, known) != 0)
            hold = true;
        for (size_t i = 0; i < m && !b->stop; i++) {
            if (known[i]) {
                s->jobs_known++;
                continue;
            }
            s->jobs_missing++;
            if (b->o->dry_run)
                continue;
            json_t *env = envelope("workflow_job", ents[i].job, run_repo_name(sc, run),
                                   json_object_get(json_object_get(run, "repository"), "id"));
            if (bf_submit(b, true, ents[i].id, ents[i].attempt, env) == GM_RECEIVER_ERROR)
                hold = true;
            json_decref(env);
        }
        for (size_t i = 0; i < m; i++)
            free(keys[i]);
        free(keys);
        free(known);
        free(ents);
        free(url);
        url = page.next;
        page.next = NULL;
        gm_github_page_clear(&page);
    }
    free(url);
    bf_idset_free(&seen);
    return hold || b->stop ? -1 : 0;
}

/* ---- runs --------------------------------------------------------------------------- */

/* A missing, completed run attempt: its jobs, then the run itself. */
static void handle_run(scan_t *sc, json_t *run, int64_t id, int64_t attempt)
{
    bf_t *b = sc->b;
    if (b->o->dry_run) {
        bf_table_run(b, run_repo_name(sc, run), run);
        if (b->o->jobs)
            scan_jobs(sc, run, id, attempt);
        return;
    }
    if (b->o->jobs && scan_jobs(sc, run, id, attempt) != 0) {
        if (!b->stop)
            b->s->runs_held++;
        return;
    }
    if (b->stop)
        return;
    json_t *env = envelope("workflow_run", run, run_repo_name(sc, run),
                           json_object_get(json_object_get(run, "repository"), "id"));
    bf_submit(b, false, id, attempt, env);
    json_decref(env);
}

/* An earlier attempt the ledger lacks: fetched, then handled like a listed one. */
static void handle_earlier_attempt(scan_t *sc, int64_t id, int64_t attempt)
{
    bf_t *b = sc->b;
    char *path = gm_asprintf("/repos/%s/actions/runs/%" PRId64 "/attempts/%" PRId64, sc->repo, id, attempt);
    gm_github_page_t page;
    long st;
    char why[512];
    b->s->attempts_fetched++;
    bf_got_t got = bf_get(b, path, false, false, &page, &st, why, sizeof(why));
    free(path);
    if (got == BF_GONE) {
        b->s->runs_gone++;
        return;
    }
    if (got == BF_FAILED) {
        b->s->fetches_failed++;
        if (b->o->table_out != NULL && !b->o->dry_run)
            fprintf(b->o->table_out, "%s: run %" PRId64 " attempt %" PRId64 ": %s\n", sc->repo, id, attempt, why);
        return;
    }
    if (!completed(page.body) || bf_int(page.body, "id", 0) != id)
        b->s->runs_not_completed++;
    else
        handle_run(sc, page.body, id, bf_int(page.body, "run_attempt", attempt));
    gm_github_page_clear(&page);
}

typedef struct {
    json_t *run;
    int64_t id, attempt;
    size_t key; /* index of its first key: attempts 1..attempt follow */
} run_ent_t;

/* One page of the listing. Returns whether it is settled (see Decisions). */
static bool scan_runs_page(scan_t *sc, json_t *runs)
{
    bf_t *b = sc->b;
    gm_backfill_summary_t *s = b->s;
    uint64_t missing0 = s->runs_missing, taken0 = s->runs_stored + s->runs_duplicate + s->runs_gone;
    bool looked_up = false;
    size_t n = json_array_size(runs), m = 0, nkeys = 0, kcap = n + 1;
    run_ent_t *ents = gm_calloc(n + 1, sizeof(*ents));
    char **keys = gm_calloc(kcap, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(runs, i);
        int64_t id = bf_int(r, "id", 0), attempt = bf_int(r, "run_attempt", 1);
        if (id <= 0 || !bf_idset_add(&sc->runs, id))
            continue;
        if (!completed(r)) {
            s->runs_not_completed++;
            continue;
        }
        if (attempt < 1)
            attempt = 1;
        int64_t first = attempt > MAX_ATTEMPTS_CHECKED ? attempt - MAX_ATTEMPTS_CHECKED + 1 : 1;
        ents[m] = (run_ent_t){r, id, attempt, nkeys};
        for (int64_t k = first; k <= attempt; k++) {
            if (nkeys == kcap)
                keys = gm_realloc(keys, (kcap *= 2) * sizeof(*keys));
            keys[nkeys++] = gm_asprintf("r:%" PRId64 ":%" PRId64, id, k);
        }
        ents[m].key = nkeys - 1; /* the latest attempt's key; earlier ones precede it */
        m++;
    }
    unsigned char *known = gm_calloc(nkeys + 1, 1);
    if (bf_lookup(b, (const char *const *)keys, nkeys, known) == 0) {
        looked_up = true;
        for (size_t i = 0; i < m && !b->stop; i++) {
            run_ent_t *e = &ents[i];
            int64_t first = e->attempt > MAX_ATTEMPTS_CHECKED ? e->attempt - MAX_ATTEMPTS_CHECKED + 1 : 1;
            size_t k0 = e->key - (size_t)(e->attempt - first);
            s->runs_seen += (uint64_t)(e->attempt - first + 1);
            for (int64_t k = first; k <= e->attempt && !b->stop; k++) {
                if (known[k0 + (size_t)(k - first)]) {
                    s->runs_known++;
                    continue;
                }
                s->runs_missing++;
                if (k == e->attempt)
                    handle_run(sc, e->run, e->id, e->attempt);
                else
                    handle_earlier_attempt(sc, e->id, k);
            }
        }
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    free(known);
    free(ents);
    uint64_t taken = s->runs_stored + s->runs_duplicate + s->runs_gone - taken0;
    return looked_up && !b->stop && s->runs_missing - missing0 == taken;
}

/* ---- windows ------------------------------------------------------------------------------- */

static void iso_seconds(int64_t s, char buf[32])
{
    gm_time_format_iso8601(s * 1000, buf, 32);
}

/* Lists created=a..z (seconds, both inclusive): 0, or -1 when it failed. */
static int scan_window(scan_t *sc, int64_t a, int64_t z)
{
    bf_t *b = sc->b;
    gm_backfill_summary_t *s = b->s;
    char fa[32], fz[32];
    iso_seconds(a, fa);
    iso_seconds(z, fz);
    char *url = gm_asprintf("/repos/%s/actions/runs?created=%s..%s&status=completed&per_page=100", sc->repo, fa, fz);
    s->windows++;
    bool first = true;
    int rc = 0;
    while (url != NULL) {
        if (b->stop) {
            fail_repo(sc, 0, "interrupted: the run stopped");
            rc = -1;
            break;
        }
        gm_github_page_t page;
        long st;
        char why[512];
        bf_got_t got = bf_get(b, url, false, true, &page, &st, why, sizeof(why));
        if (got == BF_UNCHANGED) { /* settled by an earlier run: nothing on it to examine */
            s->pages_unchanged++;
            first = false; /* a settled first page was neither split nor over the cap */
            free(url);
            url = page.next;
            page.next = NULL;
            gm_github_page_clear(&page);
            continue;
        }
        if (got != BF_GOT) {
            fail_repo(sc, st, why);
            rc = -1;
            break;
        }
        int64_t total = bf_int(page.body, "total_count", -1);
        if (first && total > BF_RESULT_CAP && z > a) {
            /* Not paginated: the halves list it all, this could not. */
            gm_github_cache_keep_body(b->o->gh, url, true);
            gm_github_page_clear(&page);
            free(url);
            s->windows_split++;
            int64_t mid = a + (z - a) / 2;
            if (scan_window(sc, a, mid) != 0)
                return -1;
            return scan_window(sc, mid + 1, z);
        }
        bool over_cap = first && total > BF_RESULT_CAP;
        if (over_cap) {
            s->windows_over_cap++;
            s->runs_unreachable += (uint64_t)(total - BF_RESULT_CAP);
            char *t = gm_asprintf("%" PRId64 " runs created in the second %s: GitHub lists only %d", total, fa,
                                  BF_RESULT_CAP);
            fail_repo(sc, 0, t);
            free(t);
        }
        first = false;
        bool settled = scan_runs_page(sc, json_object_get(page.body, "workflow_runs")) && !over_cap;
        gm_github_cache_keep_body(b->o->gh, url, !settled);
        free(url);
        url = page.next;
        page.next = NULL;
        gm_github_page_clear(&page);
    }
    free(url);
    return rc;
}

static int64_t ceil_seconds(int64_t ms)
{
    return ms / 1000 + (ms % 1000 > 0 ? 1 : 0); /* C division truncates: right for negatives too */
}

int bf_scan_repository(bf_t *b, const char *repository)
{
    gm_backfill_summary_t *s = b->s;
    scan_t sc = {.b = b, .repo = repository};
    bf_idset_init(&sc.runs);
    uint64_t seen0 = s->runs_seen, missing0 = s->runs_missing, stored0 = s->runs_stored + s->jobs_stored;
    uint64_t dup0 = s->runs_duplicate + s->jobs_duplicate, unchanged0 = s->pages_unchanged;
    /* [since, until) in ms → A..B in whole seconds, both inclusive. */
    int64_t a = ceil_seconds(s->since_ms), z = ceil_seconds(s->until_ms) - 1;
    int rc = a <= z ? scan_window(&sc, a, z) : 0;
    if (rc == 0 && sc.failed) /* listed to the end, but something in it was reported */
        rc = -1;
    if (b->o->table_out != NULL && !b->o->dry_run && rc == 0)
        fprintf(b->o->table_out,
                "%s: %" PRIu64 " run attempts seen, %" PRIu64 " missing, %" PRIu64 " stored, %" PRIu64
                " duplicate, %" PRIu64 " pages unchanged\n",
                repository, s->runs_seen - seen0, s->runs_missing - missing0, s->runs_stored + s->jobs_stored - stored0,
                s->runs_duplicate + s->jobs_duplicate - dup0, s->pages_unchanged - unchanged0);
    bf_idset_free(&sc.runs);
    return rc;
}
