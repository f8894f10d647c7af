/* gm_lambda: the runtime loop against the Lambda Runtime API stand-in
 * (tests/servers/lambda-runtime.mjs), started with node for each test and
 * driven over its /_control API. The environment gives GM_NODE (node's path)
 * and GM_SOURCE_DIR (the repository); without them, or when the stand-in does
 * not start, the tests fail: a runtime loop never tested against its API
 * must not pass. */
#include <criterion/criterion.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gm/alloc.h"
#include "gm/http.h"
#include "gm/lambda.h"

extern char **environ;

/* ---- the stand-in ------------------------------------------------------------ */

typedef struct {
    pid_t pid;
    char url[128];     /* http://127.0.0.1:PORT */
    char address[128]; /* 127.0.0.1:PORT: what AWS_LAMBDA_RUNTIME_API holds */
} standin_t;

static standin_t sa = {.pid = -1};

/* Starts node tests/servers/lambda-runtime.mjs --port 0 [extra...] and reads
 * its {"url","address"} line. */
static void standin_start(const char *const *extra, size_t nextra)
{
    const char *node = getenv("GM_NODE"), *src = getenv("GM_SOURCE_DIR");
    cr_assert(node != NULL && *node != '\0', "GM_NODE is not set (ctest sets it)");
    cr_assert(src != NULL && *src != '\0', "GM_SOURCE_DIR is not set (ctest sets it)");
    char *script = gm_asprintf("%s/tests/servers/lambda-runtime.mjs", src);
    cr_assert(access(script, R_OK) == 0, "stand-in %s not found", script);

    const char *argv[16] = {node, script, "--port", "0"};
    size_t argc = 4;
    cr_assert(nextra + argc < 16);
    for (size_t i = 0; i < nextra; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    int out[2];
    cr_assert_eq(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    int rc = posix_spawn(&sa.pid, node, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    free(script);
    cr_assert_eq(rc, 0, "cannot start %s: %s", node, strerror(rc));

    char line[1024];
    size_t len = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (memchr(line, '\n', len) == NULL) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        cr_assert(poll(&p, 1, 15000) > 0, "the stand-in printed nothing in 15 s");
        ssize_t r = read(out[0], line + len, sizeof(line) - 1 - len);
        cr_assert(r > 0, "the stand-in exited before printing its address");
        len += (size_t)r;
        cr_assert(len < sizeof(line) - 1);
    }
    line[len] = '\0';
    close(out[0]);
    json_t *j = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert(j != NULL, "the stand-in's first line is not JSON: %s", line);
    const char *url = json_string_value(json_object_get(j, "url"));
    const char *address = json_string_value(json_object_get(j, "address"));
    cr_assert(url != NULL && address != NULL, "no url/address in %s", line);
    snprintf(sa.url, sizeof(sa.url), "%s", url);
    snprintf(sa.address, sizeof(sa.address), "%s", address);
    json_decref(j);
}

/* Kills the stand-in (SIGKILL: it goes away at once, as Lambda's API would). */
static void standin_kill(void)
{
    if (sa.pid > 0) {
        kill(sa.pid, SIGKILL);
        waitpid(sa.pid, NULL, 0);
        sa.pid = -1;
    }
}

static void fini(void)
{
    standin_kill();
}

TestSuite(lambda, .fini = fini, .timeout = 60);

/* ---- its control API ------------------------------------------------------------ */

/* A request to the stand-in; returns the body (caller frees) and the status. */
static char *http_call(const char *method, const char *url, const char *body, long *status)
{
    CURL *c = curl_easy_init();
    cr_assert(c != NULL);
    gm_http_body_t b;
    gm_http_body_init(&b, (size_t)16 << 20, 1024);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode res = curl_easy_perform(c);
    cr_assert_eq(res, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(res));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    char *out = gm_strdup(b.data != NULL ? b.data : "");
    gm_http_body_wipe(&b);
    return out;
}

static json_t *control(const char *method, const char *name, const char *body)
{
    char *url = gm_asprintf("%s/_control/%s", sa.url, name);
    long status;
    char *text = http_call(method, url, body, &status);
    cr_assert_eq(status, 200, "%s %s → %ld %s", method, url, status, text);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert(j != NULL, "control %s answered %s", name, text);
    free(text);
    free(url);
    return j;
}

/* Queues an invocation ({"event": ...} or {"body": "..."} plus options, as
 * JSON text); returns its request id (caller frees). */
static char *invoke(const char *spec)
{
    json_t *j = control("POST", "invoke", spec);
    const char *id = json_string_value(json_object_get(j, "requestId"));
    cr_assert(id != NULL);
    char *out = gm_strdup(id);
    json_decref(j);
    return out;
}

/* The stand-in's snapshot once at least n results are recorded. */
static json_t *results_after(size_t n)
{
    char *name = gm_asprintf("wait?count=%zu&timeoutMs=20000", n);
    json_t *j = control("GET", name, NULL);
    free(name);
    return j;
}

static json_t *result_at(json_t *snapshot, size_t i)
{
    json_t *r = json_array_get(json_object_get(snapshot, "results"), i);
    cr_assert(r != NULL, "no result %zu", i);
    return r;
}

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))

/* ---- the handler under test ------------------------------------------------------------ */

#define MAX_CALLS 16

typedef struct {
    size_t calls;
    char *request_ids[MAX_CALLS];
    char *arns[MAX_CALLS];
    char *traces[MAX_CALLS];     /* inv->trace_id, or NULL */
    char *env_traces[MAX_CALLS]; /* getenv("_X_AMZN_TRACE_ID") during the call, or NULL */
    int64_t deadlines[MAX_CALLS];
    int64_t remaining[MAX_CALLS];
} calls_t;

static char *dup_or_null(const char *s)
{
    return s != NULL ? gm_strdup(s) : NULL;
}

/* Echoes the event with the request id; {"fail": "TYPE"} fails with that
 * errorType; {"fail_empty": true} fails without filling errtype/err;
 * {"value": X} answers X itself (any JSON value). */
static json_t *test_handler(void *ctx, const json_t *event, const gm_lambda_invocation_t *inv, char *errtype,
                            size_t errtypelen, char *err, size_t errlen)
{
    calls_t *c = ctx;
    cr_assert(c->calls < MAX_CALLS);
    size_t i = c->calls++;
    c->request_ids[i] = gm_strdup(inv->request_id);
    c->arns[i] = dup_or_null(inv->function_arn);
    c->traces[i] = dup_or_null(inv->trace_id);
    c->env_traces[i] = dup_or_null(getenv("_X_AMZN_TRACE_ID"));
    c->deadlines[i] = inv->deadline_ms;
    c->remaining[i] = gm_lambda_remaining_ms(inv);
    cr_assert_eq(errtype[0], '\0');
    cr_assert_eq(err[0], '\0');

    const char *fail = json_string_value(json_object_get(event, "fail"));
    if (fail != NULL) {
        snprintf(errtype, errtypelen, "%s", fail);
        snprintf(err, errlen, "boom in %s", inv->request_id);
        return NULL;
    }
    if (json_is_true(json_object_get(event, "fail_empty")))
        return NULL;
    json_t *value = json_object_get(event, "value");
    if (value != NULL)
        return json_deep_copy(value);
    return json_pack("{s:O, s:s}", "echo", (json_t *)event, "request_id", inv->request_id);
}

static void calls_free(calls_t *c)
{
    for (size_t i = 0; i < c->calls; i++) {
        free(c->request_ids[i]);
        free(c->arns[i]);
        free(c->traces[i]);
        free(c->env_traces[i]);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

Test(lambda, responses_in_order_with_their_ids)
{
    standin_start(NULL, 0);
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "{\"event\": {\"n\": %d}}", i + 1);
        ids[i] = invoke(spec);
    }
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.calls, 3);

    json_t *snap = results_after(3);
    cr_assert_eq(json_array_size(json_object_get(snap, "results")), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *r = result_at(snap, i);
        cr_assert_str_eq(STR(r, "requestId"), ids[i]);
        cr_assert_str_eq(c.request_ids[i], ids[i]);
        cr_assert_str_eq(STR(r, "kind"), "response");
        cr_assert_str_eq(STR(r, "contentType"), "application/json");
        json_t *body = json_object_get(r, "json");
        cr_assert_str_eq(STR(body, "request_id"), ids[i]);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(body, "echo"), "n")), (json_int_t)i + 1);
        free(ids[i]);
    }
    cr_assert_eq(json_array_size(json_object_get(snap, "violations")), 0, "the runtime broke the contract");
    json_decref(snap);
    calls_free(&c);
}

Test(lambda, events_from_the_command_line_and_any_json_value)
{
    const char *extra[] = {
        "--event", "{\"value\": [1, \"two\", null]}", "--event", "{\"value\": \"just a string\"}", "--event", "42"};
    standin_start(extra, 6);
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 3, err, sizeof(err)), 0, "%s", err);
    json_t *snap = results_after(3);
    cr_assert_str_eq(STR(result_at(snap, 0), "text"), "[1,\"two\",null]");
    cr_assert_str_eq(STR(result_at(snap, 1), "text"), "\"just a string\"");
    /* A bare number is an event too; the handler echoes it as {"echo": 42, ...}. */
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(result_at(snap, 2), "json"), "echo")), 42);
    json_decref(snap);
    calls_free(&c);
}

Test(lambda, handler_error_is_posted_and_the_loop_goes_on)
{
    standin_start(NULL, 0);
    char *a = invoke("{\"event\": {\"fail\": \"Backfill.GitHubUnavailable\"}}");
    char *b = invoke("{\"event\": {\"fail_empty\": true}}");
    char *d = invoke("{\"event\": {\"n\": 3}}");
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.calls, 3);

    json_t *snap = results_after(3);
    json_t *r = result_at(snap, 0);
    cr_assert_str_eq(STR(r, "requestId"), a);
    cr_assert_str_eq(STR(r, "kind"), "error");
    cr_assert_str_eq(STR(r, "errorType"), "Backfill.GitHubUnavailable"); /* the header */
    json_t *body = json_object_get(r, "json");
    cr_assert_str_eq(STR(body, "errorType"), "Backfill.GitHubUnavailable");
    char *want = gm_asprintf("boom in %s", a);
    cr_assert_str_eq(STR(body, "errorMessage"), want);
    free(want);

    r = result_at(snap, 1);
    cr_assert_str_eq(STR(r, "requestId"), b);
    cr_assert_str_eq(STR(r, "kind"), "error");
    cr_assert_str_eq(STR(r, "errorType"), "Handler.Error");
    cr_assert_str_eq(STR(json_object_get(r, "json"), "errorMessage"), "handler failed");

    r = result_at(snap, 2);
    cr_assert_str_eq(STR(r, "requestId"), d);
    cr_assert_str_eq(STR(r, "kind"), "response");
    cr_assert_eq(json_array_size(json_object_get(snap, "violations")), 0);
    json_decref(snap);
    free(a);
    free(b);
    free(d);
    calls_free(&c);
}

Test(lambda, an_event_that_is_not_json_is_an_error_for_that_invocation_only)
{
    standin_start(NULL, 0);
    char *a = invoke("{\"body\": \"this is { not json\"}");
    char *b = invoke("{\"body\": \"\"}");
    char *d = invoke("{\"body\": \"{\\\"n\\\": 1} trailing\"}");
    char *e = invoke("{\"event\": {\"n\": 4}}");
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 4, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.calls, 1, "the handler saw a broken event");
    cr_assert_str_eq(c.request_ids[0], e);

    json_t *snap = results_after(4);
    const char *ids[] = {a, b, d};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = result_at(snap, i);
        cr_assert_str_eq(STR(r, "requestId"), ids[i]);
        cr_assert_str_eq(STR(r, "kind"), "error");
        cr_assert_str_eq(STR(r, "errorType"), "Runtime.UnmarshalError");
        json_t *body = json_object_get(r, "json");
        cr_assert_str_eq(STR(body, "errorType"), "Runtime.UnmarshalError");
        cr_assert(strstr(STR(body, "errorMessage"), "not JSON") != NULL, "%s", STR(body, "errorMessage"));
    }
    cr_assert_str_eq(STR(result_at(snap, 3), "kind"), "response");
    json_decref(snap);
    free(a);
    free(b);
    free(d);
    free(e);
    calls_free(&c);
}

Test(lambda, deadline_arn_and_trace_id_are_passed)
{
    standin_start(NULL, 0);
    static const char trace[] = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";
    static const char arn[] = "arn:aws:lambda:us-east-2:123456789012:function:custom-runtime";
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t deadline = (int64_t)now.tv_sec * 1000 + 120000; /* two minutes from now */
    char *spec = gm_asprintf("{\"event\": {}, \"deadlineMs\": %lld, \"traceId\": \"%s\", \"functionArn\": \"%s\"}",
                             (long long)deadline, trace, arn);
    char *a = invoke(spec);
    free(spec);
    char *b = invoke("{\"event\": {}, \"deadlineMs\": null, \"traceId\": null}");
    char *d = invoke("{\"event\": {}}"); /* the stand-in's defaults: now + 300 s, a fresh trace */

    setenv("_X_AMZN_TRACE_ID", "stale", 1);
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.calls, 3);

    cr_assert_str_eq(c.request_ids[0], a);
    cr_assert_eq(c.deadlines[0], deadline);
    cr_assert(c.remaining[0] > 100000 && c.remaining[0] <= 120000, "remaining %lld", (long long)c.remaining[0]);
    cr_assert_str_eq(c.arns[0], arn);
    cr_assert_str_eq(c.traces[0], trace);
    cr_assert_str_eq(c.env_traces[0], trace);

    /* No headers: deadline 0, no trace, and no trace left over from before. */
    cr_assert_str_eq(c.request_ids[1], b);
    cr_assert_eq(c.deadlines[1], 0);
    cr_assert_eq(c.remaining[1], INT64_MAX);
    cr_assert_null(c.traces[1]);
    cr_assert_null(c.env_traces[1]);

    cr_assert_str_eq(c.request_ids[2], d);
    cr_assert(c.deadlines[2] > deadline, "default deadline %lld", (long long)c.deadlines[2]);
    cr_assert_not_null(c.traces[2]);
    cr_assert_str_eq(c.env_traces[2], c.traces[2]);
    cr_assert_str_eq(c.arns[2], "arn:aws:lambda:eu-west-1:123456789012:function:gha-metrics-backfill");

    json_t *snap = results_after(3);
    cr_assert_eq(json_array_size(json_object_get(snap, "violations")), 0);
    json_decref(snap);
    free(a);
    free(b);
    free(d);
    calls_free(&c);
}

/* Waits until the stand-in holds the loop's next long poll (after n
 * results), then kills it. */
typedef struct {
    size_t n;
} killer_t;

static void *kill_after(void *arg)
{
    killer_t *k = arg;
    json_decref(results_after(k->n));
    for (int i = 0; i < 2000; i++) {
        json_t *snap = control("GET", "results", NULL);
        json_int_t held = json_integer_value(json_object_get(snap, "heldPolls"));
        json_decref(snap);
        if (held > 0)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    standin_kill();
    return NULL;
}

Test(lambda, the_api_going_away_during_the_long_poll_ends_the_loop)
{
    standin_start(NULL, 0);
    char *a = invoke("{\"event\": {\"n\": 1}}");
    killer_t k = {.n = 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, kill_after, &k), 0);
    calls_t c = {0};
    char err[512] = "";
    int rc = gm_lambda_run(sa.address, test_handler, &c, 0, err, sizeof(err));
    pthread_join(t, NULL);
    cr_assert_eq(rc, -1);
    cr_assert_eq(c.calls, 1);
    cr_assert(strstr(err, "runtime API is unreachable") != NULL, "%s", err);
    cr_assert(strstr(err, "/invocation/next") != NULL, "%s", err);
    free(a);
    calls_free(&c);
}

static json_t *killing_handler(void *ctx, const json_t *event, const gm_lambda_invocation_t *inv, char *errtype,
                               size_t errtypelen, char *err, size_t errlen)
{
    (void)ctx;
    (void)event;
    (void)inv;
    (void)errtype;
    (void)errtypelen;
    (void)err;
    (void)errlen;
    standin_kill();
    return json_object();
}

Test(lambda, the_api_going_away_before_the_answer_ends_the_loop)
{
    standin_start(NULL, 0);
    char *a = invoke("{\"event\": {}}");
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, killing_handler, NULL, 0, err, sizeof(err)), -1);
    cr_assert(strstr(err, "runtime API is unreachable") != NULL, "%s", err);
    cr_assert(strstr(err, "/response") != NULL, "%s", err);
    free(a);
}

Test(lambda, an_unreachable_api_fails_with_the_reason)
{
    standin_start(NULL, 0);
    char address[128];
    snprintf(address, sizeof(address), "%s", sa.address);
    standin_kill(); /* nothing listens on that port any more */
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(address, test_handler, &c, 0, err, sizeof(err)), -1);
    cr_assert_eq(c.calls, 0);
    cr_assert(strstr(err, "runtime API is unreachable") != NULL, "%s", err);
    cr_assert(strstr(err, address) != NULL, "%s", err);

    cr_assert_eq(gm_lambda_init_error(address, NULL, "x", err, sizeof(err)), -1);
    cr_assert(strstr(err, "/init/error") != NULL, "%s", err);
}

Test(lambda, bad_addresses_are_refused)
{
    char err[512] = "";
    const char *bad[] = {"", "127.0.0.1:1/evil", "host:1\r\nX: y", "a b:1", "user@host:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        err[0] = '\0';
        cr_assert_eq(gm_lambda_run(bad[i], test_handler, NULL, 1, err, sizeof(err)), -1, "%s", bad[i]);
        cr_assert(strstr(err, "not host:port") != NULL, "%s", err);
    }
    cr_assert_eq(gm_lambda_run(NULL, test_handler, NULL, 1, err, sizeof(err)), -1);
    cr_assert_eq(gm_lambda_init_error("x/y", "T", "m", err, sizeof(err)), -1);
}

Test(lambda, init_error_is_reported_once_before_the_first_poll)
{
    standin_start(NULL, 0);
    char err[512] = "";
    cr_assert_eq(
        gm_lambda_init_error(sa.address, "Config.Invalid", "config.yaml:3: unknown key \"x\"", err, sizeof(err)), 0,
        "%s", err);
    json_t *snap = control("GET", "results", NULL);
    json_t *ie = json_array_get(json_object_get(snap, "initErrors"), 0);
    cr_assert_not_null(ie);
    cr_assert_str_eq(STR(ie, "errorType"), "Config.Invalid");
    cr_assert_str_eq(STR(json_object_get(ie, "json"), "errorType"), "Config.Invalid");
    cr_assert_str_eq(STR(json_object_get(ie, "json"), "errorMessage"), "config.yaml:3: unknown key \"x\"");
    cr_assert_str_eq(STR(snap, "state"), "InitError");
    json_decref(snap);

    /* Lambda accepts it once; then the loop cannot start either. */
    cr_assert_eq(gm_lambda_init_error(sa.address, NULL, "again", err, sizeof(err)), -1);
    cr_assert(strstr(err, "403") != NULL && strstr(err, "InvalidStateTransition") != NULL, "%s", err);
    calls_t c = {0};
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "answered 403 to /invocation/next") != NULL, "%s", err);
    cr_assert_eq(c.calls, 0);
}

Test(lambda, an_error_type_with_a_line_break_cannot_inject_a_header)
{
    standin_start(NULL, 0);
    char *a = invoke("{\"event\": {\"fail\": \"Bad\\r\\nX-Injected: 1\"}}");
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 1, err, sizeof(err)), 0, "%s", err);
    json_t *snap = results_after(1);
    json_t *r = result_at(snap, 0);
    cr_assert_str_eq(STR(r, "errorType"), "Bad__X-Injected: 1");
    cr_assert_null(json_object_get(json_object_get(r, "headers"), "x-injected"));
    json_decref(snap);
    free(a);
    calls_free(&c);
}

Test(lambda, an_event_over_6_mib_is_an_error_for_that_invocation_only)
{
    standin_start(NULL, 0);
    size_t n = ((size_t)6 << 20) + 10;
    char *spec = gm_malloc(n + 32);
    int head = snprintf(spec, n + 32, "{\"body\": \"");
    memset(spec + head, 'x', n);
    snprintf(spec + head + n, 32, "\"}");
    char *a = invoke(spec);
    free(spec);
    char *b = invoke("{\"event\": {\"n\": 2}}");
    calls_t c = {0};
    char err[512] = "";
    cr_assert_eq(gm_lambda_run(sa.address, test_handler, &c, 2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.calls, 1);
    cr_assert_str_eq(c.request_ids[0], b);
    json_t *snap = results_after(2);
    json_t *r = result_at(snap, 0);
    cr_assert_str_eq(STR(r, "requestId"), a);
    cr_assert_str_eq(STR(r, "errorType"), "Runtime.UnmarshalError");
    cr_assert(strstr(STR(json_object_get(r, "json"), "errorMessage"), "larger than") != NULL);
    cr_assert_str_eq(STR(result_at(snap, 1), "kind"), "response");
    json_decref(snap);
    free(a);
    free(b);
    calls_free(&c);
}
