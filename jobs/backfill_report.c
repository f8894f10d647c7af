/* gm_backfill, what it says (see gm/backfill.h): the summary as JSON and as
 * a table, and the dry-run table.
 *
 * JSON: one flat object whose keys are the summary's field names (stable,
 * snake_case), so that a field and its key never drift apart:
 *   exit_status, partial, stopped, dry_run, jobs (with jobs: true/false),
 *   since, until, started, finished (ISO 8601 UTC), duration_ms,
 *   repositories (in scope), repositories_scanned, _failed, _not_started,
 *   failed_repositories [{repository, status, reason}],
 *   windows, windows_split, windows_over_cap, runs_unreachable,
 *   pages_unchanged,
 *   runs_seen, _known, _missing, _stored, _duplicate, _refused, _failed,
 *   _held, _not_completed, _gone, attempts_fetched,
 *   jobs_seen, _known, _missing, _stored, _duplicate, _refused, _failed,
 *   _not_completed, fetches_failed, submit_error,
 *   deliveries_checked, deliveries_failed, redeliveries_due, _asked,
 *   _failed, redelivery_error, redeliveries [{guid, event, delivery_id,
 *   status, at}],
 *   api_requests, api_not_modified, api_rate_limited, api_waited_ms,
 *   rate_limit, rate_limit_remaining, rate_limit_reset (ISO).
 * Unknown values are null. A redelivery's `status` is 202 when asked, the
 * answer otherwise (0: none), null in a dry run (not asked; `at` null too).
 * Text fields never hold control bytes. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/record.h"

#include "backfill_internal.h"

char *bf_clean(const char *s, size_t max)
{
    if (s == NULL)
        s = "";
    size_t len = strlen(s), n = len < max ? len : max;
    /* Do not cut a UTF-8 sequence in two: JSON output must stay valid. */
    while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    char *out = gm_strndup(s, n);
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < ' ' || *p == 127)
            *p = ' ';
    return out;
}

static json_t *iso_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[32];
    gm_time_format_iso8601(ms, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *str_or_null(const char *s)
{
    json_t *v = s != NULL ? json_string(s) : NULL;
    return v != NULL ? v : json_null(); /* json_string refuses invalid UTF-8 */
}

/* The counters, in output order: name = field. */
#define COUNTER(f)                                                                                                     \
    {                                                                                                                  \
#f, offsetof(gm_backfill_summary_t, f)                                                                         \
    }
static const struct {
    const char *name;
    size_t off;
} counters[] = {
    COUNTER(repositories),
    COUNTER(repositories_scanned),
    COUNTER(repositories_failed),
    COUNTER(repositories_not_started),
    COUNTER(windows),
    COUNTER(windows_split),
    COUNTER(windows_over_cap),
    COUNTER(runs_unreachable),
    COUNTER(pages_unchanged),
    COUNTER(runs_seen),
    COUNTER(runs_known),
    COUNTER(runs_missing),
    COUNTER(runs_stored),
    COUNTER(runs_duplicate),
    COUNTER(runs_refused),
    COUNTER(runs_failed),
    COUNTER(runs_held),
    COUNTER(runs_not_completed),
    COUNTER(runs_gone),
    COUNTER(attempts_fetched),
    COUNTER(jobs_seen),
    COUNTER(jobs_known),
    COUNTER(jobs_missing),
    COUNTER(jobs_stored),
    COUNTER(jobs_duplicate),
    COUNTER(jobs_refused),
    COUNTER(jobs_failed),
    COUNTER(jobs_not_completed),
    COUNTER(fetches_failed),
    COUNTER(deliveries_checked),
    COUNTER(deliveries_failed),
    COUNTER(redeliveries_due),
    COUNTER(redeliveries_asked),
    COUNTER(redeliveries_failed),
    COUNTER(api_requests),
    COUNTER(api_not_modified),
    COUNTER(api_rate_limited),
    COUNTER(api_waited_ms),
};

static json_t *known_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *gm_backfill_summary_json(const gm_backfill_summary_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "exit_status", json_integer(s->exit_status));
    json_object_set_new(o, "partial", json_boolean(s->partial));
    json_object_set_new(o, "stopped", str_or_null(s->stopped));
    json_object_set_new(o, "dry_run", json_boolean(s->dry_run));
    json_object_set_new(o, "jobs", json_boolean(s->jobs));
    json_object_set_new(o, "since", iso_or_null(s->since_ms));
    json_object_set_new(o, "until", iso_or_null(s->until_ms));
    json_object_set_new(o, "started", iso_or_null(s->started_ms));
    json_object_set_new(o, "finished", iso_or_null(s->finished_ms));
    json_object_set_new(o, "duration_ms", json_integer(s->finished_ms - s->started_ms));
    for (size_t i = 0; i < sizeof(counters) / sizeof(*counters); i++) {
        uint64_t v;
        memcpy(&v, (const char *)s + counters[i].off, sizeof(v));
        json_object_set_new(o, counters[i].name, json_integer((json_int_t)v));
    }
    json_object_set_new(o, "rate_limit", known_or_null(s->rate_limit));
    json_object_set_new(o, "rate_limit_remaining", known_or_null(s->rate_limit_remaining));
    json_object_set_new(o, "rate_limit_reset", iso_or_null(s->rate_limit_reset_s * 1000));
    json_object_set_new(o, "submit_error", str_or_null(s->submit_error));
    json_object_set_new(o, "redelivery_error", str_or_null(s->redelivery_error));

    json_t *failed = json_array();
    for (size_t i = 0; i < s->failure_count; i++)
        json_array_append_new(failed, json_pack("{s:o, s:I, s:o}", "repository", str_or_null(s->failures[i].repository),
                                                "status", (json_int_t)s->failures[i].status, "reason",
                                                str_or_null(s->failures[i].reason)));
    json_object_set_new(o, "failed_repositories", failed);
    json_t *list = json_array();
    for (size_t i = 0; i < s->redelivery_count; i++) {
        const gm_backfill_redelivery_t *r = &s->redeliveries[i];
        json_array_append_new(list, json_pack("{s:o, s:o, s:I, s:o, s:o}", "guid", str_or_null(r->guid), "event",
                                              str_or_null(r->event), "delivery_id", (json_int_t)r->delivery_id,
                                              "status", r->status < 0 ? json_null() : json_integer(r->status), "at",
                                              r->status < 0 ? json_null() : iso_or_null(r->at_ms)));
    }
    json_object_set_new(o, "redeliveries", list);
    return o;
}

void gm_backfill_summary_print(const gm_backfill_summary_t *s, FILE *f)
{
    char since[32], until[32];
    gm_time_format_iso8601(s->since_ms, since, sizeof(since));
    gm_time_format_iso8601(s->until_ms, until, sizeof(until));
    const char *mode = s->dry_run && s->jobs ? " (dry run, with jobs)"
                       : s->dry_run          ? " (dry run)"
                       : s->jobs             ? " (with jobs)"
                                             : "";
    fprintf(f, "backfill of runs created %s .. %s%s\n", since, until, mode);
    fprintf(f, "  %-14s %" PRIu64 " in scope, %" PRIu64 " scanned, %" PRIu64 " failed, %" PRIu64 " not started\n",
            "repositories", s->repositories, s->repositories_scanned, s->repositories_failed,
            s->repositories_not_started);
    fprintf(f,
            "  %-14s %" PRIu64 " queried, %" PRIu64 " split at the 1,000 cap, %" PRIu64 " still over it (%" PRIu64
            " runs out of reach)\n",
            "windows", s->windows, s->windows_split, s->windows_over_cap, s->runs_unreachable);
    if (s->pages_unchanged > 0)
        fprintf(f, "  %-14s %" PRIu64 " listing pages settled earlier and unchanged since: their runs not examined\n",
                "pages", s->pages_unchanged);
    fprintf(f,
            "  %-14s %" PRIu64 " seen, %" PRIu64 " known, %" PRIu64 " missing: %" PRIu64 " stored, %" PRIu64
            " duplicate, %" PRIu64 " refused, %" PRIu64 " failed, %" PRIu64 " held\n",
            "run attempts", s->runs_seen, s->runs_known, s->runs_missing, s->runs_stored, s->runs_duplicate,
            s->runs_refused, s->runs_failed, s->runs_held);
    if (s->jobs)
        fprintf(f,
                "  %-14s %" PRIu64 " seen, %" PRIu64 " known, %" PRIu64 " missing: %" PRIu64 " stored, %" PRIu64
                " duplicate, %" PRIu64 " refused, %" PRIu64 " failed\n",
                "job attempts", s->jobs_seen, s->jobs_known, s->jobs_missing, s->jobs_stored, s->jobs_duplicate,
                s->jobs_refused, s->jobs_failed);
    if (s->fetches_failed > 0)
        fprintf(f, "  %-14s %" PRIu64 " job listings or earlier attempts could not be read\n", "fetches failed",
                s->fetches_failed);
    if (s->submit_error != NULL)
        fprintf(f, "  %-14s %s\n", "first failure", s->submit_error);
    if (s->deliveries_checked > 0 || s->redelivery_error != NULL) /* else: not configured, or nothing to read */
        fprintf(f,
                "  %-14s %" PRIu64 " deliveries read, %" PRIu64 " guids never OK, %" PRIu64
                " not in the ledger: %" PRIu64 " asked, %" PRIu64 " failed%s%s\n",
                "redelivery", s->deliveries_checked, s->deliveries_failed, s->redeliveries_due, s->redeliveries_asked,
                s->redeliveries_failed, s->redelivery_error != NULL ? "; " : "",
                s->redelivery_error != NULL ? s->redelivery_error : "");
    fprintf(f,
            "  %-14s %" PRIu64 " requests (%" PRIu64 " not modified, %" PRIu64 " rate-limited, %" PRIu64 " s waited)",
            "GitHub API", s->api_requests, s->api_not_modified, s->api_rate_limited, s->api_waited_ms / 1000);
    if (s->rate_limit_remaining >= 0 && s->rate_limit >= 0)
        fprintf(f, "; %" PRId64 " of %" PRId64 " left", s->rate_limit_remaining, s->rate_limit);
    fputc('\n', f);
    for (size_t i = 0; i < s->failure_count; i++)
        fprintf(f, "  %-14s %s: %s\n", "failed", s->failures[i].repository, s->failures[i].reason);
    if (s->partial)
        fprintf(f, "  %-14s %s (partial)\n", "stopped", s->stopped != NULL ? s->stopped : "");
    fprintf(f, "  %-14s %d\n", "exit status", s->exit_status);
}

void gm_backfill_summary_clear(gm_backfill_summary_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->failure_count; i++) {
        free(s->failures[i].repository);
        free(s->failures[i].reason);
    }
    free(s->failures);
    for (size_t i = 0; i < s->redelivery_count; i++) {
        free(s->redeliveries[i].guid);
        free(s->redeliveries[i].event);
    }
    free(s->redeliveries);
    free(s->stopped);
    free(s->submit_error);
    free(s->redelivery_error);
    memset(s, 0, sizeof(*s));
}

/* ---- the dry-run table ------------------------------------------------------------- */

static void header(bf_t *b)
{
    if (b->table_header)
        return;
    b->table_header = true;
    fprintf(b->o->table_out, "%-40s %12s %7s  %-30s %-16s %s\n", "REPOSITORY", "RUN_ID", "ATTEMPT", "WORKFLOW",
            "CONCLUSION", "COMPLETED");
}

void bf_table_run(bf_t *b, const char *repository, json_t *run)
{
    if (b->o->table_out == NULL)
        return;
    header(b);
    const char *wf = json_string_value(json_object_get(run, "name"));
    const char *concl = json_string_value(json_object_get(run, "conclusion"));
    const char *done = json_string_value(json_object_get(run, "updated_at"));
    char *cwf = bf_clean(wf != NULL ? wf : "-", 60), *crepo = bf_clean(repository, 120);
    char *cconcl = bf_clean(concl != NULL ? concl : "-", 30), *cdone = bf_clean(done != NULL ? done : "-", 40);
    fprintf(b->o->table_out, "%-40s %12" PRId64 " %7" PRId64 "  %-30s %-16s %s\n", crepo, bf_int(run, "id", 0),
            bf_int(run, "run_attempt", 1), cwf, cconcl, cdone);
    free(cwf);
    free(crepo);
    free(cconcl);
    free(cdone);
}

void bf_table_redelivery(bf_t *b, const char *guid, const char *event, int64_t delivery_id, const char *delivered_at)
{
    if (b->o->table_out == NULL)
        return;
    char *cg = bf_clean(guid, 64), *ce = bf_clean(event, 30), *cd = bf_clean(delivered_at, 40);
    fprintf(b->o->table_out, "would redeliver %s (%s, attempt %" PRId64 " of %s)\n", cg, ce, delivery_id, cd);
    free(cg);
    free(ce);
    free(cd);
}
