/* The CloudWatch client of the remote sink: EMF lines → merged datums →
 * PutMetricData (JSON protocol), one namespace per request. */
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
} cloudwatch_t;

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
    return gm_aws_call(((cloudwatch_t *)c)->aws, "GraniteServiceVersion20100801.PutMetricData",
                       "application/x-amz-json-1.0", NULL, body, len, resp);
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
        .destroy = cw_destroy,
    };
    self->aws = aws;
    self->cw = gm_cw_new(cfg->publish.namespace_);
    return &self->super;
}
