/* The h2o front end: listeners, event-loop threads, signals, shutdown.
 *
 * Each loop thread owns one h2o context and one listening socket per
 * configured listener; the sockets share their port through SO_REUSEPORT,
 * so the kernel spreads connections and no thread hands work to another.
 * The main thread only waits for signals. */
#define _GNU_SOURCE
#include "gm/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/multithread.h>

#include "gm/alloc.h"
#include "gm/handlers.h"
#include "gm/log.h"
#include "gm/tls.h"
#include "gm/util.h"

typedef struct gm_server gm_server_t;

typedef struct {
    gm_server_t *server;
    unsigned index;
    pthread_t thread;
    h2o_context_t ctx;
    h2o_accept_ctx_t *accept; /* one per listener */
    h2o_socket_t **listeners; /* one per listener */
    h2o_multithread_receiver_t wake;
    size_t connections; /* touched only by this loop's thread */
} loop_t;

struct gm_server {
    gm_app_t *app;
    h2o_globalconf_t globalconf;
    size_t nlisteners;
    SSL_CTX **ssl;   /* per listener, NULL for plain HTTP */
    int *fds;        /* [loop * nlisteners + listener] */
    loop_t *loops;
    unsigned nloops;
};

/* --- listening sockets ---------------------------------------------------- */

static int bind_one(const gm_listen_t *l, uint16_t port, uint16_t *bound_port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(l->host, portstr, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", l->address, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto Error;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
        goto Error;
    if (ai->ai_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0)
        goto Error;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        goto Error;
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(ai);
    return fd;
Error:
    snprintf(err, errlen, "%s: cannot listen: %s", l->address, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

/* Binds every listener once per loop. Port 0 is resolved by the first bind
 * and reused for the others, so all loops share one kernel-chosen port. */
static int bind_all(gm_server_t *s, char *err, size_t errlen)
{
    const gm_config_t *cfg = s->app->cfg;
    for (size_t i = 0; i < s->nloops * s->nlisteners; i++)
        s->fds[i] = -1;
    for (size_t li = 0; li < s->nlisteners; li++) {
        const gm_listen_t *l = &cfg->server.listen[li];
        uint16_t port = l->port;
        for (unsigned t = 0; t < s->nloops; t++) {
            uint16_t bound = 0;
            int fd = bind_one(l, port, &bound, err, errlen);
            if (fd < 0)
                return -1;
            s->fds[t * s->nlisteners + li] = fd;
            port = bound;
        }
        json_t *f = json_object();
        char addr[300];
        snprintf(addr, sizeof(addr), strchr(l->host, ':') ? "[%s]:%u" : "%s:%u", l->host, port);
        json_object_set_new(f, "address", json_string(addr));
        json_object_set_new(f, "tls", json_boolean(l->tls_certificate != NULL));
        json_object_set_new(f, "http2", json_boolean(l->tls_certificate != NULL && cfg->server.http2));
        json_object_set_new(f, "threads", json_integer(s->nloops));
        gm_log_json(GM_LOG_INFO, "server", "listening", f);
    }
    return 0;
}

/* --- event loops ---------------------------------------------------------- */

static void on_connection_close(void *data)
{
    loop_t *loop = data;
    loop->connections--;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept = listener->data;
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, ctx, accept->ctx);
    if (err != NULL)
        return;
    /* Drain the backlog a little at a time so one busy listener cannot starve
     * the requests already on this loop. */
    for (int i = 0; i < 32; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        loop->connections++;
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = loop;
        h2o_accept(accept, sock);
    }
}

static void on_wake(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    (void)rx;
    /* The only messages are NULL wake-ups: the loop re-reads the stop flag. */
    (void)messages;
}

static void close_listeners(loop_t *loop)
{
    for (size_t i = 0; i < loop->server->nlisteners; i++) {
        if (loop->listeners[i] == NULL)
            continue;
        h2o_socket_read_stop(loop->listeners[i]);
        h2o_socket_close(loop->listeners[i]);
        loop->listeners[i] = NULL;
    }
}

static void *loop_main(void *arg)
{
    loop_t *loop = arg;
    gm_server_t *s = loop->server;
    gm_app_t *app = s->app;
    char name[16];
    snprintf(name, sizeof(name), "gm-loop-%u", loop->index);
    pthread_setname_np(pthread_self(), name);

    h2o_context_init(&loop->ctx, h2o_evloop_create(), &s->globalconf);
    h2o_multithread_register_receiver(loop->ctx.queue, &loop->wake, on_wake);
    for (size_t i = 0; i < s->nlisteners; i++) {
        loop->accept[i] = (h2o_accept_ctx_t){
            .ctx = &loop->ctx,
            .hosts = s->globalconf.hosts,
            .ssl_ctx = s->ssl[i],
        };
        h2o_socket_t *sock = h2o_evloop_socket_create(loop->ctx.loop, s->fds[loop->index * s->nlisteners + i],
                                                      H2O_SOCKET_FLAG_DONT_READ);
        s->fds[loop->index * s->nlisteners + i] = -1; /* the socket owns it now */
        sock->data = &loop->accept[i];
        h2o_socket_read_start(sock, on_accept);
        loop->listeners[i] = sock;
    }
    atomic_fetch_add(&app->loops_listening, 1);

    /* h2o_evloop_run returns -1 on EINTR as on real errors: loop on the flag. */
    while (!atomic_load(&app->stopping))
        h2o_evloop_run(loop->ctx.loop, INT32_MAX);

    /* Stop taking connections and let the open ones finish what they
     * started: h2o closes each HTTP/1 connection after its next answer and
     * sends GOAWAY on HTTP/2. 2.2.5 cannot tell an idle keep-alive connection
     * from one still uploading a body, so an idle one holds the loop until
     * its request_timeout or the shutdown_timeout, whichever comes first. */
    close_listeners(loop);
    atomic_fetch_sub(&app->loops_listening, 1);
    h2o_context_request_shutdown(&loop->ctx);
    int64_t deadline = (int64_t)(gm_mono_us() / 1000) + (int64_t)app->cfg->server.shutdown_timeout_ms;
    while ((loop->connections > 0 || atomic_load(&app->inflight) > 0) && (int64_t)(gm_mono_us() / 1000) < deadline)
        h2o_evloop_run(loop->ctx.loop, 50);
    h2o_multithread_unregister_receiver(loop->ctx.queue, &loop->wake);
    if (loop->connections == 0 && atomic_load(&app->inflight) == 0) {
        /* request_shutdown links h2o's HTTP/2 GOAWAY timer even when no
         * HTTP/2 connection exists, and context_dispose asserts that no timer
         * is linked. */
        if (h2o_timeout_is_linked(&loop->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&loop->ctx.http2._graceful_shutdown_timeout);
        h2o_evloop_t *evloop = loop->ctx.loop;
        h2o_multithread_queue_t *queue = loop->ctx.queue;
        h2o_context_dispose(&loop->ctx);
        h2o_evloop_destroy(evloop);
        /* 2.2.5's destroy_queue frees the queue only in its libuv build. */
        free(queue);
    } else {
        /* Disposing a context with live connections would free memory they
         * still use; the process is about to exit, which closes them. */
        GM_WARN("server", "loop %u: shutdown_timeout reached with %zu connections open; closing them", loop->index,
                loop->connections);
    }
    return NULL;
}

/* --- setup and teardown --------------------------------------------------- */

static void setup_globalconf(gm_server_t *s)
{
    const gm_config_t *cfg = s->app->cfg;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("gha-metrics"));
    s->globalconf.max_request_entity_size = (size_t)cfg->webhook.max_body;
    s->globalconf.http1.req_timeout = cfg->server.request_timeout_ms;
    s->globalconf.http1.upgrade_to_http2 = 0;
    s->globalconf.http2.idle_timeout = cfg->server.request_timeout_ms;
    s->globalconf.http2.graceful_shutdown_timeout = cfg->server.shutdown_timeout_ms;

    h2o_hostconf_t *host = h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    gm_webhook_register(host, s->app);
    gm_status_register(host, s->app);
    gm_errors_register(host, s->app); /* last: it takes every other path */
}

static void free_server(gm_server_t *s)
{
    for (size_t i = 0; i < s->nloops * s->nlisteners; i++)
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->ssl[i] != NULL)
            SSL_CTX_free(s->ssl[i]);
    for (unsigned t = 0; t < s->nloops; t++) {
        free(s->loops[t].accept);
        free(s->loops[t].listeners);
    }
    h2o_config_dispose(&s->globalconf);
    free(s->loops);
    free(s->fds);
    free(s->ssl);
}

static int wait_for_stop(gm_server_t *s, const sigset_t *signals)
{
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            char err[256];
            if (s->app->sink->ops->reopen != NULL && s->app->sink->ops->reopen(s->app->sink, err, sizeof(err)) != 0)
                GM_ERROR("server", "SIGHUP: %s", err);
            else
                GM_INFO("server", "SIGHUP: sink files reopened");
            continue;
        }
        GM_INFO("server", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return sig;
    }
}

int gm_server_run(gm_app_t *app, char *err, size_t errlen)
{
    const gm_config_t *cfg = app->cfg;
    gm_server_t s = {.app = app, .nlisteners = cfg->server.listen_count, .nloops = cfg->server.threads};
    if (s.nloops == 0)
        s.nloops = 1;
    app->loops_total = s.nloops;
    s.ssl = gm_calloc(s.nlisteners, sizeof(*s.ssl));
    s.fds = gm_calloc((size_t)s.nloops * s.nlisteners, sizeof(*s.fds));
    s.loops = gm_calloc(s.nloops, sizeof(*s.loops));
    setup_globalconf(&s);

    int rc = -1;
    for (size_t i = 0; i < s.nlisteners; i++) {
        const gm_listen_t *l = &cfg->server.listen[i];
        if (l->tls_certificate != NULL &&
            (s.ssl[i] = gm_tls_server_ctx(l->tls_certificate, l->tls_key, cfg->server.http2, err, errlen)) == NULL)
            goto Exit;
    }
    if (bind_all(&s, err, errlen) != 0)
        goto Exit;

    /* Threads inherit this mask: only the main thread's sigwait sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (unsigned t = 0; t < s.nloops; t++) {
        loop_t *loop = &s.loops[t];
        loop->server = &s;
        loop->index = t;
        loop->accept = gm_calloc(s.nlisteners, sizeof(*loop->accept));
        loop->listeners = gm_calloc(s.nlisteners, sizeof(*loop->listeners));
    }
    for (unsigned t = 0; t < s.nloops; t++)
        if (pthread_create(&s.loops[t].thread, NULL, loop_main, &s.loops[t]) != 0) {
            /* Nothing can run without its loops; treat as out of resources. */
            snprintf(err, errlen, "cannot start event-loop thread %u", t);
            atomic_store(&app->stopping, 1);
            for (unsigned k = 0; k < t; k++) {
                h2o_multithread_send_message(&s.loops[k].wake, NULL);
                pthread_join(s.loops[k].thread, NULL);
            }
            goto Exit;
        }

    /* A wake-up may only be sent to a registered receiver: wait until every
     * loop is up before a signal can ask them to stop. */
    while (atomic_load(&app->loops_listening) < s.nloops)
        usleep(1000);
    GM_INFO("server", "ready");
    wait_for_stop(&s, &signals);
    atomic_store(&app->stopping, 1);
    for (unsigned t = 0; t < s.nloops; t++)
        h2o_multithread_send_message(&s.loops[t].wake, NULL);
    for (unsigned t = 0; t < s.nloops; t++)
        pthread_join(s.loops[t].thread, NULL);
    rc = 0;
Exit:
    free_server(&s);
    return rc;
}
