/* One backfill run from the configuration: see gm/backfill_job.h.
 *
 * Decisions
 * - The backfill never writes metrics. What is missing is handed to the
 *   receiver as GitHub would hand it (signed with the webhook secret), so
 *   the receiver's spool makes it durable and its ledger keeps it from being
 *   counted twice: a backfill racing a late delivery, or two backfills, can
 *   only produce duplicates the receiver drops.
 * - Which runs are missing is read from the ledger the receivers write: the
 *   shared table (dynamodb), or a read-only snapshot of spool.dir's ledger
 *   log (embedded: the backfill runs where the receiver keeps its spool).
 *   The snapshot trails the receiver by at most a checkpoint (a second); a
 *   run it misses is submitted and dropped by the receiver as a duplicate.
 * - The default window ends at the next whole hour, so runs within the same
 *   hour ask GitHub the same URLs and its ETags answer 304 (free).
 * - The ETag cache lives in spool.dir (github-etags.json): kept across runs
 *   on a machine; in Lambda, spool.dir is /tmp and lasts as long as the
 *   execution environment does. */
#include "gm/backfill_job.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/backfill.h"
#include "gm/checkpoint.h"
#include "gm/dynamodb.h"
#include "gm/github.h"
#include "gm/ledger.h"
#include "gm/log.h"
#include "gm/receiver.h"
#include "gm/record.h"
#include "gm/store.h"

#define HOUR_MS INT64_C(3600000)
#define LAMBDA_MARGIN_MS INT64_C(30000)

int gm_backfill_job_parse_when(const char *s, int64_t now, int64_t *out_ms)
{
    uint64_t back;
    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL && gm_config_parse_duration(s, &back) == 0) {
        *out_ms = now - (int64_t)back;
        return 0;
    }
    if (gm_time_parse_iso8601(s, out_ms) == 0)
        return 0;
    /* The short forms an operator types: a date, or minutes without seconds. */
    char buf[40];
    size_t n = strlen(s);
    if (n == 10)
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
    else if (n == 17 && s[10] == 'T' && s[16] == 'Z')
        snprintf(buf, sizeof(buf), "%.16s:00Z", s);
    else
        return -1;
    return gm_time_parse_iso8601(buf, out_ms);
}

char *gm_backfill_job_receiver_url(const gm_config_t *cfg)
{
    if (cfg->backfill.receiver != NULL)
        return gm_strdup(cfg->backfill.receiver);
    const gm_listen_t *l = &cfg->server.listen[0];
    const char *host = l->host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    bool v6 = strchr(host, ':') != NULL;
    return gm_asprintf("%s://%s%s%s:%u%s", l->tls_certificate != NULL ? "https" : "http", v6 ? "[" : "", host,
                       v6 ? "]" : "", (unsigned)l->port, cfg->webhook.path);
}

/* ---- the ledger, as the backfill asks it ---- */

typedef struct {
    const gm_config_t *cfg;
    gm_ledger_t *snapshot; /* embedded */
    gm_ddb_t *ddb;         /* dynamodb */
    gm_receiver_t *receiver;
} ctx_t;

static int lookup(void *vctx, const char *const *keys, size_t n, unsigned char *known, char *err, size_t errlen)
{
    ctx_t *c = vctx;
    int64_t now = gm_wall_ms();
    if (c->ddb != NULL)
        return gm_ddb_lookup(c->ddb, keys, n, now, known, err, errlen);
    /* The embedded ledger's keys are hashes of these same strings. */
    for (size_t i = 0; i < n; i++)
        known[i] = c->snapshot != NULL && gm_ledger_contains(c->snapshot, gm_ledger_key(keys[i], strlen(keys[i])), now);
    return 0;
}

static int submit(void *vctx, const char *event, const char *delivery_id, const char *body, size_t len, char *err,
                  size_t errlen)
{
    ctx_t *c = vctx;
    return (int)gm_receiver_submit(c->receiver, event, delivery_id, body, len, err, errlen);
}

/* The receiver's ledger as of its last checkpoint (and whatever it appended
 * since). A compaction may switch files between reading the checkpoint and
 * opening the log: read the checkpoint again then. */
static int open_snapshot(ctx_t *c, char *err, size_t errlen)
{
    const gm_config_t *cfg = c->cfg;
    gm_ledger_opts_t lo = {.retention_ms = (int64_t)cfg->spool.ledger_retention_ms,
                           .max_entries = cfg->spool.ledger_max_entries};
    for (int attempt = 0; attempt < 3; attempt++) {
        gm_checkpoint_t cp;
        int fresh = gm_checkpoint_load(cfg->spool.dir, &cp, err, errlen);
        if (fresh < 0)
            return -1;
        uint64_t generation = cp.ledger_generation;
        gm_checkpoint_clear(&cp);
        if (fresh) {
            GM_WARN("backfill", "%s holds no checkpoint: no receiver has run with this spool.dir, so every run "
                                "counts as missing (the receiver drops the ones it has)", cfg->spool.dir);
            return 0;
        }
        c->snapshot = gm_ledger_open_snapshot(cfg->spool.dir, &lo, generation, gm_wall_ms(), err, errlen);
        if (c->snapshot != NULL)
            return 0;
        if (errno != ENOENT)
            return -1;
    }
    return -1;
}

/* ---- GitHub ---- */

static gm_github_t *open_github(const gm_config_t *cfg, char *err, size_t errlen)
{
    const char *spec = cfg->backfill.token != NULL ? cfg->backfill.token : cfg->backfill.app_key;
    if (spec == NULL) {
        snprintf(err, errlen, "%s: backfill.github needs a token or a GitHub App (app_id, app_key, installation_id)",
                 cfg->path);
        return NULL;
    }
    gm_secret_t secret;
    char why[256];
    if (gm_config_secret_resolve(spec, strlen(spec), &secret, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: backfill.github.%s: %s", cfg->path, cfg->backfill.token ? "token" : "app_key",
                 why);
        return NULL;
    }
    char *etags = gm_asprintf("%s/github-etags.json", cfg->spool.dir);
    gm_github_opts_t o = {
        .base_url = cfg->backfill.github_url,
        .token = cfg->backfill.token != NULL ? (const char *)secret.value : NULL,
        .app_id = (int64_t)cfg->backfill.app_id,
        .app_key_pem = cfg->backfill.token == NULL ? (const char *)secret.value : NULL,
        .installation_id = (int64_t)cfg->backfill.installation_id,
        .etag_cache = etags,
    };
    gm_github_t *gh = gm_github_open(&o, err, errlen);
    gm_config_secret_clear(&secret);
    free(etags);
    return gh;
}

static void close_all(ctx_t *c, gm_github_t *gh)
{
    gm_github_close(gh);
    gm_receiver_close(c->receiver);
    gm_ddb_close(c->ddb);
    gm_ledger_close(c->snapshot);
}

int gm_backfill_job_run(const gm_config_t *cfg, const gm_backfill_request_t *req, json_t **summary, char *err,
                        size_t errlen)
{
    *summary = NULL;
    err[0] = '\0';
    ctx_t c = {.cfg = cfg};
    gm_github_t *gh = NULL;
    int rc = GM_BACKFILL_BAD_CONFIG;

    bool have_scope = req->repository_count > 0 || cfg->backfill.repository_count > 0 ||
                      cfg->backfill.organization != NULL || cfg->backfill.app_id != 0;
    if (!have_scope) {
        snprintf(err, errlen, "%s: nothing in scope: set backfill.repositories or backfill.organization "
                              "(or give --repo)", cfg->path);
        return rc;
    }
    int64_t until = req->until_ms, since = req->since_ms;
    if (until == 0)
        until = (gm_wall_ms() / HOUR_MS + 1) * HOUR_MS;
    if (since == 0)
        since = until - (int64_t)cfg->backfill.window_ms;
    if (since >= until) {
        snprintf(err, errlen, "the window is empty: since must be before until");
        return rc;
    }
    if (gm_store_make_dirs(cfg->spool.dir) != 0) {
        snprintf(err, errlen, "%s: cannot create the spool directory: %s", cfg->spool.dir, strerror(errno));
        return rc;
    }
    if ((gh = open_github(cfg, err, errlen)) == NULL)
        goto Exit;
    if (cfg->ledger.backend == GM_LEDGER_DYNAMODB) {
        gm_ddb_opts_t o = {.table = cfg->ledger.table,
                           .region = cfg->ledger.region,
                           .endpoint = cfg->ledger.endpoint,
                           .owner = "backfill",
                           .ttl_s = (int64_t)(cfg->spool.ledger_retention_ms / 1000)};
        if ((c.ddb = gm_ddb_open(&o, err, errlen)) == NULL)
            goto Exit;
    } else if (open_snapshot(&c, err, errlen) != 0) {
        goto Exit;
    }
    if (!req->dry_run) {
        char *url = gm_backfill_job_receiver_url(cfg);
        const gm_secret_t *s = &cfg->webhook.secrets[0];
        gm_receiver_opts_t ro = {.url = url, .secret = s->value, .secret_len = s->len,
                                 .ca_file = cfg->backfill.receiver_ca};
        c.receiver = gm_receiver_open(&ro, err, errlen);
        free(url);
        if (c.receiver == NULL)
            goto Exit;
    }

    const char **repos = NULL;
    size_t nrepos = req->repository_count;
    if (nrepos == 0 && cfg->backfill.repository_count > 0) {
        nrepos = cfg->backfill.repository_count;
        repos = gm_calloc(nrepos, sizeof(*repos));
        for (size_t i = 0; i < nrepos; i++)
            repos[i] = cfg->backfill.repositories[i].repository;
    }
    gm_backfill_opts_t o = {
        .repositories = req->repository_count > 0 ? req->repositories : repos,
        .repository_count = nrepos,
        .organization = cfg->backfill.organization,
        .installation = cfg->backfill.app_id != 0,
        .since_ms = since,
        .until_ms = until,
        .jobs = req->jobs < 0 ? cfg->backfill.jobs : req->jobs != 0,
        .dry_run = req->dry_run,
        .gh = gh,
        .lookup = lookup,
        .submit = submit,
        .ctx = &c,
        .redeliver_org = cfg->backfill.redeliver_org,
        .redeliver_hook_id = (int64_t)cfg->backfill.redeliver_hook_id,
        .redeliver_app = cfg->backfill.redeliver_app,
        .deadline_ms = req->deadline_ms,
        .table_out = req->table_out,
    };
    gm_backfill_summary_t s;
    rc = gm_backfill_run(&o, &s, err, errlen);
    free(repos);
    *summary = gm_backfill_summary_json(&s);
    if (req->summary_out != NULL)
        gm_backfill_summary_print(&s, req->summary_out);
    gm_backfill_summary_clear(&s);
Exit:
    close_all(&c, gh);
    return rc;
}

/* ---- Lambda ---- */

static int event_time(const json_t *event, const char *name, int64_t now, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(event, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || gm_backfill_job_parse_when(json_string_value(v), now, out) != 0) {
        snprintf(err, errlen, "event.%s: expected a time (2026-11-01T00:00:00Z) or a duration back (72h)", name);
        return -1;
    }
    return 0;
}

json_t *gm_backfill_job_lambda_handler(void *vcfg, const json_t *event, const gm_lambda_invocation_t *inv,
                                       char *errtype, size_t errtypelen, char *err, size_t errlen)
{
    const gm_config_t *cfg = vcfg;
    gm_backfill_request_t req = {.jobs = -1};
    const char **repos = NULL;
    json_t *summary = NULL;
    int64_t now = gm_wall_ms();
    snprintf(errtype, errtypelen, "Backfill.InvalidEvent");
    if (!json_is_object(event)) {
        snprintf(err, errlen, "expected a JSON object (a scheduled event, or {\"since\", \"until\", ...})");
        return NULL;
    }
    /* An EventBridge schedule carries nothing the backfill needs: its
     * defaults apply. Anything else may narrow the run. */
    if (event_time(event, "since", now, &req.since_ms, err, errlen) != 0 ||
        event_time(event, "until", now, &req.until_ms, err, errlen) != 0)
        return NULL;
    const json_t *list = json_object_get(event, "repositories");
    if (list != NULL && !json_is_null(list)) {
        if (!json_is_array(list)) {
            snprintf(err, errlen, "event.repositories: expected a list of owner/name");
            return NULL;
        }
        repos = gm_calloc(json_array_size(list) + 1, sizeof(*repos));
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *r = json_string_value(json_array_get(list, i));
            if (r == NULL || !gm_backfill_valid_repository(r)) {
                snprintf(err, errlen, "event.repositories[%zu]: expected owner/name", i);
                free(repos);
                return NULL;
            }
            repos[req.repository_count++] = r;
        }
        req.repositories = repos;
    }
    const json_t *jobs = json_object_get(event, "jobs"), *dry = json_object_get(event, "dry_run");
    if (json_is_boolean(jobs))
        req.jobs = json_is_true(jobs);
    req.dry_run = json_is_true(dry);
    if (inv->deadline_ms > 0)
        req.deadline_ms = gm_wall_ms() + gm_lambda_remaining_ms(inv) - LAMBDA_MARGIN_MS;

    int rc = gm_backfill_job_run(cfg, &req, &summary, err, errlen);
    free(repos);
    if (rc == GM_BACKFILL_BAD_CONFIG) {
        json_decref(summary);
        snprintf(errtype, errtypelen, "Backfill.Configuration");
        return NULL;
    }
    /* Some repositories failing is reported, not retried by Lambda: a retry
     * would scan every repository again for the same few. */
    if (rc != 0)
        GM_WARN("backfill", "finished with failures: %s", err[0] != '\0' ? err : "see the summary");
    return summary;
}
