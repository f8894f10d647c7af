/* JSON answers shared by every handler. */
#include <stdlib.h>
#include <string.h>

#include "gm/handlers.h"

void gm_respond_json(h2o_req_t *req, int status, const char *reason, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, text ? text : "", len); /* copies */
    free(text);
}

static int is_delivery_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

const char *gm_request_delivery_id(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-github-delivery"), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len == 0 || v.len > 64)
        return NULL;
    for (size_t k = 0; k < v.len; k++)
        if (!is_delivery_char(v.base[k]))
            return NULL;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

gm_event_kind_t gm_request_event_kind(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-github-event"), -1);
    if (i < 0)
        return GM_EV_UNKNOWN;
    return gm_metrics_event_kind(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

void gm_respond_error(h2o_req_t *req, int status, const char *reason, const char *error)
{
    json_t *body = json_object();
    json_object_set_new(body, "error", json_string(error));
    const char *id = gm_request_delivery_id(req);
    if (id != NULL)
        json_object_set_new(body, "delivery", json_string(id));
    gm_respond_json(req, status, reason, body);
}
