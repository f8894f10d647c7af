/* gm_backfill against the GitHub stand-in (tests/servers/github.mjs, a
 * child process per test, data from tests/fixtures/backfill/ or loaded over
 * /_control), with a fake clock (sleeps recorded, never waited; the stand-in's
 * clock follows), a fake ledger and a fake receiver that takes each body as
 * the receiver would (gm_payload_parse + gm_event_to_record). See
 * backfill_harness.h. */
#include "backfill_harness.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

/* ---- generated data ----------------------------------------------------------------- */

/* Loads runs {id: first_id + i, created_at: created_s[i]} into repo. */
static void load_runs(standin_t *gh, const char *repo, int64_t first_id, const int64_t *created_s, size_t n)
{
    json_t *runs = json_array();
    for (size_t i = 0; i < n; i++) {
        char iso[32];
        gm_time_format_iso8601(created_s[i] * 1000, iso, sizeof(iso));
        json_array_append_new(runs,
                              json_pack("{s:I, s:s}", "id", (json_int_t)(first_id + (int64_t)i), "created_at", iso));
    }
    json_t *f = json_pack("{s:[s], s:{s:o}}", "repos", repo, "runs", repo, runs);
    ctl0(gh, "load-fixtures", f);
}

static int64_t since_s(void)
{
    return iso_ms(SINCE_ISO) / 1000;
}

static int64_t until_s(void)
{
    return iso_ms(UNTIL_ISO) / 1000;
}

/* ---- runs across pages ------------------------------------------------------------------ */

/* 250 runs in the window (3 pages), two on its edges, two just outside; a
 * third known to the ledger. Exactly the others are handed over, once each,
 * with 3 listing requests. */
Test(backfill, missing_runs_submitted_once_across_pages)
{
    standin_t *gh = standin_start(NULL);
    int64_t created[254];
    for (size_t i = 0; i < 250; i++)
        created[i] = since_s() + 600 + (int64_t)i * 600; /* every 10 minutes */
    created[250] = since_s();                            /* the first second: in */
    created[251] = until_s() - 1;                        /* the last second: in */
    created[252] = until_s();                            /* `until` is exclusive: out */
    created[253] = since_s() - 1;                        /* before: out */
    load_runs(gh, "octo-org/alpha", 50000, created, 254);

    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.repository = "octo-org/alpha";
    char key[64];
    for (int64_t id = 50000; id < 50254; id += 3) {
        snprintf(key, sizeof(key), "r:%" PRId64 ":1", id);
        fake_know(&f, key);
    }
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);

    size_t want = 0;
    for (int64_t id = 50000; id < 50252; id++) {
        char d[64];
        gm_backfill_delivery_id(d, sizeof(d), false, id, 1);
        bool missing = (id - 50000) % 3 != 0;
        cr_assert_eq(fake_count(&f, d), missing ? 1 : 0, "%s", d);
        want += missing;
    }
    cr_assert_eq(fake_count(&f, "backfill-run-50252-1"), 0); /* at until */
    cr_assert_eq(fake_count(&f, "backfill-run-50253-1"), 0); /* before since */
    cr_assert_eq(json_array_size(f.order), want);
    assert_none_twice(&f);
    cr_assert_eq(s.runs_seen, 252);
    cr_assert_eq(s.runs_missing, want);
    cr_assert_eq(s.runs_known, 252 - want);
    cr_assert_eq(s.runs_stored, want);
    cr_assert_eq(s.repositories_scanned, 1);
    cr_assert_eq(s.api_requests, 3);
    cr_assert_leq(f.max_batch, 100);

    json_t *reqs = api_requests(gh);
    cr_assert_eq(json_array_size(reqs), 3);
    json_t *q = json_object_get(json_array_get(reqs, 0), "query");
    cr_assert_str_eq(json_string_value(json_object_get(q, "created")), "2026-11-01T00:00:00Z..2026-11-02T23:59:59Z");
    cr_assert_str_eq(json_string_value(json_object_get(q, "status")), "completed");
    cr_assert_str_eq(json_string_value(json_object_get(q, "per_page")), "100");
    json_decref(reqs);

    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- the 1,000-result cap --------------------------------------------------------------------- */

typedef struct {
    const int64_t *t;
    size_t n;
    size_t splits;
} sim_t;

/* Requests the halving needs for created=a..z over the data: the first page
 * of a window over the cap is spent (then its halves), else its pages. */
static size_t min_requests(sim_t *d, int64_t a, int64_t z)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->t[i] >= a && d->t[i] <= z;
    if (n > 1000 && z > a) {
        d->splits++;
        int64_t mid = a + (z - a) / 2;
        return 1 + min_requests(d, a, mid) + min_requests(d, mid + 1, z);
    }
    size_t reach = n < 1000 ? n : 1000;
    return reach == 0 ? 1 : (reach + 99) / 100;
}

/* 2,500 runs in two days, 1,500 of them in the first six hours: the window
 * is split (the halves never overlap), every run handed over once, and the
 * requests are exactly what halving needs for this data. */
Test(backfill, cap_split_halves_with_minimum_requests, .timeout = 120)
{
    standin_t *gh = standin_start(NULL);
    static int64_t created[2500];
    for (size_t i = 0; i < 1500; i++)
        created[i] = since_s() + (int64_t)i * 14;
    for (size_t i = 0; i < 1000; i++)
        created[1500 + i] = since_s() + 6 * 3600 + (int64_t)i * 150;
    created[2499] = until_s() - 1;
    load_runs(gh, "octo-org/busy", 800001, created, 2500);

    sim_t sim = {.t = created, .n = 2500};
    size_t want_requests = min_requests(&sim, since_s(), until_s() - 1);
    cr_assert_gt(sim.splits, 1); /* the data does need splitting, more than once */

    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.repository = "octo-org/busy";
    const char *repos[] = {"octo-org/busy"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(json_array_size(f.order), 2500);
    assert_none_twice(&f);
    cr_assert_eq(s.runs_stored, 2500);
    cr_assert_eq(s.api_requests, want_requests, "%" PRIu64 " requests, halving needs %zu", s.api_requests,
                 want_requests);
    cr_assert_eq(s.windows_split, sim.splits);
    cr_assert_eq(s.windows_over_cap, 0);

    /* No two first pages' windows overlap unless one contains the other (a split). */
    json_t *reqs = api_requests(gh);
    cr_assert_eq(json_array_size(reqs), want_requests);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        json_t *q = json_object_get(r, "query");
        cr_assert_eq(json_integer_value(json_object_get(r, "status")), 200);
        if (json_object_get(q, "page") != NULL)
            continue;
        const char *c = json_string_value(json_object_get(q, "created"));
        char a1[32], z1[32];
        cr_assert_eq(sscanf(c, "%20[^.]..%20s", a1, z1), 2, "%s", c);
        size_t j;
        json_t *r2;
        json_array_foreach(reqs, j, r2)
        {
            json_t *q2 = json_object_get(r2, "query");
            if (j == i || json_object_get(q2, "page") != NULL)
                continue;
            char a2[32], z2[32];
            sscanf(json_string_value(json_object_get(q2, "created")), "%20[^.]..%20s", a2, z2);
            int64_t A1 = iso_ms(a1), Z1 = iso_ms(z1), A2 = iso_ms(a2), Z2 = iso_ms(z2);
            bool disjoint = Z1 < A2 || Z2 < A1, nested = (A1 <= A2 && Z2 <= Z1) || (A2 <= A1 && Z1 <= Z2);
            cr_assert(disjoint || nested, "windows %s and %s overlap", c,
                      json_string_value(json_object_get(q2, "created")));
        }
    }
    json_decref(reqs);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* 1,001 runs created in one second: split down to that second, listed as far
 * as GitHub allows, and reported (exit 1). */
Test(backfill, one_second_over_the_cap_reported, .timeout = 120)
{
    standin_t *gh = standin_start(NULL);
    static int64_t created[1001];
    for (size_t i = 0; i < 1001; i++)
        created[i] = since_s() + 7200;
    load_runs(gh, "octo-org/storm", 900001, created, 1001);
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    const char *repos[] = {"octo-org/storm"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(s.windows_over_cap, 1);
    cr_assert_eq(s.runs_unreachable, 1);
    cr_assert_eq(s.runs_stored, 1000);
    cr_assert_eq(s.repositories_failed, 1);
    cr_assert_eq(s.failure_count, 1);
    cr_assert(strstr(s.failures[0].reason, "1001 runs created in the second 2026-11-01T02:00:00Z") != NULL, "%s",
              s.failures[0].reason);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- jobs and earlier attempts ------------------------------------------------------------------- */

/* tests/fixtures/backfill/jobs.json: run 1001 known; 1002 missing with job
 * 2001 known and 2004 in progress; 1003 re-run, both attempts missing; 1004
 * and 1007 on the window's edges; 1005/1006 outside; 1008 in progress. */
Test(backfill, jobs_of_missing_runs_then_the_run)
{
    standin_t *gh = standin_start("jobs.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.repository = "octo-org/alpha";
    fake_know(&f, "r:1001:1");
    fake_know(&f, "j:2001:1");
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    o.jobs = true;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);

    /* Listing order is newest first; each run's jobs before the run. */
    const char *want[] = {"backfill-job-4001-1", "backfill-run-1004-1", "backfill-job-3001-1", "backfill-run-1003-1",
                          "backfill-job-3002-2", "backfill-job-3003-2", "backfill-run-1003-2", "backfill-job-2002-1",
                          "backfill-job-2003-1", "backfill-run-1002-1", "backfill-run-1007-1"};
    size_t n = sizeof(want) / sizeof(*want);
    cr_assert_eq(json_array_size(f.order), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(json_string_value(json_array_get(f.order, i)), want[i]);
    cr_assert_eq(s.runs_seen, 6); /* 1001, 1002, 1003 (two attempts), 1004, 1007 */
    cr_assert_eq(s.runs_known, 1);
    cr_assert_eq(s.runs_missing, 5);
    cr_assert_eq(s.runs_stored, 5);
    cr_assert_eq(s.attempts_fetched, 1);
    cr_assert_eq(s.jobs_seen, 7);
    cr_assert_eq(s.jobs_known, 1);
    cr_assert_eq(s.jobs_missing, 6);
    cr_assert_eq(s.jobs_stored, 6);
    cr_assert_eq(s.jobs_not_completed, 1);
    /* One listing; attempt 1 of 1003; the jobs of the five missing attempts. */
    cr_assert_eq(s.api_requests, 7);
    json_t *reqs = api_requests(gh);
    cr_assert_eq(count_route(reqs, "attempt.jobs"), 5);
    cr_assert_eq(count_route(reqs, "run.attempt"), 1);
    json_decref(reqs);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* A job the receiver could not take (503 after its retries) holds its run
 * back, so that the next backfill still finds the run missing; a refused
 * job does not. */
Test(backfill, failed_job_holds_its_run)
{
    standin_t *gh = standin_start("jobs.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    json_object_set_new(f.outcomes, "backfill-job-2002-1", json_integer(GM_RECEIVER_ERROR));
    json_object_set_new(f.outcomes, "backfill-job-4001-1", json_integer(GM_RECEIVER_REFUSED));
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    o.jobs = true;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(fake_count(&f, "backfill-run-1002-1"), 0);
    cr_assert_eq(fake_count(&f, "backfill-job-2003-1"), 1); /* the other jobs still go */
    cr_assert_eq(fake_count(&f, "backfill-run-1004-1"), 1);
    cr_assert_eq(s.runs_held, 1);
    cr_assert_eq(s.jobs_failed, 1);
    cr_assert_eq(s.jobs_refused, 1);
    cr_assert_not_null(s.submit_error);
    cr_assert(strstr(s.submit_error, "backfill-job-") != NULL, "%s", s.submit_error);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- failures ---------------------------------------------------------------------------------------- */

Test(backfill, missing_and_forbidden_repositories_reported_and_skipped)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    const char *repos[] = {"octo-org/alpha", "octo-org/nowhere", "octo-org/secret", "octo-org/beta"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 4;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(s.repositories, 4);
    cr_assert_eq(s.repositories_scanned, 2);
    cr_assert_eq(s.repositories_failed, 2);
    cr_assert_eq(json_array_size(f.order), 4); /* alpha's and beta's two runs each */
    cr_assert_eq(fake_count(&f, "backfill-run-6002-1"), 1);
    cr_assert_eq(fake_count(&f, "backfill-run-7001-1"), 0);
    cr_assert_eq(s.failure_count, 2);
    cr_assert_str_eq(s.failures[0].repository, "octo-org/nowhere");
    cr_assert_eq(s.failures[0].status, 404);
    cr_assert_str_eq(s.failures[1].repository, "octo-org/secret");
    cr_assert_eq(s.failures[1].status, 403);
    cr_assert(strstr(s.failures[1].reason, "not accessible") != NULL, "%s", s.failures[1].reason);

    json_t *j = gm_backfill_summary_json(&s);
    json_t *fr = json_object_get(j, "failed_repositories");
    cr_assert_eq(json_array_size(fr), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fr, 1), "repository")), "octo-org/secret");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(fr, 1), "status")), 403);
    cr_assert_eq(json_integer_value(json_object_get(j, "exit_status")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "repositories_failed")), 2);
    json_decref(j);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* Every repository of the organization; the forbidden one fails alone. */
Test(backfill, organization_scope)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.organization = "octo-org";
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(s.repositories, 3);
    cr_assert_eq(s.repositories_scanned, 2);
    cr_assert_eq(s.repositories_failed, 1);
    cr_assert_eq(s.runs_stored, 4);
    json_t *reqs = api_requests(gh);
    cr_assert_eq(count_route(reqs, "org.repos"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(reqs, 0), "query"), "type")),
                     "all");
    json_decref(reqs);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* The scope cannot be listed: nothing to do, said so, exit 1. */
Test(backfill, scope_that_cannot_be_listed_stops)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.organization = "no-such-org";
    gm_backfill_summary_t s;
    char err[512] = "";
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 1);
    cr_assert(s.partial);
    cr_assert(strstr(s.stopped, "cannot list the repositories of no-such-org: HTTP 404") != NULL, "%s", s.stopped);
    cr_assert(strstr(err, "no-such-org") != NULL, "%s", err);
    cr_assert_eq(s.repositories, 0);
    gm_backfill_summary_clear(&s);

    /* The installation's repositories need an installation token, not a PAT. */
    o.organization = NULL;
    o.installation = true;
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 1);
    cr_assert(strstr(s.stopped, "the installation: HTTP 403") != NULL, "%s", s.stopped);
    cr_assert_null(strstr(s.stopped, TOKEN));
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* No lookup: everything counts as missing and is handed over (the receiver
 * de-duplicates). */
Test(backfill, without_a_ledger_everything_is_submitted)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    fake_know(&f, "r:5001:1"); /* not asked */
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    o.lookup = NULL;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(s.runs_missing, 2);
    cr_assert_eq(fake_count(&f, "backfill-run-5001-1"), 1);
    cr_assert_eq(f.lookups, 0);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* A transport failure after the client's retries fails that repository only. */
Test(backfill, server_errors_fail_one_repository)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    ctl0(gh, "fail", json_pack("{s:i, s:i}", "n", 5, "status", 502)); /* the client's 5 attempts at alpha */
    const char *repos[] = {"octo-org/alpha", "octo-org/beta"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 2;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(s.failure_count, 1);
    cr_assert_str_eq(s.failures[0].repository, "octo-org/alpha");
    cr_assert_eq(s.failures[0].status, 502);
    cr_assert_eq(s.runs_stored, 2); /* beta's */
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- rate limits ------------------------------------------------------------------------------------------- */

static void limits_midway(fake_t *f, size_t n)
{
    standin_t *gh = f->user;
    if (n == 30) /* during page 1: page 2 meets a secondary limit */
        ctl0(gh, "secondary-limit", json_pack("{s:i, s:i}", "n", 1, "retryAfterS", 7));
    if (n == 120) /* during page 2: page 3 meets the primary limit, reset in 2 minutes */
        ctl0(gh, "rate-limit", json_pack("{s:i, s:i}", "remaining", 0, "resetInS", 120));
}

Test(backfill, rate_limits_midway_lose_no_progress)
{
    standin_t *gh = standin_start(NULL);
    int64_t created[250];
    for (size_t i = 0; i < 250; i++)
        created[i] = since_s() + 60 + (int64_t)i * 600;
    load_runs(gh, "octo-org/alpha", 60000, created, 250);
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.on_submit = limits_midway;
    f.user = gh;
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(json_array_size(f.order), 250);
    assert_none_twice(&f);
    cr_assert_eq(s.runs_stored, 250);
    cr_assert_eq(s.api_rate_limited, 2);
    cr_assert_eq(s.api_requests, 5); /* 3 pages + 2 limited answers */
    /* The waits: retry-after 7 s, then until the reset (about 2 minutes). */
    bool seven = false, reset = false;
    for (size_t i = 0; i < clk.nsleeps; i++) {
        seven |= clk.sleeps[i] == 7000;
        reset |= clk.sleeps[i] >= 115000 && clk.sleeps[i] <= 125000;
    }
    cr_assert(seven && reset, "sleeps: %zu, first %" PRId64, clk.nsleeps, clk.nsleeps ? clk.sleeps[0] : -1);
    cr_assert_geq(s.api_waited_ms, 7000 + 115000);
    json_t *c = ctl(gh, "counts", NULL);
    cr_assert_eq(json_integer_value(json_object_get(c, "secondaryLimited")), 1);
    cr_assert_eq(json_integer_value(json_object_get(c, "primaryLimited")), 1);
    json_decref(c);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- a second run ------------------------------------------------------------------------------------------ */

/* Right after a backfill, the same window again: every listing request is
 * answered 304 from the ETag cache, and nothing is handed over (every page
 * was settled: its runs are not examined again). */
Test(backfill, second_run_spends_only_304s)
{
    standin_t *gh = standin_start("scope.json");
    int64_t created[250];
    for (size_t i = 0; i < 250; i++)
        created[i] = since_s() + 30 + (int64_t)i * 600;
    load_runs(gh, "octo-org/gamma", 70000, created, 250);
    char dir[] = "/tmp/gm-backfill-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *cache = gm_asprintf("%s/etags.json", dir);

    fclock_t clk;
    clock_init(&clk, gh);
    fake_t f;
    fake_init(&f);
    const char *repos[] = {"octo-org/gamma", "octo-org/alpha"};
    gm_github_t *g = open_gh(gh, &clk, cache);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 2;
    o.jobs = true;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(s.runs_stored, 252);
    gm_backfill_summary_clear(&s);
    gm_github_close(g); /* saves the cache */

    ctl0(gh, "clear", json_object());
    size_t before = json_array_size(f.order);
    g = open_gh(gh, &clk, cache);
    o.gh = g;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(json_array_size(f.order), before);
    cr_assert_eq(s.pages_unchanged, 4);
    cr_assert_eq(s.runs_seen, 0);
    cr_assert_eq(s.runs_missing, 0);
    cr_assert_eq(s.api_requests, 4); /* gamma's 3 pages, alpha's 1 */
    cr_assert_eq(s.api_not_modified, 4);
    json_t *reqs = api_requests(gh);
    cr_assert_eq(json_array_size(reqs), 4);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) cr_assert_eq(json_integer_value(json_object_get(r, "status")), 304);
    json_decref(reqs);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    unlink(cache);
    rmdir(dir);
    free(cache);
    standin_stop(gh);
}

/* A temporary directory's ETag cache file (both freed by cache_free). */
typedef struct {
    char dir[32];
    char *path;
} cache_t;

static void cache_init(cache_t *c)
{
    snprintf(c->dir, sizeof(c->dir), "/tmp/gm-backfill-XXXXXX");
    cr_assert_not_null(mkdtemp(c->dir));
    c->path = gm_asprintf("%s/etags.json", c->dir);
}

static void cache_free(cache_t *c)
{
    unlink(c->path);
    rmdir(c->dir);
    free(c->path);
}

/* The cache file: its size, and how many of its entries hold a body. */
static size_t cache_bodies(const cache_t *c, long *size)
{
    FILE *fp = fopen(c->path, "r");
    cr_assert_not_null(fp, "%s: not saved", c->path);
    fseek(fp, 0, SEEK_END);
    *size = ftell(fp);
    fclose(fp);
    json_t *root = json_load_file(c->path, 0, NULL);
    cr_assert_not_null(root);
    size_t n = 0;
    const char *url;
    json_t *e;
    json_object_foreach(json_object_get(root, "entries"), url, e) n += json_object_get(e, "body") != NULL;
    json_decref(root);
    return n;
}

/* 250 runs over 3 pages, ids 70000.. every 10 minutes: page 1 (newest
 * first) holds 70249..70150, page 2 70149..70050, page 3 70049..70000. */
static void load_gamma(standin_t *gh)
{
    int64_t created[250];
    for (size_t i = 0; i < 250; i++)
        created[i] = since_s() + 30 + (int64_t)i * 600;
    load_runs(gh, "octo-org/gamma", 70000, created, 250);
}

/* Every run stored: each page is settled, so the cache keeps no body (the
 * file stays small), and the next runs spend only 304s, examine nothing
 * and submit nothing. */
Test(backfill, settled_pages_keep_no_body)
{
    standin_t *gh = standin_start(NULL);
    load_gamma(gh);
    cache_t cache;
    cache_init(&cache);
    fclock_t clk;
    clock_init(&clk, gh);
    fake_t f;
    fake_init(&f);
    const char *repos[] = {"octo-org/gamma"};
    gm_github_t *g = open_gh(gh, &clk, cache.path);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(s.runs_stored, 250);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    long size;
    cr_assert_eq(cache_bodies(&cache, &size), 0);
    cr_assert_lt(size, 10 * 1024, "the cache file holds %ld bytes", size);

    for (int round = 0; round < 2; round++) { /* settled stays settled through its 304s */
        ctl0(gh, "clear", json_object());
        g = open_gh(gh, &clk, cache.path);
        o.gh = g;
        cr_assert_eq(run_backfill(&o, &s), 0);
        cr_assert_eq(json_array_size(f.order), 250, "submitted again");
        cr_assert_eq(s.api_requests, 3);
        cr_assert_eq(s.api_not_modified, 3);
        cr_assert_eq(s.pages_unchanged, 3);
        cr_assert_eq(s.runs_seen, 0);
        cr_assert_eq(s.windows, 1);
        cr_assert_eq(s.repositories_scanned, 1);
        gm_backfill_summary_clear(&s);
        gm_github_close(g);
        json_t *reqs = api_requests(gh);
        cr_assert_eq(json_array_size(reqs), 3);
        size_t i;
        json_t *r;
        json_array_foreach(reqs, i, r) cr_assert_eq(json_integer_value(json_object_get(r, "status")), 304);
        json_decref(reqs);
        cr_assert_eq(cache_bodies(&cache, &size), 0);
    }
    fake_free(&f);
    cache_free(&cache);
    standin_stop(gh);
}

/* A submission that failed keeps its page's body: the next run gets a 304
 * for it, examines it again from the cache and submits the run, while the
 * settled pages are skipped. Then that page is settled too. */
Test(backfill, failed_submission_keeps_its_page)
{
    standin_t *gh = standin_start(NULL);
    load_gamma(gh);
    cache_t cache;
    cache_init(&cache);
    fclock_t clk;
    clock_init(&clk, gh);
    fake_t f;
    fake_init(&f);
    json_object_set_new(f.outcomes, "backfill-run-70100-1", json_integer(GM_RECEIVER_ERROR)); /* page 2 */
    const char *repos[] = {"octo-org/gamma"};
    gm_github_t *g = open_gh(gh, &clk, cache.path);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(s.runs_stored, 249);
    cr_assert_eq(s.runs_failed, 1);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    long size;
    cr_assert_eq(cache_bodies(&cache, &size), 1);

    json_object_clear(f.outcomes); /* the receiver is back */
    ctl0(gh, "clear", json_object());
    g = open_gh(gh, &clk, cache.path);
    o.gh = g;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(fake_count(&f, "backfill-run-70100-1"), 2);
    cr_assert_eq(json_array_size(f.order), 251);
    cr_assert_eq(s.runs_stored, 1);
    cr_assert_eq(s.runs_seen, 100); /* page 2, from the cache */
    cr_assert_eq(s.runs_known, 99);
    cr_assert_eq(s.pages_unchanged, 2);
    cr_assert_eq(s.api_requests, 3);
    cr_assert_eq(s.api_not_modified, 3);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    cr_assert_eq(cache_bodies(&cache, &size), 0);

    ctl0(gh, "clear", json_object());
    g = open_gh(gh, &clk, cache.path);
    o.gh = g;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(json_array_size(f.order), 251);
    cr_assert_eq(s.pages_unchanged, 3);
    cr_assert_eq(s.api_not_modified, 3);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    cache_free(&cache);
    standin_stop(gh);
}

/* ---- redelivery ------------------------------------------------------------------------------------------ */

#define HOOK_ORG "octo-org"
#define HOOK_ID 42

/* One delivery attempt on the org hook (sel: {"org","hookId"}) or the app's. */
static json_t *delivery(bool app, int64_t id, const char *guid, const char *event, const char *action,
                        const char *status, int64_t at_s)
{
    char iso[32];
    gm_time_format_iso8601(at_s * 1000, iso, sizeof(iso));
    json_t *d =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s}", "id", (json_int_t)id, "guid", guid, "event", event, "action",
                  action, "status", status, "status_code", strcmp(status, "OK") == 0 ? 200 : 503, "delivered_at", iso);
    if (app)
        json_object_set_new(d, "app", json_true());
    else {
        json_object_set_new(d, "org", json_string(HOOK_ORG));
        json_object_set_new(d, "hookId", json_integer(HOOK_ID));
    }
    return d;
}

/* 160 OK deliveries in the window and 100 before it (so the listing stops
 * at its second page), and among them:
 *   g-ok      failed, then OK                  → nothing
 *   g-twice   failed twice (ids 9002, 9003)    → redeliver 9003
 *   g-known   failed, the ledger has it        → nothing
 *   g-job     failed workflow_job              → redeliver 9006
 *   g-push    failed push                      → nothing (no record)
 *   g-queued  failed workflow_run "requested"  → nothing (no record)
 *   g-old     failed before since              → nothing
 *   g-last    failed workflow_run              → redeliver 9009 */
static void load_deliveries(standin_t *gh, bool app)
{
    int64_t t = since_s();
    json_t *list = json_array();
    for (int i = 0; i < 160; i++) {
        char guid[40];
        snprintf(guid, sizeof(guid), "ok-%04d", i);
        json_array_append_new(list,
                              delivery(app, 1000 + i, guid, "workflow_run", "completed", "OK", t + 7200 + i * 60));
    }
    for (int i = 0; i < 100; i++) {
        char guid[40];
        snprintf(guid, sizeof(guid), "before-%04d", i);
        json_array_append_new(list, delivery(app, 500 + i, guid, "workflow_run", "completed",
                                             i % 2 ? "OK" : "failed to connect", t - 3600 - i * 60));
    }
    json_array_append_new(
        list, delivery(app, 9000, "g-ok", "workflow_run", "completed", "Invalid HTTP Response: 503", t + 100));
    json_array_append_new(list, delivery(app, 9001, "g-ok", "workflow_run", "completed", "OK", t + 200));
    json_array_append_new(list, delivery(app, 9002, "g-twice", "workflow_run", "completed", "timed out", t + 300));
    json_array_append_new(list, delivery(app, 9003, "g-twice", "workflow_run", "completed", "timed out", t + 400));
    json_array_append_new(list, delivery(app, 9004, "g-known", "workflow_run", "completed", "timed out", t + 500));
    json_array_append_new(list,
                          delivery(app, 9006, "g-job", "workflow_job", "completed", "failed to connect", t + 600));
    json_array_append_new(list, delivery(app, 9007, "g-push", "push", "completed", "failed to connect", t + 700));
    json_array_append_new(list,
                          delivery(app, 9008, "g-queued", "workflow_run", "requested", "failed to connect", t + 800));
    json_array_append_new(list, delivery(app, 8999, "g-old", "workflow_run", "completed", "failed to connect", t - 10));
    json_array_append_new(list,
                          delivery(app, 9009, "g-last", "workflow_run", "completed", "failed to connect", t + 90000));
    ctl0(gh, "load-fixtures", json_pack("{s:o}", "deliveries", list));
}

static void assert_redelivered(gm_backfill_summary_t *s, json_t *asked)
{
    static const char *guids[] = {"g-twice", "g-job", "g-last"};
    static const int64_t ids[] = {9003, 9006, 9009};
    cr_assert_eq(s->redeliveries_asked, 3);
    cr_assert_eq(s->redeliveries_failed, 0);
    cr_assert_eq(s->redelivery_count, 3);
    cr_assert_eq(json_array_size(asked), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(s->redeliveries[i].guid, guids[i]);
        cr_assert_eq(s->redeliveries[i].delivery_id, ids[i]);
        cr_assert_eq(s->redeliveries[i].status, 202);
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(asked, i), "deliveryId")), ids[i]);
        if (i > 0) /* paced: a second at least between POSTs */
            cr_assert_geq(s->redeliveries[i].at_ms - s->redeliveries[i - 1].at_ms, 1000,
                          "POST %zu after %" PRId64 " ms", i, s->redeliveries[i].at_ms - s->redeliveries[i - 1].at_ms);
    }
}

Test(backfill, redelivers_only_failed_guids_not_in_the_ledger_paced)
{
    standin_t *gh = standin_start(NULL);
    load_deliveries(gh, false);
    ctl0(gh, "add-org", json_pack("{s:s}", "org", HOOK_ORG));
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    fake_know(&f, "d:g-known");
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.organization = HOOK_ORG; /* no repositories: only the redelivery does anything */
    o.redeliver_org = HOOK_ORG;
    o.redeliver_hook_id = HOOK_ID;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    json_t *asked = ctl(gh, "redeliveries", NULL);
    assert_redelivered(&s, asked);
    json_decref(asked);
    cr_assert_eq(s.deliveries_failed, 4); /* g-twice, g-known, g-job, g-last */
    cr_assert_eq(s.redeliveries_due, 3);
    cr_assert_eq(s.deliveries_checked, 169); /* 160 OK + 9 in the window; the older ones are not counted */
    json_t *reqs = api_requests(gh);
    cr_assert_eq(count_route(reqs, "org.deliveries"), 2); /* stopped at the page reaching `since` */
    cr_assert_eq(count_route(reqs, "org.redeliver"), 3);
    json_decref(reqs);
    cr_assert_eq(json_array_size(f.order), 0);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

Test(backfill, dry_run_redelivery_asks_nothing)
{
    standin_t *gh = standin_start(NULL);
    load_deliveries(gh, false);
    ctl0(gh, "add-org", json_pack("{s:s}", "org", HOOK_ORG));
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    fake_know(&f, "d:g-known");
    char *table = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&table, &tlen);
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.organization = HOOK_ORG;
    o.redeliver_org = HOOK_ORG;
    o.redeliver_hook_id = HOOK_ID;
    o.dry_run = true;
    o.submit = NULL;
    o.table_out = out;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    fclose(out);
    json_t *asked = ctl(gh, "redeliveries", NULL);
    cr_assert_eq(json_array_size(asked), 0);
    json_decref(asked);
    cr_assert_eq(s.redeliveries_due, 3);
    cr_assert_eq(s.redeliveries_asked, 0);
    cr_assert_eq(s.redelivery_count, 3);
    cr_assert_eq(s.redeliveries[0].status, -1);
    cr_assert(strstr(table, "would redeliver g-twice") != NULL, "%s", table);
    cr_assert(strstr(table, "would redeliver g-last") != NULL, "%s", table);
    cr_assert_null(strstr(table, "g-known"));
    json_t *j = gm_backfill_summary_json(&s);
    json_t *first = json_array_get(json_object_get(j, "redeliveries"), 0);
    cr_assert(json_is_null(json_object_get(first, "status")));
    json_decref(j);
    free(table);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- the App ---------------------------------------------------------------------------------------------- */

/* A GitHub App: the installation's repositories with the installation token,
 * the App's hook deliveries and their redelivery with the app JWT. */
Test(backfill, app_installation_scope_and_app_hook)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    cr_assert_not_null(key);
    char dir[] = "/tmp/gm-backfill-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *pub = gm_asprintf("%s/app.pub.pem", dir);
    FILE *pf = fopen(pub, "w");
    cr_assert_not_null(pf);
    cr_assert_eq(PEM_write_PUBKEY(pf, key), 1);
    fclose(pf);
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *pem = gm_strndup(data, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(key);

    char *fixtures = gm_asprintf("%s/backfill/scope.json", GM_FIXTURES);
    const char *args[] = {"--app-id", "777",        "--app-public-key", pub, "--installation-id",
                          "42",       "--fixtures", fixtures,           NULL};
    standin_t *gh = standin_start_args(args);
    ctl0(gh, "forbid-repo", json_pack("{s:s, s:b}", "name", "octo-org/secret", "forbidden", 0));
    load_deliveries(gh, true);
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_opts_t go = {.base_url = gh->url,
                           .app_id = 777,
                           .app_key_pem = pem,
                           .installation_id = 42,
                           .now_ms = fake_now,
                           .sleep_ms = fake_sleep,
                           .clock_ctx = &clk};
    char err[256] = "";
    gm_github_t *g = gm_github_open(&go, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    fake_t f;
    fake_init(&f);
    fake_know(&f, "d:g-known");
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.installation = true;
    o.redeliver_app = true;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0, "%s", s.redelivery_error ? s.redelivery_error : "");
    cr_assert_eq(s.repositories, 3);
    cr_assert_eq(s.runs_stored, 5);
    json_t *asked = ctl(gh, "redeliveries", NULL);
    assert_redelivered(&s, asked);
    json_decref(asked);
    json_t *reqs = api_requests(gh);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *route = json_string_value(json_object_get(r, "route"));
        const char *auth = json_string_value(json_object_get(r, "auth"));
        bool app_route = strncmp(route, "app.", 4) == 0;
        cr_assert_str_eq(auth, app_route ? "jwt" : "installation", "%s with %s", route, auth);
    }
    cr_assert_eq(count_route(reqs, "app.redeliver"), 3);
    cr_assert_eq(count_route(reqs, "installation.repos"), 1);
    json_decref(reqs);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
    unlink(pub);
    rmdir(dir);
    free(pub);
    free(fixtures);
    free(pem);
}

/* ---- dry run, deadline, stops ---------------------------------------------------------------------------- */

static int must_not_submit(void *ctx, const char *event, const char *delivery_id, const char *body, size_t len,
                           char *err, size_t errlen)
{
    (void)ctx, (void)event, (void)body, (void)len, (void)err, (void)errlen;
    cr_assert_fail("a dry run submitted %s", delivery_id);
    return GM_RECEIVER_ERROR;
}

Test(backfill, dry_run_prints_the_table_and_submits_nothing)
{
    standin_t *gh = standin_start("jobs.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    fake_know(&f, "r:1001:1");
    char *table = NULL;
    size_t tlen = 0;
    FILE *out = open_memstream(&table, &tlen);
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    o.dry_run = true;
    o.jobs = true;
    o.submit = must_not_submit;
    o.table_out = out;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    fclose(out);
    cr_assert_eq(s.runs_missing, 5);
    cr_assert_eq(s.runs_stored, 0);
    cr_assert_eq(s.jobs_missing, 7); /* counted, not handed over */
    cr_assert(strncmp(table, "REPOSITORY", 10) == 0, "%s", table);
    cr_assert(strstr(table, "WORKFLOW") != NULL && strstr(table, "CONCLUSION") != NULL && strstr(table, "COMPLETED"));
    cr_assert(strstr(table, "1003       1  Deploy") != NULL, "%s", table);
    cr_assert(strstr(table, "1003       2  Deploy") != NULL, "%s", table);
    cr_assert(strstr(table, "2026-11-01T03:41:00Z") != NULL, "%s", table);
    cr_assert_null(strstr(table, " 1001 "), "%s", table);
    size_t rows = 0;
    for (const char *p = table; (p = strchr(p, '\n')) != NULL; p++)
        rows++;
    cr_assert_eq(rows, 6, "%s", table); /* the header and five run attempts */
    free(table);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

static void ten_minutes_per_submission(fake_t *f, size_t n)
{
    (void)n;
    clock_advance(f->user, 10 * 60 * 1000);
}

Test(backfill, deadline_stops_new_repositories)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.on_submit = ten_minutes_per_submission;
    f.user = &clk;
    const char *repos[] = {"octo-org/alpha", "octo-org/beta", "octo-org/secret"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 3;
    o.deadline_ms = fake_now(&clk) + 5 * 60 * 1000;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert(s.partial);
    cr_assert_str_eq(s.stopped, "deadline");
    cr_assert_eq(s.repositories_scanned, 1); /* alpha, begun before the deadline, is finished */
    cr_assert_eq(s.repositories_not_started, 2);
    cr_assert_eq(s.runs_stored, 2);
    json_t *j = gm_backfill_summary_json(&s);
    cr_assert(json_is_true(json_object_get(j, "partial")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "stopped")), "deadline");
    json_decref(j);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

Test(backfill, lookup_failure_stops_the_run)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.fail_lookup = true;
    const char *repos[] = {"octo-org/alpha", "octo-org/beta"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 2;
    gm_backfill_summary_t s;
    char err[512] = "";
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 1);
    cr_assert(s.partial);
    cr_assert(strstr(s.stopped, "table not reachable") != NULL, "%s", s.stopped);
    cr_assert(strstr(err, "ledger lookup failed") != NULL, "%s", err);
    cr_assert_eq(json_array_size(f.order), 0);
    cr_assert_eq(s.repositories_not_started, 1);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* The receiver down: five failures in a row stop the run. */
Test(backfill, receiver_failing_stops_the_run)
{
    standin_t *gh = standin_start(NULL);
    int64_t created[20];
    for (size_t i = 0; i < 20; i++)
        created[i] = since_s() + 60 + (int64_t)i * 60;
    load_runs(gh, "octo-org/alpha", 40000, created, 20);
    ctl0(gh, "add-repo", json_pack("{s:s}", "name", "octo-org/beta"));
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.default_outcome = GM_RECEIVER_ERROR;
    const char *repos[] = {"octo-org/alpha", "octo-org/beta"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 2;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    cr_assert_eq(json_array_size(f.order), 5);
    cr_assert_eq(s.runs_failed, 5);
    cr_assert(s.partial);
    cr_assert(strstr(s.stopped, "5 submissions in a row failed") != NULL, "%s", s.stopped);
    cr_assert_eq(s.repositories_not_started, 1);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* Duplicates (the receiver had them) are fine: exit 0. */
Test(backfill, duplicates_are_not_failures)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    f.default_outcome = GM_RECEIVER_DUPLICATE;
    const char *repos[] = {"octo-org/alpha"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 1;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 0);
    cr_assert_eq(s.runs_duplicate, 2);
    cr_assert_eq(s.runs_stored, 0);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}

/* ---- options and the summary ---------------------------------------------------------------------------- */

Test(backfill, options_refused_with_2)
{
    fclock_t clk;
    clock_init(&clk, NULL);
    gm_github_opts_t go = {.base_url = "http://127.0.0.1:9", .token = TOKEN};
    char err[256] = "";
    gm_github_t *g = gm_github_open(&go, err, sizeof(err));
    cr_assert_not_null(g);
    fake_t f;
    fake_init(&f);
    const char *ok[] = {"octo-org/alpha"}, *bad[] = {"octo-org/../x"}, *bad2[] = {"no-slash"};
    gm_backfill_summary_t s;
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2); /* no scope */
    cr_assert(strstr(err, "scope") != NULL, "%s", err);
    gm_backfill_summary_clear(&s);
    o.repositories = bad;
    o.repository_count = 1;
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2);
    o.repositories = bad2;
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2);
    o.repositories = ok;
    o.until_ms = o.since_ms;
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2);
    o = base_opts(g, &f, &clk);
    o.repositories = ok;
    o.repository_count = 1;
    o.submit = NULL;
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2);
    o.submit = fake_submit;
    o.redeliver_app = true; /* a token client */
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2);
    cr_assert(strstr(err, "App credentials") != NULL, "%s", err);
    o.redeliver_app = false;
    o.redeliver_org = "octo-org";
    cr_assert_eq(gm_backfill_run(&o, &s, err, sizeof(err)), 2); /* no hook id */
    cr_assert_eq(s.exit_status, 2);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
}

Test(backfill, summary_json_and_table)
{
    standin_t *gh = standin_start("scope.json");
    fclock_t clk;
    clock_init(&clk, gh);
    gm_github_t *g = open_gh(gh, &clk, NULL);
    fake_t f;
    fake_init(&f);
    const char *repos[] = {"octo-org/alpha", "octo-org/secret"};
    gm_backfill_opts_t o = base_opts(g, &f, &clk);
    o.repositories = repos;
    o.repository_count = 2;
    gm_backfill_summary_t s;
    cr_assert_eq(run_backfill(&o, &s), 1);
    json_t *j = gm_backfill_summary_json(&s);
    static const char *keys[] = {"exit_status",
                                 "partial",
                                 "stopped",
                                 "dry_run",
                                 "jobs",
                                 "since",
                                 "until",
                                 "started",
                                 "finished",
                                 "duration_ms",
                                 "repositories",
                                 "repositories_scanned",
                                 "repositories_failed",
                                 "repositories_not_started",
                                 "failed_repositories",
                                 "windows",
                                 "windows_split",
                                 "windows_over_cap",
                                 "runs_unreachable",
                                 "pages_unchanged",
                                 "runs_seen",
                                 "runs_known",
                                 "runs_missing",
                                 "runs_stored",
                                 "runs_duplicate",
                                 "runs_refused",
                                 "runs_failed",
                                 "runs_held",
                                 "runs_not_completed",
                                 "runs_gone",
                                 "attempts_fetched",
                                 "jobs_seen",
                                 "jobs_known",
                                 "jobs_missing",
                                 "jobs_stored",
                                 "jobs_duplicate",
                                 "jobs_refused",
                                 "jobs_failed",
                                 "jobs_not_completed",
                                 "fetches_failed",
                                 "submit_error",
                                 "deliveries_checked",
                                 "deliveries_failed",
                                 "redeliveries_due",
                                 "redeliveries_asked",
                                 "redeliveries_failed",
                                 "redelivery_error",
                                 "redeliveries",
                                 "api_requests",
                                 "api_not_modified",
                                 "api_rate_limited",
                                 "api_waited_ms",
                                 "rate_limit",
                                 "rate_limit_remaining",
                                 "rate_limit_reset"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        cr_assert_not_null(json_object_get(j, keys[i]), "no %s", keys[i]);
    cr_assert_str_eq(json_string_value(json_object_get(j, "since")), SINCE_ISO);
    cr_assert_eq(json_object_size(j), sizeof(keys) / sizeof(*keys));
    cr_assert_eq(json_integer_value(json_object_get(j, "runs_stored")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "repositories")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "api_requests")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "rate_limit")), 5000);
    cr_assert(json_is_false(json_object_get(j, "jobs")));
    cr_assert(json_is_null(json_object_get(j, "submit_error")));
    char *text = json_dumps(j, JSON_COMPACT);
    cr_assert_null(strstr(text, TOKEN));
    free(text);
    json_decref(j);

    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    gm_backfill_summary_print(&s, m);
    fclose(m);
    cr_assert(strstr(out, "2 in scope, 1 scanned, 1 failed") != NULL, "%s", out);
    cr_assert(strstr(out, "octo-org/secret: HTTP 403") != NULL, "%s", out);
    cr_assert(strstr(out, "exit status    1") != NULL, "%s", out);
    free(out);
    gm_backfill_summary_clear(&s);
    gm_github_close(g);
    fake_free(&f);
    standin_stop(gh);
}
