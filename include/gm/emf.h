/* gm_emf: a record → one CloudWatch Embedded Metric Format JSON line.
 *
 * The metric names, units and dimension names here are the contract that
 * the dashboards and the CloudWatch publisher rely on (README: "Metrics").
 * Pure: no I/O, reentrant. */
#ifndef GM_EMF_H
#define GM_EMF_H

#include <stddef.h>
#include <stdint.h>

#include "gm/config.h"
#include "gm/record.h"

typedef struct {
    const char *namespace_;
    const gm_dimset_t *dimensions; /* may name Repository, Workflow, Team */
    size_t dimension_count;
    const char *team;        /* NULL when the repository has no team */
    bool teams_configured;   /* true: an unmapped repository gets Team "unassigned" */
    const char *delivery_id; /* NULL when there is none */
    bool backfilled;
} gm_emf_opts_t;

/* Returns a newly allocated NUL-terminated JSON object without a trailing
 * newline; the caller frees it. NULL only if jansson cannot allocate. Dimension sets naming Team are left out when
 * no team applies. */
char *gm_emf_format(const gm_record_t *r, const gm_emf_opts_t *opts);

#endif
