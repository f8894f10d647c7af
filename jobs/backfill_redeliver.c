/* gm_backfill, redelivery (see gm/backfill.h): the hook's deliveries since
 * the window start, grouped by guid; one redelivery for each guid that
 * never got through and that the ledger does not know.
 *
 * Decisions
 * - Only workflow_run / workflow_job deliveries whose action is "completed"
 *   (or not given): the others make no record, and each POST costs a second
 *   of pacing.
 * - "Never got through" is GitHub's view: no attempt with status "OK". The
 *   ledger has the last word: a delivery GitHub gave up on after 10 s may
 *   still have been stored by the receiver, and then d:<guid> is known.
 * - The newest attempt is the one redelivered (GitHub copies the original
 *   payload whichever attempt is named). Oldest guid first.
 * - Pacing: POSTs start at least a second apart, by the options' clock; the
 *   deadline is checked before each.
 * - The deliveries' pages keep no body in the ETag cache: every new delivery
 *   changes the first page and moves the cursors of the others, so a body
 *   kept would rarely be asked again, and would crowd out the runs
 *   listings' (see gm_github_cache_keep_body). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/record.h"

#include "backfill_internal.h"

#define PACE_MS 1000

typedef struct {
    char *guid, *event, *delivered_at;
    int64_t id, at_ms; /* the newest attempt */
    bool ok;
} guid_t_;

typedef struct {
    guid_t_ *v;
    size_t n, cap;
    json_t *index; /* guid → position in v */
} guids_t;

static bool wanted_event(json_t *d)
{
    const char *ev = json_string_value(json_object_get(d, "event"));
    const char *action = json_string_value(json_object_get(d, "action"));
    if (ev == NULL || (strcmp(ev, "workflow_run") != 0 && strcmp(ev, "workflow_job") != 0))
        return false;
    return action == NULL || strcmp(action, "completed") == 0;
}

static void add_attempt(guids_t *g, json_t *d, int64_t at_ms)
{
    const char *guid = json_string_value(json_object_get(d, "guid"));
    const char *status = json_string_value(json_object_get(d, "status"));
    int64_t id = bf_int(d, "id", 0);
    if (guid == NULL || *guid == '\0' || strlen(guid) > 64 || id <= 0)
        return;
    json_t *pos = json_object_get(g->index, guid);
    guid_t_ *e;
    if (pos == NULL) {
        if (g->n == g->cap)
            g->v = gm_realloc(g->v, (g->cap = g->cap ? g->cap * 2 : 64) * sizeof(*g->v));
        e = &g->v[g->n];
        memset(e, 0, sizeof(*e));
        e->guid = gm_strdup(guid);
        e->at_ms = INT64_MIN;
        json_object_set_new(g->index, guid, json_integer((json_int_t)g->n));
        g->n++;
    } else
        e = &g->v[json_integer_value(pos)];
    if (status != NULL && strcmp(status, "OK") == 0)
        e->ok = true;
    if (at_ms > e->at_ms || (at_ms == e->at_ms && id > e->id)) {
        const char *ev = json_string_value(json_object_get(d, "event"));
        const char *when = json_string_value(json_object_get(d, "delivered_at"));
        e->id = id;
        e->at_ms = at_ms;
        free(e->event);
        free(e->delivered_at);
        e->event = gm_strdup(ev);
        e->delivered_at = gm_strdup(when != NULL ? when : "");
    }
}

static void guids_free(guids_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].guid);
        free(g->v[i].event);
        free(g->v[i].delivered_at);
    }
    free(g->v);
    json_decref(g->index);
}

/* Reads the deliveries, newest first, down to `since`. 0 or -1 (reported). */
static int list_deliveries(bf_t *b, guids_t *g)
{
    const gm_backfill_opts_t *o = b->o;
    gm_backfill_summary_t *s = b->s;
    char *url = o->redeliver_app ? gm_strdup("/app/hook/deliveries?per_page=100")
                                 : gm_asprintf("/orgs/%s/hooks/%" PRId64 "/deliveries?per_page=100", o->redeliver_org,
                                               o->redeliver_hook_id);
    int rc = 0;
    while (url != NULL) {
        gm_github_page_t page;
        long st;
        char why[512];
        if (bf_get(b, url, o->redeliver_app, false, &page, &st, why, sizeof(why)) != BF_GOT) {
            s->redelivery_error = bf_clean(why, 300);
            if (o->table_out != NULL && !o->dry_run)
                fprintf(o->table_out, "redelivery: cannot list the deliveries: %s\n", why);
            rc = -1;
            break;
        }
        bool older = false;
        size_t i;
        json_t *d;
        json_array_foreach(page.body, i, d)
        {
            int64_t at;
            const char *when = json_string_value(json_object_get(d, "delivered_at"));
            if (when == NULL || gm_time_parse_iso8601(when, &at) != 0)
                at = s->since_ms; /* no usable time: counted as in the window */
            if (at < s->since_ms) {
                older = true; /* newest first: the rest is older still */
                continue;
            }
            s->deliveries_checked++;
            if (wanted_event(d))
                add_attempt(g, d, at);
        }
        free(url);
        url = older ? NULL : page.next;
        if (!older)
            page.next = NULL;
        gm_github_page_clear(&page);
    }
    free(url);
    return rc;
}

static int by_time(const void *x, const void *y)
{
    const guid_t_ *a = *(guid_t_ *const *)x, *c = *(guid_t_ *const *)y;
    return a->at_ms < c->at_ms ? -1 : a->at_ms > c->at_ms ? 1 : a->id < c->id ? -1 : a->id > c->id;
}

static void record(bf_t *b, const guid_t_ *e, long status, int64_t at)
{
    gm_backfill_summary_t *s = b->s;
    if (s->redelivery_count >= GM_BACKFILL_MAX_LISTED)
        return;
    s->redeliveries = gm_realloc(s->redeliveries, (s->redelivery_count + 1) * sizeof(*s->redeliveries));
    s->redeliveries[s->redelivery_count++] = (gm_backfill_redelivery_t){
        .guid = gm_strdup(e->guid), .event = gm_strdup(e->event), .delivery_id = e->id, .status = status, .at_ms = at};
}

/* One POST, paced; counted. */
static void ask(bf_t *b, const guid_t_ *e, int64_t *last_ms)
{
    const gm_backfill_opts_t *o = b->o;
    gm_backfill_summary_t *s = b->s;
    int64_t now = bf_now(b);
    if (*last_ms != INT64_MIN && now - *last_ms < PACE_MS) {
        b->sleep_ms(b->clock_ctx, PACE_MS - (now - *last_ms));
        now = bf_now(b);
    }
    *last_ms = now;
    char *path = o->redeliver_app ? gm_asprintf("/app/hook/deliveries/%" PRId64 "/attempts", e->id)
                                  : gm_asprintf("/orgs/%s/hooks/%" PRId64 "/deliveries/%" PRId64 "/attempts",
                                                o->redeliver_org, o->redeliver_hook_id, e->id);
    gm_github_page_t page;
    char why[512] = "";
    int rc = o->redeliver_app ? gm_github_post_as_app(o->gh, path, NULL, &page, why, sizeof(why))
                              : gm_github_post(o->gh, path, NULL, &page, why, sizeof(why));
    free(path);
    long st = rc == 0 ? page.status : 0;
    if (st == 202)
        s->redeliveries_asked++;
    else {
        s->redeliveries_failed++;
        if (rc == 0)
            snprintf(why, sizeof(why), "HTTP %ld: %s", st,
                     json_string_value(json_object_get(page.body, "message")) != NULL
                         ? json_string_value(json_object_get(page.body, "message"))
                         : "no message");
        if (o->table_out != NULL)
            fprintf(o->table_out, "redelivery of %s (attempt %" PRId64 "): %s\n", e->guid, e->id, why);
    }
    record(b, e, st, now);
    gm_github_page_clear(&page);
}

void bf_redeliver(bf_t *b)
{
    gm_backfill_summary_t *s = b->s;
    guids_t g = {.index = json_object()};
    if (list_deliveries(b, &g) != 0) {
        guids_free(&g);
        return;
    }
    /* The failed guids, oldest first, and the ledger's word on them. */
    guid_t_ **failed = gm_calloc(g.n + 1, sizeof(*failed));
    size_t nf = 0;
    for (size_t i = 0; i < g.n; i++)
        if (!g.v[i].ok)
            failed[nf++] = &g.v[i];
    s->deliveries_failed = nf;
    qsort(failed, nf, sizeof(*failed), by_time);
    char **keys = gm_calloc(nf + 1, sizeof(*keys));
    for (size_t i = 0; i < nf; i++)
        keys[i] = gm_asprintf("d:%s", failed[i]->guid);
    unsigned char *known = gm_calloc(nf + 1, 1);
    if (bf_lookup(b, (const char *const *)keys, nf, known) == 0) {
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < nf; i++) {
            if (known[i])
                continue;
            s->redeliveries_due++;
            if (b->o->dry_run) {
                bf_table_redelivery(b, failed[i]->guid, failed[i]->event, failed[i]->id, failed[i]->delivered_at);
                record(b, failed[i], -1, 0);
                continue;
            }
            if (!b->stop && b->o->deadline_ms > 0 && bf_now(b) >= b->o->deadline_ms)
                bf_stop(b, "deadline");
            if (b->stop)
                continue; /* counted as due, not asked */
            ask(b, failed[i], &last);
        }
    }
    for (size_t i = 0; i < nf; i++)
        free(keys[i]);
    free(keys);
    free(known);
    free(failed);
    guids_free(&g);
}
