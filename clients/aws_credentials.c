/* gm_aws credentials: the chain the SDKs walk (see gm/aws.h): environment,
 * shared credentials file, container endpoint, EC2 IMDSv2; and the cache
 * that refreshes temporary credentials before they expire.
 *
 * Secrets: the secret key and session token live in heap strings that are
 * wiped before they are freed, and so is every buffer that held them
 * (files read, header lists, metadata responses). Errors name the source,
 * never a secret. */
#include "gm/aws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/http.h"
#include "gm/record.h"

#include "aws_internal.h"

/* Metadata endpoints answer in milliseconds when they exist; off EC2/ECS
 * they do not exist and the chain must not hang on them. */
#define META_CONNECT_TIMEOUT_MS 1000L
#define META_TIMEOUT_MS 2000L
#define MAX_META_RESPONSE ((size_t)64 << 10)
#define MAX_SHARED_FILE ((size_t)1 << 20)
#define MAX_TOKEN_FILE ((size_t)16 << 10)
#define REFRESH_BEFORE_MS (5 * 60 * 1000LL)
/* Temporary credentials whose Expiration is missing or unreadable are
 * fetched again after this long rather than kept forever. */
#define UNKNOWN_EXPIRY_MS (15 * 60 * 1000LL)
/* After a failed refresh, while the old credentials are still valid, the
 * chain is not walked again before this long (each walk may cost seconds). */
#define REFRESH_RETRY_MS (10 * 1000LL)
/* Old credentials are used until this close to their expiry. */
#define EXPIRY_MARGIN_MS (10 * 1000LL)

#define ECS_ENDPOINT "http://169.254.170.2"
#define IMDS_ENDPOINT "http://169.254.169.254"
#define IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"

void gm_aws_creds_clear(creds_t *c)
{
    gm_http_wipe_free(c->access_key);
    gm_http_wipe_free(c->secret_key);
    gm_http_wipe_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

/* ---- shared credentials file ---------------------------------------- */

const char *gm_aws_trim(const char *s, const char **end)
{
    while (s < *end && (*s == ' ' || *s == '\t'))
        s++;
    while (*end > s && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
    return s;
}

int gm_aws_parse_shared_credentials(const char *text, const char *profile, char **access_key, char **secret_key,
                                    char **session_token, char *err, size_t errlen)
{
    /* The keys wanted; aws_security_token is the older name of the token. */
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                                       "aws_security_token"};
    const char *val[4] = {NULL};
    size_t vlen[4] = {0};
    bool found = false, in_profile = false, had_key = false;
    unsigned lineno = 0;

    *access_key = *secret_key = *session_token = NULL;
    for (const char *p = text; *p != '\0';) {
        const char *line = p, *eol = p + strcspn(p, "\r\n");
        p = eol;
        if (*p == '\r')
            p++;
        if (*p == '\n')
            p++;
        lineno++;

        bool indented = line < eol && (*line == ' ' || *line == '\t');
        const char *e = eol, *s = gm_aws_trim(line, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));
            if (close == NULL) {
                snprintf(err, errlen, "line %u: section header without ']'", lineno);
                return -1;
            }
            const char *ne = close, *name = gm_aws_trim(s + 1, &ne);
            in_profile = (size_t)(ne - name) == strlen(profile) && memcmp(name, profile, (size_t)(ne - name)) == 0;
            found |= in_profile;
            had_key = false;
            continue;
        }
        /* An indented line after a key continues that key's value (nested
         * settings in the config-file syntax): never one of ours. */
        if (indented && had_key)
            continue;
        size_t klen = strcspn(s, "=:");
        if (s + klen >= e) {
            snprintf(err, errlen, "line %u: neither a section, a key = value nor a comment", lineno);
            return -1;
        }
        had_key = true;
        if (!in_profile)
            continue;
        const char *ke = s + klen, *k = gm_aws_trim(s, &ke);
        const char *ve = e, *v = s + klen + 1;
        /* Inline comment: ' #' or ' ;' (credential values hold no blanks). */
        for (const char *q = v; q < ve; q++)
            if ((*q == '#' || *q == ';') && q > v && (q[-1] == ' ' || q[-1] == '\t')) {
                ve = q;
                break;
            }
        v = gm_aws_trim(v, &ve);
        for (size_t i = 0; i < 4; i++)
            if ((size_t)(ke - k) == strlen(keys[i]) && strncasecmp(k, keys[i], (size_t)(ke - k)) == 0) {
                val[i] = v;
                vlen[i] = (size_t)(ve - v);
            }
    }
    if (!found) {
        snprintf(err, errlen, "no profile \"%s\"", profile);
        return -1;
    }
    if (val[0] == NULL || vlen[0] == 0) {
        snprintf(err, errlen, "profile \"%s\" has no aws_access_key_id", profile);
        return -1;
    }
    if (val[1] == NULL || vlen[1] == 0) {
        snprintf(err, errlen, "profile \"%s\" has no aws_secret_access_key", profile);
        return -1;
    }
    size_t t = val[2] != NULL ? 2 : 3;
    *access_key = gm_strndup(val[0], vlen[0]);
    *secret_key = gm_strndup(val[1], vlen[1]);
    if (val[t] != NULL && vlen[t] > 0)
        *session_token = gm_strndup(val[t], vlen[t]);
    return 0;
}

/* ---- credential sources ----------------------------------------------- */

const char *gm_aws_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int from_env(creds_t *out, char *why, size_t whylen)
{
    const char *ak = gm_aws_env("AWS_ACCESS_KEY_ID"), *sk = gm_aws_env("AWS_SECRET_ACCESS_KEY"),
               *tok = gm_aws_env("AWS_SESSION_TOKEN");
    if (ak == NULL && sk == NULL) {
        snprintf(why, whylen, "not set");
        return -1;
    }
    if (ak == NULL || sk == NULL) {
        snprintf(why, whylen, "%s not set", ak == NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
        return -1;
    }
    out->access_key = gm_strdup(ak);
    out->secret_key = gm_strdup(sk);
    out->session_token = tok != NULL ? gm_strdup(tok) : NULL;
    return 0;
}

static int from_shared_file(creds_t *out, const char *profile, char *why, size_t whylen)
{
    const char *file = gm_aws_env("AWS_SHARED_CREDENTIALS_FILE"), *home = gm_aws_env("HOME");
    char *path;
    if (file != NULL && strncmp(file, "~/", 2) == 0 && home != NULL)
        path = gm_asprintf("%s%s", home, file + 1);
    else if (file != NULL)
        path = gm_strdup(file);
    else if (home != NULL)
        path = gm_asprintf("%s/.aws/credentials", home);
    else {
        snprintf(why, whylen, "HOME not set");
        return -1;
    }
    int rc = -1;
    size_t len = 0;
    char *text = gm_read_file(path, MAX_SHARED_FILE, &len);
    if (text == NULL) {
        snprintf(why, whylen, "%s: %s", path, errno == ENOENT ? "not found" : strerror(errno));
        goto Exit;
    }
    char perr[128];
    if (gm_aws_parse_shared_credentials(text, profile, &out->access_key, &out->secret_key, &out->session_token, perr,
                                        sizeof(perr)) != 0) {
        snprintf(why, whylen, "%s: %s", path, perr);
        goto Exit;
    }
    rc = 0;
Exit:
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    free(path);
    return rc;
}

/* One request to a metadata endpoint on `c` (reset first). */
static int meta_request(CURL *c, bool put, const char *url, const char *header, gm_http_body_t *body, char *why, size_t whylen)
{
    struct curl_slist *h = NULL;
    if (header != NULL)
        h = gm_http_header(h, header);
    h = gm_http_header(h, "Accept:");
    if (put)
        h = gm_http_header(h, "Content-Type:");
    gm_http_body_init(body, MAX_META_RESPONSE, MAX_META_RESPONSE); /* no realloc: no stray copies of secrets */

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, META_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, META_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* link-local: never through a proxy */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (put) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    for (struct curl_slist *l = h; l != NULL; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(h);

    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", body->too_big ? "response too large" : curl_easy_strerror(rc));
        return -1;
    }
    if (status != 200) {
        snprintf(why, whylen, "HTTP %ld", status);
        return -1;
    }
    return 0;
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} (+ "Code" from
 * IMDS) → out. */
static int creds_from_json(const gm_http_body_t *body, creds_t *out, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *o = json_loadb(body->data, body->len, 0, &jerr);
    int rc = -1;
    if (!json_is_object(o)) {
        snprintf(why, whylen, "response is not a JSON object");
        goto Exit;
    }
    json_t *code = json_object_get(o, "Code");
    const char *ak = json_string_value(json_object_get(o, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(o, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(o, "Token"));
    const char *exp = json_string_value(json_object_get(o, "Expiration"));
    if (code != NULL && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
        snprintf(why, whylen, "Code is not Success");
        goto Exit;
    }
    if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0') {
        snprintf(why, whylen, "response lacks AccessKeyId or SecretAccessKey");
        goto Exit;
    }
    out->access_key = gm_strdup(ak);
    out->secret_key = gm_strdup(sk);
    out->session_token = tok != NULL && *tok != '\0' ? gm_strdup(tok) : NULL;
    if (exp == NULL || gm_time_parse_iso8601(exp, &out->expires_ms) != 0)
        out->expires_ms = gm_wall_ms() + UNKNOWN_EXPIRY_MS;
    rc = 0;
Exit:
    json_decref(o);
    return rc;
}

/* Plain http to a container credentials endpoint only on the loopback or
 * the ECS / EKS Pod Identity link-local addresses, as the SDKs do. */
static bool http_host_allowed(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    char tmp[64];
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t v = ntohl(a4.s_addr);
        return (v >> 24) == 127 || v == 0xA9FEAA02u /* 169.254.170.2 */ || v == 0xA9FEAA17u /* .23 */;
    }
    size_t n = strlen(host);
    if (n >= 2 && n < sizeof(tmp) && host[0] == '[' && host[n - 1] == ']') {
        memcpy(tmp, host + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) == 1)
            return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
    }
    return false;
}

/* The URL as curl will use it (normalised), if it may be used; else NULL. */
static char *container_full_uri(const char *uri, char *why, size_t whylen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *norm = NULL, *out = NULL;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(why, whylen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
        goto Exit;
    }
    if (strcasecmp(scheme, "https") != 0 && (strcasecmp(scheme, "http") != 0 || !http_host_allowed(host))) {
        snprintf(why, whylen,
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI refused: http only to a loopback or ECS address, else https");
        goto Exit;
    }
    if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK) {
        snprintf(why, whylen, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
        goto Exit;
    }
    out = gm_strdup(norm);
Exit:
    curl_free(scheme);
    curl_free(host);
    curl_free(norm);
    curl_url_cleanup(u);
    return out;
}

static int from_container(CURL *c, creds_t *out, char *why, size_t whylen)
{
    const char *rel = gm_aws_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
               *full = gm_aws_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *token_file = gm_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token_env = gm_aws_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    char *url = NULL, *token = NULL, *header = NULL;
    size_t token_len = 0;
    gm_http_body_t body = {0};
    int rc = -1;

    if (rel != NULL) {
        if (rel[0] != '/' || gm_http_has_crlf(rel)) {
            snprintf(why, whylen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI does not start with '/'");
            goto Exit;
        }
        url = gm_asprintf("%s%s", ECS_ENDPOINT, rel);
    } else if (full != NULL) {
        if ((url = container_full_uri(full, why, whylen)) == NULL)
            goto Exit;
    } else {
        snprintf(why, whylen, "not set");
        goto Exit;
    }
    if (token_file != NULL) {
        if ((token = gm_read_file(token_file, MAX_TOKEN_FILE, &token_len)) == NULL) {
            snprintf(why, whylen, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s", strerror(errno));
            goto Exit;
        }
        while (token_len > 0 && strchr(" \t\r\n", token[token_len - 1]) != NULL)
            token[--token_len] = '\0';
    } else if (token_env != NULL) {
        token = gm_strdup(token_env);
        token_len = strlen(token);
    }
    if (token != NULL && gm_http_has_crlf(token)) {
        snprintf(why, whylen, "the authorization token spans lines");
        goto Exit;
    }
    if (token != NULL && token_len > 0)
        header = gm_asprintf("Authorization: %s", token);
    if (meta_request(c, false, url, header, &body, why, whylen) == 0 && creds_from_json(&body, out, why, whylen) == 0)
        rc = 0;
Exit:
    gm_http_body_wipe(&body);
    if (token != NULL) {
        OPENSSL_cleanse(token, token_len);
        free(token);
    }
    gm_http_wipe_free(header);
    free(url);
    return rc;
}

static int from_imds(CURL *c, creds_t *out, char *why, size_t whylen)
{
    const char *disabled = gm_aws_env("AWS_EC2_METADATA_DISABLED"),
               *base = gm_aws_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = gm_aws_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (disabled != NULL && strcasecmp(disabled, "true") == 0) {
        snprintf(why, whylen, "disabled");
        return -1;
    }
    if (base == NULL)
        base = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? IMDS_ENDPOINT_V6 : IMDS_ENDPOINT;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;

    const char *step = "token";
    char detail[128];
    char *url = gm_asprintf("%.*s/latest/api/token", (int)blen, base), *header = NULL;
    gm_http_body_t body = {0};
    int rc = -1;
    if (meta_request(c, true, url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", &body, detail, sizeof(detail)) != 0)
        goto Fail;
    const char *te = body.data + body.len, *t = gm_aws_trim(body.data, &te);
    if (t == te || memchr(t, '\r', (size_t)(te - t)) != NULL || memchr(t, '\n', (size_t)(te - t)) != NULL) {
        snprintf(detail, sizeof(detail), "empty or malformed token");
        goto Fail;
    }
    header = gm_asprintf("X-aws-ec2-metadata-token: %.*s", (int)(te - t), t);
    gm_http_body_wipe(&body);

    step = "role";
    free(url);
    url = gm_asprintf("%.*s/latest/meta-data/iam/security-credentials/", (int)blen, base);
    if (meta_request(c, false, url, header, &body, detail, sizeof(detail)) != 0)
        goto Fail;
    size_t rlen = strcspn(body.data, "\r\n");
    const char *re = body.data + rlen, *role = gm_aws_trim(body.data, &re);
    rlen = (size_t)(re - role);
    /* IAM role names: [A-Za-z0-9+=,.@_-]; anything else is not one. */
    if (rlen == 0 || rlen > 128 ||
        strspn(role, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") < rlen) {
        snprintf(detail, sizeof(detail), "no instance role");
        goto Fail;
    }
    free(url);
    url = gm_asprintf("%.*s/latest/meta-data/iam/security-credentials/%.*s", (int)blen, base, (int)rlen, role);
    gm_http_body_wipe(&body);

    step = "credentials";
    if (meta_request(c, false, url, header, &body, detail, sizeof(detail)) != 0 ||
        creds_from_json(&body, out, detail, sizeof(detail)) != 0)
        goto Fail;
    rc = 0;
    goto Exit;
Fail:
    snprintf(why, whylen, "%s: %s", step, detail);
Exit:
    gm_http_body_wipe(&body);
    gm_http_wipe_free(header);
    free(url);
    return rc;
}

static void appendf(char *buf, size_t buflen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t buflen, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= buflen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, buflen - used, fmt, ap);
    va_end(ap);
}

/* Walks the chain; on failure err says what each source said. */
static int resolve_chain(creds_t *out, char *source, size_t sourcelen, char *err, size_t errlen)
{
    char tried[768] = "", why[192];
    const char *profile = gm_aws_env("AWS_PROFILE");
    if (profile == NULL)
        profile = "default";
    memset(out, 0, sizeof(*out));

    if (from_env(out, why, sizeof(why)) == 0) {
        snprintf(source, sourcelen, "environment");
        return 0;
    }
    appendf(tried, sizeof(tried), "environment (%s)", why);

    if (from_shared_file(out, profile, why, sizeof(why)) == 0) {
        snprintf(source, sourcelen, "shared file profile %s", profile);
        return 0;
    }
    gm_aws_creds_clear(out);
    appendf(tried, sizeof(tried), ", shared file profile %s (%s)", profile, why);

    CURL *c = curl_easy_init();
    int rc = -1;
    if (c == NULL) {
        appendf(tried, sizeof(tried), ", container endpoint and IMDSv2 (no curl handle)");
        goto Exit;
    }
    if (from_container(c, out, why, sizeof(why)) == 0) {
        snprintf(source, sourcelen, "container endpoint");
        rc = 0;
        goto Exit;
    }
    gm_aws_creds_clear(out);
    appendf(tried, sizeof(tried), ", container endpoint (%s)", why);
    if (from_imds(c, out, why, sizeof(why)) == 0) {
        snprintf(source, sourcelen, "IMDSv2");
        rc = 0;
        goto Exit;
    }
    gm_aws_creds_clear(out);
    appendf(tried, sizeof(tried), ", IMDSv2 (%s)", why);
Exit:
    if (c != NULL)
        curl_easy_cleanup(c);
    if (rc != 0)
        snprintf(err, errlen, "no AWS credentials: tried %s", tried);
    return rc;
}

/* Credentials for the next request: cached, refreshed when temporary ones
 * near their expiry (keeping the old ones while still valid if the refresh
 * fails). */
int gm_aws_ensure_credentials(gm_aws_t *aws, char *err, size_t errlen)
{
    int64_t now = gm_wall_ms();
    if (aws->have_creds && (aws->creds.expires_ms == 0 || now < aws->creds.expires_ms - REFRESH_BEFORE_MS))
        return 0;
    bool usable = aws->have_creds && now < aws->creds.expires_ms - EXPIRY_MARGIN_MS;
    if (usable && now < aws->next_refresh_ms)
        return 0;
    creds_t fresh;
    char source[sizeof(aws->source)];
    if (resolve_chain(&fresh, source, sizeof(source), err, errlen) == 0) {
        gm_aws_creds_clear(&aws->creds);
        aws->creds = fresh;
        aws->have_creds = true;
        aws->next_refresh_ms = 0;
        memcpy(aws->source, source, sizeof(source));
        return 0;
    }
    if (usable) {
        aws->next_refresh_ms = now + REFRESH_RETRY_MS;
        err[0] = '\0';
        return 0;
    }
    gm_aws_creds_clear(&aws->creds);
    aws->have_creds = false;
    return -1;
}
