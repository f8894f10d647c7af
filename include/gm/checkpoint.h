/* gm_checkpoint: the one durable statement of how far processing got.
 *
 * It ties together the spool position (everything before it is processed),
 * the ledger log's (generation, size) and the sink's own mark, all taken at
 * the same moment, so that after a crash the three roll back to the same
 * point and the frames after it are processed again exactly once.
 *
 * File: DIR/checkpoint.json, replaced atomically (write a temporary file,
 * fsync it, rename it over, fsync the directory). Readable by operators.
 *
 * Ownership: gm_checkpoint_t owns sink_mark (a jansson reference, may be
 * NULL); release with gm_checkpoint_clear. */
#ifndef GM_CHECKPOINT_H
#define GM_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gm/spool.h"

typedef struct {
    gm_spool_pos_t spool;
    uint64_t ledger_generation;
    uint64_t ledger_size;
    uint64_t processed; /* frames processed since the spool was created, for operators */
    json_t *sink_mark;  /* the sink's opaque mark; NULL = nothing to roll back to */
} gm_checkpoint_t;

/* Loads DIR/checkpoint.json. Returns 1 when there is none (a new spool:
 * *cp is the start), 0 when loaded, -1 on an unreadable or invalid file
 * (never guessed around: refusing to start beats counting twice). */
int gm_checkpoint_load(const char *dir, gm_checkpoint_t *cp, char *err, size_t errlen);

int gm_checkpoint_save(const char *dir, const gm_checkpoint_t *cp, char *err, size_t errlen);

void gm_checkpoint_clear(gm_checkpoint_t *cp);

#endif
