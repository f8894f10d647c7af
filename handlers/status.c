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
#include "gm/util.h"

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
    if (gm_spool_check(app->spool, err, sizeof(err)) != 0)
        json_array_append_new(reasons, json_string("spool cannot take deliveries (disk full or I/O error)"));
    char why[512];
    int sink = gm_sink_check(app->sink, why, sizeof(why));
    if (sink < 0)
        json_array_append_new(reasons, json_string("sink not writable"));

    /* The shared ledger failing holds records back in the spool, safely: like
     * a backlog for AWS, reported, not failed. */
    int64_t failing_since = atomic_load(&app->metrics.shared_ledger_failing_since_ms);
    char ledger_why[160] = "";
    if (failing_since > 0)
        snprintf(ledger_why, sizeof(ledger_why),
                 "shared ledger (DynamoDB) failing for %lld s: records wait in the spool",
                 (long long)((gm_wall_ms() - failing_since) / 1000));

    json_t *o = json_object();
    int ready = json_array_size(reasons) == 0;
    int degraded = sink > 0 || ledger_why[0] != '\0';
    /* A backlog waiting for AWS is no reason to stop taking deliveries: they
     * are safe on disk. It is reported, not failed. */
    json_object_set_new(o, "status", json_string(!ready ? "unready" : degraded ? "degraded" : "ready"));
    if (ready && sink > 0)
        json_array_append_new(reasons, json_string(why));
    if (ready && ledger_why[0] != '\0')
        json_array_append_new(reasons, json_string(ledger_why));
    if (json_array_size(reasons) == 0)
        json_decref(reasons);
    else
        json_object_set_new(o, "reasons", reasons);
    gm_respond_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", o);
    return 0;
}

/* The store's figures live in the spool and the ledger, behind their locks. */
static void render_store(gm_app_t *app, FILE *f)
{
    gm_spool_stats_t st;
    gm_spool_stats(app->spool, &st);
    uint64_t hist[GM_SPOOL_SYNC_BUCKETS + 1], sum_us;
    gm_spool_sync_histogram(app->spool, hist, &sum_us);
    gm_ledger_stats_t ls;
    gm_ledger_stats(app->ledger, &ls);
    fprintf(f,
            "# HELP gha_metrics_spool_pending Deliveries on disk not yet processed.\n"
            "# TYPE gha_metrics_spool_pending gauge\n"
            "gha_metrics_spool_pending %llu\n"
            "# HELP gha_metrics_spool_pending_bytes Bytes of those deliveries.\n"
            "# TYPE gha_metrics_spool_pending_bytes gauge\n"
            "gha_metrics_spool_pending_bytes %llu\n"
            "# HELP gha_metrics_spool_segments Segment files on disk (pending and retained).\n"
            "# TYPE gha_metrics_spool_segments gauge\n"
            "gha_metrics_spool_segments %llu\n"
            "# HELP gha_metrics_spool_appended_total Deliveries appended to the spool.\n"
            "# TYPE gha_metrics_spool_appended_total counter\n"
            "gha_metrics_spool_appended_total %llu\n"
            "# HELP gha_metrics_spool_append_errors_total Appends refused: disk full, I/O error, low space.\n"
            "# TYPE gha_metrics_spool_append_errors_total counter\n"
            "gha_metrics_spool_append_errors_total %llu\n"
            "# HELP gha_metrics_spool_sync_errors_total Failed fdatasync batches.\n"
            "# TYPE gha_metrics_spool_sync_errors_total counter\n"
            "gha_metrics_spool_sync_errors_total %llu\n"
            "# HELP gha_metrics_spool_recovered_total Deliveries found past the checkpoint at start.\n"
            "# TYPE gha_metrics_spool_recovered_total counter\n"
            "gha_metrics_spool_recovered_total %llu\n"
            "# HELP gha_metrics_spool_torn_bytes_total Bytes of torn tails cut at start.\n"
            "# TYPE gha_metrics_spool_torn_bytes_total counter\n"
            "gha_metrics_spool_torn_bytes_total %llu\n"
            "# HELP gha_metrics_spool_corrupt_total Corrupt frames skipped.\n"
            "# TYPE gha_metrics_spool_corrupt_total counter\n"
            "gha_metrics_spool_corrupt_total %llu\n",
            (unsigned long long)st.pending, (unsigned long long)st.pending_bytes, (unsigned long long)st.segments,
            (unsigned long long)st.appended, (unsigned long long)st.append_errors,
            (unsigned long long)st.sync_errors, (unsigned long long)st.recovered, (unsigned long long)st.torn_bytes,
            (unsigned long long)st.corrupt);
    fputs("# HELP gha_metrics_spool_sync_seconds Group commit (fdatasync) latency.\n"
          "# TYPE gha_metrics_spool_sync_seconds histogram\n",
          f);
    uint64_t cumulative = 0;
    for (int b = 0; b < GM_SPOOL_SYNC_BUCKETS; b++) {
        cumulative += hist[b];
        fprintf(f, "gha_metrics_spool_sync_seconds_bucket{le=\"%g\"} %llu\n", gm_spool_sync_bounds_us[b] / 1e6,
                (unsigned long long)cumulative);
    }
    cumulative += hist[GM_SPOOL_SYNC_BUCKETS];
    fprintf(f,
            "gha_metrics_spool_sync_seconds_bucket{le=\"+Inf\"} %llu\n"
            "gha_metrics_spool_sync_seconds_sum %.6f\n"
            "gha_metrics_spool_sync_seconds_count %llu\n",
            (unsigned long long)cumulative, sum_us / 1e6, (unsigned long long)cumulative);
    fprintf(f,
            "# HELP gha_metrics_ledger_entries Delivery ids and run/job attempts remembered.\n"
            "# TYPE gha_metrics_ledger_entries gauge\n"
            "gha_metrics_ledger_entries %llu\n"
            "# HELP gha_metrics_ledger_evicted_total Entries forgotten early because of spool.ledger_max_entries.\n"
            "# TYPE gha_metrics_ledger_evicted_total counter\n"
            "gha_metrics_ledger_evicted_total %llu\n"
            "# HELP gha_metrics_ledger_expired_total Entries dropped at the end of their retention.\n"
            "# TYPE gha_metrics_ledger_expired_total counter\n"
            "gha_metrics_ledger_expired_total %llu\n"
            "# HELP gha_metrics_ledger_log_bytes Size of the ledger's log file.\n"
            "# TYPE gha_metrics_ledger_log_bytes gauge\n"
            "gha_metrics_ledger_log_bytes %llu\n",
            (unsigned long long)ls.entries, (unsigned long long)ls.evicted, (unsigned long long)ls.expired,
            (unsigned long long)ls.log_bytes);
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
    if (f != NULL) {
        render_store(self->app, f);
        if (self->app->sink->ops->metrics != NULL)
            self->app->sink->ops->metrics(self->app->sink, f);
    }
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
