/* Private to the batcher (publisher/cwbatch*.c): the datum store shared by
 * the EMF-line reader (cwbatch_emf.c) and the request builder (cwbatch.c). */
#ifndef GM_CWBATCH_INTERNAL_H
#define GM_CWBATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm/cwbatch.h"

#define MINUTE_MS 60000
#define NAME_MAX_LEN 255                   /* metric, dimension name and namespace */
#define DIM_VALUE_MAX_LEN 1024             /* dimension value */
#define TIMESTAMP_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define DUMP_FLAGS(prec) (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(prec))

typedef struct {
    uint64_t hash;     /* of ident and minute */
    int64_t minute_ms; /* _aws.Timestamp truncated to the minute */
    uint64_t seq;      /* arrival order: ties between equal minutes */
    bool open;         /* in the table: still takes new values */
    size_t ndims;
    char *ident; /* "metric\0unit\0name1\0value1\0..." */
    size_t identlen;
    size_t n, cap; /* distinct values held / allocated */
    double *values;
    uint64_t *counts;
} cw_datum_t;

typedef struct {
    char *name;
    cw_datum_t **slots; /* hash table of the open datums; NULL = empty */
    size_t slot_mask;   /* table size − 1 (a power of two) */
    size_t slot_used;
    cw_datum_t **queue; /* pending datums: queue[head .. head+count) */
    size_t head, count, alloc;
    bool sorted; /* queue in (minute, seq) order */
} cw_ns_t;

struct gm_cw {
    cw_ns_t **ns;
    size_t nns;
    size_t pending; /* datums over all namespaces */
    uint64_t seq;
};

typedef struct {
    char *p;
    size_t len, cap;
} gm_cw_buf_t;

void gm_cw_buf_add(gm_cw_buf_t *b, const void *s, size_t n);
/* Appends s with its NUL: identity keys are NUL-separated. */
void gm_cw_buf_str(gm_cw_buf_t *b, const char *s);
/* The namespace's entry, created when missing. */
cw_ns_t *gm_cw_ns_get(gm_cw_t *cw, const char *name);
/* One sample for the datum of this identity and minute: merged into the
 * open datum, or a new one when there is none or it is full. */
void gm_cw_add_sample(gm_cw_t *cw, cw_ns_t *ns, const char *ident, size_t len, size_t ndims, int64_t minute_ms,
                      double v);

#endif
