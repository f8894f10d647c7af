/* Internal to the gm_config loader (core/config*.c); not part of the API.
 *
 * config.c is the engine: the option tables, the walk over them, defaults,
 * and errors as FILE:LINE: key.path: message. config_values.c parses and
 * checks single values (numbers, sizes, durations, addresses, secrets, the
 * string checks); config_sections.c has the loaders for the shapes a table
 * cannot say (listeners, secrets, dimension sets, teams). */
#ifndef GM_CONFIG_INTERNAL_H
#define GM_CONFIG_INTERNAL_H

#include "gm/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define SECOND ((uint64_t)1000)
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

typedef struct loader loader_t;
typedef struct opt opt_t;

/* OPT_UINT fills an unsigned, OPT_ID a uint64_t (GitHub ids). */
typedef enum { OPT_MAP, OPT_STRING, OPT_BOOL, OPT_UINT, OPT_SIZE, OPT_DURATION, OPT_ENUM, OPT_CUSTOM, OPT_ID } opt_kind_t;

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

/* ---- config.c: errors, key paths, nodes, the table walk ---- */

int gm_cfg_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t gm_cfg_path_push_key(loader_t *ld, const char *key);
size_t gm_cfg_path_push_index(loader_t *ld, size_t index);
void gm_cfg_path_pop(loader_t *ld, size_t saved);
yaml_node_t *gm_cfg_node_at(loader_t *ld, int index);
bool gm_cfg_is_null(const yaml_node_t *node);
const char *gm_cfg_describe(const yaml_node_t *node);
size_t gm_cfg_seq_count(const yaml_node_t *node);
int gm_cfg_scalar_text(loader_t *ld, yaml_node_t *node, const char *expect, const char **out);
int gm_cfg_load_map(loader_t *ld, yaml_node_t *node, const opt_t *opts, void *base);
/* A libyaml parse error as FILE:LINE: yaml: problem (ld->name is FILE). */
int gm_cfg_yaml_fail(loader_t *ld, const yaml_parser_t *parser, const char *text, size_t len);
/* The key node of `name` in a mapping (for error lines), or NULL. */
yaml_node_t *gm_cfg_find_key(loader_t *ld, yaml_node_t *map, const char *name);

extern const opt_t gm_cfg_listen_opts[];

/* ---- config_values.c ---- */

int gm_cfg_set_number(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *field);
int gm_cfg_check_readable(loader_t *ld, yaml_node_t *node, const char *value);
int gm_cfg_check_webhook_path(loader_t *ld, yaml_node_t *node, const char *value);
int gm_cfg_check_namespace(loader_t *ld, yaml_node_t *node, const char *value);
int gm_cfg_check_region(loader_t *ld, yaml_node_t *node, const char *value);
int gm_cfg_check_endpoint(loader_t *ld, yaml_node_t *node, const char *value);
/* Only ASCII letters, digits and the characters of extra. */
bool gm_cfg_only_chars(const char *s, const char *extra);
int gm_cfg_check_log_group(loader_t *ld, yaml_node_t *node, const char *value);
const char *gm_cfg_parse_address(const char *s, char **host, uint16_t *port);
int gm_cfg_read_file(const char *path, size_t max, char **out, size_t *outlen);
int gm_cfg_resolve_secret(loader_t *ld, yaml_node_t *node, gm_secret_t *out);

/* ---- config_sections.c ---- */

int gm_cfg_load_listen(loader_t *ld, yaml_node_t *node, void *base);
int gm_cfg_load_listen_address(loader_t *ld, yaml_node_t *node, void *base);
int gm_cfg_load_secrets(loader_t *ld, yaml_node_t *node, void *base);
int gm_cfg_load_secret(loader_t *ld, yaml_node_t *node, void *base);
int gm_cfg_load_dimensions(loader_t *ld, yaml_node_t *node, void *base);
int gm_cfg_load_teams(loader_t *ld, yaml_node_t *node, void *base);
/* "owner/name": one slash, neither side empty, no spaces, controls, ? # %. */
bool gm_cfg_is_repository(const char *s);
/* strcasecmp of two char * elements, for qsort / bsearch of repositories. */
int gm_cfg_repo_cmp(const void *a, const void *b);

/* ---- config_backfill.c: the ledger and backfill sections ---- */

extern const opt_t gm_cfg_ledger_opts[];
extern const opt_t gm_cfg_backfill_opts[];
/* Cross-field checks and the teams a repositories list adds. */
int gm_cfg_finish_backfill(loader_t *ld, gm_config_t *cfg, yaml_node_t *root);
void gm_cfg_free_backfill(gm_config_t *cfg);

#endif
