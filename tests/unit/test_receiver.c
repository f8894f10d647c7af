/* gm_receiver: submissions against the test server of http_stub.h started
 * inside each test (one request per connection, X-Hub-Signature-256 checked
 * with the webhook secret as the receiver does, answers from a script whose
 * last answer repeats). Sleeps between retries are fake: recorded, never
 * waited. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"
#include "gm/config.h"
#include "gm/receiver.h"
#include "gm/signature.h"

#include "http_stub.h"

#define SECRET "s3cr3t-RECEIVER-webhook-secret"
#define BODY "{\"action\":\"completed\",\"workflow_run\":{\"id\":7,\"run_attempt\":1}}"

/* ---- the test receiver ----------------------------------------------------------- */

/* Whether r's X-Hub-Signature-256 verifies with SECRET. */
static bool sig_ok(const stub_req_t *r)
{
    const char *sig = stub_header(r, "X-Hub-Signature-256");
    gm_secret_t sec = {.value = (unsigned char *)SECRET, .len = strlen(SECRET)};
    return sig != NULL && gm_sig_verify(&sec, 1, sig, strlen(sig), r->body, r->body_len) == 0;
}

/* What the receiver does with a bad signature, whatever the script says. */
static const stub_route_t *check_signature(void *ctx, const stub_req_t *r, const stub_route_t *route)
{
    static const stub_route_t refused = {NULL, NULL, 0, 401, "", "{\"error\":\"bad signature\"}"};
    (void)ctx;
    return sig_ok(r) ? route : &refused;
}

static const stub_opts_t RX = {.one_per_conn = true, .hook = check_signature};

static char url[96];

static gm_receiver_t *open_rx(stub_t *s, const char *secret, stub_clock_t *sl)
{
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhook", s != NULL ? s->port : 9);
    gm_receiver_opts_t o = {.url = url,
                            .secret = (const unsigned char *)secret,
                            .secret_len = strlen(secret),
                            .timeout_ms = 5000,
                            .sleep_ms = stub_sleep,
                            .clock_ctx = sl};
    char err[256] = "";
    gm_receiver_t *r = gm_receiver_open(&o, err, sizeof(err));
    cr_assert_not_null(r, "open: %s", err);
    return r;
}

static gm_receiver_outcome_t submit(gm_receiver_t *r, const char *id, char *err, size_t errlen)
{
    err[0] = '\0';
    return gm_receiver_submit(r, "workflow_run", id, BODY, strlen(BODY), err, errlen);
}

static void assert_clean(const char *err)
{
    cr_assert_null(strstr(err, SECRET), "%s", err);
    cr_assert_null(strstr(err, "sha256="), "%s", err);
    cr_assert_null(strstr(err, "workflow_run\":"), "%s", err);
}

/* ---- tests ----------------------------------------------------------------------------- */

Test(receiver, stored_signed_as_github_does)
{
    stub_route_t a[] = {{NULL, NULL, 0, 202, "", "{\"status\":\"accepted\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(gm_receiver_last_status(r), 202);
    cr_assert_eq(stub_nreqs(s), 1);
    const stub_req_t *g = stub_req(s, 0);
    cr_assert_str_eq(g->method, "POST");
    cr_assert_str_eq(g->path, "/webhook");
    cr_assert(sig_ok(g), "signature %s", stub_header(g, "X-Hub-Signature-256"));
    stub_assert_header(g, "X-GitHub-Event", "workflow_run");
    stub_assert_header(g, "X-GitHub-Delivery", "backfill-run-7-1");
    stub_assert_header(g, "Content-Type", "application/json");
    cr_assert_str_eq(g->body, BODY);
    const char *agent = stub_header(g, "User-Agent");
    cr_assert(agent != NULL && strncmp(agent, "gha-metrics-backfill/", 21) == 0, "%s", agent);
    cr_assert_eq(sl.nsleeps, 0);

    /* The client is reusable: a second submission on the same handle. */
    cr_assert_eq(submit(r, "backfill-run-8-1", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(stub_nreqs(s), 2);
    stub_assert_header(stub_req(s, 1), "X-GitHub-Delivery", "backfill-run-8-1");
    cr_assert_eq(gm_receiver_requests(r), 2);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, duplicate)
{
    stub_route_t a[] = {{NULL, NULL, 0, 200, "", "{\"status\":\"duplicate\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_DUPLICATE, "%s", err);
    cr_assert_eq(stub_nreqs(s), 1);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, refused_is_final)
{
    stub_route_t a[] = {
        {NULL, NULL, 0, 400, "", "{\"error\":\"workflow_run.id: not an integer\",\"delivery\":\"backfill-run-7-1\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert(strstr(err, "400") != NULL, "%s", err);
    cr_assert(strstr(err, "not an integer") != NULL, "%s", err);
    assert_clean(err);
    cr_assert_eq(stub_nreqs(s), 1); /* not retried */
    cr_assert_eq(sl.nsleeps, 0);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, wrong_secret_refused_without_echo)
{
    stub_route_t a[] = {{NULL, NULL, 0, 202, "", "{\"status\":\"accepted\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, "another-secret-XYZ", &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_not(sig_ok(stub_req(s, 0)));
    cr_assert(strstr(err, "401") != NULL && strstr(err, "bad signature") != NULL, "%s", err);
    cr_assert_null(strstr(err, "another-secret-XYZ"), "%s", err);
    assert_clean(err);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, ignored_event_refused)
{
    stub_route_t a[] = {{NULL, NULL, 0, 202, "", "{\"status\":\"ignored\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert(strstr(err, "ignores") != NULL, "%s", err);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, retry_then_stored_honours_retry_after)
{
    stub_route_t a[] = {
        {NULL, NULL, 1, 503, "Retry-After: 3\r\n", "{\"error\":\"spool unavailable\"}"},
        {NULL, NULL, 1, 0, NULL, NULL, STUB_CLOSE}, /* no answer */
        {NULL, NULL, 1, 502, "", ""},
        {NULL, NULL, 1, 429, "", "{\"error\":\"slow down\"}"},
        {NULL, NULL, 0, 202, "", "{\"status\":\"accepted\"}"},
    };
    stub_t *s = stub_start(a, 5, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-job-9-2", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(stub_nreqs(s), 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert(sig_ok(stub_req(s, i)));
        /* the same delivery: the receiver de-duplicates */
        stub_assert_header(stub_req(s, i), "X-GitHub-Delivery", "backfill-job-9-2");
        cr_assert_str_eq(stub_req(s, i)->body, BODY);
    }
    cr_assert_eq(sl.nsleeps, 4);
    cr_assert_eq(sl.sleeps[0], 3000); /* Retry-After */
    cr_assert_eq(sl.sleeps[1], 1000); /* then the back-off: 0.5 s << attempt */
    cr_assert_eq(sl.sleeps[2], 2000);
    cr_assert_eq(sl.sleeps[3], 4000);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, error_after_retries)
{
    stub_route_t a[] = {{NULL, NULL, 0, 503, "", "{\"error\":\"spool unavailable\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(stub_nreqs(s), 5); /* 1 + 4 retries */
    cr_assert_eq(sl.nsleeps, 4);
    cr_assert_eq(sl.sleeps[0], 500);
    cr_assert_eq(sl.sleeps[3], 4000);
    cr_assert(strstr(err, "503") != NULL && strstr(err, "spool unavailable") != NULL, "%s", err);
    assert_clean(err);
    cr_assert_eq(gm_receiver_last_status(r), 503);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, nothing_listening_is_an_error)
{
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhook", stub_free_port());
    stub_clock_t sl = {0};
    gm_receiver_opts_t o = {.url = url,
                            .secret = (const unsigned char *)SECRET,
                            .secret_len = strlen(SECRET),
                            .max_retries = 2,
                            .sleep_ms = stub_sleep,
                            .clock_ctx = &sl};
    char err[256] = "";
    gm_receiver_t *r = gm_receiver_open(&o, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(gm_receiver_submit(r, "workflow_job", "backfill-job-1-1", BODY, strlen(BODY), err, sizeof(err)),
                 GM_RECEIVER_ERROR);
    cr_assert_eq(gm_receiver_requests(r), 3);
    cr_assert_eq(gm_receiver_last_status(r), 0);
    cr_assert(strstr(err, "3 attempts") != NULL, "%s", err);
    assert_clean(err);
    gm_receiver_close(r);
}

Test(receiver, bad_names_refused_without_a_request)
{
    stub_route_t a[] = {{NULL, NULL, 0, 202, "", "{\"status\":\"accepted\"}"}};
    stub_t *s = stub_start(a, 1, &RX);
    stub_clock_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    char long_id[80];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    cr_assert_eq(submit(r, long_id, err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_eq(submit(r, "backfill_run_1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_eq(submit(r, "", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_eq(gm_receiver_submit(r, "Workflow-Run", "a", BODY, strlen(BODY), err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_eq(gm_receiver_submit(r, "workflow_run\r\nX: y", "a", BODY, strlen(BODY), err, sizeof(err)),
                 GM_RECEIVER_REFUSED);
    cr_assert_eq(stub_nreqs(s), 0);
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    cr_assert_eq(submit(r, long_id, err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    gm_receiver_close(r);
    stub_stop(s);
}

Test(receiver, open_validates)
{
    char err[256] = "";
    const unsigned char *sec = (const unsigned char *)SECRET;
    gm_receiver_opts_t o = {.url = "ftp://x/webhook", .secret = sec, .secret_len = strlen(SECRET)};
    cr_assert_null(gm_receiver_open(&o, err, sizeof(err)));
    o.url = "http://x/web\r\nhook";
    cr_assert_null(gm_receiver_open(&o, err, sizeof(err)));
    o.url = "http://127.0.0.1:1/webhook";
    o.secret_len = 0;
    cr_assert_null(gm_receiver_open(&o, err, sizeof(err)));
    cr_assert(strstr(err, "secret") != NULL, "%s", err);
    o.secret = NULL;
    o.secret_len = 3;
    cr_assert_null(gm_receiver_open(&o, err, sizeof(err)));
    cr_assert_str_eq(gm_receiver_outcome_name(GM_RECEIVER_DUPLICATE), "duplicate");
}

Test(receiver, after_a_failure_with_retries_the_next_submissions_try_once)
{
    /* Nothing listens on port 9 (discard): every attempt fails at once. */
    stub_clock_t sl = {0};
    gm_receiver_opts_t o = {.url = "http://127.0.0.1:9/webhook", .secret = (const unsigned char *)"k",
                            .secret_len = 1, .sleep_ms = stub_sleep, .clock_ctx = &sl};
    char err[512];
    gm_receiver_t *r = gm_receiver_open(&o, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(gm_receiver_submit(r, "workflow_run", "d1", "{}", 2, err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(gm_receiver_requests(r), 5, "the first tries 1 + 4 retries");
    cr_assert_eq(gm_receiver_submit(r, "workflow_run", "d2", "{}", 2, err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(gm_receiver_requests(r), 6, "the next one tries once");
    cr_assert_eq(sl.nsleeps, 4, "only the first waited");
    gm_receiver_close(r);
}
