/* gm_config: single values: numbers, sizes and durations, listen addresses,
 * webhook secrets (env:NAME, file:PATH or a literal), and the checks on
 * strings. The option tables and their walk are in config.c. */
#include "config_internal.h"
#include "gm/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Also keeps file:/dev/zero from filling memory. */
#define SECRET_FILE_MAX ((size_t)64 << 10)

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

/* Where GitHub would otherwise post over the status endpoints. */
static const char *const reserved_paths[] = {"/healthz", "/readyz", "/metrics", NULL};

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

int gm_cfg_set_number(loader_t *ld, const opt_t *opt, yaml_node_t *node, const char *s, void *field)
{
    static const char *const hint[] = {
        [OPT_UINT] = "a whole number",
        [OPT_SIZE] = "a size such as 25MiB, 512KB or 1048576",
        [OPT_DURATION] = "a duration such as 500ms, 60s, 5m, 2h or 35d",
        [OPT_ID] = "a whole number",
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
        return gm_cfg_fail(ld, node, "expected %s, got \"%.64s\"", hint[opt->kind], s);
    if (v < opt->min || v > opt->max) {
        char lo[32], hi[32];
        format_value(lo, sizeof(lo), opt->kind, opt->min);
        format_value(hi, sizeof(hi), opt->kind, opt->max);
        return gm_cfg_fail(ld, node, "must be from %s to %s, got %.64s", lo, hi, s);
    }
    if (opt->kind == OPT_UINT)
        *(unsigned *)field = (unsigned)v;
    else
        *(uint64_t *)field = v;
    return 0;
}

/* ---- string checks ---- */

int gm_cfg_check_readable(loader_t *ld, yaml_node_t *node, const char *value)
{
    struct stat st;
    if (access(value, R_OK) != 0 || stat(value, &st) != 0)
        return gm_cfg_fail(ld, node, "cannot read %s: %s", value, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return gm_cfg_fail(ld, node, "cannot read %s: %s", value, strerror(EISDIR));
    return 0;
}

bool gm_cfg_only_chars(const char *s, const char *extra)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

int gm_cfg_check_webhook_path(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (value[0] != '/')
        return gm_cfg_fail(ld, node, "must start with /");
    for (const char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == 0x7f)
            return gm_cfg_fail(ld, node, "must be a plain URL path (no spaces, ? or #)");
    }
    for (size_t i = 0; reserved_paths[i] != NULL; i++) {
        if (strcmp(value, reserved_paths[i]) == 0)
            return gm_cfg_fail(ld, node, "%s is the built-in status endpoint", value);
    }
    return 0;
}

/* CloudWatch's rules, checked here so a typo stops the start, not every flush. */
int gm_cfg_check_namespace(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 255 || !gm_cfg_only_chars(value, ".-_/#: "))
        return gm_cfg_fail(ld, node, "expected at most 255 letters, digits, spaces or . - _ / # :");
    if (strncmp(value, "AWS/", 4) == 0)
        return gm_cfg_fail(ld, node, "AWS/ namespaces are reserved for AWS services");
    return 0;
}

int gm_cfg_check_region(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 64 || !gm_cfg_only_chars(value, "-"))
        return gm_cfg_fail(ld, node, "expected a region name such as eu-west-1, got \"%.64s\"", value);
    return 0;
}

int gm_cfg_check_endpoint(loader_t *ld, yaml_node_t *node, const char *value)
{
    const char *rest = NULL;
    if (strncmp(value, "http://", 7) == 0)
        rest = value + 7;
    else if (strncmp(value, "https://", 8) == 0)
        rest = value + 8;
    if (rest == NULL || *rest == '\0' || *rest == '/')
        return gm_cfg_fail(ld, node, "expected an http:// or https:// URL, got \"%.64s\"", value);
    for (const char *p = rest; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return gm_cfg_fail(ld, node, "must not contain spaces or control characters");
    }
    return 0;
}

int gm_cfg_check_log_group(loader_t *ld, yaml_node_t *node, const char *value)
{
    if (strlen(value) > 512 || !gm_cfg_only_chars(value, ".-_/#"))
        return gm_cfg_fail(ld, node, "expected at most 512 letters, digits or . - _ / #");
    return 0;
}

/* ---- server.listen addresses ---- */

/* Numeric addresses only: resolving names at start would make the bound
 * address depend on DNS, and the server binds exactly what is written. */
const char *gm_cfg_parse_address(const char *s, char **host, uint16_t *port)
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

/* ---- webhook.secrets ---- */

/* Reads at most max bytes into a NUL-terminated buffer. Returns 0 or an errno
 * value. Buffers outgrown on the way are wiped: the file may be a secret. */
int gm_cfg_read_file(const char *path, size_t max, char **out, size_t *outlen)
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
int gm_config_secret_resolve(const char *s, size_t len, gm_secret_t *out, char *err, size_t errlen)
{
    static const char *const empty = "is empty";
    memset(out, 0, sizeof(*out));
    if (strncmp(s, "env:", 4) == 0) {
        const char *name = s + 4;
        if (*name == '\0' || strlen(s) != len)
            return snprintf(err, errlen, "env: needs a variable name"), -1;
        const char *value = getenv(name);
        if (value == NULL)
            return snprintf(err, errlen, "environment variable %.128s is not set", name), -1;
        if (*value == '\0')
            return snprintf(err, errlen, "environment variable %.128s %s", name, empty), -1;
        out->source = gm_asprintf("env:%s", name);
        out->len = strlen(value);
        out->value = (unsigned char *)gm_strdup(value);
    } else if (strncmp(s, "file:", 5) == 0) {
        const char *path = s + 5;
        char *buf;
        size_t n;
        if (*path == '\0' || strlen(s) != len)
            return snprintf(err, errlen, "file: needs a path"), -1;
        int e = gm_cfg_read_file(path, SECRET_FILE_MAX, &buf, &n);
        if (e != 0)
            return snprintf(err, errlen, "cannot read %.256s: %s", path, strerror(e)), -1;
        /* Editors and `echo` add one newline; anything else is the secret's. */
        if (n > 0 && buf[n - 1] == '\n')
            n--;
        if (n > 0 && buf[n - 1] == '\r' && buf[n] == '\n')
            n--;
        if (n == 0) {
            free(buf);
            return snprintf(err, errlen, "file %.256s %s", path, empty), -1;
        }
        buf[n] = '\0';
        out->source = gm_asprintf("file:%s", path);
        out->value = (unsigned char *)buf;
        out->len = n;
    } else {
        if (len == 0)
            return snprintf(err, errlen, "%s", empty), -1;
        out->source = gm_strdup("literal");
        out->value = gm_malloc(len + 1);
        memcpy(out->value, s, len);
        out->value[len] = '\0';
        out->len = len;
    }
    return 0;
}

void gm_config_secret_clear(gm_secret_t *s)
{
    if (s->value != NULL)
        explicit_bzero(s->value, s->len);
    free(s->value);
    free(s->source);
    memset(s, 0, sizeof(*s));
}

int gm_cfg_resolve_secret(loader_t *ld, yaml_node_t *node, gm_secret_t *out)
{
    char why[GM_CONFIG_ERR_MAX];
    if (node->type != YAML_SCALAR_NODE)
        return gm_cfg_fail(ld, node, "expected a string, got %s", gm_cfg_describe(node));
    if (gm_cfg_is_null(node))
        return gm_cfg_fail(ld, node, "is empty: the receiver never runs unauthenticated");
    if (gm_config_secret_resolve((const char *)node->data.scalar.value, node->data.scalar.length, out, why,
                                 sizeof(why)) != 0) {
        /* The receiver's secrets: say why an empty one is refused. */
        return gm_cfg_fail(ld, node, "%s%s", why,
                           strstr(why, "is empty") != NULL ? ": the receiver never runs unauthenticated" : "");
    }
    return 0;
}
