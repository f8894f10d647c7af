/* gm_config: YAML text → gm_config_t.
 *
 * libyaml's document API gives a node tree whose nodes carry their line, so
 * the walk below can name the exact line and key path of any problem. Each
 * section is a table of options (key, kind, field, default, bounds, check);
 * the few shapes a table cannot say (listeners, secrets, dimension sets,
 * teams) have their own loaders. An absent key or a YAML null (an empty
 * value, "~", "null") both mean "not given": the default stays. */
#include "config_internal.h"
#include "gm/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* A config is a few KB, a large teams map a few MB; anything bigger is a mistake
 * (a log file passed by accident) better refused than parsed. */
#define CONFIG_FILE_MAX ((size_t)16 << 20)
#define THREADS_MAX 1024

/* Enum fields are stored through an int. */
_Static_assert(sizeof(gm_sink_kind_t) == sizeof(int), "enum size");
_Static_assert(sizeof(gm_log_level_t) == sizeof(int), "enum size");

static const struct {
    const char *text;
    bool value;
} bool_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"on", true}, {"off", false}, {NULL, false},
};

static const char *const sink_names[] = {"emf-file", "cloudwatch", "emf-logs", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

static const char *const default_dimsets[][4] = {
    {"Repository", "Workflow", NULL},
    {"Repository", NULL},
    {"Team", NULL},
    {NULL},
};

static const char *const kind_expect[] = {
    [OPT_MAP] = "a map",   [OPT_STRING] = "a string",     [OPT_BOOL] = "true or false", [OPT_UINT] = "a whole number",
    [OPT_SIZE] = "a size", [OPT_DURATION] = "a duration", [OPT_ENUM] = "a string",      [OPT_CUSTOM] = "a value",
    [OPT_ID] = "a whole number",
};

#define CFG(f) offsetof(gm_config_t, f)
#define LISTEN(f) offsetof(gm_listen_t, f)

static const opt_t tls_opts[] = {
    {"certificate", OPT_STRING, LISTEN(tls_certificate), .required = true, .check = gm_cfg_check_readable},
    {"key", OPT_STRING, LISTEN(tls_key), .required = true, .check = gm_cfg_check_readable},
    {NULL},
};

const opt_t gm_cfg_listen_opts[] = {
    {"address", OPT_CUSTOM, 0, .required = true, .load = gm_cfg_load_listen_address},
    {"tls", OPT_MAP, 0, .sub = tls_opts},
    {NULL},
};

static const opt_t server_opts[] = {
    {"listen", OPT_CUSTOM, 0, .load = gm_cfg_load_listen},
    {"threads", OPT_UINT, CFG(server.threads), "0", 0, THREADS_MAX},
    {"http2", OPT_BOOL, CFG(server.http2), "false"},
    {"shutdown_timeout", OPT_DURATION, CFG(server.shutdown_timeout_ms), "10s", 0, HOUR},
    {"request_timeout", OPT_DURATION, CFG(server.request_timeout_ms), "10s", 1, HOUR},
    {NULL},
};

static const opt_t webhook_opts[] = {
    {"path", OPT_STRING, CFG(webhook.path), "/webhook", .check = gm_cfg_check_webhook_path},
    {"secrets", OPT_CUSTOM, 0, .load = gm_cfg_load_secrets},
    {"secret", OPT_CUSTOM, 0, .load = gm_cfg_load_secret},
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
    {"namespace", OPT_STRING, CFG(publish.namespace_), "GitHubActions", .check = gm_cfg_check_namespace},
    {"region", OPT_STRING, CFG(publish.region), .check = gm_cfg_check_region},
    {"endpoint", OPT_STRING, CFG(publish.endpoint), .check = gm_cfg_check_endpoint},
    {"flush_interval", OPT_DURATION, CFG(publish.flush_interval_ms), "60s", 100, DAY},
    {"max_backlog_age", OPT_DURATION, CFG(publish.max_backlog_age_ms), "15m", SECOND, 7 * DAY},
    {"log_group", OPT_STRING, CFG(publish.log_group), "/gha-metrics/runs", .check = gm_cfg_check_log_group},
    {"dimensions", OPT_CUSTOM, 0, .load = gm_cfg_load_dimensions},
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
    {"teams", OPT_CUSTOM, 0, .load = gm_cfg_load_teams},
    {"ledger", OPT_MAP, 0, .sub = gm_cfg_ledger_opts},
    {"backfill", OPT_MAP, 0, .sub = gm_cfg_backfill_opts},
    {"log", OPT_MAP, 0, .sub = log_opts},
    {NULL},
};

/* ---- errors and key paths ---- */

int gm_cfg_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
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

/* Each push returns the length to give back to gm_cfg_path_pop. */
size_t gm_cfg_path_push_key(loader_t *ld, const char *key)
{
    size_t saved = ld->pathlen;
    if (saved > 0)
        path_append(ld, ".%s", key);
    else
        path_append(ld, "%s", key);
    return saved;
}

size_t gm_cfg_path_push_index(loader_t *ld, size_t index)
{
    size_t saved = ld->pathlen;
    path_append(ld, "[%zu]", index);
    return saved;
}

void gm_cfg_path_pop(loader_t *ld, size_t saved)
{
    ld->pathlen = saved;
    ld->path[saved] = '\0';
}

/* ---- nodes ---- */

yaml_node_t *gm_cfg_node_at(loader_t *ld, int index)
{
    return yaml_document_get_node(ld->doc, index);
}

bool gm_cfg_is_null(const yaml_node_t *node)
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
const char *gm_cfg_describe(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a map";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return gm_cfg_is_null(node) ? "nothing" : "a string";
    default:
        return "nothing";
    }
}

size_t gm_cfg_seq_count(const yaml_node_t *node)
{
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

int gm_cfg_scalar_text(loader_t *ld, yaml_node_t *node, const char *expect, const char **out)
{
    if (node->type != YAML_SCALAR_NODE || gm_cfg_is_null(node))
        return gm_cfg_fail(ld, node, "expected %s, got %s", expect, gm_cfg_describe(node));
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length)
        return gm_cfg_fail(ld, node, "must not contain a NUL character");
    *out = s;
    return 0;
}

/* ---- options from the tables ---- */

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
    return gm_cfg_fail(ld, node, "expected one of %s, got \"%.64s\"", list, s);
}

/* node is NULL when s is a table default. */
static int set_scalar(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *base)
{
    void *field = (char *)base + opt->offset;
    switch (opt->kind) {
    case OPT_STRING:
        if (*s == '\0')
            return gm_cfg_fail(ld, node, "must not be empty");
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
        return gm_cfg_fail(ld, node, "expected true or false, got \"%.64s\"", s);
    case OPT_UINT:
    case OPT_SIZE:
    case OPT_DURATION:
    case OPT_ID:
        return gm_cfg_set_number(ld, opt, node, s, field);
    case OPT_ENUM:
        return set_enum(ld, opt, node, s, field);
    default:
        return gm_cfg_fail(ld, node, "internal error: option %s has no scalar form", opt->key);
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

static int load_opt(loader_t *ld, const opt_t *opt, yaml_node_t *node, void *base)
{
    const char *s;
    if (opt->kind == OPT_MAP)
        return gm_cfg_load_map(ld, node, opt->sub, base);
    if (opt->kind == OPT_CUSTOM)
        return opt->load(ld, node, base);
    if (gm_cfg_scalar_text(ld, node, kind_expect[opt->kind], &s) != 0)
        return -1;
    return set_scalar(ld, opt, node, s, base);
}

int gm_cfg_load_map(loader_t *ld, yaml_node_t *node, const opt_t *opts, void *base)
{
    uint64_t seen = 0, given = 0; /* one bit per table row: tables stay well under 64 */

    if (node->type != YAML_MAPPING_NODE)
        return gm_cfg_fail(ld, node, "expected a map, got %s", gm_cfg_describe(node));
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = gm_cfg_node_at(ld, pair->key), *value = gm_cfg_node_at(ld, pair->value);
        if (key->type != YAML_SCALAR_NODE)
            return gm_cfg_fail(ld, key, "expected a key name, got %s", gm_cfg_describe(key));
        const char *name = (const char *)key->data.scalar.value;
        size_t i = 0;
        while (opts[i].key != NULL && strcmp(opts[i].key, name) != 0)
            i++;
        size_t saved = gm_cfg_path_push_key(ld, name);
        int rc = 0;
        if (opts[i].key == NULL) {
            rc = gm_cfg_fail(ld, key, "unknown key");
        } else if (seen & ((uint64_t)1 << i)) {
            rc = gm_cfg_fail(ld, key, "duplicate key");
        } else {
            seen |= (uint64_t)1 << i;
            if (!gm_cfg_is_null(value)) {
                given |= (uint64_t)1 << i;
                rc = load_opt(ld, &opts[i], value, base);
            }
        }
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; opts[i].key != NULL; i++) {
        if (opts[i].required && !(given & ((uint64_t)1 << i))) {
            gm_cfg_path_push_key(ld, opts[i].key);
            return gm_cfg_fail(ld, node, "is required");
        }
    }
    return 0;
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

yaml_node_t *gm_cfg_find_key(loader_t *ld, yaml_node_t *map, const char *name)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = gm_cfg_node_at(ld, pair->key);
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
        yaml_node_t *at = gm_cfg_find_key(ld, root, "webhook");
        gm_cfg_path_push_key(ld, "webhook.secrets");
        return gm_cfg_fail(ld, at != NULL ? at : root,
                           "is required: at least one secret (env:NAME, file:PATH or a literal); "
                           "the receiver never runs unauthenticated");
    }
    if (gm_cfg_finish_backfill(ld, cfg, root) != 0)
        return -1;
    if (cfg->server.threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->server.threads = cpus < 1 ? 1 : cpus > THREADS_MAX ? THREADS_MAX : (unsigned)cpus;
    }
    return 0;
}

int gm_cfg_yaml_fail(loader_t *ld, const yaml_parser_t *parser, const char *text, size_t len)
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
        gm_cfg_yaml_fail(&ld, &parser, text, len);
        goto Exit;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text != NULL ? text : ""), text != NULL ? len : 0);
    /* On failure libyaml has already released the document. */
    if (!yaml_parser_load(&parser, &doc)) {
        gm_cfg_yaml_fail(&ld, &parser, text, len);
        goto Exit;
    }
    have_doc = true;
    if (!yaml_parser_load(&parser, &extra)) {
        gm_cfg_yaml_fail(&ld, &parser, text, len);
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
    if (root != NULL && !gm_cfg_is_null(root) && gm_cfg_load_map(&ld, root, top_opts, cfg) != 0)
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
    int e = gm_cfg_read_file(path, CONFIG_FILE_MAX, &text, &len);
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
    gm_cfg_free_backfill(cfg);
    free(cfg->path);
    free(cfg);
}
