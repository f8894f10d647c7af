/* The `backfill` and `lambda` commands: flags → a gm_backfill_request_t. */
#include "commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"
#include "gm/backfill_job.h"
#include "gm/config.h"
#include "gm/lambda.h"
#include "gm/log.h"
#include "gm/util.h"

#define EXIT_USAGE 2

static const char usage_backfill[] =
    "usage: gha-metrics backfill --config FILE [--since WHEN] [--until WHEN] [--repo owner/name]...\n"
    "                            [--jobs] [--dry-run] [--json]\n"
    "\n"
    "Finds the completed workflow runs (and with --jobs their jobs) of the\n"
    "repositories in scope that the ledger has not recorded, and hands each to\n"
    "the receiver as a signed delivery; asks GitHub to redeliver failed\n"
    "deliveries when backfill.redeliver is set.\n"
    "\n"
    "  -c, --config FILE   YAML configuration (the receiver's)\n"
    "      --since WHEN    window start: 2026-11-01, 2026-11-01T06:00Z, an RFC 3339\n"
    "                      time, or a duration back from now (72h); default: the\n"
    "                      configured window (48h) before --until\n"
    "      --until WHEN    window end; default: the next whole hour\n"
    "      --repo R        only this repository (repeatable)\n"
    "      --jobs          also the jobs of each missing run\n"
    "      --dry-run       print what is missing; change nothing\n"
    "      --json          print the summary as JSON on stdout (the dry-run table\n"
    "                      and progress lines then go to stderr)\n"
    "\n"
    "Exit status: 0 all went well, 1 some repositories or submissions failed,\n"
    "2 bad configuration or usage.\n";

static const char usage_lambda[] =
    "usage: gha-metrics lambda [--config FILE]\n"
    "\n"
    "The AWS Lambda custom runtime (provided.al2023): takes invocations from\n"
    "$AWS_LAMBDA_RUNTIME_API and runs a backfill for each, answering with its\n"
    "JSON summary. Config: --config, else $GHA_METRICS_CONFIG, else\n"
    "$LAMBDA_TASK_ROOT/config.yaml.\n";

static int usage_error(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "gha-metrics: %s%s%s\n\n%s", what, arg != NULL ? " " : "", arg != NULL ? arg : "", usage);
    return EXIT_USAGE;
}

int gm_cmd_backfill(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},  {"repo", required_argument, NULL, 'r'},
        {"jobs", no_argument, NULL, 'j'},         {"dry-run", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'J'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *since = NULL, *until = NULL;
    const char **repos = gm_calloc((size_t)argc + 1, sizeof(*repos));
    gm_backfill_request_t req = {.jobs = -1};
    bool want_json = false;
    int c, rc = EXIT_USAGE;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            since = optarg;
            break;
        case 'u':
            until = optarg;
            break;
        case 'r':
            repos[req.repository_count++] = optarg;
            break;
        case 'j':
            req.jobs = 1;
            break;
        case 'n':
            req.dry_run = true;
            break;
        case 'J':
            want_json = true;
            break;
        case 'h':
            fputs(usage_backfill, stdout);
            rc = 0;
            goto Exit;
        default:
            rc = usage_error(usage_backfill, "unknown option or missing argument", argv[optind - 1]);
            goto Exit;
        }
    }
    if (config_path == NULL) {
        rc = usage_error(usage_backfill, "missing --config FILE", NULL);
        goto Exit;
    }
    if (optind < argc) {
        rc = usage_error(usage_backfill, "unexpected argument", argv[optind]);
        goto Exit;
    }
    int64_t now = gm_wall_ms();
    if (since != NULL && gm_backfill_job_parse_when(since, now, &req.since_ms) != 0) {
        rc = usage_error(usage_backfill, "--since: not a time or a duration:", since);
        goto Exit;
    }
    if (until != NULL && gm_backfill_job_parse_when(until, now, &req.until_ms) != 0) {
        rc = usage_error(usage_backfill, "--until: not a time or a duration:", until);
        goto Exit;
    }
    req.repositories = repos;
    /* With --json, stdout carries only the summary, for a script to parse. */
    req.table_out = want_json ? stderr : stdout;
    req.summary_out = stderr;

    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = gm_config_load(config_path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        goto Exit;
    }
    gm_log_set_level(cfg->log.level);
    json_t *summary = NULL;
    rc = gm_backfill_job_run(cfg, &req, &summary, err, sizeof(err));
    if (summary != NULL) {
        if (want_json) {
            json_dumpf(summary, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
        }
        json_decref(summary);
    }
    if (rc != 0 && err[0] != '\0')
        fprintf(stderr, "gha-metrics: backfill: %s\n", err);
    gm_config_free(cfg);
Exit:
    free(repos);
    return rc;
}

int gm_cmd_lambda(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        if (c == 'c')
            config_path = optarg;
        else if (c == 'h')
            return fputs(usage_lambda, stdout), 0;
        else
            return usage_error(usage_lambda, "unknown option or missing argument", argv[optind - 1]);
    }
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (api == NULL || *api == '\0')
        return usage_error(usage_lambda, "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda", NULL);

    char path[4096], err[GM_CONFIG_ERR_MAX];
    if (config_path == NULL)
        config_path = getenv("GHA_METRICS_CONFIG");
    if (config_path == NULL || *config_path == '\0') {
        const char *root = getenv("LAMBDA_TASK_ROOT");
        snprintf(path, sizeof(path), "%s/config.yaml", root != NULL ? root : ".");
        config_path = path;
    }
    gm_config_t *cfg = gm_config_load(config_path, err, sizeof(err));
    if (cfg == NULL) {
        char e2[256];
        fprintf(stderr, "%s\n", err);
        gm_lambda_init_error(api, "Runtime.ConfigurationError", err, e2, sizeof(e2));
        return EXIT_USAGE;
    }
    gm_log_set_level(cfg->log.level);
    /* Until the runtime API goes away: Lambda freezes and thaws the process
     * between invocations and kills it when the environment is retired. */
    int rc = gm_lambda_run(api, gm_backfill_job_lambda_handler, cfg, 0, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "gha-metrics: lambda: %s\n", err);
    gm_config_free(cfg);
    return rc == 0 ? 0 : 1;
}
