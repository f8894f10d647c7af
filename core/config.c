/* gm_config: YAML text → gm_config_t.
 *
 * libyaml's document API gives a node tree whose nodes carry their line, so
 * the walk below can name the exact line and key path of any problem. Each
 * section is a table of options (key, kind, field, default, bounds, check);
 * the few shapes a table cannot say (listeners, secrets, dimension sets,
 * teams) have their own loaders. An absent key or a YAML null (an empty
 * value, "~", "null") both mean "not given": the default stays. */
#include "gm/config.h"
#include "gm/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A config is a few KB, a large teams map a few MB; anything bigger is a mistake
 * (a log file passed by accident) better refused than parsed. */
#define CONFIG_FILE_MAX ((size_t)16 << 20)
/* Also keeps file:/dev/zero from filling memory. */
#define SECRET_FILE_MAX ((size_t)64 << 10)
#define THREADS_MAX 1024
/* CloudWatch's limit on dimensions per metric. */
#define DIMSET_MAX 30

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define SECOND ((uint64_t)1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* Enum fields are stored through an int. */
_Static_assert(sizeof(gm_sink_kind_t) == sizeof(int), "enum size");
_Static_assert(sizeof(gm_log_level_t) == sizeof(int), "enum size");

typedef struct loader loader_t;
typedef struct opt opt_t;

typedef enum { OPT_MAP, OPT_STRING, OPT_BOOL, OPT_UINT, OPT_SIZE, OPT_DURATION, OPT_ENUM, OPT_CUSTOM } opt_kind_t;

typedef int (*opt_load_cb)(loader_t *ld, yaml_node_t *node, void *base);
typedef int (*opt_check_cb)(loader_t *ld, yaml_node_t *node, const char *value);

struct opt {
    const char *key;
    opt_kind_t kind;
    size_t offset;              /* of the field within the table's base */
    const char *def;            /* the default, as it would be written in YAML */
    uint64_t min, max;          /* OPT_UINT; OPT_SIZE in bytes; OPT_DURATION in ms */
    bool required;              /* only checked when the enclosing map is given */
    const opt_t *sub;           /* OPT_MAP: a nested table on the same base */
    const char *const *choices; /* OPT_ENUM: NULL-terminated, index = value */
    opt_check_cb check;         /* OPT_STRING: validation beyond "not empty" */
    opt_load_cb load;           /* OPT_CUSTOM */
};

struct loader {
    const char *name;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    size_t pathlen;
    char path[GM_CONFIG_ERR_MAX]; /* "server.listen[1].address" */
};

typedef struct {
    const char *suffix;
    uint64_t factor;
} unit_t;

static const unit_t size_units[] = {
    {"", 1},         {"B", 1},     {"K", KIB}, {"KB", 1000},       {"KiB", KIB}, {"M", MIB},
    {"MB", 1000000}, {"MiB", MIB}, {"G", GIB}, {"GB", 1000000000}, {"GiB", GIB}, {NULL, 0},
};

/* Case-sensitive, unlike sizes: "M" would be ambiguous with months. */
static const unit_t duration_units[] = {
    {"", SECOND}, {"ms", 1}, {"s", SECOND}, {"m", MINUTE}, {"h", HOUR}, {"d", DAY}, {NULL, 0},
};

static const unit_t count_units[] = {{"", 1}, {NULL, 0}};

static const struct {
    const char *text;
    bool value;
} bool_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"on", true}, {"off", false}, {NULL, false},
};

static const char *const sink_names[] = {"emf-file", "cloudwatch", "emf-logs", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const dimension_names[] = {"Repository", "Workflow", "Team", NULL};

/* Where GitHub would otherwise post over the status endpoints. */
static const char *const reserved_paths[] = {"/healthz", "/readyz", "/metrics", NULL};

static const char *const default_dimsets[][4] = {
    {"Repository", "Workflow", NULL},
    {"Repository", NULL},
    {"Team", NULL},
    {NULL},
};

static const char *const kind_expect[] = {
    [OPT_MAP] = "a map",   [OPT_STRING] = "a string",     [OPT_BOOL] = "true or false", [OPT_UINT] = "a whole number",
    [OPT_SIZE] = "a size", [OPT_DURATION] = "a duration", [OPT_ENUM] = "a string",      [OPT_CUSTOM] = "a value",
};

static int load_listen(loader_t *ld, yaml_node_t *node, void *base);
static int load_listen_address(loader_t *ld, yaml_node_t *node, void *base);
static int load_secrets(loader_t *ld, yaml_node_t *node, void *base);
static int load_secret(loader_t *ld, yaml_node_t *node, void *base);
static int load_dimensions(loader_t *ld, yaml_node_t *node, void *base);
static int load_teams(loader_t *ld, yaml_node_t *node, void *base);
static int check_readable(loader_t *ld, yaml_node_t *node, const char *value);
static int check_webhook_path(loader_t *ld, yaml_node_t *node, const char *value);
static int check_namespace(loader_t *ld, yaml_node_t *node, const char *value);
static int check_region(loader_t *ld, yaml_node_t *node, const char *value);
static int check_endpoint(loader_t *ld, yaml_node_t *node, const char *value);
static int check_log_group(loader_t *ld, yaml_node_t *node, const char *value);

#define CFG(f) offsetof(gm_config_t, f)
#define LISTEN(f) offsetof(gm_listen_t, f)

static const opt_t tls_opts[] = {
    {"certificate", OPT_STRING, LISTEN(tls_certificate), .required = true, .check = check_readable},
    {"key", OPT_STRING, LISTEN(tls_key), .required = true, .check = check_readable},
    {NULL},
};

static const opt_t listen_opts[] = {
    {"address", OPT_CUSTOM, 0, .required = true, .load = load_listen_address},
    {"tls", OPT_MAP, 0, .sub = tls_opts},
    {NULL},
};

static const opt_t server_opts[] = {
    {"listen", OPT_CUSTOM, 0, .load = load_listen},
    {"threads", OPT_UINT, CFG(server.threads), "0", 0, THREADS_MAX},
    {"http2", OPT_BOOL, CFG(server.http2), "false"},
    {"shutdown_timeout", OPT_DURATION, CFG(server.shutdown_timeout_ms), "10s", 0, HOUR},
    {"request_timeout", OPT_DURATION, CFG(server.request_timeout_ms), "10s", 1, HOUR},
    {NULL},
};

static const opt_t webhook_opts[] = {
    {"path", OPT_STRING, CFG(webhook.path), "/webhook", .check = check_webhook_path},
    {"secrets", OPT_CUSTOM, 0, .load = load_secrets},
    {"secret", OPT_CUSTOM, 0, .load = load_secret},
    {"max_body", OPT_SIZE, CFG(webhook.max_body), "25MiB", 1, GIB},
    {NULL},
};

static const opt_t spool_opts[] = {
    {"dir", OPT_STRING, CFG(spool.dir), "./var/spool"},
    {"segment_size", OPT_SIZE, CFG(spool.segment_bytes), "64MiB", 1 << 20, 4 * GIB},
    {"min_free", OPT_SIZE, CFG(spool.min_free), "64MiB", 0, 1024 * GIB},
    {"retention", OPT_DURATION, CFG(spool.retention_ms), "24h", 0, 90 * DAY},
    {"ledger_retention", OPT_DURATION, CFG(spool.ledger_retention_ms), "35d", HOUR, 400 * DAY},
    {"ledger_max_entries", OPT_UINT, CFG(spool.ledger_max_entries), "2000000", 1000, 1000000000},
    {NULL},
};

static const opt_t publish_opts[] = {
    {"sink", OPT_ENUM, CFG(publish.sink), "emf-file", .choices = sink_names},
    {"file", OPT_STRING, CFG(publish.file), "./var/metrics.emf.jsonl"},
    {"namespace", OPT_STRING, CFG(publish.namespace_), "GitHubActions", .check = check_namespace},
    {"region", OPT_STRING, CFG(publish.region), .check = check_region},
    {"endpoint", OPT_STRING, CFG(publish.endpoint), .check = check_endpoint},
    {"flush_interval", OPT_DURATION, CFG(publish.flush_interval_ms), "60s", 100, DAY},
    {"max_backlog_age", OPT_DURATION, CFG(publish.max_backlog_age_ms), "15m", SECOND, 7 * DAY},
    {"log_group", OPT_STRING, CFG(publish.log_group), "/gha-metrics/runs", .check = check_log_group},
    {"dimensions", OPT_CUSTOM, 0, .load = load_dimensions},
    {NULL},
};

static const opt_t log_opts[] = {
    {"level", OPT_ENUM, CFG(log.level), "info", .choices = level_names},
    {NULL},
};

static const opt_t top_opts[] = {
    {"server", OPT_MAP, 0, .sub = server_opts},
    {"webhook", OPT_MAP, 0, .sub = webhook_opts},
    {"spool", OPT_MAP, 0, .sub = spool_opts},
    {"publish", OPT_MAP, 0, .sub = publish_opts},
    {"teams", OPT_CUSTOM, 0, .load = load_teams},
    {"log", OPT_MAP, 0, .sub = log_opts},
    {NULL},
};

/* ---- errors and key paths ---- */

static int fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[GM_CONFIG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* No node: the document is empty, so line 1 is as good as any. */
    unsigned long line = node != NULL ? (unsigned long)node->start_mark.line + 1 : 1;
    if (ld->err != NULL && ld->errlen > 0) {
        if (ld->pathlen > 0)
            snprintf(ld->err, ld->errlen, "%s:%lu: %s: %s", ld->name, line, ld->path, msg);
        else
            snprintf(ld->err, ld->errlen, "%s:%lu: %s", ld->name, line, msg);
    }
    return -1;
}

static void path_append(loader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_append(loader_t *ld, const char *fmt, ...)
{
    size_t room = sizeof(ld->path) - ld->pathlen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ld->path + ld->pathlen, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        ld->pathlen += (size_t)n < room ? (size_t)n : room - 1;
}

/* Each push returns the length to give back to path_pop. */
static size_t path_push_key(loader_t *ld, const char *key)
{
    size_t saved = ld->pathlen;
    if (saved > 0)
        path_append(ld, ".%s", key);
    else
        path_append(ld, "%s", key);
    return saved;
}

static size_t path_push_index(loader_t *ld, size_t index)
{
    size_t saved = ld->pathlen;
    path_append(ld, "[%zu]", index);
    return saved;
}

static void path_pop(loader_t *ld, size_t saved)
{
    ld->pathlen = saved;
    ld->path[saved] = '\0';
}

/* ---- nodes ---- */

static yaml_node_t *node_at(loader_t *ld, int index)
{
    return yaml_document_get_node(ld->doc, index);
}

static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE)
        return false;
    if (node->tag != NULL && strcmp((const char *)node->tag, YAML_NULL_TAG) == 0)
        return true;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)node->data.scalar.value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* Never the value itself: it may be a secret. */
static const char *describe(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a map";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return is_null(node) ? "nothing" : "a string";
    default:
        return "nothing";
    }
}

static size_t seq_count(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static int scalar_text(loader_t *ld, yaml_node_t *node, const char *expect, const char **out)
{
    if (node->type != YAML_SCALAR_NODE || is_null(node))
        return fail(ld, node, "expected %s, got %s", expect, describe(node));
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length)
        return fail(ld, node, "must not contain a NUL character");
    *out = s;
    return 0;
}

/* ---- sizes, durations, numbers ---- */

static int parse_scaled(const char *s, const unit_t *units, bool ignore_case, uint64_t *out)
{
    uint64_t n = 0;
    const char *p = s;
    if (s == NULL || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    /* "25 MiB" reads naturally; "25 " is a typo. */
    const char *u = p;
    while (*u == ' ')
        u++;
    if (u != p && *u == '\0')
        return -1;
    for (const unit_t *unit = units; unit->suffix != NULL; unit++) {
        if ((ignore_case ? strcasecmp(u, unit->suffix) : strcmp(u, unit->suffix)) != 0)
            continue;
        if (n > UINT64_MAX / unit->factor)
            return -1;
        *out = n * unit->factor;
        return 0;
    }
    return -1;
}

int gm_config_parse_size(const char *s, uint64_t *out)
{
    return parse_scaled(s, size_units, true, out);
}

int gm_config_parse_duration(const char *s, uint64_t *out_ms)
{
    return parse_scaled(s, duration_units, false, out_ms);
}

/* The largest unit that divides the value exactly, for bounds in messages. */
static void format_scaled(char *buf, size_t len, uint64_t v, const unit_t *units, size_t count, const char *base)
{
    for (size_t i = 0; i < count; i++) {
        if (v != 0 && v % units[i].factor == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", v / units[i].factor, units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64 "%s", v, base);
}

static void format_value(char *buf, size_t len, opt_kind_t kind, uint64_t v)
{
    static const unit_t sizes[] = {{"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
    static const unit_t durations[] = {{"d", DAY}, {"h", HOUR}, {"m", MINUTE}, {"s", SECOND}};
    if (kind == OPT_SIZE)
        format_scaled(buf, len, v, sizes, sizeof(sizes) / sizeof(sizes[0]), "B");
    else if (kind == OPT_DURATION)
        format_scaled(buf, len, v, durations, sizeof(durations) / sizeof(durations[0]), "ms");
    else
        snprintf(buf, len, "%" PRIu64, v);
}

/* ---- options from the tables ---- */

static int set_number(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *field)
{
    static const char *const hint[] = {
        [OPT_UINT] = "a whole number",
        [OPT_SIZE] = "a size such as 25MiB, 512KB or 1048576",
        [OPT_DURATION] = "a duration such as 500ms, 60s, 5m, 2h or 35d",
    };
    uint64_t v;
    int rc;
    if (opt->kind == OPT_SIZE)
        rc = gm_config_parse_size(s, &v);
    else if (opt->kind == OPT_DURATION)
        rc = gm_config_parse_duration(s, &v);
    else
        rc = parse_scaled(s, count_units, false, &v);
    if (rc != 0)
        return fail(ld, node, "expected %s, got \"%.64s\"", hint[opt->kind], s);
    if (v < opt->min || v > opt->max) {
        char lo[32], hi[32];
        format_value(lo, sizeof(lo), opt->kind, opt->min);
        format_value(hi, sizeof(hi), opt->kind, opt->max);
        return fail(ld, node, "must be from %s to %s, got %.64s", lo, hi, s);
    }
    if (opt->kind == OPT_UINT)
        *(unsigned *)field = (unsigned)v;
    else
        *(uint64_t *)field = v;
    return 0;
}

static int set_enum(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *field)
{
    char list[128] = "";
    for (int i = 0; opt->choices[i] != NULL; i++) {
        if (strcmp(s, opt->choices[i]) == 0) {
            memcpy(field, &i, sizeof(i));
            return 0;
        }
    }
    for (size_t i = 0, n = 0; opt->choices[i] != NULL && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "", opt->choices[i]);
    return fail(ld, node, "expected one of %s, got \"%.64s\"", list, s);
}

/* node is NULL when s is a table default. */
static int set_scalar(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *base)
{
    void *field = (char *)base + opt->offset;
    switch (opt->kind) {
    case OPT_STRING:
        if (*s == '\0')
            return fail(ld, node, "must not be empty");
        if (opt->check != NULL && opt->check(ld, node, s) != 0)
            return -1;
        free(*(char **)field);
        *(char **)field = gm_strdup(s);
        return 0;
    case OPT_BOOL:
        for (size_t i = 0; bool_words[i].text != NULL; i++) {
            if (strcasecmp(s, bool_words[i].text) == 0) {
                *(bool *)field = bool_words[i].value;
                return 0;
            }
        }
        return fail(ld, node, "expected true or false, got \"%.64s\"", s);
    case OPT_UINT:
    case OPT_SIZE:
    case OPT_DURATION:
        return set_number(ld, opt, node, s, field);
    case OPT_ENUM:
        return set_enum(ld, opt, node, s, field);
    default:
        return fail(ld, node, "internal error: option %s has no scalar form", opt->key);
    }
}

static int apply_defaults(loader_t *ld, const opt_t *opts, void *base)
{
    for (const opt_t *opt = opts; opt->key != NULL; opt++) {
        if (opt->kind == OPT_MAP && apply_defaults(ld, opt->sub, base) != 0)
            return -1;
        if (opt->def != NULL && set_scalar(ld, opt, NULL, opt->def, base) != 0)
            return -1;
    }
    return 0;
}

static int load_map(loader_t *ld, yaml_node_t *node, const opt_t *opts, void *base);

static int load_opt(loader_t *ld, const opt_t *opt, yaml_node_t *node, void *base)
{
    const char *s;
    if (opt->kind == OPT_MAP)
        return load_map(ld, node, opt->sub, base);
    if (opt->kind == OPT_CUSTOM)
        return opt->load(ld, node, base);
    if (scalar_text(ld, node, kind_expect[opt->kind], &s) != 0)
        return -1;
    return set_scalar(ld, opt, node, s, base);
}

static int load_map(loader_t *ld, yaml_node_t *node, const opt_t *opts, void *base)
{
    uint64_t seen = 0, given = 0; /* one bit per table row: tables stay well under 64 */

    if (node->type != YAML_MAPPING_NODE)
        return fail(ld, node, "expected a map, got %s", describe(node));
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = node_at(ld, pair->key), *value = node_at(ld, pair->value);
        if (key->type != YAML_SCALAR_NODE)
            return fail(ld, key, "expected a key name, got %s", describe(key));
        const char *name = (const char *)key->data.scalar.value;
        size_t i = 0;
        while (opts[i].key != NULL && strcmp(opts[i].key, name) != 0)
            i++;
        size_t saved = path_push_key(ld, name);
        int rc = 0;
        if (opts[i].key == NULL) {
            rc = fail(ld, key, "unknown key");
        } else if (seen & ((uint64_t)1 << i)) {
            rc = fail(ld, key, "duplicate key");
        } else {
            seen |= (uint64_t)1 << i;
            if (!is_null(value)) {
                given |= (uint64_t)1 << i;
                rc = load_opt(ld, &opts[i], value, base);
            }
        }
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; opts[i].key != NULL; i++) {
        if (opts[i].required && !(given & ((uint64_t)1 << i))) {
            path_push_key(ld, opts[i].key);
            return fail(ld, node, "is required");
        }
    }
    return 0;
}

/* ---- string checks ---- */

static int check_readable(loader_t *ld, yaml_node_t *node, const char *value)
{
    struct stat st;
    if (access(value, R_OK) != 0 || stat(value, &st) != 0)
        return fail(ld, node, "cannot read %s: %s", value, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(ld, node, "cannot read %s: %s", value, strerror(EISDIR));
    return 0;
}

static bool only_chars(const char *s, const char *extra)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

static int check_webhook_path(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (value[0] != '/')
        return fail(ld, node, "must start with /");
    for (const char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return fail(ld, node, "must be a plain URL path (no spaces, ? or #)");
    }
    for (size_t i = 0; reserved_paths[i] != NULL; i++) {
        if (strcmp(value, reserved_paths[i]) == 0)
            return fail(ld, node, "%s is the built-in status endpoint", value);
    }
    return 0;
}

/* CloudWatch's rules, checked here so a typo stops the start, not every flush. */
static int check_namespace(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 255 || !only_chars(value, ".-_/#: "))
        return fail(ld, node, "expected at most 255 letters, digits, spaces or . - _ / # :");
    if (strncmp(value, "AWS/", 4) == 0)
        return fail(ld, node, "AWS/ namespaces are reserved for AWS services");
    return 0;
}

static int check_region(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 64 || !only_chars(value, "-"))
        return fail(ld, node, "expected a region name such as eu-west-1, got \"%.64s\"", value);
    return 0;
}

static int check_endpoint(loader_t *ld, yaml_node_t *node, const char *value)
{
    const char *rest = NULL;
    if (strncmp(value, "http://", 7) == 0)
        rest = value + 7;
    else if (strncmp(value, "https://", 8) == 0)
        rest = value + 8;
    if (rest == NULL || *rest == '\0' || *rest == '/')
        return fail(ld, node, "expected an http:// or https:// URL, got \"%.64s\"", value);
    for (const char *p = rest; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fail(ld, node, "must not contain spaces or control characters");
    }
    return 0;
}

static int check_log_group(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 512 || !only_chars(value, ".-_/#"))
        return fail(ld, node, "expected at most 512 letters, digits or . - _ / #");
    return 0;
}

/* ---- server.listen ---- */

/* Numeric addresses only: resolving names at start would make the bound
 * address depend on DNS, and the server binds exactly what is written. */
static const char *parse_address(const char *s, char **host, uint16_t *port)
{
    const char *problem = "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or [::1]:8080";
    const char *colon;
    unsigned char buf[sizeof(struct in6_addr)];
    char *h = NULL;
    uint64_t p;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            goto Exit;
        h = gm_strndup(s + 1, (size_t)(close - s - 1));
        colon = close + 1;
        if (inet_pton(AF_INET6, h, buf) != 1)
            goto Exit;
    } else {
        if ((colon = strrchr(s, ':')) == NULL)
            goto Exit;
        h = gm_strndup(s, (size_t)(colon - s));
        if (strchr(h, ':') != NULL) {
            problem = "IPv6 addresses go in brackets, e.g. [::1]:8080";
            goto Exit;
        }
        if (inet_pton(AF_INET, h, buf) != 1)
            goto Exit;
    }
    if (strlen(colon + 1) > 5 || parse_scaled(colon + 1, count_units, false, &p) != 0)
        goto Exit;
    if (p > 65535) {
        problem = "port must be from 0 to 65535";
        goto Exit;
    }
    *host = h;
    *port = (uint16_t)p;
    h = NULL;
    problem = NULL;
Exit:
    free(h);
    return problem;
}

static int load_listen_address(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_listen_t *l = base;
    const char *s, *problem;
    char *host = NULL;
    uint16_t port = 0;

    if (scalar_text(ld, node, "HOST:PORT", &s) != 0)
        return -1;
    if ((problem = parse_address(s, &host, &port)) != NULL)
        return fail(ld, node, "%s, got \"%.64s\"", problem, s);
    l->address = gm_strdup(s);
    l->host = host;
    l->port = port;
    return 0;
}

static int load_listen(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail(ld, node, "expected a list of listeners, got %s", describe(node));
    size_t n = seq_count(node);
    if (n == 0)
        return fail(ld, node, "expected at least one listener");
    cfg->server.listen = gm_calloc(n, sizeof(*cfg->server.listen));
    cfg->server.listen_count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, node->data.sequence.items.start[i]);
        gm_listen_t *l = &cfg->server.listen[i];
        size_t saved = path_push_index(ld, i);
        int rc = load_map(ld, item, listen_opts, l);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            const gm_listen_t *o = &cfg->server.listen[j];
            if (l->port != 0 && o->port == l->port && strcmp(o->host, l->host) == 0)
                rc = fail(ld, item, "same address as server.listen[%zu]", j);
        }
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- webhook.secrets ---- */

/* Reads at most max bytes into a NUL-terminated buffer. Returns 0 or an errno
 * value. Buffers outgrown on the way are wiped: the file may be a secret. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen)
{
    size_t cap = 4096, len = 0;
    char *buf;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    buf = gm_malloc(cap);
    for (;;) {
        if (len + 1 == cap) {
            char *bigger = gm_malloc(cap * 2);
            memcpy(bigger, buf, len);
            explicit_bzero(buf, cap);
            free(buf);
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            rc = EFBIG;
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        explicit_bzero(buf, cap);
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

/* Messages here name the source, never the value. */
static int resolve_secret(loader_t *ld, yaml_node_t *node, gm_secret_t *out)
{
    static const char *const empty = "is empty: the receiver never runs unauthenticated";
    if (node->type != YAML_SCALAR_NODE)
        return fail(ld, node, "expected a string, got %s", describe(node));
    if (is_null(node))
        return fail(ld, node, "%s", empty);
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;

    if (strncmp(s, "env:", 4) == 0) {
        const char *name = s + 4;
        if (*name == '\0' || strlen(s) != len)
            return fail(ld, node, "env: needs a variable name");
        const char *value = getenv(name);
        if (value == NULL)
            return fail(ld, node, "environment variable %s is not set", name);
        if (*value == '\0')
            return fail(ld, node, "environment variable %s %s", name, empty);
        out->source = gm_asprintf("env:%s", name);
        out->len = strlen(value);
        out->value = (unsigned char *)gm_strdup(value);
    } else if (strncmp(s, "file:", 5) == 0) {
        const char *path = s + 5;
        char *buf;
        size_t n;
        if (*path == '\0' || strlen(s) != len)
            return fail(ld, node, "file: needs a path");
        int e = read_file(path, SECRET_FILE_MAX, &buf, &n);
        if (e != 0)
            return fail(ld, node, "cannot read %s: %s", path, strerror(e));
        /* Editors and `echo` add one newline; anything else is the secret's. */
        if (n > 0 && buf[n - 1] == '\n')
            n--;
        if (n > 0 && buf[n - 1] == '\r' && buf[n] == '\n')
            n--;
        if (n == 0) {
            free(buf);
            return fail(ld, node, "file %s %s", path, empty);
        }
        buf[n] = '\0';
        out->source = gm_asprintf("file:%s", path);
        out->value = (unsigned char *)buf;
        out->len = n;
    } else {
        if (len == 0)
            return fail(ld, node, "%s", empty);
        out->source = gm_strdup("literal");
        out->value = gm_malloc(len + 1);
        memcpy(out->value, s, len + 1);
        out->len = len;
    }
    return 0;
}

/* webhook.secrets (a list, or one string) and webhook.secret (one string). */
static int load_secret_list(loader_t *ld, yaml_node_t *node, gm_config_t *cfg, bool list_allowed)
{
    size_t n = 1;
    if (cfg->webhook.secret_count > 0)
        return fail(ld, node, "give either webhook.secret or webhook.secrets, not both");
    if (node->type == YAML_SEQUENCE_NODE && list_allowed) {
        n = seq_count(node);
        if (n == 0)
            return fail(ld, node, "expected at least one secret: the receiver never runs unauthenticated");
    } else if (node->type != YAML_SCALAR_NODE) {
        return fail(ld, node, "expected %s, got %s", list_allowed ? "a list of secrets" : "a string", describe(node));
    }
    cfg->webhook.secrets = gm_calloc(n, sizeof(*cfg->webhook.secrets));
    cfg->webhook.secret_count = n;
    if (node->type == YAML_SCALAR_NODE)
        return resolve_secret(ld, node, &cfg->webhook.secrets[0]);
    for (size_t i = 0; i < n; i++) {
        size_t saved = path_push_index(ld, i);
        int rc = resolve_secret(ld, node_at(ld, node->data.sequence.items.start[i]), &cfg->webhook.secrets[i]);
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int load_secrets(loader_t *ld, yaml_node_t *node, void *base)
{
    return load_secret_list(ld, node, base, true);
}

static int load_secret(loader_t *ld, yaml_node_t *node, void *base)
{
    return load_secret_list(ld, node, base, false);
}

/* ---- publish.dimensions ---- */

static int dimension_index(const char *name)
{
    for (int i = 0; dimension_names[i] != NULL; i++) {
        if (strcmp(dimension_names[i], name) == 0)
            return i;
    }
    return -1;
}

/* Order within a set does not change the CloudWatch series, so sets compare as masks. */
static unsigned dimset_mask(const gm_dimset_t *set)
{
    unsigned mask = 0;
    for (size_t i = 0; i < set->count; i++)
        mask |= 1u << dimension_index(set->names[i]);
    return mask;
}

static int load_dimset(loader_t *ld, yaml_node_t *node, gm_dimset_t *set)
{
    unsigned mask = 0;
    if (is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail(ld, node, "expected a list of dimension names, got %s", describe(node));
    size_t n = seq_count(node);
    if (n > DIMSET_MAX)
        return fail(ld, node, "at most %d dimensions per set", DIMSET_MAX);
    set->names = gm_calloc(n, sizeof(*set->names));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, node->data.sequence.items.start[i]);
        const char *name = NULL;
        size_t saved = path_push_index(ld, i);
        int rc = scalar_text(ld, item, "a dimension name", &name);
        int d = rc == 0 ? dimension_index(name) : -1;
        if (rc == 0 && d < 0)
            rc = fail(ld, item, "unknown dimension \"%.64s\": expected Repository, Workflow or Team", name);
        else if (rc == 0 && (mask & (1u << d)))
            rc = fail(ld, item, "%s is already in this set", name);
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
        mask |= 1u << d;
        set->names[set->count++] = gm_strdup(dimension_names[d]);
    }
    return 0;
}

static int load_dimensions(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail(ld, node, "expected a list of dimension sets such as [[Repository, Workflow], []], got %s",
                    describe(node));
    size_t n = seq_count(node);
    if (n == 0)
        return fail(ld, node, "expected at least one dimension set ([] is the namespace-wide one)");
    cfg->publish.dimensions = gm_calloc(n, sizeof(*cfg->publish.dimensions));
    cfg->publish.dimension_count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = node_at(ld, node->data.sequence.items.start[i]);
        gm_dimset_t *set = &cfg->publish.dimensions[i];
        size_t saved = path_push_index(ld, i);
        int rc = load_dimset(ld, item, set);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (dimset_mask(&cfg->publish.dimensions[j]) == dimset_mask(set))
                rc = fail(ld, item, "same dimensions as publish.dimensions[%zu]", j);
        }
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- teams ---- */

typedef struct {
    const char *s;
    yaml_node_t *node;
    size_t team;
    size_t index; /* SIZE_MAX: the team's value was a single string */
    size_t order; /* document order, to report the later of two */
} entry_t;

static int order_cmp(const entry_t *x, const entry_t *y)
{
    return (x->order > y->order) - (x->order < y->order);
}

static int entry_cmp(const void *a, const void *b)
{
    int r = strcmp(((const entry_t *)a)->s, ((const entry_t *)b)->s);
    return r != 0 ? r : order_cmp(a, b);
}

static int entry_casecmp(const void *a, const void *b)
{
    int r = strcasecmp(((const entry_t *)a)->s, ((const entry_t *)b)->s);
    return r != 0 ? r : order_cmp(a, b);
}

/* Sorting keeps a teams map of thousands of repositories at n log n; the
 * reported duplicate is the earliest second occurrence in the file. */
static const entry_t *find_duplicate(entry_t *e, size_t n, bool ignore_case, const entry_t **first)
{
    const entry_t *dup = NULL;
    size_t run = 0;
    if (n < 2)
        return NULL;
    qsort(e, n, sizeof(*e), ignore_case ? entry_casecmp : entry_cmp);
    for (size_t k = 1; k < n; k++) {
        if ((ignore_case ? strcasecmp(e[k].s, e[run].s) : strcmp(e[k].s, e[run].s)) != 0) {
            run = k;
        } else if (dup == NULL || e[k].order < dup->order) {
            dup = &e[k];
            *first = &e[run];
        }
    }
    return dup;
}

static bool is_repository(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
        return false;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    }
    return true;
}

static int load_team(loader_t *ld, yaml_node_t *node, size_t team, gm_team_t *t, entry_t **repos, size_t *nrepos)
{
    bool single = node->type == YAML_SCALAR_NODE && !is_null(node);
    size_t n = single ? 1 : 0;
    if (node->type == YAML_SEQUENCE_NODE)
        n = seq_count(node);
    else if (!single && !is_null(node))
        return fail(ld, node, "expected a list of repositories (owner/name), got %s", describe(node));
    t->repositories = gm_calloc(n, sizeof(*t->repositories));
    *repos = gm_realloc(*repos, (*nrepos + n) * sizeof(**repos));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = single ? node : node_at(ld, node->data.sequence.items.start[i]);
        const char *s = NULL;
        size_t saved = single ? ld->pathlen : path_push_index(ld, i);
        int rc = scalar_text(ld, item, "a repository (owner/name)", &s);
        if (rc == 0 && !is_repository(s))
            rc = fail(ld, item, "expected owner/name, got \"%.64s\"", s);
        path_pop(ld, saved);
        if (rc != 0)
            return -1;
        t->repositories[t->count++] = gm_strdup(s);
        (*repos)[*nrepos] = (entry_t){t->repositories[i], item, team, single ? SIZE_MAX : i, *nrepos};
        (*nrepos)++;
    }
    return 0;
}

static int repo_cmp(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static int load_teams(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    entry_t *names = NULL, *repos = NULL;
    const entry_t *dup, *first = NULL;
    size_t nrepos = 0;
    int rc = -1;

    if (node->type != YAML_MAPPING_NODE)
        return fail(ld, node, "expected a map of team name to repositories, got %s", describe(node));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    cfg->teams = gm_calloc(n, sizeof(*cfg->teams));
    cfg->team_count = n;
    names = gm_calloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = node_at(ld, pair->key);
        const char *name = NULL;
        if (scalar_text(ld, key, "a team name", &name) != 0)
            goto Exit;
        cfg->teams[i].team = gm_strdup(name);
        names[i] = (entry_t){cfg->teams[i].team, key, i, SIZE_MAX, i};
        size_t saved = path_push_key(ld, name);
        int r = load_team(ld, node_at(ld, pair->value), i, &cfg->teams[i], &repos, &nrepos);
        path_pop(ld, saved);
        if (r != 0)
            goto Exit;
    }
    if ((dup = find_duplicate(names, n, false, &first)) != NULL) {
        path_push_key(ld, dup->s);
        fail(ld, dup->node, "duplicate key");
        goto Exit;
    }
    if ((dup = find_duplicate(repos, nrepos, true, &first)) != NULL) {
        path_push_key(ld, cfg->teams[dup->team].team);
        if (dup->index != SIZE_MAX)
            path_push_index(ld, dup->index);
        if (first->team == dup->team)
            fail(ld, dup->node, "%.200s is listed twice", dup->s);
        else
            fail(ld, dup->node, "%.200s is already in team %.100s", dup->s, cfg->teams[first->team].team);
        goto Exit;
    }
    /* Sorted for gm_config_team_of's binary search. */
    for (size_t i = 0; i < n; i++)
        qsort(cfg->teams[i].repositories, cfg->teams[i].count, sizeof(char *), repo_cmp);
    rc = 0;
Exit:
    free(names);
    free(repos);
    return rc;
}

/* ---- the whole file ---- */

static void add_default_listener(gm_config_t *cfg)
{
    cfg->server.listen = gm_calloc(1, sizeof(*cfg->server.listen));
    cfg->server.listen_count = 1;
    cfg->server.listen[0].address = gm_strdup("127.0.0.1:8080");
    cfg->server.listen[0].host = gm_strdup("127.0.0.1");
    cfg->server.listen[0].port = 8080;
}

static void add_default_dimensions(gm_config_t *cfg)
{
    size_t n = sizeof(default_dimsets) / sizeof(default_dimsets[0]);
    cfg->publish.dimensions = gm_calloc(n, sizeof(*cfg->publish.dimensions));
    cfg->publish.dimension_count = n;
    for (size_t i = 0; i < n; i++) {
        gm_dimset_t *set = &cfg->publish.dimensions[i];
        size_t m = 0;
        while (default_dimsets[i][m] != NULL)
            m++;
        set->names = gm_calloc(m, sizeof(*set->names));
        for (; set->count < m; set->count++)
            set->names[set->count] = gm_strdup(default_dimsets[i][set->count]);
    }
}

static yaml_node_t *find_key(loader_t *ld, yaml_node_t *map, const char *name)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = node_at(ld, pair->key);
        if (key->type == YAML_SCALAR_NODE && strcmp((const char *)key->data.scalar.value, name) == 0)
            return key;
    }
    return NULL;
}

/* Defaults a table cannot hold, and what needs the whole file. */
static int finish(loader_t *ld, gm_config_t *cfg, yaml_node_t *root)
{
    if (cfg->server.listen_count == 0)
        add_default_listener(cfg);
    if (cfg->publish.dimension_count == 0)
        add_default_dimensions(cfg);
    if (cfg->webhook.secret_count == 0) {
        yaml_node_t *at = find_key(ld, root, "webhook");
        path_push_key(ld, "webhook.secrets");
        return fail(ld, at != NULL ? at : root,
                    "is required: at least one secret (env:NAME, file:PATH or a literal); "
                    "the receiver never runs unauthenticated");
    }
    if (cfg->server.threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->server.threads = cpus < 1 ? 1 : cpus > THREADS_MAX ? THREADS_MAX : (unsigned)cpus;
    }
    return 0;
}

static int yaml_fail(loader_t *ld, const yaml_parser_t *parser, const char *text, size_t len)
{
    size_t line = parser->problem_mark.line + 1;
    const char *problem = parser->problem != NULL ? parser->problem : "cannot parse";
    if (parser->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    /* The reader reports a byte offset rather than a mark. */
    if (parser->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++)
            line += text[i] == '\n';
    }
    if (ld->err == NULL || ld->errlen == 0)
        return -1;
    if (parser->context != NULL)
        snprintf(ld->err, ld->errlen, "%s:%zu: yaml: %s (%s at line %zu)", ld->name, line, problem, parser->context,
                 parser->context_mark.line + 1);
    else
        snprintf(ld->err, ld->errlen, "%s:%zu: yaml: %s", ld->name, line, problem);
    return -1;
}

gm_config_t *gm_config_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    bool have_parser = false, have_doc = false;
    loader_t ld = {.name = name, .doc = &doc, .err = err, .errlen = errlen};
    gm_config_t *cfg = gm_calloc(1, sizeof(*cfg));
    yaml_node_t *root;
    int rc = -1;

    if (name == NULL)
        name = ld.name = "<config>";
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    cfg->path = gm_strdup(name);
    if (apply_defaults(&ld, top_opts, cfg) != 0)
        goto Exit;
    if (!yaml_parser_initialize(&parser)) {
        yaml_fail(&ld, &parser, text, len);
        goto Exit;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text != NULL ? text : ""), text != NULL ? len : 0);
    /* On failure libyaml has already released the document. */
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_fail(&ld, &parser, text, len);
        goto Exit;
    }
    have_doc = true;
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_fail(&ld, &parser, text, len);
        goto Exit;
    }
    bool more = yaml_document_get_root_node(&extra) != NULL;
    size_t extra_line = extra.start_mark.line + 1;
    yaml_document_delete(&extra);
    if (more) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:%zu: yaml: expected a single document", name, extra_line);
        goto Exit;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && !is_null(root) && load_map(&ld, root, top_opts, cfg) != 0)
        goto Exit;
    if (finish(&ld, cfg, root) != 0)
        goto Exit;
    rc = 0;
Exit:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (rc != 0) {
        gm_config_free(cfg);
        cfg = NULL;
    }
    return cfg;
}

gm_config_t *gm_config_load(const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int e = read_file(path, CONFIG_FILE_MAX, &text, &len);
    if (e != 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        return NULL;
    }
    gm_config_t *cfg = gm_config_parse(path, text, len, err, errlen);
    /* The text may hold literal secrets. */
    explicit_bzero(text, len);
    free(text);
    return cfg;
}

void gm_config_free(gm_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->server.listen_count; i++) {
        free(cfg->server.listen[i].address);
        free(cfg->server.listen[i].host);
        free(cfg->server.listen[i].tls_certificate);
        free(cfg->server.listen[i].tls_key);
    }
    free(cfg->server.listen);
    for (size_t i = 0; i < cfg->webhook.secret_count; i++) {
        gm_secret_t *s = &cfg->webhook.secrets[i];
        if (s->value != NULL)
            explicit_bzero(s->value, s->len);
        free(s->value);
        free(s->source);
    }
    free(cfg->webhook.secrets);
    free(cfg->webhook.path);
    free(cfg->spool.dir);
    free(cfg->publish.file);
    free(cfg->publish.namespace_);
    free(cfg->publish.region);
    free(cfg->publish.endpoint);
    free(cfg->publish.log_group);
    for (size_t i = 0; i < cfg->publish.dimension_count; i++) {
        for (size_t j = 0; j < cfg->publish.dimensions[i].count; j++)
            free(cfg->publish.dimensions[i].names[j]);
        free(cfg->publish.dimensions[i].names);
    }
    free(cfg->publish.dimensions);
    for (size_t i = 0; i < cfg->team_count; i++) {
        for (size_t j = 0; j < cfg->teams[i].count; j++)
            free(cfg->teams[i].repositories[j]);
        free(cfg->teams[i].repositories);
        free(cfg->teams[i].team);
    }
    free(cfg->teams);
    free(cfg->path);
    free(cfg);
}

const char *gm_config_team_of(const gm_config_t *cfg, const char *repository)
{
    if (cfg == NULL || repository == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->team_count; i++) {
        const gm_team_t *t = &cfg->teams[i];
        if (bsearch(&repository, t->repositories, t->count, sizeof(char *), repo_cmp) != NULL)
            return t->team;
    }
    return NULL;
}
