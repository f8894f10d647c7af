/* gm_ddb against a real DynamoDB implementation: tests/servers/dynamodb.mjs
 * (dynalite behind a proxy that verifies SigV4 as DynamoDB does), started
 * once for the whole run by the runner process (criterion's PRE_ALL hook)
 * and stopped at the end (POST_ALL). The tests, forked by criterion and run
 * two at a time, share its table and keep apart by key prefix (the test's
 * name and pid). When the stand-in cannot start, every test fails.
 *
 * Faults (throttling, 5xx, lost answers, UnprocessedKeys) are set on the
 * stand-in over its unsigned /_control/ endpoints, each matched to the
 * test's own keys so a test running beside it is not hit. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gm/alloc.h"
#include "gm/dynamodb.h"

/* The stand-in's DEFAULT_CREDENTIAL (tests/servers/aws.mjs) and region. */
#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define REGION "eu-west-1"
#define TABLE "gm-ledger-test"
#define TTL_S 3600

#define URL_ENV "GM_TEST_DDB_URL"
#define START_ERROR_ENV "GM_TEST_DDB_START_ERROR"

/* ---- the stand-in, started by the runner ------------------------------------ */

static pid_t standin_pid = -1;

/* Reads one line from fd within timeout_ms; returns it (caller frees) or NULL. */
static char *read_line(int fd, int timeout_ms)
{
    size_t cap = 4096, len = 0;
    char *buf = gm_malloc(cap);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (spent >= timeout_ms || poll(&p, 1, (int)(timeout_ms - spent)) <= 0)
            break;
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        char *nl = memchr(buf, '\n', len);
        if (nl != NULL) {
            *nl = '\0';
            return buf;
        }
        if (len == cap - 1)
            break;
    }
    free(buf);
    return NULL;
}

/* Starts `$GM_NODE $GM_SOURCE_DIR/tests/servers/dynamodb.mjs` and returns
 * its URL (caller frees), or NULL with the reason. */
static char *standin_start(char *err, size_t errlen)
{
    const char *node = getenv("GM_NODE"), *src = getenv("GM_SOURCE_DIR");
    if (node == NULL || src == NULL) {
        snprintf(err, errlen, "GM_NODE and GM_SOURCE_DIR must be set (ctest sets them)");
        return NULL;
    }
    char *script = gm_asprintf("%s/tests/servers/dynamodb.mjs", src);
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        free(script);
        return NULL;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Dies with the runner, however the runner ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(node, node, script, "--port", "0", "--table", TABLE, "--region", REGION, (char *)NULL);
        _exit(127);
    }
    free(script);
    close(fds[1]);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        return NULL;
    }
    standin_pid = pid;
    char *line = read_line(fds[0], 30000);
    close(fds[0]);
    json_t *j = line != NULL ? json_loads(line, 0, NULL) : NULL;
    const char *url = json_string_value(json_object_get(j, "url"));
    const char *table = json_string_value(json_object_get(j, "table"));
    char *out = NULL;
    if (url != NULL && table != NULL && strcmp(table, TABLE) == 0)
        out = gm_strdup(url);
    else
        snprintf(err, errlen, "the stand-in (%s) printed no {\"url\",\"table\"} line: %.200s", node,
                 line != NULL ? line : "(nothing)");
    json_decref(j);
    free(line);
    return out;
}

static void standin_stop(void)
{
    if (standin_pid <= 0)
        return;
    kill(standin_pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(standin_pid, NULL, WNOHANG) == standin_pid) {
            standin_pid = -1;
            return;
        }
        usleep(50 * 1000);
    }
    kill(standin_pid, SIGKILL);
    waitpid(standin_pid, NULL, 0);
    standin_pid = -1;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    char err[512] = "";
    char *url = standin_start(err, sizeof(err));
    if (url != NULL)
        setenv(URL_ENV, url, 1); /* inherited by the forked tests */
    else {
        setenv(START_ERROR_ENV, err, 1);
        standin_stop();
    }
    free(url);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    standin_stop();
}

/* ---- per test ------------------------------------------------------------------ */

static const char *url;

static void setup(void)
{
    static const char *const vars[] = {"AWS_SESSION_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "http_proxy",
                                       "HTTP_PROXY",
                                       "https_proxy",
                                       "HTTPS_PROXY",
                                       "all_proxy",
                                       "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gm-test/credentials", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ACCESS_KEY_ID", AKID, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", REGION, 1);
    url = getenv(URL_ENV);
    if (url == NULL)
        cr_assert_fail("the DynamoDB stand-in did not start: %s",
                       getenv(START_ERROR_ENV) != NULL ? getenv(START_ERROR_ENV) : "(no reason)");
}

TestSuite(dynamodb, .init = setup, .timeout = 120);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static gm_ddb_t *open_at(const char *endpoint, const char *table, const char *owner)
{
    char err[256] = "";
    gm_ddb_opts_t o = {.table = table, .endpoint = endpoint, .owner = owner, .ttl_s = TTL_S, .timeout_ms = 5000};
    gm_ddb_t *d = gm_ddb_open(&o, err, sizeof(err));
    cr_assert_not_null(d, "gm_ddb_open: %s", err);
    return d;
}

static gm_ddb_t *open_owner(const char *owner)
{
    return open_at(url, TABLE, owner);
}

/* A key unique to this test run: "<prefix>:<pid>:<n>". */
static char *key_of(const char *prefix, int n)
{
    return gm_asprintf("%s:%d:%d", prefix, (int)getpid(), n);
}

static size_t collect_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    json_t *buf = ud;
    size_t n = size * nmemb;
    const char *old = json_string_value(buf);
    char *s = gm_asprintf("%s%.*s", old, (int)n, p);
    json_string_set(buf, s);
    free(s);
    return n;
}

/* POSTs a JSON body to the stand-in's /_control/name; returns the parsed answer. */
static json_t *control(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *control(const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *body = gm_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(body, (size_t)n + 1, fmt, ap);
    va_end(ap);
    char *u = gm_asprintf("%s/_control/%s", url, name);
    json_t *out = json_string("");
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    cr_assert_eq(rc, CURLE_OK, "control %s: %s", name, curl_easy_strerror(rc));
    cr_assert_eq(status, 200, "control %s: HTTP %ld %s", name, status, json_string_value(out));
    json_t *j = json_loads(json_string_value(out), 0, NULL);
    cr_assert_not_null(j);
    json_decref(out);
    free(u);
    free(body);
    return j;
}

static void fault(const char *kind, int n, const char *operation, const char *match)
{
    json_decref(control("fault", "{\"kind\":\"%s\",\"n\":%d,\"operation\":\"%s\",\"match\":\"%s\"}", kind, n, operation,
                        match));
}

/* BatchGetItem reads only this fraction of the keys and hands the rest back. */
static void fault_unprocessed(int n, double keep, const char *match)
{
    json_decref(control(
        "fault", "{\"kind\":\"unprocessed\",\"n\":%d,\"operation\":\"BatchGetItem\",\"match\":\"%s\",\"keep\":%g}", n,
        match, keep));
}

/* The owner of the stored item, or "" when there is none (caller frees). */
static char *stored_owner(const char *key)
{
    json_t *j = control("item", "{\"table\":\"%s\",\"key\":\"%s\"}", TABLE, key);
    const char *o = json_string_value(json_object_get(json_object_get(json_object_get(j, "item"), "owner"), "S"));
    char *out = gm_strdup(o != NULL ? o : "");
    json_decref(j);
    return out;
}

/* ---- claims ---------------------------------------------------------------------- */

Test(dynamodb, claim_new_then_same_owner_then_another_owner)
{
    gm_ddb_t *a = open_owner("node-a"), *b = open_owner("node-b");
    char *k = key_of("d:claim", 1);
    char err[512] = "";
    cr_assert_eq(gm_ddb_claim(a, k, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    /* A receiver replaying its own frames after a crash gets its claim back. */
    cr_assert_eq(gm_ddb_claim(a, k, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    cr_assert_eq(gm_ddb_claim(b, k, now_ms(), err, sizeof(err)), GM_DDB_TAKEN, "%s", err);
    cr_assert_eq(gm_ddb_claim(a, k, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);

    /* What is stored: the attributes the table's TTL and readers rely on. */
    int64_t t = now_ms();
    cr_assert_eq(gm_ddb_claim(a, k, t, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    json_t *j = control("item", "{\"table\":\"%s\",\"key\":\"%s\"}", TABLE, k);
    json_t *item = json_object_get(j, "item");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "pk"), "S")), k);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "owner"), "S")), "node-a");
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)t);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "claimed_at"), "N")), want);
    snprintf(want, sizeof(want), "%lld", (long long)(t / 1000 + TTL_S));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "expires_at"), "N")), want);
    json_decref(j);
    free(k);
    gm_ddb_close(a);
    gm_ddb_close(b);
}

Test(dynamodb, expired_claim_is_free_for_another_owner)
{
    gm_ddb_t *a = open_owner("node-a"), *b = open_owner("node-b");
    char err[512] = "";
    char *k = key_of("r:expired", 1);
    int64_t now = now_ms();
    /* Claimed two hours ago for one hour: expired, though TTL has not
     * deleted it (dynalite never does; DynamoDB may take days). */
    cr_assert_eq(gm_ddb_claim(a, k, now - 2 * 3600 * 1000, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    cr_assert_eq(gm_ddb_claim(b, k, now, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    char *o = stored_owner(k);
    cr_assert_str_eq(o, "node-b");
    free(o);
    cr_assert_eq(gm_ddb_claim(a, k, now, err, sizeof(err)), GM_DDB_TAKEN, "%s", err);

    /* At the boundary lookup and claim agree: at expires_at the key is
     * absent and claimable, a second before it is held. */
    char *k2 = key_of("r:boundary", 1);
    int64_t t0 = 1700000000000; /* whole seconds */
    cr_assert_eq(gm_ddb_claim(a, k2, t0, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    int64_t expires_ms = (t0 / 1000 + TTL_S) * 1000;
    const char *keys[] = {k2};
    unsigned char found[1] = {9};
    cr_assert_eq(gm_ddb_lookup(b, keys, 1, expires_ms - 1000, found, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(found[0], 1);
    cr_assert_eq(gm_ddb_claim(b, k2, expires_ms - 1000, err, sizeof(err)), GM_DDB_TAKEN, "%s", err);
    cr_assert_eq(gm_ddb_lookup(b, keys, 1, expires_ms, found, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(found[0], 0);
    cr_assert_eq(gm_ddb_claim(b, k2, expires_ms, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    free(k);
    free(k2);
    gm_ddb_close(a);
    gm_ddb_close(b);
}

/* ---- lookups ---------------------------------------------------------------------- */

#define NLOOK 260

Test(dynamodb, lookup_present_absent_expired_in_chunks)
{
    gm_ddb_t *d = open_owner("backfill");
    char err[512] = "";
    int64_t now = now_ms();
    /* 260 distinct keys (three requests of at most 100) and, after them,
     * 40 repeats: BatchGetItem refuses duplicates, the client must not. */
    const char *keys[NLOOK + 40];
    char *own[NLOOK];
    unsigned char want[NLOOK + 40], found[NLOOK + 40];
    for (int i = 0; i < NLOOK; i++) {
        own[i] = key_of("j:lookup", i);
        keys[i] = own[i];
        if (i % 3 == 0) { /* held */
            cr_assert_eq(gm_ddb_claim(d, own[i], now, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
            want[i] = 1;
        } else if (i % 3 == 1) { /* expired an hour ago */
            cr_assert_eq(gm_ddb_claim(d, own[i], now - 2 * 3600 * 1000, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
            want[i] = 0;
        } else { /* never claimed */
            want[i] = 0;
        }
    }
    for (int i = 0; i < 40; i++) {
        keys[NLOOK + i] = own[i * 5];
        want[NLOOK + i] = want[i * 5];
    }
    memset(found, 7, sizeof(found));
    cr_assert_eq(gm_ddb_lookup(d, keys, NLOOK + 40, now, found, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < NLOOK + 40; i++)
        cr_assert_eq(found[i], want[i], "key %d (%s): found %d, want %d", i, keys[i], found[i], want[i]);

    /* An item written by something else without expires_at never expires. */
    char *bare = key_of("j:bare", 0);
    json_decref(control("put-item", "{\"table\":\"%s\",\"item\":{\"pk\":{\"S\":\"%s\"},\"owner\":{\"S\":\"x\"}}}",
                        TABLE, bare));
    const char *one[] = {bare};
    cr_assert_eq(gm_ddb_lookup(d, one, 1, now, found, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(found[0], 1);
    cr_assert_eq(gm_ddb_claim(d, bare, now, err, sizeof(err)), GM_DDB_TAKEN, "%s", err);

    /* Nothing to look up: no request, success. */
    cr_assert_eq(gm_ddb_lookup(d, NULL, 0, now, NULL, err, sizeof(err)), 0);
    free(bare);
    for (int i = 0; i < NLOOK; i++)
        free(own[i]);
    gm_ddb_close(d);
}

Test(dynamodb, lookup_asks_again_for_unprocessed_keys)
{
    gm_ddb_t *d = open_owner("backfill");
    char err[512] = "";
    int64_t now = now_ms();
    enum { N = 150 };
    const char *keys[N];
    char *own[N];
    unsigned char found[N];
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "d:unprocessed:%d:", (int)getpid());
    for (int i = 0; i < N; i++) {
        own[i] = key_of("d:unprocessed", i);
        keys[i] = own[i];
        if (i % 2 == 0)
            cr_assert_eq(gm_ddb_claim(d, own[i], now, err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    }
    /* The next four requests read half their keys and hand the rest back:
     * the first chunk of 100 takes five rounds (100, 50, 25, 12, 6 keys). */
    fault_unprocessed(4, 0.5, prefix);
    cr_assert_eq(gm_ddb_lookup(d, keys, N, now, found, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < N; i++)
        cr_assert_eq(found[i], i % 2 == 0, "key %d", i);

    /* A table that keeps handing everything back: an error, not a loop. */
    fault_unprocessed(100, 0, prefix);
    const char *one[] = {keys[0]};
    cr_assert_eq(gm_ddb_lookup(d, one, 1, now, found, err, sizeof(err)), -1);
    cr_assert(strstr(err, "unprocessed") != NULL, "%s", err);
    json_decref(control("clear-faults", "{\"match\":\"%s\"}", prefix));
    for (int i = 0; i < N; i++)
        free(own[i]);
    gm_ddb_close(d);
}

/* ---- retries ------------------------------------------------------------------------ */

Test(dynamodb, throttling_and_5xx_are_retried_three_times)
{
    gm_ddb_t *d = open_owner("node-a");
    char err[512] = "";
    char *k1 = key_of("d:throttle", 1), *k2 = key_of("d:throttle", 2), *k3 = key_of("d:throttle", 3);

    fault("throttle", 2, "PutItem", k1);
    cr_assert_eq(gm_ddb_claim(d, k1, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);

    fault("throttle", 3, "PutItem", k2);
    cr_assert_eq(gm_ddb_claim(d, k2, now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "ProvisionedThroughputExceededException") != NULL, "%s", err);
    cr_assert(strstr(err, "3 attempts") != NULL, "%s", err);
    char *o = stored_owner(k2);
    cr_assert_str_eq(o, "", "a throttled write must not have happened");
    free(o);

    fault("fail5xx", 2, "PutItem", k3);
    cr_assert_eq(gm_ddb_claim(d, k3, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);

    const char *keys[] = {k1, k2, k3};
    unsigned char found[3];
    fault("throttle", 2, "BatchGetItem", k1);
    cr_assert_eq(gm_ddb_lookup(d, keys, 3, now_ms(), found, err, sizeof(err)), 0, "%s", err);
    cr_assert(found[0] == 1 && found[1] == 0 && found[2] == 1);
    fault("fail5xx", 3, "BatchGetItem", k1);
    cr_assert_eq(gm_ddb_lookup(d, keys, 3, now_ms(), found, err, sizeof(err)), -1);
    cr_assert(strstr(err, "InternalServerError") != NULL && strstr(err, "HTTP 500") != NULL, "%s", err);
    free(k1);
    free(k2);
    free(k3);
    gm_ddb_close(d);
}

Test(dynamodb, claim_whose_answer_was_lost_is_still_ours)
{
    gm_ddb_t *a = open_owner("node-a"), *b = open_owner("node-b");
    char err[512] = "";
    char *k = key_of("d:lost", 1);
    /* The write lands but its answer never comes: the retry meets our own
     * item, which the condition lets through. */
    fault("lost", 1, "PutItem", k);
    cr_assert_eq(gm_ddb_claim(a, k, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    cr_assert_eq(gm_ddb_claim(b, k, now_ms(), err, sizeof(err)), GM_DDB_TAKEN, "%s", err);
    /* A request that never arrived is simply sent again. */
    char *k2 = key_of("d:lost", 2);
    fault("drop", 2, "PutItem", k2);
    cr_assert_eq(gm_ddb_claim(b, k2, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    free(k);
    free(k2);
    gm_ddb_close(a);
    gm_ddb_close(b);
}

/* ---- errors --------------------------------------------------------------------------- */

#define WRONG_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRETKEY"

Test(dynamodb, wrong_secret_is_an_error_that_does_not_show_it)
{
    setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET, 1);
    gm_ddb_t *d = open_owner("node-a");
    char err[512] = "";
    char *k = key_of("d:secret", 1);
    cr_assert_eq(gm_ddb_claim(d, k, now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "InvalidSignatureException") != NULL, "%s", err);
    cr_assert(strstr(err, WRONG_SECRET) == NULL && strstr(err, "WRONGSECRET") == NULL, "%s", err);
    cr_assert(strstr(err, "attempts") == NULL, "refused credentials are not retried: %s", err);
    char *o = stored_owner(k);
    cr_assert_str_eq(o, "");
    free(o);
    const char *keys[] = {k};
    unsigned char found[1];
    err[0] = '\0';
    cr_assert_eq(gm_ddb_lookup(d, keys, 1, now_ms(), found, err, sizeof(err)), -1);
    cr_assert(strstr(err, "InvalidSignatureException") != NULL, "%s", err);
    cr_assert(strstr(err, WRONG_SECRET) == NULL && strstr(err, "WRONGSECRET") == NULL, "%s", err);
    free(k);
    gm_ddb_close(d);
}

Test(dynamodb, unknown_access_key_is_an_error)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000", 1);
    gm_ddb_t *d = open_owner("node-a");
    char err[512] = "";
    char *k = key_of("d:unknown-key", 1);
    cr_assert_eq(gm_ddb_claim(d, k, now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "UnrecognizedClientException") != NULL, "%s", err);
    cr_assert(strstr(err, SECRET) == NULL, "%s", err);
    free(k);
    gm_ddb_close(d);
}

Test(dynamodb, unreachable_endpoint_is_an_error)
{
    /* A port that was free a moment ago: nothing listens there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    char *endpoint = gm_asprintf("http://127.0.0.1:%d", ntohs(sa.sin_port));
    gm_ddb_t *d = open_at(endpoint, TABLE, "node-a");
    char err[512] = "";
    cr_assert_eq(gm_ddb_claim(d, "d:unreachable", now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "no response") != NULL && strstr(err, "3 attempts") != NULL, "%s", err);
    cr_assert(strstr(err, SECRET) == NULL, "%s", err);
    const char *keys[] = {"d:unreachable"};
    unsigned char found[1];
    cr_assert_eq(gm_ddb_lookup(d, keys, 1, now_ms(), found, err, sizeof(err)), -1);
    cr_assert(strstr(err, "no response") != NULL, "%s", err);
    gm_ddb_close(d);
    free(endpoint);
}

Test(dynamodb, missing_table_is_an_error)
{
    gm_ddb_t *d = open_at(url, "gm-no-such-table", "node-a");
    char err[512] = "";
    cr_assert_eq(gm_ddb_claim(d, "d:missing-table", now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "ResourceNotFoundException") != NULL, "%s", err);
    cr_assert(strstr(err, "attempts") == NULL, "a rejection is not retried: %s", err);
    const char *keys[] = {"d:missing-table"};
    unsigned char found[1];
    cr_assert_eq(gm_ddb_lookup(d, keys, 1, now_ms(), found, err, sizeof(err)), -1);
    cr_assert(strstr(err, "ResourceNotFoundException") != NULL, "%s", err);
    gm_ddb_close(d);
}

Test(dynamodb, bad_options_and_keys)
{
    char err[256];
    gm_ddb_opts_t ok = {.table = TABLE, .endpoint = url, .owner = "node-a", .ttl_s = 60};
    gm_ddb_opts_t o;
    cr_assert_null(gm_ddb_open(NULL, err, sizeof(err)));
    o = ok, o.table = NULL;
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    o = ok, o.table = "t"; /* DynamoDB's names are 3-255 characters */
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    cr_assert(strstr(err, "table") != NULL, "%s", err);
    o = ok, o.table = "a table";
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    o = ok, o.owner = NULL;
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    o = ok, o.owner = "";
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    cr_assert(strstr(err, "owner") != NULL, "%s", err);
    o = ok, o.ttl_s = 0;
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    o = ok, o.endpoint = "ftp://x";
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    unsetenv("AWS_REGION");
    o = ok;
    cr_assert_null(gm_ddb_open(&o, err, sizeof(err)));
    cr_assert(strstr(err, "region") != NULL, "%s", err);
    o.region = REGION;

    gm_ddb_t *d = gm_ddb_open(&o, err, sizeof(err));
    cr_assert_not_null(d, "%s", err);
    cr_assert_eq(gm_ddb_claim(d, "", now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert_eq(gm_ddb_claim(d, NULL, now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert_eq(gm_ddb_claim(d, "d:\xff\xfe", now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert(strstr(err, "UTF-8") != NULL, "%s", err);
    cr_assert_eq(gm_ddb_claim(d, "d:negative-time", -1, err, sizeof(err)), GM_DDB_ERROR);

    /* DynamoDB's longest partition key is accepted, one byte more is not. */
    char *longest = gm_malloc(GM_DDB_MAX_KEY + 2);
    int p = snprintf(longest, GM_DDB_MAX_KEY + 2, "d:longest:%d:", (int)getpid());
    memset(longest + p, 'x', (size_t)(GM_DDB_MAX_KEY - p));
    longest[GM_DDB_MAX_KEY] = '\0';
    cr_assert_eq(gm_ddb_claim(d, longest, now_ms(), err, sizeof(err)), GM_DDB_CLAIMED, "%s", err);
    const char *keys[] = {longest, "d:\xff"};
    unsigned char found[2];
    cr_assert_eq(gm_ddb_lookup(d, keys, 1, now_ms(), found, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(found[0], 1);
    cr_assert_eq(gm_ddb_lookup(d, keys, 2, now_ms(), found, err, sizeof(err)), -1);
    longest[GM_DDB_MAX_KEY] = 'x';
    longest[GM_DDB_MAX_KEY + 1] = '\0';
    cr_assert_eq(gm_ddb_claim(d, longest, now_ms(), err, sizeof(err)), GM_DDB_ERROR);
    cr_assert_eq(gm_ddb_lookup(d, keys, 1, now_ms(), found, err, sizeof(err)), -1);
    free(longest);
    gm_ddb_close(d);
    gm_ddb_close(NULL);
}

/* ---- concurrency ----------------------------------------------------------------------- */

#define NRACE 200

typedef struct {
    const char *owner;
    char **keys;
    gm_ddb_claim_t result[NRACE];
    char err[512];
    pthread_barrier_t *start;
} racer_t;

static void *race_cb(void *arg)
{
    racer_t *r = arg;
    char why[256];
    gm_ddb_opts_t o = {.table = TABLE, .endpoint = url, .owner = r->owner, .ttl_s = TTL_S};
    gm_ddb_t *d = gm_ddb_open(&o, why, sizeof(why));
    pthread_barrier_wait(r->start);
    for (int i = 0; i < NRACE; i++) {
        r->result[i] = d != NULL ? gm_ddb_claim(d, r->keys[i], now_ms(), why, sizeof(why)) : GM_DDB_ERROR;
        if (r->result[i] == GM_DDB_ERROR && r->err[0] == '\0')
            snprintf(r->err, sizeof(r->err), "key %d: %s", i, why);
    }
    gm_ddb_close(d);
    return NULL;
}

Test(dynamodb, two_owners_racing_claim_each_key_once)
{
    char *keys[NRACE];
    for (int i = 0; i < NRACE; i++)
        keys[i] = key_of("r:race", i);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    racer_t r[2] = {{.owner = "receiver-1", .keys = keys, .start = &start},
                    {.owner = "receiver-2", .keys = keys, .start = &start}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, race_cb, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    cr_assert_str_eq(r[0].err, "");
    cr_assert_str_eq(r[1].err, "");
    int won[2] = {0, 0};
    for (int i = 0; i < NRACE; i++) {
        int claimed = (r[0].result[i] == GM_DDB_CLAIMED) + (r[1].result[i] == GM_DDB_CLAIMED);
        cr_assert_eq(claimed, 1, "key %d claimed %d times (%d, %d)", i, claimed, r[0].result[i], r[1].result[i]);
        int w = r[0].result[i] == GM_DDB_CLAIMED ? 0 : 1;
        cr_assert_eq(r[1 - w].result[i], GM_DDB_TAKEN);
        won[w]++;
        if (i % 20 == 0) { /* the stored owner is the one that was told CLAIMED */
            char *o = stored_owner(keys[i]);
            cr_assert_str_eq(o, r[w].owner, "key %d", i);
            free(o);
        }
    }
    cr_log_info("racing claims won: %d and %d", won[0], won[1]);
    gm_ddb_t *d = open_owner("backfill");
    unsigned char found[NRACE];
    char err[512] = "";
    cr_assert_eq(gm_ddb_lookup(d, (const char *const *)keys, NRACE, now_ms(), found, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < NRACE; i++) {
        cr_assert_eq(found[i], 1, "key %d", i);
        free(keys[i]);
    }
    gm_ddb_close(d);
}
