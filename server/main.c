/* gha-metrics: the command line. Each subcommand parses its own flags and
 * hands a loaded configuration to the module that does the work. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gm/alloc.h"
#include "gm/app.h"
#include "gm/config.h"
#include "gm/inspect.h"
#include "gm/log.h"
#include "gm/server.h"
#include "gm/store.h"
#include "commands.h"

#define EXIT_USAGE 2

#if defined(__SANITIZE_ADDRESS__)
/* h2o keeps per-thread free lists of recycled buffers (some static __thread
 * in its memory.c) and never releases them when a thread exits: by design,
 * not a leak of ours. Built in, so every run of a sanitizer build agrees. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
#endif

static const char usage_main[] = "usage: gha-metrics <command> [options]\n"
                                 "\n"
                                 "commands:\n"
                                 "  serve [--config FILE]     receive GitHub webhooks and write metrics\n"
                                 "  check-config FILE         validate a configuration file and exit\n"
                                 "  status --config FILE      show the spool, ledger and publisher state on disk\n"
                                 "  backfill --config FILE    record runs no delivery brought in (GitHub REST API)\n"
                                 "  lambda [--config FILE]    the backfill as an AWS Lambda custom runtime\n"
                                 "  print-default-config      print the embedded default configuration\n"
                                 "  version                   print the version\n"
                                 "\n"
                                 "Run 'gha-metrics <command> --help' for a command's options.\n";

static const char usage_serve[] =
    "usage: gha-metrics serve [--config FILE]\n"
    "\n"
    "Receives GitHub organisation webhook deliveries (workflow_run, workflow_job,\n"
    "ping) and writes run and job metrics to the configured sink.\n"
    "\n"
    "  -c, --config FILE   YAML configuration (default: the embedded default,\n"
    "                      which listens on 127.0.0.1:8080 and keeps its secret\n"
    "                      in ./var/webhook-secret, generating it if missing)\n"
    "  -h, --help          show this help\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reopens output files.\n";

static const char usage_check[] = "usage: gha-metrics check-config FILE\n"
                                  "\n"
                                  "Loads FILE as 'serve' would (secrets and TLS files included) and\n"
                                  "prints 'FILE: ok', or 'FILE:LINE: key: problem' and exits 2.\n";

static const char usage_status[] =
    "usage: gha-metrics status --config FILE\n"
    "\n"
    "Prints, as JSON, what the store in spool.dir says: the last checkpoint,\n"
    "spool segments and deliveries not yet processed, the ledger log, and for\n"
    "the CloudWatch sinks the outbox, requests in flight and dead letters.\n"
    "Read-only: safe beside a running server (it may trail it by a second).\n";
static const char usage_version[] = "usage: gha-metrics version\n";
static const char usage_print[] = "usage: gha-metrics print-default-config\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
    fputs("gha-metrics: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

/* Subcommands without options still take --help and refuse anything else. */
static int parse_no_options(int argc, char **argv, const char *usage, int *done)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    *done = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            *done = 1;
            return 0;
        }
        return usage_error(usage, "unknown option '%s'", argv[optind - 1]);
    }
    return 0;
}

/* The embedded default keeps its secret in ./var/webhook-secret. On first
 * run it is generated and shown once, so that a newcomer can configure the
 * GitHub side (or scripts/send-examples) without any set-up. */
static int ensure_default_secret(void)
{
    static const char path[] = "./var/webhook-secret";
    if (access(path, F_OK) == 0)
        return 0;
    if (mkdir("./var", 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "gha-metrics: cannot create ./var: %s\n", strerror(errno));
        return -1;
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "gha-metrics: cannot generate a secret\n");
        return -1;
    }
    char hex[65];
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "gha-metrics: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        fprintf(stderr, "gha-metrics: cannot write %s\n", path);
        return -1;
    }
    /* Shown once, on the terminal only: it is never logged afterwards. */
    printf("Generated a webhook secret (stored in %s, shown only now):\n\n    %s\n\n"
           "Use it as the secret of your GitHub webhook, or run scripts/send-examples.\n",
           path, hex);
    fflush(stdout);
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_serve, stdout);
            return 0;
        default:
            if (optopt == 'c')
                return usage_error(usage_serve, "option '%s' needs an argument", argv[optind - 1]);
            return usage_error(usage_serve, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(usage_serve, "unexpected argument '%s'", argv[optind]);

    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg;
    if (config_path != NULL) {
        cfg = gm_config_load(config_path, err, sizeof(err));
    } else {
        if (ensure_default_secret() != 0)
            return 1;
        cfg = gm_config_parse("<default>", gm_config_default_yaml, strlen(gm_config_default_yaml), err, sizeof(err));
    }
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    gm_log_set_level(cfg->log.level);
    if (gm_store_make_dirs(cfg->spool.dir) != 0) {
        fprintf(stderr, "gha-metrics: %s: cannot create the spool directory: %s\n", cfg->spool.dir, strerror(errno));
        gm_config_free(cfg);
        return 1;
    }

    gm_app_t *app = gm_app_open(cfg, err, sizeof(err));
    int rc = 1;
    if (app == NULL) {
        gm_log_json(GM_LOG_ERROR, "main", err, NULL);
        goto Exit;
    }
    GM_INFO("main", "gha-metrics %s starting with %s", GM_VERSION, cfg->path);
    if (gm_app_start(app, err, sizeof(err)) != 0 || gm_server_run(app, err, sizeof(err)) != 0) {
        gm_log_json(GM_LOG_ERROR, "main", err, NULL);
        goto Exit;
    }
    gm_app_stop(app);
    GM_INFO("main", "stopped");
    rc = 0;
Exit:
    gm_app_close(app);
    gm_config_free(cfg);
    return rc;
}

static int cmd_check_config(int argc, char **argv)
{
    int done, rc = parse_no_options(argc, argv, usage_check, &done);
    if (rc != 0 || done)
        return rc;
    if (optind >= argc)
        return usage_error(usage_check, "%s", "missing FILE");
    if (optind + 1 < argc)
        return usage_error(usage_check, "unexpected argument '%s'", argv[optind + 1]);
    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = gm_config_load(argv[optind], err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    printf("%s: ok\n", argv[optind]);
    gm_config_free(cfg);
    return 0;
}

static int cmd_status(int argc, char **argv)
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
        else if (c == 'h') {
            fputs(usage_status, stdout);
            return 0;
        } else
            return usage_error(usage_status, "unknown option or missing argument '%s'", argv[optind - 1]);
    }
    if (config_path == NULL)
        return usage_error(usage_status, "%s", "missing --config FILE");
    if (optind < argc)
        return usage_error(usage_status, "unexpected argument '%s'", argv[optind]);
    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = gm_config_load(config_path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }
    json_t *o = gm_inspect(cfg, err, sizeof(err));
    gm_config_free(cfg);
    if (o == NULL) {
        fprintf(stderr, "gha-metrics: %s\n", err);
        return 1;
    }
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(o);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    int done, rc = parse_no_options(argc, argv, usage_version, &done);
    if (rc != 0 || done)
        return rc;
    if (optind < argc)
        return usage_error(usage_version, "unexpected argument '%s'", argv[optind]);
    printf("gha-metrics %s\n", GM_VERSION);
    return 0;
}

static int cmd_print_default(int argc, char **argv)
{
    int done, rc = parse_no_options(argc, argv, usage_print, &done);
    if (rc != 0 || done)
        return rc;
    if (optind < argc)
        return usage_error(usage_print, "unexpected argument '%s'", argv[optind]);
    fputs(gm_config_default_yaml, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"serve", cmd_serve},
        {"check-config", cmd_check_config},
        {"status", cmd_status},
        {"backfill", gm_cmd_backfill},
        {"lambda", gm_cmd_lambda},
        {"print-default-config", cmd_print_default},
        {"version", cmd_version},
    };
    /* As a Lambda function's bootstrap the binary may be started bare. */
    if (argc < 2 && getenv("AWS_LAMBDA_RUNTIME_API") != NULL)
        return gm_cmd_lambda(argc, argv);
    if (argc < 2)
        return usage_error(usage_main, "%s", "missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return usage_error(usage_main, "unknown command '%s'", argv[1]);
}
