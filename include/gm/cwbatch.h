/* gm_cw: EMF lines → CloudWatch PutMetricData requests, at the lowest
 * request count the service limits allow.
 *
 * Each EMF line (gm_emf_format's output: _aws.CloudWatchMetrics with one
 * directive, dimension values and metric values at the root) becomes one
 * datum per metric per dimension set, exactly what CloudWatch would extract
 * from the line in a log group. Datums for the same metric, dimension values and unit in
 * the same minute are merged into one datum with Values + Counts (identical
 * values counted, not repeated): CloudWatch keeps one-minute resolution
 * for these metrics anyway, so nothing is lost, and a busy repository costs
 * one datum per minute instead of one per run. A request holds at most
 * 1,000 datums and 1 MB of JSON; a datum at most 150 distinct values and 30
 * dimensions; timestamps must lie within CloudWatch's window (two weeks back,
 * two hours ahead) — datums outside it are returned as rejected, never sent.
 *
 * Pure: no I/O. Not thread-safe (one owner). Ownership: the batcher and
 * every string it returns belong to the caller (free / gm_cw_free). */
#ifndef GM_CWBATCH_H
#define GM_CWBATCH_H

#include <stddef.h>
#include <stdint.h>


#define GM_CW_MAX_DATUMS 1000
#define GM_CW_MAX_BYTES 1000000 /* keep under CloudWatch's 1 MB with margin for headers */
#define GM_CW_MAX_VALUES 150
#define GM_CW_MAX_DIMENSIONS 30
#define GM_CW_MAX_AGE_MS (14LL * 24 * 3600 * 1000 - 3600 * 1000) /* an hour inside two weeks */
#define GM_CW_MAX_AHEAD_MS (2LL * 3600 * 1000 - 5 * 60 * 1000)

typedef struct gm_cw gm_cw_t;

gm_cw_t *gm_cw_new(const char *namespace_);
void gm_cw_free(gm_cw_t *cw);

/* Adds an EMF line's datums. Returns 0, or -1 when the line is not EMF this
 * module understands (then nothing was added and `reason` says why). Datums
 * whose timestamp CloudWatch would refuse (older than GM_CW_MAX_AGE_MS or
 * further ahead than GM_CW_MAX_AHEAD_MS of now_ms) are not added: *rejected
 * counts them, and the caller sets the line aside (dead-letter file). */
int gm_cw_add(gm_cw_t *cw, const char *emf_line, size_t len, int64_t now_ms, size_t *rejected, char *reason,
              size_t reasonlen);

/* Datums waiting (after merging). */
size_t gm_cw_pending(const gm_cw_t *cw);

/* Takes up to one request's worth of datums off the batcher, as the JSON
 * body of a PutMetricData call (newly allocated; NULL when nothing is
 * pending). *datums is the number of datums in it, *values the number of
 * samples they carry (sum of Counts). */
char *gm_cw_take_request(gm_cw_t *cw, size_t *datums, size_t *values);

/* Splits a request body into two halves (each a valid request), to find the
 * datum CloudWatch refuses by bisection. Returns 0, or -1 when it holds a
 * single datum. The halves are newly allocated. */
int gm_cw_split_request(const char *body, char **first, char **second);

/* The fewest PutMetricData requests that could carry `datums` datums of the
 * given average JSON size: the lower bound the benchmark prints. */
size_t gm_cw_lower_bound(size_t datums, size_t avg_datum_bytes);

#endif
