/* gm_app: the process's one context.
 *
 * Built by main before any thread starts, torn down after every thread has
 * stopped. Handlers and workers borrow it; only the atomic fields change
 * while threads run. */
#ifndef GM_APP_H
#define GM_APP_H

#include <stdatomic.h>

#include "gm/checkpoint.h"
#include "gm/config.h"
#include "gm/ledger.h"
#include "gm/metrics.h"
#include "gm/processor.h"
#include "gm/sink.h"
#include "gm/spool.h"

typedef struct {
    const gm_config_t *cfg;  /* borrowed from main */
    gm_sink_t *sink;         /* owned */
    gm_spool_t *spool;       /* owned */
    gm_ledger_t *ledger;     /* owned */
    struct gm_ddb *shared;   /* owned; the DynamoDB ledger, NULL with the embedded one alone */
    int lock_fd;             /* the store's lock (gm_store_lock), held until close */
    char node_id[33];        /* this store's name in the shared ledger */
    struct gm_pipeline *pipeline; /* owned */
    gm_checkpoint_t start_checkpoint; /* what the store was opened at */
    gm_processor_t processor;
    gm_metrics_t metrics;
    _Atomic unsigned loops_listening; /* event loops whose listeners are up */
    unsigned loops_total;
    _Atomic int stopping;             /* set on SIGTERM/SIGINT: /readyz fails, listeners close */
    /* Deliveries appended to the spool whose answer is not sent yet. A
     * stopping loop keeps running until it is 0: a sync report can only be
     * answered on its own loop, and must not find that loop's receiver gone. */
    _Atomic size_t inflight;
} gm_app_t;

/* Locks the store, opens the sink, the checkpoint, the ledger and the spool, rolling the sink
 * and the ledger back to the checkpoint and scanning the spool past it (the
 * recovery after a crash). Returns NULL with the reason. */
gm_app_t *gm_app_open(const gm_config_t *cfg, char *err, size_t errlen);

/* Starts the spool's sync thread and the pipeline. */
int gm_app_start(gm_app_t *app, char *err, size_t errlen);

/* After the server has stopped: last sync, then the pipeline drains what is
 * synced and writes its last checkpoint. */
void gm_app_stop(gm_app_t *app);

void gm_app_close(gm_app_t *app);

#endif
