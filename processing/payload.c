/* gm_payload: yajl checks the whole body, jansson builds only the kept paths.
 *
 * Decisions
 *
 * What is kept
 * - The paths in the table below: every field processing/event.c reads
 *   (see its top comment), the top-level `action` and `repository.full_name`
 *   for the log line, and `zen` / `hook_id` for pings. Adding a field is one
 *   line in the table.
 * - A value at a kept path is kept whatever its type, so that gm_event_*
 *   still sees, and refuses, a wrong type. A path with children ("descend")
 *   keeps only those children when its value is an object; any other value
 *   there (a string, an array, ...) is kept as it is. Kept arrays and objects
 *   below that are built whole.
 * - Everything else is only validated, never built.
 *
 * What is refused: what json_loadb(..., JSON_REJECT_DUPLICATES) refuses,
 * with two documented differences (depth and skipped duplicates, below).
 * - Not JSON: yajl with comments, trailing garbage, several values and
 *   partial values all off (set explicitly, though they are yajl's defaults).
 *   yajl still lets an unfinished string follow the object ("{} \"x"), so
 *   only JSON whitespace may follow its closing brace; and it takes \v and \f
 *   for whitespace, so those two bytes are refused anywhere.
 * - A top-level value that is not an object, refused at its first token.
 * - Nesting deeper than GM_PAYLOAD_MAX_DEPTH containers anywhere (the top-
 *   level object counts as 1), refused at the opening bracket that is one too
 *   many, so 10,000 nested arrays cost 65 callbacks. jansson allows 2048.
 * - Numbers: yajl's number callback hands over the raw text, converted here
 *   the way jansson does (strtoll; strtod with the locale's decimal point), so
 *   `1` is an integer, `1.0` and `1e2` are reals, an integer outside long long
 *   and a real that overflows a double are refused everywhere, and a real that
 *   underflows becomes 0 / a subnormal. (yajl's own integer callback refuses
 *   LLONG_MIN, which jansson accepts.)
 * - Strings and keys, everywhere: yajl only checks the shape of UTF-8 byte
 *   sequences. It lets through overlong forms, encoded surrogates and code
 *   points above U+10FFFF, turns a lone \uD800 escape into "?", and pairs
 *   \uD800 with any following \uXXXX. So the whole body is first checked as
 *   strict UTF-8 (Unicode table 3-7) in one pass (bytes above 0x7F can only
 *   be in strings), and a string or key that had escapes has its raw text
 *   found (yajl_get_bytes_consumed is just past the closing quote while the
 *   callback runs) and its \u escapes must pair surrogates correctly. A NUL
 *   (\u0000) is refused in every string and key, as jansson does without
 *   JSON_ALLOW_NUL: kept ones would be cut short at the NUL, and refusing it
 *   everywhere costs nothing more (only escaped strings can hold one).
 * - Duplicate keys: refused among all the keys of the top-level object, and
 *   among the kept keys of every object that is built (descended ones and
 *   those inside kept values). A key repeated inside a skipped value, or a
 *   skipped key repeated inside a descended object (two "steps" in
 *   workflow_job), is accepted: nothing reads it, so it cannot make the body
 *   mean two things to this service, and tracking every key would cost the
 *   hashing that this module exists to avoid.
 *
 * Reasons name the problem and a byte offset, never payload bytes. yajl's
 * non-verbose error message is used: it is one of yajl's fixed strings (only
 * the verbose form quotes the input).
 *
 * Memory: kept containers are linked into their parent as soon as they open,
 * so on any error freeing the root frees everything built. */
#include "gm/payload.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "gm/alloc.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ------------------------------------------------------------ the paths */

typedef struct path path_t;
struct path {
    const char *key;
    size_t len;
    const path_t *children; /* an object here keeps only these; NULL: kept whole */
};

/* clang-format off */
#define KEEP(k) {k, sizeof(k) - 1, NULL}
#define DESCEND(k, children) {k, sizeof(k) - 1, children}
#define END {NULL, 0, NULL}
/* clang-format on */

static const path_t repository_paths[] = {KEEP("full_name"), END};

static const path_t workflow_paths[] = {KEEP("name"), END};

static const path_t run_paths[] = {
    KEEP("id"),
    KEEP("run_attempt"),
    KEEP("run_number"),
    KEEP("name"),
    KEEP("workflow_id"),
    KEEP("event"),
    KEEP("head_branch"),
    KEEP("html_url"),
    KEEP("status"),
    KEEP("conclusion"),
    KEEP("created_at"),
    KEEP("run_started_at"),
    KEEP("updated_at"), /* a run's completion time */
    END,
};

static const path_t job_paths[] = {
    KEEP("id"),
    KEEP("run_id"),
    KEEP("run_attempt"),
    KEEP("name"),
    KEEP("workflow_name"),
    KEEP("head_branch"),
    KEEP("html_url"),
    KEEP("status"),
    KEEP("conclusion"),
    KEEP("created_at"),
    KEEP("started_at"),
    KEEP("completed_at"),
    KEEP("labels"), /* kept whole, whatever it holds */
    KEEP("runner_name"),
    KEEP("runner_group_name"),
    END,
};

/* The backfill's mark on the deliveries it hands to the receiver (covered
 * by the signature like the rest of the body). */
static const path_t marker_paths[] = {KEEP("source"), END};

static const path_t top_paths[] = {
    KEEP("action"),
    KEEP("zen"),     /* ping */
    KEEP("hook_id"), /* ping */
    DESCEND("repository", repository_paths),
    DESCEND("workflow", workflow_paths),
    DESCEND("workflow_run", run_paths),
    DESCEND("workflow_job", job_paths),
    DESCEND("gha_metrics", marker_paths),
    END,
};

static const path_t *find_path(const path_t *t, const unsigned char *key, size_t len)
{
    for (; t->key != NULL; t++)
        if (t->len == len && memcmp(t->key, key, len) == 0)
            return t;
    return NULL;
}

/* ------------------------------------------------------- parse context */

typedef struct {
    json_t *node;        /* the container being built (borrowed); NULL while skipping */
    const path_t *paths; /* for a built object: the keys kept; NULL: all of them */
} frame_t;

typedef struct {
    yajl_handle yh;
    const unsigned char *text;
    size_t len;

    frame_t stack[GM_PAYLOAD_MAX_DEPTH]; /* stack[depth - 1]: innermost open container */
    int depth;
    json_t *root; /* owned until handed to the caller */
    json_t *seen; /* every key of the top-level object (values: null) */

    /* Set by each key of an object: whether the value that follows is built,
     * under which key, and (for an object there) which of its keys to keep. */
    bool keep_next;
    const path_t *next_paths;
    char *key;
    size_t keylen, keycap;

    size_t root_end; /* just past the top-level object's closing brace */
    const char *why; /* why a callback stopped the parse */
    size_t at;       /* bytes consumed then */
} parse_t;

static int stop(parse_t *p, const char *why)
{
    p->why = why;
    p->at = yajl_get_bytes_consumed(p->yh);
    return 0;
}

/* For a scalar now starting: 1 to build it, 0 to skip it, -1 when it is the
 * top-level value (the parse is stopped). */
static int scalar_target(parse_t *p)
{
    if (p->depth == 0) {
        stop(p, "not a JSON object");
        return -1;
    }
    const frame_t *f = &p->stack[p->depth - 1];
    if (f->node == NULL)
        return 0;
    return json_is_array(f->node) || p->keep_next;
}

/* Adds a new value (stolen, may be NULL after a failed allocation) to the
 * innermost built container. Returns the callback's answer. */
static int place(parse_t *p, json_t *v)
{
    json_t *c = p->stack[p->depth - 1].node;
    int rc = json_is_array(c) ? json_array_append_new(c, v) : json_object_setn_new_nocheck(c, p->key, p->keylen, v);
    return rc == 0 ? 1 : stop(p, "out of memory");
}

/* --------------------------------------------------- strings and keys */

/* Strict UTF-8 (Unicode 15, table 3-7): no overlong forms, no surrogates,
 * nothing above U+10FFFF. Returns the length of the valid prefix (n when it
 * is all valid). */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    const uint64_t high = UINT64_C(0x8080808080808080);
    size_t i = 0;
    while (i < n) {
        while (n - i >= 32) { /* ASCII runs, 32 bytes at a time */
            uint64_t w[4];
            memcpy(w, s + i, sizeof(w));
            if (((w[0] | w[1] | w[2] | w[3]) & high) != 0)
                break;
            i += 32;
        }
        if (i == n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        unsigned lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (n - i <= more || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += more + 1;
    }
    return n;
}

static unsigned hex4(const unsigned char *h)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = h[i];
        v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); /* yajl checked the digits */
    }
    return v;
}

/* Checks the \u escapes of the string or key token yajl has just read:
 * surrogates must come in high-low pairs. false also when the token cannot
 * be found (refused rather than guessed). */
static bool escapes_valid(const parse_t *p)
{
    const unsigned char *t = p->text;
    size_t end = yajl_get_bytes_consumed(p->yh);
    if (end < 2 || end > p->len || t[end - 1] != '"')
        return false;
    size_t close = end - 1, open = close;
    /* The opening quote is the nearest one before that is preceded by an
     * even number of backslashes: a quote inside is always escaped. */
    for (;;) {
        if (open == 0)
            return false;
        open--;
        if (t[open] != '"')
            continue;
        size_t k = open;
        while (k > 0 && t[k - 1] == '\\')
            k--;
        if ((open - k) % 2 == 0)
            break;
    }
    for (size_t i = open + 1; i < close; i++) {
        if (t[i] != '\\')
            continue;
        i++; /* the escaped character: yajl checked there is one */
        if (t[i] != 'u')
            continue;
        if (close - i < 5)
            return false;
        unsigned cp = hex4(t + i + 1);
        i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (close - i < 7 || t[i + 1] != '\\' || t[i + 2] != 'u')
                return false;
            unsigned low = hex4(t + i + 3);
            if (low < 0xDC00 || low > 0xDFFF)
                return false;
            i += 6;
        }
    }
    return true;
}

/* What jansson refuses in a string or key that yajl lets through. The raw
 * bytes were checked as UTF-8 up front; what remains is in the escapes. */
static int check_text(parse_t *p, const unsigned char *s, size_t n, bool is_key)
{
    /* Without escapes yajl hands out a pointer into the body: nothing more
     * to check. Otherwise it hands out its unescaped copy. */
    if ((uintptr_t)s - (uintptr_t)p->text < p->len)
        return 1;
    if (memchr(s, '\0', n) != NULL)
        return stop(p, is_key ? "key with NUL" : "string with NUL");
    if (!escapes_valid(p))
        return stop(p, "invalid \\u escape");
    return 1;
}

/* ------------------------------------------------------------ callbacks */

static int null_cb(void *ctx)
{
    parse_t *p = ctx;
    int k = scalar_target(p);
    return k <= 0 ? k == 0 : place(p, json_null());
}

static int boolean_cb(void *ctx, int b)
{
    parse_t *p = ctx;
    int k = scalar_target(p);
    return k <= 0 ? k == 0 : place(p, json_boolean(b));
}

/* Converts like jansson's lexer: a number without '.', 'e' or 'E' is an
 * integer. yajl has checked the syntax. */
static int number_cb(void *ctx, const char *s, size_t n)
{
    parse_t *p = ctx;
    int k = scalar_target(p);
    if (k < 0)
        return 0;
    bool real = false;
    for (size_t i = 0; i < n && !real; i++)
        real = s[i] == '.' || s[i] == 'e' || s[i] == 'E';

    if (!real) {
        size_t digits = n - (s[0] == '-');
        if (digits <= 18 && k == 0) /* fits in a long long: nothing to do */
            return 1;
        if (digits > 19) /* JSON has no leading zeros: more than 19 digits cannot fit */
            return stop(p, "integer overflow");
        char buf[24];
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            return stop(p, "integer overflow");
        return k == 0 ? 1 : place(p, json_integer(v));
    }

    char small[64];
    char *buf = n < sizeof(small) ? small : gm_malloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* strtod reads the locale's decimal point; the service never calls
     * setlocale, but do as jansson does in case something does. */
    const char *point = localeconv()->decimal_point;
    if (point[0] != '.' && point[0] != '\0') {
        char *dot = strchr(buf, '.');
        if (dot != NULL)
            *dot = point[0];
    }
    errno = 0;
    double d = strtod(buf, NULL);
    int overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (buf != small)
        free(buf);
    if (overflow)
        return stop(p, "real number overflow");
    return k == 0 ? 1 : place(p, json_real(d));
}

static int string_cb(void *ctx, const unsigned char *s, size_t n)
{
    parse_t *p = ctx;
    int k = scalar_target(p);
    if (k < 0 || !check_text(p, s, n, false))
        return 0;
    return k == 0 ? 1 : place(p, json_stringn_nocheck((const char *)s, n));
}

static int map_key_cb(void *ctx, const unsigned char *key, size_t n)
{
    parse_t *p = ctx;
    if (!check_text(p, key, n, true))
        return 0;
    const frame_t *f = &p->stack[p->depth - 1];
    p->keep_next = false;
    if (f->node == NULL)
        return 1;

    const path_t *path = NULL;
    if (f->paths != NULL) {
        if (p->depth == 1) { /* the top level: every key counts */
            if (json_object_getn(p->seen, (const char *)key, n) != NULL)
                return stop(p, "duplicate key");
            if (json_object_setn_new_nocheck(p->seen, (const char *)key, n, json_null()) != 0)
                return stop(p, "out of memory");
        }
        path = find_path(f->paths, key, n);
        if (path == NULL)
            return 1;
    }
    if (json_object_getn(f->node, (const char *)key, n) != NULL)
        return stop(p, "duplicate key");

    if (p->key == NULL || n > p->keycap) { /* never NULL once a key is kept, even "" */
        p->keycap = n > 2 * p->keycap ? n : 2 * p->keycap;
        p->keycap = p->keycap < 32 ? 32 : p->keycap;
        p->key = gm_realloc(p->key, p->keycap);
    }
    if (n > 0)
        memcpy(p->key, key, n);
    p->keylen = n;
    p->keep_next = true;
    p->next_paths = path != NULL ? path->children : NULL;
    return 1;
}

static int start(parse_t *p, bool is_object)
{
    if (p->depth == GM_PAYLOAD_MAX_DEPTH)
        return stop(p, "nesting deeper than " STR(GM_PAYLOAD_MAX_DEPTH));
    frame_t *child = &p->stack[p->depth];
    *child = (frame_t){NULL, NULL};

    if (p->depth == 0) {
        if (!is_object)
            return stop(p, "not a JSON object");
        p->root = json_object();
        p->seen = json_object();
        if (p->root == NULL || p->seen == NULL)
            return stop(p, "out of memory");
        *child = (frame_t){p->root, top_paths};
    } else {
        const frame_t *parent = &p->stack[p->depth - 1];
        if (parent->node != NULL && (json_is_array(parent->node) || p->keep_next)) {
            json_t *c = is_object ? json_object() : json_array();
            if (!place(p, c))
                return 0;
            /* Only an object under a "descend" key is filtered. */
            child->node = c;
            child->paths = is_object && json_is_object(parent->node) ? p->next_paths : NULL;
        }
    }
    p->depth++;
    return 1;
}

static int start_map_cb(void *ctx)
{
    return start(ctx, true);
}

static int start_array_cb(void *ctx)
{
    return start(ctx, false);
}

static int end_cb(void *ctx)
{
    parse_t *p = ctx;
    if (--p->depth == 0)
        p->root_end = yajl_get_bytes_consumed(p->yh);
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = null_cb,
    .yajl_boolean = boolean_cb,
    .yajl_number = number_cb, /* used for every number: yajl_integer / yajl_double are not called */
    .yajl_string = string_cb,
    .yajl_start_map = start_map_cb,
    .yajl_map_key = map_key_cb,
    .yajl_end_map = end_cb,
    .yajl_start_array = start_array_cb,
    .yajl_end_array = end_cb,
};

/* ----------------------------------------------------------------- parse */

static void say(char *reason, size_t reasonlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *reason, size_t reasonlen, const char *fmt, ...)
{
    if (reason == NULL || reasonlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, reasonlen, fmt, ap);
    va_end(ap);
}

/* The offset of the first c in t[0, limit), or limit. */
static size_t first_of(const void *t, size_t len, int c, size_t limit)
{
    const char *at = memchr(t, c, limit < len ? limit : len);
    return at != NULL ? (size_t)(at - (const char *)t) : limit;
}

static size_t skip_whitespace(const unsigned char *t, size_t i, size_t len)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

/* yajl's error as "invalid JSON at byte N: <yajl's fixed message>". */
static void say_yajl_error(const parse_t *p, size_t at, char *reason, size_t reasonlen)
{
    unsigned char *msg = yajl_get_error(p->yh, 0, p->text, p->len); /* 0: not verbose, quotes nothing */
    if (msg == NULL) {
        say(reason, reasonlen, "invalid JSON at byte %zu", at);
        return;
    }
    size_t n = strcspn((const char *)msg, "\n");
    say(reason, reasonlen, "invalid JSON at byte %zu: %.*s", at, (int)n, (const char *)msg);
    yajl_free_error(p->yh, msg);
}

json_t *gm_payload_parse(const void *text, size_t len, char *reason, size_t reasonlen)
{
    if (reason != NULL && reasonlen > 0)
        reason[0] = '\0';
    if (text == NULL || len == 0) {
        say(reason, reasonlen, "empty body");
        return NULL;
    }

    /* Bytes above 0x7F may only appear inside strings (yajl refuses them
     * elsewhere), so one pass over the body checks every unescaped string
     * and key, at a fraction of the cost of a check per string. */
    size_t valid = utf8_valid_prefix(text, len);
    if (valid < len) {
        say(reason, reasonlen, "invalid UTF-8 at byte %zu", valid + 1);
        return NULL;
    }
    /* yajl also takes \v and \f for whitespace; JSON does not (and in a
     * string they are control characters, which it refuses). */
    size_t bad = first_of(text, len, '\v', first_of(text, len, '\f', len));
    if (bad < len) {
        say(reason, reasonlen, "invalid JSON at byte %zu: \\v or \\f", bad + 1);
        return NULL;
    }

    parse_t p = {.text = text, .len = len};
    p.yh = yajl_alloc(&callbacks, NULL, &p);
    if (p.yh == NULL) {
        say(reason, reasonlen, "out of memory");
        return NULL;
    }
    yajl_config(p.yh, yajl_allow_comments, 0);
    yajl_config(p.yh, yajl_dont_validate_strings, 0);
    yajl_config(p.yh, yajl_allow_trailing_garbage, 0);
    yajl_config(p.yh, yajl_allow_multiple_values, 0);
    yajl_config(p.yh, yajl_allow_partial_values, 0);

    json_t *result = NULL;
    yajl_status st = yajl_parse(p.yh, p.text, len);
    size_t at = yajl_get_bytes_consumed(p.yh);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(p.yh);
        at = len; /* what it finds wrong is at the end of the body */
    }
    if (st == yajl_status_client_canceled && p.why != NULL) {
        if (strcmp(p.why, "not a JSON object") == 0)
            say(reason, reasonlen, "%s", p.why);
        else
            say(reason, reasonlen, "%s at byte %zu", p.why, p.at);
    } else if (st != yajl_status_ok) {
        say_yajl_error(&p, at, reason, reasonlen);
    } else if ((at = skip_whitespace(p.text, p.root_end, len)) < len) {
        /* yajl takes an unfinished string after the object ("{} \"") for
         * one that more input could end, even in yajl_complete_parse. */
        say(reason, reasonlen, "invalid JSON at byte %zu: trailing garbage", at + 1);
    } else if (p.root == NULL) { /* cannot happen: any other value stops the parse */
        say(reason, reasonlen, "not a JSON object");
    } else {
        result = p.root;
        p.root = NULL;
    }

    json_decref(p.root);
    json_decref(p.seen);
    free(p.key);
    yajl_free(p.yh);
    return result;
}
