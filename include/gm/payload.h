/* gm_payload: a webhook body → the small JSON tree the service uses.
 *
 * GitHub payloads are 5-25 KB, of which the service reads some thirty
 * fields. jansson (Debian's 2.14) needs about 500 µs to build a tree of a
 * 20 KB workflow_run payload; yajl's event parser checks the same bytes in
 * about 50 µs. So the whole body is validated by yajl (well-formed JSON,
 * valid UTF-8, numbers that fit, bounded nesting) while a jansson tree is
 * built only for the paths listed in payload.c: everything gm_event_* and
 * the log line read. A value at a kept path is kept whatever its type, so
 * gm_event_to_record still sees (and refuses) a wrong type.
 *
 * Pure and reentrant. */
#ifndef GM_PAYLOAD_H
#define GM_PAYLOAD_H

#include <stddef.h>

#include <jansson.h>

#define GM_PAYLOAD_MAX_DEPTH 64 /* GitHub's payloads nest about 6 deep */

/* Returns a new reference to the filtered tree (an object), or NULL with
 * a short reason that quotes no payload bytes ("invalid JSON at byte 123:
 * ...", "nesting deeper than 64", "duplicate key", "not a JSON object"). */
json_t *gm_payload_parse(const void *text, size_t len, char *reason, size_t reasonlen);

#endif
