/* The CloudWatch Logs client of the remote sink (publish.sink: emf-logs):
 * EMF lines as log events, PutLogEvents with `x-amzn-logs-format: json/emf`
 * so CloudWatch extracts the metrics and Logs Insights can query every
 * field. One stream per host and UTC day; the group and the stream are
 * created when PutLogEvents says they are missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/remote.h"

#define MAX_EVENTS 10000
#define MAX_BATCH_BYTES 1048576
#define EVENT_OVERHEAD 26
#define MAX_SPAN_MS (24LL * 3600 * 1000)
#define MAX_AGE_MS (14LL * 24 * 3600 * 1000 - 3600 * 1000)
#define MAX_AHEAD_MS (2LL * 3600 * 1000 - 5 * 60 * 1000)

typedef struct {
    int64_t ts;
    uint64_t seq; /* arrival order, to keep the sort stable */
    char *message;
    size_t len;
} event_t;

typedef struct {
    gm_remote_client_t super;
    gm_aws_t *aws;
    char *group;
    char host[128];
    event_t *events;
    size_t count, cap;
    uint64_t seq;
    size_t bytes;
    char known_stream[256]; /* the last stream known to exist */
} logs_t;

static int logs_add(gm_remote_client_t *c, const char *line, size_t len, int64_t now, char *reason, size_t rlen)
{
    logs_t *self = (logs_t *)c;
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *ts = json_object_get(json_object_get(o, "_aws"), "Timestamp");
    int64_t t = json_is_integer(ts) ? (int64_t)json_integer_value(ts) : -1;
    json_decref(o);
    if (t < 0) {
        snprintf(reason, rlen, "not an EMF line with _aws.Timestamp");
        return 1;
    }
    if (t < now - MAX_AGE_MS || t > now + MAX_AHEAD_MS) {
        snprintf(reason, rlen, "timestamp outside CloudWatch Logs' window (14 days back, 2 hours ahead)");
        return 1;
    }
    if (len + EVENT_OVERHEAD > MAX_BATCH_BYTES) {
        snprintf(reason, rlen, "event larger than a PutLogEvents batch");
        return 1;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 256;
        self->events = gm_realloc(self->events, self->cap * sizeof(*self->events));
    }
    /* The line is a slice of a frame buffer, not a C string: copy by length. */
    char *message = gm_malloc(len + 1);
    memcpy(message, line, len);
    message[len] = '\0';
    self->events[self->count++] = (event_t){t, self->seq++, message, len};
    self->bytes += len + EVENT_OVERHEAD;
    return 0;
}

static size_t logs_pending(gm_remote_client_t *c)
{
    return ((logs_t *)c)->count;
}

static int logs_full(gm_remote_client_t *c)
{
    logs_t *self = (logs_t *)c;
    return self->count >= MAX_EVENTS || self->bytes >= MAX_BATCH_BYTES;
}

static int by_time(const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void stream_name(logs_t *self, char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s/%04d-%02d-%02d", self->host, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The oldest events first, as many as one PutLogEvents takes: in time
 * order, within 10,000 events, 1 MB counting 26 bytes each, and 24 hours. */
static char *logs_take(gm_remote_client_t *c, size_t *items)
{
    logs_t *self = (logs_t *)c;
    if (self->count == 0)
        return NULL;
    qsort(self->events, self->count, sizeof(*self->events), by_time);
    size_t n = 0, bytes = 0;
    while (n < self->count && n < MAX_EVENTS && bytes + self->events[n].len + EVENT_OVERHEAD <= MAX_BATCH_BYTES &&
           self->events[n].ts - self->events[0].ts <= MAX_SPAN_MS)
        bytes += self->events[n++].len + EVENT_OVERHEAD;
    char stream[256];
    stream_name(self, stream, sizeof(stream));
    json_t *evs = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(evs, json_pack("{s:I, s:s%}", "timestamp", (json_int_t)self->events[i].ts, "message",
                                             self->events[i].message, self->events[i].len));
        free(self->events[i].message);
    }
    json_t *o = json_pack("{s:s, s:s, s:o}", "logGroupName", self->group, "logStreamName", stream, "logEvents", evs);
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    memmove(self->events, self->events + n, (self->count - n) * sizeof(*self->events));
    self->count -= n;
    self->bytes -= bytes;
    *items = n;
    return body;
}

static gm_aws_outcome_t call(logs_t *self, const char *op, const char *body, size_t len, gm_aws_response_t *resp)
{
    static const char *const emf_header[] = {"x-amzn-logs-format: json/emf", NULL};
    char target[64];
    snprintf(target, sizeof(target), "Logs_20140328.%s", op);
    return gm_aws_call(self->aws, target, "application/x-amz-json-1.1",
                       strcmp(op, "PutLogEvents") == 0 ? emf_header : NULL, body, len, resp);
}

/* Creates the group and the stream; "already exists" is success. */
static gm_aws_outcome_t ensure_stream(logs_t *self, const char *stream, gm_aws_response_t *resp)
{
    char *body = NULL;
    json_t *o = json_pack("{s:s}", "logGroupName", self->group);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    gm_aws_outcome_t r = call(self, "CreateLogGroup", body, strlen(body), resp);
    free(body);
    if (r != GM_AWS_OK && strcmp(resp->code, "ResourceAlreadyExistsException") != 0)
        return r;
    gm_aws_response_clear(resp);
    o = json_pack("{s:s, s:s}", "logGroupName", self->group, "logStreamName", stream);
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    r = call(self, "CreateLogStream", body, strlen(body), resp);
    free(body);
    if (r != GM_AWS_OK && strcmp(resp->code, "ResourceAlreadyExistsException") != 0)
        return r;
    gm_aws_response_clear(resp);
    snprintf(self->known_stream, sizeof(self->known_stream), "%s", stream);
    return GM_AWS_OK;
}

static gm_aws_outcome_t logs_send(gm_remote_client_t *c, const char *body, size_t len, gm_aws_response_t *resp)
{
    logs_t *self = (logs_t *)c;
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *stream = json_string_value(json_object_get(o, "logStreamName"));
    char name[256];
    snprintf(name, sizeof(name), "%s", stream ? stream : "");
    json_decref(o);
    gm_aws_outcome_t r;
    if (strcmp(name, self->known_stream) != 0) {
        /* A new day or a new process: make sure the stream is there. */
        if ((r = ensure_stream(self, name, resp)) != GM_AWS_OK)
            return r;
    }
    r = call(self, "PutLogEvents", body, len, resp);
    if (r == GM_AWS_REJECTED && strcmp(resp->code, "ResourceNotFoundException") == 0) {
        self->known_stream[0] = '\0';
        gm_aws_response_clear(resp);
        if ((r = ensure_stream(self, name, resp)) != GM_AWS_OK)
            return r;
        r = call(self, "PutLogEvents", body, len, resp);
    }
    return r;
}

static int logs_split(const char *body, char **first, char **second)
{
    json_t *o = json_loads(body, 0, NULL);
    json_t *evs = json_object_get(o, "logEvents");
    size_t n = json_array_size(evs);
    if (n < 2) {
        json_decref(o);
        return -1;
    }
    json_t *a = json_deep_copy(o), *b = json_deep_copy(o);
    json_t *ea = json_array(), *eb = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(i < n / 2 ? ea : eb, json_array_get(evs, i));
    json_object_set_new(a, "logEvents", ea);
    json_object_set_new(b, "logEvents", eb);
    *first = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    *second = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(a);
    json_decref(b);
    json_decref(o);
    return 0;
}

static size_t logs_count(const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    size_t n = json_array_size(json_object_get(o, "logEvents"));
    json_decref(o);
    return n;
}

static void logs_destroy(gm_remote_client_t *c)
{
    logs_t *self = (logs_t *)c;
    for (size_t i = 0; i < self->count; i++)
        free(self->events[i].message);
    free(self->events);
    free(self->group);
    gm_aws_close(self->aws);
    free(self);
}

gm_remote_client_t *gm_logs_client_new(const gm_config_t *cfg, char *err, size_t errlen)
{
    gm_aws_opts_t o = {.service = "logs", .region = cfg->publish.region, .endpoint = cfg->publish.endpoint};
    gm_aws_t *aws = gm_aws_open(&o, err, errlen);
    if (aws == NULL)
        return NULL;
    logs_t *self = gm_calloc(1, sizeof(*self));
    self->super = (gm_remote_client_t){
        .name = "emf-logs",
        .item_name = "events",
        .add = logs_add,
        .pending = logs_pending,
        .full = logs_full,
        .take = logs_take,
        .send = logs_send,
        .split = logs_split,
        .count = logs_count,
        .destroy = logs_destroy,
    };
    self->aws = aws;
    self->group = gm_strdup(cfg->publish.log_group);
    if (gethostname(self->host, sizeof(self->host)) != 0 || self->host[0] == '\0')
        snprintf(self->host, sizeof(self->host), "gha-metrics");
    self->host[sizeof(self->host) - 1] = '\0';
    for (char *p = self->host; *p; p++) /* stream names may not hold ':' or '*' */
        if (*p == ':' || *p == '*')
            *p = '-';
    return &self->super;
}
