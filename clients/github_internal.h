/* Private to the GitHub client (clients/github*.c): the client's state and
 * what the requests (github.c), the App auth (github_auth.c) and the ETag
 * cache (github_etags.c) call in one another. Not part of gm/github.h. */
#ifndef GM_GITHUB_INTERNAL_H
#define GM_GITHUB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gm/github.h"

typedef enum { AUTH_DEFAULT, AUTH_JWT } auth_kind_t;

struct gm_github {
    char *base;   /* without trailing '/' */
    char *origin; /* "scheme://host[:port]" of base: full URLs must share it */
    char *token;  /* the configured token, or NULL with app auth */
    int64_t app_id, installation_id;
    char *key_pem;
    char *inst_token; /* installation token, NULL until fetched */
    int64_t inst_expires_ms;
    char *etag_path;
    json_t *etags;           /* url → entry, least recently used first: see github_etags.c */
    uint64_t etag_bytes;     /* bodies held in etags, as saved */
    uint64_t etag_bytes_max; /* the cap on etag_bytes */
    int reserve;
    int64_t (*now_ms)(void *ctx);
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
    CURL *curl;
    gm_github_stats_t stats;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one answer's headers said; -1 when absent. */
typedef struct {
    int64_t limit, remaining, reset_s, retry_after_s;
    char resource[32];
    char *etag, *link;
} resp_headers_t;

/* gh's clock (the options' now_ms, or the real one). */
int64_t gm_github_now(const gm_github_t *gh);
/* printf into err, with every secret of gh redacted. */
void gm_github_set_err(const gm_github_t *gh, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Frees what h holds and marks every field absent. */
void gm_github_headers_reset(resp_headers_t *h);
/* GitHub's "message" of an error body, or "". Borrowed from o. */
const char *gm_github_message(json_t *o);
/* An absolute URL for a path or a full URL on the base URL's origin
 * (newly allocated), or NULL with the reason. */
char *gm_github_url(const gm_github_t *gh, const char *path_or_url, char *err, size_t errlen);
/* One logical request with its retries (github.c): see there. */
int gm_github_perform(gm_github_t *gh, const char *method, const char *url, const char *json_body, auth_kind_t auth,
                      const char *etag, long *status, resp_headers_t *hdrs, json_t **body, char *err, size_t errlen);

/* github_auth.c: renews the installation token when missing or near its
 * expiry. 0, or -1 with the reason. */
int gm_github_ensure_token(gm_github_t *gh, char *err, size_t errlen);

/* github_etags.c: the ETag cache in gh->etags, loaded from and saved to
 * gh->etag_path. `url` is always absolute (gm_github_url). */
void gm_github_etags_load(gm_github_t *gh);
/* The ETag to send as If-None-Match for url, or NULL. Borrowed. */
const char *gm_github_etags_etag(gm_github_t *gh, const char *url);
/* A 304 for url: fills page (status set by the caller) from the entry:
 * its body (a copy) or NULL when settled, from_cache, and next (the
 * answer's Link header when it has one, else the stored link). The entry
 * counts as used now. -1 when there is no entry (page untouched). */
int gm_github_etags_hit(gm_github_t *gh, const char *url, const char *link, gm_github_page_t *page);
/* A 200 with an ETag: the entry is replaced by a pending one holding a copy
 * of body, until gm_github_cache_keep_body says what to keep. */
void gm_github_etags_store(gm_github_t *gh, const char *url, const char *etag, json_t *body, const char *next);
/* A 200 without an ETag or a body: the entry is stale, forgotten. */
void gm_github_etags_forget(gm_github_t *gh, const char *url);
void gm_github_etags_save(gm_github_t *gh);

#endif
