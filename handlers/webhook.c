/* POST {webhook.path}: the receiver.
 *
 * The order of checks is deliberate: nothing about the body is looked at
 * until the signature holds, so an unauthenticated sender learns only "401"
 * however malformed its request; the cheap header checks come next, and
 * parsing last. h2o has already refused bodies over webhook.max_body (413)
 * from their Content-Length, before reading them (see errors.c).
 *
 * A valid workflow_run / workflow_job delivery is then claimed in the ledger
 * by its delivery id (a second copy is answered "duplicate"), appended to the
 * spool, and answered 202 only when the spool's sync thread reports it on
 * disk. That report arrives on the sync thread; it is posted back to this
 * loop, where the request lives. The request may be gone by then (the client
 * hung up): a pool-allocated link between the two tells either side whether
 * the other still exists. */
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gm/alloc.h"
#include "gm/handlers.h"
#include "gm/log.h"
#include "gm/signature.h"
#include "gm/util.h"

typedef struct {
    h2o_handler_t super;
    gm_app_t *app;
} webhook_handler_t;

/* Per event loop: where sync reports are posted. */
typedef struct {
    h2o_multithread_receiver_t rx;
} loop_state_t;

typedef enum { BODY_JSON, BODY_FORM, BODY_UNSUPPORTED } body_type_t;

static h2o_iovec_t header(h2o_req_t *req, const char *lower_name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, lower_name, len, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

static body_type_t body_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return BODY_UNSUPPORTED;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = 0;
    while (n < v.len && v.base[n] != ';' && v.base[n] != ' ' && v.base[n] != '\t')
        n++;
    if (n == 16 && strncasecmp(v.base, "application/json", 16) == 0)
        return BODY_JSON;
    if (n == 33 && strncasecmp(v.base, "application/x-www-form-urlencoded", 33) == 0)
        return BODY_FORM;
    return BODY_UNSUPPORTED;
}

/* Header values that are safe to copy into a log line or a C string. */
static int is_token(h2o_iovec_t v, size_t max)
{
    if (v.len == 0 || v.len > max)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

typedef struct {
    gm_app_t *app;
    h2o_req_t *req; /* NULL once the request is gone */
    uint64_t started_us;
    gm_event_kind_t kind;
    const char *event;    /* sanitized for the log, never NULL */
    const char *delivery; /* sanitized, may be NULL */
} exchange_t;

/* A delivery waiting for its sync. Heap-allocated: it may outlive the
 * request. Touched by the sync thread only through `waiter` and `msg`. */
typedef struct pending pending_t;
typedef struct {
    pending_t *pending; /* NULL once the report has been handled */
} pending_link_t;
struct pending {
    gm_spool_waiter_t waiter;
    h2o_multithread_message_t msg;
    loop_state_t *loop;
    pending_link_t *link; /* in the request's pool; NULL once the request is gone */
    exchange_t x;
    gm_proc_result_t res;
    uint64_t delivery_key;
    int ok;
    char event[65], delivery[65];
};

static void finish(exchange_t *x, gm_outcome_t outcome, const gm_proc_result_t *res, const char *reason)
{
    uint64_t elapsed = gm_mono_us() - x->started_us;
    gm_metrics_count_delivery(&x->app->metrics, x->kind, outcome, elapsed);
    gm_log_level_t level = outcome == GM_OUT_UNAVAILABLE ? GM_LOG_ERROR : GM_LOG_INFO;
    if (!gm_log_enabled(level))
        return;
    json_t *f = json_object();
    json_object_set_new(f, "delivery", x->delivery ? json_string(x->delivery) : json_null());
    json_object_set_new(f, "event", json_string(x->event));
    if (res != NULL && res->action[0] != '\0')
        json_object_set_new(f, "action", json_string(res->action));
    if (res != NULL && res->repository[0] != '\0')
        json_object_set_new(f, "repository", json_string(res->repository));
    json_object_set_new(f, "outcome", json_string(gm_metrics_outcome_name(outcome)));
    if (x->req != NULL)
        json_object_set_new(f, "status", json_integer(x->req->res.status));
    else
        json_object_set_new(f, "client", json_string("gone before the answer"));
    if (reason != NULL && reason[0] != '\0')
        json_object_set_new(f, "reason", json_string(reason));
    if (res != NULL && res->anomalies != 0) {
        json_t *a = json_array();
        for (unsigned i = 0; i < GM_ANOMALY_COUNT; i++)
            if (res->anomalies & (1u << i))
                json_array_append_new(a, json_string(gm_anomaly_name(i)));
        json_object_set_new(f, "anomalies", a);
    }
    json_object_set_new(f, "us", json_integer((json_int_t)elapsed));
    gm_log_json(level, "webhook", "delivery", f);
}

static void reject(exchange_t *x, int status, const char *http_reason, const char *error, gm_outcome_t outcome)
{
    gm_respond_error(x->req, status, http_reason, error);
    finish(x, outcome, NULL, error);
}

static void respond_status(h2o_req_t *req, int status, const char *reason, const char *what)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(what));
    gm_respond_json(req, status, reason, o);
}

static void spool_delivery(webhook_handler_t *self, exchange_t *x, const gm_delivery_t *d,
                           const gm_proc_result_t *res);

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    webhook_handler_t *self = (void *)_self;
    gm_app_t *app = self->app;
    const gm_config_t *cfg = app->cfg;

    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, cfg->webhook.path,
                   strlen(cfg->webhook.path))) {
        gm_respond_error(req, 404, "Not Found", "not found");
        return 0;
    }

    h2o_iovec_t ev = header(req, H2O_STRLIT("x-github-event"));
    exchange_t x = {
        .app = app,
        .req = req,
        .started_us = gm_mono_us(),
        .kind = gm_request_event_kind(req),
        .event = is_token(ev, 64) ? h2o_strdup(&req->pool, ev.base, ev.len).base : (ev.len ? "invalid" : "none"),
        .delivery = gm_request_delivery_id(req),
    };

    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
        reject(&x, 405, "Method Not Allowed", "method not allowed: use POST", GM_OUT_METHOD_NOT_ALLOWED);
        return 0;
    }
    const void *body = req->entity.base != NULL ? req->entity.base : "";
    size_t len = req->entity.base != NULL ? req->entity.len : 0;
    if (len > cfg->webhook.max_body) { /* h2o caught it already unless framing hid the size */
        reject(&x, 413, "Payload Too Large", "payload too large", GM_OUT_TOO_LARGE);
        return 0;
    }

    h2o_iovec_t sig = header(req, H2O_STRLIT("x-hub-signature-256"));
    if (gm_sig_verify(cfg->webhook.secrets, cfg->webhook.secret_count, sig.base, sig.len, body, len) < 0) {
        reject(&x, 401, "Unauthorized", sig.base ? "signature does not match" : "missing X-Hub-Signature-256",
               GM_OUT_BAD_SIGNATURE);
        return 0;
    }

    body_type_t type = body_type(req);
    if (type == BODY_UNSUPPORTED) {
        reject(&x, 415, "Unsupported Media Type",
               "content type must be application/json or application/x-www-form-urlencoded",
               GM_OUT_UNSUPPORTED_MEDIA_TYPE);
        return 0;
    }
    if (!is_token(ev, 64)) {
        reject(&x, 400, "Bad Request", ev.base ? "malformed X-GitHub-Event" : "missing X-GitHub-Event",
               GM_OUT_BAD_REQUEST);
        return 0;
    }
    if (x.delivery == NULL) {
        h2o_iovec_t d = header(req, H2O_STRLIT("x-github-delivery"));
        reject(&x, 400, "Bad Request", d.base ? "malformed X-GitHub-Delivery" : "missing X-GitHub-Delivery",
               GM_OUT_BAD_REQUEST);
        return 0;
    }

    gm_delivery_t d = {
        .event = x.event,
        .delivery = x.delivery,
        .body = body,
        .len = len,
        .form_encoded = type == BODY_FORM,
    };
    gm_proc_result_t res;
    gm_processor_validate(&d, &res);
    switch (res.status) {
    case GM_PROC_PING:
        respond_status(req, 200, "OK", "ok");
        finish(&x, GM_OUT_ACCEPTED, &res, NULL);
        return 0;
    case GM_PROC_IGNORED:
        respond_status(req, 202, "Accepted", "ignored");
        finish(&x, GM_OUT_IGNORED, &res, NULL);
        return 0;
    case GM_PROC_INVALID:
        gm_respond_error(req, 400, "Bad Request", res.reason);
        finish(&x, GM_OUT_BAD_REQUEST, &res, res.reason);
        return 0;
    default:
        break;
    }
    spool_delivery(self, &x, &d, &res);
    return 0;
}

static void on_link_dispose(void *p)
{
    pending_link_t *link = p;
    if (link->pending != NULL) {
        link->pending->link = NULL;
        link->pending->x.req = NULL;
    }
}

/* On the sync thread: hand the report to the request's loop. */
static void on_synced(gm_spool_waiter_t *w, int ok)
{
    pending_t *p = (pending_t *)w;
    p->ok = ok;
    h2o_multithread_send_message(&p->loop->rx, &p->msg);
}

/* On the loop: answer the deliveries whose sync is done. */
static void on_sync_reports(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    (void)rx;
    while (!h2o_linklist_is_empty(messages)) {
        pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, msg.link, messages->next);
        h2o_linklist_unlink(&p->msg.link);
        atomic_fetch_sub(&p->x.app->inflight, 1);
        if (p->link != NULL)
            p->link->pending = NULL;
        if (!p->ok)
            gm_ledger_unclaim(p->x.app->ledger, p->delivery_key);
        if (p->x.req != NULL) {
            if (p->ok)
                respond_status(p->x.req, 202, "Accepted", "accepted");
            else
                gm_respond_error(p->x.req, 503, "Service Unavailable", "cannot store the delivery now; redeliver later");
        }
        finish(&p->x, p->ok ? GM_OUT_ACCEPTED : GM_OUT_UNAVAILABLE, &p->res,
               p->ok ? (p->res.status == GM_PROC_NO_RECORD ? p->res.reason : NULL) : "spool sync failed");
        free(p);
    }
}

static void spool_delivery(webhook_handler_t *self, exchange_t *x, const gm_delivery_t *d, const gm_proc_result_t *res)
{
    gm_app_t *app = self->app;
    h2o_req_t *req = x->req;
    int64_t now = gm_wall_ms();
    uint64_t key = gm_ledger_key_delivery(x->delivery, strlen(x->delivery));
    /* GitHub keeps the id on a redelivery: the second copy is already counted. */
    if (!gm_ledger_claim(app->ledger, key, now)) {
        atomic_fetch_add_explicit(&app->metrics.duplicates[GM_DUP_DELIVERY], 1, memory_order_relaxed);
        respond_status(req, 200, "OK", "duplicate");
        finish(x, GM_OUT_DUPLICATE, res, NULL);
        return;
    }

    pending_t *p = gm_calloc(1, sizeof(*p));
    atomic_fetch_add(&app->inflight, 1);
    p->waiter.on_synced = on_synced;
    p->loop = h2o_context_get_handler_context(req->conn->ctx, &self->super);
    p->x = *x;
    snprintf(p->event, sizeof(p->event), "%s", x->event);
    snprintf(p->delivery, sizeof(p->delivery), "%s", x->delivery);
    p->x.event = p->event;
    p->x.delivery = p->delivery;
    p->res = *res;
    p->delivery_key = key;

    gm_spool_entry_t e = {
        .received_at_ms = now,
        .form_encoded = d->form_encoded,
        /* Most deliveries (requested, queued, in_progress, waiting) make no
         * record; saying so spares the pipeline a second parse. A completed
         * one that made none is parsed again, so its anomalies are counted. */
        .no_record = res->status == GM_PROC_NO_RECORD && strcmp(res->action, "completed") != 0,
        .event = p->event,
        .event_len = (uint8_t)strlen(p->event),
        .delivery = p->delivery,
        .delivery_len = (uint8_t)strlen(p->delivery),
        .body = d->body,
        .body_len = (uint32_t)d->len,
    };
    char err[256];
    if (gm_spool_append(app->spool, &e, &p->waiter, err, sizeof(err)) != 0) {
        atomic_fetch_sub(&app->inflight, 1);
        gm_ledger_unclaim(app->ledger, key);
        GM_ERROR("webhook", "spool: %s", err);
        gm_respond_error(req, 503, "Service Unavailable", "cannot store the delivery now; redeliver later");
        finish(x, GM_OUT_UNAVAILABLE, res, "spool refused the delivery");
        free(p);
        return;
    }
    /* From here the sync thread may report at any moment, but the report is
     * handled on this loop, after this function returns. */
    p->link = h2o_mem_alloc_shared(&req->pool, sizeof(*p->link), on_link_dispose);
    p->link->pending = p;
}

static void on_context_init(h2o_handler_t *self, h2o_context_t *ctx)
{
    loop_state_t *loop = gm_calloc(1, sizeof(*loop));
    h2o_multithread_register_receiver(ctx->queue, &loop->rx, on_sync_reports);
    h2o_context_set_handler_context(ctx, self, loop);
}

static void on_context_dispose(h2o_handler_t *self, h2o_context_t *ctx)
{
    loop_state_t *loop = h2o_context_get_handler_context(ctx, self);
    h2o_multithread_unregister_receiver(ctx->queue, &loop->rx);
    free(loop);
}

void gm_webhook_register(h2o_hostconf_t *host, gm_app_t *app)
{
    h2o_pathconf_t *path = h2o_config_register_path(host, app->cfg->webhook.path, 0);
    webhook_handler_t *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->super.on_context_init = on_context_init;
    h->super.on_context_dispose = on_context_dispose;
    h->app = app;
}
