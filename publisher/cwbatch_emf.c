/* gm_cw_add: an EMF line → samples in the batcher's datum store. The line
 * is checked whole before anything is added (see cwbatch.c for what a line
 * becomes, and why minutes). */
#include "gm/cwbatch.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gm/alloc.h"

#include "cwbatch_internal.h"

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
static void add_directive(gm_cw_t *cw, const json_t *root, const json_t *dir, int64_t minute_ms, gm_cw_buf_t *key)
{
    cw_ns_t *ns = gm_cw_ns_get(cw, json_string_value(json_object_get(dir, "Namespace")));
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
            gm_cw_buf_str(key, metric);
            gm_cw_buf_str(key, unit_of(m));
            json_array_foreach(set, k, name)
            {
                gm_cw_buf_str(key, json_string_value(name));
                gm_cw_buf_str(key, json_string_value(json_object_get(root, json_string_value(name))));
            }
            if (json_is_array(v)) {
                const json_t *e;
                size_t x;
                json_array_foreach(v, x, e)
                {
                    gm_cw_add_sample(cw, ns, key->p, key->len, json_array_size(set), minute_ms, json_number_value(e));
                }
            } else {
                gm_cw_add_sample(cw, ns, key->p, key->len, json_array_size(set), minute_ms, json_number_value(v));
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
        gm_cw_buf_t key = {0};
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

