/* gm_pipeline: the processing thread between the spool and the sink.
 *
 * It reads synced spool frames in order, hands each to the processor
 * (derive, de-duplicate, write), and after each batch makes the result
 * durable as one checkpoint: sink mark, ledger log (generation, size) and
 * spool position together (gm_checkpoint.h). When the sink refuses a record
 * (disk full, an outage) the pipeline stops at that frame and retries it with
 * backoff: later frames wait, nothing is skipped.
 *
 * Thread: start/stop from the main thread; stop processes what is synced,
 * writes a last checkpoint and joins. Ownership: the pipeline borrows every
 * pointer in its options; gm_pipeline_stop frees the pipeline. */
#ifndef GM_PIPELINE_H
#define GM_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "gm/checkpoint.h"
#include "gm/ledger.h"
#include "gm/processor.h"
#include "gm/sink.h"
#include "gm/spool.h"

typedef struct gm_pipeline gm_pipeline_t;

typedef struct {
    gm_spool_t *spool;
    gm_ledger_t *ledger;
    gm_processor_t *processor;
    const char *checkpoint_dir;
    size_t batch;                  /* frames per checkpoint at most */
    int64_t compact_every_ms;      /* rewrite the ledger log this often */
} gm_pipeline_opts_t;

/* `from` is the checkpoint the spool and ledger were opened with (its
 * sink_mark is not used). */
gm_pipeline_t *gm_pipeline_start(const gm_pipeline_opts_t *opts, const gm_checkpoint_t *from, char *err,
                                 size_t errlen);
void gm_pipeline_stop(gm_pipeline_t *p);

/* One checkpoint, in the order durability needs: the sink's commit (its new
 * mark replaces cp->sink_mark), the ledger log's sync, the checkpoint file,
 * then the sink is told the mark is safe. cp's spool position and counters
 * are the caller's. Returns 0, or -1 with the reason (nothing confirmed). */
int gm_pipeline_commit(gm_sink_t *sink, gm_ledger_t *ledger, const char *dir, gm_checkpoint_t *cp, char *err,
                       size_t errlen);

#endif
