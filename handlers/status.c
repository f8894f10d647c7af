/* Liveness, readiness and the Prometheus scrape.
 *
 * /healthz says only that an event loop answers. /readyz is what a load
 * balancer should route on: it fails while listeners are still coming up,
 * once shutdown has begun (so the balancer drains this instance before it
 * goes), and whenever a delivery could not be stored or written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gm/handlers.h"

typedef struct {
    h2o_handler_t super;
    gm_app_t *app;
} status_handler_t;

static int exact_path(h2o_req_t *req, const char *path)
{
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

/* "/healthzfoo" reaches this handler by prefix; answer it here, in JSON. */
static int not_found(h2o_req_t *req)
{
    gm_respond_error(req, 404, "Not Found", "not found");
    return 0;
}

static int is_get(h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

static int on_healthz(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    if (!exact_path(req, "/healthz"))
        return not_found(req);
    if (!is_get(req)) {
        gm_respond_error(req, 405, "Method Not Allowed", "method not allowed");
        return 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ok"));
    gm_respond_json(req, 200, "OK", o);
    return 0;
}

static int on_readyz(h2o_handler_t *_self, h2o_req_t *req)
{
    status_handler_t *self = (void *)_self;
    gm_app_t *app = self->app;
    if (!exact_path(req, "/readyz"))
        return not_found(req);
    if (!is_get(req)) {
        gm_respond_error(req, 405, "Method Not Allowed", "method not allowed");
        return 0;
    }
    json_t *reasons = json_array();
    if (atomic_load(&app->stopping))
        json_array_append_new(reasons, json_string("shutting down"));
    if (atomic_load(&app->loops_listening) < app->loops_total)
        json_array_append_new(reasons, json_string("listeners not up"));
    if (access(app->cfg->spool.dir, W_OK | X_OK) != 0)
        json_array_append_new(reasons, json_string("spool dir not writable"));
    char err[256];
    if (gm_sink_check(app->sink, err, sizeof(err)) != 0)
        json_array_append_new(reasons, json_string("sink not writable"));

    json_t *o = json_object();
    int ready = json_array_size(reasons) == 0;
    json_object_set_new(o, "status", json_string(ready ? "ready" : "unready"));
    if (ready)
        json_decref(reasons);
    else
        json_object_set_new(o, "reasons", reasons);
    gm_respond_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", o);
    return 0;
}

static int on_metrics(h2o_handler_t *_self, h2o_req_t *req)
{
    status_handler_t *self = (void *)_self;
    if (!exact_path(req, "/metrics"))
        return not_found(req);
    if (!is_get(req)) {
        gm_respond_error(req, 405, "Method Not Allowed", "method not allowed");
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL || gm_metrics_render(&self->app->metrics, f) != 0) {
        if (f != NULL)
            fclose(f);
        free(text);
        gm_respond_error(req, 500, "Internal Server Error", "cannot render metrics");
        return 0;
    }
    fclose(f);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_send_inline(req, text, len);
    free(text);
    return 0;
}

static void add(h2o_hostconf_t *host, const char *path, int (*on_req)(h2o_handler_t *, h2o_req_t *), gm_app_t *app)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, path, 0);
    status_handler_t *h = (void *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->app = app;
}

void gm_status_register(h2o_hostconf_t *host, gm_app_t *app)
{
    add(host, "/healthz", on_healthz, app);
    add(host, "/readyz", on_readyz, app);
    add(host, "/metrics", on_metrics, app);
}
