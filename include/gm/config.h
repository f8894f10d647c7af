/* gm_config: the service's YAML configuration, parsed with libyaml into a
 * typed, validated structure.
 *
 * Every problem is reported as "FILE:LINE: key.path: what is wrong" in the
 * caller's buffer; the first problem stops the parse. Secrets are resolved
 * (env:NAME, file:PATH, or a literal) at load time so that a missing secret
 * stops the service at start rather than at the first delivery; their values
 * never appear in an error message.
 *
 * Ownership: gm_config_load* return a config owned by the caller, released
 * with gm_config_free(). All strings inside belong to the config. The
 * process holds one config, read-only once the server starts, so any thread
 * may read it without locking. */
#ifndef GM_CONFIG_H
#define GM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_CONFIG_ERR_MAX 512

typedef enum { GM_LOG_DEBUG = 0, GM_LOG_INFO, GM_LOG_WARN, GM_LOG_ERROR } gm_log_level_t;

typedef struct {
    char *address;     /* as written, "127.0.0.1:8080" or "[::1]:8443" */
    char *host;        /* "127.0.0.1", "::1", "0.0.0.0" */
    uint16_t port;     /* 0 allowed: the kernel picks one (tests) */
    char *tls_certificate; /* NULL for plain HTTP */
    char *tls_key;         /* NULL for plain HTTP */
} gm_listen_t;

typedef struct {
    char *source; /* "env:NAME", "file:PATH" or "literal": safe to log */
    unsigned char *value;
    size_t len;
} gm_secret_t;

typedef struct {
    char **names;  /* dimension names, e.g. {"Repository", "Workflow"} */
    size_t count;  /* 0 = the empty set (one namespace-wide series) */
} gm_dimset_t;

typedef struct {
    char *team;
    char **repositories; /* "owner/name", matched case-insensitively */
    size_t count;
} gm_team_t;

typedef enum { GM_SINK_EMF_FILE = 0, GM_SINK_CLOUDWATCH, GM_SINK_EMF_LOGS } gm_sink_kind_t;

/* Where "already seen" lives: in the spool dir (one machine), or in a
 * DynamoDB table shared by several receivers and the backfill Lambda. */
typedef enum { GM_LEDGER_EMBEDDED = 0, GM_LEDGER_DYNAMODB } gm_ledger_backend_t;

typedef struct {
    char *repository; /* "owner/name" */
    char *team;       /* NULL when the list gives none */
} gm_scope_repo_t;

typedef struct {
    char *path; /* the file the config came from, or "<default>" */

    struct {
        gm_listen_t *listen;
        size_t listen_count;
        unsigned threads;           /* 0 in the file = one per core, resolved at load */
        bool http2;                 /* default false: see README */
        uint64_t shutdown_timeout_ms; /* default 10s: in-flight requests get this long */
        uint64_t request_timeout_ms;  /* default 10s: h2o's I/O timeout */
    } server;

    struct {
        char *path;                 /* default "/webhook" */
        gm_secret_t *secrets;
        size_t secret_count;        /* >= 1 once loaded */
        uint64_t max_body;          /* bytes, default 25 MiB */
    } webhook;

    struct {
        char *dir;                  /* default "./var/spool" */
        uint64_t segment_bytes;     /* default 64 MiB: rotate segment files past this size */
        uint64_t min_free;          /* default 64 MiB: refuse deliveries (503) when the disk has less */
        uint64_t retention_ms;      /* default 24h: keep processed segments for replay */
        uint64_t ledger_retention_ms; /* default 35d: how long a delivery id or run attempt is remembered */
        unsigned ledger_max_entries;  /* default 2,000,000: 64 MiB of table at the bound (32 bytes an entry) */
    } spool;

    struct {
        gm_sink_kind_t sink;        /* default emf-file */
        char *file;                 /* default "./var/metrics.emf.jsonl"; "-" = stdout */
        char *namespace_;           /* default "GitHubActions" */
        char *region;               /* NULL = from the environment */
        char *endpoint;             /* NULL = AWS's */
        uint64_t flush_interval_ms; /* default 60s */
        uint64_t max_backlog_age_ms; /* default 15m: /readyz says "degraded" past it */
        char *log_group;            /* default "/gha-metrics/runs" */
        gm_dimset_t *dimensions;    /* default [[Repository, Workflow], [Repository], [Team], []] */
        size_t dimension_count;
    } publish;

    struct {
        gm_ledger_backend_t backend; /* default embedded */
        char *table;                 /* dynamodb: required */
        char *region;                /* NULL = from the environment */
        char *endpoint;              /* NULL = AWS's */
    } ledger;

    /* The backfill's settings. Its GitHub credentials are kept as written
     * (env:/file:/literal) and resolved only by the backfill, so that
     * `serve` never needs them: see gm_config_secret_resolve. */
    struct {
        char *github_url;         /* default https://api.github.com */
        char *token;              /* spec of the token, or NULL (never log it: it may be a literal) */
        uint64_t app_id;          /* GitHub App: with app_key and installation_id */
        char *app_key;            /* spec of the App's PEM key, or NULL */
        uint64_t installation_id;
        char *organization;       /* scope: every repository of the org, or NULL */
        gm_scope_repo_t *repositories; /* scope: a list (inline or from repositories_file) */
        size_t repository_count;
        char *repositories_file;  /* where the list came from, or NULL */
        uint64_t window_ms;       /* default 48h */
        bool jobs;                /* default false */
        char *receiver;           /* URL; NULL = http://<first listener><webhook.path> */
        char *receiver_ca;        /* CA file for an https receiver; NULL = the system's */
        char *redeliver_org;      /* redeliver failed deliveries of this org hook ... */
        uint64_t redeliver_hook_id;
        bool redeliver_app;       /* ... or of the App's hook */
    } backfill;

    gm_team_t *teams;
    size_t team_count;

    struct {
        gm_log_level_t level;       /* default info */
    } log;
} gm_config_t;

/* Parses YAML text. `name` is used in error messages. Relative paths
 * (file: secrets, TLS files, spool, publish.file) are relative to the
 * working directory, as for any daemon. Returns NULL with the reason in err. */
gm_config_t *gm_config_parse(const char *name, const char *text, size_t len, char *err, size_t errlen);

/* Reads and parses a file. */
gm_config_t *gm_config_load(const char *path, char *err, size_t errlen);

void gm_config_free(gm_config_t *cfg);

/* Resolves a secret written as env:NAME, file:PATH or a literal (len bytes
 * of s). Returns 0 with *out filled (release with gm_config_secret_clear),
 * or -1 with the reason, which names the source, never the value. */
int gm_config_secret_resolve(const char *s, size_t len, gm_secret_t *out, char *err, size_t errlen);
void gm_config_secret_clear(gm_secret_t *s);

/* The team of a repository ("owner/name"), or NULL when none is mapped. */
const char *gm_config_team_of(const gm_config_t *cfg, const char *repository);

/* "25MiB", "512KB", "1048576" → bytes. Returns 0 on success, -1 when malformed. */
int gm_config_parse_size(const char *s, uint64_t *out);

/* "60s", "500ms", "5m", "2h", "35d" → milliseconds. Returns 0 / -1. */
int gm_config_parse_duration(const char *s, uint64_t *out_ms);

/* The embedded default configuration (YAML text): plain HTTP on
 * 127.0.0.1:8080, secret from ./var/webhook-secret, EMF to ./var. */
extern const char gm_config_default_yaml[];

#endif
