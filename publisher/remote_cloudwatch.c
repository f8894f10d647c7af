/* The CloudWatch client of the remote sink: EMF lines → merged datums →
 * PutMetricData (JSON protocol), one namespace per request. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/cwbatch.h"
#include "gm/remote.h"

typedef struct {
    gm_remote_client_t super;
    gm_cw_t *cw;
    gm_aws_t *aws;
    /* Series sent, as 64-bit FNV-1a hashes of namespace, name and dimension
     * values in an open-addressing set: thousands, not millions, by config. */
    uint64_t *seen;
    size_t seen_cap;
    _Atomic size_t seen_count; /* read by /metrics from another thread */
} cloudwatch_t;

static const char *str(const json_t *j)
{
    const char *s = json_string_value(j);
    return s != NULL ? s : "";
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0x1f) * 1099511628211ull; /* a separator, so "ab"+"c" != "a"+"bc" */
}

static void seen_insert(cloudwatch_t *self, uint64_t h)
{
    if (h == 0)
        h = 1;
    if ((self->seen_count + 1) * 10 > self->seen_cap * 7) {
        size_t cap = self->seen_cap ? self->seen_cap * 2 : 1024;
        uint64_t *t = gm_calloc(cap, sizeof(*t));
        for (size_t i = 0; i < self->seen_cap; i++)
            if (self->seen[i] != 0) {
                size_t j = self->seen[i] & (cap - 1);
                while (t[j] != 0)
                    j = (j + 1) & (cap - 1);
                t[j] = self->seen[i];
            }
        free(self->seen);
        self->seen = t;
        self->seen_cap = cap;
    }
    size_t j = h & (self->seen_cap - 1);
    while (self->seen[j] != 0 && self->seen[j] != h)
        j = (j + 1) & (self->seen_cap - 1);
    if (self->seen[j] == 0) {
        self->seen[j] = h;
        self->seen_count++;
    }
}

/* Counts the series of a request CloudWatch accepted. */
static void note_series(cloudwatch_t *self, const char *body, size_t len)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *ns = json_string_value(json_object_get(o, "Namespace"));
    size_t i, k;
    json_t *d, *dim;
    json_array_foreach(json_object_get(o, "MetricData"), i, d)
    {
        uint64_t h = fnv(fnv(1469598103934665603ull, ns ? ns : ""), str(json_object_get(d, "MetricName")));
        json_array_foreach(json_object_get(d, "Dimensions"), k, dim)
        {
            h = fnv(h, str(json_object_get(dim, "Name")));
            h = fnv(h, str(json_object_get(dim, "Value")));
        }
        seen_insert(self, h);
    }
    json_decref(o);
}

static size_t cw_series(gm_remote_client_t *c)
{
    return ((cloudwatch_t *)c)->seen_count;
}

static int cw_add(gm_remote_client_t *c, const char *line, size_t len, int64_t now_ms, char *reason, size_t rlen)
{
    cloudwatch_t *self = (cloudwatch_t *)c;
    size_t rejected = 0;
    if (gm_cw_add(self->cw, line, len, now_ms, &rejected, reason, rlen) != 0)
        return 1;
    if (rejected > 0) {
        snprintf(reason, rlen, "timestamp outside CloudWatch's window (14 days back, 2 hours ahead)");
        return 1;
    }
    return 0;
}

static size_t cw_pending(gm_remote_client_t *c)
{
    return gm_cw_pending(((cloudwatch_t *)c)->cw);
}

static int cw_full(gm_remote_client_t *c)
{
    return gm_cw_pending(((cloudwatch_t *)c)->cw) >= GM_CW_MAX_DATUMS;
}

static char *cw_take(gm_remote_client_t *c, size_t *items)
{
    size_t values = 0;
    return gm_cw_take_request(((cloudwatch_t *)c)->cw, items, &values);
}

static gm_aws_outcome_t cw_send(gm_remote_client_t *c, const char *body, size_t len, gm_aws_response_t *resp)
{
    cloudwatch_t *self = (cloudwatch_t *)c;
    gm_aws_outcome_t o = gm_aws_call(self->aws, "GraniteServiceVersion20100801.PutMetricData",
                                     "application/x-amz-json-1.0", NULL, body, len, resp);
    if (o == GM_AWS_OK)
        note_series(self, body, len);
    return o;
}

static int cw_split(const char *body, char **first, char **second)
{
    return gm_cw_split_request(body, first, second);
}

static size_t cw_count(const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    size_t n = json_array_size(json_object_get(o, "MetricData"));
    json_decref(o);
    return n;
}

static void cw_destroy(gm_remote_client_t *c)
{
    cloudwatch_t *self = (cloudwatch_t *)c;
    gm_cw_free(self->cw);
    gm_aws_close(self->aws);
    free(self->seen);
    free(self);
}

gm_remote_client_t *gm_cloudwatch_client_new(const gm_config_t *cfg, char *err, size_t errlen)
{
    gm_aws_opts_t o = {.service = "monitoring", .region = cfg->publish.region, .endpoint = cfg->publish.endpoint};
    gm_aws_t *aws = gm_aws_open(&o, err, errlen);
    if (aws == NULL)
        return NULL;
    cloudwatch_t *self = gm_calloc(1, sizeof(*self));
    self->super = (gm_remote_client_t){
        .name = "cloudwatch",
        .item_name = "datums",
        .add = cw_add,
        .pending = cw_pending,
        .full = cw_full,
        .take = cw_take,
        .send = cw_send,
        .split = cw_split,
        .count = cw_count,
        .series = cw_series,
        .destroy = cw_destroy,
    };
    self->aws = aws;
    self->cw = gm_cw_new(cfg->publish.namespace_);
    return &self->super;
}
