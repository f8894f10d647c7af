/* Unit tests for processing/emf.c: the EMF line is parsed back with jansson
 * and its shape, values, units, dimension sets and properties are checked. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"
#include "gm/emf.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int64_t ms_of(const char *s)
{
    int64_t ms = 0;
    cr_assert_eq(gm_time_parse_iso8601(s, &ms), 0, "%s", s);
    return ms;
}

static void from_fixture(const char *file, const char *event, gm_record_t *r)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/payloads/%s", GM_FIXTURES, file);
    json_error_t err;
    json_t *p = json_load_file(path, 0, &err);
    cr_assert_not_null(p, "%s: %s", path, err.text);
    char reason[128];
    cr_assert_eq(gm_event_to_record(event, p, r, reason, sizeof(reason)), GM_EVENT_RECORD, "%s", reason);
    json_decref(p);
}

/* The default dimension sets of the configuration. */
static char *d_rw[] = {"Repository", "Workflow"};
static char *d_r[] = {"Repository"};
static char *d_t[] = {"Team"};
static const gm_dimset_t default_sets[] = {{d_rw, 2}, {d_r, 1}, {d_t, 1}, {NULL, 0}};

static gm_emf_opts_t default_opts(void)
{
    gm_emf_opts_t o = {
        .namespace_ = "GitHubActions",
        .dimensions = default_sets,
        .dimension_count = COUNT(default_sets),
        .team = "platform",
        .teams_configured = true,
        .delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        .backfilled = false,
    };
    return o;
}

/* Formats, checks it is one compact line, parses it back. */
static json_t *emit(const gm_record_t *r, const gm_emf_opts_t *o, char **raw)
{
    char *line = gm_emf_format(r, o);
    cr_assert_not_null(line);
    cr_expect_null(strchr(line, '\n'), "one line, no trailing newline");
    cr_expect_eq(strncmp(line, "{\"_aws\":{\"Timestamp\":", 21), 0, "_aws comes first, compact: %.40s", line);
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    cr_assert_not_null(j, "not JSON: %s: %s", err.text, line);
    if (raw != NULL)
        *raw = line;
    else
        free(line);
    return j;
}

static json_t *directive(json_t *j)
{
    json_t *aws = json_object_get(j, "_aws");
    cr_assert(json_is_object(aws));
    cr_assert_eq(json_object_size(aws), 2);
    json_t *cwm = json_object_get(aws, "CloudWatchMetrics");
    cr_assert(json_is_array(cwm));
    cr_assert_eq(json_array_size(cwm), 1);
    json_t *d = json_array_get(cwm, 0);
    cr_assert(json_is_object(d));
    cr_assert_eq(json_object_size(d), 3);
    return d;
}

/* Compares the Dimensions of the directive with a JSON text. */
static void expect_dims(json_t *j, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    cr_assert_not_null(want);
    json_t *got = json_object_get(directive(j), "Dimensions");
    char *g = json_dumps(got, JSON_COMPACT);
    cr_expect(json_equal(got, want), "Dimensions %s, want %s", g, want_text);
    free(g);
    json_decref(want);
}

static void expect_int(json_t *j, const char *key, json_int_t want)
{
    json_t *v = json_object_get(j, key);
    cr_assert(json_is_integer(v), "%s is an integer", key);
    cr_expect_eq(json_integer_value(v), want, "%s = %lld, want %lld", key, (long long)json_integer_value(v),
                 (long long)want);
}

static void expect_str(json_t *j, const char *key, const char *want)
{
    json_t *v = json_object_get(j, key);
    cr_assert(json_is_string(v), "%s is a string", key);
    cr_expect_str_eq(json_string_value(v), want, "%s", key);
}

static void expect_absent(json_t *j, const char *key)
{
    cr_expect_null(json_object_get(j, key), "%s should be absent", key);
}

static void expect_metrics(json_t *j, const char *const (*want)[2], size_t n)
{
    json_t *m = json_object_get(directive(j), "Metrics");
    cr_assert(json_is_array(m));
    cr_assert_eq(json_array_size(m), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(m, i);
        cr_expect_eq(json_object_size(e), 2);
        expect_str(e, "Name", want[i][0]);
        expect_str(e, "Unit", want[i][1]);
        /* Each metric has a number at the root. */
        cr_expect(json_is_number(json_object_get(j, want[i][0])), "value of %s", want[i][0]);
    }
}

/* Every dimension a set names has a string value at the root. */
static void expect_dims_resolvable(json_t *j)
{
    json_t *sets = json_object_get(directive(j), "Dimensions");
    size_t i, k;
    json_t *set, *name;
    json_array_foreach(sets, i, set)
    {
        cr_expect(json_is_array(set));
        json_array_foreach(set, k, name)
        {
            cr_assert(json_is_string(name));
            cr_expect(json_is_string(json_object_get(j, json_string_value(name))), "root value for %s",
                      json_string_value(name));
        }
    }
}

static const char *const job_metric_defs[][2] = {
    {"JobDuration", "Seconds"}, {"JobQueueTime", "Seconds"},  {"JobCompleted", "Count"},
    {"JobFailed", "Count"},     {"BillableMinutes", "Count"},
};
static const char *const run_metric_defs[][2] = {
    {"RunDuration", "Seconds"},
    {"RunQueueDelay", "Seconds"},
    {"RunCompleted", "Count"},
    {"RunFailed", "Count"},
};

/* -------------------------------------------------------------- shapes */

Test(emf, job_line_exact)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);

    json_t *aws = json_object_get(j, "_aws");
    expect_int(aws, "Timestamp", ms_of("2021-08-05T10:38:16Z"));
    expect_str(directive(j), "Namespace", "GitHubActions");
    expect_dims(j, "[[\"Repository\",\"Workflow\"],[\"Repository\"],[\"Team\"],[]]");
    expect_metrics(j, job_metric_defs, COUNT(job_metric_defs));
    expect_dims_resolvable(j);

    expect_str(j, "Repository", "Codertocat/Hello-World");
    expect_str(j, "Workflow", "CodeQL");
    expect_str(j, "Team", "platform");

    expect_int(j, "JobDuration", 198);
    expect_int(j, "JobQueueTime", 60);
    expect_int(j, "JobCompleted", 1);
    expect_int(j, "JobFailed", 1); /* conclusion failure */
    expect_int(j, "BillableMinutes", 4);

    expect_str(j, "RecordType", "job");
    expect_int(j, "RunId", INT64_C(2202229078));
    expect_int(j, "RunAttempt", 1);
    expect_int(j, "JobId", 289782451);
    expect_str(j, "JobName", "linters");
    expect_str(j, "RunnerName", "GitHub Actions 5");
    expect_str(j, "RunnerGroup", "GitHub Actions");
    expect_str(j, "RunnerOs", "linux");
    json_t *labels = json_object_get(j, "Labels");
    cr_assert(json_is_array(labels));
    cr_assert_eq(json_array_size(labels), 1);
    cr_expect_str_eq(json_string_value(json_array_get(labels, 0)), "ubuntu-latest");
    expect_str(j, "Conclusion", "failure");
    expect_str(j, "HeadBranch", "main");
    expect_str(j, "HtmlUrl", "https://github.com/octo-org/octo-repo/runs/1291536064");
    expect_str(j, "CreatedAt", "2021-08-05T10:33:58Z");
    expect_str(j, "StartedAt", "2021-08-05T10:34:58Z");
    expect_str(j, "CompletedAt", "2021-08-05T10:38:16Z");
    expect_str(j, "DeliveryId", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    expect_absent(j, "Backfilled");
    expect_absent(j, "Anomalies");
    /* Nothing of a run. */
    expect_absent(j, "RunDuration");
    expect_absent(j, "RunNumber");
    expect_absent(j, "WorkflowId");
    expect_absent(j, "Event");

    /* And nothing else: 1 (_aws) + 3 dimensions + 5 metrics + 16 properties. */
    cr_expect_eq(json_object_size(j), 1 + 3 + 5 + 16, "keys: %zu", json_object_size(j));
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, run_line_exact)
{
    gm_record_t r;
    from_fixture("workflow_run.completed.2.json", "workflow_run", &r);
    gm_emf_opts_t o = default_opts();
    o.team = NULL; /* teams configured, this repository unmapped */
    json_t *j = emit(&r, &o, NULL);

    expect_int(json_object_get(j, "_aws"), "Timestamp", ms_of("2020-10-05T16:33:49Z"));
    expect_metrics(j, run_metric_defs, COUNT(run_metric_defs));
    expect_dims(j, "[[\"Repository\",\"Workflow\"],[\"Repository\"],[\"Team\"],[]]");
    expect_dims_resolvable(j);

    expect_str(j, "Repository", "octo-org/octo-repo");
    expect_str(j, "Workflow", "test");
    expect_str(j, "Team", "unassigned");
    expect_int(j, "RunDuration", 0);
    expect_int(j, "RunQueueDelay", 25);
    expect_int(j, "RunCompleted", 1);
    expect_int(j, "RunFailed", 0);

    expect_str(j, "RecordType", "run");
    expect_int(j, "RunId", 289782451);
    expect_int(j, "RunAttempt", 1);
    expect_int(j, "RunNumber", 163);
    expect_int(j, "WorkflowId", 2823525);
    expect_str(j, "Event", "repository_dispatch");
    expect_str(j, "Conclusion", "success");
    expect_str(j, "HeadBranch", "master");
    expect_str(j, "HtmlUrl", "https://github.com/octo-org/octo-repo/actions/runs/289782451");
    expect_str(j, "CreatedAt", "2020-10-05T16:33:24Z");
    expect_str(j, "StartedAt", "2020-10-05T16:33:49Z");
    expect_str(j, "CompletedAt", "2020-10-05T16:33:49Z");
    expect_str(j, "DeliveryId", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    /* Nothing of a job. */
    expect_absent(j, "JobDuration");
    expect_absent(j, "BillableMinutes");
    expect_absent(j, "JobId");
    expect_absent(j, "JobName");
    expect_absent(j, "Labels");
    expect_absent(j, "RunnerOs");
    expect_absent(j, "Anomalies");
    expect_absent(j, "Backfilled");
    cr_expect_eq(json_object_size(j), 1 + 3 + 4 + 13, "keys: %zu", json_object_size(j));
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, key_order_is_stable)
{
    gm_record_t r;
    from_fixture("workflow_run.completed.2.json", "workflow_run", &r);
    gm_emf_opts_t o = default_opts();
    char *a = gm_emf_format(&r, &o);
    char *b = gm_emf_format(&r, &o);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_str_eq(a, b);
    /* Directive, then dimension values, then metrics, then properties. */
    const char *order[] = {"\"_aws\"",        "\"Repository\"", "\"Workflow\"",    "\"Team\"",
                           "\"RunDuration\"", "\"RunFailed\"",  "\"RecordType\"",  "\"RunId\"",
                           "\"Conclusion\"",  "\"CreatedAt\"",  "\"CompletedAt\"", "\"DeliveryId\""};
    const char *prev = a;
    for (size_t i = 0; i < COUNT(order); i++) {
        /* Search after the _aws object for root keys. */
        const char *at = strstr(i == 0 ? a : strstr(a, "}]}") + 3, order[i]);
        cr_assert_not_null(at, "%s", order[i]);
        cr_expect_geq(at, prev, "%s out of order", order[i]);
        prev = at;
    }
    free(a);
    free(b);
    gm_record_clear(&r);
}

/* --------------------------------------------------------- dimensions */

Test(emf, team_sets_dropped_without_teams)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    gm_emf_opts_t o = default_opts();
    o.team = NULL;
    o.teams_configured = false;
    json_t *j = emit(&r, &o, NULL);
    expect_dims(j, "[[\"Repository\",\"Workflow\"],[\"Repository\"],[]]");
    expect_absent(j, "Team");
    expect_dims_resolvable(j);
    json_decref(j);

    /* A set that combines Team with others goes too. */
    char *tr[] = {"Team", "Repository"};
    const gm_dimset_t sets[] = {{tr, 2}, {d_r, 1}};
    o.dimensions = sets;
    o.dimension_count = 2;
    j = emit(&r, &o, NULL);
    expect_dims(j, "[[\"Repository\"]]");
    json_decref(j);

    /* Every set dropped: an empty list, not [[]]. */
    o.dimensions = default_sets + 2; /* [[Team]] */
    o.dimension_count = 1;
    j = emit(&r, &o, NULL);
    expect_dims(j, "[]");
    json_decref(j);

    /* The same with a team mapped keeps them. */
    o.team = "platform";
    j = emit(&r, &o, NULL);
    expect_dims(j, "[[\"Team\"]]");
    expect_str(j, "Team", "platform");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, team_unassigned_when_configured)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    gm_emf_opts_t o = default_opts();
    o.team = NULL;
    o.teams_configured = true;
    json_t *j = emit(&r, &o, NULL);
    expect_str(j, "Team", "unassigned");
    expect_dims(j, "[[\"Repository\",\"Workflow\"],[\"Repository\"],[\"Team\"],[]]");
    json_decref(j);

    /* A mapped team wins even when teams_configured is false. */
    o.team = "infra";
    o.teams_configured = false;
    j = emit(&r, &o, NULL);
    expect_str(j, "Team", "infra");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, no_sets_configured_is_one_empty_set)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    gm_emf_opts_t o = default_opts();
    o.dimensions = NULL;
    o.dimension_count = 0;
    json_t *j = emit(&r, &o, NULL);
    expect_dims(j, "[[]]");
    /* Dimension values are still at the root, for Logs Insights. */
    expect_str(j, "Repository", "Codertocat/Hello-World");
    expect_str(j, "Workflow", "CodeQL");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, unknown_dimension_names_are_dropped)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    char *bad[] = {"Repository", "Branch"};
    char *wf[] = {"Workflow"};
    const gm_dimset_t sets[] = {{bad, 2}, {wf, 1}};
    gm_emf_opts_t o = default_opts();
    o.dimensions = sets;
    o.dimension_count = 2;
    json_t *j = emit(&r, &o, NULL);
    expect_dims(j, "[[\"Workflow\"]]");
    expect_absent(j, "Branch");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, namespace)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    gm_emf_opts_t o = default_opts();
    o.namespace_ = "Acme/CI";
    json_t *j = emit(&r, &o, NULL);
    expect_str(directive(j), "Namespace", "Acme/CI");
    json_decref(j);
    o.namespace_ = NULL;
    j = emit(&r, &o, NULL);
    expect_str(directive(j), "Namespace", "GitHubActions");
    json_decref(j);
    gm_record_clear(&r);
}

/* ---------------------------------------------------------- properties */

Test(emf, backfilled_without_delivery)
{
    gm_record_t r;
    from_fixture("workflow_run.completed.2.json", "workflow_run", &r);
    gm_emf_opts_t o = default_opts();
    o.delivery_id = NULL;
    o.backfilled = true;
    json_t *j = emit(&r, &o, NULL);
    expect_absent(j, "DeliveryId");
    cr_expect(json_is_true(json_object_get(j, "Backfilled")));
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, anomalies_listed_by_name)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    r.anomalies = GM_ANOMALY_START_BEFORE_CREATED | GM_ANOMALY_MISSING_CONCLUSION | GM_ANOMALY_STATUS_NOT_COMPLETED;
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    json_t *want = json_pack("[sss]", "start_before_created", "missing_conclusion", "status_not_completed");
    cr_expect(json_equal(json_object_get(j, "Anomalies"), want));
    json_decref(want);
    json_decref(j);

    r.anomalies = GM_ANOMALY_END_BEFORE_START | GM_ANOMALY_MISSING_START;
    j = emit(&r, &o, NULL);
    want = json_pack("[ss]", "end_before_start", "missing_start");
    cr_expect(json_equal(json_object_get(j, "Anomalies"), want));
    json_decref(want);
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, optional_properties_left_out)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    free(r.head_branch);
    free(r.html_url);
    free(r.runner_name);
    free(r.runner_group);
    r.head_branch = r.html_url = r.runner_name = r.runner_group = NULL;
    for (size_t i = 0; i < r.label_count; i++)
        free(r.labels[i]);
    free(r.labels);
    r.labels = NULL;
    r.label_count = 0;
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    expect_absent(j, "HeadBranch");
    expect_absent(j, "HtmlUrl");
    expect_absent(j, "RunnerName");
    expect_absent(j, "RunnerGroup");
    json_t *labels = json_object_get(j, "Labels");
    cr_expect(json_is_array(labels) && json_array_size(labels) == 0, "Labels is []");
    json_decref(j);
    gm_record_clear(&r);

    from_fixture("workflow_run.completed.2.json", "workflow_run", &r);
    r.run_number = 0;
    r.workflow_id = 0;
    j = emit(&r, &o, NULL);
    expect_absent(j, "RunNumber");
    expect_absent(j, "WorkflowId");
    expect_str(j, "Event", "repository_dispatch");
    json_decref(j);
    gm_record_clear(&r);
}

/* ------------------------------------------------------------- values */

Test(emf, failed_rule)
{
    static const struct {
        const char *conclusion;
        int failed;
    } cases[] = {
        {"failure", 1}, {"timed_out", 1}, {"startup_failure", 1}, {"success", 0}, {"cancelled", 0},
        {"skipped", 0}, {"neutral", 0},   {"action_required", 0}, {"stale", 0},   {"unknown", 0},
    };
    gm_emf_opts_t o = default_opts();
    for (size_t i = 0; i < COUNT(cases); i++) {
        gm_record_t r;
        from_fixture("workflow_run.completed.2.json", "workflow_run", &r);
        free(r.conclusion);
        r.conclusion = gm_strdup(cases[i].conclusion);
        json_t *j = emit(&r, &o, NULL);
        expect_int(j, "RunFailed", cases[i].failed);
        expect_str(j, "Conclusion", cases[i].conclusion);
        json_decref(j);
        gm_record_clear(&r);

        from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
        free(r.conclusion);
        r.conclusion = gm_strdup(cases[i].conclusion);
        j = emit(&r, &o, NULL);
        expect_int(j, "JobFailed", cases[i].failed);
        json_decref(j);
        gm_record_clear(&r);
    }
}

Test(emf, fractional_seconds)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    r.duration_s = 198.5;
    r.queue_s = 0.001;
    gm_emf_opts_t o = default_opts();
    char *raw;
    json_t *j = emit(&r, &o, &raw);
    cr_expect_not_null(strstr(raw, "\"JobDuration\":198.5,"), "%s", raw);
    cr_expect_not_null(strstr(raw, "\"JobQueueTime\":0.001,"), "%s", raw);
    cr_expect(json_is_real(json_object_get(j, "JobDuration")));
    cr_expect_eq(json_real_value(json_object_get(j, "JobDuration")), 198.5);
    free(raw);
    json_decref(j);

    /* Whole seconds are integers, not 198.0. */
    r.duration_s = 198.0;
    r.queue_s = 0;
    j = emit(&r, &o, &raw);
    cr_expect_not_null(strstr(raw, "\"JobDuration\":198,"), "%s", raw);
    cr_expect_not_null(strstr(raw, "\"JobQueueTime\":0,"), "%s", raw);
    free(raw);
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, timestamps_with_milliseconds)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    r.completed_at_ms += 250;
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    expect_int(json_object_get(j, "_aws"), "Timestamp", ms_of("2021-08-05T10:38:16.250Z"));
    expect_str(j, "CompletedAt", "2021-08-05T10:38:16.250Z");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, runner_os_and_billing)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    r.runner_os = GM_RUNNER_MACOS;
    r.billable_minutes = 40;
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    expect_str(j, "RunnerOs", "macos");
    expect_int(j, "BillableMinutes", 40);
    json_decref(j);
    r.runner_os = GM_RUNNER_SELF_HOSTED;
    r.billable_minutes = 0;
    j = emit(&r, &o, NULL);
    expect_str(j, "RunnerOs", "self-hosted");
    expect_int(j, "BillableMinutes", 0);
    json_decref(j);
    gm_record_clear(&r);
}

/* ------------------------------------------------------------- strings */

/* CloudWatch takes only printable ASCII in a dimension value: one '?' per
 * other character there, the name as written kept as a property. */
Test(emf, non_ascii_dimension_values_become_ascii_and_the_name_stays)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    free(r.workflow);
    r.workflow = gm_strdup("T\xc3\xabst \xe2\x9c\x93 \"quoted\"\t");
    gm_emf_opts_t o = default_opts();
    char *raw;
    json_t *j = emit(&r, &o, &raw);
    expect_str(j, "Workflow", "T?st ? \"quoted\"?");
    expect_str(j, "WorkflowName", "T\xc3\xabst \xe2\x9c\x93 \"quoted\"\t");
    free(raw);
    json_decref(j);

    /* A plain name has no second copy; a blank one is "unknown". */
    free(r.workflow);
    r.workflow = gm_strdup("CI");
    j = emit(&r, &o, NULL);
    expect_str(j, "Workflow", "CI");
    cr_expect_null(json_object_get(j, "WorkflowName"));
    json_decref(j);
    free(r.workflow);
    r.workflow = gm_strdup("   ");
    j = emit(&r, &o, NULL);
    expect_str(j, "Workflow", "unknown");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, invalid_utf8_is_replaced_not_dropped)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    free(r.job_name);
    r.job_name = gm_strdup("bad\xff\xfename");
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    expect_str(j, "JobName", "bad??name");
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, long_dimension_values_are_cut)
{
    gm_record_t r;
    from_fixture("workflow_job.completed.1.json", "workflow_job", &r);
    /* 1023 ASCII bytes then 3-byte characters: the first becomes the
     * 1,024th character ('?'), the rest are cut. */
    char *name = gm_malloc(1023 + 3 * 10 + 1);
    memset(name, 'a', 1023);
    char *p = name + 1023;
    for (int i = 0; i < 10; i++, p += 3)
        memcpy(p, "\xe2\x9c\x93", 3); /* U+2713 */
    *p = '\0';
    free(r.workflow);
    r.workflow = name;
    gm_emf_opts_t o = default_opts();
    json_t *j = emit(&r, &o, NULL);
    const char *w = json_string_value(json_object_get(j, "Workflow"));
    cr_assert_not_null(w);
    cr_expect_eq(strlen(w), 1024);
    cr_expect_eq(strncmp(w, name, 1023), 0);
    cr_expect_eq(w[1023], '?');
    json_decref(j);

    /* Exactly 1024 ASCII bytes stay whole. */
    name[1024] = '\0';
    memset(name, 'b', 1024);
    j = emit(&r, &o, NULL);
    cr_expect_eq(strlen(json_string_value(json_object_get(j, "Workflow"))), 1024);
    json_decref(j);
    gm_record_clear(&r);
}

Test(emf, null_arguments)
{
    gm_record_t r;
    memset(&r, 0, sizeof(r));
    gm_emf_opts_t o = default_opts();
    cr_expect_null(gm_emf_format(NULL, &o));
    cr_expect_null(gm_emf_format(&r, NULL));
}

Test(emf, every_fixture_record_formats)
{
    static const struct {
        const char *file, *event;
    } cases[] = {
        {"workflow_run.completed.2.json", "workflow_run"},
        {"workflow_run.completed.3.json", "workflow_run"},
        {"workflow_job.completed.1.json", "workflow_job"},
        {"workflow_job.completed.2.json", "workflow_job"},
    };
    gm_emf_opts_t o = default_opts();
    for (size_t i = 0; i < COUNT(cases); i++) {
        gm_record_t r;
        from_fixture(cases[i].file, cases[i].event, &r);
        json_t *j = emit(&r, &o, NULL);
        expect_dims_resolvable(j);
        json_t *cwm = directive(j);
        cr_expect_leq(json_array_size(json_object_get(cwm, "Metrics")), 100);
        json_decref(j);
        gm_record_clear(&r);
    }
}
