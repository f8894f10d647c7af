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
#include <unistd.h>

#include "gm/alloc.h"

#define MINUTE_MS 60000
#define NAME_MAX_LEN 255                   /* metric, dimension name and namespace */
#define DIM_VALUE_MAX_LEN 1024             /* dimension value */
#define TIMESTAMP_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define DUMP_FLAGS(prec) (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(prec))

/* ------------------------------------------------------------- types */

typedef struct {
    uint64_t hash;     /* of ident and minute */
    int64_t minute_ms; /* _aws.Timestamp truncated to the minute */
    uint64_t seq;      /* arrival order: ties between equal minutes */
    bool open;         /* in the table: still takes new values */
    size_t ndims;
    char *ident; /* "metric\0unit\0name1\0value1\0..." */
    size_t identlen;
    size_t n, cap; /* distinct values held / allocated */
    double *values;
    uint64_t *counts;
} cw_datum_t;

typedef struct {
    char *name;
    cw_datum_t **slots; /* hash table of the open datums; NULL = empty */
    size_t slot_mask;   /* table size − 1 (a power of two) */
    size_t slot_used;
    cw_datum_t **queue; /* pending datums: queue[head .. head+count) */
    size_t head, count, alloc;
    bool sorted; /* queue in (minute, seq) order */
} cw_ns_t;

struct gm_cw {
    cw_ns_t **ns;
    size_t nns;
    size_t pending; /* datums over all namespaces */
    uint64_t seq;
};

/* Out of memory inside jansson: the one condition the service does not
 * survive (gm/alloc.h), handled the same way. */
static void *need(void *p)
{
    if (p == NULL) {
        static const char msg[] = "{\"level\":\"fatal\",\"module\":\"cwbatch\",\"msg\":\"out of memory\"}\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)r;
        abort();
    }
    return p;
}

/* ------------------------------------------------------------ buffer */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const void *s, size_t n)
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

static void buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s) + 1); /* with the NUL: ident keys */
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
        return need(json_integer((json_int_t)v));
    return need(json_real(v));
}

/* One datum as compact JSON: {"MetricName","Dimensions"?,"Timestamp",
 * "Unit","Value" | "Values"+"Counts"}. Dimensions is left out for the
 * empty set (optional in the API). */
static char *datum_json(const cw_datum_t *d, size_t *len)
{
    const char *metric = d->ident;
    const char *unit = metric + strlen(metric) + 1;
    const char *p = unit + strlen(unit) + 1;

    json_t *o = need(json_object());
    /* Every string came out of json_loadb: valid UTF-8 without NUL. */
    json_object_set_new(o, "MetricName", need(json_string_nocheck(metric)));
    if (d->ndims > 0) {
        json_t *dims = need(json_array());
        for (size_t i = 0; i < d->ndims; i++) {
            const char *name = p;
            const char *value = name + strlen(name) + 1;
            p = value + strlen(value) + 1;
            json_t *dim = need(json_object());
            json_object_set_new(dim, "Name", need(json_string_nocheck(name)));
            json_object_set_new(dim, "Value", need(json_string_nocheck(value)));
            json_array_append_new(dims, dim);
        }
        json_object_set_new(o, "Dimensions", dims);
    }
    json_object_set_new(o, "Timestamp", need(json_integer(d->minute_ms / 1000)));
    json_object_set_new(o, "Unit", need(json_string_nocheck(unit)));

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
        json_t *values = need(json_array());
        json_t *counts = need(json_array());
        for (size_t i = 0; i < d->n; i++) {
            json_array_append_new(values, number(d->values[i]));
            json_array_append_new(counts, need(json_integer((json_int_t)d->counts[i])));
        }
        json_object_set_new(o, "Values", values);
        json_object_set_new(o, "Counts", counts);
    }
    char *s = need(json_dumps(o, DUMP_FLAGS(prec)));
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

static cw_ns_t *ns_get(gm_cw_t *cw, const char *name)
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
static void add_sample(gm_cw_t *cw, cw_ns_t *ns, const char *ident, size_t len, size_t ndims, int64_t minute_ms,
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

/* ---------------------------------------------------------- the line */

static const char *const units[] = {
    "Seconds",          "Microseconds",     "Milliseconds", "Bytes",           "Kilobytes",        "Megabytes",
    "Gigabytes",        "Terabytes",        "Bits",         "Kilobits",        "Megabits",         "Gigabits",
    "Terabits",         "Percent",          "Count",        "Bytes/Second",    "Kilobytes/Second", "Megabytes/Second",
    "Gigabytes/Second", "Terabytes/Second", "Bits/Second",  "Kilobits/Second", "Megabits/Second",  "Gigabits/Second",
    "Terabits/Second",  "Count/Second",     "None",
};

static bool known_unit(const char *u)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(u, units[i]) == 0)
            return true;
    return false;
}

static bool string_len_ok(const json_t *s, size_t max)
{
    return json_is_string(s) && json_string_length(s) >= 1 && json_string_length(s) <= max;
}

static bool value_ok(const json_t *v)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    return isfinite(d) && fabs(d) <= 0x1p360; /* CloudWatch's range */
}

static const char *unit_of(const json_t *metric)
{
    const json_t *u = json_object_get(metric, "Unit");
    return u != NULL ? json_string_value(u) : "None";
}

/* Checks one directive against the root; NULL when usable, else why not.
 * Adds its datums to *in (sets of ≤ 30 names) and *oversize (the rest). */
static const char *check_directive(const json_t *root, const json_t *dir, size_t *in, size_t *oversize)
{
    if (!json_is_object(dir))
        return "metric directive is not an object";
    if (!string_len_ok(json_object_get(dir, "Namespace"), NAME_MAX_LEN))
        return "directive Namespace missing or invalid";
    const json_t *sets = json_object_get(dir, "Dimensions");
    const json_t *metrics = json_object_get(dir, "Metrics");
    if (!json_is_array(sets))
        return "directive Dimensions is not an array";
    if (!json_is_array(metrics))
        return "directive Metrics is not an array";

    size_t usable = 0, big = 0, i, j;
    const json_t *set, *name;
    json_array_foreach(sets, i, set)
    {
        if (!json_is_array(set))
            return "dimension set is not an array";
        json_array_foreach(set, j, name)
        {
            if (!string_len_ok(name, NAME_MAX_LEN))
                return "dimension name is not a string of 1-255 characters";
            if (!string_len_ok(json_object_get(root, json_string_value(name)), DIM_VALUE_MAX_LEN))
                return "dimension value missing, not a string, or not 1-1024 characters";
            for (size_t k = 0; k < j; k++)
                if (strcmp(json_string_value(json_array_get(set, k)), json_string_value(name)) == 0)
                    return "dimension set names a dimension twice";
        }
        if (json_array_size(set) <= GM_CW_MAX_DIMENSIONS)
            usable++;
        else
            big++;
    }

    const json_t *m;
    json_array_foreach(metrics, i, m)
    {
        if (!json_is_object(m))
            return "metric definition is not an object";
        const json_t *n = json_object_get(m, "Name");
        if (!string_len_ok(n, NAME_MAX_LEN))
            return "metric Name is not a string of 1-255 characters";
        const json_t *u = json_object_get(m, "Unit");
        if (u != NULL && (!json_is_string(u) || !known_unit(json_string_value(u))))
            return "metric Unit is not a CloudWatch unit";
        const json_t *v = json_object_get(root, json_string_value(n));
        if (json_is_array(v)) {
            const json_t *e;
            json_array_foreach(v, j, e)
            {
                if (!value_ok(e))
                    return "metric value array holds a non-number or a number beyond 2^360";
            }
        } else if (!value_ok(v)) {
            return "metric value missing, not a number, or beyond 2^360";
        }
    }
    *in += usable * json_array_size(metrics);
    *oversize += big * json_array_size(metrics);
    return NULL;
}

/* Adds the datums of a checked directive. */
static void add_directive(gm_cw_t *cw, const json_t *root, const json_t *dir, int64_t minute_ms, buf_t *key)
{
    cw_ns_t *ns = ns_get(cw, json_string_value(json_object_get(dir, "Namespace")));
    const json_t *sets = json_object_get(dir, "Dimensions");
    const json_t *metrics = json_object_get(dir, "Metrics");
    size_t i, j, k;
    const json_t *m, *set, *name;
    json_array_foreach(metrics, i, m)
    {
        const char *metric = json_string_value(json_object_get(m, "Name"));
        const json_t *v = json_object_get(root, metric);
        json_array_foreach(sets, j, set)
        {
            if (json_array_size(set) > GM_CW_MAX_DIMENSIONS)
                continue;
            key->len = 0;
            buf_str(key, metric);
            buf_str(key, unit_of(m));
            json_array_foreach(set, k, name)
            {
                buf_str(key, json_string_value(name));
                buf_str(key, json_string_value(json_object_get(root, json_string_value(name))));
            }
            if (json_is_array(v)) {
                const json_t *e;
                size_t x;
                json_array_foreach(v, x, e)
                {
                    add_sample(cw, ns, key->p, key->len, json_array_size(set), minute_ms, json_number_value(e));
                }
            } else {
                add_sample(cw, ns, key->p, key->len, json_array_size(set), minute_ms, json_number_value(v));
            }
        }
    }
}

static int fail(char *reason, size_t reasonlen, const char *why)
{
    if (reason != NULL && reasonlen > 0)
        snprintf(reason, reasonlen, "%s", why);
    return -1;
}

/* Whether CloudWatch takes a datum stamped minute_ms when the time is
 * now_ms. Unsigned differences: no overflow whatever now_ms is. */
static bool in_window(int64_t minute_ms, int64_t now_ms)
{
    if (minute_ms < now_ms)
        return (uint64_t)now_ms - (uint64_t)minute_ms <= (uint64_t)GM_CW_MAX_AGE_MS;
    return (uint64_t)minute_ms - (uint64_t)now_ms <= (uint64_t)GM_CW_MAX_AHEAD_MS;
}

/* Checks a parsed line; NULL when usable, else why not. */
static const char *check_line(const json_t *root, int64_t *ts, size_t *in, size_t *oversize)
{
    if (root == NULL)
        return "not JSON";
    if (!json_is_object(root))
        return "not a JSON object";
    const json_t *aws = json_object_get(root, "_aws");
    if (!json_is_object(aws))
        return "no _aws object";
    const json_t *t = json_object_get(aws, "Timestamp");
    if (json_is_integer(t) && json_integer_value(t) >= 0 && json_integer_value(t) <= TIMESTAMP_MAX_MS)
        *ts = (int64_t)json_integer_value(t);
    else if (json_is_real(t) && json_real_value(t) >= 0 && json_real_value(t) <= (double)TIMESTAMP_MAX_MS)
        *ts = (int64_t)json_real_value(t);
    else
        return "_aws.Timestamp is not epoch milliseconds";
    const json_t *directives = json_object_get(aws, "CloudWatchMetrics");
    if (!json_is_array(directives) || json_array_size(directives) == 0)
        return "_aws.CloudWatchMetrics is not a non-empty array";
    size_t i;
    const json_t *dir;
    json_array_foreach(directives, i, dir)
    {
        const char *why = check_directive(root, dir, in, oversize);
        if (why != NULL)
            return why;
    }
    return NULL;
}

int gm_cw_add(gm_cw_t *cw, const char *emf_line, size_t len, int64_t now_ms, size_t *rejected, char *reason,
              size_t reasonlen)
{
    if (rejected != NULL)
        *rejected = 0;
    if (reason != NULL && reasonlen > 0)
        reason[0] = '\0';
    if (cw == NULL || emf_line == NULL)
        return fail(reason, reasonlen, "no batcher or no line");

    json_t *root = json_loadb(emf_line, len, JSON_REJECT_DUPLICATES, NULL);
    int64_t ts = 0;
    size_t in = 0, oversize = 0;
    const char *why = check_line(root, &ts, &in, &oversize);
    if (why != NULL) {
        json_decref(root);
        return fail(reason, reasonlen, why);
    }

    /* Every datum of the line has the same minute: the line is added or
     * rejected whole, except for sets over the dimension limit, which
     * CloudWatch would refuse on their own (the configuration caps sets at
     * 30 names, so gm_emf_format never writes one). */
    const int64_t minute_ms = ts - ts % MINUTE_MS;
    if (!in_window(minute_ms, now_ms)) {
        if (rejected != NULL)
            *rejected = in + oversize;
    } else {
        if (rejected != NULL)
            *rejected = oversize;
        const json_t *directives = json_object_get(json_object_get(root, "_aws"), "CloudWatchMetrics");
        buf_t key = {0};
        size_t i;
        const json_t *dir;
        json_array_foreach(directives, i, dir)
        {
            add_directive(cw, root, dir, minute_ms, &key);
        }
        free(key.p);
    }
    json_decref(root);
    return 0;
}

/* ------------------------------------------------------------ requests */

gm_cw_t *gm_cw_new(const char *namespace_)
{
    gm_cw_t *cw = gm_calloc(1, sizeof(*cw));
    if (namespace_ != NULL)
        ns_get(cw, namespace_);
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
    buf_t body = {0};
    buf_add(&body, "{\"Namespace\":", 13);
    json_t *jname = need(json_string(ns->name));
    char *name = need(json_dumps(jname, JSON_COMPACT | JSON_ENCODE_ANY));
    json_decref(jname);
    buf_add(&body, name, strlen(name));
    free(name);
    buf_add(&body, ",\"MetricData\":[", 15);

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
            buf_add(&body, ",", 1);
        buf_add(&body, s, len);
        free(s);
        samples += datum_samples(d);
        k++;
    }
    buf_add(&body, trailer, trailer_len);

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
    json_t *req = need(json_object());
    json_object_set(req, "Namespace", (json_t *)ns);
    json_t *md = need(json_array());
    for (size_t i = from; i < to; i++)
        json_array_append(md, json_array_get(data, i));
    json_object_set_new(req, "MetricData", md);
    /* Numbers are re-written from their doubles (17 digits at most): the
     * same values, possibly in more characters than the original. */
    char *s = need(json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER));
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
