/* gm_backfill_job: what the CLI and the Lambda take before a backfill runs
 * (times, the receiver URL, the Lambda event). */
#include <criterion/criterion.h>
#include <string.h>

#include "gm/backfill_job.h"
#include "gm/record.h"

#define NOW INT64_C(1764400000000) /* 2025-11-29T07:06:40Z */

static int64_t at(const char *iso)
{
    int64_t ms;
    cr_assert_eq(gm_time_parse_iso8601(iso, &ms), 0, "%s", iso);
    return ms;
}

Test(parse_when, the_forms_an_operator_types)
{
    int64_t ms;
    cr_assert_eq(gm_backfill_job_parse_when("2026-11-01", NOW, &ms), 0);
    cr_assert_eq(ms, at("2026-11-01T00:00:00Z"));
    cr_assert_eq(gm_backfill_job_parse_when("2026-11-01T06:30Z", NOW, &ms), 0);
    cr_assert_eq(ms, at("2026-11-01T06:30:00Z"));
    cr_assert_eq(gm_backfill_job_parse_when("2026-11-01T06:30:15+01:00", NOW, &ms), 0);
    cr_assert_eq(ms, at("2026-11-01T05:30:15Z"));
    cr_assert_eq(gm_backfill_job_parse_when("72h", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 72 * INT64_C(3600000));
    cr_assert_eq(gm_backfill_job_parse_when("90m", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 90 * INT64_C(60000));
    const char *bad[] = {"", "yesterday", "2026-13-01", "2026-11-01T06Z", "72x", "-5h", "2026-11-01 06:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_neq(gm_backfill_job_parse_when(bad[i], NOW, &ms), 0, "accepted \"%s\"", bad[i]);
}

static gm_config_t *load(const char *yaml)
{
    char err[512];
    gm_config_t *cfg = gm_config_parse("t.yaml", yaml, strlen(yaml), err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    return cfg;
}

Test(receiver_url, from_the_first_listener_and_the_path)
{
    gm_config_t *cfg = load("webhook: {secret: s, path: /hooks/gh}\nserver: {listen: [{address: \"0.0.0.0:9000\"}]}\n");
    char *url = gm_backfill_job_receiver_url(cfg);
    cr_assert_str_eq(url, "http://127.0.0.1:9000/hooks/gh", "a wildcard address is reached on loopback");
    free(url);
    gm_config_free(cfg);
    cfg = load("webhook: {secret: s}\nserver: {listen: [{address: \"[::]:8443\"}]}\n");
    url = gm_backfill_job_receiver_url(cfg);
    cr_assert_str_eq(url, "http://[::1]:8443/webhook");
    free(url);
    gm_config_free(cfg);
    cfg = load("webhook: {secret: s}\nbackfill: {receiver: \"https://metrics.example.com/webhook\"}\n");
    url = gm_backfill_job_receiver_url(cfg);
    cr_assert_str_eq(url, "https://metrics.example.com/webhook");
    free(url);
    gm_config_free(cfg);
}

/* Refused before anything runs: no GitHub, no ledger, no receiver needed. */
static void expect_invalid(const gm_config_t *cfg, const char *event_json, const char *want)
{
    json_t *event = json_loads(event_json, 0, NULL);
    cr_assert_not_null(event, "%s", event_json);
    gm_lambda_invocation_t inv = {.request_id = "r1", .function_arn = ""};
    char type[GM_LAMBDA_ERRTYPE_MAX] = "", msg[GM_LAMBDA_ERRMSG_MAX] = "";
    json_t *res = gm_backfill_job_lambda_handler((void *)cfg, event, &inv, type, sizeof(type), msg, sizeof(msg));
    json_decref(event);
    cr_assert_null(res);
    cr_assert_str_eq(type, "Backfill.InvalidEvent", "%s: %s", event_json, msg);
    cr_assert_not_null(strstr(msg, want), "%s: %s", event_json, msg);
}

Test(lambda_event, a_bad_event_is_the_event_s_fault_not_the_configuration_s)
{
    gm_config_t *cfg = load("webhook: {secret: s}\nbackfill: {repositories: [o/r]}\n");
    expect_invalid(cfg, "[]", "expected a JSON object");
    expect_invalid(cfg, "{\"since\": \"last tuesday\"}", "event.since");
    expect_invalid(cfg, "{\"until\": 5}", "event.until");
    expect_invalid(cfg, "{\"repositories\": \"o/r\"}", "event.repositories");
    expect_invalid(cfg, "{\"repositories\": [\"o/r\", \"a/b/c\"]}", "event.repositories[1]");
    expect_invalid(cfg, "{\"repositories\": [\"noslash\"]}", "event.repositories[0]");
    gm_config_free(cfg);
}
