/* gm_github ETag cache (see gm/github.h): conditional GETs.
 *
 * The file is {"version":2,"entries":{url:{"etag","next","used_at","body"}}},
 * least recently used first (jansson keeps insertion order; a store or a
 * 304 moves an entry to the end). used_at (epoch ms, the client's clock) is
 * the last store or 304; next and body are there when there is one. In
 * memory an entry may also be "pending" (answered 200, the caller has not
 * said what to keep yet: its body is held, never saved) and says how many
 * "bytes" its body takes when saved (gh->etag_bytes sums them).
 *
 * Decisions
 * - A body only where the caller asked for one. A runs listing page is
 *   ~450 KB: keeping every page made a file of 221 MB for 500 repositories
 *   of 100 runs, read at every start and rewritten at every close (113 KB
 *   once the backfill settles its pages). A page the caller has settled
 *   needs only its ETag to be skipped next time.
 * - A body dropped for room takes its entry with it: an entry without a
 *   body reads as settled, which a page whose body was kept is not. Pending
 *   bodies go first (nobody asked for them), then kept ones, least recently
 *   used first; never the entry just stored (its caller is deciding on it).
 *   Pending bodies count towards the cap, so memory is bounded too.
 * - A body larger than the whole cap is not held; its page can still be
 *   settled, but until then no If-None-Match is sent for it (a 304 would
 *   have nothing to return).
 * - Unused for 8 days: dropped at load and at save. Windows move on (the
 *   default one ends at the next hour), and a URL nobody asks for again
 *   would otherwise stay until MAX_ETAGS pushes it out; 8 days outlast a
 *   weekly backfill of the same window.
 * - Version 1 files (a body for every URL) are not read, and no file larger
 *   than the caps allow is parsed at all: the first backfill after the
 *   upgrade spends 200s once.
 * It is only an optimisation: a missing, unreadable or foreign file starts
 * an empty cache; it is written at close with gm_write_file_atomic. */
#include "gm/github.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/http.h"
#include "gm/util.h"

#include "github_internal.h"

#define MAX_ETAGS 10000
#define FILE_VERSION 2
#define UNUSED_MS (8 * 24 * 3600 * 1000LL)
/* Per entry, beyond its body: the URL, the ETag and the next link. */
#define ENTRY_OVERHEAD 4096

static uint64_t bytes_of(json_t *e)
{
    json_int_t n = json_integer_value(json_object_get(e, "bytes"));
    return n > 0 ? (uint64_t)n : 0;
}

static bool pending(json_t *e)
{
    return json_is_true(json_object_get(e, "pending"));
}

static void drop(gm_github_t *gh, const char *url, json_t *e)
{
    gh->etag_bytes -= bytes_of(e);
    json_object_del(gh->etags, url);
}

/* Entries unused for UNUSED_MS (when expire), bodies past the cap (see
 * Decisions), then entries past MAX_ETAGS, oldest first. */
static void trim(gm_github_t *gh, bool expire, const char *spare)
{
    const char *url;
    json_t *e;
    void *tmp;
    if (expire) {
        int64_t now = gm_github_now(gh);
        json_object_foreach_safe(gh->etags, tmp, url, e)
        {
            if (now - json_integer_value(json_object_get(e, "used_at")) > UNUSED_MS)
                drop(gh, url, e);
        }
    }
    for (int pass = 0; pass < 2 && gh->etag_bytes > gh->etag_bytes_max; pass++) {
        json_object_foreach_safe(gh->etags, tmp, url, e)
        {
            if (gh->etag_bytes <= gh->etag_bytes_max)
                break;
            if (json_object_get(e, "body") == NULL || (pass == 0 && !pending(e)) ||
                (spare != NULL && strcmp(url, spare) == 0))
                continue;
            drop(gh, url, e);
        }
    }
    while (json_object_size(gh->etags) > MAX_ETAGS) {
        void *it = json_object_iter(gh->etags);
        drop(gh, json_object_iter_key(it), json_object_iter_value(it));
    }
}

/* Holds body (a reference) in e, counted, when it fits the cap at all. */
static void hold_body(gm_github_t *gh, json_t *e, json_t *body)
{
    size_t n = json_dumpb(body, NULL, 0, JSON_COMPACT);
    if (n == 0 || n > gh->etag_bytes_max)
        return;
    json_object_set(e, "body", body);
    json_object_set_new(e, "bytes", json_integer((json_int_t)n));
    gh->etag_bytes += n;
}

void gm_github_etags_load(gm_github_t *gh)
{
    gh->etags = json_object();
    gh->etag_bytes = 0;
    size_t len = 0;
    char *text = gm_read_file(gh->etag_path, gh->etag_bytes_max + (size_t)MAX_ETAGS * ENTRY_OVERHEAD, &len);
    if (text == NULL)
        return; /* none yet, or larger than the bounds allow: start afresh */
    json_t *root = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *entries = json_object_get(root, "entries");
    if (json_integer_value(json_object_get(root, "version")) == FILE_VERSION && json_is_object(entries)) {
        const char *url;
        json_t *e;
        json_object_foreach(entries, url, e)
        {
            const char *etag = json_string_value(json_object_get(e, "etag"));
            json_t *next = json_object_get(e, "next"), *used = json_object_get(e, "used_at");
            if (etag == NULL || gm_http_has_crlf(etag) || !json_is_integer(used) ||
                (next != NULL && !json_is_string(next)))
                continue;
            json_t *c = json_pack("{s:s, s:O*, s:O}", "etag", etag, "next", next, "used_at", used);
            if (c == NULL)
                continue;
            json_t *body = json_object_get(e, "body");
            if (body != NULL) {
                hold_body(gh, c, body);
                if (json_object_get(c, "body") == NULL) { /* over the cap by itself: not settled either */
                    json_decref(c);
                    continue;
                }
            }
            json_object_set_new(gh->etags, url, c);
        }
    }
    json_decref(root);
    trim(gh, true, NULL);
}

const char *gm_github_etags_etag(gm_github_t *gh, const char *url)
{
    json_t *e = json_object_get(gh->etags, url);
    if (e == NULL || (pending(e) && json_object_get(e, "body") == NULL))
        return NULL; /* too large to hold: a 304 could return nothing */
    return json_string_value(json_object_get(e, "etag"));
}

int gm_github_etags_hit(gm_github_t *gh, const char *url, const char *link, gm_github_page_t *page)
{
    json_t *e = json_object_get(gh->etags, url);
    if (e == NULL)
        return -1;
    json_t *body = json_object_get(e, "body");
    page->body = body != NULL ? json_deep_copy(body) : NULL; /* the caller's to change */
    page->from_cache = 1;
    const char *next = json_string_value(json_object_get(e, "next"));
    page->next = link != NULL ? gm_github_link_next(link) : next != NULL ? gm_strdup(next) : NULL;
    /* Used now: its age starts again, and it moves to the end of the order. */
    json_incref(e);
    json_object_del(gh->etags, url);
    json_object_set_new(e, "used_at", json_integer((json_int_t)gm_github_now(gh)));
    json_object_set_new(gh->etags, url, e);
    return 0;
}

void gm_github_etags_store(gm_github_t *gh, const char *url, const char *etag, json_t *body, const char *next)
{
    gm_github_etags_forget(gh, url); /* re-inserted last: the most recent */
    json_t *e = json_pack("{s:s, s:s*, s:I, s:b}", "etag", etag, "next", next, "used_at", (json_int_t)gm_github_now(gh),
                          "pending", 1);
    if (e == NULL)
        return;
    json_t *copy = json_deep_copy(body); /* the caller owns (and may change) the page's body */
    hold_body(gh, e, copy);
    json_decref(copy);
    json_object_set_new(gh->etags, url, e);
    trim(gh, false, url);
}

void gm_github_etags_forget(gm_github_t *gh, const char *url)
{
    json_t *e = json_object_get(gh->etags, url);
    if (e != NULL)
        drop(gh, url, e);
}

void gm_github_cache_keep_body(gm_github_t *gh, const char *path_or_url, bool keep)
{
    if (gh == NULL || gh->etags == NULL)
        return;
    char err[128];
    char *url = gm_github_url(gh, path_or_url, err, sizeof(err));
    json_t *e = url != NULL ? json_object_get(gh->etags, url) : NULL;
    if (e == NULL) {
        free(url);
        return;
    }
    if (!keep) { /* settled: the ETag and the next link are enough */
        gh->etag_bytes -= bytes_of(e);
        json_object_del(e, "body");
        json_object_del(e, "bytes");
        json_object_del(e, "pending");
    } else if (json_object_get(e, "body") != NULL)
        json_object_del(e, "pending");
    else if (pending(e))
        gm_github_etags_forget(gh, url); /* too large to hold: nothing to keep */
    /* else settled already: a 304 confirmed it, it stays so */
    free(url);
}

void gm_github_etags_save(gm_github_t *gh)
{
    trim(gh, true, NULL);
    json_t *entries = json_object();
    const char *url;
    json_t *e;
    json_object_foreach(gh->etags, url, e)
    {
        if (pending(e))
            continue;
        json_object_set_new(entries, url,
                            json_pack("{s:O, s:O*, s:O, s:O*}", "etag", json_object_get(e, "etag"), "next",
                                      json_object_get(e, "next"), "used_at", json_object_get(e, "used_at"), "body",
                                      json_object_get(e, "body")));
    }
    json_t *root = json_pack("{s:i, s:o}", "version", FILE_VERSION, "entries", entries);
    /* Only an optimisation: a cache that cannot be written is started
     * afresh next time. Written like the checkpoint: a crash leaves the old
     * file or the new one. */
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    if (text != NULL) {
        char *dir = gm_strdup(gh->etag_path), *slash = strrchr(dir, '/');
        const char *name = slash != NULL ? slash + 1 : gh->etag_path;
        if (slash != NULL)
            *slash = '\0';
        (void)gm_write_file_atomic(slash != NULL ? (slash == dir ? "/" : dir) : ".", name, text, strlen(text));
        free(dir);
        free(text);
    }
    json_decref(root);
}
