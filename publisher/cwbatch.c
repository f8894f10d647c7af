/* gm_cw: EMF lines → PutMetricData request bodies (JSON protocol).
 *
 * What a line becomes. Every metric directive of the line (gm_emf_format
 * writes one) yields, for each metric and each dimension set, one datum:
 * MetricName, Dimensions [{Name, Value}] in the set's order (values from the
 * root of the line), Unit ("None" when the directive gives none), and the
 * metric's value from the root — a number, or an array of numbers that all
 * go into the same datum. This is what CloudWatch Logs would extract from
 * the line.
 *
 * Minutes. The timestamp of every datum is the line's _aws.Timestamp
 * truncated to the minute. These metrics are standard resolution
 * (StorageResolution 60, the default, so it is not written): CloudWatch
 * stores and aggregates them per minute whatever second they carry, so
 * truncating loses nothing and lets every run of a repository that ends in
 * the same minute share one datum. A directive asking for StorageResolution 1
 * gets minute resolution too (the publisher's contract is per-minute
 * statistics).
 *
 * Merging. Datums with the same identity — namespace, metric name,
 * dimension names and values in order, unit, minute — merge into one datum
 * whose distinct values go to Values and their multiplicities to Counts.
 * A datum holds at most GM_CW_MAX_VALUES distinct values; a new distinct
 * value for a full datum starts another datum with the same identity
 * (CloudWatch accepts several, in one request or across requests, and
 * combines them). A datum carrying one sample is written with "Value"
 * instead of "Values"/"Counts": same meaning, 16 bytes shorter.
 *
 * Memory. One entry per namespace (one request never mixes namespaces),
 * each with
 *   - an open-addressing hash table (linear probing, power-of-two size,
 *     load ≤ 1/2, backward-shift deletion, FNV-1a) of the datums still open
 *     for merging, keyed by the identity: the NUL-separated byte string
 *     "metric\0unit\0name1\0value1\0..." plus the minute (strings that came
 *     out of jansson hold no NUL, so the key is unambiguous);
 *   - a queue of every pending datum, open or full, in (minute, arrival)
 *     order, sorted lazily: appending in order keeps it sorted, and the
 *     first take after out-of-order arrivals sorts it once.
 * Values live in a small array per datum (≤ 150 distinct, linear search).
 *
 * Requests. gm_cw_take_request picks the namespace whose oldest pending
 * minute is the oldest, and takes its datums oldest first until 1,000
 * datums or GM_CW_MAX_BYTES bytes. Each datum is serialised with jansson
 * (compact, fixed key order) and its exact size counted before it is
 * appended to the envelope {"Namespace":...,"MetricData":[...]}; the body is
 * byte-for-byte what json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) would
 * write for the whole object. Timestamps are epoch seconds (a JSON number,
 * which the JSON protocol accepts); whole values are written as integers,
 * others with the fewest digits (15 to 17) that read back as the same double.
 *
 * Pure: no I/O, no clock (now_ms is an argument). Not thread-safe. */
#include "gm/cwbatch.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"

#include "cwbatch_internal.h"

/* Out of memory inside jansson: the one condition the service does not
 * survive (gm/alloc.h), handled the same way. */
/* ------------------------------------------------------------ buffer */

void gm_cw_buf_add(gm_cw_buf_t *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = gm_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gm_cw_buf_str(gm_cw_buf_t *b, const char *s)
{
    gm_cw_buf_add(b, s, strlen(s) + 1); /* with the NUL: ident keys */
}

/* ------------------------------------------------------------ datums */

static uint64_t hash_of(const char *ident, size_t len, int64_t minute_ms)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)ident[i];
        h *= 0x100000001b3ULL;
    }
    uint64_t m = (uint64_t)minute_ms;
    for (int i = 0; i < 8; i++) {
        h ^= (m >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

static void datum_free(cw_datum_t *d)
{
    if (d == NULL)
        return;
    free(d->ident);
    free(d->values);
    free(d->counts);
    free(d);
}

/* Adds one sample; false when the value is new and the datum is full. */
static bool datum_add(cw_datum_t *d, double v)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->values[i] == v) {
            d->counts[i]++;
            return true;
        }
    }
    if (d->n >= GM_CW_MAX_VALUES)
        return false;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1;
        if (cap > GM_CW_MAX_VALUES)
            cap = GM_CW_MAX_VALUES;
        d->values = gm_realloc(d->values, cap * sizeof(*d->values));
        d->counts = gm_realloc(d->counts, cap * sizeof(*d->counts));
        d->cap = cap;
    }
    d->values[d->n] = v;
    d->counts[d->n] = 1;
    d->n++;
    return true;
}

static uint64_t datum_samples(const cw_datum_t *d)
{
    uint64_t s = 0;
    for (size_t i = 0; i < d->n; i++)
        s += d->counts[i];
    return s;
}

/* 2^53: above it a double no longer holds every integer, and json_int_t
 * would be a lossy detour. */
#define EXACT_INT 9007199254740992.0

static bool integral(double v)
{
    return fabs(v) <= EXACT_INT && v == trunc(v);
}

/* The fewest significant digits (15..17) that read back as v. */
static int digits_for(double v)
{
    char tmp[40];
    for (int p = 15; p < 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*g", p, v);
        if (strtod(tmp, NULL) == v)
            return p;
    }
    return 17;
}

static json_t *number(double v)
{
    if (integral(v))
        return gm_need(json_integer((json_int_t)v));
    return gm_need(json_real(v));
}

/* One datum as compact JSON: {"MetricName","Dimensions"?,"Timestamp",
 * "Unit","Value" | "Values"+"Counts"}. Dimensions is left out for the
 * empty set (optional in the API). */
static char *datum_json(const cw_datum_t *d, size_t *len)
{
    const char *metric = d->ident;
    const char *unit = metric + strlen(metric) + 1;
    const char *p = unit + strlen(unit) + 1;

    json_t *o = gm_need(json_object());
    /* Every string came out of json_loadb: valid UTF-8 without NUL. */
    json_object_set_new(o, "MetricName", gm_need(json_string_nocheck(metric)));
    if (d->ndims > 0) {
        json_t *dims = gm_need(json_array());
        for (size_t i = 0; i < d->ndims; i++) {
            const char *name = p;
            const char *value = name + strlen(name) + 1;
            p = value + strlen(value) + 1;
            json_t *dim = gm_need(json_object());
            json_object_set_new(dim, "Name", gm_need(json_string_nocheck(name)));
            json_object_set_new(dim, "Value", gm_need(json_string_nocheck(value)));
            json_array_append_new(dims, dim);
        }
        json_object_set_new(o, "Dimensions", dims);
    }
    json_object_set_new(o, "Timestamp", gm_need(json_integer(d->minute_ms / 1000)));
    json_object_set_new(o, "Unit", gm_need(json_string_nocheck(unit)));

    int prec = 15;
    for (size_t i = 0; i < d->n; i++)
        if (!integral(d->values[i])) {
            int p2 = digits_for(d->values[i]);
            if (p2 > prec)
                prec = p2;
        }
    if (d->n == 1 && d->counts[0] == 1) {
        json_object_set_new(o, "Value", number(d->values[0]));
    } else {
        json_t *values = gm_need(json_array());
        json_t *counts = gm_need(json_array());
        for (size_t i = 0; i < d->n; i++) {
            json_array_append_new(values, number(d->values[i]));
            json_array_append_new(counts, gm_need(json_integer((json_int_t)d->counts[i])));
        }
        json_object_set_new(o, "Values", values);
        json_object_set_new(o, "Counts", counts);
    }
    char *s = gm_need(json_dumps(o, DUMP_FLAGS(prec)));
    json_decref(o);
    *len = strlen(s);
    return s;
}

/* ----------------------------------------------------- the hash table */

static bool same_identity(const cw_datum_t *d, uint64_t hash, int64_t minute_ms, const char *ident, size_t len)
{
    return d->hash == hash && d->minute_ms == minute_ms && d->identlen == len && memcmp(d->ident, ident, len) == 0;
}

static cw_datum_t *table_find(const cw_ns_t *ns, uint64_t hash, int64_t minute_ms, const char *ident, size_t len)
{
    for (size_t i = hash & ns->slot_mask;; i = (i + 1) & ns->slot_mask) {
        cw_datum_t *d = ns->slots[i];
        if (d == NULL)
            return NULL;
        if (same_identity(d, hash, minute_ms, ident, len))
            return d;
    }
}

static void table_put(cw_datum_t **slots, size_t mask, cw_datum_t *d)
{
    size_t i = d->hash & mask;
    while (slots[i] != NULL)
        i = (i + 1) & mask;
    slots[i] = d;
}

static void table_insert(cw_ns_t *ns, cw_datum_t *d)
{
    if ((ns->slot_used + 1) * 2 > ns->slot_mask + 1) {
        size_t size = (ns->slot_mask + 1) * 2;
        cw_datum_t **slots = gm_calloc(size, sizeof(*slots));
        for (size_t i = 0; i <= ns->slot_mask; i++)
            if (ns->slots[i] != NULL)
                table_put(slots, size - 1, ns->slots[i]);
        free(ns->slots);
        ns->slots = slots;
        ns->slot_mask = size - 1;
    }
    table_put(ns->slots, ns->slot_mask, d);
    ns->slot_used++;
    d->open = true;
}

/* Backward-shift deletion: later entries of the probe run move up, so no
 * tombstones accumulate. */
static void table_remove(cw_ns_t *ns, cw_datum_t *d)
{
    const size_t mask = ns->slot_mask;
    size_t i = d->hash & mask;
    while (ns->slots[i] != d)
        i = (i + 1) & mask; /* d is in the table: the loop ends */
    for (;;) {
        ns->slots[i] = NULL;
        size_t j = i;
        for (;;) {
            j = (j + 1) & mask;
            cw_datum_t *e = ns->slots[j];
            if (e == NULL) {
                ns->slot_used--;
                d->open = false;
                return;
            }
            size_t home = e->hash & mask;
            /* e may move to i unless its home lies cyclically in (i, j]. */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) {
                ns->slots[i] = e;
                i = j;
                break;
            }
        }
    }
}

/* ------------------------------------------------------- namespaces */

cw_ns_t *gm_cw_ns_get(gm_cw_t *cw, const char *name)
{
    for (size_t i = 0; i < cw->nns; i++)
        if (strcmp(cw->ns[i]->name, name) == 0)
            return cw->ns[i];
    cw_ns_t *ns = gm_calloc(1, sizeof(*ns));
    ns->name = gm_strdup(name);
    ns->slot_mask = 63;
    ns->slots = gm_calloc(ns->slot_mask + 1, sizeof(*ns->slots));
    ns->sorted = true;
    cw->ns = gm_realloc(cw->ns, (cw->nns + 1) * sizeof(*cw->ns));
    cw->ns[cw->nns++] = ns;
    return ns;
}

static void ns_free(cw_ns_t *ns)
{
    for (size_t i = 0; i < ns->count; i++)
        datum_free(ns->queue[ns->head + i]);
    free(ns->queue);
    free(ns->slots);
    free(ns->name);
    free(ns);
}

/* Once a namespace is drained, a backlog's worth of queue and table is
 * given back (every open datum is also queued, so the table is empty). */
static void ns_shrink(cw_ns_t *ns)
{
    ns->head = 0;
    if (ns->alloc > 4096) {
        free(ns->queue);
        ns->queue = NULL;
        ns->alloc = 0;
    }
    if (ns->slot_mask > 1023) {
        free(ns->slots);
        ns->slot_mask = 63;
        ns->slots = gm_calloc(ns->slot_mask + 1, sizeof(*ns->slots));
        ns->slot_used = 0;
    }
}

static void queue_push(cw_ns_t *ns, cw_datum_t *d)
{
    if (ns->head + ns->count == ns->alloc) {
        if (ns->head > 0) {
            memmove(ns->queue, ns->queue + ns->head, ns->count * sizeof(*ns->queue));
            ns->head = 0;
        }
        if (ns->count == ns->alloc) {
            ns->alloc = ns->alloc ? ns->alloc * 2 : 256;
            ns->queue = gm_realloc(ns->queue, ns->alloc * sizeof(*ns->queue));
        }
    }
    if (ns->count > 0 && ns->queue[ns->head + ns->count - 1]->minute_ms > d->minute_ms)
        ns->sorted = false;
    ns->queue[ns->head + ns->count++] = d;
}

static int by_age(const void *a, const void *b)
{
    const cw_datum_t *x = *(cw_datum_t *const *)a;
    const cw_datum_t *y = *(cw_datum_t *const *)b;
    if (x->minute_ms != y->minute_ms)
        return x->minute_ms < y->minute_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ns_sort(cw_ns_t *ns)
{
    if (!ns->sorted) {
        qsort(ns->queue + ns->head, ns->count, sizeof(*ns->queue), by_age);
        ns->sorted = true;
    }
}

/* One sample for the datum with this identity. */
void gm_cw_add_sample(gm_cw_t *cw, cw_ns_t *ns, const char *ident, size_t len, size_t ndims, int64_t minute_ms,
                       double v)
{
    uint64_t hash = hash_of(ident, len, minute_ms);
    cw_datum_t *d = table_find(ns, hash, minute_ms, ident, len);
    if (d != NULL) {
        if (datum_add(d, v))
            return;
        table_remove(ns, d); /* full: stays pending, takes no more */
    }
    d = gm_calloc(1, sizeof(*d));
    d->hash = hash;
    d->minute_ms = minute_ms;
    d->seq = cw->seq++;
    d->ndims = ndims;
    d->ident = gm_malloc(len);
    memcpy(d->ident, ident, len);
    d->identlen = len;
    datum_add(d, v);
    table_insert(ns, d);
    queue_push(ns, d);
    cw->pending++;
}

/* ------------------------------------------------------------ requests */

gm_cw_t *gm_cw_new(const char *namespace_)
{
    gm_cw_t *cw = gm_calloc(1, sizeof(*cw));
    if (namespace_ != NULL)
        gm_cw_ns_get(cw, namespace_);
    return cw;
}

void gm_cw_free(gm_cw_t *cw)
{
    if (cw == NULL)
        return;
    for (size_t i = 0; i < cw->nns; i++)
        ns_free(cw->ns[i]);
    free(cw->ns);
    free(cw);
}

size_t gm_cw_pending(const gm_cw_t *cw)
{
    return cw != NULL ? cw->pending : 0;
}

/* The namespace holding the oldest pending datum. */
static cw_ns_t *oldest_ns(gm_cw_t *cw)
{
    cw_ns_t *best = NULL;
    for (size_t i = 0; i < cw->nns; i++) {
        cw_ns_t *ns = cw->ns[i];
        if (ns->count == 0)
            continue;
        ns_sort(ns);
        if (best == NULL || by_age(&ns->queue[ns->head], &best->queue[best->head]) < 0)
            best = ns;
    }
    return best;
}

char *gm_cw_take_request(gm_cw_t *cw, size_t *datums, size_t *values)
{
    if (datums != NULL)
        *datums = 0;
    if (values != NULL)
        *values = 0;
    if (cw == NULL || cw->pending == 0)
        return NULL;
    cw_ns_t *ns = oldest_ns(cw);

    static const char trailer[] = "]}";
    const size_t trailer_len = sizeof(trailer) - 1;
    gm_cw_buf_t body = {0};
    gm_cw_buf_add(&body, "{\"Namespace\":", 13);
    json_t *jname = gm_need(json_string(ns->name));
    char *name = gm_need(json_dumps(jname, JSON_COMPACT | JSON_ENCODE_ANY));
    json_decref(jname);
    gm_cw_buf_add(&body, name, strlen(name));
    free(name);
    gm_cw_buf_add(&body, ",\"MetricData\":[", 15);

    size_t k = 0;
    uint64_t samples = 0;
    while (k < ns->count && k < GM_CW_MAX_DATUMS) {
        cw_datum_t *d = ns->queue[ns->head + k];
        size_t len;
        char *s = datum_json(d, &len);
        size_t grow = len + (k > 0 ? 1 : 0);
        /* The first datum always goes: one can never come near the limit
         * (30 dimensions of 1 KB and 150 values are ~40 KB). */
        if (k > 0 && body.len + grow + trailer_len > GM_CW_MAX_BYTES) {
            free(s);
            break;
        }
        if (k > 0)
            gm_cw_buf_add(&body, ",", 1);
        gm_cw_buf_add(&body, s, len);
        free(s);
        samples += datum_samples(d);
        k++;
    }
    gm_cw_buf_add(&body, trailer, trailer_len);

    for (size_t i = 0; i < k; i++) {
        cw_datum_t *d = ns->queue[ns->head + i];
        if (d->open)
            table_remove(ns, d);
        datum_free(d);
    }
    ns->head += k;
    ns->count -= k;
    cw->pending -= k;
    if (ns->count == 0)
        ns_shrink(ns);

    if (datums != NULL)
        *datums = k;
    if (values != NULL)
        *values = (size_t)samples;
    return body.p;
}

static char *request_json(const json_t *ns, const json_t *data, size_t from, size_t to)
{
    json_t *req = gm_need(json_object());
    json_object_set(req, "Namespace", (json_t *)ns);
    json_t *md = gm_need(json_array());
    for (size_t i = from; i < to; i++)
        json_array_append(md, json_array_get(data, i));
    json_object_set_new(req, "MetricData", md);
    /* Numbers are re-written from their doubles (17 digits at most): the
     * same values, possibly in more characters than the original. */
    char *s = gm_need(json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER));
    json_decref(req);
    return s;
}

int gm_cw_split_request(const char *body, char **first, char **second)
{
    if (first != NULL)
        *first = NULL;
    if (second != NULL)
        *second = NULL;
    if (body == NULL || first == NULL || second == NULL)
        return -1;
    json_t *root = json_loads(body, 0, NULL);
    const json_t *ns = json_object_get(root, "Namespace");
    const json_t *data = json_object_get(root, "MetricData");
    int rc = -1;
    if (json_is_string(ns) && json_is_array(data) && json_array_size(data) >= 2) {
        size_t n = json_array_size(data), half = n / 2;
        *first = request_json(ns, data, 0, half);
        *second = request_json(ns, data, half, n);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

size_t gm_cw_lower_bound(size_t datums, size_t avg_datum_bytes)
{
    size_t by_count = datums / GM_CW_MAX_DATUMS + (datums % GM_CW_MAX_DATUMS != 0);
    size_t bytes, by_size;
    if (__builtin_mul_overflow(datums, avg_datum_bytes, &bytes))
        by_size = (size_t)ceil((double)datums * (double)avg_datum_bytes / GM_CW_MAX_BYTES);
    else
        by_size = bytes / GM_CW_MAX_BYTES + (bytes % GM_CW_MAX_BYTES != 0);
    return by_count > by_size ? by_count : by_size;
}
