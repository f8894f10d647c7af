/* gm_config: the sections a table cannot say: server.listen, webhook.secrets,
 * publish.dimensions and teams. The option tables and their walk are in
 * config.c; single values are parsed in config_values.c. */
#include "config_internal.h"
#include "gm/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CloudWatch's limit on dimensions per metric. */
#define DIMSET_MAX 30

static const char *const dimension_names[] = {"Repository", "Workflow", "Team", NULL};

/* ---- server.listen ---- */

int gm_cfg_load_listen_address(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_listen_t *l = base;
    const char *s, *problem;
    char *host = NULL;
    uint16_t port = 0;

    if (gm_cfg_scalar_text(ld, node, "HOST:PORT", &s) != 0)
        return -1;
    if ((problem = gm_cfg_parse_address(s, &host, &port)) != NULL)
        return gm_cfg_fail(ld, node, "%s, got \"%.64s\"", problem, s);
    l->address = gm_strdup(s);
    l->host = host;
    l->port = port;
    return 0;
}

int gm_cfg_load_listen(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    if (node->type != YAML_SEQUENCE_NODE)
        return gm_cfg_fail(ld, node, "expected a list of listeners, got %s", gm_cfg_describe(node));
    size_t n = gm_cfg_seq_count(node);
    if (n == 0)
        return gm_cfg_fail(ld, node, "expected at least one listener");
    cfg->server.listen = gm_calloc(n, sizeof(*cfg->server.listen));
    cfg->server.listen_count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gm_cfg_node_at(ld, node->data.sequence.items.start[i]);
        gm_listen_t *l = &cfg->server.listen[i];
        size_t saved = gm_cfg_path_push_index(ld, i);
        int rc = gm_cfg_load_map(ld, item, gm_cfg_listen_opts, l);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            const gm_listen_t *o = &cfg->server.listen[j];
            if (l->port != 0 && o->port == l->port && strcmp(o->host, l->host) == 0)
                rc = gm_cfg_fail(ld, item, "same address as server.listen[%zu]", j);
        }
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- webhook.secrets ---- */

/* webhook.secrets (a list, or one string) and webhook.secret (one string). */
static int load_secret_list(loader_t *ld, yaml_node_t *node, gm_config_t *cfg, bool list_allowed)
{
    size_t n = 1;
    if (cfg->webhook.secret_count > 0)
        return gm_cfg_fail(ld, node, "give either webhook.secret or webhook.secrets, not both");
    if (node->type == YAML_SEQUENCE_NODE && list_allowed) {
        n = gm_cfg_seq_count(node);
        if (n == 0)
            return gm_cfg_fail(ld, node, "expected at least one secret: the receiver never runs unauthenticated");
    } else if (node->type != YAML_SCALAR_NODE) {
        return gm_cfg_fail(ld, node, "expected %s, got %s", list_allowed ? "a list of secrets" : "a string",
                           gm_cfg_describe(node));
    }
    cfg->webhook.secrets = gm_calloc(n, sizeof(*cfg->webhook.secrets));
    cfg->webhook.secret_count = n;
    if (node->type == YAML_SCALAR_NODE)
        return gm_cfg_resolve_secret(ld, node, &cfg->webhook.secrets[0]);
    for (size_t i = 0; i < n; i++) {
        size_t saved = gm_cfg_path_push_index(ld, i);
        int rc =
            gm_cfg_resolve_secret(ld, gm_cfg_node_at(ld, node->data.sequence.items.start[i]), &cfg->webhook.secrets[i]);
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int gm_cfg_load_secrets(loader_t *ld, yaml_node_t *node, void *base)
{
    return load_secret_list(ld, node, base, true);
}

int gm_cfg_load_secret(loader_t *ld, yaml_node_t *node, void *base)
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
    if (gm_cfg_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return gm_cfg_fail(ld, node, "expected a list of dimension names, got %s", gm_cfg_describe(node));
    size_t n = gm_cfg_seq_count(node);
    if (n > DIMSET_MAX)
        return gm_cfg_fail(ld, node, "at most %d dimensions per set", DIMSET_MAX);
    set->names = gm_calloc(n, sizeof(*set->names));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gm_cfg_node_at(ld, node->data.sequence.items.start[i]);
        const char *name = NULL;
        size_t saved = gm_cfg_path_push_index(ld, i);
        int rc = gm_cfg_scalar_text(ld, item, "a dimension name", &name);
        int d = rc == 0 ? dimension_index(name) : -1;
        if (rc == 0 && d < 0)
            rc = gm_cfg_fail(ld, item, "unknown dimension \"%.64s\": expected Repository, Workflow or Team", name);
        else if (rc == 0 && (mask & (1u << d)))
            rc = gm_cfg_fail(ld, item, "%s is already in this set", name);
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
        mask |= 1u << d;
        set->names[set->count++] = gm_strdup(dimension_names[d]);
    }
    return 0;
}

int gm_cfg_load_dimensions(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    if (node->type != YAML_SEQUENCE_NODE)
        return gm_cfg_fail(ld, node, "expected a list of dimension sets such as [[Repository, Workflow], []], got %s",
                           gm_cfg_describe(node));
    size_t n = gm_cfg_seq_count(node);
    if (n == 0)
        return gm_cfg_fail(ld, node, "expected at least one dimension set ([] is the namespace-wide one)");
    cfg->publish.dimensions = gm_calloc(n, sizeof(*cfg->publish.dimensions));
    cfg->publish.dimension_count = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gm_cfg_node_at(ld, node->data.sequence.items.start[i]);
        gm_dimset_t *set = &cfg->publish.dimensions[i];
        size_t saved = gm_cfg_path_push_index(ld, i);
        int rc = load_dimset(ld, item, set);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (dimset_mask(&cfg->publish.dimensions[j]) == dimset_mask(set))
                rc = gm_cfg_fail(ld, item, "same dimensions as publish.dimensions[%zu]", j);
        }
        gm_cfg_path_pop(ld, saved);
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

bool gm_cfg_is_repository(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '?' || *s == '#' || *s == '%')
            return false;
    return true;
}

static int load_team(loader_t *ld, yaml_node_t *node, size_t team, gm_team_t *t, entry_t **repos, size_t *nrepos)
{
    bool single = node->type == YAML_SCALAR_NODE && !gm_cfg_is_null(node);
    size_t n = single ? 1 : 0;
    if (node->type == YAML_SEQUENCE_NODE)
        n = gm_cfg_seq_count(node);
    else if (!single && !gm_cfg_is_null(node))
        return gm_cfg_fail(ld, node, "expected a list of repositories (owner/name), got %s", gm_cfg_describe(node));
    t->repositories = gm_calloc(n, sizeof(*t->repositories));
    *repos = gm_realloc(*repos, (*nrepos + n) * sizeof(**repos));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = single ? node : gm_cfg_node_at(ld, node->data.sequence.items.start[i]);
        const char *s = NULL;
        size_t saved = single ? ld->pathlen : gm_cfg_path_push_index(ld, i);
        int rc = gm_cfg_scalar_text(ld, item, "a repository (owner/name)", &s);
        if (rc == 0 && !gm_cfg_is_repository(s))
            rc = gm_cfg_fail(ld, item, "expected owner/name, got \"%.64s\"", s);
        gm_cfg_path_pop(ld, saved);
        if (rc != 0)
            return -1;
        t->repositories[t->count++] = gm_strdup(s);
        (*repos)[*nrepos] = (entry_t){t->repositories[i], item, team, single ? SIZE_MAX : i, *nrepos};
        (*nrepos)++;
    }
    return 0;
}

int gm_cfg_repo_cmp(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

int gm_cfg_load_teams(loader_t *ld, yaml_node_t *node, void *base)
{
    gm_config_t *cfg = base;
    entry_t *names = NULL, *repos = NULL;
    const entry_t *dup, *first = NULL;
    size_t nrepos = 0;
    int rc = -1;

    if (node->type != YAML_MAPPING_NODE)
        return gm_cfg_fail(ld, node, "expected a map of team name to repositories, got %s", gm_cfg_describe(node));
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    cfg->teams = gm_calloc(n, sizeof(*cfg->teams));
    cfg->team_count = n;
    names = gm_calloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = gm_cfg_node_at(ld, pair->key);
        const char *name = NULL;
        if (gm_cfg_scalar_text(ld, key, "a team name", &name) != 0)
            goto Exit;
        cfg->teams[i].team = gm_strdup(name);
        names[i] = (entry_t){cfg->teams[i].team, key, i, SIZE_MAX, i};
        size_t saved = gm_cfg_path_push_key(ld, name);
        int r = load_team(ld, gm_cfg_node_at(ld, pair->value), i, &cfg->teams[i], &repos, &nrepos);
        gm_cfg_path_pop(ld, saved);
        if (r != 0)
            goto Exit;
    }
    if ((dup = find_duplicate(names, n, false, &first)) != NULL) {
        gm_cfg_path_push_key(ld, dup->s);
        gm_cfg_fail(ld, dup->node, "duplicate key");
        goto Exit;
    }
    if ((dup = find_duplicate(repos, nrepos, true, &first)) != NULL) {
        gm_cfg_path_push_key(ld, cfg->teams[dup->team].team);
        if (dup->index != SIZE_MAX)
            gm_cfg_path_push_index(ld, dup->index);
        if (first->team == dup->team)
            gm_cfg_fail(ld, dup->node, "%.200s is listed twice", dup->s);
        else
            gm_cfg_fail(ld, dup->node, "%.200s is already in team %.100s", dup->s, cfg->teams[first->team].team);
        goto Exit;
    }
    /* Sorted for gm_config_team_of's binary search. */
    for (size_t i = 0; i < n; i++)
        qsort(cfg->teams[i].repositories, cfg->teams[i].count, sizeof(char *), gm_cfg_repo_cmp);
    rc = 0;
Exit:
    free(names);
    free(repos);
    return rc;
}

const char *gm_config_team_of(const gm_config_t *cfg, const char *repository)
{
    if (cfg == NULL || repository == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->team_count; i++) {
        const gm_team_t *t = &cfg->teams[i];
        if (bsearch(&repository, t->repositories, t->count, sizeof(char *), gm_cfg_repo_cmp) != NULL)
            return t->team;
    }
    return NULL;
}
