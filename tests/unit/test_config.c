/* gm_config: defaults, the documented samples, and every kind of error with
 * its exact line and key path. Criterion runs each test in its own process,
 * so the tests that chdir or setenv do not disturb each other. */
/* nftw() */
#define _XOPEN_SOURCE 700

#include "gm/config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "t.yaml"
#define SECRET "hunter2-do-not-print"

static gm_config_t *parse(const char *yaml, char *err)
{
    return gm_config_parse(NAME, yaml, strlen(yaml), err, GM_CONFIG_ERR_MAX);
}

static gm_config_t *parse_ok(const char *yaml)
{
    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = parse(yaml, err);
    cr_assert_not_null(cfg, "unexpected error: %s", err);
    cr_assert_str_eq(err, "");
    return cfg;
}

static void expect_error(const char *yaml, const char *want)
{
    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = parse(yaml, err);
    cr_assert_null(cfg, "parsed, but expected: %s", want);
    cr_assert_str_eq(err, want);
    cr_assert_null(strstr(err, SECRET), "secret in: %s", err);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(content, f);
    cr_assert_eq(fclose(f), 0);
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A fresh temporary directory as the working directory. */
static char tmpdir[64];

static void enter_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/gm-test-config-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    cr_assert_eq(chdir(tmpdir), 0);
}

static void leave_tmpdir(void)
{
    if (tmpdir[0] != '\0') {
        cr_assert_eq(chdir("/"), 0);
        nftw(tmpdir, remove_cb, 8, FTW_DEPTH | FTW_PHYS);
    }
}

static void check_default_values(const gm_config_t *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    cr_assert_eq(cfg->server.listen_count, 1);
    cr_assert_str_eq(cfg->server.listen[0].address, "127.0.0.1:8080");
    cr_assert_str_eq(cfg->server.listen[0].host, "127.0.0.1");
    cr_assert_eq(cfg->server.listen[0].port, 8080);
    cr_assert_null(cfg->server.listen[0].tls_certificate);
    cr_assert_null(cfg->server.listen[0].tls_key);
    cr_assert_eq(cfg->server.threads, cpus < 1 ? 1u : (unsigned)cpus);
    cr_assert_eq(cfg->server.http2, false);
    cr_assert_eq(cfg->server.shutdown_timeout_ms, 10000);
    cr_assert_eq(cfg->server.request_timeout_ms, 10000);

    cr_assert_str_eq(cfg->webhook.path, "/webhook");
    cr_assert_eq(cfg->webhook.max_body, 25u << 20);
    cr_assert_str_eq(cfg->spool.dir, "./var/spool");

    cr_assert_eq(cfg->publish.sink, GM_SINK_EMF_FILE);
    cr_assert_str_eq(cfg->publish.file, "./var/metrics.emf.jsonl");
    cr_assert_str_eq(cfg->publish.namespace_, "GitHubActions");
    cr_assert_null(cfg->publish.region);
    cr_assert_null(cfg->publish.endpoint);
    cr_assert_eq(cfg->publish.flush_interval_ms, 60000);
    cr_assert_str_eq(cfg->publish.log_group, "/gha-metrics/runs");
    cr_assert_eq(cfg->publish.dimension_count, 4);
    cr_assert_eq(cfg->publish.dimensions[0].count, 2);
    cr_assert_str_eq(cfg->publish.dimensions[0].names[0], "Repository");
    cr_assert_str_eq(cfg->publish.dimensions[0].names[1], "Workflow");
    cr_assert_eq(cfg->publish.dimensions[1].count, 1);
    cr_assert_str_eq(cfg->publish.dimensions[1].names[0], "Repository");
    cr_assert_eq(cfg->publish.dimensions[2].count, 1);
    cr_assert_str_eq(cfg->publish.dimensions[2].names[0], "Team");
    cr_assert_eq(cfg->publish.dimensions[3].count, 0);

    cr_assert_eq(cfg->team_count, 0);
    cr_assert_eq(cfg->log.level, GM_LOG_INFO);
}

/* ---- defaults and samples ---- */

Test(config, defaults)
{
    gm_config_t *cfg = parse_ok("webhook:\n  secrets: [" SECRET "]\n");
    check_default_values(cfg);
    cr_assert_str_eq(cfg->path, NAME);
    cr_assert_eq(cfg->webhook.secret_count, 1);
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "literal");
    cr_assert_eq(cfg->webhook.secrets[0].len, strlen(SECRET));
    cr_assert_eq(memcmp(cfg->webhook.secrets[0].value, SECRET, strlen(SECRET)), 0);
    gm_config_free(cfg);
    gm_config_free(NULL);
}

Test(config, null_values_mean_default)
{
    gm_config_t *cfg = parse_ok("server:\n"
                                "  listen:\n"
                                "  threads: ~\n"
                                "  http2: null\n"
                                "webhook:\n"
                                "  path:\n"
                                "  secret: " SECRET "\n"
                                "spool:\n"
                                "publish:\n"
                                "  dimensions:\n"
                                "teams:\n"
                                "log: {level: }\n");
    check_default_values(cfg);
    gm_config_free(cfg);
}

Test(config, default_yaml_parses_to_the_defaults, .fini = leave_tmpdir)
{
    char err[GM_CONFIG_ERR_MAX];
    enter_tmpdir();
    cr_assert_eq(mkdir("var", 0700), 0);
    write_file("var/webhook-secret", "generated-secret\n");

    gm_config_t *cfg =
        gm_config_parse("<default>", gm_config_default_yaml, strlen(gm_config_default_yaml), err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    check_default_values(cfg);
    cr_assert_str_eq(cfg->path, "<default>");
    cr_assert_eq(cfg->webhook.secret_count, 1);
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "file:./var/webhook-secret");
    cr_assert_eq(cfg->webhook.secrets[0].len, strlen("generated-secret"));
    cr_assert_str_eq((const char *)cfg->webhook.secrets[0].value, "generated-secret");
    gm_config_free(cfg);
}

Test(config, default_yaml_without_its_secret_file, .fini = leave_tmpdir)
{
    char err[GM_CONFIG_ERR_MAX], want[GM_CONFIG_ERR_MAX];
    const char *at = strstr(gm_config_default_yaml, "- file:./var/webhook-secret");
    size_t line = 1;
    cr_assert_not_null(at);
    for (const char *p = gm_config_default_yaml; p < at; p++)
        line += *p == '\n';
    enter_tmpdir();

    cr_assert_null(
        gm_config_parse("<default>", gm_config_default_yaml, strlen(gm_config_default_yaml), err, sizeof(err)));
    snprintf(want, sizeof(want),
             "<default>:%zu: webhook.secrets[0]: cannot read ./var/webhook-secret: No such file or directory", line);
    cr_assert_str_eq(err, want);
}

Test(config, full_sample, .fini = leave_tmpdir)
{
    char err[GM_CONFIG_ERR_MAX];
    enter_tmpdir();
    write_file("tls.crt", "cert");
    write_file("tls.key", "key");
    cr_assert_eq(mkdir("run", 0700), 0);
    cr_assert_eq(mkdir("run/secrets", 0700), 0);
    write_file("run/secrets/old", "old-secret\r\n");
    cr_assert_eq(setenv("GHA_METRICS_WEBHOOK_SECRET", "new-secret", 1), 0);

    gm_config_t *cfg = gm_config_load(GM_FIXTURES "/config/full.yaml", err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->path, GM_FIXTURES "/config/full.yaml");

    cr_assert_eq(cfg->server.listen_count, 3);
    cr_assert_str_eq(cfg->server.listen[0].address, "127.0.0.1:8080");
    cr_assert_str_eq(cfg->server.listen[0].host, "127.0.0.1");
    cr_assert_eq(cfg->server.listen[0].port, 8080);
    cr_assert_null(cfg->server.listen[0].tls_certificate);
    cr_assert_str_eq(cfg->server.listen[1].address, "0.0.0.0:8443");
    cr_assert_str_eq(cfg->server.listen[1].host, "0.0.0.0");
    cr_assert_eq(cfg->server.listen[1].port, 8443);
    cr_assert_str_eq(cfg->server.listen[1].tls_certificate, "tls.crt");
    cr_assert_str_eq(cfg->server.listen[1].tls_key, "tls.key");
    cr_assert_str_eq(cfg->server.listen[2].address, "[::1]:0");
    cr_assert_str_eq(cfg->server.listen[2].host, "::1");
    cr_assert_eq(cfg->server.listen[2].port, 0);
    cr_assert_eq(cfg->server.threads, 4);
    cr_assert_eq(cfg->server.http2, true);
    cr_assert_eq(cfg->server.shutdown_timeout_ms, 30000);
    cr_assert_eq(cfg->server.request_timeout_ms, 500);

    cr_assert_str_eq(cfg->webhook.path, "/hooks/github");
    cr_assert_eq(cfg->webhook.secret_count, 2);
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "env:GHA_METRICS_WEBHOOK_SECRET");
    cr_assert_eq(cfg->webhook.secrets[0].len, 10);
    cr_assert_str_eq((const char *)cfg->webhook.secrets[0].value, "new-secret");
    cr_assert_str_eq(cfg->webhook.secrets[1].source, "file:run/secrets/old");
    cr_assert_eq(cfg->webhook.secrets[1].len, 10);
    cr_assert_eq(memcmp(cfg->webhook.secrets[1].value, "old-secret", 10), 0);
    cr_assert_eq(cfg->webhook.max_body, 10u << 20);

    cr_assert_str_eq(cfg->spool.dir, "/var/lib/gha-metrics/spool");

    cr_assert_eq(cfg->publish.sink, GM_SINK_CLOUDWATCH);
    cr_assert_str_eq(cfg->publish.file, "-");
    cr_assert_str_eq(cfg->publish.namespace_, "CI/GitHubActions");
    cr_assert_str_eq(cfg->publish.region, "eu-west-1");
    cr_assert_str_eq(cfg->publish.endpoint, "http://127.0.0.1:4566");
    cr_assert_eq(cfg->publish.flush_interval_ms, 300000);
    cr_assert_str_eq(cfg->publish.log_group, "/gha-metrics/test-runs");
    cr_assert_eq(cfg->publish.dimension_count, 3);
    cr_assert_eq(cfg->publish.dimensions[0].count, 2);
    cr_assert_str_eq(cfg->publish.dimensions[0].names[0], "Repository");
    cr_assert_str_eq(cfg->publish.dimensions[0].names[1], "Workflow");
    cr_assert_eq(cfg->publish.dimensions[1].count, 1);
    cr_assert_str_eq(cfg->publish.dimensions[1].names[0], "Team");
    cr_assert_eq(cfg->publish.dimensions[2].count, 0);

    cr_assert_eq(cfg->team_count, 2);
    cr_assert_str_eq(cfg->teams[0].team, "platform");
    cr_assert_eq(cfg->teams[0].count, 2);
    cr_assert_str_eq(cfg->teams[1].team, "web");
    cr_assert_eq(cfg->teams[1].count, 1);
    cr_assert_str_eq(cfg->teams[1].repositories[0], "octo-org/site");

    cr_assert_eq(cfg->log.level, GM_LOG_DEBUG);
    gm_config_free(cfg);
}

Test(config, other_enum_values_and_shorthands)
{
    gm_config_t *cfg = parse_ok("publish: { sink: emf-logs }\n"
                                "log: { level: warn }\n"
                                "server: { http2: yes, threads: 1 }\n"
                                "webhook: { secret: " SECRET " }\n"
                                "teams: { solo: octo-org/one }\n");
    cr_assert_eq(cfg->publish.sink, GM_SINK_EMF_LOGS);
    cr_assert_eq(cfg->log.level, GM_LOG_WARN);
    cr_assert_eq(cfg->server.http2, true);
    cr_assert_eq(cfg->server.threads, 1);
    cr_assert_eq(cfg->webhook.secret_count, 1);
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "literal");
    cr_assert_str_eq(gm_config_team_of(cfg, "octo-org/one"), "solo");
    gm_config_free(cfg);

    cfg = parse_ok("log: { level: error }\nwebhook: { secrets: env-less-literal }\n");
    cr_assert_eq(cfg->log.level, GM_LOG_ERROR);
    cr_assert_str_eq((const char *)cfg->webhook.secrets[0].value, "env-less-literal");
    gm_config_free(cfg);
}

Test(config, load_errors, .fini = leave_tmpdir)
{
    char err[GM_CONFIG_ERR_MAX];
    enter_tmpdir();
    cr_assert_null(gm_config_load("missing.yaml", err, sizeof(err)));
    cr_assert_str_eq(err, "missing.yaml: cannot read: No such file or directory");
    cr_assert_eq(mkdir("dir.yaml", 0700), 0);
    cr_assert_null(gm_config_load("dir.yaml", err, sizeof(err)));
    cr_assert_str_eq(err, "dir.yaml: cannot read: Is a directory");

    write_file("bad.yaml", "webhook:\n  secret: x\nlog:\n  level: loud\n");
    cr_assert_null(gm_config_load("bad.yaml", err, sizeof(err)));
    cr_assert_str_eq(err, "bad.yaml:4: log.level: expected one of debug, info, warn, error, got \"loud\"");
}

Test(config, small_error_buffer_is_truncated_not_overrun)
{
    char err[16];
    memset(err, 'X', sizeof(err));
    cr_assert_null(gm_config_parse(NAME, "server: 1\n", 10, err, 12));
    cr_assert_str_eq(err, "t.yaml:1: s");
    cr_assert_eq(err[12], 'X');
    cr_assert_null(gm_config_parse(NAME, "server: 1\n", 10, NULL, 0));
}

/* ---- structure errors ---- */

Test(config, unknown_key)
{
    expect_error("webhook: { secret: x }\n"
                 "server:\n"
                 "  foo: 1\n",
                 NAME ":3: server.foo: unknown key");
    expect_error("webhook: { secret: x }\nsrever: {}\n", NAME ":2: srever: unknown key");
    expect_error("server:\n"
                 "  listen:\n"
                 "    - address: 127.0.0.1:1\n"
                 "    - address: 127.0.0.1:2\n"
                 "      tls: { chain: c, certificate: a, key: b }\n",
                 NAME ":5: server.listen[1].tls.chain: unknown key");
}

Test(config, duplicate_key)
{
    expect_error("webhook:\n  secret: x\n  path: /a\n  path: /b\n", NAME ":4: webhook.path: duplicate key");
    expect_error("teams:\n  a: [o/x]\n  b: [o/y]\n  a: [o/z]\n", NAME ":4: teams.a: duplicate key");
}

Test(config, wrong_types)
{
    expect_error("- server\n", NAME ":1: expected a map, got a list");
    expect_error("server: [1, 2]\n", NAME ":1: server: expected a map, got a list");
    expect_error("webhook:\n  secret: x\n  path: {a: 1}\n", NAME ":3: webhook.path: expected a string, got a map");
    expect_error("server:\n  threads: abc\n", NAME ":2: server.threads: expected a whole number, got \"abc\"");
    expect_error("server:\n  threads: -1\n", NAME ":2: server.threads: expected a whole number, got \"-1\"");
    expect_error("server:\n  threads: [1]\n", NAME ":2: server.threads: expected a whole number, got a list");
    expect_error("server:\n  threads: 5000\n", NAME ":2: server.threads: must be from 0 to 1024, got 5000");
    expect_error("server:\n  http2: maybe\n", NAME ":2: server.http2: expected true or false, got \"maybe\"");
    expect_error("publish:\n  sink: s3\n",
                 NAME ":2: publish.sink: expected one of emf-file, cloudwatch, emf-logs, got \"s3\"");
    expect_error("server:\n  listen: 127.0.0.1:80\n",
                 NAME ":2: server.listen: expected a list of listeners, got a string");
    expect_error("server:\n  listen: [127.0.0.1:80]\n", NAME ":2: server.listen[0]: expected a map, got a string");
    expect_error("server: { listen: [ {address: [1]} ] }\n",
                 NAME ":1: server.listen[0].address: expected HOST:PORT, got a list");
    expect_error("{[a]: 1}\n", NAME ":1: expected a key name, got a list");
    expect_error("webhook:\n  path: \"\"\n", NAME ":2: webhook.path: must not be empty");
    expect_error("spool:\n  dir: \"a\\0b\"\n", NAME ":2: spool.dir: must not contain a NUL character");
}

Test(config, sizes_and_durations_in_the_file)
{
    expect_error("webhook:\n  secret: x\n  max_body: 25XB\n",
                 NAME ":3: webhook.max_body: expected a size such as 25MiB, 512KB or 1048576, got \"25XB\"");
    expect_error("webhook:\n  secret: x\n  max_body: 0\n", NAME ":3: webhook.max_body: must be from 1B to 1GiB, got 0");
    expect_error("webhook:\n  secret: x\n  max_body: 1025MiB\n",
                 NAME ":3: webhook.max_body: must be from 1B to 1GiB, got 1025MiB");
    expect_error("server:\n  shutdown_timeout: 10 minutes\n",
                 NAME ":2: server.shutdown_timeout: expected a duration such as 500ms, 60s, 5m, 2h or 35d, "
                      "got \"10 minutes\"");
    expect_error("server:\n  request_timeout: 0\n", NAME ":2: server.request_timeout: must be from 1ms to 1h, got 0");
    expect_error("publish:\n  flush_interval: 2d\n",
                 NAME ":2: publish.flush_interval: must be from 100ms to 1d, got 2d");
    expect_error("server:\n  shutdown_timeout: 99999999999999999999\n",
                 NAME ":2: server.shutdown_timeout: expected a duration such as 500ms, 60s, 5m, 2h or 35d, "
                      "got \"99999999999999999999\"");

    gm_config_t *cfg = parse_ok("webhook: { secret: x, max_body: 1GiB }\n"
                                "server: { shutdown_timeout: 0, request_timeout: 1h }\n"
                                "publish: { flush_interval: 100ms }\n");
    cr_assert_eq(cfg->webhook.max_body, 1u << 30);
    cr_assert_eq(cfg->server.shutdown_timeout_ms, 0);
    cr_assert_eq(cfg->server.request_timeout_ms, 3600000);
    cr_assert_eq(cfg->publish.flush_interval_ms, 100);
    gm_config_free(cfg);
}

Test(config, listen_errors, .fini = leave_tmpdir)
{
    expect_error("server:\n  listen: []\n", NAME ":2: server.listen: expected at least one listener");
    expect_error("server:\n"
                 "  listen:\n"
                 "    - address: 127.0.0.1:8080\n"
                 "    - address: localhost:8080\n",
                 NAME ":4: server.listen[1].address: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or "
                      "[::1]:8080, got \"localhost:8080\"");
    expect_error("server:\n  listen:\n    - address: 127.0.0.1:70000\n",
                 NAME ":3: server.listen[0].address: port must be from 0 to 65535, got \"127.0.0.1:70000\"");
    expect_error("server:\n  listen:\n    - address: ::1:8080\n",
                 NAME ":3: server.listen[0].address: IPv6 addresses go in brackets, e.g. [::1]:8080, got \"::1:8080\"");
    expect_error("server:\n  listen:\n    - address: \"[::1]8080\"\n",
                 NAME ":3: server.listen[0].address: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or "
                      "[::1]:8080, got \"[::1]8080\"");
    expect_error("server:\n  listen:\n    - address: \"127.0.0.1:\"\n",
                 NAME ":3: server.listen[0].address: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or "
                      "[::1]:8080, got \"127.0.0.1:\"");
    expect_error("server:\n  listen:\n    - address: 127.0.0.1:8080\n    - {}\n",
                 NAME ":4: server.listen[1].address: is required");
    expect_error("server:\n  listen:\n    - address: 127.0.0.1:8080\n    - address: 127.0.0.1:8080\n",
                 NAME ":4: server.listen[1]: same address as server.listen[0]");

    enter_tmpdir();
    write_file("tls.crt", "cert");
    write_file("tls.key", "key");
    expect_error("server:\n"
                 "  listen:\n"
                 "    - address: 0.0.0.0:8443\n"
                 "      tls:\n"
                 "        certificate: tls.crt\n",
                 NAME ":5: server.listen[0].tls.key: is required");
    expect_error("server:\n"
                 "  listen:\n"
                 "    - address: 0.0.0.0:8443\n"
                 "      tls: { certificate: nope.crt, key: tls.key }\n",
                 NAME ":4: server.listen[0].tls.certificate: cannot read nope.crt: No such file or directory");
    expect_error("server:\n"
                 "  listen:\n"
                 "    - address: 0.0.0.0:8443\n"
                 "      tls: { certificate: tls.crt, key: . }\n",
                 NAME ":4: server.listen[0].tls.key: cannot read .: Is a directory");

    gm_config_t *cfg = parse_ok("server:\n"
                                "  listen:\n"
                                "    - { address: \"[::]:0\", tls: { certificate: tls.crt, key: tls.key } }\n"
                                "    - { address: \"[::]:0\" }\n"
                                "    - { address: 10.0.0.1:65535 }\n"
                                "webhook: { secret: x }\n");
    cr_assert_eq(cfg->server.listen_count, 3);
    cr_assert_str_eq(cfg->server.listen[0].host, "::");
    cr_assert_str_eq(cfg->server.listen[0].tls_key, "tls.key");
    cr_assert_null(cfg->server.listen[1].tls_key);
    cr_assert_eq(cfg->server.listen[2].port, 65535);
    gm_config_free(cfg);
}

Test(config, webhook_path_and_publish_strings)
{
    expect_error("webhook:\n  path: webhook\n", NAME ":2: webhook.path: must start with /");
    expect_error("webhook:\n  path: /healthz\n", NAME ":2: webhook.path: /healthz is the built-in status endpoint");
    expect_error("webhook:\n  path: /a?b=c\n", NAME ":2: webhook.path: must be a plain URL path (no spaces, ? or #)");
    expect_error("publish:\n  endpoint: ftp://x\n",
                 NAME ":2: publish.endpoint: expected an http:// or https:// URL, got \"ftp://x\"");
    expect_error("publish:\n  endpoint: https://\n",
                 NAME ":2: publish.endpoint: expected an http:// or https:// URL, got \"https://\"");
    expect_error("publish:\n  namespace: AWS/EC2\n",
                 NAME ":2: publish.namespace: AWS/ namespaces are reserved for AWS services");
    expect_error("publish:\n  namespace: \"a$b\"\n",
                 NAME ":2: publish.namespace: expected at most 255 letters, digits, spaces or . - _ / # :");
    expect_error("publish:\n  region: EU West\n",
                 NAME ":2: publish.region: expected a region name such as eu-west-1, got \"EU West\"");
    expect_error("publish:\n  log_group: \"a b\"\n",
                 NAME ":2: publish.log_group: expected at most 512 letters, digits or . - _ / #");
}

/* ---- secrets ---- */

Test(config, secrets_required)
{
    const char *need = "is required: at least one secret (env:NAME, file:PATH or a literal); the receiver never "
                       "runs unauthenticated";
    char want[GM_CONFIG_ERR_MAX];
    snprintf(want, sizeof(want), NAME ":1: webhook.secrets: %s", need);
    expect_error("", want);
    expect_error("# nothing\n", want);
    snprintf(want, sizeof(want), NAME ":3: webhook.secrets: %s", need);
    expect_error("log:\n  level: info\nwebhook:\n  path: /x\n", want);
    expect_error("webhook:\n  secrets: []\n",
                 NAME ":2: webhook.secrets: expected at least one secret: the receiver never runs unauthenticated");
}

Test(config, empty_secrets)
{
    expect_error("webhook:\n  secrets:\n    - " SECRET "\n    - \"\"\n",
                 NAME ":4: webhook.secrets[1]: is empty: the receiver never runs unauthenticated");
    expect_error("webhook:\n  secrets: [~]\n",
                 NAME ":2: webhook.secrets[0]: is empty: the receiver never runs unauthenticated");
    expect_error("webhook:\n  secret: ''\n",
                 NAME ":2: webhook.secret: is empty: the receiver never runs unauthenticated");
}

Test(config, env_secrets)
{
    cr_assert_eq(unsetenv("GM_TEST_UNSET"), 0);
    cr_assert_eq(setenv("GM_TEST_EMPTY", "", 1), 0);
    cr_assert_eq(setenv("GM_TEST_SECRET", SECRET, 1), 0);
    expect_error("webhook:\n  secrets: [env:GM_TEST_SECRET, env:GM_TEST_UNSET]\n",
                 NAME ":2: webhook.secrets[1]: environment variable GM_TEST_UNSET is not set");
    expect_error("webhook:\n  secrets:\n    - env:GM_TEST_EMPTY\n",
                 NAME ":3: webhook.secrets[0]: environment variable GM_TEST_EMPTY is empty: the receiver never runs "
                      "unauthenticated");
    expect_error("webhook:\n  secret: \"env:\"\n", NAME ":2: webhook.secret: env: needs a variable name");

    gm_config_t *cfg = parse_ok("webhook:\n  secret: env:GM_TEST_SECRET\n");
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "env:GM_TEST_SECRET");
    cr_assert_str_eq((const char *)cfg->webhook.secrets[0].value, SECRET);
    gm_config_free(cfg);
}

Test(config, file_secrets, .fini = leave_tmpdir)
{
    enter_tmpdir();
    write_file("empty", "");
    write_file("newline", "\n");
    write_file("crlf", "\r\n");
    write_file("two", "abc\n\n");
    write_file("raw", "abc\r");
    cr_assert_eq(mkdir("dir", 0700), 0);

    expect_error("webhook:\n  secret: file:/nonexistent/secret\n",
                 NAME ":2: webhook.secret: cannot read /nonexistent/secret: No such file or directory");
    expect_error("webhook:\n  secret: file:dir\n", NAME ":2: webhook.secret: cannot read dir: Is a directory");
    expect_error("webhook:\n  secret: file:empty\n",
                 NAME ":2: webhook.secret: file empty is empty: the receiver never runs unauthenticated");
    expect_error("webhook:\n  secret: file:newline\n",
                 NAME ":2: webhook.secret: file newline is empty: the receiver never runs unauthenticated");
    expect_error("webhook:\n  secret: file:crlf\n",
                 NAME ":2: webhook.secret: file crlf is empty: the receiver never runs unauthenticated");
    expect_error("webhook:\n  secret: \"file:\"\n", NAME ":2: webhook.secret: file: needs a path");

    /* Only one trailing newline is the editor's. */
    gm_config_t *cfg = parse_ok("webhook:\n  secrets: [file:two, file:raw]\n");
    cr_assert_str_eq(cfg->webhook.secrets[0].source, "file:two");
    cr_assert_eq(cfg->webhook.secrets[0].len, 4);
    cr_assert_eq(memcmp(cfg->webhook.secrets[0].value, "abc\n", 4), 0);
    cr_assert_eq(cfg->webhook.secrets[1].len, 4);
    cr_assert_eq(memcmp(cfg->webhook.secrets[1].value, "abc\r", 4), 0);
    gm_config_free(cfg);
}

Test(config, file_secret_too_large, .fini = leave_tmpdir)
{
    enter_tmpdir();
    FILE *f = fopen("big", "w");
    cr_assert_not_null(f);
    for (int i = 0; i < (64 << 10) + 1; i++)
        fputc('a', f);
    cr_assert_eq(fclose(f), 0);
    expect_error("webhook:\n  secret: file:big\n", NAME ":2: webhook.secret: cannot read big: File too large");
}

Test(config, secret_and_secrets_together)
{
    expect_error("webhook:\n  secret: a\n  secrets: [b]\n",
                 NAME ":3: webhook.secrets: give either webhook.secret or webhook.secrets, not both");
    expect_error("webhook:\n  secrets: [b]\n  secret: a\n",
                 NAME ":3: webhook.secret: give either webhook.secret or webhook.secrets, not both");
    expect_error("webhook:\n  secret: [a]\n", NAME ":2: webhook.secret: expected a string, got a list");
    expect_error("webhook:\n  secrets: {a: b}\n", NAME ":2: webhook.secrets: expected a list of secrets, got a map");
    expect_error("webhook:\n  secrets: [[a]]\n", NAME ":2: webhook.secrets[0]: expected a string, got a list");
}

/* Every error that happens near a secret, in every form a secret takes. */
Test(config, secrets_never_appear_in_errors, .fini = leave_tmpdir)
{
    static const char *const configs[] = {
        "webhook:\n  secrets: [" SECRET "]\n  max_body: lots\n",
        "webhook:\n  secrets: [" SECRET ", \"\"]\n",
        "webhook:\n  secrets: [env:GM_TEST_SECRET, env:GM_TEST_UNSET]\n",
        "webhook:\n  secrets: [file:secret, file:missing]\n",
        "webhook:\n  secrets: {" SECRET ": 1}\n",
        "webhook:\n  secret: [" SECRET "]\n",
        "webhook:\n  secret: " SECRET "\n  secrets: [" SECRET "]\n",
        "webhook:\n  secret: \"" SECRET "\n",
        "webhook:\n  secret: " SECRET "\n  secret: " SECRET "\n",
        "webhook:\n  secrets: [" SECRET ", [" SECRET "]]\n",
    };
    char err[GM_CONFIG_ERR_MAX];
    enter_tmpdir();
    write_file("secret", SECRET "\n");
    cr_assert_eq(setenv("GM_TEST_SECRET", SECRET, 1), 0);
    cr_assert_eq(unsetenv("GM_TEST_UNSET"), 0);
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        gm_config_t *cfg = parse(configs[i], err);
        cr_assert_null(cfg, "config %zu parsed", i);
        cr_assert_neq(err[0], '\0');
        cr_assert_null(strstr(err, SECRET), "config %zu: %s", i, err);
        cr_assert_null(strstr(err, "hunter2"), "config %zu: %s", i, err);
    }
}

/* ---- dimensions and teams ---- */

Test(config, dimension_errors)
{
    expect_error("publish:\n  dimensions: [[Repository], [Branch]]\n",
                 NAME ":2: publish.dimensions[1][0]: unknown dimension \"Branch\": expected Repository, Workflow or "
                      "Team");
    expect_error("publish:\n  dimensions:\n    - [Repository]\n    - [repository]\n",
                 NAME ":4: publish.dimensions[1][0]: unknown dimension \"repository\": expected Repository, Workflow "
                      "or Team");
    expect_error("publish:\n  dimensions: [[Team, Team]]\n",
                 NAME ":2: publish.dimensions[0][1]: Team is already in this set");
    expect_error("publish:\n  dimensions:\n    - [Repository, Workflow]\n    - [Workflow, Repository]\n",
                 NAME ":4: publish.dimensions[1]: same dimensions as publish.dimensions[0]");
    expect_error("publish:\n  dimensions: [[], []]\n",
                 NAME ":2: publish.dimensions[1]: same dimensions as publish.dimensions[0]");
    expect_error("publish:\n  dimensions: []\n",
                 NAME ":2: publish.dimensions: expected at least one dimension set ([] is the namespace-wide one)");
    expect_error("publish:\n  dimensions: [Repository]\n",
                 NAME ":2: publish.dimensions[0]: expected a list of dimension names, got a string");
    expect_error("publish:\n  dimensions: Repository\n",
                 NAME ":2: publish.dimensions: expected a list of dimension sets such as [[Repository, Workflow], []], "
                      "got a string");

    char yaml[512] = "publish:\n  dimensions: [[Team";
    for (int i = 0; i < 30; i++)
        strcat(yaml, ", Team");
    strcat(yaml, "]]\n");
    expect_error(yaml, NAME ":2: publish.dimensions[0]: at most 30 dimensions per set");
}

Test(config, custom_dimensions)
{
    gm_config_t *cfg = parse_ok("publish:\n  dimensions: [[Workflow, Team, Repository]]\nwebhook: { secret: x }\n");
    cr_assert_eq(cfg->publish.dimension_count, 1);
    cr_assert_eq(cfg->publish.dimensions[0].count, 3);
    cr_assert_str_eq(cfg->publish.dimensions[0].names[0], "Workflow");
    cr_assert_str_eq(cfg->publish.dimensions[0].names[1], "Team");
    cr_assert_str_eq(cfg->publish.dimensions[0].names[2], "Repository");
    gm_config_free(cfg);
}

Test(config, team_errors)
{
    expect_error("teams: [platform]\n", NAME ":1: teams: expected a map of team name to repositories, got a list");
    expect_error("teams:\n  platform: {a: b}\n",
                 NAME ":2: teams.platform: expected a list of repositories (owner/name), got a map");
    expect_error("teams:\n  platform:\n    - octo-org/a\n    - octo-repo\n",
                 NAME ":4: teams.platform[1]: expected owner/name, got \"octo-repo\"");
    expect_error("teams:\n  platform: [a/b/c]\n", NAME ":2: teams.platform[0]: expected owner/name, got \"a/b/c\"");
    expect_error("teams:\n  platform: [\"/b\"]\n", NAME ":2: teams.platform[0]: expected owner/name, got \"/b\"");
    expect_error("teams:\n  platform: [\"a b/c\"]\n", NAME ":2: teams.platform[0]: expected owner/name, got \"a b/c\"");
    expect_error("teams:\n  platform: [[a/b]]\n",
                 NAME ":2: teams.platform[0]: expected a repository (owner/name), got a list");
    expect_error("teams:\n"
                 "  platform: [octo-org/a, octo-org/b]\n"
                 "  web: [octo-org/c]\n"
                 "  infra:\n"
                 "    - octo-org/d\n"
                 "    - Octo-Org/B\n",
                 NAME ":6: teams.infra[1]: Octo-Org/B is already in team platform");
    expect_error("teams:\n  platform: [o/a, o/b, O/A]\n", NAME ":2: teams.platform[2]: O/A is listed twice");
    expect_error("teams:\n  a: o/x\n  b: o/x\n", NAME ":3: teams.b: o/x is already in team a");
    expect_error("teams:\n  ~: [o/x]\n", NAME ":2: teams: expected a team name, got nothing");
}

Test(config, team_lookup)
{
    gm_config_t *cfg = parse_ok("webhook: { secret: x }\n"
                                "teams:\n"
                                "  platform: [octo-org/zeta, Octo-Org/Octo-Repo, octo-org/alpha]\n"
                                "  web: [octo-org/site]\n"
                                "  empty: []\n"
                                "  none:\n");
    cr_assert_eq(cfg->team_count, 4);
    cr_assert_str_eq(gm_config_team_of(cfg, "octo-org/octo-repo"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "OCTO-ORG/OCTO-REPO"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "octo-org/zeta"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "octo-org/alpha"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "Octo-Org/Site"), "web");
    cr_assert_null(gm_config_team_of(cfg, "octo-org/octo"));
    cr_assert_null(gm_config_team_of(cfg, "octo-org/octo-repo2"));
    cr_assert_null(gm_config_team_of(cfg, "other/site"));
    cr_assert_null(gm_config_team_of(cfg, ""));
    cr_assert_null(gm_config_team_of(cfg, NULL));
    cr_assert_null(gm_config_team_of(NULL, "octo-org/site"));
    cr_assert_eq(cfg->teams[2].count, 0);
    cr_assert_eq(cfg->teams[3].count, 0);
    gm_config_free(cfg);
}

/* ---- YAML itself ---- */

Test(config, yaml_syntax_errors)
{
    expect_error("webhook:\n  secret: x\n  path: [a\n",
                 NAME ":4: yaml: did not find expected ',' or ']' (while parsing a flow sequence at line 3)");
    expect_error("server:\n  threads: 1\n threads: 2\n",
                 NAME ":3: yaml: did not find expected key (while parsing a block mapping at line 1)");
    expect_error("server: *nope\n", NAME ":1: yaml: found undefined alias");
    expect_error("webhook:\n  secret: x\n---\nlog: {}\n", NAME ":3: yaml: expected a single document");
    expect_error("webhook:\n  secret: x\nlog:\n  level: \"\xff\"\n", NAME ":4: yaml: invalid leading UTF-8 octet");
}

Test(config, aliases_are_followed)
{
    gm_config_t *cfg = parse_ok("teams:\n  a: &repos [o/x]\n"
                                "webhook: { secrets: [&s " SECRET ", *s] }\n");
    cr_assert_eq(cfg->webhook.secret_count, 2);
    cr_assert_str_eq((const char *)cfg->webhook.secrets[1].value, SECRET);
    gm_config_free(cfg);
    /* A list that contains itself must not send the walk round forever. */
    expect_error("publish:\n  dimensions: &d [*d]\n",
                 NAME ":2: publish.dimensions[0][0]: expected a dimension name, got a list");
}

/* ---- gm_config_parse_size / gm_config_parse_duration ---- */

typedef struct {
    const char *text;
    int rc;
    uint64_t value;
} case_t;

static void check_cases(int (*fn)(const char *, uint64_t *), const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = fn(cases[i].text, &v);
        cr_assert_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].text, rc);
        cr_assert_eq(v, cases[i].rc == 0 ? cases[i].value : 12345, "\"%s\": %llu", cases[i].text,
                     (unsigned long long)v);
    }
}

Test(config, parse_size)
{
    static const case_t cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"1048576", 0, 1048576},
        {"1B", 0, 1},
        {"1k", 0, 1024},
        {"1K", 0, 1024},
        {"1KB", 0, 1000},
        {"1kb", 0, 1000},
        {"1KiB", 0, 1024},
        {"512KB", 0, 512000},
        {"25MiB", 0, 25u << 20},
        {"25 MiB", 0, 25u << 20},
        {"25  MiB", 0, 25u << 20},
        {"1M", 0, 1u << 20},
        {"1MB", 0, 1000000},
        {"1G", 0, 1u << 30},
        {"1GB", 0, 1000000000},
        {"2GiB", 0, 2ull << 30},
        {"18446744073709551615", 0, UINT64_MAX},
        {"17179869183GiB", 0, 17179869183ull << 30},
        {"18446744073709551616", -1, 0},
        {"17179869184GiB", -1, 0},
        {"99999999999999999999999", -1, 0},
        {"", -1, 0},
        {" 1", -1, 0},
        {"1 ", -1, 0},
        {"-1", -1, 0},
        {"+1", -1, 0},
        {"1.5MiB", -1, 0},
        {"MiB", -1, 0},
        {"1XB", -1, 0},
        {"1MiBs", -1, 0},
        {"1TB", -1, 0},
        {"0x10", -1, 0},
    };
    check_cases(gm_config_parse_size, cases, sizeof(cases) / sizeof(cases[0]));
    uint64_t v;
    cr_assert_eq(gm_config_parse_size(NULL, &v), -1);
}

Test(config, parse_duration)
{
    static const case_t cases[] = {
        {"0", 0, 0},
        {"500ms", 0, 500},
        {"60s", 0, 60000},
        {"60", 0, 60000},
        {"5m", 0, 300000},
        {"2h", 0, 7200000},
        {"35d", 0, 35ull * 86400000},
        {"10 s", 0, 10000},
        {"18446744073709551615ms", 0, UINT64_MAX},
        {"213503982334d", 0, 213503982334ull * 86400000},
        {"213503982335d", -1, 0},
        {"18446744073709551615s", -1, 0},
        {"18446744073709551615", -1, 0},
        {"18446744073709551616ms", -1, 0},
        {"", -1, 0},
        {"s", -1, 0},
        {"1S", -1, 0},
        {"1M", -1, 0},
        {"1.5s", -1, 0},
        {"-1s", -1, 0},
        {"1 ", -1, 0},
        {"1sec", -1, 0},
        {"1w", -1, 0},
        {"1h30m", -1, 0},
    };
    check_cases(gm_config_parse_duration, cases, sizeof(cases) / sizeof(cases[0]));
    uint64_t v;
    cr_assert_eq(gm_config_parse_duration(NULL, &v), -1);
}

/* ---- ledger and backfill ---- */

#define HEAD "webhook:\n  secret: " SECRET "\n"

Test(config, ledger_and_backfill_defaults)
{
    gm_config_t *cfg = parse_ok(HEAD);
    cr_assert_eq(cfg->ledger.backend, GM_LEDGER_EMBEDDED);
    cr_assert_null(cfg->ledger.table);
    cr_assert_str_eq(cfg->backfill.github_url, "https://api.github.com");
    cr_assert_eq(cfg->backfill.window_ms, 48 * 3600 * 1000ull);
    cr_assert_not(cfg->backfill.jobs);
    cr_assert_null(cfg->backfill.token);
    cr_assert_eq(cfg->backfill.repository_count, 0);
    gm_config_free(cfg);
}

Test(config, dynamodb_ledger_needs_a_table)
{
    expect_error(HEAD "ledger:\n  backend: dynamodb\n", "t.yaml:3: ledger.table: is required with backend: dynamodb");
    expect_error(HEAD "ledger:\n  backend: dynamodb\n  table: a b\n",
                 "t.yaml:5: ledger.table: a DynamoDB table name has only A-Z a-z 0-9 _ - .");
    gm_config_t *cfg = parse_ok(HEAD "ledger:\n  backend: dynamodb\n  table: gha-ledger\n  region: eu-west-1\n"
                                     "  endpoint: http://127.0.0.1:4567\n");
    cr_assert_eq(cfg->ledger.backend, GM_LEDGER_DYNAMODB);
    cr_assert_str_eq(cfg->ledger.table, "gha-ledger");
    gm_config_free(cfg);
}

Test(config, backfill_token_is_kept_unresolved)
{
    /* serve must start without the backfill's token in its environment. */
    unsetenv("GM_TEST_NO_SUCH_TOKEN");
    gm_config_t *cfg = parse_ok(HEAD "backfill:\n  github:\n    token: env:GM_TEST_NO_SUCH_TOKEN\n"
                                     "  organization: acme\n  window: 72h\n  jobs: true\n");
    cr_assert_str_eq(cfg->backfill.token, "env:GM_TEST_NO_SUCH_TOKEN");
    cr_assert_str_eq(cfg->backfill.organization, "acme");
    cr_assert_eq(cfg->backfill.window_ms, 72 * 3600 * 1000ull);
    cr_assert(cfg->backfill.jobs);
    gm_secret_t s;
    char err[256];
    cr_assert_neq(gm_config_secret_resolve(cfg->backfill.token, strlen(cfg->backfill.token), &s, err, sizeof(err)), 0);
    cr_assert_str_eq(err, "environment variable GM_TEST_NO_SUCH_TOKEN is not set");
    setenv("GM_TEST_NO_SUCH_TOKEN", "ghp_x", 1);
    cr_assert_eq(gm_config_secret_resolve(cfg->backfill.token, strlen(cfg->backfill.token), &s, err, sizeof(err)), 0);
    cr_assert_str_eq((char *)s.value, "ghp_x");
    cr_assert_str_eq(s.source, "env:GM_TEST_NO_SUCH_TOKEN");
    gm_config_secret_clear(&s);
    gm_config_free(cfg);
}

Test(config, backfill_cross_checks)
{
    expect_error(HEAD "backfill:\n  github:\n    token: x\n    app_id: 1\n",
                 "t.yaml:3: backfill: give github.token or a GitHub App (github.app_id, app_key, installation_id), "
                 "not both");
    expect_error(HEAD "backfill:\n  github:\n    app_id: 1\n",
                 "t.yaml:3: backfill: a GitHub App needs github.app_id, github.app_key and github.installation_id");
    expect_error(HEAD "backfill:\n  organization: acme\n  repositories: [a/b]\n",
                 "t.yaml:3: backfill: give organization or repositories, not both");
    expect_error(HEAD "backfill:\n  redeliver:\n    organization: acme\n",
                 "t.yaml:3: backfill: redeliver needs both organization and hook_id (or app: true)");
    expect_error(HEAD "backfill:\n  redeliver:\n    app: true\n",
                 "t.yaml:3: backfill: redeliver: app needs the GitHub App's credentials in github");
    expect_error(HEAD "backfill:\n  repositories: [a/b, c, d/e]\n",
                 "t.yaml:4: backfill.repositories[1]: expected owner/name, got \"c\"");
    expect_error(HEAD "backfill:\n  repositories: [a/b, A/B]\n",
                 "t.yaml:4: backfill.repositories[1]: a/b is listed twice");
    expect_error(HEAD "backfill:\n  github:\n    url: ftp://x\n",
                 "t.yaml:5: backfill.github.url: expected an http:// or https:// URL, got \"ftp://x\"");
    /* One URL rule for every URL the configuration takes. */
    expect_error(HEAD "backfill:\n  receiver: http://\n",
                 "t.yaml:4: backfill.receiver: expected an http:// or https:// URL, got \"http://\"");
    /* One repository rule for teams and the backfill's scope. */
    expect_error(HEAD "teams:\n  web: [acme/we%b]\n", "t.yaml:4: teams.web[0]: expected owner/name, got \"acme/we%b\"");
}

Test(config, backfill_repositories_file_with_teams, .fini = leave_tmpdir)
{
    enter_tmpdir();
    write_file("repositories.yml", "- acme/web\n- repository: acme/api\n  team: platform\n"
                                   "- {name: acme/ml, team: data}\n");
    gm_config_t *cfg = parse_ok(HEAD "teams:\n  platform: [acme/infra]\n"
                                     "backfill:\n  repositories: repositories.yml\n");
    cr_assert_eq(cfg->backfill.repository_count, 3);
    cr_assert_str_eq(cfg->backfill.repositories[1].repository, "acme/api");
    cr_assert_str_eq(cfg->backfill.repositories_file, "repositories.yml");
    cr_assert_str_eq(gm_config_team_of(cfg, "acme/api"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "acme/infra"), "platform");
    cr_assert_str_eq(gm_config_team_of(cfg, "ACME/ML"), "data");
    cr_assert_null(gm_config_team_of(cfg, "acme/web"));
    gm_config_free(cfg);

    write_file("repositories.yml", "repositories:\n  - acme/api\n  - 12\n");
    expect_error(HEAD "backfill:\n  repositories: repositories.yml\n",
                 "repositories.yml:3: repositories[1]: expected owner/name, got \"12\"");
    write_file("repositories.yml", "- {repository: acme/infra, team: web}\n");
    expect_error(HEAD "teams:\n  platform: [acme/infra]\nbackfill:\n  repositories: repositories.yml\n",
                 "t.yaml:5: backfill: acme/infra is in team platform in teams and in team web in repositories.yml");
    /* A YAML error in the file is reported at its own line. */
    write_file("repositories.yml", "- acme/a\n- acme/b\n- acme/\xff\n");
    expect_error(HEAD "backfill:\n  repositories: repositories.yml\n",
                 "repositories.yml:3: yaml: invalid leading UTF-8 octet");
    expect_error(HEAD "backfill:\n  repositories: missing.yml\n",
                 "t.yaml:4: backfill.repositories: cannot read missing.yml: No such file or directory");
}
