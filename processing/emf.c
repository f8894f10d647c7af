/* gm_emf: a record → one CloudWatch Embedded Metric Format line.
 *
 * The metric contract (README "Metrics"; the dashboards and the CloudWatch
 * publisher use exactly these names and units):
 *
 *   record  metric           unit     value
 *   ------  ---------------  -------  ------------------------------------------------
 *   run     RunDuration      Seconds  updated_at − run_started_at (latest attempt)
 *   run     RunQueueDelay    Seconds  run_started_at − created_at
 *   run     RunCompleted     Count    1 per completed run record
 *   run     RunFailed        Count    1 when conclusion is failure, timed_out or
 *                                     startup_failure, else 0
 *   job     JobDuration      Seconds  completed_at − started_at
 *   job     JobQueueTime     Seconds  started_at − created_at
 *   job     JobCompleted     Count    1 per completed job record
 *   job     JobFailed        Count    same rule as RunFailed
 *   job     BillableMinutes  Count    ceil(duration / 60 s) × 1 Linux, 2 Windows,
 *                                     10 macOS; 0 self-hosted, unknown OS, skipped
 *
 *   Dimensions (values at the root of every line):
 *     Repository  "owner/name"
 *     Workflow    the workflow name ("unknown" when the payload has none)
 *     Team        from the teams: configuration; "unassigned" for a repository
 *                 no team lists; absent when no teams are configured
 *   Dimension sets come from publish.dimensions (default [Repository, Workflow],
 *   [Repository], [Team], []). A set naming Team is left out of a line that has
 *   no Team; a set naming anything other than the three above is left out too
 *   (configuration should have refused it). No sets configured → [[]].
 *
 *   Plain properties (Logs Insights only, not metrics):
 *     both  RecordType ("run" | "job"), RunId, RunAttempt, Conclusion,
 *           HeadBranch*, HtmlUrl*, CreatedAt, StartedAt, CompletedAt (RFC 3339,
 *           UTC, after clamping), DeliveryId*, Backfilled* (true only),
 *           Anomalies* (array of anomaly names)
 *     run   RunNumber*, WorkflowId*, Event
 *     job   JobId, JobName, RunnerName*, RunnerGroup*, RunnerOs, Labels (array)
 *     (* = only when present / non-zero / set)
 *
 *   _aws.Timestamp is the completion time (completed_at_ms), so the metrics
 *   land at the minute the run or job ended.
 *
 * Numbers: a duration that is a whole number of seconds is written as a JSON
 * integer (198, not 198.0); otherwise as a decimal rounded to milliseconds.
 * Key order is fixed (insertion order), so lines are stable for tests and
 * diffs. Strings stay UTF-8 (no \u escapes beyond what JSON needs). */
#include "gm/emf.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"

/* CloudWatch refuses dimension values longer than 1024 characters. */
#define GM_EMF_DIM_VALUE_MAX 1024

typedef struct {
    const char *name;
    const char *unit;
} metric_def_t;

static const metric_def_t run_metrics[] = {
    {"RunDuration", "Seconds"},
    {"RunQueueDelay", "Seconds"},
    {"RunCompleted", "Count"},
    {"RunFailed", "Count"},
};

static const metric_def_t job_metrics[] = {
    {"JobDuration", "Seconds"}, {"JobQueueTime", "Seconds"},  {"JobCompleted", "Count"},
    {"JobFailed", "Count"},     {"BillableMinutes", "Count"},
};

/* A JSON string; record strings come from jansson and are valid UTF-8, but
 * a record built elsewhere might not be: bytes jansson refuses become '?'
 * rather than silently dropping the key. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *copy = gm_strdup(s);
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* A dimension value, cut to CloudWatch's limit on a UTF-8 boundary. */
/* CloudWatch accepts only printable ASCII in dimension values (at most
 * 1,024, not all blank): each other character becomes one '?', so that a
 * workflow named in any language still gets its series rather than a
 * refused request. The name as written stays in the line's properties. */
static char *ascii_dimension(const char *s)
{
    size_t n = strlen(s);
    char *out = gm_malloc((n < GM_EMF_DIM_VALUE_MAX ? n : GM_EMF_DIM_VALUE_MAX) + 1);
    size_t o = 0;
    int blank = 1;
    for (size_t i = 0; i < n && o < GM_EMF_DIM_VALUE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 && (c & 0xC0) == 0x80)
            continue; /* a continuation byte: its character was counted */
        char a = c >= 0x20 && c < 0x7F ? (char)c : '?';
        blank &= a == ' ';
        out[o++] = a;
    }
    out[o] = '\0';
    if (blank) {
        free(out);
        return gm_strdup("unknown");
    }
    return out;
}

static json_t *dim_value(const char *s)
{
    char *v = ascii_dimension(s);
    json_t *j = jstr(v);
    free(v);
    return j;
}

static json_t *seconds(double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    if (s > 9e12) /* keeps llround defined; ~285,000 years */
        s = 9e12;
    long long ms = llround(s * 1000.0);
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000.0);
}

static json_t *timestamp(int64_t ms)
{
    char buf[32];
    gm_time_format_iso8601(ms, buf, sizeof(buf));
    return json_string(buf);
}

static bool failed(const char *conclusion)
{
    return conclusion != NULL && (strcmp(conclusion, "failure") == 0 || strcmp(conclusion, "timed_out") == 0 ||
                                  strcmp(conclusion, "startup_failure") == 0);
}

/* Whether a configured dimension set can be used for this line. */
static bool set_usable(const gm_dimset_t *set, bool have_team)
{
    for (size_t i = 0; i < set->count; i++) {
        const char *n = set->names[i];
        if (n == NULL)
            return false;
        if (strcmp(n, "Team") == 0) {
            if (!have_team)
                return false;
        } else if (strcmp(n, "Repository") != 0 && strcmp(n, "Workflow") != 0) {
            return false;
        }
    }
    return true;
}

static json_t *dimension_sets(const gm_emf_opts_t *opts, bool have_team)
{
    json_t *sets = json_array();
    if (opts->dimensions == NULL || opts->dimension_count == 0) {
        json_array_append_new(sets, json_array());
        return sets;
    }
    for (size_t i = 0; i < opts->dimension_count; i++) {
        const gm_dimset_t *set = &opts->dimensions[i];
        if (!set_usable(set, have_team))
            continue;
        json_t *names = json_array();
        for (size_t j = 0; j < set->count; j++)
            json_array_append_new(names, json_string(set->names[j]));
        json_array_append_new(sets, names);
    }
    return sets;
}

char *gm_emf_format(const gm_record_t *r, const gm_emf_opts_t *opts)
{
    if (r == NULL || opts == NULL)
        return NULL;

    const bool run = r->kind == GM_RECORD_RUN;
    const char *team = opts->team != NULL ? opts->team : opts->teams_configured ? "unassigned" : NULL;
    const metric_def_t *defs = run ? run_metrics : job_metrics;
    const size_t ndefs =
        run ? sizeof(run_metrics) / sizeof(run_metrics[0]) : sizeof(job_metrics) / sizeof(job_metrics[0]);

    json_t *root = json_object();

    /* _aws: the metric directive. */
    json_t *metrics = json_array();
    for (size_t i = 0; i < ndefs; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "Name", json_string(defs[i].name));
        json_object_set_new(m, "Unit", json_string(defs[i].unit));
        json_array_append_new(metrics, m);
    }
    json_t *directive = json_object();
    json_object_set_new(directive, "Namespace", jstr(opts->namespace_ != NULL ? opts->namespace_ : "GitHubActions"));
    json_object_set_new(directive, "Dimensions", dimension_sets(opts, team != NULL));
    json_object_set_new(directive, "Metrics", metrics);
    json_t *cwm = json_array();
    json_array_append_new(cwm, directive);
    json_t *aws = json_object();
    json_object_set_new(aws, "Timestamp", json_integer(r->completed_at_ms));
    json_object_set_new(aws, "CloudWatchMetrics", cwm);
    json_object_set_new(root, "_aws", aws);

    /* Dimension values. */
    json_object_set_new(root, "Repository", dim_value(r->repository != NULL ? r->repository : "unknown"));
    const char *workflow = r->workflow != NULL ? r->workflow : "unknown";
    json_object_set_new(root, "Workflow", dim_value(workflow));
    if (strcmp(json_string_value(json_object_get(root, "Workflow")), workflow) != 0)
        json_object_set_new(root, "WorkflowName", jstr(workflow));
    if (team != NULL)
        json_object_set_new(root, "Team", dim_value(team));

    /* Metric values, in the order of the directive. */
    if (run) {
        json_object_set_new(root, "RunDuration", seconds(r->duration_s));
        json_object_set_new(root, "RunQueueDelay", seconds(r->queue_s));
        json_object_set_new(root, "RunCompleted", json_integer(1));
        json_object_set_new(root, "RunFailed", json_integer(failed(r->conclusion) ? 1 : 0));
    } else {
        json_object_set_new(root, "JobDuration", seconds(r->duration_s));
        json_object_set_new(root, "JobQueueTime", seconds(r->queue_s));
        json_object_set_new(root, "JobCompleted", json_integer(1));
        json_object_set_new(root, "JobFailed", json_integer(failed(r->conclusion) ? 1 : 0));
        json_object_set_new(root, "BillableMinutes", json_integer(r->billable_minutes));
    }

    /* Plain properties. */
    json_object_set_new(root, "RecordType", json_string(run ? "run" : "job"));
    json_object_set_new(root, "RunId", json_integer(r->run_id));
    json_object_set_new(root, "RunAttempt", json_integer(r->run_attempt));
    if (run) {
        if (r->run_number > 0)
            json_object_set_new(root, "RunNumber", json_integer(r->run_number));
        if (r->workflow_id > 0)
            json_object_set_new(root, "WorkflowId", json_integer(r->workflow_id));
        json_object_set_new(root, "Event", jstr(r->event != NULL ? r->event : "unknown"));
    } else {
        json_object_set_new(root, "JobId", json_integer(r->job_id));
        json_object_set_new(root, "JobName", jstr(r->job_name != NULL ? r->job_name : "unknown"));
        if (r->runner_name != NULL)
            json_object_set_new(root, "RunnerName", jstr(r->runner_name));
        if (r->runner_group != NULL)
            json_object_set_new(root, "RunnerGroup", jstr(r->runner_group));
        json_object_set_new(root, "RunnerOs", json_string(gm_runner_os_name(r->runner_os)));
        json_t *labels = json_array();
        for (size_t i = 0; i < r->label_count; i++)
            if (r->labels[i] != NULL)
                json_array_append_new(labels, jstr(r->labels[i]));
        json_object_set_new(root, "Labels", labels);
    }
    json_object_set_new(root, "Conclusion", jstr(r->conclusion != NULL ? r->conclusion : "unknown"));
    if (r->head_branch != NULL)
        json_object_set_new(root, "HeadBranch", jstr(r->head_branch));
    if (r->html_url != NULL)
        json_object_set_new(root, "HtmlUrl", jstr(r->html_url));
    json_object_set_new(root, "CreatedAt", timestamp(r->created_at_ms));
    json_object_set_new(root, "StartedAt", timestamp(r->started_at_ms));
    json_object_set_new(root, "CompletedAt", timestamp(r->completed_at_ms));
    if (opts->delivery_id != NULL)
        json_object_set_new(root, "DeliveryId", jstr(opts->delivery_id));
    if (opts->backfilled)
        json_object_set_new(root, "Backfilled", json_true());
    if (r->anomalies != 0) {
        json_t *names = json_array();
        for (unsigned i = 0; i < GM_ANOMALY_COUNT; i++)
            if (r->anomalies & (1u << i))
                json_array_append_new(names, json_string(gm_anomaly_name(i)));
        json_object_set_new(root, "Anomalies", names);
    }

    /* NULL only when jansson runs out of memory; the caller treats it as a
     * failed write. */
    char *line = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    return line;
}
