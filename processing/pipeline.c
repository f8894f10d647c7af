#define _GNU_SOURCE
#include "gm/pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/log.h"
#include "gm/util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
/* A checkpoint costs four syncs (sink, ledger, file, directory) on the disk
 * that the receiver's group commit waits on. Since whatever follows the
 * checkpoint is replayed exactly after a crash, checkpointing less often
 * only costs replay work: once a second, or every `batch` frames. */
#define CHECKPOINT_INTERVAL_MS 1000

struct gm_pipeline {
    gm_pipeline_opts_t o;
    pthread_t thread;
    _Atomic int stopping;
    gm_spool_pos_t pos;
    uint64_t processed;      /* total, as in the checkpoint */
    uint64_t since_checkpoint;
    int moved_since_checkpoint; /* corrupt frames skipped move the position too */
    int64_t last_checkpoint_ms;
    int64_t last_compact_ms;
    int failed;              /* the last frame was refused by the sink */
};

static void log_result(const gm_delivery_t *d, const gm_proc_result_t *res)
{
    if (!gm_log_enabled(GM_LOG_DEBUG) && res->status != GM_PROC_FAILED)
        return;
    static const char *const names[] = {"recorded", "no_record", "ping", "ignored", "invalid", "failed", "duplicate"};
    json_t *f = json_pack("{s:s?, s:s, s:s, s:s}", "delivery", d->delivery, "event", d->event, "result",
                          names[res->status], "reason", res->reason);
    gm_log_json(res->status == GM_PROC_FAILED ? GM_LOG_ERROR : GM_LOG_DEBUG, "pipeline", "processed", f);
}

static int on_entry(void *ctx, const gm_spool_entry_t *e)
{
    gm_pipeline_t *p = ctx;
    char event[256], delivery[256];
    memcpy(event, e->event, e->event_len);
    event[e->event_len] = '\0';
    memcpy(delivery, e->delivery, e->delivery_len);
    delivery[e->delivery_len] = '\0';
    gm_delivery_t d = {
        .event = event,
        .delivery = delivery,
        .body = e->body,
        .len = e->body_len,
        .form_encoded = e->form_encoded,
        .received_at_ms = e->received_at_ms,
    };
    gm_proc_result_t res;
    if (e->no_record) {
        /* Derivation is deterministic, so the receiver's verdict stands; only
         * the delivery id needs to reach the ledger log. */
        gm_ledger_persist(p->o.ledger, gm_ledger_key_delivery(delivery, e->delivery_len), e->received_at_ms);
        atomic_fetch_add_explicit(&p->o.processor->metrics->processed, 1, memory_order_relaxed);
        return 0;
    }
    gm_processor_handle(p->o.processor, &d, &res);
    log_result(&d, &res);
    if (res.status == GM_PROC_FAILED) {
        p->failed = 1;
        return 1; /* stop before this frame: it is read again after the backoff */
    }
    atomic_fetch_add_explicit(&p->o.processor->metrics->processed, 1, memory_order_relaxed);
    return 0;
}

int gm_pipeline_commit(gm_sink_t *sink, gm_ledger_t *ledger, const char *dir, gm_checkpoint_t *cp, char *err,
                       size_t errlen)
{
    /* Order matters: the sink and the ledger are made durable first, so the
     * checkpoint never points past what they hold. */
    json_t *mark = sink->ops->commit(sink, err, errlen);
    if (mark == NULL)
        return -1;
    json_decref(cp->sink_mark);
    cp->sink_mark = mark;
    if (gm_ledger_sync(ledger, &cp->ledger_generation, &cp->ledger_size, err, errlen) != 0 ||
        gm_checkpoint_save(dir, cp, err, errlen) != 0)
        return -1;
    if (sink->ops->confirm != NULL)
        sink->ops->confirm(sink, mark);
    return 0;
}

static int checkpoint(gm_pipeline_t *p, char *err, size_t errlen)
{
    gm_checkpoint_t cp = {.spool = p->pos, .processed = p->processed};
    int rc = gm_pipeline_commit(p->o.processor->sink, p->o.ledger, p->o.checkpoint_dir, &cp, err, errlen);
    int64_t now = gm_wall_ms();
    if (rc == 0 && now - p->last_compact_ms >= p->o.compact_every_ms) {
        p->last_compact_ms = now;
        if (gm_ledger_compact(p->o.ledger, now, &cp.ledger_generation, &cp.ledger_size, err, errlen) == 0 &&
            gm_checkpoint_save(p->o.checkpoint_dir, &cp, err, errlen) == 0)
            gm_ledger_drop_old(p->o.ledger);
        else
            GM_WARN("pipeline", "ledger compaction failed: %s", err);
    }
    gm_checkpoint_clear(&cp);
    if (rc == 0) {
        gm_spool_release(p->o.spool, p->pos, p->since_checkpoint, now);
        p->since_checkpoint = 0;
        p->moved_since_checkpoint = 0;
        p->last_checkpoint_ms = now;
        atomic_fetch_add_explicit(&p->o.processor->metrics->checkpoints, 1, memory_order_relaxed);
    }
    return rc;
}

/* One pass: read a batch, and checkpoint when one is due (or `force`).
 * Returns 1 when it read something, 0 when there was nothing, -1 on an error
 * (to back off). */
static int pass(gm_pipeline_t *p, int force)
{
    char err[512];
    p->failed = 0;
    gm_spool_pos_t before = p->pos;
    long n = gm_spool_read(p->o.spool, &p->pos, p->o.batch, on_entry, p, err, sizeof(err));
    if (n < 0) {
        GM_ERROR("pipeline", "reading the spool: %s", err);
        return -1;
    }
    p->processed += (uint64_t)n;
    p->since_checkpoint += (uint64_t)n;
    int moved = p->pos.segment != before.segment || p->pos.offset != before.offset;
    p->moved_since_checkpoint |= moved;
    int due = force || p->failed || p->since_checkpoint >= p->o.batch ||
              gm_wall_ms() - p->last_checkpoint_ms >= CHECKPOINT_INTERVAL_MS;
    if (p->moved_since_checkpoint && due && checkpoint(p, err, sizeof(err)) != 0) {
        GM_ERROR("pipeline", "checkpoint: %s", err);
        return -1;
    }
    return p->failed ? -1 : moved;
}

static void *pipeline_main(void *arg)
{
    gm_pipeline_t *p = arg;
    pthread_setname_np(pthread_self(), "gm-pipeline");
    int backoff = 0;
    while (!atomic_load(&p->stopping)) {
        int r = pass(p, 0);
        if (r < 0) {
            atomic_fetch_add_explicit(&p->o.processor->metrics->process_retries, 1, memory_order_relaxed);
            backoff = backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2) : BACKOFF_MIN_MS;
            for (int waited = 0; waited < backoff && !atomic_load(&p->stopping); waited += 50)
                usleep(50 * 1000);
            continue;
        }
        backoff = 0;
        if (r == 0) {
            /* Idle: wait for more, but not past the next checkpoint due. */
            int64_t wait = p->moved_since_checkpoint
                               ? CHECKPOINT_INTERVAL_MS - (gm_wall_ms() - p->last_checkpoint_ms)
                               : 500;
            gm_spool_wait(p->o.spool, p->pos, wait < 1 ? 1 : (int)wait);
        }
    }
    /* The spool has stopped appending and synced its last frames: take
     * them, unless the sink is refusing (they stay spooled for next start). */
    for (int i = 0; i < 1000; i++)
        if (pass(p, 1) <= 0)
            break;
    return NULL;
}

gm_pipeline_t *gm_pipeline_start(const gm_pipeline_opts_t *opts, const gm_checkpoint_t *from, char *err,
                                 size_t errlen)
{
    gm_pipeline_t *p = gm_calloc(1, sizeof(*p));
    p->o = *opts;
    p->pos = from->spool;
    p->processed = from->processed;
    p->last_compact_ms = p->last_checkpoint_ms = gm_wall_ms();
    if (pthread_create(&p->thread, NULL, pipeline_main, p) != 0) {
        snprintf(err, errlen, "cannot start the pipeline thread");
        free(p);
        return NULL;
    }
    return p;
}

void gm_pipeline_stop(gm_pipeline_t *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stopping, 1);
    gm_spool_wake(p->o.spool);
    pthread_join(p->thread, NULL);
    free(p);
}
