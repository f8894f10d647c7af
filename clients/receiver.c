/* gm_receiver: the backfill's client of a gha-metrics receiver (see
 * gm/receiver.h).
 *
 * Decisions
 * - The body is signed here, byte for byte as sent (gm_sig_sign, the same
 *   HMAC the receiver verifies), so nothing between signing and sending can
 *   change it.
 * - What is retried: only what may work later without a change on our side:
 *   5xx, 408, 429, no answer. A retry of a delivery the receiver did store
 *   (the answer was lost) is answered "duplicate", so retrying is safe.
 * - Outcomes follow the receiver's contract (README, HTTP interface): 202
 *   "accepted" is stored; 200 "duplicate" was stored before; 202 "ignored"
 *   (an event the receiver does not take) and any 3xx/4xx will not be taken
 *   by asking again. Any other 2xx counts as stored: a 2xx is the receiver
 *   taking responsibility, as it is for GitHub.
 * - Errors: built from fixed phrases, the status and the receiver's "error"
 *   field (control bytes blanked, length bounded). The URL is not quoted: it
 *   may carry user info.
 * - Secrets: the secret is a private copy, wiped at close. */
#include "gm/receiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/http.h"
#include "gm/signature.h"

#ifndef GM_VERSION
#define GM_VERSION "0"
#endif

#define DEFAULT_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_RETRIES 4
#define BACKOFF_MS 500LL
#define MAX_BACKOFF_MS 30000LL
#define MAX_RETRY_AFTER_MS 120000LL
#define MAX_ANSWER ((size_t)64 << 10)
#define MAX_DELIVERY_ID 64

struct gm_receiver {
    char *url;
    unsigned char *secret;
    size_t secret_len;
    int max_retries;
    /* The last submission failed after all its retries: the receiver is
     * down, so the next ones try once until one gets through, rather than
     * each spending the whole backoff on it. */
    bool unreachable;
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
    CURL *curl;
    long last_status;
    uint64_t requests;
    int64_t retry_after_ms; /* of the last answer; -1 when none */
    char errbuf[CURL_ERROR_SIZE];
};

const char *gm_receiver_outcome_name(gm_receiver_outcome_t o)
{
    switch (o) {
    case GM_RECEIVER_STORED:
        return "stored";
    case GM_RECEIVER_DUPLICATE:
        return "duplicate";
    case GM_RECEIVER_REFUSED:
        return "refused";
    case GM_RECEIVER_ERROR:
        return "error";
    }
    return "unknown";
}

static int64_t capped_retry_after_ms(const char *v, size_t len)
{
    int64_t ms = gm_http_retry_after_ms(v, len, gm_wall_ms());
    return ms > MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : ms;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    gm_receiver_t *r = userdata;
    size_t len = size * nmemb, vlen;
    const char *v;
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        r->retry_after_ms = -1; /* a new answer */
    else if ((v = gm_http_header_value(ptr, len, "retry-after", &vlen)) != NULL)
        r->retry_after_ms = capped_retry_after_ms(v, vlen);
    return len;
}

gm_receiver_t *gm_receiver_open(const gm_receiver_opts_t *o, char *err, size_t errlen)
{
    if (o->url == NULL || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)) {
        snprintf(err, errlen, "receiver: the URL must start with http:// or https://");
        return NULL;
    }
    if (gm_http_has_crlf(o->url) || strpbrk(o->url, " \t") != NULL) {
        snprintf(err, errlen, "receiver: the URL holds blanks or line breaks");
        return NULL;
    }
    if (o->secret == NULL || o->secret_len == 0) {
        snprintf(err, errlen, "receiver: no webhook secret (the receiver refuses unsigned deliveries)");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "receiver: cannot initialise libcurl");
        return NULL;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "receiver: cannot create a curl handle");
        curl_global_cleanup();
        return NULL;
    }
    gm_receiver_t *r = gm_calloc(1, sizeof(*r));
    r->url = gm_strdup(o->url);
    r->secret = gm_malloc(o->secret_len);
    memcpy(r->secret, o->secret, o->secret_len);
    r->secret_len = o->secret_len;
    r->max_retries = o->max_retries == 0 ? DEFAULT_RETRIES : o->max_retries < 0 ? 0 : o->max_retries;
    r->sleep_ms = o->sleep_ms != NULL ? o->sleep_ms : gm_clock_sleep_ms;
    r->clock_ctx = o->clock_ctx;
    r->curl = c;
    long timeout = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gha-metrics-backfill/" GM_VERSION);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    gm_http_trust(c, o->ca_file);
    if (o->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return r;
}

void gm_receiver_close(gm_receiver_t *r)
{
    if (r == NULL)
        return;
    curl_easy_cleanup(r->curl);
    curl_global_cleanup();
    OPENSSL_cleanse(r->secret, r->secret_len);
    free(r->secret);
    free(r->url);
    free(r);
}

long gm_receiver_last_status(const gm_receiver_t *r)
{
    return r->last_status;
}

uint64_t gm_receiver_requests(const gm_receiver_t *r)
{
    return r->requests;
}

static bool valid_delivery_id(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return false;
    }
    return n >= 1 && n <= MAX_DELIVERY_ID;
}

static bool valid_event(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
            return false;
    return n >= 1 && n <= 64;
}

/* The receiver's "status" or "error" field of an answer, with control bytes
 * blanked and at most 120 bytes, into out. */
static void answer_field(const gm_http_body_t *b, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    json_t *o = b->len > 0 ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(o, name));
    if (v != NULL) {
        size_t n = strlen(v);
        if (n > 120)
            n = 120;
        if (n >= outlen)
            n = outlen - 1;
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)v[i] < ' ' || v[i] == 127 ? ' ' : v[i];
        out[n] = '\0';
    }
    json_decref(o);
}

static bool retryable(long st)
{
    return st >= 500 || st == 408 || st == 429;
}

gm_receiver_outcome_t gm_receiver_submit(gm_receiver_t *r, const char *event, const char *delivery_id, const char *body,
                                         size_t len, char *err, size_t errlen)
{
    r->last_status = 0;
    if (event == NULL || !valid_event(event)) {
        snprintf(err, errlen, "receiver: the event name is not [a-z_]+");
        return GM_RECEIVER_REFUSED;
    }
    if (delivery_id == NULL || !valid_delivery_id(delivery_id)) {
        snprintf(err, errlen, "receiver: the delivery id is not 1 to %d of [0-9A-Za-z-]", MAX_DELIVERY_ID);
        return GM_RECEIVER_REFUSED;
    }
    char sig[72], ev_line[96], id_line[96], sig_line[128];
    gm_sig_sign(r->secret, r->secret_len, body, len, sig);
    snprintf(ev_line, sizeof(ev_line), "X-GitHub-Event: %s", event);
    snprintf(id_line, sizeof(id_line), "X-GitHub-Delivery: %s", delivery_id);
    snprintf(sig_line, sizeof(sig_line), "X-Hub-Signature-256: %s", sig);
    struct curl_slist *h = NULL;
    h = gm_http_header(h, "Content-Type: application/json");
    h = gm_http_header(h, ev_line);
    h = gm_http_header(h, id_line);
    h = gm_http_header(h, sig_line);
    h = gm_http_header(h, "Expect:"); /* no 100-continue round trip */
    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);

    gm_receiver_outcome_t out = GM_RECEIVER_ERROR;
    for (int attempt = 0;; attempt++) {
        gm_http_body_t ans;
        gm_http_body_init(&ans, MAX_ANSWER, 0);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
        r->errbuf[0] = '\0';
        r->retry_after_ms = -1;
        CURLcode rc = curl_easy_perform(c);
        r->requests++;
        long st = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        r->last_status = st;
        char field[128];
        if (rc != CURLE_OK) {
            snprintf(err, errlen, "receiver: %s (after %d attempts)",
                     r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc), attempt + 1);
            out = GM_RECEIVER_ERROR;
        } else if (st >= 200 && st < 300) {
            answer_field(&ans, "status", field, sizeof(field));
            if (strcmp(field, "duplicate") == 0)
                out = GM_RECEIVER_DUPLICATE;
            else if (strcmp(field, "ignored") == 0) {
                snprintf(err, errlen, "receiver: HTTP %ld: the receiver ignores %s deliveries", st, event);
                out = GM_RECEIVER_REFUSED;
            } else
                out = GM_RECEIVER_STORED;
        } else {
            answer_field(&ans, "error", field, sizeof(field));
            if (retryable(st))
                snprintf(err, errlen, "receiver: HTTP %ld%s%s (after %d attempts)", st, field[0] ? ": " : "", field,
                         attempt + 1);
            else
                snprintf(err, errlen, "receiver: HTTP %ld%s%s", st, field[0] ? ": " : "", field);
            out = retryable(st) ? GM_RECEIVER_ERROR : GM_RECEIVER_REFUSED;
        }
        gm_http_body_wipe(&ans);
        if (out != GM_RECEIVER_ERROR || attempt >= (r->unreachable ? 0 : r->max_retries))
            break;
        int64_t wait = BACKOFF_MS << attempt;
        if (wait > MAX_BACKOFF_MS)
            wait = MAX_BACKOFF_MS;
        if (r->retry_after_ms >= 0)
            wait = r->retry_after_ms;
        r->sleep_ms(r->clock_ctx, wait);
    }
    r->unreachable = out == GM_RECEIVER_ERROR;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_slist_free_all(h);
    return out;
}
