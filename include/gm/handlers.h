/* gm_handlers: the HTTP endpoints, one file each under handlers/.
 *
 * Registration happens once, before the first event loop starts. The
 * handlers borrow the app context for the life of the server. */
#ifndef GM_HANDLERS_H
#define GM_HANDLERS_H

#include <h2o.h>
#include <jansson.h>

#include "gm/app.h"
#include "gm/metrics.h"

/* POST {webhook.path}: verify → validate → spool → answer once synced. */
void gm_webhook_register(h2o_hostconf_t *host, gm_app_t *app);

/* GET /healthz, /readyz, /metrics. */
void gm_status_register(h2o_hostconf_t *host, gm_app_t *app);

/* The last resort: a JSON 404 for unknown paths, and a filter that turns the
 * plain-text errors h2o answers by itself before routing (413 from
 * Content-Length, 400 for broken framing) into the JSON error shape, and
 * counts them. Register after every other path. */
void gm_errors_register(h2o_hostconf_t *host, gm_app_t *app);

/* Answers with a JSON body (compact). `body` is consumed. */
void gm_respond_json(h2o_req_t *req, int status, const char *reason, json_t *body);

/* Answers {"error": error, "delivery": id} where the id is taken from the
 * request's X-GitHub-Delivery when it looks like one (it is never echoed
 * otherwise: the header is attacker-controlled until the signature holds). */
void gm_respond_error(h2o_req_t *req, int status, const char *reason, const char *error);

/* The request's X-GitHub-Delivery if it is safe to echo and log (≤ 64 of
 * [A-Za-z0-9-]), else NULL. Allocated from the request pool. */
const char *gm_request_delivery_id(h2o_req_t *req);

/* The event label for metrics from the request's X-GitHub-Event. */
gm_event_kind_t gm_request_event_kind(h2o_req_t *req);

#endif
