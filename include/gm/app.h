/* gm_app: the process's one context.
 *
 * Built by main before any thread starts, torn down after every thread has
 * stopped. Handlers and workers borrow it; only the atomic fields change
 * while threads run. */
#ifndef GM_APP_H
#define GM_APP_H

#include <stdatomic.h>

#include "gm/config.h"
#include "gm/metrics.h"
#include "gm/processor.h"
#include "gm/sink.h"

typedef struct {
    const gm_config_t *cfg;  /* owned by main */
    gm_sink_t *sink;         /* owned by main */
    gm_processor_t processor;
    gm_metrics_t metrics;
    _Atomic unsigned loops_listening; /* event loops whose listeners are up */
    unsigned loops_total;
    _Atomic int stopping;             /* set on SIGTERM/SIGINT: /readyz fails, listeners close */
} gm_app_t;

#endif
