/* The `ledger` and `backfill` sections of the configuration.
 *
 * backfill.repositories is a list of "owner/name" strings or of
 * {repository, team} maps, or the path of a YAML file holding such a list
 * (the repositories.yml an organisation may already keep). Teams given there
 * join the `teams` map, so the receiver and the backfill agree on them; a
 * repository the two place in different teams is an error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "gm/alloc.h"

#define CFG(f) offsetof(gm_config_t, f)
#define REPOS_FILE_MAX ((size_t)16 << 20)

static const char *const backend_names[] = {"embedded", "dynamodb", NULL};

/* DynamoDB's rule for table names. */
static int check_table(loader_t *ld, yaml_node_t *node, const char *v)
{
    size_t n = strlen(v);
    if (n < 3 || n > 255)
        return gm_cfg_fail(ld, node, "a DynamoDB table name has 3 to 255 characters");
    if (!gm_cfg_only_chars(v, "_-."))
        return gm_cfg_fail(ld, node, "a DynamoDB table name has only A-Z a-z 0-9 _ - .");
    return 0;
}

/* GitHub logins: letters, digits and single hyphens. */
static int check_org(loader_t *ld, yaml_node_t *node, const char *v)
{
    size_t n = strlen(v);
    if (n > 39 || v[0] == '-' || v[n - 1] == '-' || !gm_cfg_only_chars(v, "-"))
        return gm_cfg_fail(ld, node, "not a GitHub organization name");
    return 0;
}

/* A secret's spec is kept, not resolved: only the backfill needs it. */
static int check_secret_spec(loader_t *ld, yaml_node_t *node, const char *v)
{
    if ((strncmp(v, "env:", 4) == 0 && v[4] == '\0') || (strncmp(v, "file:", 5) == 0 && v[5] == '\0'))
        return gm_cfg_fail(ld, node, "env: needs a variable name, file: a path");
    return 0;
}

const opt_t gm_cfg_ledger_opts[] = {
    {"backend", OPT_ENUM, CFG(ledger.backend), "embedded", .choices = backend_names},
    {"table", OPT_STRING, CFG(ledger.table), .check = check_table},
    {"region", OPT_STRING, CFG(ledger.region), .check = gm_cfg_check_region},
    {"endpoint", OPT_STRING, CFG(ledger.endpoint), .check = gm_cfg_check_endpoint},
    {NULL},
};

static const opt_t github_opts[] = {
    {"url", OPT_STRING, CFG(backfill.github_url), "https://api.github.com", .check = gm_cfg_check_endpoint},
    {"token", OPT_STRING, CFG(backfill.token), .check = check_secret_spec},
    {"app_id", OPT_ID, CFG(backfill.app_id), NULL, 1, INT64_MAX},
    {"app_key", OPT_STRING, CFG(backfill.app_key), .check = check_secret_spec},
    {"installation_id", OPT_ID, CFG(backfill.installation_id), NULL, 1, INT64_MAX},
    {NULL},
};

static const opt_t redeliver_opts[] = {
    {"organization", OPT_STRING, CFG(backfill.redeliver_org), .check = check_org},
    {"hook_id", OPT_ID, CFG(backfill.redeliver_hook_id), NULL, 1, INT64_MAX},
    {"app", OPT_BOOL, CFG(backfill.redeliver_app), "false"},
    {NULL},
};

static int load_repositories(loader_t *ld, yaml_node_t *node, void *base);

const opt_t gm_cfg_backfill_opts[] = {
    {"github", OPT_MAP, 0, .sub = github_opts},
    {"organization", OPT_STRING, CFG(backfill.organization), .check = check_org},
    {"repositories", OPT_CUSTOM, 0, .load = load_repositories},
    /* GitHub keeps run history for 400 days at most. */
    {"window", OPT_DURATION, CFG(backfill.window_ms), "48h", MINUTE, 400 * DAY},
    {"jobs", OPT_BOOL, CFG(backfill.jobs), "false"},
    {"receiver", OPT_STRING, CFG(backfill.receiver), .check = gm_cfg_check_endpoint},
    {"receiver_ca", OPT_STRING, CFG(backfill.receiver_ca), .check = gm_cfg_check_readable},
    {"redeliver", OPT_MAP, 0, .sub = redeliver_opts},
    {NULL},
};

/* ---- backfill.repositories ---- */

static int repo_item(loader_t *ld, yaml_node_t *item, gm_scope_repo_t *out)
{
    const char *name = NULL, *team = NULL;
    if (item->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
            yaml_node_t *k = gm_cfg_node_at(ld, p->key), *v = gm_cfg_node_at(ld, p->value);
            const char *key = NULL;
            if (gm_cfg_scalar_text(ld, k, "a key", &key) != 0)
                return -1;
            size_t saved = gm_cfg_path_push_key(ld, key);
            int rc;
            if (strcmp(key, "repository") == 0 || strcmp(key, "name") == 0)
                rc = gm_cfg_scalar_text(ld, v, "a repository (owner/name)", &name);
            else if (strcmp(key, "team") == 0)
                rc = gm_cfg_is_null(v) ? 0 : gm_cfg_scalar_text(ld, v, "a team name", &team);
            else
                rc = gm_cfg_fail(ld, k, "unknown key (expected repository, team)");
            if (rc == 0 && name != NULL && !gm_cfg_is_repository(name))
                rc = gm_cfg_fail(ld, v, "expected owner/name, got \"%.64s\"", name);
            gm_cfg_path_pop(ld, saved);
            if (rc != 0)
                return -1;
        }
        if (name == NULL)
            return gm_cfg_fail(ld, item, "needs a repository (owner/name)");
    } else {
        if (gm_cfg_scalar_text(ld, item, "a repository (owner/name) or a {repository, team} map", &name) != 0)
            return -1;
        if (!gm_cfg_is_repository(name))
            return gm_cfg_fail(ld, item, "expected owner/name, got \"%.64s\"", name);
    }
    out->repository = gm_strdup(name);
    out->team = team != NULL ? gm_strdup(team) : NULL;
    return 0;
}

static int repo_list(loader_t *ld, yaml_node_t *node, gm_config_t *cfg)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return gm_cfg_fail(ld, node, "expected a list of repositories, or the path of a file with one; got %s",
                           gm_cfg_describe(node));
    size_t n = gm_cfg_seq_count(node);
    cfg->backfill.repositories = gm_calloc(n > 0 ? n : 1, sizeof(*cfg->backfill.repositories));
    for (size_t i = 0; i < n; i++) {
        size_t saved = gm_cfg_path_push_index(ld, i);
        yaml_node_t *item = gm_cfg_node_at(ld, node->data.sequence.items.start[i]);
        int rc = repo_item(ld, item, &cfg->backfill.repositories[cfg->backfill.repository_count]);
        for (size_t j = 0; rc == 0 && j < cfg->backfill.repository_count; j++)
            if (strcasecmp(cfg->backfill.repositories[j].repository,
                           cfg->backfill.repositories[cfg->backfill.repository_count].repository) == 0)
                rc = gm_cfg_fail(ld, item, "%.200s is listed twice", cfg->backfill.repositories[j].repository);
        if (rc == 0 || cfg->backfill.repositories[cfg->backfill.repository_count].repository != NULL)
            cfg->backfill.repository_count++; /* owned either way: freed with the config */
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The list from a file: its own YAML document, errors as FILE:LINE. */
static int repo_file(loader_t *ld, yaml_node_t *node, gm_config_t *cfg, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int e = gm_cfg_read_file(path, REPOS_FILE_MAX, &text, &len);
    if (e != 0)
        return gm_cfg_fail(ld, node, "cannot read %s: %s", path, strerror(e));
    cfg->backfill.repositories_file = gm_strdup(path);

    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    loader_t sub = {.name = path, .doc = &doc, .err = ld->err, .errlen = ld->errlen};
    if (!yaml_parser_load(&parser, &doc)) {
        gm_cfg_yaml_fail(&sub, &parser, text, len);
        goto Exit;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = gm_cfg_fail(ld, node, "%s has no repositories", path);
    } else {
        /* Either the list itself, or a map with a `repositories` list. */
        yaml_node_t *list = root;
        if (root->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = gm_cfg_node_at(&sub, p->key);
                if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "repositories") == 0)
                    list = gm_cfg_node_at(&sub, p->value);
            }
            gm_cfg_path_push_key(&sub, "repositories");
        }
        rc = repo_list(&sub, list, cfg);
    }
    yaml_document_delete(&doc);
Exit:
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}

static int load_repositories(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    if (node->type == YAML_SCALAR_NODE && !gm_cfg_is_null(node)) {
        const char *path;
        if (gm_cfg_scalar_text(ld, node, "a path", &path) != 0)
            return -1;
        return repo_file(ld, node, cfg, path);
    }
    return repo_list(ld, node, cfg);
}

/* ---- cross-field checks ---- */

/* A repository's team from the list joins the teams map. */
static int merge_team(loader_t *ld, yaml_node_t *at, gm_config_t *cfg, const gm_scope_repo_t *r)
{
    const char *have = gm_config_team_of(cfg, r->repository);
    if (have != NULL) {
        if (strcmp(have, r->team) != 0)
            return gm_cfg_fail(ld, at, "%.200s is in team %.100s in teams and in team %.100s in %s", r->repository,
                               have, r->team, cfg->backfill.repositories_file ? cfg->backfill.repositories_file
                                                                              : "backfill.repositories");
        return 0;
    }
    gm_team_t *t = NULL;
    for (size_t i = 0; i < cfg->team_count && t == NULL; i++)
        if (strcmp(cfg->teams[i].team, r->team) == 0)
            t = &cfg->teams[i];
    if (t == NULL) {
        cfg->teams = gm_realloc(cfg->teams, (cfg->team_count + 1) * sizeof(*cfg->teams));
        t = &cfg->teams[cfg->team_count++];
        memset(t, 0, sizeof(*t));
        t->team = gm_strdup(r->team);
    }
    t->repositories = gm_realloc(t->repositories, (t->count + 1) * sizeof(*t->repositories));
    t->repositories[t->count++] = gm_strdup(r->repository);
    return 0;
}

int gm_cfg_finish_backfill(loader_t *ld, gm_config_t *cfg, yaml_node_t *root)
{
    yaml_node_t *ledger = gm_cfg_find_key(ld, root, "ledger");
    yaml_node_t *bf = gm_cfg_find_key(ld, root, "backfill");
    yaml_node_t *at = bf != NULL ? bf : root;

    if (cfg->ledger.backend == GM_LEDGER_DYNAMODB && cfg->ledger.table == NULL) {
        gm_cfg_path_push_key(ld, "ledger.table");
        return gm_cfg_fail(ld, ledger != NULL ? ledger : root, "is required with backend: dynamodb");
    }
    bool app_any = cfg->backfill.app_id || cfg->backfill.app_key || cfg->backfill.installation_id;
    bool app_all = cfg->backfill.app_id && cfg->backfill.app_key && cfg->backfill.installation_id;
    gm_cfg_path_push_key(ld, "backfill");
    if (cfg->backfill.token != NULL && app_any)
        return gm_cfg_fail(ld, at, "give github.token or a GitHub App (github.app_id, app_key, installation_id), "
                                   "not both");
    if (app_any && !app_all)
        return gm_cfg_fail(ld, at, "a GitHub App needs github.app_id, github.app_key and github.installation_id");
    if (cfg->backfill.organization != NULL && cfg->backfill.repository_count > 0)
        return gm_cfg_fail(ld, at, "give organization or repositories, not both");
    if ((cfg->backfill.redeliver_org != NULL) != (cfg->backfill.redeliver_hook_id != 0))
        return gm_cfg_fail(ld, at, "redeliver needs both organization and hook_id (or app: true)");
    if (cfg->backfill.redeliver_app && cfg->backfill.redeliver_org != NULL)
        return gm_cfg_fail(ld, at, "redeliver: give organization and hook_id, or app: true, not both");
    if (cfg->backfill.redeliver_app && !app_all)
        return gm_cfg_fail(ld, at, "redeliver: app needs the GitHub App's credentials in github");
    for (size_t i = 0; i < cfg->backfill.repository_count; i++)
        if (cfg->backfill.repositories[i].team != NULL &&
            merge_team(ld, at, cfg, &cfg->backfill.repositories[i]) != 0)
            return -1;
    /* Sorted once, for gm_config_team_of's binary search. */
    for (size_t i = 0; i < cfg->team_count; i++)
        qsort(cfg->teams[i].repositories, cfg->teams[i].count, sizeof(char *), gm_cfg_repo_cmp);
    gm_cfg_path_pop(ld, 0);
    return 0;
}

void gm_cfg_free_backfill(gm_config_t *cfg)
{
    free(cfg->ledger.table);
    free(cfg->ledger.region);
    free(cfg->ledger.endpoint);
    free(cfg->backfill.github_url);
    /* Specs may be literal secrets. */
    if (cfg->backfill.token != NULL)
        explicit_bzero(cfg->backfill.token, strlen(cfg->backfill.token));
    if (cfg->backfill.app_key != NULL)
        explicit_bzero(cfg->backfill.app_key, strlen(cfg->backfill.app_key));
    free(cfg->backfill.token);
    free(cfg->backfill.app_key);
    free(cfg->backfill.organization);
    for (size_t i = 0; i < cfg->backfill.repository_count; i++) {
        free(cfg->backfill.repositories[i].repository);
        free(cfg->backfill.repositories[i].team);
    }
    free(cfg->backfill.repositories);
    free(cfg->backfill.repositories_file);
    free(cfg->backfill.receiver);
    free(cfg->backfill.receiver_ca);
    free(cfg->backfill.redeliver_org);
}
