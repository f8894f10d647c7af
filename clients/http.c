#include "gm/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gm/alloc.h"

void gm_http_body_init(gm_http_body_t *b, size_t max, size_t initial)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
    if (initial > 0) {
        b->cap = initial + 1;
        b->data = gm_malloc(b->cap);
        b->data[0] = '\0';
    }
}

size_t gm_http_body_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    gm_http_body_t *b = userdata;
    size_t n = size * nmemb;
    if (n > b->max - b->len) {
        b->too_big = true;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = gm_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void gm_http_body_wipe(gm_http_body_t *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
    memset(b, 0, sizeof(*b));
}

const char *gm_http_header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return NULL;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

bool gm_http_has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

void gm_http_wipe_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void gm_http_trust(CURL *c, const char *ca_file)
{
    const char *env[] = {"CURL_CA_BUNDLE", "SSL_CERT_FILE"};
    for (size_t i = 0; (ca_file == NULL || *ca_file == '\0') && i < sizeof(env) / sizeof(env[0]); i++)
        ca_file = getenv(env[i]);
    if (ca_file != NULL && *ca_file != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
}

struct curl_slist *gm_http_header(struct curl_slist *list, const char *line)
{
    return gm_need(curl_slist_append(list, line));
}

int64_t gm_http_retry_after_ms(const char *v, size_t len, int64_t now_ms)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    char *end;
    double s = strtod(tmp, &end);
    if (end != tmp && *end == '\0')
        return s >= 0 && s < 1e12 ? (int64_t)(s * 1000) : -1;
    time_t t = curl_getdate(tmp, NULL); /* the HTTP-date form */
    if (t < 0)
        return -1;
    int64_t ms = (int64_t)t * 1000 - now_ms;
    return ms > 0 ? ms : 0;
}
