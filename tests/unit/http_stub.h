/* A scripted HTTP/1.1 server for the unit suites that talk to one
 * (test_aws.c, test_github.c, test_receiver.c): a thread on 127.0.0.1 at a
 * free port that records every request and answers from a list of routes.
 *
 * Routes are tried in order: the first whose method and path match and that
 * has answers left takes the request. A request no route takes is answered
 * with the no_route status and an empty body. Connections are kept alive
 * unless one_per_conn; "Expect: 100-continue" gets its interim answer;
 * request bodies need a Content-Length.
 *
 * The server thread never asserts: what goes wrong on its side (too many
 * requests, connections or headers, a chunked body) is kept in `problem`,
 * which stub_stop asserts empty. A hook runs in that thread too, so the same
 * holds for it.
 *
 * Also here: the fake clock and sleep the clients take, and a port nothing
 * listens on. Everything is static; each suite includes this once. */
#ifndef HTTP_STUB_H
#define HTTP_STUB_H

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gm/alloc.h"

/* Not every suite uses every function. */
#define STUB_FN static __attribute__((unused))

#define STUB_MAX_ROUTES 16
#define STUB_MAX_REQS 64
#define STUB_MAX_CONNS 16
#define STUB_MAX_HEADERS 48

typedef enum {
    STUB_ANSWER, /* status, headers, body */
    STUB_CLOSE,  /* close the connection without answering */
    STUB_HANG    /* read nothing more on that connection, never answer */
} stub_action_t;

typedef struct {
    const char *method;  /* NULL: any */
    const char *path;    /* NULL: any; else the request target, query included; ending in '*': a prefix */
    int times;           /* 0: forever; else that many requests, then the routes after it take them */
    int status;          /* with STUB_ANSWER */
    const char *headers; /* extra response header lines, each ending "\r\n"; "$PORT" becomes the port */
    const char *body;    /* NULL: empty */
    stub_action_t action;
    size_t big; /* > 0: a body of this many 'x' instead */
} stub_route_t;

typedef struct {
    char method[16];
    char path[512];
    size_t nheaders;
    const char *name[STUB_MAX_HEADERS], *value[STUB_MAX_HEADERS]; /* values trimmed; both in hbuf */
    char *hbuf;
    char *body; /* body_len bytes, then a NUL */
    size_t body_len;
    int conn; /* which connection (1, 2, ... in the order accepted) */
} stub_req_t;

/* Called in the server thread for each request, with the route that took it
 * (NULL: none): returns the route to answer with (NULL: the no_route
 * answer). Must not assert. */
typedef const stub_route_t *(*stub_hook_t)(void *ctx, const stub_req_t *req, const stub_route_t *route);

typedef struct {
    int no_route;      /* the status when no route takes a request; 0: 404 */
    bool one_per_conn; /* answer with "Connection: close", then close */
    stub_hook_t hook;
    void *hook_ctx;
} stub_opts_t;

typedef struct {
    int port;
    int nconns; /* connections accepted */
    stub_opts_t opts;
    int lfd, wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    stub_route_t routes[STUB_MAX_ROUTES];
    int used[STUB_MAX_ROUTES];
    size_t nroutes;
    stub_req_t reqs[STUB_MAX_REQS];
    size_t nreqs;
    char problem[256]; /* the first one */
} stub_t;

typedef struct {
    int fd, id;
    bool hung, continued; /* continued: "100 Continue" sent for the current request */
    char *buf;
    size_t len, cap;
    stub_req_t req; /* the current request, once its head is in (total > 0) */
    size_t head_len, total;
} stub_conn_t;

/* ---- requests ------------------------------------------------------------- */

/* The value of a header of r (the first of that name), or NULL. */
STUB_FN const char *stub_header(const stub_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->name[i], name) == 0)
            return r->value[i];
    return NULL;
}

STUB_FN void stub_assert_header(const stub_req_t *r, const char *name, const char *want)
{
    const char *v = stub_header(r, name);
    cr_assert_not_null(v, "no %s header in %s %s", name, r->method, r->path);
    cr_assert_str_eq(v, want, "%s: %s", name, v);
}

static bool stub_match(const char *method, const char *path, const stub_req_t *r)
{
    if (method != NULL && strcmp(method, r->method) != 0)
        return false;
    if (path == NULL)
        return true;
    size_t n = strlen(path);
    return n > 0 && path[n - 1] == '*' ? strncmp(path, r->path, n - 1) == 0 : strcmp(path, r->path) == 0;
}

/* How many requests matched method and path (NULL: any; '*' ends a prefix). */
STUB_FN size_t stub_count(stub_t *s, const char *method, const char *path)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nreqs; i++)
        n += stub_match(method, path, &s->reqs[i]);
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The k-th (0-based) request that matched method and path; asserts there is one. */
STUB_FN const stub_req_t *stub_find(stub_t *s, const char *method, const char *path, size_t k)
{
    const stub_req_t *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0, left = k; i < s->nreqs && found == NULL; i++)
        if (stub_match(method, path, &s->reqs[i]) && left-- == 0)
            found = &s->reqs[i];
    pthread_mutex_unlock(&s->mu);
    cr_assert_not_null(found, "no request #%zu %s %s", k, method ? method : "*", path ? path : "*");
    return found;
}

STUB_FN size_t stub_nreqs(stub_t *s)
{
    return stub_count(s, NULL, NULL);
}

/* The i-th request received. */
STUB_FN const stub_req_t *stub_req(stub_t *s, size_t i)
{
    return stub_find(s, NULL, NULL, i);
}

/* ---- the server thread ------------------------------------------------------ */

static void stub_problem(stub_t *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->mu);
    if (s->problem[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->mu);
}

static void stub_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client went away (e.g. gave up on a large body) */
        p += w;
        n -= (size_t)w;
    }
}

static char *stub_subst_port(const char *text, int port)
{
    char *out = gm_strdup(text);
    for (char *p; (p = strstr(out, "$PORT")) != NULL;) {
        char *n = gm_asprintf("%.*s%d%s", (int)(p - out), out, port, p + 5);
        free(out);
        out = n;
    }
    return out;
}

/* The header lines of r from head (each ending "\r\n"). */
static void stub_parse_headers(stub_t *s, stub_req_t *r, const char *head, size_t len)
{
    r->hbuf = gm_strndup(head, len);
    for (char *l = r->hbuf, *eol; (eol = strstr(l, "\r\n")) != NULL; l = eol + 2) {
        *eol = '\0';
        char *colon = strchr(l, ':'), *v, *e;
        if (colon == NULL)
            continue;
        if (r->nheaders == STUB_MAX_HEADERS) {
            stub_problem(s, "more than %d headers in %s %s", STUB_MAX_HEADERS, r->method, r->path);
            break;
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        for (e = eol; e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
            ;
        *e = '\0';
        r->name[r->nheaders] = l;
        r->value[r->nheaders++] = v;
    }
}

static void stub_req_free(stub_req_t *r)
{
    free(r->hbuf);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Answers the complete request c->req; returns what it took of c->buf, or -1 to close. */
static long stub_answer(stub_t *s, stub_conn_t *c)
{
    stub_req_t r = c->req;
    size_t cl = c->total - c->head_len;
    long total = (long)c->total;
    c->req = (stub_req_t){0};
    c->total = 0;
    c->continued = false;
    r.body = gm_malloc(cl + 1);
    memcpy(r.body, c->buf + c->head_len, cl);
    r.body[cl] = '\0';
    r.body_len = cl;
    r.conn = c->id;

    pthread_mutex_lock(&s->mu);
    const stub_route_t *route = NULL;
    for (size_t i = 0; i < s->nroutes && route == NULL; i++) {
        const stub_route_t *rt = &s->routes[i];
        if (stub_match(rt->method, rt->path, &r) && (rt->times == 0 || s->used[i] < rt->times)) {
            s->used[i]++;
            route = rt;
        }
    }
    bool kept = s->nreqs < STUB_MAX_REQS;
    if (kept)
        s->reqs[s->nreqs++] = r; /* the buffers are shared with r until stub_stop */
    pthread_mutex_unlock(&s->mu);
    if (!kept)
        stub_problem(s, "more than %d requests", STUB_MAX_REQS);
    if (s->opts.hook != NULL)
        route = s->opts.hook(s->opts.hook_ctx, &r, route);
    if (!kept)
        stub_req_free(&r);

    if (route != NULL && route->action == STUB_CLOSE)
        return -1;
    if (route != NULL && route->action == STUB_HANG) {
        c->hung = true;
        return total;
    }
    int status = route != NULL ? route->status : s->opts.no_route != 0 ? s->opts.no_route : 404;
    const char *body = route != NULL && route->body != NULL ? route->body : "";
    size_t big = route != NULL ? route->big : 0, blen = big ? big : strlen(body);
    char *hdrs = stub_subst_port(route != NULL && route->headers != NULL ? route->headers : "", s->port);
    char *head = gm_asprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s%s\r\n",
                             status, blen, s->opts.one_per_conn ? "Connection: close\r\n" : "", hdrs);
    stub_send(c->fd, head, strlen(head));
    if (big) {
        char *b = gm_malloc(big);
        memset(b, 'x', big);
        stub_send(c->fd, b, big);
        free(b);
    } else {
        stub_send(c->fd, body, blen);
    }
    free(head);
    free(hdrs);
    return s->opts.one_per_conn ? -1 : total;
}

/* Handles the request at the start of c->buf: returns the bytes it took, 0
 * while it is not complete, -1 to close. */
static long stub_handle(stub_t *s, stub_conn_t *c)
{
    if (c->total == 0) {
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n"), *line_end = strstr(c->buf, "\r\n");
        if (end == NULL)
            return 0;
        sscanf(c->buf, "%15s %511s", c->req.method, c->req.path);
        stub_parse_headers(s, &c->req, line_end + 2, (size_t)(end + 2 - (line_end + 2)));
        if (stub_header(&c->req, "Transfer-Encoding") != NULL) {
            stub_problem(s, "%s %s: a body without Content-Length", c->req.method, c->req.path);
            return -1;
        }
        const char *cl = stub_header(&c->req, "Content-Length");
        c->head_len = (size_t)(end + 4 - c->buf);
        c->total = c->head_len + (cl != NULL ? strtoul(cl, NULL, 10) : 0);
    }
    if (c->len >= c->total)
        return stub_answer(s, c);
    const char *expect = stub_header(&c->req, "Expect");
    if (!c->continued && expect != NULL && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        stub_send(c->fd, cont, sizeof(cont) - 1);
        c->continued = true;
    }
    return 0;
}

static void stub_conn_close(stub_conn_t *c)
{
    close(c->fd);
    free(c->buf);
    stub_req_free(&c->req);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void stub_accept(stub_t *s, stub_conn_t *conns)
{
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return;
    for (int i = 0; i < STUB_MAX_CONNS; i++)
        if (conns[i].fd < 0) {
            pthread_mutex_lock(&s->mu);
            int id = ++s->nconns;
            pthread_mutex_unlock(&s->mu);
            conns[i] = (stub_conn_t){.fd = fd, .id = id, .cap = 65536, .buf = gm_malloc(65537)};
            return;
        }
    stub_problem(s, "more than %d connections open", STUB_MAX_CONNS);
    close(fd);
}

/* Reads what came on c and handles every complete request in it. */
static void stub_read(stub_t *s, stub_conn_t *c)
{
    if (c->len == c->cap) {
        c->cap *= 2;
        c->buf = gm_realloc(c->buf, c->cap + 1);
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r <= 0) {
        stub_conn_close(c);
        return;
    }
    c->len += (size_t)r;
    long used;
    while (c->fd >= 0 && !c->hung && (used = stub_handle(s, c)) != 0) {
        if (used < 0) {
            stub_conn_close(c);
            return;
        }
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
    }
}

static void *stub_main(void *arg)
{
    stub_t *s = arg;
    stub_conn_t conns[STUB_MAX_CONNS];
    for (int i = 0; i < STUB_MAX_CONNS; i++)
        conns[i] = (stub_conn_t){.fd = -1};
    for (;;) {
        struct pollfd p[2 + STUB_MAX_CONNS];
        int map[2 + STUB_MAX_CONNS], n = 0;
        p[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        p[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        for (int i = 0; i < STUB_MAX_CONNS; i++)
            if (conns[i].fd >= 0 && !conns[i].hung) {
                map[n] = i;
                p[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
            }
        if (poll(p, (nfds_t)n, -1) < 0)
            continue;
        if (p[0].revents)
            break;
        if (p[1].revents & POLLIN)
            stub_accept(s, conns);
        for (int k = 2; k < n; k++)
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR))
                stub_read(s, &conns[map[k]]);
    }
    for (int i = 0; i < STUB_MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            stub_conn_close(&conns[i]);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------ */

/* A listening socket on 127.0.0.1 at a free port (written to *port). */
static int stub_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port that was free a moment ago: nothing listens there. */
STUB_FN int stub_free_port(void)
{
    int port;
    close(stub_listen(&port));
    return port;
}

/* Starts a server answering from routes[0..n) (copied); opts NULL: the defaults. */
STUB_FN stub_t *stub_start(const stub_route_t *routes, size_t n, const stub_opts_t *opts)
{
    cr_assert(n <= STUB_MAX_ROUTES);
    stub_t *s = gm_calloc(1, sizeof(*s));
    if (n > 0)
        memcpy(s->routes, routes, n * sizeof(*routes));
    s->nroutes = n;
    if (opts != NULL)
        s->opts = *opts;
    pthread_mutex_init(&s->mu, NULL);
    cr_assert_eq(pipe(s->wake), 0);
    s->lfd = stub_listen(&s->port);
    cr_assert_eq(listen(s->lfd, 16), 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, stub_main, s), 0);
    return s;
}

/* Stops the server, frees what it recorded, and asserts it had no problem. */
STUB_FN void stub_stop(stub_t *s)
{
    cr_assert_eq(write(s->wake[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    for (size_t i = 0; i < s->nreqs; i++)
        stub_req_free(&s->reqs[i]);
    pthread_mutex_destroy(&s->mu);
    char problem[sizeof(s->problem)];
    memcpy(problem, s->problem, sizeof(problem));
    free(s);
    cr_assert_str_empty(problem, "the test server: %s", problem);
}

/* ---- fake clock --------------------------------------------------------------- */

/* For a client's now_ms / sleep_ms with this as their context: sleeps are
 * recorded (the first 32) and move the clock, never waited. */
typedef struct {
    int64_t now;
    int64_t sleeps[32];
    size_t nsleeps;
} stub_clock_t;

STUB_FN int64_t stub_now(void *ctx)
{
    return ((stub_clock_t *)ctx)->now;
}

STUB_FN void stub_sleep(void *ctx, int64_t ms)
{
    stub_clock_t *c = ctx;
    if (c->nsleeps < 32)
        c->sleeps[c->nsleeps++] = ms;
    c->now += ms;
}

#endif
