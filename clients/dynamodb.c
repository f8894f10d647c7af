/* gm_ddb: claims and look-ups on the shared ledger's DynamoDB table, as
 * JSON-protocol calls through gm_aws (SigV4 by libcurl).
 *
 * Every attribute name in an expression goes through
 * ExpressionAttributeNames: "owner" is one of DynamoDB's reserved words, and
 * naming all of them the same way keeps the next reserved word from turning
 * into a ValidationException at run time. */
#include "gm/dynamodb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/aws.h"

#define DEFAULT_TIMEOUT_MS 5000L
#define MAX_ATTEMPTS 3
/* Short: a receiver holds a delivery while it claims, so three attempts
 * stay well under a second; longer outages are the caller's to handle. */
#define BACKOFF_BASE_MS 25
#define RETRY_AFTER_CAP_MS 1000
#define BATCH_MAX 100 /* BatchGetItem's limit on keys per request */
/* Far enough for any ledger; keeps now + ttl far from overflow. */
#define MAX_TTL_S ((int64_t)100 * 366 * 24 * 3600)

#define CONTENT_TYPE "application/x-amz-json-1.0"
#define TARGET_PUT_ITEM "DynamoDB_20120810.PutItem"
#define TARGET_BATCH_GET "DynamoDB_20120810.BatchGetItem"

struct gm_ddb {
    gm_aws_t *aws;
    char *table;
    char *owner;
    int64_t ttl_s;
};

/* ---- open / close ------------------------------------------------------- */

static bool valid_table(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && n <= 255 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* jansson refuses strings that are not UTF-8; so would DynamoDB. */
static bool is_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

gm_ddb_t *gm_ddb_open(const gm_ddb_opts_t *o, char *err, size_t errlen)
{
    if (o == NULL || o->table == NULL || !valid_table(o->table)) {
        gm_errf(err, errlen, "DynamoDB: no or bad table name (3-255 of A-Z a-z 0-9 _ . -)");
        return NULL;
    }
    if (o->owner == NULL || o->owner[0] == '\0' || strlen(o->owner) > 1024 || !is_utf8(o->owner)) {
        gm_errf(err, errlen, "DynamoDB: no or bad owner id (1-1024 bytes of UTF-8)");
        return NULL;
    }
    if (o->ttl_s <= 0 || o->ttl_s > MAX_TTL_S) {
        gm_errf(err, errlen, "DynamoDB: the claims' time to live must be between 1 s and 100 years");
        return NULL;
    }
    if (o->timeout_ms < 0) {
        gm_errf(err, errlen, "DynamoDB: negative request timeout");
        return NULL;
    }
    char why[256] = "";
    gm_aws_opts_t ao = {
        .service = "dynamodb",
        .region = o->region,
        .endpoint = o->endpoint,
        .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS,
    };
    gm_aws_t *aws = gm_aws_open(&ao, why, sizeof(why));
    if (aws == NULL) {
        gm_errf(err, errlen, "DynamoDB: %s", why);
        return NULL;
    }
    gm_ddb_t *d = gm_calloc(1, sizeof(*d));
    d->aws = aws;
    d->table = gm_strdup(o->table);
    d->owner = gm_strdup(o->owner);
    d->ttl_s = o->ttl_s;
    return d;
}

void gm_ddb_close(gm_ddb_t *d)
{
    if (d == NULL)
        return;
    gm_aws_close(d->aws);
    free(d->table);
    free(d->owner);
    free(d);
}

/* ---- requests --------------------------------------------------------------- */

/* Before attempt `failures` + 1: half the exponential step plus a random
 * half, so writers that collided spread apart yet none retries at once;
 * a Retry-After from the service is honoured up to a second. */
static int64_t backoff_ms(int failures, double retry_after_s)
{
    int64_t step = (int64_t)BACKOFF_BASE_MS << (failures < 8 ? failures : 8);
    uint32_t rnd = 0;
    (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    int64_t ms = step / 2 + (int64_t)(rnd % (uint32_t)(step / 2 + 1));
    int64_t ra = (int64_t)(retry_after_s * 1000);
    if (ra > RETRY_AFTER_CAP_MS)
        ra = RETRY_AFTER_CAP_MS;
    return ra > ms ? ra : ms;
}

/* Transient for this client though gm_aws calls it a rejection: a write
 * that met a transaction on the same item may simply be sent again. */
static bool retry_anyway(const gm_aws_response_t *r)
{
    return r->outcome == GM_AWS_REJECTED && strcmp(r->code, "TransactionConflictException") == 0;
}

/* Sends body, retrying transient failures up to MAX_ATTEMPTS in all. Always
 * fills *resp (the last answer; the caller clears it); *attempts says how
 * many were made. */
static gm_aws_outcome_t call_retrying(gm_ddb_t *d, const char *target, const char *body, gm_aws_response_t *resp,
                                      int *attempts)
{
    size_t len = strlen(body);
    for (int a = 1;; a++) {
        gm_aws_outcome_t o = gm_aws_call(d->aws, target, CONTENT_TYPE, NULL, body, len, resp);
        *attempts = a;
        if ((o != GM_AWS_RETRY && !retry_anyway(resp)) || a >= MAX_ATTEMPTS)
            return o;
        gm_sleep_ms(backoff_ms(a, resp->retry_after_s));
        gm_aws_response_clear(resp);
    }
}

/* "DynamoDB PutItem (table t): Code: message [HTTP 400, 3 attempts]": AWS's
 * code and message (gm_aws has scrubbed them of the credentials) or curl's. */
static void fail_response(char *err, size_t errlen, const gm_ddb_t *d, const char *op, const gm_aws_response_t *r,
                          int attempts)
{
    char status[32], tries[32] = "";
    if (r->status > 0)
        snprintf(status, sizeof(status), "HTTP %ld", r->status);
    else
        snprintf(status, sizeof(status), "no response");
    if (attempts > 1)
        snprintf(tries, sizeof(tries), ", %d attempts", attempts);
    gm_errf(err, errlen, "DynamoDB %s (table %s): %s%s%s [%s%s]", op, d->table, r->code, r->code[0] != '\0' ? ": " : "",
         r->message[0] != '\0' ? r->message : "failed", status, tries);
}

/* ---- attribute values ------------------------------------------------------ */

/* {"S": s}, or NULL when s is not UTF-8. */
static json_t *attr_s(const char *s)
{
    json_t *v = json_string(s);
    return v != NULL ? json_pack("{s:o}", "S", v) : NULL;
}

/* {"N": "123"}: DynamoDB sends and takes numbers as strings. */
static json_t *attr_n(int64_t n)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)n);
    return json_pack("{s:s}", "N", buf);
}

static bool valid_key(const char *key, char *err, size_t errlen)
{
    size_t n = key != NULL ? strlen(key) : 0;
    if (n == 0 || n > GM_DDB_MAX_KEY || !is_utf8(key)) {
        gm_errf(err, errlen, "DynamoDB: a key must be 1-%d bytes of UTF-8", GM_DDB_MAX_KEY);
        return false;
    }
    return true;
}

/* A time in epoch seconds from an attribute {"N": "..."}; false when the
 * attribute is missing or not a number. */
static bool attr_epoch_s(json_t *attr, int64_t *out)
{
    const char *s = json_string_value(json_object_get(attr, "N"));
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = (int64_t)v;
        return true;
    }
    /* Written by something else as "1.7E9" or "1700000000.5". */
    double f = strtod(s, &end);
    if (*end != '\0' || !(f > -9.2e18 && f < 9.2e18))
        return false;
    *out = (int64_t)f;
    return true;
}

/* ---- claim ------------------------------------------------------------------ */

gm_ddb_claim_t gm_ddb_claim(gm_ddb_t *d, const char *key, int64_t now_ms, char *err, size_t errlen)
{
    if (d == NULL) {
        gm_errf(err, errlen, "DynamoDB: no client");
        return GM_DDB_ERROR;
    }
    if (!valid_key(key, err, errlen))
        return GM_DDB_ERROR;
    if (now_ms < 0) {
        gm_errf(err, errlen, "DynamoDB: negative time");
        return GM_DDB_ERROR;
    }
    int64_t now_s = now_ms / 1000;
    /* Free, ours, or expired (TTL deletes late); "<=" matches lookup's
     * "present while expires_at > now". */
    /* clang-format off */
    json_t *req = json_pack("{s:s, s:{s:o, s:o, s:o, s:o}, s:s, s:{s:s, s:s, s:s}, s:{s:o, s:o}}",
        "TableName", d->table,
        "Item",
            "pk", attr_s(key),
            "owner", attr_s(d->owner),
            "claimed_at", attr_n(now_ms),
            "expires_at", attr_n(now_s + d->ttl_s),
        "ConditionExpression", "attribute_not_exists(#k) OR #o = :me OR #e <= :now_s",
        "ExpressionAttributeNames", "#k", "pk", "#o", "owner", "#e", "expires_at",
        "ExpressionAttributeValues", ":me", attr_s(d->owner), ":now_s", attr_n(now_s));
    /* clang-format on */
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) {
        gm_errf(err, errlen, "DynamoDB PutItem: cannot build the request");
        return GM_DDB_ERROR;
    }
    gm_aws_response_t resp;
    int attempts = 0;
    gm_aws_outcome_t o = call_retrying(d, TARGET_PUT_ITEM, body, &resp, &attempts);
    free(body);
    gm_ddb_claim_t result;
    if (o == GM_AWS_OK) {
        result = GM_DDB_CLAIMED;
    } else if (o == GM_AWS_REJECTED && strcmp(resp.code, "ConditionalCheckFailedException") == 0) {
        result = GM_DDB_TAKEN;
    } else {
        fail_response(err, errlen, d, "PutItem", &resp, attempts);
        result = GM_DDB_ERROR;
    }
    gm_aws_response_clear(&resp);
    return result;
}

/* ---- lookup ----------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int str_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* The distinct keys, sorted, so BatchGetItem (which refuses duplicates) asks
 * for each once and answers map back by binary search. */
typedef struct {
    const char **keys;
    unsigned char *found;
    size_t n;
} key_set_t;

static void key_set_build(key_set_t *s, const char *const *keys, size_t n)
{
    s->keys = gm_malloc(n * sizeof(*s->keys));
    memcpy(s->keys, keys, n * sizeof(*s->keys));
    qsort(s->keys, n, sizeof(*s->keys), key_cmp);
    s->n = 0;
    for (size_t i = 0; i < n; i++)
        if (s->n == 0 || strcmp(s->keys[s->n - 1], s->keys[i]) != 0)
            s->keys[s->n++] = s->keys[i];
    s->found = gm_calloc(s->n, 1);
}

static void key_set_free(key_set_t *s)
{
    free(s->keys);
    free(s->found);
}

static unsigned char *key_set_slot(key_set_t *s, const char *key)
{
    const char **p = bsearch(key, s->keys, s->n, sizeof(*s->keys), str_cmp);
    return p != NULL ? &s->found[p - s->keys] : NULL;
}

/* The request for `keys` (a JSON array of {"pk": {"S": ...}}). */
static char *batch_get_body(const gm_ddb_t *d, json_t *keys)
{
    json_t *req =
        json_pack("{s:{s:{s:O, s:b, s:s, s:{s:s, s:s}}}}", "RequestItems", d->table, "Keys", keys, "ConsistentRead", 1,
                  "ProjectionExpression", "#k, #e", "ExpressionAttributeNames", "#k", "pk", "#e", "expires_at");
    char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return body;
}

/* Marks what came back in Responses; sets *unprocessed to the keys still to
 * ask for (a new reference; NULL when none). -1 when the answer is not a
 * BatchGetItem response. */
static int batch_get_read(const gm_ddb_t *d, const gm_aws_response_t *r, key_set_t *set, int64_t now_s,
                          json_t **unprocessed)
{
    *unprocessed = NULL;
    json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *items = json_object_get(json_object_get(o, "Responses"), d->table);
    json_t *unp = json_object_get(o, "UnprocessedKeys");
    if (!json_is_object(o) || (items != NULL && !json_is_array(items)) || (unp != NULL && !json_is_object(unp))) {
        json_decref(o);
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *pk = json_string_value(json_object_get(json_object_get(item, "pk"), "S"));
        unsigned char *slot = pk != NULL ? key_set_slot(set, pk) : NULL;
        if (slot == NULL)
            continue; /* not one we asked for */
        int64_t expires_s;
        *slot = !attr_epoch_s(json_object_get(item, "expires_at"), &expires_s) || expires_s > now_s;
    }
    json_t *left = json_object_get(json_object_get(unp, d->table), "Keys");
    if (json_is_array(left) && json_array_size(left) > 0)
        *unprocessed = json_incref(left);
    json_decref(o);
    return 0;
}

/* Looks up set->keys[from, from + count) until all are answered. */
static int lookup_chunk(gm_ddb_t *d, key_set_t *set, size_t from, size_t count, int64_t now_s, char *err, size_t errlen)
{
    json_t *keys = json_array();
    for (size_t i = from; i < from + count; i++)
        json_array_append_new(keys, json_pack("{s:o}", "pk", attr_s(set->keys[i])));
    int stalled = 0, rc = -1;
    for (;;) {
        char *body = batch_get_body(d, keys);
        if (body == NULL) {
            gm_errf(err, errlen, "DynamoDB BatchGetItem: cannot build the request");
            break;
        }
        gm_aws_response_t resp;
        int attempts = 0;
        gm_aws_outcome_t o = call_retrying(d, TARGET_BATCH_GET, body, &resp, &attempts);
        free(body);
        if (o != GM_AWS_OK) {
            fail_response(err, errlen, d, "BatchGetItem", &resp, attempts);
            gm_aws_response_clear(&resp);
            break;
        }
        json_t *left;
        int bad = batch_get_read(d, &resp, set, now_s, &left);
        gm_aws_response_clear(&resp);
        if (bad) {
            gm_errf(err, errlen, "DynamoDB BatchGetItem (table %s): the answer is not a BatchGetItem response", d->table);
            break;
        }
        if (left == NULL) {
            rc = 0;
            break;
        }
        /* DynamoDB hands back what it could not read (throughput, size):
         * ask again after a pause, giving up only when rounds stop making
         * progress. */
        stalled = json_array_size(left) < json_array_size(keys) ? 0 : stalled + 1;
        json_decref(keys);
        keys = left;
        if (stalled >= MAX_ATTEMPTS) {
            gm_errf(err, errlen,
                 "DynamoDB BatchGetItem (table %s): %zu keys still unprocessed after %d rounds without progress",
                 d->table, json_array_size(keys), MAX_ATTEMPTS);
            break;
        }
        gm_sleep_ms(backoff_ms(stalled + 1, 0));
    }
    json_decref(keys);
    return rc;
}

int gm_ddb_lookup(gm_ddb_t *d, const char *const *keys, size_t n, int64_t now_ms, unsigned char *found, char *err,
                  size_t errlen)
{
    if (n == 0)
        return 0;
    if (d == NULL || keys == NULL || found == NULL) {
        gm_errf(err, errlen, "DynamoDB: no client, keys or result array");
        return -1;
    }
    if (now_ms < 0) {
        gm_errf(err, errlen, "DynamoDB: negative time");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!valid_key(keys[i], err, errlen))
            return -1;
    key_set_t set;
    key_set_build(&set, keys, n);
    int rc = 0;
    for (size_t from = 0; from < set.n && rc == 0; from += BATCH_MAX)
        rc = lookup_chunk(d, &set, from, set.n - from < BATCH_MAX ? set.n - from : BATCH_MAX, now_ms / 1000, err,
                          errlen);
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            found[i] = *key_set_slot(&set, keys[i]);
    key_set_free(&set);
    return rc;
}
