/* gm_github: the GitHub REST client the backfill drives.
 *
 * libcurl underneath, one handle per client (one thread at a time). It
 * follows GitHub's documented contracts so that a backfill never spends more
 * than it must and never trips the limits:
 *
 *  - Headers on every request: Accept: application/vnd.github+json,
 *    X-GitHub-Api-Version: 2022-11-28, a User-Agent, Authorization.
 *  - Auth: a token (from config: env:/file:/literal) as "Bearer", or a
 *    GitHub App: a JWT (RS256, iat 60 s in the past, exp 9 minutes ahead,
 *    iss = the app id) exchanged at POST /app/installations/{id}/access_tokens
 *    for an installation token, refreshed five minutes before its hour ends.
 *  - Pagination: gm_github_get_page returns the parsed body and the URL of
 *    Link rel="next" (never built by hand).
 *  - Rate limits: x-ratelimit-limit / -remaining / -reset / -resource are
 *    read from every answer. Before a request, when `remaining` is at or below
 *    the reserve, the client sleeps until `reset`. On 403/429 that is a rate
 *    limit (primary: remaining 0; secondary: a message saying so, or
 *    retry-after): honour retry-after, else wait for reset, else back off
 *    exponentially from 60 s; then retry the same request. Every request is
 *    counted, 304s separately (they cost nothing).
 *  - Conditional requests: with an ETag cache (a JSON file, typically in the
 *    spool dir), GETs send If-None-Match for URLs seen before. What the
 *    cache keeps of a URL is the caller's choice, made once it has used the
 *    page (gm_github_cache_keep_body): the body too, and a 304 returns it
 *    as a 200 would; or only the ETag and the next link (the page is
 *    "settled"), and a 304 returns no body. A URL the caller says nothing
 *    about is conditional within this client only, and not saved. The file
 *    stays small: entries unused (neither stored nor answered 304) for 8
 *    days are dropped, kept bodies are capped (32 MiB in all by default; the
 *    least recently used go first, with their entries), entries at 10,000.
 *
 * Ownership: the client is the caller's (gm_github_close); a page's `body`
 * and `next` are the caller's (gm_github_page_clear). Errors never contain
 * a token, a JWT or the private key. */
#ifndef GM_GITHUB_H
#define GM_GITHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct gm_github gm_github_t;

typedef struct {
    const char *base_url;      /* "https://api.github.com", or GHES "https://host/api/v3", or a test server */
    const char *token;         /* a token, or NULL with the app fields */
    int64_t app_id;            /* GitHub App: id (iss of the JWT) */
    const char *app_key_pem;   /* the App's private key, PEM text */
    int64_t installation_id;   /* the installation to act as */
    const char *etag_cache;    /* path of the ETag cache file, or NULL */
    size_t etag_cache_bytes;   /* kept bodies in all, at most (default 32 MiB when 0) */
    int reserve;               /* keep this many requests of the hourly budget (default 50 when 0) */
    long timeout_ms;           /* per request; default 30 s when 0 */
    /* For tests: the clock and the sleep (ms). NULL = real ones. */
    int64_t (*now_ms)(void *ctx);
    void (*sleep_ms)(void *ctx, int64_t ms);
    void *clock_ctx;
} gm_github_opts_t;

typedef struct {
    long status;      /* 200, 304 (answered from the cache: see from_cache), 404, ... ; 0 on a transport error */
    json_t *body;     /* parsed JSON (owned), NULL when none */
    char *next;       /* Link rel="next" URL (owned), NULL on the last page */
    int from_cache;   /* 1 when answered 304 from the cache: body is the kept one, or NULL for a settled page */
} gm_github_page_t;

typedef struct {
    uint64_t requests;      /* every HTTP request sent, retries included */
    uint64_t not_modified;  /* 304s: free */
    uint64_t rate_limited;  /* 403/429 rate-limit answers */
    uint64_t waited_ms;     /* time slept for limits */
    int64_t limit, remaining, reset_s; /* from the last answer; -1 when unknown */
    char resource[32];
} gm_github_stats_t;

gm_github_t *gm_github_open(const gm_github_opts_t *opts, char *err, size_t errlen);
/* Saves the ETag cache (when configured) and frees. */
void gm_github_close(gm_github_t *gh);

/* GET a path ("/repos/o/r/actions/runs?...") or a full URL (a `next` link).
 * Retries rate limits and transport errors (at most 5 attempts, then
 * status 0 or the last status). Returns 0 when an answer came (any status:
 * the caller decides about 404/403), -1 with the reason otherwise. */
int gm_github_get_page(gm_github_t *gh, const char *path_or_url, gm_github_page_t *page, char *err, size_t errlen);

/* What the ETag cache keeps of path_or_url (a path or a full URL, as given
 * to gm_github_get_page), once the caller has used the page it got from it
 * (200 with an ETag, or 304). Without an ETag cache, or for a URL it does
 * not hold, nothing happens.
 *  - keep: its body too; a later 304 returns the body (from_cache = 1), so
 *    the caller can examine the page again without spending a request.
 *  - !keep: only its ETag and next link: the caller says the page is
 *    settled, nothing on it needs examining again while it is unchanged. A
 *    later 304 returns status 304, from_cache = 1, body NULL and `next` (the
 *    Link rel="next" of the answer, else the one stored): "unchanged since a
 *    time the caller said it was settled". It stays settled until a 200
 *    replaces it.
 * A URL answered 200 that the caller says nothing about keeps its body in
 * memory (within the cap), so that a 304 within this client returns it,
 * but is not saved: no later client gets a 304 without a body for a page
 * nobody settled. Memory and file hold the same bodies at most.
 * Asking to keep a body the entry no longer has (settled) changes nothing. */
void gm_github_cache_keep_body(gm_github_t *gh, const char *path_or_url, bool keep);

/* POST with a JSON body (redelivery); no ETag. Same return convention. */
int gm_github_post(gm_github_t *gh, const char *path, const char *json_body, gm_github_page_t *page, char *err,
                   size_t errlen);

/* The same, authenticated as the App itself (Authorization: Bearer <app
 * JWT>) rather than as its installation: GitHub's /app/... endpoints, e.g.
 * the App's webhook deliveries (/app/hook/deliveries) and their
 * redelivery. Only for a client opened with App credentials: -1 with the
 * reason for a token client. A fresh JWT is signed for every attempt. */
int gm_github_get_page_as_app(gm_github_t *gh, const char *path_or_url, gm_github_page_t *page, char *err,
                              size_t errlen);
int gm_github_post_as_app(gm_github_t *gh, const char *path, const char *json_body, gm_github_page_t *page, char *err,
                          size_t errlen);
/* Whether the client was opened with App credentials (no token). */
bool gm_github_is_app(const gm_github_t *gh);

void gm_github_page_clear(gm_github_page_t *page);
void gm_github_stats(const gm_github_t *gh, gm_github_stats_t *out);

/* Exposed for tests: the Link header's rel="next" URL (newly allocated) or
 * NULL; and a signed app JWT for (app_id, now) (newly allocated) or NULL. */
char *gm_github_link_next(const char *link_header);
char *gm_github_app_jwt(int64_t app_id, const char *key_pem, int64_t now_s, char *err, size_t errlen);

#endif
