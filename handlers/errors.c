/* The last resort for requests nothing else took, and for the errors h2o
 * answers on its own before a request reaches a handler.
 *
 * h2o 2.2.5 answers 413 itself when Content-Length exceeds
 * max_request_entity_size, without reading the body: exactly the behaviour
 * wanted for oversized deliveries, but with a text/plain body and no hook to
 * count it. Those answers go through the host's fallback path, so a filter
 * there rewrites them into the service's JSON error shape and counts them. */
#include <string.h>

#include "gm/handlers.h"

typedef struct {
    h2o_handler_t super;
    gm_app_t *app;
} notfound_handler_t;

typedef struct {
    h2o_filter_t super;
    gm_app_t *app;
} errors_filter_t;

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} replace_ostream_t;

static int on_notfound(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    gm_respond_error(req, 404, "Not Found", "not found");
    return 0;
}

static void replace_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *inbufs, size_t inbufcnt,
                         h2o_send_state_t state)
{
    replace_ostream_t *self = (void *)_self;
    (void)inbufs, (void)inbufcnt;
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(&self->super, req, &self->body, 1, H2O_SEND_STATE_FINAL);
}

static void on_setup_ostream(h2o_filter_t *_self, h2o_req_t *req, h2o_ostream_t **slot)
{
    errors_filter_t *self = (void *)_self;
    if (req->res.status < 400)
        goto Next;

    const char *error = "bad request";
    if (req->res.status == 413) {
        error = "payload too large";
        gm_metrics_count_outcome(&self->app->metrics, gm_request_event_kind(req), GM_OUT_TOO_LARGE);
    } else {
        atomic_fetch_add_explicit(&self->app->metrics.http_errors, 1, memory_order_relaxed);
    }
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(error));
    const char *id = gm_request_delivery_id(req);
    if (id != NULL)
        json_object_set_new(o, "delivery", json_string(id));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    h2o_iovec_t body = h2o_strdup(&req->pool, text, SIZE_MAX);
    free(text);

    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = body.len;
    replace_ostream_t *ostr = (void *)h2o_add_ostream(req, sizeof(*ostr), slot);
    ostr->super.do_send = replace_send;
    ostr->body = body;
    slot = &ostr->super.next;
Next:
    h2o_setup_next_ostream(req, slot);
}

void gm_errors_register(h2o_hostconf_t *host, gm_app_t *app)
{
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    notfound_handler_t *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_notfound;
    h->app = app;

    errors_filter_t *f = (void *)h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->app = app;
}
