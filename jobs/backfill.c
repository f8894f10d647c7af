/* gm_backfill: the run as a whole (see gm/backfill.h): options, scope, the
 * repository loop under the deadline, and the pieces every part uses:
 * lookups in batches, submissions with their tallies, GETs with their
 * failure reasons.
 *
 * Decisions
 * - Lookups before submissions, in batches of a page: a lookup is cheap and
 *   lets a backfill that finds nothing missing spend nothing but listing
 *   requests. A lookup that fails stops the run: without the ledger's answer
 *   everything would look missing (safe, since the receiver de-duplicates,
 *   but a flood of submissions to find that out).
 * - Five failed submissions in a row stop the run: the receiver is down or
 *   refuses everything (a wrong secret); going on would only spend GitHub's
 *   budget on runs that cannot be handed over. The next run starts over.
 * - Every tally is a run or job *attempt*, the unit the ledger records. */
#include "gm/backfill.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/receiver.h"

#include "backfill_internal.h"

/* ---- clock ------------------------------------------------------------------ */

int64_t bf_now(bf_t *b)
{
    return b->now_ms(b->clock_ctx);
}

/* ---- small helpers ------------------------------------------------------------ */

void gm_backfill_delivery_id(char *buf, size_t buflen, bool job, int64_t id, int64_t attempt)
{
    snprintf(buf, buflen, "backfill-%s-%lld-%lld", job ? "job" : "run", (long long)id, (long long)attempt);
}

int64_t bf_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

void bf_stop(bf_t *b, const char *fmt, ...)
{
    b->stop = true;
    b->s->partial = true;
    if (b->s->stopped != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    b->s->stopped = bf_clean(tmp, sizeof(tmp));
    if (b->err != NULL && b->errlen > 0 && b->err[0] == '\0')
        snprintf(b->err, b->errlen, "backfill: %s", b->s->stopped);
}

void bf_add_failure(bf_t *b, const char *repository, long status, const char *reason)
{
    gm_backfill_summary_t *s = b->s;
    if (b->o->table_out != NULL && !b->o->dry_run)
        fprintf(b->o->table_out, "%s: failed: %s\n", repository != NULL ? repository : "-", reason);
    if (s->failure_count >= GM_BACKFILL_MAX_LISTED)
        return;
    s->failures = gm_realloc(s->failures, (s->failure_count + 1) * sizeof(*s->failures));
    gm_backfill_failure_t *f = &s->failures[s->failure_count++];
    f->repository = gm_strdup(repository != NULL ? repository : "-");
    f->status = status;
    f->reason = bf_clean(reason, 300);
}

/* ---- id set --------------------------------------------------------------------- */

void bf_idset_init(bf_idset_t *set)
{
    set->cap = 256;
    set->count = 0;
    set->slots = gm_calloc(set->cap, sizeof(*set->slots));
}

static size_t idset_home(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

int bf_idset_add(bf_idset_t *set, int64_t id)
{
    if (id == 0)
        return 0;
    if ((set->count + 1) * 2 > set->cap) {
        bf_idset_t big = {.cap = set->cap * 2};
        big.slots = gm_calloc(big.cap, sizeof(*big.slots));
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i] != 0)
                bf_idset_add(&big, set->slots[i]);
        free(set->slots);
        *set = big;
    }
    for (size_t i = idset_home(id, set->cap);; i = (i + 1) & (set->cap - 1)) {
        if (set->slots[i] == id)
            return 0;
        if (set->slots[i] == 0) {
            set->slots[i] = id;
            set->count++;
            return 1;
        }
    }
}

void bf_idset_free(bf_idset_t *set)
{
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* ---- lookups and submissions -------------------------------------------------------- */

int bf_lookup(bf_t *b, const char *const *keys, size_t n, unsigned char *known)
{
    memset(known, 0, n);
    if (b->o->lookup == NULL)
        return 0;
    for (size_t i = 0; i < n; i += BF_LOOKUP_BATCH) {
        size_t k = n - i < BF_LOOKUP_BATCH ? n - i : BF_LOOKUP_BATCH;
        char why[256] = "";
        if (b->o->lookup(b->o->ctx, keys + i, k, known + i, why, sizeof(why)) != 0) {
            bf_stop(b, "ledger lookup failed: %s", why[0] != '\0' ? why : "no reason given");
            return -1;
        }
        for (size_t j = i; j < i + k; j++)
            known[j] = known[j] != 0;
    }
    return 0;
}

gm_receiver_outcome_t bf_submit(bf_t *b, bool job, int64_t id, int64_t attempt, json_t *body)
{
    gm_backfill_summary_t *s = b->s;
    char delivery[64];
    gm_backfill_delivery_id(delivery, sizeof(delivery), job, id, attempt);
    char *text = gm_need(json_dumps(body, JSON_COMPACT));
    char why[256] = "";
    int rc =
        b->o->submit(b->o->ctx, job ? "workflow_job" : "workflow_run", delivery, text, strlen(text), why, sizeof(why));
    free(text);
    gm_receiver_outcome_t out =
        rc >= GM_RECEIVER_STORED && rc <= GM_RECEIVER_ERROR ? (gm_receiver_outcome_t)rc : GM_RECEIVER_ERROR;
    uint64_t *tally[4] = {job ? &s->jobs_stored : &s->runs_stored, job ? &s->jobs_duplicate : &s->runs_duplicate,
                          job ? &s->jobs_refused : &s->runs_refused, job ? &s->jobs_failed : &s->runs_failed};
    (*tally[out])++;
    if (out == GM_RECEIVER_STORED || out == GM_RECEIVER_DUPLICATE) {
        b->failures_in_a_row = 0;
        return out;
    }
    if (s->submit_error == NULL) {
        char *t = gm_asprintf("%s %s: %s", delivery, gm_receiver_outcome_name(out), why[0] ? why : "no reason given");
        s->submit_error = bf_clean(t, 300);
        free(t);
    }
    if (b->o->table_out != NULL)
        fprintf(b->o->table_out, "%s: %s: %s\n", delivery, gm_receiver_outcome_name(out), why);
    if (++b->failures_in_a_row >= BF_MAX_FAILURES_IN_A_ROW)
        bf_stop(b, "%d submissions in a row failed, the last: %s", b->failures_in_a_row, why);
    return out;
}

/* ---- GETs ------------------------------------------------------------------------------------- */

bf_got_t bf_get(bf_t *b, const char *path_or_url, bool as_app, bool settled_ok, gm_github_page_t *page, long *status,
                char *why, size_t whylen)
{
    *status = 0;
    char e[512] = "";
    int rc = as_app ? gm_github_get_page_as_app(b->o->gh, path_or_url, page, e, sizeof(e))
                    : gm_github_get_page(b->o->gh, path_or_url, page, e, sizeof(e));
    if (rc != 0) {
        snprintf(why, whylen, "%s", e);
        gm_github_page_clear(page);
        return BF_FAILED;
    }
    long st = page->status;
    *status = st;
    if ((st == 200 || st == 304) && page->body != NULL)
        return BF_GOT;
    if (st == 304 && page->from_cache && settled_ok)
        return BF_UNCHANGED;
    if (st == 404) {
        snprintf(why, whylen, "HTTP 404: Not Found");
        gm_github_page_clear(page);
        return BF_GONE;
    }
    /* Rate limits were the client's to wait out: what comes back is final. */
    const char *m = json_string_value(json_object_get(page->body, "message"));
    snprintf(why, whylen, "HTTP %ld: %s", st, m != NULL ? m : st == 304 ? "no cached body" : "no message");
    gm_github_page_clear(page);
    return BF_FAILED;
}

/* ---- scope ------------------------------------------------------------------------------------------ */

/* "owner/name" of GitHub's characters: it goes into URL paths unescaped. */
bool gm_backfill_valid_repository(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/') != NULL || strlen(s) > 200)
        return false;
    if (strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.' || *p == '/'))
            return false;
    return true;
}

static bool valid_login(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
              s[n] == '-' || s[n] == '_' || s[n] == '.'))
            return false;
    return n > 0 && n <= 100;
}

typedef struct {
    char **v;
    size_t n;
} names_t;

static void names_add(names_t *l, const char *s)
{
    l->v = gm_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = gm_strdup(s);
}

static void names_free(names_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Every repository of the organization or the installation, paginated. */
static int list_repositories(bf_t *b, names_t *out)
{
    const gm_backfill_opts_t *o = b->o;
    char *url = o->organization != NULL ? gm_asprintf("/orgs/%s/repos?type=all&per_page=100", o->organization)
                                        : gm_strdup("/installation/repositories?per_page=100");
    int rc = 0;
    while (url != NULL) {
        gm_github_page_t page;
        long st;
        char why[512];
        if (bf_get(b, url, false, false, &page, &st, why, sizeof(why)) != BF_GOT) {
            bf_stop(b, "cannot list the repositories of %s: %s",
                    o->organization != NULL ? o->organization : "the installation", why);
            rc = -1;
            break;
        }
        json_t *list = o->organization != NULL ? page.body : json_object_get(page.body, "repositories");
        size_t i;
        json_t *r;
        json_array_foreach(list, i, r)
        {
            const char *name = json_string_value(json_object_get(r, "full_name"));
            if (name != NULL && gm_backfill_valid_repository(name))
                names_add(out, name);
            else if (name != NULL)
                bf_add_failure(b, name, 0, "not an owner/name this client can put in a path");
        }
        /* The scope is read in full at every run: its few pages keep their
         * bodies, so that a run right after spends only 304s on them too. */
        gm_github_cache_keep_body(o->gh, url, true);
        free(url);
        url = page.next;
        page.next = NULL;
        gm_github_page_clear(&page);
    }
    free(url);
    return rc;
}

/* ---- the run ----------------------------------------------------------------------------------------------- */

static int check_opts(const gm_backfill_opts_t *o, char *err, size_t errlen)
{
    if (o->gh == NULL) {
        snprintf(err, errlen, "backfill: no GitHub client");
        return -1;
    }
    if (o->since_ms >= o->until_ms) {
        snprintf(err, errlen, "backfill: since must be before until");
        return -1;
    }
    if (!o->dry_run && o->submit == NULL) {
        snprintf(err, errlen, "backfill: nothing to submit to (and not a dry run)");
        return -1;
    }
    if (o->repository_count == 0 && o->organization == NULL && !o->installation) {
        snprintf(err, errlen, "backfill: no scope: repositories, an organization or the installation");
        return -1;
    }
    for (size_t i = 0; i < o->repository_count; i++)
        if (o->repositories[i] == NULL || !gm_backfill_valid_repository(o->repositories[i])) {
            snprintf(err, errlen, "backfill: repository %zu is not owner/name", i + 1);
            return -1;
        }
    if (o->organization != NULL && !valid_login(o->organization)) {
        snprintf(err, errlen, "backfill: the organization is not a GitHub login");
        return -1;
    }
    if (o->redeliver_app && o->redeliver_org != NULL) {
        snprintf(err, errlen, "backfill: redelivery from an org hook or from the app, not both");
        return -1;
    }
    if (o->redeliver_org != NULL && (!valid_login(o->redeliver_org) || o->redeliver_hook_id <= 0)) {
        snprintf(err, errlen, "backfill: redelivery needs an organization login and a hook id > 0");
        return -1;
    }
    if (o->redeliver_app && !gm_github_is_app(o->gh)) {
        snprintf(err, errlen, "backfill: redelivery from the app's hook needs App credentials, not a token");
        return -1;
    }
    return 0;
}

static bool failed_somewhere(const gm_backfill_summary_t *s)
{
    return s->partial || s->repositories_failed > 0 || s->runs_refused > 0 || s->runs_failed > 0 || s->runs_held > 0 ||
           s->jobs_refused > 0 || s->jobs_failed > 0 || s->fetches_failed > 0 || s->windows_over_cap > 0 ||
           s->redeliveries_failed > 0 || s->redelivery_error != NULL;
}

int gm_backfill_run(const gm_backfill_opts_t *o, gm_backfill_summary_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->rate_limit = s->rate_limit_remaining = s->rate_limit_reset_s = -1;
    if (errlen > 0)
        err[0] = '\0';
    if (check_opts(o, err, errlen) != 0) {
        s->exit_status = 2;
        return 2;
    }
    bf_t b = {.o = o,
              .s = s,
              .now_ms = o->now_ms != NULL ? o->now_ms : gm_clock_now_ms,
              .sleep_ms = o->sleep_ms != NULL ? o->sleep_ms : gm_clock_sleep_ms,
              .clock_ctx = o->clock_ctx,
              .err = err,
              .errlen = errlen};
    s->dry_run = o->dry_run;
    s->jobs = o->jobs;
    s->since_ms = o->since_ms;
    s->until_ms = o->until_ms;
    s->started_ms = bf_now(&b);
    gm_github_stats_t st0, st1;
    gm_github_stats(o->gh, &st0);

    names_t listed = {0};
    const char *const *repos = o->repositories;
    size_t nrepos = o->repository_count;
    if (nrepos == 0) {
        list_repositories(&b, &listed);
        repos = (const char *const *)listed.v;
        nrepos = listed.n;
    }
    s->repositories = nrepos;
    for (size_t i = 0; i < nrepos; i++) {
        if (!b.stop && o->deadline_ms > 0 && bf_now(&b) >= o->deadline_ms)
            bf_stop(&b, "deadline");
        if (b.stop) {
            s->repositories_not_started = nrepos - i;
            break;
        }
        if (bf_scan_repository(&b, repos[i]) == 0)
            s->repositories_scanned++;
        else
            s->repositories_failed++;
    }
    names_free(&listed);

    if (!b.stop && (o->redeliver_org != NULL || o->redeliver_app))
        bf_redeliver(&b);

    gm_github_stats(o->gh, &st1);
    s->api_requests = st1.requests - st0.requests;
    s->api_not_modified = st1.not_modified - st0.not_modified;
    s->api_rate_limited = st1.rate_limited - st0.rate_limited;
    s->api_waited_ms = st1.waited_ms - st0.waited_ms;
    s->rate_limit = st1.limit;
    s->rate_limit_remaining = st1.remaining;
    s->rate_limit_reset_s = st1.reset_s;
    s->finished_ms = bf_now(&b);
    s->exit_status = failed_somewhere(s) ? 1 : 0;
    return s->exit_status;
}
