/* gm_receiver: submissions against a small HTTP server started inside each
 * test (a thread on 127.0.0.1:0 that reads one request per connection,
 * checks X-Hub-Signature-256 with the webhook secret as the receiver does,
 * and answers from a script). Sleeps between retries are fake: recorded,
 * never waited. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/config.h"
#include "gm/receiver.h"
#include "gm/signature.h"

#define SECRET "s3cr3t-RECEIVER-webhook-secret"
#define BODY "{\"action\":\"completed\",\"workflow_run\":{\"id\":7,\"run_attempt\":1}}"

/* ---- fake sleep ------------------------------------------------------------- */

typedef struct {
    int64_t sleeps[16];
    size_t n;
} sleeps_t;

static void fake_sleep(void *ctx, int64_t ms)
{
    sleeps_t *s = ctx;
    if (s->n < 16)
        s->sleeps[s->n++] = ms;
}

/* ---- the test receiver --------------------------------------------------------- */

typedef struct {
    int status;          /* 0: close the connection without answering */
    const char *headers; /* extra header lines, each ending "\r\n" */
    const char *body;
} answer_t;

typedef struct {
    char method[16], path[256];
    char *event, *delivery, *signature, *agent, *ctype;
    char *body;
    int sig_ok; /* the signature verified with SECRET */
} got_t;

#define MAX_GOT 16

typedef struct {
    int lfd, port, wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    const answer_t *answers;
    size_t nanswers; /* past the end, the last answer repeats */
    got_t got[MAX_GOT];
    size_t ngot;
} srv_t;

static char *header(const char *head, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *l = head; *l != '\0';) {
        const char *eol = strstr(l, "\r\n");
        if (eol == NULL)
            break;
        if ((size_t)(eol - l) > nlen && strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            while (*v == ' ')
                v++;
            return gm_strndup(v, (size_t)(eol - v));
        }
        l = eol + 2;
    }
    return NULL;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void serve_one(srv_t *s, int fd)
{
    size_t cap = 1 << 16, len = 0, cl = 0;
    char *buf = gm_malloc(cap + 1), *end = NULL;
    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0)
            goto Done;
        len += (size_t)r;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *v = header(buf, "Content-Length");
            cl = v != NULL ? strtoul(v, NULL, 10) : 0;
            free(v);
        }
        if (end != NULL && len >= (size_t)(end + 4 - buf) + cl)
            break;
        if (len >= cap)
            goto Done;
    }
    got_t g = {0};
    sscanf(buf, "%15s %255s", g.method, g.path);
    end[2] = '\0'; /* the head, each line ending \r\n */
    g.event = header(buf, "X-GitHub-Event");
    g.delivery = header(buf, "X-GitHub-Delivery");
    g.signature = header(buf, "X-Hub-Signature-256");
    g.agent = header(buf, "User-Agent");
    g.ctype = header(buf, "Content-Type");
    g.body = gm_strndup(end + 4, cl);
    gm_secret_t sec = {.value = (unsigned char *)SECRET, .len = strlen(SECRET)};
    g.sig_ok = g.signature != NULL && gm_sig_verify(&sec, 1, g.signature, strlen(g.signature), end + 4, cl) == 0;

    pthread_mutex_lock(&s->mu);
    size_t i = s->ngot < s->nanswers ? s->ngot : s->nanswers - 1;
    answer_t a = s->answers[i];
    if (!g.sig_ok) /* what the receiver does, whatever the script says */
        a = (answer_t){401, "", "{\"error\":\"bad signature\"}"};
    if (s->ngot < MAX_GOT)
        s->got[s->ngot++] = g;
    pthread_mutex_unlock(&s->mu);

    if (a.status != 0) {
        const char *b = a.body != NULL ? a.body : "";
        char *resp = gm_asprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                 "Connection: close\r\n%s\r\n%s",
                                 a.status, strlen(b), a.headers != NULL ? a.headers : "", b);
        send_all(fd, resp, strlen(resp));
        free(resp);
    }
Done:
    free(buf);
    close(fd);
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->wake[0], .events = POLLIN}, {.fd = s->lfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[0].revents)
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0)
            serve_one(s, fd);
    }
    return NULL;
}

static srv_t *srv_start(const answer_t *answers, size_t n)
{
    srv_t *s = gm_calloc(1, sizeof(*s));
    s->answers = answers;
    s->nanswers = n;
    pthread_mutex_init(&s->mu, NULL);
    cr_assert_eq(pipe(s->wake), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(s->lfd, 16), 0);
    socklen_t alen = sizeof(a);
    cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

static void srv_stop(srv_t *s)
{
    cr_assert_eq(write(s->wake[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    for (size_t i = 0; i < s->ngot; i++) {
        got_t *g = &s->got[i];
        free(g->event);
        free(g->delivery);
        free(g->signature);
        free(g->agent);
        free(g->ctype);
        free(g->body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static size_t srv_ngot(srv_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->ngot;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static char url[96];

static gm_receiver_t *open_rx(srv_t *s, const char *secret, sleeps_t *sl)
{
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhook", s != NULL ? s->port : 9);
    gm_receiver_opts_t o = {.url = url,
                            .secret = (const unsigned char *)secret,
                            .secret_len = strlen(secret),
                            .timeout_ms = 5000,
                            .sleep_ms = fake_sleep,
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
    answer_t a[] = {{202, "", "{\"status\":\"accepted\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(gm_receiver_last_status(r), 202);
    cr_assert_eq(srv_ngot(s), 1);
    got_t *g = &s->got[0];
    cr_assert_str_eq(g->method, "POST");
    cr_assert_str_eq(g->path, "/webhook");
    cr_assert(g->sig_ok, "signature %s", g->signature);
    cr_assert_str_eq(g->event, "workflow_run");
    cr_assert_str_eq(g->delivery, "backfill-run-7-1");
    cr_assert_str_eq(g->ctype, "application/json");
    cr_assert_str_eq(g->body, BODY);
    cr_assert_eq(strncmp(g->agent, "gha-metrics-backfill/", 21), 0, "%s", g->agent);
    cr_assert_eq(sl.n, 0);

    /* The client is reusable: a second submission on the same handle. */
    cr_assert_eq(submit(r, "backfill-run-8-1", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(srv_ngot(s), 2);
    cr_assert_str_eq(s->got[1].delivery, "backfill-run-8-1");
    cr_assert_eq(gm_receiver_requests(r), 2);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, duplicate)
{
    answer_t a[] = {{200, "", "{\"status\":\"duplicate\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_DUPLICATE, "%s", err);
    cr_assert_eq(srv_ngot(s), 1);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, refused_is_final)
{
    answer_t a[] = {{400, "", "{\"error\":\"workflow_run.id: not an integer\",\"delivery\":\"backfill-run-7-1\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert(strstr(err, "400") != NULL, "%s", err);
    cr_assert(strstr(err, "not an integer") != NULL, "%s", err);
    assert_clean(err);
    cr_assert_eq(srv_ngot(s), 1); /* not retried */
    cr_assert_eq(sl.n, 0);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, wrong_secret_refused_without_echo)
{
    answer_t a[] = {{202, "", "{\"status\":\"accepted\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, "another-secret-XYZ", &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert_not(s->got[0].sig_ok);
    cr_assert(strstr(err, "401") != NULL && strstr(err, "bad signature") != NULL, "%s", err);
    cr_assert_null(strstr(err, "another-secret-XYZ"), "%s", err);
    assert_clean(err);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, ignored_event_refused)
{
    answer_t a[] = {{202, "", "{\"status\":\"ignored\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_REFUSED);
    cr_assert(strstr(err, "ignores") != NULL, "%s", err);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, retry_then_stored_honours_retry_after)
{
    answer_t a[] = {
        {503, "Retry-After: 3\r\n", "{\"error\":\"spool unavailable\"}"},
        {0, NULL, NULL}, /* connection closed, no answer */
        {502, "", ""},
        {429, "", "{\"error\":\"slow down\"}"},
        {202, "", "{\"status\":\"accepted\"}"},
    };
    srv_t *s = srv_start(a, 5);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-job-9-2", err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    cr_assert_eq(srv_ngot(s), 5);
    for (size_t i = 0; i < 5; i++) {
        cr_assert(s->got[i].sig_ok);
        cr_assert_str_eq(s->got[i].delivery, "backfill-job-9-2"); /* the same delivery: the receiver de-duplicates */
        cr_assert_str_eq(s->got[i].body, BODY);
    }
    cr_assert_eq(sl.n, 4);
    cr_assert_eq(sl.sleeps[0], 3000); /* Retry-After */
    cr_assert_eq(sl.sleeps[1], 1000); /* then the back-off: 0.5 s << attempt */
    cr_assert_eq(sl.sleeps[2], 2000);
    cr_assert_eq(sl.sleeps[3], 4000);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, error_after_retries)
{
    answer_t a[] = {{503, "", "{\"error\":\"spool unavailable\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
    gm_receiver_t *r = open_rx(s, SECRET, &sl);
    char err[256];
    cr_assert_eq(submit(r, "backfill-run-7-1", err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(srv_ngot(s), 5); /* 1 + 4 retries */
    cr_assert_eq(sl.n, 4);
    cr_assert_eq(sl.sleeps[0], 500);
    cr_assert_eq(sl.sleeps[3], 4000);
    cr_assert(strstr(err, "503") != NULL && strstr(err, "spool unavailable") != NULL, "%s", err);
    assert_clean(err);
    cr_assert_eq(gm_receiver_last_status(r), 503);
    gm_receiver_close(r);
    srv_stop(s);
}

Test(receiver, nothing_listening_is_an_error)
{
    /* A port that was just free: bind, read the port, close. */
    srv_t *s = srv_start((answer_t[]){{202, "", "{}"}}, 1);
    int port = s->port;
    srv_stop(s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/webhook", port);
    sleeps_t sl = {0};
    gm_receiver_opts_t o = {.url = url,
                            .secret = (const unsigned char *)SECRET,
                            .secret_len = strlen(SECRET),
                            .max_retries = 2,
                            .sleep_ms = fake_sleep,
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
    answer_t a[] = {{202, "", "{\"status\":\"accepted\"}"}};
    srv_t *s = srv_start(a, 1);
    sleeps_t sl = {0};
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
    cr_assert_eq(srv_ngot(s), 0);
    memset(long_id, 'a', 64);
    long_id[64] = '\0';
    cr_assert_eq(submit(r, long_id, err, sizeof(err)), GM_RECEIVER_STORED, "%s", err);
    gm_receiver_close(r);
    srv_stop(s);
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
    sleeps_t sl = {0};
    gm_receiver_opts_t o = {.url = "http://127.0.0.1:9/webhook", .secret = (const unsigned char *)"k",
                            .secret_len = 1, .sleep_ms = fake_sleep, .clock_ctx = &sl};
    char err[512];
    gm_receiver_t *r = gm_receiver_open(&o, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(gm_receiver_submit(r, "workflow_run", "d1", "{}", 2, err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(gm_receiver_requests(r), 5, "the first tries 1 + 4 retries");
    cr_assert_eq(gm_receiver_submit(r, "workflow_run", "d2", "{}", 2, err, sizeof(err)), GM_RECEIVER_ERROR);
    cr_assert_eq(gm_receiver_requests(r), 6, "the next one tries once");
    cr_assert_eq(sl.n, 4, "only the first waited");
    gm_receiver_close(r);
}
