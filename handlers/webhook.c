/* POST {webhook.path}: the receiver.
 *
 * The order of checks is deliberate: nothing about the body is looked at
 * until the signature holds, so an unauthenticated sender learns only "401"
 * however malformed its request; the cheap header checks come next, and
 * parsing last. h2o has already refused bodies over webhook.max_body (413)
 * from their Content-Length, before reading them (see errors.c). */
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gm/handlers.h"
#include "gm/log.h"
#include "gm/signature.h"

typedef struct {
    h2o_handler_t super;
    gm_app_t *app;
} webhook_handler_t;

typedef enum { BODY_JSON, BODY_FORM, BODY_UNSUPPORTED } body_type_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
    h2o_req_t *req;
    uint64_t started_us;
    gm_event_kind_t kind;
    const char *event;    /* sanitized for the log, never NULL */
    const char *delivery; /* sanitized, may be NULL */
} exchange_t;

static void finish(exchange_t *x, gm_outcome_t outcome, const gm_proc_result_t *res, const char *reason)
{
    uint64_t elapsed = now_us() - x->started_us;
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
    json_object_set_new(f, "status", json_integer(x->req->res.status));
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
        .started_us = now_us(),
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
    gm_processor_handle(&app->processor, &d, &res);
    switch (res.status) {
    case GM_PROC_RECORDED:
    case GM_PROC_NO_RECORD:
        respond_status(req, 202, "Accepted", "accepted");
        finish(&x, GM_OUT_ACCEPTED, &res, res.status == GM_PROC_NO_RECORD ? res.reason : NULL);
        break;
    case GM_PROC_PING:
        respond_status(req, 200, "OK", "ok");
        finish(&x, GM_OUT_ACCEPTED, &res, NULL);
        break;
    case GM_PROC_IGNORED:
        respond_status(req, 202, "Accepted", "ignored");
        finish(&x, GM_OUT_IGNORED, &res, NULL);
        break;
    case GM_PROC_INVALID:
        gm_respond_error(req, 400, "Bad Request", res.reason);
        finish(&x, GM_OUT_BAD_REQUEST, &res, res.reason);
        break;
    case GM_PROC_FAILED:
        /* 503 shows as a failed delivery on GitHub, which can redeliver it. */
        gm_respond_error(req, 503, "Service Unavailable", "cannot store the delivery now; redeliver later");
        finish(&x, GM_OUT_UNAVAILABLE, &res, res.reason);
        break;
    }
    return 0;
}

void gm_webhook_register(h2o_hostconf_t *host, gm_app_t *app)
{
    h2o_pathconf_t *path = h2o_config_register_path(host, app->cfg->webhook.path, 0);
    webhook_handler_t *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->app = app;
}
