/* gm_inspect: what the store on disk says, for operators.
 *
 * Reads the checkpoint, the spool segments (counting the frames not yet
 * processed), the ledger log and, for the CloudWatch sinks, the outbox
 * cursor, the requests in flight and the dead letters. Read-only and
 * lock-free: safe beside a running server, whose figures it may trail by a
 * checkpoint. */
#ifndef GM_INSPECT_H
#define GM_INSPECT_H

#include <stddef.h>

#include <jansson.h>

#include "gm/config.h"

/* Returns a new JSON object, or NULL with the reason. */
json_t *gm_inspect(const gm_config_t *cfg, char *err, size_t errlen);

#endif
