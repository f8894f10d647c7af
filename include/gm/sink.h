/* gm_sink: where records go once derived.
 *
 * A sink receives each record with its EMF line already rendered (every
 * sink can use the same line: the file sink writes it, CloudWatch Logs
 * sends it, PutMetricData re-reads the record). Sinks are called from
 * several threads; each implementation does its own locking.
 *
 * Ownership: gm_sink_open returns a sink owned by the caller, released with
 * gm_sink_close(), which flushes first. */
#ifndef GM_SINK_H
#define GM_SINK_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "gm/config.h"
#include "gm/record.h"

typedef struct gm_sink gm_sink_t;

typedef struct {
    const char *name;
    /* Writes one record. Returns 0, or -1 with the reason in err. */
    int (*write)(gm_sink_t *self, const gm_record_t *record, const char *emf_line, size_t len, char *err,
                 size_t errlen);
    /* Pushes buffered records out. Returns 0 / -1. */
    int (*flush)(gm_sink_t *self, char *err, size_t errlen);
    /* Readiness: 0 when the sink can take records now; 1 when it can but is
     * degraded (a backlog waiting for AWS), with why; -1 when it cannot. */
    int (*check)(gm_sink_t *self, char *err, size_t errlen);
    /* Makes everything written so far durable and returns a mark of that
     * point (a new JSON object the caller owns), or NULL with the reason.
     * The pipeline stores the mark in its checkpoint. */
    json_t *(*commit)(gm_sink_t *self, char *err, size_t errlen);
    /* At start, before the first write: discards what was written after the
     * mark, so that records processed again after a crash are not doubled.
     * Returns 0 (with the bytes or records discarded in *dropped) or -1. */
    int (*rollback)(gm_sink_t *self, const json_t *mark, uint64_t *dropped, char *err, size_t errlen);
    /* The checkpoint holding `mark` is saved: what the mark covers will never
     * be produced again, so it may leave the process (sinks that forward
     * records send nothing past the last confirmed mark). May be NULL. */
    void (*confirm)(gm_sink_t *self, const json_t *mark);
    /* Appends the sink's own Prometheus series. May be NULL. */
    void (*metrics)(gm_sink_t *self, FILE *f);
    /* Reopens files after log rotation (SIGHUP). May be NULL. */
    int (*reopen)(gm_sink_t *self, char *err, size_t errlen);
    void (*destroy)(gm_sink_t *self);
} gm_sink_ops_t;

struct gm_sink {
    const gm_sink_ops_t *ops;
};

/* Opens the sink that cfg->publish names. Returns NULL with the reason. */
gm_sink_t *gm_sink_open(const gm_config_t *cfg, char *err, size_t errlen);
void gm_sink_close(gm_sink_t *sink);

static inline int gm_sink_write(gm_sink_t *s, const gm_record_t *r, const char *line, size_t len, char *err,
                                size_t errlen)
{
    return s->ops->write(s, r, line, len, err, errlen);
}
static inline int gm_sink_check(gm_sink_t *s, char *err, size_t errlen)
{
    return s->ops->check(s, err, errlen);
}

/* Individual sinks, for gm_sink_open and tests. */
gm_sink_t *gm_sink_emf_file_open(const char *path, char *err, size_t errlen);

#endif
