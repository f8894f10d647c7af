/* The harness of test_backfill.c (included once, by it): the GitHub stand-in
 * (tests/servers/github.mjs) as a child process driven over /_control, a
 * fake clock whose sleeps move the stand-in's clock too (so rate-limit waits
 * end without waiting), and a fake ledger + receiver that checks every
 * submission the way the receiver would take it (gm_payload_parse, then
 * gm_event_to_record) and records it.
 *
 * Everything here is static: one test executable, one includer. */
#ifndef BACKFILL_HARNESS_H
#define BACKFILL_HARNESS_H

#include <criterion/criterion.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gm/alloc.h"
#include "gm/backfill.h"
#include "gm/github.h"
#include "gm/payload.h"
#include "gm/receiver.h"
#include "gm/record.h"

#define TOKEN "ghp_test" /* the stand-in's default token */

/* ---- the stand-in ---------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    char url[128];
    CURL *curl; /* for /_control */
} standin_t;

/* Starts `node github.mjs --port 0 [args...]` (args NULL-terminated, may be
 * NULL) and reads the line it prints. The child dies with the test process. */
static standin_t *standin_start_args(const char *const *args)
{
    const char *node = getenv("GM_NODE"), *src = getenv("GM_SOURCE_DIR");
    cr_assert(node != NULL && src != NULL, "GM_NODE and GM_SOURCE_DIR must be set (ctest sets them)");
    char *script = gm_asprintf("%s/tests/servers/github.mjs", src);
    const char *argv[24] = {node, script, "--port", "0"};
    size_t argc = 4;
    for (size_t i = 0; args != NULL && args[i] != NULL && argc < 23; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no stand-in outlives a failed test */
        if (getppid() != parent)
            _exit(1);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(node, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    free(script);
    char line[512];
    size_t len = 0;
    while (len < sizeof(line) - 1 && memchr(line, '\n', len) == NULL) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        cr_assert_gt(poll(&p, 1, 20000), 0, "the GitHub stand-in did not start");
        ssize_t r = read(fds[0], line + len, sizeof(line) - 1 - len);
        cr_assert_gt(r, 0, "the GitHub stand-in exited");
        len += (size_t)r;
    }
    close(fds[0]);
    line[len] = '\0';
    json_t *j = json_loads(line, 0, NULL);
    cr_assert_not_null(j, "stand-in said: %s", line);
    standin_t *s = gm_calloc(1, sizeof(*s));
    s->pid = pid;
    snprintf(s->url, sizeof(s->url), "%s", json_string_value(json_object_get(j, "url")));
    json_decref(j);
    s->curl = curl_easy_init();
    return s;
}

static standin_t *standin_start(const char *fixture)
{
    char *path = fixture != NULL ? gm_asprintf("%s/backfill/%s", GM_FIXTURES, fixture) : NULL;
    const char *args[] = {"--fixtures", path, NULL};
    standin_t *s = standin_start_args(path != NULL ? args : NULL);
    free(path);
    return s;
}

static void standin_stop(standin_t *s)
{
    kill(s->pid, SIGTERM);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    curl_easy_cleanup(s->curl);
    free(s);
}

static size_t collect_cb(char *p, size_t size, size_t n, void *ud)
{
    char **buf = ud;
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    *buf = gm_realloc(*buf, old + size * n + 1);
    memcpy(*buf + old, p, size * n);
    (*buf)[old + size * n] = '\0';
    return size * n;
}

/* POST /_control/<name> with body (stolen; NULL: GET). Returns the answer (new ref). */
static json_t *ctl(standin_t *s, const char *name, json_t *body)
{
    char *url = gm_asprintf("%s/_control/%s", s->url, name);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char *out = NULL;
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (text != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    CURLcode rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    cr_assert_eq(rc, CURLE_OK, "control %s: %s", name, curl_easy_strerror(rc));
    cr_assert_eq(st, 200, "control %s: %ld %s", name, st, out != NULL ? out : "");
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j);
    free(out);
    free(text);
    free(url);
    return j;
}

static void ctl0(standin_t *s, const char *name, json_t *body)
{
    json_decref(ctl(s, name, body));
}

/* ---- the clock ---------------------------------------------------------------------- */

typedef struct {
    int64_t base, offset; /* now = base + offset */
    int64_t sleeps[64];
    size_t nsleeps;
    int64_t slept;
    standin_t *sync; /* its clock follows every sleep and advance */
} fclock_t;

static void clock_sync(fclock_t *c)
{
    if (c->sync != NULL)
        ctl0(c->sync, "clock", json_pack("{s:I}", "offsetMs", (json_int_t)c->offset));
}

static int64_t fake_now(void *ctx)
{
    fclock_t *c = ctx;
    return c->base + c->offset;
}

static void fake_sleep(void *ctx, int64_t ms)
{
    fclock_t *c = ctx;
    if (c->nsleeps < 64)
        c->sleeps[c->nsleeps++] = ms;
    c->slept += ms;
    c->offset += ms;
    clock_sync(c);
}

static void clock_advance(fclock_t *c, int64_t ms)
{
    c->offset += ms;
    clock_sync(c);
}

/* Starts at the real time (the stand-in's rate-limit resets are real-time based). */
static void clock_init(fclock_t *c, standin_t *s)
{
    memset(c, 0, sizeof(*c));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->base = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    c->sync = s;
}

static gm_github_t *open_gh(standin_t *s, fclock_t *c, const char *etag_cache)
{
    gm_github_opts_t o = {.base_url = s->url,
                          .token = TOKEN,
                          .etag_cache = etag_cache,
                          .timeout_ms = 20000,
                          .now_ms = fake_now,
                          .sleep_ms = fake_sleep,
                          .clock_ctx = c};
    char err[256] = "";
    gm_github_t *gh = gm_github_open(&o, err, sizeof(err));
    cr_assert_not_null(gh, "%s", err);
    return gh;
}

/* ---- the fake ledger and receiver ------------------------------------------------------ */

typedef struct fake fake_t;
struct fake {
    json_t *known;     /* key → true */
    json_t *submitted; /* delivery id → times */
    json_t *order;     /* delivery ids in submission order */
    json_t *outcomes;  /* delivery id → outcome (default: STORED) */
    int default_outcome;
    bool fail_lookup;
    size_t lookups, max_batch;
    const char *repository;                 /* expected repository.full_name; NULL: any */
    void (*on_submit)(fake_t *f, size_t n); /* after the n-th submission (1-based) */
    void *user;
};

static void fake_init(fake_t *f)
{
    memset(f, 0, sizeof(*f));
    f->known = json_object();
    f->submitted = json_object();
    f->order = json_array();
    f->outcomes = json_object();
    f->default_outcome = GM_RECEIVER_STORED;
}

static void fake_free(fake_t *f)
{
    json_decref(f->known);
    json_decref(f->submitted);
    json_decref(f->order);
    json_decref(f->outcomes);
}

static void fake_know(fake_t *f, const char *key)
{
    json_object_set_new(f->known, key, json_true());
}

static int fake_lookup(void *ctx, const char *const *keys, size_t n, unsigned char *known, char *err, size_t errlen)
{
    fake_t *f = ctx;
    f->lookups++;
    if (n > f->max_batch)
        f->max_batch = n;
    if (f->fail_lookup) {
        snprintf(err, errlen, "table not reachable");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        known[i] = json_object_get(f->known, keys[i]) != NULL;
    return 0;
}

/* Takes the body as the receiver would: parsed by gm_payload_parse, a
 * record derived by gm_event_to_record for the run/job and attempt the
 * delivery id names; then records it as stored (or as the outcome set). */
static int fake_submit(void *ctx, const char *event, const char *delivery_id, const char *body, size_t len, char *err,
                       size_t errlen)
{
    fake_t *f = ctx;
    long long id = 0, attempt = 0;
    char kind[8] = "";
    cr_assert_eq(sscanf(delivery_id, "backfill-%3[a-z]-%lld-%lld", kind, &id, &attempt), 3, "%s", delivery_id);
    bool job = strcmp(kind, "job") == 0;
    cr_assert_str_eq(event, job ? "workflow_job" : "workflow_run");
    cr_assert_leq(strlen(delivery_id), 64);

    char reason[256] = "";
    json_t *tree = gm_payload_parse(body, len, reason, sizeof(reason));
    cr_assert_not_null(tree, "%s: the receiver would refuse: %s", delivery_id, reason);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(tree, "gha_metrics"), "source")), "backfill");
    gm_record_t rec;
    cr_assert_eq(gm_event_to_record(event, tree, &rec, reason, sizeof(reason)), GM_EVENT_RECORD, "%s: %s", delivery_id,
                 reason);
    cr_assert_eq(rec.kind, job ? GM_RECORD_JOB : GM_RECORD_RUN);
    cr_assert_eq(job ? rec.job_id : rec.run_id, id, "%s", delivery_id);
    cr_assert_eq(rec.run_attempt, attempt, "%s", delivery_id);
    if (f->repository != NULL)
        cr_assert_str_eq(rec.repository, f->repository);
    gm_record_clear(&rec);
    json_decref(tree);

    json_t *n = json_object_get(f->submitted, delivery_id);
    json_object_set_new(f->submitted, delivery_id, json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
    json_array_append_new(f->order, json_string(delivery_id));
    json_t *o = json_object_get(f->outcomes, delivery_id);
    int out = o != NULL ? (int)json_integer_value(o) : f->default_outcome;
    if (out == GM_RECEIVER_STORED || out == GM_RECEIVER_DUPLICATE) {
        char key[96];
        snprintf(key, sizeof(key), "%c:%lld:%lld", job ? 'j' : 'r', id, attempt);
        fake_know(f, key);
        snprintf(key, sizeof(key), "d:%s", delivery_id);
        fake_know(f, key);
    } else
        snprintf(err, errlen, "HTTP %d: test says no", out == GM_RECEIVER_REFUSED ? 400 : 503);
    if (f->on_submit != NULL)
        f->on_submit(f, json_array_size(f->order));
    return out;
}

static size_t fake_count(fake_t *f, const char *delivery_id)
{
    json_t *n = json_object_get(f->submitted, delivery_id);
    return n != NULL ? (size_t)json_integer_value(n) : 0;
}

/* Every delivery submitted at most once. */
static void assert_none_twice(fake_t *f)
{
    const char *k;
    json_t *v;
    json_object_foreach(f->submitted, k, v)
        cr_assert_eq(json_integer_value(v), 1, "%s submitted %lld times", k, (long long)json_integer_value(v));
}

/* ---- options ------------------------------------------------------------------------- */

#define SINCE_ISO "2026-11-01T00:00:00Z"
#define UNTIL_ISO "2026-11-03T00:00:00Z"

static int64_t iso_ms(const char *s)
{
    int64_t ms;
    cr_assert_eq(gm_time_parse_iso8601(s, &ms), 0, "%s", s);
    return ms;
}

static gm_backfill_opts_t base_opts(gm_github_t *gh, fake_t *f, fclock_t *c)
{
    return (gm_backfill_opts_t){.since_ms = iso_ms(SINCE_ISO),
                                .until_ms = iso_ms(UNTIL_ISO),
                                .gh = gh,
                                .lookup = fake_lookup,
                                .submit = fake_submit,
                                .ctx = f,
                                .now_ms = fake_now,
                                .sleep_ms = fake_sleep,
                                .clock_ctx = c};
}

static int run_backfill(const gm_backfill_opts_t *o, gm_backfill_summary_t *s)
{
    char err[512] = "";
    int rc = gm_backfill_run(o, s, err, sizeof(err));
    cr_assert(rc != 2, "options refused: %s", err);
    return rc;
}

/* The API requests the stand-in received (not /_control), as recorded. */
static json_t *api_requests(standin_t *s)
{
    return ctl(s, "requests", NULL);
}

static size_t count_route(json_t *reqs, const char *route)
{
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *rt = json_string_value(json_object_get(r, "route"));
        n += rt != NULL && strcmp(rt, route) == 0;
    }
    return n;
}

#endif
