/* gm_aws: AWS JSON-protocol calls over one reused libcurl handle, signed by
 * libcurl (CURLOPT_AWS_SIGV4), with credentials found the way the SDKs find
 * them (see gm/aws.h for the chain).
 *
 * Secrets: the secret key and session token live in heap strings that are
 * wiped before they are freed, and so is every buffer that held them (the
 * "KEY:SECRET" string handed to curl, header lists, metadata responses).
 * Error text is built from fixed phrases, source names, HTTP statuses and
 * AWS's own messages; the latter are scrubbed of the credentials in use
 * before they are copied out, in case a service ever echoes one. */
#include "gm/aws.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "gm/alloc.h"
#include "gm/http.h"
#include "gm/util.h"

#include "aws_internal.h"

#define DEFAULT_TIMEOUT_MS 10000L
#define CONNECT_TIMEOUT_MS 3000L
#define MAX_RESPONSE ((size_t)8 << 20)

typedef struct {
    char error_type[64];  /* x-amzn-ErrorType */
    char query_error[64]; /* x-amzn-query-error (query-compatible services) */
    double retry_after_s;
} resp_headers_t;

static void copy_span(char *dst, size_t dstlen, const char *src, size_t len)
{
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Seconds, capped at an hour; 0 when absent. */
static double retry_after_s(const char *v, size_t len)
{
    int64_t ms = gm_http_retry_after_ms(v, len, gm_wall_ms());
    return ms <= 0 ? 0 : ms > 3600000 ? 3600 : (double)ms / 1000;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    resp_headers_t *h = userdata;
    size_t len = size * nmemb, vlen;
    const char *v;
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) /* a new response (after 100 Continue): forget the last */
        memset(h, 0, sizeof(*h));
    else if ((v = gm_http_header_value(ptr, len, "x-amzn-ErrorType", &vlen)) != NULL)
        copy_span(h->error_type, sizeof(h->error_type), v, vlen);
    else if ((v = gm_http_header_value(ptr, len, "x-amzn-query-error", &vlen)) != NULL)
        copy_span(h->query_error, sizeof(h->query_error), v, vlen);
    else if ((v = gm_http_header_value(ptr, len, "Retry-After", &vlen)) != NULL)
        h->retry_after_s = retry_after_s(v, vlen);
    return len;
}


/* ---- open / close ------------------------------------------------------- */

static bool valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n &&
           s[0] != '-' && s[0] != '.';
}

gm_aws_t *gm_aws_open(const gm_aws_opts_t *opts, char *err, size_t errlen)
{
    if (opts == NULL || opts->service == NULL || !valid_name(opts->service, 64)) {
        snprintf(err, errlen, "no or bad AWS service name");
        return NULL;
    }
    const char *region = opts->region != NULL && *opts->region != '\0' ? opts->region : gm_aws_env("AWS_REGION");
    if (region == NULL)
        region = gm_aws_env("AWS_DEFAULT_REGION");
    if (region == NULL) {
        snprintf(err, errlen, "no AWS region: set publish.region or AWS_REGION");
        return NULL;
    }
    if (!valid_name(region, 32) || strchr(region, '.') != NULL) {
        snprintf(err, errlen, "bad AWS region \"%.32s\"", region);
        return NULL;
    }
    char *endpoint;
    if (opts->endpoint != NULL && *opts->endpoint != '\0') {
        CURLU *u = curl_url();
        bool ok = (strncasecmp(opts->endpoint, "http://", 7) == 0 || strncasecmp(opts->endpoint, "https://", 8) == 0) &&
                  strpbrk(opts->endpoint, "?#\r\n") == NULL && u != NULL &&
                  curl_url_set(u, CURLUPART_URL, opts->endpoint, 0) == CURLUE_OK;
        curl_url_cleanup(u);
        if (!ok) {
            snprintf(err, errlen, "AWS endpoint is not an http:// or https:// URL without query");
            return NULL;
        }
        size_t n = strlen(opts->endpoint);
        while (n > 0 && opts->endpoint[n - 1] == '/')
            n--;
        endpoint = gm_strndup(opts->endpoint, n);
    } else {
        endpoint = gm_asprintf("https://%s.%s.amazonaws.com%s", opts->service, region,
                               strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        free(endpoint);
        return NULL;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "cannot create a curl handle");
        free(endpoint);
        curl_global_cleanup();
        return NULL;
    }
    gm_http_trust(c, NULL);
    gm_aws_t *aws = gm_calloc(1, sizeof(*aws));
    aws->service = gm_strdup(opts->service);
    aws->region = gm_strdup(region);
    aws->endpoint = endpoint;
    aws->url = gm_asprintf("%s/", endpoint);
    aws->sigv4 = gm_asprintf("aws:amz:%s:%s", region, opts->service);
    aws->curl = c;

    /* Options that stay for the handle's life; per-call ones are set in
     * gm_aws_call. The handle keeps its connection between calls. */
    long timeout = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_URL, aws->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gha-metrics");
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, aws->sigv4);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, aws->errbuf);
    return aws;
}

void gm_aws_close(gm_aws_t *aws)
{
    if (aws == NULL)
        return;
    curl_easy_cleanup(aws->curl);
    curl_global_cleanup();
    gm_aws_creds_clear(&aws->creds);
    free(aws->service);
    free(aws->region);
    free(aws->endpoint);
    free(aws->url);
    free(aws->sigv4);
    free(aws);
}

const char *gm_aws_region(const gm_aws_t *aws)
{
    return aws->region;
}

const char *gm_aws_endpoint(const gm_aws_t *aws)
{
    return aws->endpoint;
}

const char *gm_aws_credentials_source(gm_aws_t *aws)
{
    return aws->source[0] != '\0' ? aws->source : NULL;
}

/* ---- calls ---------------------------------------------------------------- */

static bool code_in(const char *code, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

/* Throttling and other transient codes (the SDKs' retry lists). */
static const char *const retry_codes[] = {"Throttling",
                                          "ThrottlingException",
                                          "ThrottledException",
                                          "RequestThrottledException",
                                          "TooManyRequestsException",
                                          "ProvisionedThroughputExceededException",
                                          "TransactionInProgressException",
                                          "RequestLimitExceeded",
                                          "BandwidthLimitExceeded",
                                          "LimitExceededException",
                                          "RequestThrottled",
                                          "SlowDown",
                                          "PriorRequestNotComplete",
                                          "EC2ThrottledException",
                                          "RequestTimeout",
                                          "RequestTimeoutException",
                                          "InternalFailure",
                                          "InternalError",
                                          "ServiceUnavailable",
                                          "ServiceUnavailableException",
                                          NULL};

/* AWS refused the credentials or the signature. */
static const char *const auth_codes[] = {"UnrecognizedClientException",
                                         "InvalidClientTokenId",
                                         "InvalidSignatureException",
                                         "SignatureDoesNotMatch",
                                         "ExpiredToken",
                                         "ExpiredTokenException",
                                         "AccessDenied",
                                         "AccessDeniedException",
                                         "MissingAuthenticationToken",
                                         "MissingAuthenticationTokenException",
                                         "IncompleteSignature",
                                         "IncompleteSignatureException",
                                         "InvalidAccessKeyId",
                                         "AuthFailure",
                                         "RequestExpired",
                                         "InvalidToken",
                                         "NotAuthorized",
                                         NULL};

/* "ns#Name:http://..." → "Name" (Smithy: before the first ':', then after
 * the first '#'). Printable ASCII only. */
static void set_code(char out[64], const char *v, size_t len)
{
    const char *colon = memchr(v, ':', len), *hash;
    if (colon != NULL)
        len = (size_t)(colon - v);
    if ((hash = memchr(v, '#', len)) != NULL) {
        len -= (size_t)(hash + 1 - v);
        v = hash + 1;
    }
    const char *e = v + len;
    v = gm_aws_trim(v, &e);
    size_t n = 0;
    for (; v < e && n < 63; v++)
        out[n++] = *v > ' ' && *v < 127 ? *v : '_';
    out[n] = '\0';
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

/* Copies msg into resp->message: control characters blanked, the
 * credentials in use redacted before truncation. */
static void set_message(gm_aws_response_t *resp, const creds_t *c, const char *msg, size_t len)
{
    char *m = gm_strndup(msg, len);
    for (char *p = m; *p != '\0'; p++)
        if ((unsigned char)*p < ' ' || *p == 127)
            *p = ' ';
    if (c != NULL) {
        redact(m, c->secret_key);
        redact(m, c->session_token);
        redact(m, c->access_key);
    }
    snprintf(resp->message, sizeof(resp->message), "%s", m);
    OPENSSL_cleanse(m, strlen(m));
    free(m);
}

static void classify(gm_aws_response_t *resp, const resp_headers_t *h, const creds_t *c)
{
    long st = resp->status;
    if (st >= 200 && st < 300) {
        resp->outcome = GM_AWS_OK;
        return;
    }
    /* Candidate codes in order of precedence: the query-compatible code when
     * the service sends one (CloudWatch: "Throttling;Sender", the codes its
     * documentation lists), x-amzn-ErrorType (Smithy's precedence), then
     * the body's __type / code / Code. The first is reported; any of them
     * may classify, so a service naming an error two ways is still heard. */
    char codes[3][64] = {"", "", ""};
    const char *msg = NULL;
    json_t *o = NULL;
    if (h->query_error[0] != '\0')
        set_code(codes[0], h->query_error, strcspn(h->query_error, ";"));
    if (h->error_type[0] != '\0')
        set_code(codes[1], h->error_type, strlen(h->error_type));
    if (resp->body_len > 0 && (o = json_loadb(resp->body, resp->body_len, 0, NULL)) != NULL && json_is_object(o)) {
        static const char *const code_keys[] = {"__type", "code", "Code"};
        for (size_t i = 0; i < 3 && codes[2][0] == '\0'; i++) {
            const char *v = json_string_value(json_object_get(o, code_keys[i]));
            if (v != NULL)
                set_code(codes[2], v, strlen(v));
        }
        if ((msg = json_string_value(json_object_get(o, "message"))) == NULL)
            msg = json_string_value(json_object_get(o, "Message"));
    }
    bool retry = false, auth = false;
    for (size_t i = 0; i < 3; i++) {
        redact(codes[i], c->secret_key);
        redact(codes[i], c->session_token);
        retry |= code_in(codes[i], retry_codes);
        auth |= code_in(codes[i], auth_codes);
        if (resp->code[0] == '\0')
            memcpy(resp->code, codes[i], sizeof(resp->code));
    }
    if (msg != NULL && *msg != '\0')
        set_message(resp, c, msg, strlen(msg));
    else if (resp->code[0] != '\0')
        snprintf(resp->message, sizeof(resp->message), "HTTP %ld %s", st, resp->code);
    else
        snprintf(resp->message, sizeof(resp->message), "HTTP %ld", st);
    json_decref(o);

    if (st == 429 || st == 408 || retry)
        resp->outcome = GM_AWS_RETRY;
    else if (st >= 500 || st < 400)
        resp->outcome = GM_AWS_RETRY; /* server trouble, or not an AWS answer at all */
    else if (st == 401 || st == 403 || auth)
        resp->outcome = GM_AWS_AUTH;
    else
        resp->outcome = GM_AWS_REJECTED;
}

static struct curl_slist *append_header(struct curl_slist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct curl_slist *append_header(struct curl_slist *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = gm_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    struct curl_slist *r = gm_http_header(l, s);
    OPENSSL_cleanse(s, (size_t)n);
    free(s);
    return r;
}

gm_aws_outcome_t gm_aws_call(gm_aws_t *aws, const char *target, const char *content_type,
                             const char *const *extra_headers, const void *body, size_t len, gm_aws_response_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    bool bad = target == NULL || content_type == NULL || gm_http_has_crlf(target) || gm_http_has_crlf(content_type) ||
               (body == NULL && len > 0);
    /* libcurl 7.88 signs every header set on the handle, including a
     * "Name:" that only removes a header and is never sent: such a header
     * would make the signature wrong, so each needs a value. */
    for (size_t i = 0; !bad && extra_headers != NULL && extra_headers[i] != NULL; i++) {
        const char *colon = strchr(extra_headers[i], ':');
        bad = gm_http_has_crlf(extra_headers[i]) || colon == NULL || colon == extra_headers[i] ||
              colon[1 + strspn(colon + 1, " \t")] == '\0';
    }
    if (bad) {
        resp->outcome = GM_AWS_REJECTED;
        snprintf(resp->message, sizeof(resp->message),
                 "bad request: missing target or content type, or a header "
                 "that is not one line of \"Name: value\" with a value");
        resp->body = gm_strdup("");
        return resp->outcome;
    }
    if (gm_aws_ensure_credentials(aws, resp->message, sizeof(resp->message)) != 0) {
        resp->outcome = GM_AWS_AUTH;
        resp->body = gm_strdup("");
        return resp->outcome;
    }
    const creds_t *cr = &aws->creds;
    if (gm_http_has_crlf(cr->access_key) || strchr(cr->access_key, ':') != NULL || gm_http_has_crlf(cr->secret_key) ||
        (cr->session_token != NULL && gm_http_has_crlf(cr->session_token))) {
        resp->outcome = GM_AWS_AUTH;
        snprintf(resp->message, sizeof(resp->message), "malformed credentials from %s", aws->source);
        gm_aws_creds_clear(&aws->creds);
        aws->have_creds = false;
        resp->body = gm_strdup("");
        return resp->outcome;
    }

    struct curl_slist *h = NULL;
    h = append_header(h, "Content-Type: %s", content_type);
    h = append_header(h, "X-Amz-Target: %s", target);
    h = append_header(h, "Accept: application/json");
    if (cr->session_token != NULL)
        h = append_header(h, "X-Amz-Security-Token: %s", cr->session_token);
    for (size_t i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
        h = append_header(h, "%s", extra_headers[i]);
    char *userpwd = gm_asprintf("%s:%s", cr->access_key, cr->secret_key);

    gm_http_body_t out;
    resp_headers_t rh;
    gm_http_body_init(&out, MAX_RESPONSE, 0);
    memset(&rh, 0, sizeof(rh));
    aws->errbuf[0] = '\0';
    CURL *c = aws->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, len > 0 ? body : "");
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &rh);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    /* Leave nothing in the handle that points at freed memory or at the
     * secret. */
    curl_easy_setopt(c, CURLOPT_USERPWD, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
    OPENSSL_cleanse(userpwd, strlen(userpwd));
    free(userpwd);
    for (struct curl_slist *l = h; l != NULL; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(h);

    bool too_big = out.too_big;
    if (too_big) /* a partial body is not one to parse */
        gm_http_body_wipe(&out);
    resp->body = out.data != NULL ? out.data : gm_strdup("");
    resp->body_len = out.len;
    resp->retry_after_s = rh.retry_after_s;
    if (rc != CURLE_OK) {
        resp->outcome = GM_AWS_RETRY;
        if (too_big)
            snprintf(resp->message, sizeof(resp->message), "response larger than %zu MiB", MAX_RESPONSE >> 20);
        else {
            const char *m = aws->errbuf[0] != '\0' ? aws->errbuf : curl_easy_strerror(rc);
            set_message(resp, cr, m, strlen(m));
        }
        return resp->outcome;
    }
    classify(resp, &rh, cr);
    if (resp->outcome == GM_AWS_AUTH) {
        /* Perhaps rotated: walk the chain again at the next call. */
        gm_aws_creds_clear(&aws->creds);
        aws->have_creds = false;
    }
    return resp->outcome;
}

void gm_aws_response_clear(gm_aws_response_t *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
