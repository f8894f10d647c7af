/* The process context: opening the store in the right order, recovering it
 * after a crash, and starting and stopping its threads. */
#include "gm/app.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/checkpoint.h"
#include "gm/dynamodb.h"
#include "gm/log.h"
#include "gm/pipeline.h"
#include "gm/store.h"

#define PIPELINE_BATCH 1000
#define LEDGER_COMPACT_EVERY_MS (60 * 60 * 1000)
#define FRAME_OVERHEAD 1024 /* entry header, event and delivery id around a body */

/* Frames past the checkpoint will be processed again; their delivery ids
 * must be known before the first new delivery arrives. */
static void claim_recovered(void *ctx, const gm_spool_entry_t *e)
{
    gm_ledger_t *ledger = ctx;
    gm_ledger_claim(ledger, gm_ledger_key_delivery(e->delivery, e->delivery_len), e->received_at_ms);
}

/* A new spool: record where the sink stands before anything is processed.
 * Without it, a crash before the pipeline's first checkpoint would find no
 * mark to cut the sink back to, and the replay would write its records a
 * second time. */
static int first_checkpoint(gm_app_t *app, gm_checkpoint_t *cp, char *err, size_t errlen)
{
    return gm_pipeline_commit(app->sink, app->ledger, app->cfg->spool.dir, cp, err, errlen);
}

/* The processor's view of the DynamoDB ledger (pipeline thread only). */
static int shared_claim(void *ctx, const char *key, int64_t now, char *err, size_t errlen)
{
    gm_ddb_claim_t c = gm_ddb_claim(ctx, key, now, err, errlen);
    return c == GM_DDB_CLAIMED ? 0 : c == GM_DDB_TAKEN ? 1 : -1;
}

static int open_shared(gm_app_t *app, char *err, size_t errlen)
{
    const gm_config_t *cfg = app->cfg;
    if (gm_store_node_id(cfg->spool.dir, app->node_id, err, errlen) != 0)
        return -1;
    gm_ddb_opts_t o = {
        .table = cfg->ledger.table,
        .region = cfg->ledger.region,
        .endpoint = cfg->ledger.endpoint,
        .owner = app->node_id,
        .ttl_s = (int64_t)(cfg->spool.ledger_retention_ms / 1000),
    };
    app->shared = gm_ddb_open(&o, err, errlen);
    if (app->shared == NULL)
        return -1;
    app->processor.shared_claim = shared_claim;
    app->processor.shared_ctx = app->shared;
    return 0;
}

gm_app_t *gm_app_open(const gm_config_t *cfg, char *err, size_t errlen)
{
    gm_app_t *app = gm_calloc(1, sizeof(*app));
    app->cfg = cfg;
    app->lock_fd = -1;
    gm_metrics_init(&app->metrics);
    gm_checkpoint_t cp = {0};
    if ((app->lock_fd = gm_store_lock(cfg->spool.dir, err, errlen)) < 0)
        goto Error;
    int fresh = gm_checkpoint_load(cfg->spool.dir, &cp, err, errlen);
    if (fresh < 0)
        goto Error;
    if ((app->sink = gm_sink_open(cfg, err, errlen)) == NULL)
        goto Error;
    uint64_t dropped = 0;
    if (app->sink->ops->rollback(app->sink, cp.sink_mark, &dropped, err, errlen) != 0)
        goto Error;
    if (dropped > 0)
        GM_WARN("app", "%s: cut %" PRIu64 " bytes written after the last checkpoint; they are processed again",
                app->sink->ops->name, dropped);

    gm_ledger_opts_t lo = {.retention_ms = (int64_t)cfg->spool.ledger_retention_ms,
                           .max_entries = cfg->spool.ledger_max_entries};
    app->ledger = gm_ledger_open(cfg->spool.dir, &lo, cp.ledger_generation, fresh ? UINT64_MAX : cp.ledger_size,
                                 gm_wall_ms(), err, errlen);
    if (app->ledger == NULL)
        goto Error;

    gm_spool_opts_t so = {
        .dir = cfg->spool.dir,
        .segment_bytes = cfg->spool.segment_bytes,
        .min_free_bytes = cfg->spool.min_free,
        /* Kept free below min_free whatever it is set to: the ledger log and
         * the checkpoint live on the same file system, and if appends took the
         * last page no checkpoint could be written, so no processed segment
         * could be deleted, and the spool would never make room again. */
        .reserve_bytes = 1u << 20,
        .max_record = (uint32_t)(cfg->webhook.max_body + FRAME_OVERHEAD),
        .retention_ms = (int64_t)cfg->spool.retention_ms,
    };
    app->spool = gm_spool_open(&so, cp.spool, claim_recovered, app->ledger, err, errlen);
    if (app->spool == NULL)
        goto Error;
    gm_spool_stats_t st;
    gm_spool_stats(app->spool, &st);
    if (st.recovered > 0 || st.torn_bytes > 0 || st.corrupt > 0)
        GM_WARN("app",
                "spool recovery: %" PRIu64 " deliveries to process again, %" PRIu64 " torn bytes cut, %" PRIu64
                " corrupt frames skipped",
                st.recovered, st.torn_bytes, st.corrupt);
    app->processor = (gm_processor_t){.cfg = cfg, .sink = app->sink, .metrics = &app->metrics, .ledger = app->ledger};
    if (cfg->ledger.backend == GM_LEDGER_DYNAMODB && open_shared(app, err, errlen) != 0)
        goto Error;
    if (fresh && first_checkpoint(app, &cp, err, errlen) != 0)
        goto Error;
    app->start_checkpoint = cp;
    return app;
Error:
    gm_checkpoint_clear(&cp);
    gm_app_close(app);
    return NULL;
}

int gm_app_start(gm_app_t *app, char *err, size_t errlen)
{
    if (gm_spool_start(app->spool, err, errlen) != 0)
        return -1;
    gm_pipeline_opts_t po = {
        .spool = app->spool,
        .ledger = app->ledger,
        .processor = &app->processor,
        .checkpoint_dir = app->cfg->spool.dir,
        .batch = PIPELINE_BATCH,
        .compact_every_ms = LEDGER_COMPACT_EVERY_MS,
    };
    app->pipeline = gm_pipeline_start(&po, &app->start_checkpoint, err, errlen);
    return app->pipeline != NULL ? 0 : -1;
}

void gm_app_stop(gm_app_t *app)
{
    if (app->spool != NULL)
        gm_spool_stop(app->spool);
    gm_pipeline_stop(app->pipeline);
    app->pipeline = NULL;
}

void gm_app_close(gm_app_t *app)
{
    if (app == NULL)
        return;
    gm_app_stop(app);
    gm_spool_close(app->spool);
    gm_ledger_close(app->ledger);
    gm_ddb_close(app->shared);
    gm_sink_close(app->sink);
    if (app->lock_fd >= 0)
        close(app->lock_fd);
    gm_checkpoint_clear(&app->start_checkpoint);
    free(app);
}
