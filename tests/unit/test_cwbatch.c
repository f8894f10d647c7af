/* Unit tests for publisher/cwbatch.c: EMF lines from the real producer
 * (gm_emf_format) go in, PutMetricData bodies come out and are parsed back
 * with jansson to check their shape, merging, limits and completeness. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"
#include "gm/cwbatch.h"
#include "gm/emf.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MINUTE INT64_C(60000)
#define T0 INT64_C(1700000040000) /* 2023-11-14T22:14:00Z, a minute boundary */
#define T0_S 1700000040
#define NOW (T0 + 5 * MINUTE)

/* ------------------------------------------------------------ helpers */

static char *d_rw[] = {"Repository", "Workflow"};
static char *d_wr[] = {"Workflow", "Repository"};
static char *d_r[] = {"Repository"};
static char *d_t[] = {"Team"};
static const gm_dimset_t default_sets[] = {{d_rw, 2}, {d_r, 1}, {d_t, 1}, {NULL, 0}};
static const gm_dimset_t repo_set[] = {{d_r, 1}};

static gm_emf_opts_t opts(const gm_dimset_t *sets, size_t n, const char *team)
{
    gm_emf_opts_t o = {
        .namespace_ = "GitHubActions",
        .dimensions = sets,
        .dimension_count = n,
        .team = team,
        .teams_configured = team != NULL,
        .delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    };
    return o;
}

/* A completed run; the strings are borrowed (never gm_record_clear'd). */
static gm_record_t run(const char *repo, const char *workflow, double duration_s, int64_t completed_ms,
                       const char *conclusion)
{
    gm_record_t r;
    memset(&r, 0, sizeof(r));
    r.kind = GM_RECORD_RUN;
    r.repository = (char *)repo;
    r.workflow = (char *)workflow;
    r.run_id = 289782451;
    r.run_attempt = 1;
    r.conclusion = (char *)conclusion;
    r.completed_at_ms = completed_ms;
    r.started_at_ms = completed_ms - (int64_t)(duration_s * 1000);
    r.created_at_ms = r.started_at_ms - 25000;
    r.duration_s = duration_s;
    r.queue_s = 25;
    r.run_number = 7;
    r.event = (char *)"push";
    return r;
}

static gm_record_t job(const char *repo, const char *workflow, double duration_s, int64_t completed_ms)
{
    gm_record_t r = run(repo, workflow, duration_s, completed_ms, "success");
    r.kind = GM_RECORD_JOB;
    r.job_id = 1;
    r.job_name = (char *)"build";
    r.runner_os = GM_RUNNER_LINUX;
    r.billable_minutes = 4;
    return r;
}

static int add_line(gm_cw_t *cw, const char *line, int64_t now, size_t *rejected)
{
    char reason[160];
    int rc = gm_cw_add(cw, line, strlen(line), now, rejected, reason, sizeof(reason));
    if (rc == 0)
        cr_expect_str_eq(reason, "");
    return rc;
}

/* Formats a record with the real producer and adds it: must be accepted whole. */
static void add_record(gm_cw_t *cw, const gm_record_t *r, const gm_emf_opts_t *o, int64_t now)
{
    char *line = gm_emf_format(r, o);
    cr_assert_not_null(line);
    size_t rejected = 99;
    char reason[160];
    cr_assert_eq(gm_cw_add(cw, line, strlen(line), now, &rejected, reason, sizeof(reason)), 0, "%s", reason);
    cr_assert_eq(rejected, 0, "rejected %zu", rejected);
    free(line);
}

static double num(const json_t *j)
{
    cr_assert(json_is_number(j));
    return json_number_value(j);
}

/* Samples in a datum: 1 for Value, else the sum of Counts. */
static size_t samples_of(const json_t *d)
{
    if (json_object_get(d, "Value") != NULL) {
        cr_expect_null(json_object_get(d, "Values"));
        cr_expect_null(json_object_get(d, "Counts"));
        return 1;
    }
    const json_t *values = json_object_get(d, "Values");
    const json_t *counts = json_object_get(d, "Counts");
    cr_assert(json_is_array(values));
    cr_assert(json_is_array(counts));
    cr_assert_eq(json_array_size(values), json_array_size(counts));
    cr_assert_geq(json_array_size(values), 1);
    cr_assert_leq(json_array_size(values), GM_CW_MAX_VALUES);
    size_t s = 0, i;
    json_t *c;
    json_array_foreach(counts, i, c)
    {
        cr_assert(json_is_integer(c));
        cr_assert_geq(json_integer_value(c), 1);
        s += (size_t)json_integer_value(c);
    }
    return s;
}

/* "Metric|Name=Value|Name=Value": a datum's identity without the minute. */
static char *identity(const json_t *d)
{
    char *s = gm_strdup(json_string_value(json_object_get(d, "MetricName")));
    const json_t *dims = json_object_get(d, "Dimensions");
    size_t i;
    json_t *dim;
    json_array_foreach(dims, i, dim)
    {
        char *t = gm_asprintf("%s|%s=%s", s, json_string_value(json_object_get(dim, "Name")),
                              json_string_value(json_object_get(dim, "Value")));
        free(s);
        s = t;
    }
    return s;
}

typedef struct {
    size_t requests, datums, values, bytes;
    size_t max_datums, max_bytes;
} drain_t;

/* Takes every request, checks each against the limits and the counts the
 * batcher reports, and returns the parsed requests (a JSON array). */
static json_t *drain(gm_cw_t *cw, drain_t *st)
{
    memset(st, 0, sizeof(*st));
    json_t *all = json_array();
    size_t datums, values;
    char *body;
    while ((body = gm_cw_take_request(cw, &datums, &values)) != NULL) {
        size_t len = strlen(body);
        cr_assert_leq(len, GM_CW_MAX_BYTES, "request of %zu bytes", len);
        cr_assert_leq(datums, GM_CW_MAX_DATUMS);
        cr_assert_gt(datums, 0);
        json_error_t err;
        json_t *req = json_loads(body, 0, &err);
        cr_assert_not_null(req, "not JSON: %s", err.text);
        cr_assert_eq(json_object_size(req), 2);
        cr_assert(json_is_string(json_object_get(req, "Namespace")));
        json_t *md = json_object_get(req, "MetricData");
        cr_assert(json_is_array(md));
        cr_assert_eq(json_array_size(md), datums);
        size_t s = 0, i;
        json_t *d;
        json_array_foreach(md, i, d)
        {
            s += samples_of(d);
            const json_t *dims = json_object_get(d, "Dimensions");
            if (dims != NULL) {
                cr_assert(json_is_array(dims));
                cr_assert_geq(json_array_size(dims), 1);
                cr_assert_leq(json_array_size(dims), GM_CW_MAX_DIMENSIONS);
            }
            cr_assert(json_is_integer(json_object_get(d, "Timestamp")));
            cr_assert_eq(json_integer_value(json_object_get(d, "Timestamp")) % 60, 0, "whole minutes");
        }
        cr_assert_eq(s, values, "values %zu, sum of counts %zu", values, s);
        st->requests++;
        st->datums += datums;
        st->values += values;
        st->bytes += len;
        if (datums > st->max_datums)
            st->max_datums = datums;
        if (len > st->max_bytes)
            st->max_bytes = len;
        json_array_append_new(all, req);
        free(body);
    }
    cr_assert_eq(datums, 0);
    cr_assert_eq(values, 0);
    cr_assert_eq(gm_cw_pending(cw), 0);
    return all;
}

/* Every datum of every request, in order. */
static json_t *datums_of(const json_t *requests)
{
    json_t *out = json_array();
    size_t i, j;
    json_t *req, *d;
    json_array_foreach(requests, i, req)
    {
        json_array_foreach(json_object_get(req, "MetricData"), j, d)
        {
            json_array_append(out, d);
        }
    }
    return out;
}

/* Samples per identity: {"Metric|Name=Value": n}. */
static json_t *samples_by_identity(const json_t *datums)
{
    json_t *m = json_object();
    size_t i;
    json_t *d;
    json_array_foreach(datums, i, d)
    {
        char *id = identity(d);
        json_t *have = json_object_get(m, id);
        json_int_t n = (have != NULL ? json_integer_value(have) : 0) + (json_int_t)samples_of(d);
        json_object_set_new(m, id, json_integer(n));
        free(id);
    }
    return m;
}

/* ------------------------------------------------------ line → datums */

Test(cwbatch, datums_per_line)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(default_sets, COUNT(default_sets), "platform");
    cr_expect_eq(gm_cw_pending(cw), 0);
    cr_expect_null(gm_cw_take_request(cw, NULL, NULL));

    gm_record_t r = run("octo/a", "CI", 120, T0, "success");
    add_record(cw, &r, &o, NOW);
    cr_expect_eq(gm_cw_pending(cw), 4 * 4, "4 run metrics × 4 sets");

    gm_record_t j = job("octo/a", "CI", 120, T0);
    add_record(cw, &j, &o, NOW);
    cr_expect_eq(gm_cw_pending(cw), 16 + 5 * 4, "5 job metrics × 4 sets");

    /* The same run again merges: no new datum. */
    add_record(cw, &r, &o, NOW);
    cr_expect_eq(gm_cw_pending(cw), 36);

    /* No teams: the Team set is left out of the line. */
    gm_emf_opts_t o2 = opts(default_sets, COUNT(default_sets), NULL);
    gm_record_t r2 = run("octo/b", "CI", 120, T0, "success");
    add_record(cw, &r2, &o2, NOW);
    cr_expect_eq(gm_cw_pending(cw), 36 + 4 * 2, "the [] datums merge with octo/a's");

    /* Only a Team set and no team: a line with no dimension set, no datum. */
    gm_emf_opts_t o3 = opts(default_sets + 2, 1, NULL);
    add_record(cw, &r2, &o3, NOW);
    cr_expect_eq(gm_cw_pending(cw), 44);

    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 1);
    cr_expect_eq(st.datums, 44);
    cr_expect_eq(st.values, 4 * 4 * 2 + 5 * 4 + 4 * 3);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, request_shape_exact)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    /* The set's order (Workflow before Repository) is kept; [] has no Dimensions. */
    const gm_dimset_t sets[] = {{d_wr, 2}, {NULL, 0}};
    gm_emf_opts_t o = opts(sets, COUNT(sets), NULL);
    gm_record_t r = run("octo-org/octo-repo", "CI \"main\"", 198.5, T0 + 59999, "failure");
    add_record(cw, &r, &o, NOW);
    cr_assert_eq(gm_cw_pending(cw), 8);

    size_t datums = 0, values = 0;
    char *body = gm_cw_take_request(cw, &datums, &values);
    cr_assert_not_null(body);
    cr_expect_eq(datums, 8);
    cr_expect_eq(values, 8);
#define DIMS                                                                                                           \
    "\"Dimensions\":[{\"Name\":\"Workflow\",\"Value\":\"CI \\\"main\\\"\"},"                                           \
    "{\"Name\":\"Repository\",\"Value\":\"octo-org/octo-repo\"}],"
#define TS "\"Timestamp\":1700000040,"
    const char *want = "{\"Namespace\":\"GitHubActions\",\"MetricData\":["
                       "{\"MetricName\":\"RunDuration\"," DIMS TS "\"Unit\":\"Seconds\",\"Value\":198.5},"
                       "{\"MetricName\":\"RunDuration\"," TS "\"Unit\":\"Seconds\",\"Value\":198.5},"
                       "{\"MetricName\":\"RunQueueDelay\"," DIMS TS "\"Unit\":\"Seconds\",\"Value\":25},"
                       "{\"MetricName\":\"RunQueueDelay\"," TS "\"Unit\":\"Seconds\",\"Value\":25},"
                       "{\"MetricName\":\"RunCompleted\"," DIMS TS "\"Unit\":\"Count\",\"Value\":1},"
                       "{\"MetricName\":\"RunCompleted\"," TS "\"Unit\":\"Count\",\"Value\":1},"
                       "{\"MetricName\":\"RunFailed\"," DIMS TS "\"Unit\":\"Count\",\"Value\":1},"
                       "{\"MetricName\":\"RunFailed\"," TS "\"Unit\":\"Count\",\"Value\":1}"
                       "]}";
    cr_expect_str_eq(body, want);
    free(body);
    cr_expect_eq(gm_cw_pending(cw), 0);
    cr_expect_null(gm_cw_take_request(cw, &datums, &values));

    /* Three runs at 198.5 s and one at 200 s in the minute: Values + Counts. */
    const gm_dimset_t one[] = {{d_wr, 2}};
    o = opts(one, 1, NULL);
    for (int i = 0; i < 3; i++)
        add_record(cw, &r, &o, NOW);
    gm_record_t r2 = run("octo-org/octo-repo", "CI \"main\"", 200, T0 + 1000, "success");
    add_record(cw, &r2, &o, NOW);
    body = gm_cw_take_request(cw, &datums, &values);
    cr_assert_not_null(body);
    cr_expect_eq(datums, 4);
    cr_expect_eq(values, 16);
    const char *first =
        "{\"Namespace\":\"GitHubActions\",\"MetricData\":["
        "{\"MetricName\":\"RunDuration\"," DIMS TS "\"Unit\":\"Seconds\",\"Values\":[198.5,200],\"Counts\":[3,1]},"
        "{\"MetricName\":\"RunQueueDelay\"," DIMS TS "\"Unit\":\"Seconds\",\"Values\":[25],\"Counts\":[4]},";
    cr_expect_eq(strncmp(body, first, strlen(first)), 0, "%s", body);
    cr_expect_not_null(strstr(body, "{\"MetricName\":\"RunFailed\"," DIMS TS
                                    "\"Unit\":\"Count\",\"Values\":[1,0],\"Counts\":[3,1]}]}"),
                       "%s", body);
#undef DIMS
#undef TS
    free(body);
    gm_cw_free(cw);
}

Test(cwbatch, job_line_units_and_values)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    gm_record_t j = job("octo/a", "CI", 0.001, T0 + 30000);
    add_record(cw, &j, &o, NOW);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    json_t *ds = datums_of(reqs);
    static const struct {
        const char *name, *unit;
        double value;
    } want[] = {
        {"JobDuration", "Seconds", 0.001}, {"JobQueueTime", "Seconds", 25}, {"JobCompleted", "Count", 1},
        {"JobFailed", "Count", 0},         {"BillableMinutes", "Count", 4},
    };
    cr_assert_eq(json_array_size(ds), COUNT(want));
    for (size_t i = 0; i < COUNT(want); i++) {
        json_t *d = json_array_get(ds, i);
        cr_expect_str_eq(json_string_value(json_object_get(d, "MetricName")), want[i].name);
        cr_expect_str_eq(json_string_value(json_object_get(d, "Unit")), want[i].unit);
        cr_expect_eq(num(json_object_get(d, "Value")), want[i].value, "%s", want[i].name);
        cr_expect_eq(json_integer_value(json_object_get(d, "Timestamp")), T0_S);
    }
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

/* ------------------------------------------------------------- merging */

Test(cwbatch, hundred_runs_merge)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(default_sets, COUNT(default_sets), "platform");
    static const double durations[] = {10, 20, 30, 45.5, 60};
    static const char *conclusions[] = {"failure", "success", "cancelled", "success"};
    for (int i = 0; i < 100; i++) {
        gm_record_t r = run("octo/a", "CI", durations[i % 5], T0 + i * 500, conclusions[i % 4]);
        add_record(cw, &r, &o, NOW);
    }
    cr_assert_eq(gm_cw_pending(cw), 4 * 4, "one datum per metric per set");

    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 1);
    cr_expect_eq(st.datums, 16);
    cr_expect_eq(st.values, 1600);
    json_t *ds = datums_of(reqs);
    size_t i;
    json_t *d;
    json_array_foreach(ds, i, d)
    {
        const char *m = json_string_value(json_object_get(d, "MetricName"));
        json_t *values = json_object_get(d, "Values");
        json_t *counts = json_object_get(d, "Counts");
        cr_expect_eq(samples_of(d), 100, "%s", m);
        if (strcmp(m, "RunDuration") == 0) {
            cr_assert_eq(json_array_size(values), 5);
            for (size_t k = 0; k < 5; k++) {
                cr_expect_eq(num(json_array_get(values, k)), durations[k]);
                cr_expect_eq(json_integer_value(json_array_get(counts, k)), 20);
            }
        } else if (strcmp(m, "RunFailed") == 0) {
            cr_assert_eq(json_array_size(values), 2);
            cr_expect_eq(num(json_array_get(values, 0)), 1); /* run 0 failed */
            cr_expect_eq(json_integer_value(json_array_get(counts, 0)), 25);
            cr_expect_eq(num(json_array_get(values, 1)), 0);
            cr_expect_eq(json_integer_value(json_array_get(counts, 1)), 75);
        } else {
            cr_assert_eq(json_array_size(values), 1, "%s", m);
            cr_expect_eq(json_integer_value(json_array_get(counts, 0)), 100);
        }
    }
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, different_minutes_do_not_merge)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    gm_record_t a = run("octo/a", "CI", 10, T0 + 59999, "success");
    gm_record_t b = run("octo/a", "CI", 10, T0 + MINUTE, "success");
    add_record(cw, &a, &o, NOW);
    add_record(cw, &b, &o, NOW);
    cr_expect_eq(gm_cw_pending(cw), 8);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    json_t *ds = datums_of(reqs);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 0), "Timestamp")), T0_S);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 7), "Timestamp")), T0_S + 60);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, split_at_150_distinct_values)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    for (int i = 1; i <= 400; i++) {
        gm_record_t r = run("octo/a", "CI", i, T0 + i * 100, "success");
        add_record(cw, &r, &o, NOW);
    }
    /* RunDuration: 150 + 150 + 100; the other three metrics one each. */
    cr_assert_eq(gm_cw_pending(cw), 3 + 3);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    json_t *ds = datums_of(reqs);
    static const size_t sizes[] = {150, 150, 100};
    size_t seen = 0, i;
    int next = 1;
    json_t *d;
    json_array_foreach(ds, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "MetricName")), "RunDuration") != 0) {
            cr_expect_eq(samples_of(d), 400);
            continue;
        }
        cr_assert_lt(seen, 3);
        json_t *values = json_object_get(d, "Values");
        json_t *counts = json_object_get(d, "Counts");
        cr_assert_eq(json_array_size(values), sizes[seen], "datum %zu", seen);
        for (size_t k = 0; k < json_array_size(values); k++, next++) {
            cr_expect_eq(num(json_array_get(values, k)), next);
            cr_expect_eq(json_integer_value(json_array_get(counts, k)), 1);
        }
        cr_expect_eq(json_integer_value(json_object_get(d, "Timestamp")), T0_S);
        seen++;
    }
    cr_expect_eq(seen, 3);
    cr_expect_eq(next, 401);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, full_datum_repeated_value_starts_new_datum_only_when_new)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    for (int i = 1; i <= 150; i++) {
        gm_record_t r = run("octo/a", "CI", i, T0, "success");
        add_record(cw, &r, &o, NOW);
    }
    cr_assert_eq(gm_cw_pending(cw), 4);
    /* A value the full datum holds is still counted there. */
    gm_record_t again = run("octo/a", "CI", 7, T0, "success");
    add_record(cw, &again, &o, NOW);
    cr_assert_eq(gm_cw_pending(cw), 4);
    /* A new one starts a second datum, which then takes the later repeats. */
    gm_record_t fresh = run("octo/a", "CI", 151, T0, "success");
    add_record(cw, &fresh, &o, NOW);
    add_record(cw, &fresh, &o, NOW);
    cr_assert_eq(gm_cw_pending(cw), 5);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.values, 153 * 4);
    json_t *ds = datums_of(reqs);
    json_t *by = samples_by_identity(ds);
    cr_expect_eq(json_integer_value(json_object_get(by, "RunDuration|Repository=octo/a")), 153);
    json_t *last = json_array_get(ds, 4);
    cr_expect_str_eq(json_string_value(json_object_get(last, "MetricName")), "RunDuration");
    cr_expect_eq(num(json_array_get(json_object_get(last, "Values"), 0)), 151);
    cr_expect_eq(json_integer_value(json_array_get(json_object_get(last, "Counts"), 0)), 2);
    json_decref(by);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, take_then_add_same_identity)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    /* 3000 repositories: 12,000 datums. Take one request, add everything
     * again: the 1,000 taken start new datums, the rest merge. */
    char repo[32];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(repo, sizeof(repo), "org/repo-%d", i);
            gm_record_t r = run(repo, "CI", 60, T0, "success");
            add_record(cw, &r, &o, NOW);
        }
        cr_assert_eq(gm_cw_pending(cw), 12000);
        if (pass == 0) {
            size_t datums, values;
            char *body = gm_cw_take_request(cw, &datums, &values);
            cr_assert_not_null(body);
            cr_expect_eq(datums, 1000);
            cr_expect_eq(values, 1000);
            free(body);
            cr_assert_eq(gm_cw_pending(cw), 11000);
        }
    }
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.datums, 12000);
    cr_expect_eq(st.values, 23000);
    json_t *ds = datums_of(reqs);
    json_t *by = samples_by_identity(ds);
    cr_expect_eq(json_object_size(by), 12000);
    size_t ones = 0, twos = 0;
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v)
    {
        ones += json_integer_value(v) == 1;
        twos += json_integer_value(v) == 2;
    }
    cr_expect_eq(ones, 1000, "the taken identities came back once");
    cr_expect_eq(twos, 11000, "the others merged");
    json_decref(by);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

/* -------------------------------------------------------------- limits */

Test(cwbatch, thousand_datums_per_request)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    char repo[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(repo, sizeof(repo), "org/repo-%d", i);
        gm_record_t r = run(repo, "CI", 60 + i % 7, T0 + (i % 3) * MINUTE, "success");
        add_record(cw, &r, &o, NOW);
    }
    cr_assert_eq(gm_cw_pending(cw), 12000);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 12);
    cr_expect_eq(st.max_datums, 1000);
    cr_expect_eq(st.requests, gm_cw_lower_bound(st.datums, st.bytes / st.datums));
    json_t *ds = datums_of(reqs);
    json_t *by = samples_by_identity(ds);
    cr_expect_eq(json_object_size(by), 12000, "every datum exactly once");
    size_t per_metric[4] = {0};
    static const char *metrics[] = {"RunDuration", "RunQueueDelay", "RunCompleted", "RunFailed"};
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v)
    {
        cr_expect_eq(json_integer_value(v), 1, "%s", k);
        for (size_t m = 0; m < 4; m++)
            if (strncmp(k, metrics[m], strlen(metrics[m])) == 0 && k[strlen(metrics[m])] == '|')
                per_metric[m] += (size_t)json_integer_value(v);
    }
    for (size_t m = 0; m < 4; m++)
        cr_expect_eq(per_metric[m], 3000, "%s", metrics[m]);
    json_decref(by);
    json_decref(ds);
    json_decref(reqs);

    /* Drained (its table and queue given back), it takes lines again. */
    gm_record_t r = run("org/repo-1", "CI", 60, T0, "success");
    add_record(cw, &r, &o, NOW);
    add_record(cw, &r, &o, NOW);
    cr_expect_eq(gm_cw_pending(cw), 4);
    reqs = drain(cw, &st);
    cr_expect_eq(st.datums, 4);
    cr_expect_eq(st.values, 8);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, one_megabyte_per_request)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(default_sets, 2, NULL); /* [Repository, Workflow], [Repository] */
    /* 1,000-character repository and workflow names: ~2.1 KB per datum, so
     * the byte limit binds long before 1,000 datums. */
    char *repo = gm_malloc(1001);
    char *workflow = gm_malloc(1001);
    memset(workflow, 'w', 1000);
    workflow[1000] = '\0';
    const int runs = 800;
    for (int i = 0; i < runs; i++) {
        snprintf(repo, 1001, "o/%0998d", i);
        gm_record_t r = run(repo, workflow, 30 + i % 3, T0 + (i % 2) * MINUTE, i % 5 ? "success" : "failure");
        add_record(cw, &r, &o, NOW);
    }
    cr_assert_eq(gm_cw_pending(cw), (size_t)runs * 4 * 2);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.datums, (size_t)runs * 8);
    cr_expect_lt(st.max_datums, 1000, "bytes bind first");
    cr_expect_gt(st.max_bytes, GM_CW_MAX_BYTES - 4000, "requests are filled: %zu", st.max_bytes);
    size_t bound = gm_cw_lower_bound(st.datums, (st.bytes + st.datums - 1) / st.datums);
    cr_expect_leq(st.requests, bound + 1, "%zu requests, lower bound %zu", st.requests, bound);
    cr_expect_geq(st.requests, bound);
    json_t *ds = datums_of(reqs);
    json_t *by = samples_by_identity(ds);
    cr_expect_eq(json_object_size(by), (size_t)runs * 4 * 2, "every datum exactly once");
    const char *k;
    json_t *v;
    size_t total = 0;
    json_object_foreach(by, k, v)
    {
        cr_expect_eq(json_integer_value(v), 1);
        total += (size_t)json_integer_value(v);
    }
    cr_expect_eq(total, st.values);
    json_decref(by);
    json_decref(ds);
    json_decref(reqs);
    free(repo);
    free(workflow);
    gm_cw_free(cw);
}

Test(cwbatch, oldest_minutes_first)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    static const int minutes[] = {3, 1, 2};
    char repo[32];
    for (size_t m = 0; m < COUNT(minutes); m++)
        for (int i = 0; i < 400; i++) {
            snprintf(repo, sizeof(repo), "org/repo-%d", i);
            gm_record_t r = run(repo, "CI", 60, T0 + minutes[m] * MINUTE + i, "success");
            add_record(cw, &r, &o, NOW);
        }
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 5);
    json_t *ds = datums_of(reqs);
    cr_assert_eq(json_array_size(ds), 4800);
    json_int_t prev = 0;
    size_t i;
    json_t *d;
    json_array_foreach(ds, i, d)
    {
        json_int_t ts = json_integer_value(json_object_get(d, "Timestamp"));
        cr_assert_geq(ts, prev, "datum %zu", i);
        prev = ts;
    }
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 0), "Timestamp")), T0_S + 60);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 4799), "Timestamp")), T0_S + 180);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

/* -------------------------------------------------------------- window */

Test(cwbatch, timestamp_window)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t o = opts(default_sets, COUNT(default_sets), "platform");
    size_t rejected;
    struct {
        int64_t at;
        bool in;
    } cases[] = {
        {NOW, true},
        {NOW - GM_CW_MAX_AGE_MS, true},             /* the oldest minute taken */
        {NOW - GM_CW_MAX_AGE_MS - 1, false},        /* its minute is one older */
        {NOW - 30LL * 24 * 3600 * 1000, false},     /* a month old */
        {NOW + GM_CW_MAX_AHEAD_MS + 59999, true},   /* truncates to the last minute taken */
        {NOW + GM_CW_MAX_AHEAD_MS + MINUTE, false}, /* a minute further */
        {NOW + 24LL * 3600 * 1000, false},          /* a day ahead */
    };
    size_t want_pending = 0;
    for (size_t i = 0; i < COUNT(cases); i++) {
        gm_record_t r = run("octo/a", "CI", 10, cases[i].at, "success");
        char *line = gm_emf_format(&r, &o);
        cr_assert_eq(add_line(cw, line, NOW, &rejected), 0, "case %zu", i);
        if (cases[i].in) {
            cr_expect_eq(rejected, 0, "case %zu", i);
            want_pending += 16;
        } else {
            cr_expect_eq(rejected, 16, "case %zu: the whole line", i);
        }
        cr_expect_eq(gm_cw_pending(cw), want_pending, "case %zu", i);
        /* No rejected count asked for: still refused. */
        if (!cases[i].in) {
            cr_expect_eq(gm_cw_add(cw, line, strlen(line), NOW, NULL, NULL, 0), 0);
            cr_expect_eq(gm_cw_pending(cw), want_pending);
        }
        free(line);
    }
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.datums, 48);
    json_t *ds = datums_of(reqs);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 0), "Timestamp")),
                 (NOW - GM_CW_MAX_AGE_MS) / 1000);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(ds, 47), "Timestamp")),
                 (NOW + GM_CW_MAX_AHEAD_MS) / 1000);
    json_decref(ds);
    json_decref(reqs);
    gm_cw_free(cw);
}

/* ---------------------------------------------------------- namespaces */

Test(cwbatch, one_namespace_per_request)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    gm_emf_opts_t acme = opts(repo_set, 1, NULL);
    acme.namespace_ = "Acme/CI";
    gm_emf_opts_t gha = opts(repo_set, 1, NULL);
    gm_record_t a = run("octo/a", "CI", 10, T0, "success");
    gm_record_t b = run("octo/a", "CI", 10, T0 + MINUTE, "success");
    gm_record_t c = run("octo/a", "CI", 10, T0 + 2 * MINUTE, "success");
    add_record(cw, &b, &gha, NOW);
    add_record(cw, &a, &acme, NOW);
    add_record(cw, &c, &acme, NOW);
    cr_expect_eq(gm_cw_pending(cw), 12);

    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_assert_eq(st.requests, 2);
    json_t *r0 = json_array_get(reqs, 0), *r1 = json_array_get(reqs, 1);
    cr_expect_str_eq(json_string_value(json_object_get(r0, "Namespace")), "Acme/CI", "oldest minute first");
    cr_expect_eq(json_array_size(json_object_get(r0, "MetricData")), 8);
    cr_expect_str_eq(json_string_value(json_object_get(r1, "Namespace")), "GitHubActions");
    cr_expect_eq(json_array_size(json_object_get(r1, "MetricData")), 4);
    json_t *d0 = json_array_get(json_object_get(r1, "MetricData"), 0);
    cr_expect_eq(json_integer_value(json_object_get(d0, "Timestamp")), T0_S + 60);
    json_decref(reqs);
    gm_cw_free(cw);

    /* Same identity in two namespaces: two datums. */
    cw = gm_cw_new(NULL);
    add_record(cw, &a, &acme, NOW);
    add_record(cw, &a, &gha, NOW);
    cr_expect_eq(gm_cw_pending(cw), 8);
    reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 2);
    json_decref(reqs);
    gm_cw_free(cw);
}

/* ------------------------------------------------------- invalid lines */

#define OKDIR "{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Name\":\"M\",\"Unit\":\"Count\"}]}"
#define LINE(dirs, root) "{\"_aws\":{\"Timestamp\":1700000040000,\"CloudWatchMetrics\":[" dirs "]}" root "}"

Test(cwbatch, invalid_lines_add_nothing)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    cr_assert_eq(add_line(cw, LINE(OKDIR, ",\"R\":\"r\",\"M\":1"), NOW, NULL), 0);
    cr_assert_eq(gm_cw_pending(cw), 1);
    static const char *bad[] = {
        "not json SECRET",
        "",
        "[1,2,\"SECRET\"]",
        "{\"SECRET\":1}",
        "{\"_aws\":\"SECRET\"}",
        "{\"_aws\":{\"CloudWatchMetrics\":[" OKDIR "]},\"R\":\"SECRET\",\"M\":1}",
        "{\"_aws\":{\"Timestamp\":\"SECRET\",\"CloudWatchMetrics\":[" OKDIR "]},\"R\":\"r\",\"M\":1}",
        "{\"_aws\":{\"Timestamp\":-1,\"CloudWatchMetrics\":[" OKDIR "]},\"R\":\"r\",\"M\":1}",
        "{\"_aws\":{\"Timestamp\":1700000040000,\"CloudWatchMetrics\":{}},\"R\":\"SECRET\",\"M\":1}",
        LINE("", ",\"R\":\"SECRET\",\"M\":1"),
        LINE("\"SECRET\"", ""),
        LINE("{\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Name\":\"M\"}]}", ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"\",\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Name\":\"M\"}]}", ",\"R\":\"S\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[\"R\"],\"Metrics\":[{\"Name\":\"M\"}]}",
             ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[7]],\"Metrics\":[{\"Name\":\"M\"}]}", ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":{}}", ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\",\"R\"]],\"Metrics\":[{\"Name\":\"M\"}]}",
             ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":[\"M\"]}", ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Unit\":\"Count\"}]}",
             ",\"R\":\"SECRET\",\"M\":1"),
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Name\":\"M\",\"Unit\":\"SECRETS\"}]}",
             ",\"R\":\"r\",\"M\":1"),
        LINE(OKDIR, ",\"M\":1,\"X\":\"SECRET\""),         /* no dimension value */
        LINE(OKDIR, ",\"R\":7,\"M\":1,\"X\":\"SECRET\""), /* not a string */
        LINE(OKDIR, ",\"R\":\"\",\"M\":1,\"X\":\"SECRET\""),
        LINE(OKDIR, ",\"R\":\"r\",\"X\":\"SECRET\""), /* no metric value */
        LINE(OKDIR, ",\"R\":\"r\",\"M\":\"SECRET\""),
        LINE(OKDIR, ",\"R\":\"r\",\"M\":true,\"X\":\"SECRET\""),
        LINE(OKDIR, ",\"R\":\"r\",\"M\":[1,\"SECRET\"]"),
        LINE(OKDIR, ",\"R\":\"r\",\"M\":1e109,\"X\":\"SECRET\""), /* beyond 2^360 */
        LINE(OKDIR, ",\"R\":\"r\",\"M\":[1,-1e109],\"X\":\"SECRET\""),
        LINE(OKDIR, ",\"R\":\"r\",\"M\":1,\"M\":2,\"X\":\"SECRET\""), /* duplicate key */
        /* The first directive is fine, the second is not: nothing of either. */
        LINE(OKDIR ",{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"]],\"Metrics\":[{\"Name\":\"Q\"}]}",
             ",\"R\":\"r\",\"M\":1,\"X\":\"SECRET\""),
        LINE(OKDIR, ",\"R\":\"r\",\"M\":1,\"X\":\"SECRET\"") " trailing",
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        char reason[160];
        size_t rejected = 99;
        cr_expect_eq(gm_cw_add(cw, bad[i], strlen(bad[i]), NOW, &rejected, reason, sizeof(reason)), -1, "case %zu", i);
        cr_expect_neq(reason[0], '\0', "case %zu: a reason", i);
        cr_expect_null(strstr(reason, "SECRET"), "case %zu: reason quotes the line: %s", i, reason);
        cr_expect_eq(rejected, 0, "case %zu", i);
        cr_expect_eq(gm_cw_pending(cw), 1, "case %zu: nothing added", i);
    }
    /* A line cut short (len) is not JSON. */
    const char *ok = LINE(OKDIR, ",\"R\":\"r\",\"M\":1");
    cr_expect_eq(gm_cw_add(cw, ok, strlen(ok) - 1, NOW, NULL, NULL, 0), -1);
    /* No line, no batcher; a tiny reason buffer is still terminated. */
    char tiny[4];
    cr_expect_eq(gm_cw_add(cw, NULL, 0, NOW, NULL, tiny, sizeof(tiny)), -1);
    cr_expect_eq(strlen(tiny), 3);
    cr_expect_eq(gm_cw_add(NULL, ok, strlen(ok), NOW, NULL, NULL, 0), -1);
    cr_expect_eq(gm_cw_pending(cw), 1);
    gm_cw_free(cw);
}

Test(cwbatch, other_emf_shapes)
{
    gm_cw_t *cw = gm_cw_new("N");
    /* An array value contributes each number; no Unit means None; values up
     * to 2^360 pass; the shortest exact decimal is written. */
    const char *line = LINE("{\"Namespace\":\"N\",\"Dimensions\":[[\"R\"],[]],\"Metrics\":[{\"Name\":\"Lat\"},"
                            "{\"Name\":\"Big\",\"Unit\":\"Bytes\"},{\"Name\":\"F\",\"Unit\":\"Percent\"},"
                            "{\"Name\":\"E\",\"Unit\":\"Count\"}]}",
                            ",\"R\":\"r\",\"Lat\":[1,2,2,3],\"Big\":1e108,\"F\":0.1,\"E\":[]");
    size_t rejected = 99;
    cr_assert_eq(add_line(cw, line, NOW, &rejected), 0);
    cr_expect_eq(rejected, 0);
    cr_expect_eq(gm_cw_pending(cw), 6, "an empty array has no sample, so no datum");
    size_t datums, values;
    char *body = gm_cw_take_request(cw, &datums, &values);
    cr_assert_not_null(body);
    cr_expect_eq(datums, 6);
    cr_expect_eq(values, 4 * 2 + 1 * 2 + 1 * 2);
    cr_expect_str_eq(body, "{\"Namespace\":\"N\",\"MetricData\":["
                           "{\"MetricName\":\"Lat\",\"Dimensions\":[{\"Name\":\"R\",\"Value\":\"r\"}],"
                           "\"Timestamp\":1700000040,\"Unit\":\"None\",\"Values\":[1,2,3],\"Counts\":[1,2,1]},"
                           "{\"MetricName\":\"Lat\",\"Timestamp\":1700000040,\"Unit\":\"None\","
                           "\"Values\":[1,2,3],\"Counts\":[1,2,1]},"
                           "{\"MetricName\":\"Big\",\"Dimensions\":[{\"Name\":\"R\",\"Value\":\"r\"}],"
                           "\"Timestamp\":1700000040,\"Unit\":\"Bytes\",\"Value\":1e108},"
                           "{\"MetricName\":\"Big\",\"Timestamp\":1700000040,\"Unit\":\"Bytes\",\"Value\":1e108},"
                           "{\"MetricName\":\"F\",\"Dimensions\":[{\"Name\":\"R\",\"Value\":\"r\"}],"
                           "\"Timestamp\":1700000040,\"Unit\":\"Percent\",\"Value\":0.1},"
                           "{\"MetricName\":\"F\",\"Timestamp\":1700000040,\"Unit\":\"Percent\",\"Value\":0.1}]}");
    free(body);

    /* Values that need 17 digits round-trip exactly. */
    const double third = 1.0 / 3.0;
    char *l2 = gm_asprintf(
        LINE("{\"Namespace\":\"N\",\"Dimensions\":[[]],\"Metrics\":[{\"Name\":\"T\"}]}", ",\"T\":%.17g"), third);
    cr_assert_eq(add_line(cw, l2, NOW, NULL), 0);
    free(l2);
    body = gm_cw_take_request(cw, &datums, &values);
    cr_assert_not_null(body);
    json_t *req = json_loads(body, 0, NULL);
    cr_assert_not_null(req);
    cr_expect_eq(json_real_value(json_object_get(json_array_get(json_object_get(req, "MetricData"), 0), "Value")),
                 third);
    json_decref(req);
    free(body);

    /* Two directives, two namespaces, from one line. */
    const char *l3 =
        LINE(OKDIR ",{\"Namespace\":\"O\",\"Dimensions\":[[]],\"Metrics\":[{\"Name\":\"M\"}]}", ",\"R\":\"r\",\"M\":5");
    cr_assert_eq(add_line(cw, l3, NOW, NULL), 0);
    cr_expect_eq(gm_cw_pending(cw), 2);
    drain_t st;
    json_t *reqs = drain(cw, &st);
    cr_expect_eq(st.requests, 2);
    json_decref(reqs);
    gm_cw_free(cw);
}

Test(cwbatch, dimension_set_limit)
{
    /* 31 names: CloudWatch refuses the datum: skipped and counted. 30 pass. */
    char *dims31 = gm_strdup(""), *root = gm_strdup("");
    for (int i = 0; i < 31; i++) {
        char *a = gm_asprintf("%s%s\"D%d\"", dims31, i ? "," : "", i);
        char *b = gm_asprintf("%s,\"D%d\":\"v%d\"", root, i, i);
        free(dims31);
        free(root);
        dims31 = a;
        root = b;
    }
    const char *d30_end = strstr(dims31, ",\"D30\"");
    cr_assert_not_null(d30_end);
    char *line = gm_asprintf("{\"_aws\":{\"Timestamp\":1700000040000,\"CloudWatchMetrics\":[{\"Namespace\":\"N\","
                             "\"Dimensions\":[[%s],[%.*s],[]],\"Metrics\":[{\"Name\":\"M\"},{\"Name\":\"K\"}]}]}"
                             "%s,\"M\":1,\"K\":2}",
                             dims31, (int)(d30_end - dims31), dims31, root);
    gm_cw_t *cw = gm_cw_new("N");
    size_t rejected = 0;
    cr_assert_eq(add_line(cw, line, NOW, &rejected), 0);
    cr_expect_eq(rejected, 2, "2 metrics × the 31-name set");
    cr_expect_eq(gm_cw_pending(cw), 4, "2 metrics × (30-name set, [])");
    drain_t st;
    json_t *reqs = drain(cw, &st);
    json_t *d = json_array_get(json_object_get(json_array_get(reqs, 0), "MetricData"), 0);
    json_t *dims = json_object_get(d, "Dimensions");
    cr_assert_eq(json_array_size(dims), 30);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(dims, 29), "Name")), "D29");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(dims, 29), "Value")), "v29");
    json_decref(reqs);
    free(line);
    free(dims31);
    free(root);
    gm_cw_free(cw);
}

/* --------------------------------------------------------------- split */

Test(cwbatch, split_request_halves)
{
    gm_cw_t *cw = gm_cw_new("Acme/CI");
    gm_emf_opts_t o = opts(repo_set, 1, NULL);
    o.namespace_ = "Acme/CI";
    gm_record_t r = run("octo/a", "CI", 12.25, T0, "success");
    gm_record_t r2 = run("octo/b", "CI", 12.25, T0, "success");
    add_record(cw, &r, &o, NOW);
    add_record(cw, &r, &o, NOW);
    add_record(cw, &r2, &o, NOW);
    size_t datums, values;
    char *body = gm_cw_take_request(cw, &datums, &values);
    cr_assert_not_null(body);
    cr_assert_eq(datums, 8);
    json_t *whole = json_loads(body, 0, NULL);
    cr_assert_not_null(whole);

    char *a = NULL, *b = NULL;
    cr_assert_eq(gm_cw_split_request(body, &a, &b), 0);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
    cr_assert_not_null(ja);
    cr_assert_not_null(jb);
    cr_expect_str_eq(json_string_value(json_object_get(ja, "Namespace")), "Acme/CI");
    cr_expect_str_eq(json_string_value(json_object_get(jb, "Namespace")), "Acme/CI");
    cr_expect_eq(json_object_size(ja), 2);
    json_t *ma = json_object_get(ja, "MetricData"), *mb = json_object_get(jb, "MetricData");
    cr_expect_eq(json_array_size(ma), 4);
    cr_expect_eq(json_array_size(mb), 4);
    json_t *joined = json_array();
    json_array_extend(joined, ma);
    json_array_extend(joined, mb);
    cr_expect(json_equal(joined, json_object_get(whole, "MetricData")), "halves concatenate to the whole");
    /* Compact, and the datum text kept (key order, numbers). */
    const char *head = "{\"Namespace\":\"Acme/CI\",\"MetricData\":[{\"MetricName\":\"RunDuration\"";
    cr_expect_eq(strncmp(a, head, strlen(head)), 0, "%s", a);
    cr_expect_not_null(strstr(a, "\"Values\":[12.25],\"Counts\":[2]"), "%s", a);

    /* An odd count: the second half holds the extra datum. */
    char *a1 = NULL, *b1 = NULL;
    json_t *three = json_pack("{s:s,s:[{s:s},{s:s},{s:s}]}", "Namespace", "N", "MetricData", "MetricName", "x",
                              "MetricName", "y", "MetricName", "z");
    char *tb = json_dumps(three, JSON_COMPACT | JSON_PRESERVE_ORDER);
    cr_assert_eq(gm_cw_split_request(tb, &a1, &b1), 0);
    cr_expect_str_eq(a1, "{\"Namespace\":\"N\",\"MetricData\":[{\"MetricName\":\"x\"}]}");
    cr_expect_str_eq(b1, "{\"Namespace\":\"N\",\"MetricData\":[{\"MetricName\":\"y\"},{\"MetricName\":\"z\"}]}");

    /* A single datum cannot be split; neither can garbage. */
    char *x = (char *)"unset", *y = (char *)"unset";
    cr_expect_eq(gm_cw_split_request(a1, &x, &y), -1);
    cr_expect_null(x);
    cr_expect_null(y);
    cr_expect_eq(gm_cw_split_request("not json", &x, &y), -1);
    cr_expect_eq(gm_cw_split_request("{\"Namespace\":\"N\"}", &x, &y), -1);
    cr_expect_eq(gm_cw_split_request("{\"MetricData\":[{},{}]}", &x, &y), -1);
    cr_expect_eq(gm_cw_split_request(NULL, &x, &y), -1);
    cr_expect_null(x);

    free(a1);
    free(b1);
    free(tb);
    json_decref(three);
    json_decref(joined);
    json_decref(ja);
    json_decref(jb);
    json_decref(whole);
    free(a);
    free(b);
    free(body);
    gm_cw_free(cw);
}

/* --------------------------------------------------------- lower bound */

Test(cwbatch, lower_bound_arithmetic)
{
    cr_expect_eq(gm_cw_lower_bound(0, 250), 0);
    cr_expect_eq(gm_cw_lower_bound(1, 250), 1);
    cr_expect_eq(gm_cw_lower_bound(1000, 250), 1);
    cr_expect_eq(gm_cw_lower_bound(1001, 250), 2);
    cr_expect_eq(gm_cw_lower_bound(16000, 250), 16);
    cr_expect_eq(gm_cw_lower_bound(1000, 1000), 1, "exactly 1,000,000 bytes fit");
    cr_expect_eq(gm_cw_lower_bound(1000, 1001), 2);
    cr_expect_eq(gm_cw_lower_bound(500, 3000), 2, "1.5 MB");
    cr_expect_eq(gm_cw_lower_bound(400, 2500), 1);
    cr_expect_eq(gm_cw_lower_bound(401, 2500), 2);
    cr_expect_eq(gm_cw_lower_bound(5, 0), 1);
    cr_expect_eq(gm_cw_lower_bound(3, SIZE_MAX / 2), (size_t)ceil(3.0 * (double)(SIZE_MAX / 2) / GM_CW_MAX_BYTES),
                 "no overflow");
}

/* ------------------------------------------------------ realistic mix */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* 1,000 completed runs over 200 repositories × 3 workflows × 4 conclusions,
 * 20 teams, the default dimension sets, spread over a few windows of time,
 * drained at once. Prints requests next to the lower bound. */
Test(cwbatch, realistic_mix)
{
    static const char *conclusions[] = {"success", "failure", "cancelled", "timed_out"};
    static const char *workflows[] = {"CI", "Deploy", "Nightly"};
    static const int spreads[] = {1, 5, 15, 60};
    char repo[32], team[16];
    printf("realistic mix: 1000 runs, 200 repos x 3 workflows x 4 conclusions, sets "
           "[Repository,Workflow] [Repository] [Team] []\n");
    for (size_t s = 0; s < COUNT(spreads); s++) {
        rng_state = 0x9e3779b97f4a7c15ULL;
        gm_cw_t *cw = gm_cw_new("GitHubActions");
        for (int i = 0; i < 1000; i++) {
            int rix = (int)rnd(200);
            snprintf(repo, sizeof(repo), "acme/service-%03d", rix);
            snprintf(team, sizeof(team), "team-%02d", rix % 20);
            gm_emf_opts_t o = opts(default_sets, COUNT(default_sets), team);
            double duration = 30 + rnd(900); /* whole seconds, as GitHub reports */
            int64_t at = T0 + (int64_t)rnd((uint32_t)(spreads[s] * MINUTE));
            gm_record_t r = run(repo, workflows[rnd(3)], duration, at, conclusions[rnd(4)]);
            r.queue_s = rnd(40);
            add_record(cw, &r, &o, T0 + 61 * MINUTE);
        }
        size_t datums = gm_cw_pending(cw);
        drain_t st;
        json_t *reqs = drain(cw, &st);
        cr_assert_eq(st.datums, datums);
        cr_assert_eq(st.values, 16000, "every sample sent once");
        size_t avg = (st.bytes + st.datums - 1) / st.datums;
        size_t bound = gm_cw_lower_bound(st.datums, avg);
        printf("  runs over %2d min: %5zu datums after merging (16000 before), avg %zu B/datum, "
               "%2zu requests, lower bound %2zu (unmerged bound %zu)\n",
               spreads[s], st.datums, avg, st.requests, bound, gm_cw_lower_bound(16000, avg));
        cr_expect(st.requests == bound || st.requests == bound + 1, "%zu requests, lower bound %zu", st.requests,
                  bound);
        json_decref(reqs);
        gm_cw_free(cw);
    }
    fflush(stdout);
}
