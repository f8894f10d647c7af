/* gm_github ETag cache (see gm/github.h): conditional GETs.
 *
 * The ETag cache is a JSON file {"version":1,"entries":{url:{"etag","body",
 * "next"}}} in least-recently-stored-first order (jansson keeps insertion
 * order); at most MAX_ETAGS URLs are kept, the oldest dropped first. It is
 * only an optimisation: a missing or unreadable file starts an empty cache,
 * and it is written (tmp + rename) at close. */
#include "gm/github.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "gm/alloc.h"

#include "github_internal.h"

#define MAX_ETAGS 10000

/* ---- ETag cache ------------------------------------------------------------------ */

void gm_github_etags_load(gm_github_t *gh)
{
    json_t *root = json_load_file(gh->etag_path, 0, NULL);
    json_t *entries = json_object_get(root, "entries");
    gh->etags = json_object();
    if (json_integer_value(json_object_get(root, "version")) == 1 && json_is_object(entries)) {
        const char *url;
        json_t *e;
        json_object_foreach(entries, url, e)
        {
            if (json_is_string(json_object_get(e, "etag")) && json_object_get(e, "body") != NULL)
                json_object_set(gh->etags, url, e);
        }
    }
    json_decref(root);
    while (json_object_size(gh->etags) > MAX_ETAGS)
        json_object_del(gh->etags, json_object_iter_key(json_object_iter(gh->etags)));
}

void gm_github_etags_store(gm_github_t *gh, const char *url, const char *etag, json_t *body, const char *next)
{
    /* A copy: the caller owns (and may change) the page's body. */
    json_t *e = json_pack("{s:s, s:o, s:s?}", "etag", etag, "body", json_deep_copy(body), "next", next);
    if (e == NULL)
        return;
    json_object_del(gh->etags, url); /* re-inserted last: the most recent */
    json_object_set_new(gh->etags, url, e);
    while (json_object_size(gh->etags) > MAX_ETAGS)
        json_object_del(gh->etags, json_object_iter_key(json_object_iter(gh->etags)));
}

void gm_github_etags_save(gm_github_t *gh)
{
    json_t *root = json_pack("{s:i, s:O}", "version", 1, "entries", gh->etags);
    char *tmp = gm_asprintf("%s.tmp.%ld", gh->etag_path, (long)getpid());
    int fd = root != NULL ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    bool ok = false;
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        if (f == NULL)
            close(fd);
        else {
            ok = json_dumpf(root, f, JSON_COMPACT) == 0;
            ok = fflush(f) == 0 && ok;
            ok = fsync(fileno(f)) == 0 && ok;
            ok = fclose(f) == 0 && ok;
        }
        ok = ok && rename(tmp, gh->etag_path) == 0;
        if (!ok)
            unlink(tmp);
    }
    free(tmp);
    json_decref(root);
}
