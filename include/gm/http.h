/* gm_http: what both outbound clients (AWS, GitHub) need around libcurl:
 * a bounded response body, header parsing, and wiping secrets. */
#ifndef GM_HTTP_H
#define GM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* A response body: grows up to max; too_big once more arrived (the write
 * callback then fails the transfer with CURLE_WRITE_ERROR). Always
 * NUL-terminated once data is non-NULL. Owned; release with
 * gm_http_body_wipe (which overwrites it: bodies can carry credentials). */
typedef struct {
    char *data;
    size_t len, cap, max;
    bool too_big;
} gm_http_body_t;

void gm_http_body_init(gm_http_body_t *b, size_t max, size_t initial);
/* CURLOPT_WRITEFUNCTION with a gm_http_body_t * as CURLOPT_WRITEDATA. */
size_t gm_http_body_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);
void gm_http_body_wipe(gm_http_body_t *b);

/* If the header line is "name: value" (name case-insensitive), the trimmed
 * value and its length; else NULL. */
const char *gm_http_header_value(const char *line, size_t len, const char *name, size_t *vlen);

/* A Retry-After value (delta-seconds, or an HTTP-date read against now_ms)
 * in milliseconds, 0 for a date already past; -1 when it is neither. The
 * caller caps it. */
int64_t gm_http_retry_after_ms(const char *v, size_t len, int64_t now_ms);

/* A header value must not carry a line break (header injection). */
bool gm_http_has_crlf(const char *s);

/* Which certificate authorities an HTTPS request trusts: ca_file when
 * given, else $CURL_CA_BUNDLE or $SSL_CERT_FILE when set, else the path
 * libcurl was built with. libcurl itself reads neither variable, and its
 * built-in path is the build host's (Debian: /etc/ssl/certs/...), which
 * Amazon Linux, where the Lambda runs, does not have: the Lambda's
 * bootstrap points CURL_CA_BUNDLE at the bundle it ships. */
void gm_http_trust(CURL *c, const char *ca_file);

/* curl_slist_append that aborts on out-of-memory: a NULL in the middle of a
 * chain of appends would start a new list and drop the headers before it. */
struct curl_slist *gm_http_header(struct curl_slist *list, const char *line);

/* Overwrites a secret string, then frees it. NULL is fine. */
void gm_http_wipe_free(char *s);

#endif
