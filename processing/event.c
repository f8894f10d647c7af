/* gm_event: a parsed workflow_run / workflow_job payload → a gm_record_t.
 *
 * Decisions (the spec is issue 2, "Records and durations"; the payload facts
 * are in the GitHub reference notes):
 *
 * Outcome
 * - *out is zeroed first; the caller clears it whatever the result.
 * - An event other than workflow_run / workflow_job → NO_RECORD.
 * - INVALID (the webhook answers 400) when the payload is not an object,
 *   `action` is missing or not a string, or `workflow_run` / `workflow_job`
 *   is missing or not an object. These are checked for every action.
 * - Only action "completed" makes a record; any other action → NO_RECORD.
 *   The full field checks below run only for completed deliveries.
 * - Every field a completed delivery uses is type-checked, and one of the
 *   wrong type makes the delivery INVALID (see the table below). JSON null
 *   counts as "absent" for every optional field. Integers must be JSON
 *   integers (1 and not 1.0 or "1"). Timestamps must parse strictly (see
 *   time.c); a string that does not is INVALID, not absent.
 * - Checks come before the status rule, so a malformed payload is a 400
 *   whatever its status.
 * - A completed delivery whose `status` is present and not "completed" (a
 *   real example: status "queued", conclusion null) → NO_RECORD, with
 *   GM_ANOMALY_STATUS_NOT_COMPLETED set in out->anomalies so the caller can
 *   count it. A null or missing status is accepted.
 * - `reason` names fields only. Action and status values are echoed only
 *   when they are one of GitHub's documented values, so no payload text
 *   reaches a log through it.
 *
 * Fields (R = required, "→" = value when absent or null)
 *   repository.full_name        string, R, not empty (it is a dimension)
 *   workflow_run.id             integer > 0, R
 *   workflow_run.run_attempt    integer >= 1 → 1
 *   workflow_run.run_number     integer >= 1 → 0 (left out of the EMF)
 *   workflow_run.workflow_id    integer > 0 → 0 (left out of the EMF)
 *   workflow_run.name           string → workflow.name → "unknown"; "" counts
 *                               as absent (real examples send "", and an empty
 *                               string cannot be a CloudWatch dimension value)
 *   workflow.name (top level)   `workflow` object|null, its name string|null;
 *                               only used as the fallback above
 *   workflow_run.event          string → "unknown" ("" too)
 *   workflow_run.created_at     timestamp, R
 *   workflow_run.run_started_at timestamp → missing start (below)
 *   workflow_run.updated_at     timestamp, R: the completion time
 *   workflow_job.id, .run_id    integer > 0, R
 *   workflow_job.run_attempt    integer >= 1 → 1
 *   workflow_job.name           string → "unknown" ("" too)
 *   workflow_job.workflow_name  string → "unknown" ("" too)
 *   workflow_job.created_at     timestamp → started_at (→ completed_at); queue 0,
 *                               no anomaly. All three absent → INVALID.
 *   workflow_job.started_at     timestamp → missing start (below)
 *   workflow_job.completed_at   timestamp → completed = started, duration 0,
 *                               GM_ANOMALY_STATUS_NOT_COMPLETED
 *   workflow_job.labels         array of strings → empty; a non-string
 *                               element is INVALID
 *   workflow_job.runner_name, .runner_group_name   string → NULL
 *   both: head_branch, html_url string → NULL; status string → accepted;
 *         conclusion string → "unknown" + GM_ANOMALY_MISSING_CONCLUSION
 *
 * Durations (all in the payload's own clock; whole seconds in practice)
 *   run: duration = updated_at − run_started_at, queue = run_started_at − created_at.
 *        On a re-run, run_started_at is the start of the latest attempt while
 *        created_at stays the run's first creation: the duration is that
 *        attempt's, and the "queue delay" of attempt > 1 also holds the time
 *        before the re-run was asked for. That is all the payload offers;
 *        RunAttempt is a property so that re-runs can be told apart.
 *   job: duration = completed_at − started_at, queue = started_at − created_at.
 *   Missing start: start = created, queue 0, GM_ANOMALY_MISSING_START.
 *   Start before created: created is moved back to start (so the duration,
 *     which is the better-known number, is kept), queue 0,
 *     GM_ANOMALY_START_BEFORE_CREATED.
 *   End before start: completed is moved up to start, duration 0,
 *     GM_ANOMALY_END_BEFORE_START.
 *   So a record always holds created <= started <= completed, and
 *   queue_s / duration_s are exactly the differences of its timestamps.
 *
 * Billing (jobs): ceil(duration / 60 s) × 1 (Linux), 2 (Windows), 10 (macOS);
 *   0 for self-hosted and unknown runners, for "skipped" jobs and for 0 s.
 *   Runner OS from the labels: any "self-hosted" label wins; otherwise the
 *   first label starting with ubuntu/linux, windows or macos (ASCII case-
 *   insensitive). The runner group is not used yet: GitHub's hosted group is
 *   "GitHub Actions" whatever the OS, and larger-runner groups are named by
 *   their owners. */
#include "gm/record.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gm/alloc.h"

/* ---------------------------------------------------------------- names */

static const char *const anomaly_names[GM_ANOMALY_COUNT] = {
    "start_before_created", "end_before_start", "missing_start", "missing_conclusion", "status_not_completed",
};

const char *gm_anomaly_name(unsigned bit_index)
{
    return bit_index < GM_ANOMALY_COUNT ? anomaly_names[bit_index] : NULL;
}

const char *gm_runner_os_name(gm_runner_os_t os)
{
    switch (os) {
    case GM_RUNNER_SELF_HOSTED:
        return "self-hosted";
    case GM_RUNNER_LINUX:
        return "linux";
    case GM_RUNNER_WINDOWS:
        return "windows";
    case GM_RUNNER_MACOS:
        return "macos";
    case GM_RUNNER_UNKNOWN:
    default:
        return "unknown";
    }
}

/* ASCII-only, so that the locale cannot change the answer. */
static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (*s == '\0' || lower((unsigned char)*s) != *prefix)
            return false;
    return true;
}

static bool equals_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return false;
    return *a == *b;
}

gm_runner_os_t gm_runner_os_from(const char *const *labels, size_t count, const char *runner_group)
{
    (void)runner_group; /* see the top of the file */
    if (labels == NULL)
        return GM_RUNNER_UNKNOWN;
    for (size_t i = 0; i < count; i++)
        if (labels[i] != NULL && equals_ci(labels[i], "self-hosted"))
            return GM_RUNNER_SELF_HOSTED;
    for (size_t i = 0; i < count; i++) {
        const char *l = labels[i];
        if (l == NULL)
            continue;
        if (has_prefix_ci(l, "ubuntu") || has_prefix_ci(l, "linux"))
            return GM_RUNNER_LINUX;
        if (has_prefix_ci(l, "windows"))
            return GM_RUNNER_WINDOWS;
        if (has_prefix_ci(l, "macos"))
            return GM_RUNNER_MACOS;
    }
    return GM_RUNNER_UNKNOWN;
}

int64_t gm_billable_minutes(double duration_s, gm_runner_os_t os, const char *conclusion)
{
    int64_t mult;
    switch (os) {
    case GM_RUNNER_LINUX:
        mult = 1;
        break;
    case GM_RUNNER_WINDOWS:
        mult = 2;
        break;
    case GM_RUNNER_MACOS:
        mult = 10;
        break;
    default:
        return 0;
    }
    if (conclusion != NULL && strcmp(conclusion, "skipped") == 0)
        return 0;
    if (!(duration_s > 0)) /* also NaN */
        return 0;
    double minutes = ceil(duration_s / 60.0);
    if (minutes > 1e15) /* keeps the conversion defined; ~2 billion years */
        minutes = 1e15;
    return (int64_t)minutes * mult;
}

void gm_record_clear(gm_record_t *r)
{
    if (r == NULL)
        return;
    free(r->repository);
    free(r->workflow);
    free(r->conclusion);
    free(r->head_branch);
    free(r->html_url);
    free(r->event);
    free(r->job_name);
    free(r->runner_name);
    free(r->runner_group);
    for (size_t i = 0; i < r->label_count; i++)
        free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ accessors */

const char *gm_event_action(const void *payload_json)
{
    const json_t *root = payload_json;
    if (!json_is_object(root))
        return NULL;
    return json_string_value(json_object_get(root, "action")); /* NULL unless a string */
}

const char *gm_event_repository(const void *payload_json)
{
    const json_t *root = payload_json;
    if (!json_is_object(root))
        return NULL;
    const json_t *repo = json_object_get(root, "repository");
    if (!json_is_object(repo))
        return NULL;
    return json_string_value(json_object_get(repo, "full_name"));
}

/* ------------------------------------------------------- field checking */

typedef struct {
    char *reason;
    size_t reasonlen;
} ctx_t;

static void say(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ctx_t *c, const char *fmt, ...)
{
    if (c->reason == NULL || c->reasonlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, c->reasonlen, fmt, ap);
    va_end(ap);
}

/* Returns s when it is one of the NULL-terminated list, else NULL: lets a
 * reason name a documented value without echoing arbitrary payload text. */
static const char *known(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return s;
    return NULL;
}

static const char *const known_actions[] = {"requested", "in_progress", "queued", "waiting", "pending", NULL};
static const char *const known_statuses[] = {"requested", "in_progress", "queued", "waiting", "pending", NULL};

/* Each getter: 0 when the field is acceptable (absent/null counts as absent
 * unless `required`), -1 with the reason said otherwise. */

static int get_string(ctx_t *c, const json_t *o, const char *where, const char *key, bool required, const char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            say(c, "%s.%s: missing", where, key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        say(c, "%s.%s: not a string", where, key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int get_int(ctx_t *c, const json_t *o, const char *where, const char *key, bool required, int64_t min,
                   int64_t dflt, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            say(c, "%s.%s: missing", where, key);
            return -1;
        }
        return 0;
    }
    if (!json_is_integer(v)) {
        say(c, "%s.%s: not an integer", where, key);
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < min) {
        say(c, "%s.%s: less than %lld", where, key, (long long)min);
        return -1;
    }
    *out = (int64_t)n;
    return 0;
}

static int get_time(ctx_t *c, const json_t *o, const char *where, const char *key, bool required, bool *present,
                    int64_t *ms)
{
    const char *s;
    *present = false;
    *ms = 0;
    if (get_string(c, o, where, key, required, &s) != 0)
        return -1;
    if (s == NULL)
        return 0;
    if (gm_time_parse_iso8601(s, ms) != 0) {
        say(c, "%s.%s: not an RFC 3339 timestamp", where, key);
        return -1;
    }
    *present = true;
    return 0;
}

/* Everything read from a completed payload, borrowed from the JSON until
 * the checks are over, so that a refused payload allocates nothing. */
typedef struct {
    const char *repository, *workflow, *conclusion, *status, *head_branch, *html_url;
    const char *event;                                 /* runs */
    const char *job_name, *runner_name, *runner_group; /* jobs */
    const json_t *labels;                              /* jobs: array or NULL */
    int64_t run_id, run_attempt, run_number, workflow_id, job_id;
    bool has_created, has_started, has_completed;
    int64_t created, started, completed;
} fields_t;

static const char *nonempty(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

static int read_common(ctx_t *c, const json_t *root, const json_t *o, const char *where, fields_t *f)
{
    const json_t *repo = json_object_get(root, "repository");
    if (!json_is_object(repo)) {
        say(c, "repository: missing or not an object");
        return -1;
    }
    if (get_string(c, repo, "repository", "full_name", true, &f->repository) != 0)
        return -1;
    if (*f->repository == '\0') {
        say(c, "repository.full_name: empty");
        return -1;
    }
    if (get_int(c, o, where, "run_attempt", false, 1, 1, &f->run_attempt) != 0 ||
        get_string(c, o, where, "head_branch", false, &f->head_branch) != 0 ||
        get_string(c, o, where, "html_url", false, &f->html_url) != 0 ||
        get_string(c, o, where, "status", false, &f->status) != 0 ||
        get_string(c, o, where, "conclusion", false, &f->conclusion) != 0)
        return -1;
    return 0;
}

static int read_run(ctx_t *c, const json_t *root, const json_t *o, fields_t *f)
{
    const char *w = "workflow_run";
    const char *name, *top_name = NULL;
    if (read_common(c, root, o, w, f) != 0 || get_int(c, o, w, "id", true, 1, 0, &f->run_id) != 0 ||
        get_int(c, o, w, "run_number", false, 1, 0, &f->run_number) != 0 ||
        get_int(c, o, w, "workflow_id", false, 1, 0, &f->workflow_id) != 0 ||
        get_string(c, o, w, "name", false, &name) != 0 || get_string(c, o, w, "event", false, &f->event) != 0 ||
        get_time(c, o, w, "created_at", true, &f->has_created, &f->created) != 0 ||
        get_time(c, o, w, "run_started_at", false, &f->has_started, &f->started) != 0 ||
        get_time(c, o, w, "updated_at", true, &f->has_completed, &f->completed) != 0)
        return -1;

    const json_t *wf = json_object_get(root, "workflow");
    if (wf != NULL && !json_is_null(wf)) {
        if (!json_is_object(wf)) {
            say(c, "workflow: not an object");
            return -1;
        }
        if (get_string(c, wf, "workflow", "name", false, &top_name) != 0)
            return -1;
    }
    f->workflow = nonempty(name) ? name : nonempty(top_name) ? top_name : "unknown";
    f->event = nonempty(f->event) ? f->event : "unknown";
    return 0;
}

static int read_job(ctx_t *c, const json_t *root, const json_t *o, fields_t *f)
{
    const char *w = "workflow_job";
    if (read_common(c, root, o, w, f) != 0 || get_int(c, o, w, "id", true, 1, 0, &f->job_id) != 0 ||
        get_int(c, o, w, "run_id", true, 1, 0, &f->run_id) != 0 ||
        get_string(c, o, w, "name", false, &f->job_name) != 0 ||
        get_string(c, o, w, "workflow_name", false, &f->workflow) != 0 ||
        get_string(c, o, w, "runner_name", false, &f->runner_name) != 0 ||
        get_string(c, o, w, "runner_group_name", false, &f->runner_group) != 0 ||
        get_time(c, o, w, "created_at", false, &f->has_created, &f->created) != 0 ||
        get_time(c, o, w, "started_at", false, &f->has_started, &f->started) != 0 ||
        get_time(c, o, w, "completed_at", false, &f->has_completed, &f->completed) != 0)
        return -1;

    const json_t *labels = json_object_get(o, "labels");
    if (labels != NULL && !json_is_null(labels)) {
        if (!json_is_array(labels)) {
            say(c, "workflow_job.labels: not an array");
            return -1;
        }
        for (size_t i = 0; i < json_array_size(labels); i++)
            if (!json_is_string(json_array_get(labels, i))) {
                say(c, "workflow_job.labels[%zu]: not a string", i);
                return -1;
            }
        f->labels = labels;
    }

    if (!f->has_created && !f->has_started && !f->has_completed) {
        say(c, "workflow_job: no created_at, started_at or completed_at");
        return -1;
    }
    f->job_name = nonempty(f->job_name) ? f->job_name : "unknown";
    f->workflow = nonempty(f->workflow) ? f->workflow : "unknown";
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? gm_strdup(s) : NULL;
}

/* Fills *out from checked fields: defaults, clamping, derived numbers. */
static void build(gm_record_kind_t kind, const fields_t *f, gm_record_t *out)
{
    int64_t created = f->created, started = f->started, completed = f->completed;

    /* Only jobs can lack created_at (runs require it): fall back to the
     * next time the payload gives; the queue is then 0 by construction. */
    if (!f->has_created)
        created = f->has_started ? f->started : f->completed;
    if (!f->has_started) {
        started = created;
        out->anomalies |= GM_ANOMALY_MISSING_START;
    }
    if (!f->has_completed) { /* jobs only: completed_at null */
        completed = started;
        out->anomalies |= GM_ANOMALY_STATUS_NOT_COMPLETED;
    }
    if (started < created) {
        created = started;
        out->anomalies |= GM_ANOMALY_START_BEFORE_CREATED;
    }
    if (completed < started) {
        completed = started;
        out->anomalies |= GM_ANOMALY_END_BEFORE_START;
    }

    out->kind = kind;
    out->repository = gm_strdup(f->repository);
    out->workflow = gm_strdup(f->workflow);
    out->run_id = f->run_id;
    out->run_attempt = f->run_attempt;
    if (f->conclusion != NULL) {
        out->conclusion = gm_strdup(f->conclusion);
    } else {
        out->conclusion = gm_strdup("unknown");
        out->anomalies |= GM_ANOMALY_MISSING_CONCLUSION;
    }
    out->head_branch = dup_or_null(f->head_branch);
    out->html_url = dup_or_null(f->html_url);
    out->created_at_ms = created;
    out->started_at_ms = started;
    out->completed_at_ms = completed;
    out->duration_s = (double)(completed - started) / 1000.0;
    out->queue_s = (double)(started - created) / 1000.0;

    if (kind == GM_RECORD_RUN) {
        out->workflow_id = f->workflow_id;
        out->run_number = f->run_number;
        out->event = gm_strdup(f->event);
        out->runner_os = GM_RUNNER_UNKNOWN;
        return;
    }

    out->job_id = f->job_id;
    out->job_name = gm_strdup(f->job_name);
    out->runner_name = dup_or_null(f->runner_name);
    out->runner_group = dup_or_null(f->runner_group);
    out->label_count = json_array_size(f->labels); /* 0 for NULL */
    if (out->label_count > 0) {
        out->labels = gm_calloc(out->label_count, sizeof(char *));
        for (size_t i = 0; i < out->label_count; i++)
            out->labels[i] = gm_strdup(json_string_value(json_array_get(f->labels, i)));
    }
    out->runner_os = gm_runner_os_from((const char *const *)out->labels, out->label_count, out->runner_group);
    out->billable_minutes = gm_billable_minutes(out->duration_s, out->runner_os, out->conclusion);
}

gm_event_result_t gm_event_to_record(const char *event, const void *payload_json, gm_record_t *out, char *reason,
                                     size_t reasonlen)
{
    ctx_t c = {reason, reasonlen};
    if (reason != NULL && reasonlen > 0)
        reason[0] = '\0';
    if (out == NULL) {
        say(&c, "no record to fill");
        return GM_EVENT_INVALID;
    }
    memset(out, 0, sizeof(*out));

    gm_record_kind_t kind;
    const char *objname;
    if (event != NULL && strcmp(event, "workflow_run") == 0) {
        kind = GM_RECORD_RUN;
        objname = "workflow_run";
    } else if (event != NULL && strcmp(event, "workflow_job") == 0) {
        kind = GM_RECORD_JOB;
        objname = "workflow_job";
    } else {
        say(&c, "event not handled: no record");
        return GM_EVENT_NO_RECORD;
    }

    const json_t *root = payload_json;
    if (!json_is_object(root)) {
        say(&c, "payload: not a JSON object");
        return GM_EVENT_INVALID;
    }
    const json_t *action = json_object_get(root, "action");
    if (!json_is_string(action)) {
        say(&c, "action: missing or not a string");
        return GM_EVENT_INVALID;
    }
    const json_t *obj = json_object_get(root, objname);
    if (!json_is_object(obj)) {
        say(&c, "%s: missing or not an object", objname);
        return GM_EVENT_INVALID;
    }
    const char *act = json_string_value(action);
    if (strcmp(act, "completed") != 0) {
        const char *k = known(act, known_actions);
        if (k != NULL)
            say(&c, "action %s: no record", k);
        else
            say(&c, "action not handled: no record");
        return GM_EVENT_NO_RECORD;
    }

    fields_t f = {0};
    int rc = kind == GM_RECORD_RUN ? read_run(&c, root, obj, &f) : read_job(&c, root, obj, &f);
    if (rc != 0)
        return GM_EVENT_INVALID;

    if (f.status != NULL && strcmp(f.status, "completed") != 0) {
        const char *k = known(f.status, known_statuses);
        if (k != NULL)
            say(&c, "status %s in a completed delivery: skipped", k);
        else
            say(&c, "status not completed in a completed delivery: skipped");
        out->anomalies |= GM_ANOMALY_STATUS_NOT_COMPLETED;
        return GM_EVENT_NO_RECORD;
    }

    build(kind, &f, out);
    return GM_EVENT_RECORD;
}
