/* gm_record: the run and job records the service derives from payloads,
 * and the pure function that derives them (gm_event_*).
 *
 * A record is built from one workflow_run or workflow_job payload whose
 * action is "completed". It knows nothing of HTTP, the spool or sinks.
 *
 * Ownership: a gm_record_t owns every string it points to; release it with
 * gm_record_clear(). Thread: everything here is pure and reentrant. */
#ifndef GM_RECORD_H
#define GM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { GM_RECORD_RUN = 1, GM_RECORD_JOB = 2 } gm_record_kind_t;

typedef enum {
    GM_RUNNER_UNKNOWN = 0, /* no labels to tell: billed as 0, counted */
    GM_RUNNER_SELF_HOSTED,
    GM_RUNNER_LINUX,   /* GitHub-hosted, multiplier 1 */
    GM_RUNNER_WINDOWS, /* GitHub-hosted, multiplier 2 */
    GM_RUNNER_MACOS,   /* GitHub-hosted, multiplier 10 */
} gm_runner_os_t;

/* Things that were wrong in a payload and were clamped or defaulted rather
 * than refused. Each is counted in /metrics and named in the log. */
enum {
    GM_ANOMALY_START_BEFORE_CREATED = 1u << 0, /* queue time clamped to 0 */
    GM_ANOMALY_END_BEFORE_START = 1u << 1,     /* duration clamped to 0 */
    GM_ANOMALY_MISSING_START = 1u << 2,        /* no start time: start = created, queue = 0 */
    GM_ANOMALY_MISSING_CONCLUSION = 1u << 3,   /* conclusion null: "unknown" */
    GM_ANOMALY_STATUS_NOT_COMPLETED = 1u << 4, /* action completed, status says otherwise */
};
#define GM_ANOMALY_COUNT 5
/* Snake-case name of anomaly bit i (0-based), for logs and metric labels. */
const char *gm_anomaly_name(unsigned bit_index);

typedef struct {
    gm_record_kind_t kind;

    /* Both kinds. Strings are never NULL unless stated. */
    char *repository;  /* "owner/name" */
    char *workflow;    /* workflow name; "unknown" when absent */
    int64_t run_id;
    int64_t run_attempt; /* >= 1 */
    char *conclusion;  /* "success", "failure", ...; "unknown" when null */
    char *head_branch; /* NULL when the payload has none */
    char *html_url;    /* NULL when absent */

    /* Epoch milliseconds as given by the payload (after clamping). */
    int64_t created_at_ms;
    int64_t started_at_ms;  /* run: run_started_at; job: started_at */
    int64_t completed_at_ms; /* run: updated_at; job: completed_at */

    double duration_s; /* completed - started, >= 0 */
    double queue_s;    /* started - created, >= 0 */

    /* Runs only. */
    int64_t workflow_id;
    int64_t run_number;
    char *event; /* the trigger: "push", "pull_request", ... */

    /* Jobs only. */
    int64_t job_id;
    char *job_name;
    char *runner_name;  /* NULL when the payload has none */
    char *runner_group; /* NULL when the payload has none */
    char **labels;
    size_t label_count;
    gm_runner_os_t runner_os;
    int64_t billable_minutes;

    unsigned anomalies; /* GM_ANOMALY_* bits */
} gm_record_t;

typedef enum {
    GM_EVENT_RECORD = 0,   /* *out holds a record */
    GM_EVENT_NO_RECORD,    /* well-formed, but no record is due (not completed, or skipped as untidy: see reason) */
    GM_EVENT_INVALID,      /* not the shape the event needs: a 400 */
} gm_event_result_t;

/* Derives a record from a parsed payload (a jansson json_t *, passed as
 * void * so that this header does not pull jansson into every user).
 * `event` is the X-GitHub-Event value ("workflow_run" / "workflow_job").
 * On GM_EVENT_RECORD, *out is filled and must be cleared by the caller.
 * On GM_EVENT_NO_RECORD and GM_EVENT_INVALID, `reason` says why (short,
 * never containing payload text beyond field names). */
gm_event_result_t gm_event_to_record(const char *event, const void *payload_json, gm_record_t *out, char *reason,
                                     size_t reasonlen);

/* The "action" of a parsed payload, or NULL. Borrowed from the JSON. */
const char *gm_event_action(const void *payload_json);
/* The repository full_name of a parsed payload, or NULL. Borrowed. */
const char *gm_event_repository(const void *payload_json);

/* ISO 8601 / RFC 3339 timestamp ("2021-08-05T10:33:58Z", with optional
 * fraction and numeric offset) → epoch milliseconds. Returns 0 / -1. */
int gm_time_parse_iso8601(const char *s, int64_t *out_ms);
/* Epoch milliseconds → "2021-08-05T10:33:58Z" (or with ".123" when the
 * milliseconds are not zero). buf must hold 32 bytes. */
void gm_time_format_iso8601(int64_t ms, char *buf, size_t buflen);

/* Whole minutes rounded up, times the multiplier of the runner OS; 0 for
 * self-hosted, unknown and skipped. */
int64_t gm_billable_minutes(double duration_s, gm_runner_os_t os, const char *conclusion);

/* Runner OS from labels (and runner group name for hosted runners). */
gm_runner_os_t gm_runner_os_from(const char *const *labels, size_t count, const char *runner_group);
const char *gm_runner_os_name(gm_runner_os_t os);

void gm_record_clear(gm_record_t *r);

#endif
