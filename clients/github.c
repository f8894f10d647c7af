/* gm_github: the GitHub REST client of the backfill (see gm/github.h).
 *
 * One libcurl handle, requests made one at a time (GitHub's secondary limits
 * prefer serial requests). Every answer's x-ratelimit-* headers update the
 * stats; the next request first sleeps until `reset` when `remaining` is at
 * or below the reserve. Rate-limit answers, 5xx and transport errors are
 * retried, at most MAX_ATTEMPTS sends per call; the clock and the sleep come
 * from the options so that tests never wait.
 *
 * Secrets: the token, the installation token, the JWT and the private key
 * live in heap strings wiped before they are freed, and so is every header
 * list that carried one. Error text is built from fixed phrases, statuses,
 * curl's messages (which never hold request headers) and GitHub's
 * "message" field, from which the secrets in use are redacted.
 *
 * The App JWT and installation token are in github_auth.c, the ETag cache
 * in github_etags.c. */
#include "gm/github.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/http.h"

#include "github_internal.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_RESERVE 50
#define MAX_ATTEMPTS 5
#define MAX_RESPONSE ((size_t)64 << 20)
#define DEFAULT_ETAG_BYTES ((uint64_t)32 << 20)
/* Exponential back-off for rate limits without retry-after or reset. */
#define LIMIT_BACKOFF_MS (60 * 1000LL)
/* Back-off for transport errors and 5xx: 1 s, 2 s, 4 s, 8 s. */
#define ERROR_BACKOFF_MS 1000LL
/* No single wait longer than this (a reset is at most an hour away). */
#define MAX_WAIT_MS (3600 * 1000LL + 60 * 1000LL)
#define USER_AGENT "gha-metrics"
#define API_VERSION "2022-11-28"

/* ---- small helpers ---------------------------------------------------- */

int64_t gm_github_now(const gm_github_t *gh)
{
    return gh->now_ms(gh->clock_ctx);
}

/* Overwrites each occurrence of s in text. */
static void redact(char *text, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 4)
        return;
    for (char *p = strstr(text, s); p != NULL; p = strstr(p + n, s))
        memset(p, '*', n);
}

/* printf into err, with every secret of gh redacted. */
void gm_github_set_err(const gm_github_t *gh, char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = gm_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    for (char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < ' ' || *p == 127)
            *p = ' ';
    if (gh != NULL) {
        redact(s, gh->token);
        redact(s, gh->inst_token);
    }
    snprintf(err, errlen, "%s", s);
    OPENSSL_cleanse(s, (size_t)n);
    free(s);
}

/* A non-negative decimal integer, or -1. */
static int64_t parse_int(const char *v, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

void gm_github_headers_reset(resp_headers_t *h)
{
    free(h->etag);
    free(h->link);
    memset(h, 0, sizeof(*h));
    h->limit = h->remaining = h->reset_s = h->retry_after_s = -1;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    resp_headers_t *h = userdata;
    size_t len = size * nmemb, vlen;
    const char *v;
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) /* a new response (after 100 Continue): forget the last */
        gm_github_headers_reset(h);
    else if ((v = gm_http_header_value(ptr, len, "x-ratelimit-limit", &vlen)) != NULL)
        h->limit = parse_int(v, vlen);
    else if ((v = gm_http_header_value(ptr, len, "x-ratelimit-remaining", &vlen)) != NULL)
        h->remaining = parse_int(v, vlen);
    else if ((v = gm_http_header_value(ptr, len, "x-ratelimit-reset", &vlen)) != NULL)
        h->reset_s = parse_int(v, vlen);
    else if ((v = gm_http_header_value(ptr, len, "x-ratelimit-resource", &vlen)) != NULL) {
        if (vlen >= sizeof(h->resource))
            vlen = sizeof(h->resource) - 1;
        memcpy(h->resource, v, vlen);
        h->resource[vlen] = '\0';
    } else if ((v = gm_http_header_value(ptr, len, "retry-after", &vlen)) != NULL) {
        int64_t ms = gm_http_retry_after_ms(v, vlen, gm_wall_ms());
        h->retry_after_s = ms < 0 ? -1 : (ms + 999) / 1000;
    } else if ((v = gm_http_header_value(ptr, len, "etag", &vlen)) != NULL) {
        free(h->etag);
        h->etag = vlen > 0 && vlen < 1024 ? gm_strndup(v, vlen) : NULL;
    } else if ((v = gm_http_header_value(ptr, len, "link", &vlen)) != NULL) {
        /* Several Link lines are one comma-separated list. */
        char *joined = h->link != NULL ? gm_asprintf("%s, %.*s", h->link, (int)vlen, v) : gm_strndup(v, vlen);
        free(h->link);
        h->link = joined;
    }
    return len;
}

/* ---- Link header ------------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether the rel value [v, v+len) (a space-separated list) holds "next". */
static bool rel_has_next(const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        const char *w = p;
        while (p < end && !is_space(*p))
            p++;
        if (p - w == 4 && strncasecmp(w, "next", 4) == 0)
            return true;
    }
    return false;
}

char *gm_github_link_next(const char *link)
{
    if (link == NULL)
        return NULL;
    const char *p = link;
    for (;;) {
        while (*p != '\0' && (is_space(*p) || *p == ','))
            p++;
        if (*p != '<')
            return NULL;
        const char *url = p + 1, *close = strchr(url, '>');
        if (close == NULL)
            return NULL;
        size_t url_len = (size_t)(close - url);
        p = close + 1;
        bool next = false;
        /* Parameters: ; name [= token | "quoted"] ... until ',' or the end. */
        for (;;) {
            while (is_space(*p))
                p++;
            if (*p != ';')
                break;
            p++;
            while (is_space(*p))
                p++;
            const char *name = p;
            while (*p != '\0' && *p != '=' && *p != ';' && *p != ',' && !is_space(*p))
                p++;
            size_t name_len = (size_t)(p - name);
            while (is_space(*p))
                p++;
            const char *val = p;
            size_t val_len = 0;
            if (*p == '=') {
                p++;
                while (is_space(*p))
                    p++;
                if (*p == '"') {
                    val = ++p;
                    while (*p != '\0' && *p != '"') {
                        if (*p == '\\' && p[1] != '\0')
                            p++;
                        p++;
                    }
                    val_len = (size_t)(p - val);
                    if (*p == '"')
                        p++;
                } else {
                    val = p;
                    while (*p != '\0' && *p != ';' && *p != ',' && !is_space(*p))
                        p++;
                    val_len = (size_t)(p - val);
                }
            }
            if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has_next(val, val_len))
                next = true;
        }
        if (next && url_len > 0)
            return gm_strndup(url, url_len);
        /* Skip anything unexpected up to the next entry. */
        while (*p != '\0' && *p != ',')
            p++;
        if (*p == '\0')
            return NULL;
    }
}

/* ---- open / close ------------------------------------------------------------------ */

gm_github_t *gm_github_open(const gm_github_opts_t *opts, char *err, size_t errlen)
{
    const char *base = opts->base_url != NULL && *opts->base_url != '\0' ? opts->base_url : "https://api.github.com";
    bool app = opts->token == NULL || *opts->token == '\0';
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0) {
        snprintf(err, errlen, "github: base URL must start with https:// or http://");
        return NULL;
    }
    if (gm_http_has_crlf(base) || (!app && gm_http_has_crlf(opts->token))) {
        snprintf(err, errlen, "github: base URL or token holds a line break");
        return NULL;
    }
    if (app &&
        (opts->app_id <= 0 || opts->installation_id <= 0 || opts->app_key_pem == NULL || *opts->app_key_pem == '\0')) {
        snprintf(err, errlen, "github: neither a token nor an app (app id, private key, installation id)");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "github: cannot initialise libcurl");
        return NULL;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "github: cannot create a curl handle");
        curl_global_cleanup();
        return NULL;
    }
    gm_http_trust(c, NULL);
    gm_github_t *gh = gm_calloc(1, sizeof(*gh));
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    gh->base = gm_strndup(base, blen);
    const char *host = strstr(gh->base, "://") + 3;
    gh->origin = gm_strndup(gh->base, (size_t)(host - gh->base) + strcspn(host, "/?#"));
    if (!app)
        gh->token = gm_strdup(opts->token);
    else {
        gh->app_id = opts->app_id;
        gh->installation_id = opts->installation_id;
        gh->key_pem = gm_strdup(opts->app_key_pem);
    }
    gh->reserve = opts->reserve > 0 ? opts->reserve : DEFAULT_RESERVE;
    gh->now_ms = opts->now_ms != NULL ? opts->now_ms : gm_clock_now_ms;
    gh->sleep_ms = opts->sleep_ms != NULL ? opts->sleep_ms : gm_clock_sleep_ms;
    gh->clock_ctx = opts->clock_ctx;
    gh->stats.limit = gh->stats.remaining = gh->stats.reset_s = -1;
    if (opts->etag_cache != NULL && *opts->etag_cache != '\0') {
        gh->etag_path = gm_strdup(opts->etag_cache);
        gh->etag_bytes_max = opts->etag_cache_bytes > 0 ? opts->etag_cache_bytes : DEFAULT_ETAG_BYTES;
        gm_github_etags_load(gh);
    }
    gh->curl = c;
    long timeout = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, gh->errbuf);
    return gh;
}

void gm_github_close(gm_github_t *gh)
{
    if (gh == NULL)
        return;
    if (gh->etag_path != NULL)
        gm_github_etags_save(gh);
    json_decref(gh->etags);
    curl_easy_cleanup(gh->curl);
    curl_global_cleanup();
    free(gh->base);
    free(gh->origin);
    gm_http_wipe_free(gh->token);
    gm_http_wipe_free(gh->inst_token);
    gm_http_wipe_free(gh->key_pem);
    free(gh->etag_path);
    free(gh);
}

void gm_github_page_clear(gm_github_page_t *page)
{
    if (page == NULL)
        return;
    json_decref(page->body);
    free(page->next);
    memset(page, 0, sizeof(*page));
}

void gm_github_stats(const gm_github_t *gh, gm_github_stats_t *out)
{
    *out = gh->stats;
}

/* ---- requests ------------------------------------------------------------------------ */

static void wait_ms(gm_github_t *gh, int64_t ms, bool for_limit)
{
    if (ms <= 0)
        return;
    if (ms > MAX_WAIT_MS)
        ms = MAX_WAIT_MS;
    if (for_limit)
        gh->stats.waited_ms += (uint64_t)ms;
    gh->sleep_ms(gh->clock_ctx, ms);
}

/* GitHub's "message" of an error body, or "". Borrowed from o. */
const char *gm_github_message(json_t *o)
{
    const char *m = json_string_value(json_object_get(o, "message"));
    return m != NULL ? m : "";
}

static bool is_rate_limit(long status, const resp_headers_t *h, json_t *body)
{
    if (status == 429)
        return true;
    if (status != 403)
        return false;
    if (h->retry_after_s >= 0 || h->remaining == 0)
        return true;
    /* "API rate limit exceeded for ...", "You have exceeded a secondary rate limit ..." */
    const char *m = gm_github_message(body);
    for (const char *p = m; *p != '\0'; p++)
        if (strncasecmp(p, "rate limit", 10) == 0)
            return true;
    return false;
}

/* One logical request with its retries. `url` is absolute; `etag` (may be
 * NULL) is sent as If-None-Match. On 0, *status, *hdrs (the caller resets
 * them) and *body (the caller's, may be NULL) hold the last answer. */
int gm_github_perform(gm_github_t *gh, const char *method, const char *url, const char *json_body, auth_kind_t auth,
                      const char *etag, long *status, resp_headers_t *hdrs, json_t **body, char *err, size_t errlen)
{
    int limit_backoffs = 0, error_backoffs = 0;
    *status = 0;
    *body = NULL;
    for (int attempt = 1;; attempt++) {
        /* Proactive slow-down: keep the reserve of the hourly budget. */
        int64_t t = gm_github_now(gh);
        if (gh->stats.remaining >= 0 && gh->stats.remaining <= gh->reserve && gh->stats.reset_s >= 0 &&
            gh->stats.reset_s * 1000 > t) {
            wait_ms(gh, gh->stats.reset_s * 1000 - t, true);
            gh->stats.remaining = -1; /* a new window: unknown until the next answer */
        }

        char *secret = NULL;
        if (auth == AUTH_JWT) {
            secret = gm_github_app_jwt(gh->app_id, gh->key_pem, gm_github_now(gh) / 1000, err, errlen);
            if (secret == NULL)
                return -1;
        } else if (gh->token != NULL)
            secret = gm_strdup(gh->token);
        else {
            if (gm_github_ensure_token(gh, err, errlen) != 0)
                return -1;
            secret = gm_strdup(gh->inst_token);
        }
        char *auth_line = gm_asprintf("Authorization: Bearer %s", secret);
        gm_http_wipe_free(secret);

        struct curl_slist *h = NULL;
        h = gm_http_header(h, "Accept: application/vnd.github+json");
        h = gm_http_header(h, "X-GitHub-Api-Version: " API_VERSION);
        h = gm_http_header(h, auth_line);
        char *inm = etag != NULL ? gm_asprintf("If-None-Match: %s", etag) : NULL;
        if (inm != NULL)
            h = gm_http_header(h, inm);
        if (json_body != NULL) {
            h = gm_http_header(h, "Content-Type: application/json");
            h = gm_http_header(h, "Expect:");
        }
        free(inm);
        gm_http_wipe_free(auth_line);

        gm_http_body_t out = {.max = MAX_RESPONSE};
        gm_github_headers_reset(hdrs);
        gh->errbuf[0] = '\0';
        CURL *c = gh->curl;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        if (json_body != NULL) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body));
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
        } else
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
        CURLcode rc = curl_easy_perform(c);
        long st = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
        for (struct curl_slist *l = h; l != NULL; l = l->next)
            OPENSSL_cleanse(l->data, strlen(l->data));
        curl_slist_free_all(h);
        gh->stats.requests++;

        if (rc != CURLE_OK) {
            if (out.too_big)
                gm_github_set_err(gh, err, errlen, "github: %s %s: response larger than %zu MiB", method, url,
                                  MAX_RESPONSE >> 20);
            else
                gm_github_set_err(gh, err, errlen, "github: %s %s: %s", method, url,
                                  gh->errbuf[0] != '\0' ? gh->errbuf : curl_easy_strerror(rc));
            gm_http_body_wipe(&out);
            if (attempt >= MAX_ATTEMPTS)
                return -1;
            wait_ms(gh, ERROR_BACKOFF_MS << error_backoffs++, false);
            continue;
        }

        /* The rate-limit state of the answer. */
        if (hdrs->limit >= 0)
            gh->stats.limit = hdrs->limit;
        if (hdrs->remaining >= 0)
            gh->stats.remaining = hdrs->remaining;
        if (hdrs->reset_s >= 0)
            gh->stats.reset_s = hdrs->reset_s;
        if (hdrs->resource[0] != '\0')
            memcpy(gh->stats.resource, hdrs->resource, sizeof(gh->stats.resource));
        if (st == 304)
            gh->stats.not_modified++;

        json_t *o = out.len > 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
        gm_http_body_wipe(&out); /* the token exchange answer holds a token */
        if (is_rate_limit(st, hdrs, o)) {
            gh->stats.rate_limited++;
            if (attempt < MAX_ATTEMPTS) {
                int64_t w;
                if (hdrs->retry_after_s >= 0)
                    w = hdrs->retry_after_s * 1000;
                else if (hdrs->remaining == 0 && hdrs->reset_s >= 0)
                    w = hdrs->reset_s * 1000 - gm_github_now(gh);
                else
                    w = LIMIT_BACKOFF_MS << limit_backoffs++;
                /* At least a second: a reset already past (clock skew) must not spin. */
                wait_ms(gh, w > 1000 ? w : 1000, true);
                json_decref(o);
                continue;
            }
        } else if (st >= 500 && attempt < MAX_ATTEMPTS) {
            json_decref(o);
            wait_ms(gh, ERROR_BACKOFF_MS << error_backoffs++, false);
            continue;
        }
        *status = st;
        *body = o;
        return 0;
    }
}

/* An absolute URL for a path or a full URL; full URLs must be on the base
 * URL's origin (the token is never sent elsewhere). NULL with the reason. */
char *gm_github_url(const gm_github_t *gh, const char *path_or_url, char *err, size_t errlen)
{
    if (path_or_url == NULL || *path_or_url == '\0' || gm_http_has_crlf(path_or_url) || strpbrk(path_or_url, " \t") != NULL) {
        snprintf(err, errlen, "github: empty path, or one holding blanks or line breaks");
        return NULL;
    }
    if (path_or_url[0] == '/')
        return gm_asprintf("%s%s", gh->base, path_or_url);
    size_t olen = strlen(gh->origin);
    if (strncasecmp(path_or_url, gh->origin, olen) == 0 &&
        (path_or_url[olen] == '/' || path_or_url[olen] == '?' || path_or_url[olen] == '\0'))
        return gm_strdup(path_or_url);
    snprintf(err, errlen, "github: URL not on the API's origin %s", gh->origin);
    return NULL;
}

/* The App's own endpoints take the app JWT, which only an app client has. */
static int check_auth(const gm_github_t *gh, auth_kind_t auth, const char *what, char *err, size_t errlen)
{
    if (auth == AUTH_JWT && gh->key_pem == NULL) {
        snprintf(err, errlen, "github: %s: the App's own endpoints need App credentials, not a token", what);
        return -1;
    }
    return 0;
}

static int get_page(gm_github_t *gh, const char *path_or_url, auth_kind_t auth, gm_github_page_t *page, char *err,
                    size_t errlen)
{
    memset(page, 0, sizeof(*page));
    if (check_auth(gh, auth, "GET", err, errlen) != 0)
        return -1;
    char *url = gm_github_url(gh, path_or_url, err, errlen);
    if (url == NULL)
        return -1;
    const char *etag = gh->etags != NULL ? gm_github_etags_etag(gh, url) : NULL;
    resp_headers_t hdrs = {0};
    gm_github_headers_reset(&hdrs);
    long st = 0;
    json_t *o = NULL;
    int rc = gm_github_perform(gh, "GET", url, NULL, auth, etag, &st, &hdrs, &o, err, errlen);
    if (rc != 0)
        goto Exit;
    page->status = st;
    if (st == 304 && etag != NULL && gm_github_etags_hit(gh, url, hdrs.link, page) == 0) {
        json_decref(o);
        goto Exit;
    }
    page->body = o;
    page->next = gm_github_link_next(hdrs.link);
    if (st == 200 && gh->etags != NULL) {
        if (hdrs.etag != NULL && o != NULL)
            gm_github_etags_store(gh, url, hdrs.etag, o, page->next);
        else
            gm_github_etags_forget(gh, url); /* stale */
    }
Exit:
    gm_github_headers_reset(&hdrs);
    free(url);
    return rc;
}

static int post(gm_github_t *gh, const char *path, const char *json_body, auth_kind_t auth, gm_github_page_t *page,
                char *err, size_t errlen)
{
    memset(page, 0, sizeof(*page));
    if (check_auth(gh, auth, "POST", err, errlen) != 0)
        return -1;
    char *url = gm_github_url(gh, path, err, errlen);
    if (url == NULL)
        return -1;
    resp_headers_t hdrs = {0};
    gm_github_headers_reset(&hdrs);
    long st = 0;
    json_t *o = NULL;
    int rc =
        gm_github_perform(gh, "POST", url, json_body != NULL ? json_body : "", auth, NULL, &st, &hdrs, &o, err, errlen);
    if (rc == 0) {
        page->status = st;
        page->body = o;
        page->next = gm_github_link_next(hdrs.link);
    }
    gm_github_headers_reset(&hdrs);
    free(url);
    return rc;
}

int gm_github_get_page(gm_github_t *gh, const char *path_or_url, gm_github_page_t *page, char *err, size_t errlen)
{
    return get_page(gh, path_or_url, AUTH_DEFAULT, page, err, errlen);
}

int gm_github_post(gm_github_t *gh, const char *path, const char *json_body, gm_github_page_t *page, char *err,
                   size_t errlen)
{
    return post(gh, path, json_body, AUTH_DEFAULT, page, err, errlen);
}

int gm_github_get_page_as_app(gm_github_t *gh, const char *path_or_url, gm_github_page_t *page, char *err,
                              size_t errlen)
{
    return get_page(gh, path_or_url, AUTH_JWT, page, err, errlen);
}

int gm_github_post_as_app(gm_github_t *gh, const char *path, const char *json_body, gm_github_page_t *page, char *err,
                          size_t errlen)
{
    return post(gh, path, json_body, AUTH_JWT, page, err, errlen);
}

bool gm_github_is_app(const gm_github_t *gh)
{
    return gh->key_pem != NULL;
}
