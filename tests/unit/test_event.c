/* Unit tests for processing/event.c: payload → record, durations, anomalies,
 * refusals. Fixtures are GitHub's own examples from the npm package
 * @octokit/webhooks-examples (tests/fixtures/payloads/, one file each). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/record.h"

#define T(s) gm_time_ms(s)

static int64_t gm_time_ms(const char *s)
{
    int64_t ms = 0;
    cr_assert_eq(gm_time_parse_iso8601(s, &ms), 0, "bad test timestamp %s", s);
    return ms;
}

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/payloads/%s", GM_FIXTURES, name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    cr_assert_not_null(j, "%s: %s (line %d)", path, err.text, err.line);
    return j;
}

/* Sets (or with v == NULL deletes) the value at a dotted path such as
 * "workflow_job.labels.0"; numeric components index arrays. Steals v. */
static void set_path(json_t *root, const char *path, json_t *v)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = root;
    char *save = NULL;
    char *part = strtok_r(buf, ".", &save);
    for (;;) {
        char *next = strtok_r(NULL, ".", &save);
        if (next == NULL)
            break;
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(part, NULL, 10)) : json_object_get(cur, part);
        cr_assert_not_null(cur, "no %s in %s", part, path);
        part = next;
    }
    if (json_is_array(cur)) {
        size_t i = strtoul(part, NULL, 10);
        if (v == NULL)
            json_array_remove(cur, i);
        else
            json_array_set_new(cur, i, v);
    } else if (v == NULL) {
        json_object_del(cur, part);
    } else {
        json_object_set_new(cur, part, v);
    }
}

static char reason[256];

static gm_event_result_t convert(const char *event, json_t *payload, gm_record_t *rec)
{
    /* Poison the record first: the function must zero it. */
    memset(rec, 0xA5, sizeof(*rec));
    reason[0] = 'X';
    reason[1] = '\0';
    return gm_event_to_record(event, payload, rec, reason, sizeof(reason));
}

static bool record_is_zero(const gm_record_t *r, unsigned allowed_anomalies)
{
    gm_record_t z;
    memset(&z, 0, sizeof(z));
    z.anomalies = r->anomalies & allowed_anomalies;
    return memcmp(&z, r, sizeof(z)) == 0;
}

/* ------------------------------------------------------------ examples */

static void check_job_example(const char *file, const char *conclusion)
{
    json_t *p = load(file);
    gm_record_t r;
    cr_assert_eq(convert("workflow_job", p, &r), GM_EVENT_RECORD, "%s: %s", file, reason);
    cr_expect_eq(r.kind, GM_RECORD_JOB);
    cr_expect_str_eq(r.repository, "Codertocat/Hello-World");
    cr_expect_str_eq(r.workflow, "CodeQL");
    cr_expect_eq(r.run_id, INT64_C(2202229078));
    cr_expect_eq(r.job_id, 289782451);
    cr_expect_eq(r.run_attempt, 1);
    cr_expect_str_eq(r.job_name, "linters");
    cr_expect_str_eq(r.conclusion, conclusion);
    cr_expect_str_eq(r.head_branch, "main");
    cr_expect_str_eq(r.html_url, "https://github.com/octo-org/octo-repo/runs/1291536064");
    cr_expect_str_eq(r.runner_name, "GitHub Actions 5");
    cr_expect_str_eq(r.runner_group, "GitHub Actions");
    cr_assert_eq(r.label_count, 1);
    cr_expect_str_eq(r.labels[0], "ubuntu-latest");
    cr_expect_eq(r.created_at_ms, T("2021-08-05T10:33:58Z"));
    cr_expect_eq(r.started_at_ms, T("2021-08-05T10:34:58Z"));
    cr_expect_eq(r.completed_at_ms, T("2021-08-05T10:38:16Z"));
    cr_expect_eq(r.duration_s, 198.0);
    cr_expect_eq(r.queue_s, 60.0);
    cr_expect_eq(r.runner_os, GM_RUNNER_LINUX);
    cr_expect_eq(r.billable_minutes, 4);
    cr_expect_eq(r.anomalies, 0u);
    /* Run-only fields stay empty. */
    cr_expect_null(r.event);
    cr_expect_eq(r.workflow_id, 0);
    cr_expect_eq(r.run_number, 0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(examples, job_completed_failure)
{
    check_job_example("workflow_job.completed.1.json", "failure");
}

Test(examples, job_completed_success)
{
    check_job_example("workflow_job.completed.2.json", "success");
}

static void check_run_example(const char *file)
{
    json_t *p = load(file);
    gm_record_t r;
    cr_assert_eq(convert("workflow_run", p, &r), GM_EVENT_RECORD, "%s: %s", file, reason);
    cr_expect_eq(r.kind, GM_RECORD_RUN);
    cr_expect_str_eq(r.repository, "octo-org/octo-repo");
    /* workflow_run.name is "" in this example: the top-level workflow.name. */
    cr_expect_str_eq(r.workflow, "test");
    cr_expect_eq(r.run_id, 289782451);
    cr_expect_eq(r.run_attempt, 1);
    cr_expect_eq(r.run_number, 163);
    cr_expect_eq(r.workflow_id, 2823525);
    cr_expect_str_eq(r.event, "repository_dispatch");
    cr_expect_str_eq(r.conclusion, "success");
    cr_expect_str_eq(r.head_branch, "master");
    cr_expect_str_eq(r.html_url, "https://github.com/octo-org/octo-repo/actions/runs/289782451");
    cr_expect_eq(r.created_at_ms, T("2020-10-05T16:33:24Z"));
    cr_expect_eq(r.started_at_ms, T("2020-10-05T16:33:49Z"));
    cr_expect_eq(r.completed_at_ms, T("2020-10-05T16:33:49Z"));
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 25.0);
    cr_expect_eq(r.anomalies, 0u);
    /* Job-only fields stay empty. */
    cr_expect_null(r.job_name);
    cr_expect_null(r.labels);
    cr_expect_eq(r.label_count, 0);
    cr_expect_eq(r.job_id, 0);
    cr_expect_eq(r.billable_minutes, 0);
    cr_expect_eq(r.runner_os, GM_RUNNER_UNKNOWN);
    gm_record_clear(&r);
    json_decref(p);
}

Test(examples, run_completed)
{
    check_run_example("workflow_run.completed.2.json");
}

Test(examples, run_completed_with_pull_request)
{
    check_run_example("workflow_run.completed.3.json");
}

Test(examples, run_completed_but_status_queued_is_skipped)
{
    json_t *p = load("workflow_run.completed.1.json");
    gm_record_t r;
    cr_assert_eq(convert("workflow_run", p, &r), GM_EVENT_NO_RECORD);
    cr_expect_str_eq(reason, "status queued in a completed delivery: skipped");
    cr_expect_eq(r.anomalies, GM_ANOMALY_STATUS_NOT_COMPLETED);
    cr_expect(record_is_zero(&r, GM_ANOMALY_STATUS_NOT_COMPLETED), "nothing but the anomaly bit is set");
    gm_record_clear(&r);
    json_decref(p);
}

Test(examples, other_actions_make_no_record)
{
    static const struct {
        const char *file, *event, *reason;
    } cases[] = {
        {"workflow_run.requested.1.json", "workflow_run", "action requested: no record"},
        {"workflow_run.requested.2.json", "workflow_run", "action requested: no record"},
        {"workflow_job.in_progress.1.json", "workflow_job", "action in_progress: no record"},
        {"workflow_job.in_progress.2.json", "workflow_job", "action in_progress: no record"},
        {"workflow_job.in_progress.3.json", "workflow_job", "action in_progress: no record"},
        {"workflow_job.queued.1.json", "workflow_job", "action queued: no record"},
        {"workflow_job.queued.2.json", "workflow_job", "action queued: no record"},
        {"workflow_job.waiting.1.json", "workflow_job", "action waiting: no record"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = load(cases[i].file);
        gm_record_t r;
        cr_expect_eq(convert(cases[i].event, p, &r), GM_EVENT_NO_RECORD, "%s", cases[i].file);
        cr_expect_str_eq(reason, cases[i].reason, "%s", cases[i].file);
        cr_expect(record_is_zero(&r, 0), "%s: record untouched", cases[i].file);
        gm_record_clear(&r);
        json_decref(p);
    }
}

Test(examples, unknown_action_is_not_echoed)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "action", json_string("<script>secret</script>"));
    gm_record_t r;
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_NO_RECORD);
    cr_expect_null(strstr(reason, "secret"), "reason: %s", reason);
    cr_expect_str_eq(reason, "action not handled: no record");
    gm_record_clear(&r);
    json_decref(p);
}

Test(examples, accessors)
{
    json_t *p = load("workflow_job.completed.1.json");
    cr_expect_str_eq(gm_event_action(p), "completed");
    cr_expect_str_eq(gm_event_repository(p), "Codertocat/Hello-World");
    json_decref(p);
    p = load("workflow_run.requested.1.json");
    cr_expect_str_eq(gm_event_action(p), "requested");
    cr_expect_str_eq(gm_event_repository(p), "octo-org/octo-repo");
    json_decref(p);
}

/* ------------------------------------------------------ event/top level */

Test(event, unknown_event_names_make_no_record)
{
    json_t *p = load("workflow_job.completed.1.json");
    const char *names[] = {"push", "ping", "", "workflow_runs", "Workflow_Job", NULL};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        gm_record_t r;
        cr_expect_eq(convert(names[i], p, &r), GM_EVENT_NO_RECORD, "%s", names[i] ? names[i] : "(null)");
        cr_expect_str_eq(reason, "event not handled: no record");
        cr_expect(record_is_zero(&r, 0));
        gm_record_clear(&r);
    }
    /* Even a payload that is not JSON at all: the event decides first. */
    gm_record_t r;
    cr_expect_eq(convert("push", NULL, &r), GM_EVENT_NO_RECORD);
    gm_record_clear(&r);
    json_decref(p);
}

Test(event, payload_of_the_other_kind_is_invalid)
{
    json_t *p = load("workflow_job.completed.1.json");
    gm_record_t r;
    cr_expect_eq(convert("workflow_run", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_run: missing or not an object");
    gm_record_clear(&r);
    json_decref(p);
}

Test(event, top_level_shapes)
{
    static const char *const bad[] = {
        "[]",
        "\"completed\"",
        "42",
        "null",
        "true",
        "{}",
        "{\"action\": null, \"workflow_job\": {}}",
        "{\"action\": 1, \"workflow_job\": {}}",
        "{\"action\": [\"completed\"], \"workflow_job\": {}}",
        "{\"action\": \"completed\"}",
        "{\"action\": \"completed\", \"workflow_job\": null}",
        "{\"action\": \"completed\", \"workflow_job\": []}",
        "{\"action\": \"completed\", \"workflow_job\": \"x\"}",
        /* The shape is checked for every action, not only completed. */
        "{\"action\": \"queued\"}",
        "{\"action\": \"queued\", \"workflow_job\": 3}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t err;
        json_t *p = json_loads(bad[i], JSON_DECODE_ANY, &err);
        cr_assert_not_null(p, "%s", bad[i]);
        gm_record_t r;
        cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID, "%s", bad[i]);
        cr_expect_neq(reason[0], 'X', "a reason is given for %s", bad[i]);
        cr_expect(record_is_zero(&r, 0));
        gm_record_clear(&r);
        json_decref(p);
    }
    gm_record_t r;
    cr_expect_eq(convert("workflow_run", NULL, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "payload: not a JSON object");
    gm_record_clear(&r);
}

Test(event, minimal_payload_for_a_non_completed_action)
{
    json_t *p = json_pack("{s:s, s:{}}", "action", "in_progress", "workflow_run");
    gm_record_t r;
    cr_expect_eq(convert("workflow_run", p, &r), GM_EVENT_NO_RECORD);
    gm_record_clear(&r);
    json_decref(p);
}

Test(event, reason_buffer_may_be_small_or_absent)
{
    json_t *p = load("workflow_run.completed.1.json");
    gm_record_t r;
    char small[8];
    memset(small, 'Z', sizeof(small));
    cr_expect_eq(gm_event_to_record("workflow_run", p, &r, small, sizeof(small)), GM_EVENT_NO_RECORD);
    cr_expect_eq(strlen(small), sizeof(small) - 1);
    gm_record_clear(&r);
    cr_expect_eq(gm_event_to_record("workflow_run", p, &r, NULL, 0), GM_EVENT_NO_RECORD);
    gm_record_clear(&r);
    cr_expect_eq(gm_event_to_record("workflow_run", p, NULL, NULL, 0), GM_EVENT_INVALID);
    json_decref(p);
}

/* ------------------------------------------------- wrong types / values */

typedef struct {
    const char *path;
    const char *value; /* JSON text; NULL = delete the field */
} mutation_t;

static void expect_invalid(const char *file, const char *event, const mutation_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *p = load(file);
        json_t *v = NULL;
        if (m[i].value != NULL) {
            json_error_t err;
            v = json_loads(m[i].value, JSON_DECODE_ANY, &err);
            cr_assert_not_null(v, "%s", m[i].value);
        }
        set_path(p, m[i].path, v);
        gm_record_t r;
        gm_event_result_t res = convert(event, p, &r);
        cr_expect_eq(res, GM_EVENT_INVALID, "%s = %s: got %d (%s)", m[i].path, m[i].value ? m[i].value : "(deleted)",
                     res, reason);
        cr_expect_neq(reason[0], 'X', "%s: a reason is given", m[i].path);
        /* The reason names the field, never the value. */
        if (m[i].value != NULL && strlen(m[i].value) > 3)
            cr_expect_null(strstr(reason, m[i].value), "%s: value echoed: %s", m[i].path, reason);
        cr_expect(record_is_zero(&r, 0), "%s: nothing allocated on refusal", m[i].path);
        gm_record_clear(&r);
        json_decref(p);
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

Test(invalid, run_fields)
{
    static const mutation_t m[] = {
        {"repository", NULL},
        {"repository", "null"},
        {"repository", "\"octo-org/octo-repo\""},
        {"repository", "[]"},
        {"repository.full_name", NULL},
        {"repository.full_name", "null"},
        {"repository.full_name", "42"},
        {"repository.full_name", "[\"a\"]"},
        {"repository.full_name", "\"\""},
        {"workflow_run.id", NULL},
        {"workflow_run.id", "null"},
        {"workflow_run.id", "\"289782451\""},
        {"workflow_run.id", "289782451.0"},
        {"workflow_run.id", "0"},
        {"workflow_run.id", "-5"},
        {"workflow_run.id", "true"},
        {"workflow_run.run_attempt", "0"},
        {"workflow_run.run_attempt", "-1"},
        {"workflow_run.run_attempt", "1.5"},
        {"workflow_run.run_attempt", "\"1\""},
        {"workflow_run.run_number", "\"163\""},
        {"workflow_run.run_number", "163.0"},
        {"workflow_run.run_number", "0"},
        {"workflow_run.run_number", "{}"},
        {"workflow_run.workflow_id", "\"2823525\""},
        {"workflow_run.workflow_id", "-2823525"},
        {"workflow_run.workflow_id", "1e3"},
        {"workflow_run.name", "42"},
        {"workflow_run.name", "{}"},
        {"workflow_run.name", "false"},
        {"workflow", "\"test\""},
        {"workflow", "[]"},
        {"workflow.name", "7"},
        {"workflow_run.event", "7"},
        {"workflow_run.event", "[]"},
        {"workflow_run.head_branch", "1"},
        {"workflow_run.head_branch", "{}"},
        {"workflow_run.html_url", "true"},
        {"workflow_run.status", "1"},
        {"workflow_run.status", "[\"completed\"]"},
        {"workflow_run.conclusion", "0"},
        {"workflow_run.conclusion", "{\"a\":1}"},
        {"workflow_run.created_at", NULL},
        {"workflow_run.created_at", "null"},
        {"workflow_run.created_at", "1601915604"},
        {"workflow_run.created_at", "\"yesterday\""},
        {"workflow_run.created_at", "\"2020-10-05 16:33:24\""},
        {"workflow_run.run_started_at", "1601915629"},
        {"workflow_run.run_started_at", "\"2020-10-05T16:33:49\""},
        {"workflow_run.run_started_at", "\"\""},
        {"workflow_run.updated_at", NULL},
        {"workflow_run.updated_at", "null"},
        {"workflow_run.updated_at", "[]"},
        {"workflow_run.updated_at", "\"2020-13-05T16:33:49Z\""},
    };
    expect_invalid("workflow_run.completed.2.json", "workflow_run", m, COUNT(m));
}

Test(invalid, job_fields)
{
    static const mutation_t m[] = {
        {"repository", NULL},
        {"repository", "1"},
        {"repository.full_name", NULL},
        {"repository.full_name", "{}"},
        {"repository.full_name", "\"\""},
        {"workflow_job.id", NULL},
        {"workflow_job.id", "null"},
        {"workflow_job.id", "\"289782451\""},
        {"workflow_job.id", "289782451.5"},
        {"workflow_job.id", "0"},
        {"workflow_job.id", "-289782451"},
        {"workflow_job.run_id", NULL},
        {"workflow_job.run_id", "null"},
        {"workflow_job.run_id", "\"2202229078\""},
        {"workflow_job.run_id", "2202229078.0"},
        {"workflow_job.run_id", "0"},
        {"workflow_job.run_id", "-1"},
        {"workflow_job.run_attempt", "0"},
        {"workflow_job.run_attempt", "\"2\""},
        {"workflow_job.run_attempt", "2.0"},
        {"workflow_job.name", "1"},
        {"workflow_job.name", "[]"},
        {"workflow_job.workflow_name", "1"},
        {"workflow_job.workflow_name", "{}"},
        {"workflow_job.head_branch", "3"},
        {"workflow_job.html_url", "[]"},
        {"workflow_job.status", "true"},
        {"workflow_job.conclusion", "1"},
        {"workflow_job.created_at", "1628159638"},
        {"workflow_job.created_at", "\"2021-08-05\""},
        {"workflow_job.started_at", "{}"},
        {"workflow_job.started_at", "\"2021-08-05T10:34:58+2:00\""},
        {"workflow_job.completed_at", "true"},
        {"workflow_job.completed_at", "\"2021-08-05T10:38:16Zjunk\""},
        {"workflow_job.labels", "\"ubuntu-latest\""},
        {"workflow_job.labels", "{}"},
        {"workflow_job.labels", "7"},
        {"workflow_job.labels.0", "1"},
        {"workflow_job.labels.0", "null"},
        {"workflow_job.labels.0", "[\"ubuntu-latest\"]"},
        {"workflow_job.runner_name", "5"},
        {"workflow_job.runner_name", "{}"},
        {"workflow_job.runner_group_name", "2"},
        {"workflow_job.runner_group_name", "[]"},
    };
    expect_invalid("workflow_job.completed.1.json", "workflow_job", m, COUNT(m));
}

Test(invalid, job_without_any_timestamp)
{
    static const mutation_t del[] = {
        {"workflow_job.created_at", NULL},
        {"workflow_job.started_at", "null"},
        {"workflow_job.completed_at", NULL},
    };
    json_t *p = load("workflow_job.completed.1.json");
    for (size_t i = 0; i < COUNT(del); i++)
        set_path(p, del[i].path, del[i].value ? json_null() : NULL);
    gm_record_t r;
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_job: no created_at, started_at or completed_at");
    gm_record_clear(&r);
    json_decref(p);
}

Test(invalid, checks_come_before_the_status_rule)
{
    /* A malformed delivery is a 400 even when its status would skip it. */
    json_t *p = load("workflow_run.completed.1.json");
    set_path(p, "workflow_run.id", json_string("1"));
    gm_record_t r;
    cr_expect_eq(convert("workflow_run", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_run.id: not an integer");
    cr_expect_eq(r.anomalies, 0u);
    gm_record_clear(&r);
    json_decref(p);
}

Test(invalid, reasons_name_the_field)
{
    json_t *p = load("workflow_job.completed.1.json");
    gm_record_t r;
    set_path(p, "workflow_job.run_attempt", json_integer(0));
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_job.run_attempt: less than 1");
    set_path(p, "workflow_job.run_attempt", json_integer(1));
    set_path(p, "workflow_job.labels.0", json_integer(1));
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_job.labels[0]: not a string");
    set_path(p, "workflow_job.labels.0", json_string("x"));
    set_path(p, "workflow_job.started_at", json_string("soon"));
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_job.started_at: not an RFC 3339 timestamp");
    set_path(p, "workflow_job.started_at", NULL);
    set_path(p, "workflow_job.id", NULL);
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_INVALID);
    cr_expect_str_eq(reason, "workflow_job.id: missing");
    gm_record_clear(&r);
    json_decref(p);
}

Test(invalid, unknown_status_is_not_echoed)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.status", json_string("weird-status-text"));
    gm_record_t r;
    cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_NO_RECORD);
    cr_expect_str_eq(reason, "status not completed in a completed delivery: skipped");
    cr_expect_eq(r.anomalies, GM_ANOMALY_STATUS_NOT_COMPLETED);
    gm_record_clear(&r);
    json_decref(p);
}

/* ---------------------------------------------------------- anomalies */

static void convert_ok(const char *event, json_t *p, gm_record_t *r)
{
    gm_event_result_t res = convert(event, p, r);
    cr_assert_eq(res, GM_EVENT_RECORD, "got %d: %s", res, reason);
}

Test(anomaly, job_start_before_created)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.started_at", json_string("2021-08-05T10:33:00Z"));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_START_BEFORE_CREATED);
    cr_expect_eq(r.queue_s, 0.0);
    /* created moves back to the start; the duration is kept. */
    cr_expect_eq(r.created_at_ms, T("2021-08-05T10:33:00Z"));
    cr_expect_eq(r.started_at_ms, T("2021-08-05T10:33:00Z"));
    cr_expect_eq(r.duration_s, 316.0);
    cr_expect_eq(r.billable_minutes, 6);
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, job_end_before_start)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.completed_at", json_string("2021-08-05T10:34:00Z"));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_END_BEFORE_START);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 60.0);
    cr_expect_eq(r.completed_at_ms, T("2021-08-05T10:34:58Z"));
    cr_expect_eq(r.billable_minutes, 0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, both_clamps_at_once)
{
    /* started < created and completed < started. */
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.created_at", json_string("2021-08-05T10:40:00Z"));
    set_path(p, "workflow_job.started_at", json_string("2021-08-05T10:39:00Z"));
    set_path(p, "workflow_job.completed_at", json_string("2021-08-05T10:38:00Z"));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_START_BEFORE_CREATED | GM_ANOMALY_END_BEFORE_START);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 0.0);
    cr_expect_eq(r.created_at_ms, T("2021-08-05T10:39:00Z"));
    cr_expect_eq(r.started_at_ms, T("2021-08-05T10:39:00Z"));
    cr_expect_eq(r.completed_at_ms, T("2021-08-05T10:39:00Z"));
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, run_start_before_created_and_end_before_start)
{
    json_t *p = load("workflow_run.completed.2.json");
    set_path(p, "workflow_run.run_started_at", json_string("2020-10-05T16:33:00Z"));
    gm_record_t r;
    convert_ok("workflow_run", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_START_BEFORE_CREATED);
    cr_expect_eq(r.queue_s, 0.0);
    cr_expect_eq(r.duration_s, 49.0);
    gm_record_clear(&r);

    set_path(p, "workflow_run.run_started_at", json_string("2020-10-05T16:33:49Z"));
    set_path(p, "workflow_run.updated_at", json_string("2020-10-05T16:33:40Z"));
    convert_ok("workflow_run", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_END_BEFORE_START);
    cr_expect_eq(r.queue_s, 25.0);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.completed_at_ms, T("2020-10-05T16:33:49Z"));
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, run_missing_start)
{
    const char *how[] = {NULL, "null"};
    for (size_t i = 0; i < 2; i++) {
        json_t *p = load("workflow_run.completed.2.json");
        set_path(p, "workflow_run.run_started_at", how[i] ? json_null() : NULL);
        set_path(p, "workflow_run.updated_at", json_string("2020-10-05T16:40:24Z"));
        gm_record_t r;
        convert_ok("workflow_run", p, &r);
        cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_START);
        cr_expect_eq(r.started_at_ms, r.created_at_ms);
        cr_expect_eq(r.queue_s, 0.0);
        cr_expect_eq(r.duration_s, 420.0);
        gm_record_clear(&r);
        json_decref(p);
    }
}

Test(anomaly, job_missing_start)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.started_at", json_null());
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_START);
    cr_expect_eq(r.queue_s, 0.0);
    cr_expect_eq(r.duration_s, 258.0); /* 10:33:58 → 10:38:16 */
    cr_expect_eq(r.billable_minutes, 5);
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, missing_conclusion)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.conclusion", json_null());
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_CONCLUSION);
    cr_expect_str_eq(r.conclusion, "unknown");
    cr_expect_eq(r.billable_minutes, 4);
    gm_record_clear(&r);
    set_path(p, "workflow_job.conclusion", NULL);
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_CONCLUSION);
    cr_expect_str_eq(r.conclusion, "unknown");
    gm_record_clear(&r);
    json_decref(p);

    p = load("workflow_run.completed.2.json");
    set_path(p, "workflow_run.conclusion", json_null());
    convert_ok("workflow_run", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_CONCLUSION);
    cr_expect_str_eq(r.conclusion, "unknown");
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, job_completed_at_null)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.completed_at", json_null());
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_STATUS_NOT_COMPLETED);
    cr_expect_eq(r.completed_at_ms, r.started_at_ms);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 60.0);
    cr_expect_eq(r.billable_minutes, 0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, status_not_completed_in_a_job)
{
    static const char *const statuses[] = {"queued", "in_progress", "waiting", "pending", "requested"};
    for (size_t i = 0; i < COUNT(statuses); i++) {
        json_t *p = load("workflow_job.completed.1.json");
        set_path(p, "workflow_job.status", json_string(statuses[i]));
        gm_record_t r;
        cr_expect_eq(convert("workflow_job", p, &r), GM_EVENT_NO_RECORD);
        char want[128];
        snprintf(want, sizeof(want), "status %s in a completed delivery: skipped", statuses[i]);
        cr_expect_str_eq(reason, want);
        cr_expect_eq(r.anomalies, GM_ANOMALY_STATUS_NOT_COMPLETED);
        gm_record_clear(&r);
        json_decref(p);
    }
}

Test(anomaly, status_null_or_missing_is_accepted)
{
    json_t *p = load("workflow_job.completed.1.json");
    gm_record_t r;
    set_path(p, "workflow_job.status", json_null());
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, 0u);
    gm_record_clear(&r);
    set_path(p, "workflow_job.status", NULL);
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, 0u);
    gm_record_clear(&r);
    json_decref(p);
}

Test(anomaly, names)
{
    cr_expect_str_eq(gm_anomaly_name(0), "start_before_created");
    cr_expect_str_eq(gm_anomaly_name(1), "end_before_start");
    cr_expect_str_eq(gm_anomaly_name(2), "missing_start");
    cr_expect_str_eq(gm_anomaly_name(3), "missing_conclusion");
    cr_expect_str_eq(gm_anomaly_name(4), "status_not_completed");
    cr_expect_null(gm_anomaly_name(GM_ANOMALY_COUNT));
    cr_expect_null(gm_anomaly_name(31));
    cr_expect_null(gm_anomaly_name(~0u));
    /* Bit i of the enum is name i. */
    cr_expect_eq(GM_ANOMALY_STATUS_NOT_COMPLETED, 1u << 4);
    cr_expect_eq(GM_ANOMALY_MISSING_START, 1u << 2);
}

/* ------------------------------------------------------------ defaults */

Test(defaults, job_created_at_absent_uses_started_at)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.created_at", NULL);
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, 0u);
    cr_expect_eq(r.queue_s, 0.0);
    cr_expect_eq(r.created_at_ms, T("2021-08-05T10:34:58Z"));
    cr_expect_eq(r.duration_s, 198.0);
    gm_record_clear(&r);

    /* Only completed_at: every time is the completion, start missing. */
    set_path(p, "workflow_job.started_at", json_null());
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_START);
    cr_expect_eq(r.created_at_ms, T("2021-08-05T10:38:16Z"));
    cr_expect_eq(r.started_at_ms, T("2021-08-05T10:38:16Z"));
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 0.0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(defaults, job_optional_fields_absent)
{
    static const char *const fields[] = {"run_attempt", "name",        "workflow_name",     "head_branch", "html_url",
                                         "labels",      "runner_name", "runner_group_name", "status"};
    for (int as_null = 0; as_null < 2; as_null++) {
        json_t *p = load("workflow_job.completed.1.json");
        for (size_t i = 0; i < COUNT(fields); i++) {
            char path[64];
            snprintf(path, sizeof(path), "workflow_job.%s", fields[i]);
            set_path(p, path, as_null ? json_null() : NULL);
        }
        gm_record_t r;
        convert_ok("workflow_job", p, &r);
        cr_expect_eq(r.run_attempt, 1);
        cr_expect_str_eq(r.job_name, "unknown");
        cr_expect_str_eq(r.workflow, "unknown");
        cr_expect_null(r.head_branch);
        cr_expect_null(r.html_url);
        cr_expect_null(r.labels);
        cr_expect_eq(r.label_count, 0);
        cr_expect_null(r.runner_name);
        cr_expect_null(r.runner_group);
        cr_expect_eq(r.runner_os, GM_RUNNER_UNKNOWN);
        cr_expect_eq(r.billable_minutes, 0);
        cr_expect_eq(r.duration_s, 198.0);
        cr_expect_eq(r.anomalies, 0u);
        gm_record_clear(&r);
        json_decref(p);
    }
}

Test(defaults, run_optional_fields_absent)
{
    static const char *const fields[] = {"run_attempt", "run_number", "workflow_id", "name",      "event",
                                         "head_branch", "html_url",   "status",      "conclusion"};
    json_t *p = load("workflow_run.completed.2.json");
    for (size_t i = 0; i < COUNT(fields); i++) {
        char path[64];
        snprintf(path, sizeof(path), "workflow_run.%s", fields[i]);
        set_path(p, path, NULL);
    }
    set_path(p, "workflow", NULL);
    gm_record_t r;
    convert_ok("workflow_run", p, &r);
    cr_expect_eq(r.run_attempt, 1);
    cr_expect_eq(r.run_number, 0);
    cr_expect_eq(r.workflow_id, 0);
    cr_expect_str_eq(r.workflow, "unknown");
    cr_expect_str_eq(r.event, "unknown");
    cr_expect_null(r.head_branch);
    cr_expect_null(r.html_url);
    cr_expect_str_eq(r.conclusion, "unknown");
    cr_expect_eq(r.anomalies, GM_ANOMALY_MISSING_CONCLUSION);
    cr_expect_eq(r.queue_s, 25.0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(defaults, run_workflow_name_choice)
{
    json_t *p = load("workflow_run.completed.2.json");
    gm_record_t r;

    set_path(p, "workflow_run.name", json_string("CI"));
    convert_ok("workflow_run", p, &r);
    cr_expect_str_eq(r.workflow, "CI", "workflow_run.name wins when not empty");
    gm_record_clear(&r);

    set_path(p, "workflow_run.name", json_null());
    convert_ok("workflow_run", p, &r);
    cr_expect_str_eq(r.workflow, "test");
    gm_record_clear(&r);

    set_path(p, "workflow.name", json_string(""));
    convert_ok("workflow_run", p, &r);
    cr_expect_str_eq(r.workflow, "unknown");
    gm_record_clear(&r);

    set_path(p, "workflow", json_null());
    set_path(p, "workflow_run.name", json_string(""));
    convert_ok("workflow_run", p, &r);
    cr_expect_str_eq(r.workflow, "unknown");
    gm_record_clear(&r);
    json_decref(p);

    /* The other example has a name of its own. */
    p = load("workflow_run.completed.1.json");
    set_path(p, "workflow_run.status", json_string("completed"));
    set_path(p, "workflow_run.conclusion", json_string("failure"));
    convert_ok("workflow_run", p, &r);
    cr_expect_str_eq(r.workflow, "Manually triggered workflow");
    cr_expect_str_eq(r.event, "workflow_dispatch");
    cr_expect_eq(r.run_number, 36);
    cr_expect_eq(r.workflow_id, 16340987);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.queue_s, 0.0);
    gm_record_clear(&r);
    json_decref(p);
}

Test(defaults, re_run_attempt_and_big_ids)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.run_attempt", json_integer(3));
    set_path(p, "workflow_job.id", json_integer(INT64_C(9007199254740993))); /* > 2^53 */
    set_path(p, "workflow_job.run_id", json_integer(INT64_MAX));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.run_attempt, 3);
    cr_expect_eq(r.job_id, INT64_C(9007199254740993));
    cr_expect_eq(r.run_id, INT64_MAX);
    gm_record_clear(&r);
    json_decref(p);
}

Test(defaults, fractional_and_offset_timestamps)
{
    json_t *p = load("workflow_job.completed.1.json");
    set_path(p, "workflow_job.started_at", json_string("2021-08-05T12:34:58.250+02:00"));
    set_path(p, "workflow_job.completed_at", json_string("2021-08-05T10:38:16.750Z"));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.queue_s, 60.25);
    cr_expect_eq(r.duration_s, 198.5);
    cr_expect_eq(r.billable_minutes, 4);
    gm_record_clear(&r);
    json_decref(p);
}

/* ------------------------------------------------------ runner, billing */

static gm_runner_os_t os_of(const char *const *labels, size_t n)
{
    return gm_runner_os_from(labels, n, NULL);
}

Test(runner, os_from_labels)
{
    cr_expect_eq(os_of((const char *[]){"ubuntu-latest"}, 1), GM_RUNNER_LINUX);
    cr_expect_eq(os_of((const char *[]){"ubuntu-22.04"}, 1), GM_RUNNER_LINUX);
    cr_expect_eq(os_of((const char *[]){"Linux"}, 1), GM_RUNNER_LINUX);
    cr_expect_eq(os_of((const char *[]){"UBUNTU-24.04-ARM"}, 1), GM_RUNNER_LINUX);
    cr_expect_eq(os_of((const char *[]){"windows-latest"}, 1), GM_RUNNER_WINDOWS);
    cr_expect_eq(os_of((const char *[]){"Windows-2022"}, 1), GM_RUNNER_WINDOWS);
    cr_expect_eq(os_of((const char *[]){"macos-14"}, 1), GM_RUNNER_MACOS);
    cr_expect_eq(os_of((const char *[]){"macOS-latest-xl"}, 1), GM_RUNNER_MACOS);
    /* self-hosted wins wherever it is. */
    cr_expect_eq(os_of((const char *[]){"linux", "x64", "self-hosted"}, 3), GM_RUNNER_SELF_HOSTED);
    cr_expect_eq(os_of((const char *[]){"Self-Hosted", "macos"}, 2), GM_RUNNER_SELF_HOSTED);
    /* The first label that tells wins. */
    cr_expect_eq(os_of((const char *[]){"gpu", "windows-latest", "ubuntu-latest"}, 3), GM_RUNNER_WINDOWS);
    /* Nothing tells. */
    cr_expect_eq(os_of((const char *[]){"gpu", "db-app", "dc-03"}, 3), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of((const char *[]){"ubunt"}, 1), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of((const char *[]){"my-ubuntu"}, 1), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of((const char *[]){"self-hosted-ish"}, 1), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of((const char *[]){""}, 1), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of((const char *[]){NULL, "macos-13"}, 2), GM_RUNNER_MACOS);
    cr_expect_eq(os_of(NULL, 0), GM_RUNNER_UNKNOWN);
    cr_expect_eq(os_of(NULL, 5), GM_RUNNER_UNKNOWN);
}

Test(runner, os_names)
{
    cr_expect_str_eq(gm_runner_os_name(GM_RUNNER_UNKNOWN), "unknown");
    cr_expect_str_eq(gm_runner_os_name(GM_RUNNER_SELF_HOSTED), "self-hosted");
    cr_expect_str_eq(gm_runner_os_name(GM_RUNNER_LINUX), "linux");
    cr_expect_str_eq(gm_runner_os_name(GM_RUNNER_WINDOWS), "windows");
    cr_expect_str_eq(gm_runner_os_name(GM_RUNNER_MACOS), "macos");
    cr_expect_str_eq(gm_runner_os_name((gm_runner_os_t)42), "unknown");
}

Test(runner, billable_minutes)
{
    cr_expect_eq(gm_billable_minutes(0, GM_RUNNER_LINUX, "success"), 0);
    cr_expect_eq(gm_billable_minutes(0.001, GM_RUNNER_LINUX, "success"), 1);
    cr_expect_eq(gm_billable_minutes(60, GM_RUNNER_LINUX, "success"), 1);
    cr_expect_eq(gm_billable_minutes(60.001, GM_RUNNER_LINUX, "success"), 2);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_LINUX, "failure"), 4);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_WINDOWS, "failure"), 8);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_MACOS, "failure"), 40);
    cr_expect_eq(gm_billable_minutes(3600, GM_RUNNER_MACOS, "success"), 600);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_SELF_HOSTED, "success"), 0);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_UNKNOWN, "success"), 0);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_LINUX, "skipped"), 0);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_LINUX, "cancelled"), 4);
    cr_expect_eq(gm_billable_minutes(198, GM_RUNNER_LINUX, NULL), 4);
    cr_expect_eq(gm_billable_minutes(-5, GM_RUNNER_LINUX, "success"), 0);
    cr_expect_eq(gm_billable_minutes(0.0 / 0.0, GM_RUNNER_LINUX, "success"), 0);
    cr_expect_gt(gm_billable_minutes(1e300, GM_RUNNER_MACOS, "success"), 0); /* capped, defined */
}

Test(runner, billing_through_payloads)
{
    static const struct {
        const char *label, *conclusion;
        gm_runner_os_t os;
        int64_t minutes;
    } cases[] = {
        {"ubuntu-latest", "success", GM_RUNNER_LINUX, 4}, {"windows-latest", "success", GM_RUNNER_WINDOWS, 8},
        {"macos-14", "success", GM_RUNNER_MACOS, 40},     {"self-hosted", "success", GM_RUNNER_SELF_HOSTED, 0},
        {"ubuntu-latest", "skipped", GM_RUNNER_LINUX, 0}, {"custom-runner", "success", GM_RUNNER_UNKNOWN, 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        json_t *p = load("workflow_job.completed.2.json");
        set_path(p, "workflow_job.labels.0", json_string(cases[i].label));
        set_path(p, "workflow_job.conclusion", json_string(cases[i].conclusion));
        gm_record_t r;
        convert_ok("workflow_job", p, &r);
        cr_expect_eq(r.runner_os, cases[i].os, "%s", cases[i].label);
        cr_expect_eq(r.billable_minutes, cases[i].minutes, "%s/%s", cases[i].label, cases[i].conclusion);
        gm_record_clear(&r);
        json_decref(p);
    }
    /* A 0-second hosted job bills 0. */
    json_t *p = load("workflow_job.completed.2.json");
    set_path(p, "workflow_job.completed_at", json_string("2021-08-05T10:34:58Z"));
    gm_record_t r;
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.duration_s, 0.0);
    cr_expect_eq(r.billable_minutes, 0);
    gm_record_clear(&r);
    /* Several labels: self-hosted among them. */
    set_path(p, "workflow_job.labels", json_pack("[sss]", "linux", "X64", "self-hosted"));
    convert_ok("workflow_job", p, &r);
    cr_expect_eq(r.runner_os, GM_RUNNER_SELF_HOSTED);
    cr_assert_eq(r.label_count, 3);
    cr_expect_str_eq(r.labels[1], "X64");
    gm_record_clear(&r);
    json_decref(p);
}

/* --------------------------------------------------------- robustness */

/* Every field of the workflow object, replaced by every JSON type: the
 * result is one of the three outcomes, nothing leaks, nothing crashes. */
static void sweep(const char *file, const char *event, const char *objname)
{
    static const char *const values[] = {"null",
                                         "true",
                                         "0",
                                         "-1",
                                         "1",
                                         "1.5",
                                         "\"\"",
                                         "\"x\"",
                                         "[]",
                                         "{}",
                                         "\"2021-08-05T10:33:58Z\"",
                                         "9223372036854775807"};
    json_t *orig = load(file);
    json_t *obj = json_object_get(orig, objname);
    const char *key;
    json_t *unused;
    int n = 0, records = 0;
    json_object_foreach(obj, key, unused)
    {
        (void)unused;
        for (size_t i = 0; i <= COUNT(values); i++) {
            json_t *p = json_deep_copy(orig);
            json_t *o = json_object_get(p, objname);
            if (i == COUNT(values))
                json_object_del(o, key);
            else
                json_object_set_new(o, key, json_loads(values[i], JSON_DECODE_ANY, NULL));
            gm_record_t r;
            gm_event_result_t res = gm_event_to_record(event, p, &r, reason, sizeof(reason));
            cr_expect(res == GM_EVENT_RECORD || res == GM_EVENT_NO_RECORD || res == GM_EVENT_INVALID);
            if (res == GM_EVENT_RECORD) {
                records++;
                cr_expect_geq(r.duration_s, 0.0);
                cr_expect_geq(r.queue_s, 0.0);
                cr_expect_leq(r.created_at_ms, r.started_at_ms);
                cr_expect_leq(r.started_at_ms, r.completed_at_ms);
                cr_expect_not_null(r.repository);
                cr_expect_not_null(r.workflow);
                cr_expect_not_null(r.conclusion);
                cr_expect_geq(r.run_attempt, 1);
            }
            gm_record_clear(&r);
            json_decref(p);
            n++;
        }
    }
    cr_expect_gt(n, 100);
    cr_expect_gt(records, 0);
    json_decref(orig);
}

Test(robust, sweep_run_fields)
{
    sweep("workflow_run.completed.2.json", "workflow_run", "workflow_run");
}

Test(robust, sweep_job_fields)
{
    sweep("workflow_job.completed.1.json", "workflow_job", "workflow_job");
}

Test(robust, accessors_never_crash)
{
    static const char *const docs[] = {
        "[]",
        "1",
        "null",
        "{}",
        "{\"action\": 1}",
        "{\"action\": null}",
        "{\"repository\": 1}",
        "{\"repository\": {\"full_name\": 2}}",
        "{\"repository\": []}",
        "{\"repository\": {}}",
    };
    for (size_t i = 0; i < COUNT(docs); i++) {
        json_t *p = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        cr_assert_not_null(p);
        cr_expect_null(gm_event_action(p), "%s", docs[i]);
        cr_expect_null(gm_event_repository(p), "%s", docs[i]);
        json_decref(p);
    }
    cr_expect_null(gm_event_action(NULL));
    cr_expect_null(gm_event_repository(NULL));
}

Test(robust, clear_is_idempotent)
{
    gm_record_t r;
    memset(&r, 0, sizeof(r));
    gm_record_clear(&r);
    gm_record_clear(NULL);
    json_t *p = load("workflow_job.completed.1.json");
    convert_ok("workflow_job", p, &r);
    gm_record_clear(&r);
    cr_expect(record_is_zero(&r, 0));
    gm_record_clear(&r);
    json_decref(p);
}
