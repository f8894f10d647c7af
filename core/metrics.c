#include "gm/metrics.h"
#include "gm/util.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const event_names[GM_EV__COUNT] = {"ping", "workflow_run", "workflow_job", "other", "unknown"};
static const char *const outcome_names[GM_OUT__COUNT] = {
    "accepted",  "ignored",  "duplicate",          "bad_signature", "bad_request",
    "too_large", "unsupported_media_type", "method_not_allowed", "unavailable"};
static const uint64_t latency_bounds_us[GM_LATENCY_BUCKETS] = {100,   250,    500,    1000,   2500,    5000,
                                                                10000, 25000, 50000, 100000, 1000000, 10000000};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)

void gm_metrics_init(gm_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    m->started_at_ms = gm_wall_ms();
}

gm_event_kind_t gm_metrics_event_kind(const char *event, size_t len)
{
    if (event == NULL || len == 0)
        return GM_EV_UNKNOWN;
    for (int i = GM_EV_PING; i <= GM_EV_WORKFLOW_JOB; i++)
        if (strlen(event_names[i]) == len && memcmp(event_names[i], event, len) == 0)
            return (gm_event_kind_t)i;
    return GM_EV_OTHER;
}

const char *gm_metrics_outcome_name(gm_outcome_t o)
{
    return o < GM_OUT__COUNT ? outcome_names[o] : "invalid";
}

void gm_metrics_count_delivery(gm_metrics_t *m, gm_event_kind_t ev, gm_outcome_t out, uint64_t elapsed_us)
{
    ADD(m->deliveries[ev][out], 1);
    size_t b = 0;
    while (b < GM_LATENCY_BUCKETS && elapsed_us > latency_bounds_us[b])
        b++;
    ADD(m->latency_bucket[b], 1);
    ADD(m->latency_sum_us, elapsed_us);
}

void gm_metrics_count_outcome(gm_metrics_t *m, gm_event_kind_t ev, gm_outcome_t out)
{
    ADD(m->deliveries[ev][out], 1);
}

void gm_metrics_count_anomalies(gm_metrics_t *m, unsigned bits)
{
    for (unsigned i = 0; i < GM_ANOMALY_COUNT; i++)
        if (bits & (1u << i))
            ADD(m->anomalies[i], 1);
}

uint64_t gm_metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

int gm_metrics_render(const gm_metrics_t *mc, FILE *f)
{
    /* Atomic loads need a non-const object; nothing is written here. */
    gm_metrics_t *m = (gm_metrics_t *)mc;

    fputs("# HELP gha_metrics_deliveries_total Webhook deliveries by event and outcome.\n"
          "# TYPE gha_metrics_deliveries_total counter\n",
          f);
    for (int e = 0; e < GM_EV__COUNT; e++)
        for (int o = 0; o < GM_OUT__COUNT; o++)
            fprintf(f, "gha_metrics_deliveries_total{event=\"%s\",outcome=\"%s\"} %llu\n", event_names[e],
                    outcome_names[o], (unsigned long long)LOAD(m->deliveries[e][o]));

    fputs("# HELP gha_metrics_delivery_duration_seconds Time from request to answer.\n"
          "# TYPE gha_metrics_delivery_duration_seconds histogram\n",
          f);
    uint64_t cumulative = 0;
    for (int b = 0; b < GM_LATENCY_BUCKETS; b++) {
        cumulative += LOAD(m->latency_bucket[b]);
        fprintf(f, "gha_metrics_delivery_duration_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds_us[b] / 1e6,
                (unsigned long long)cumulative);
    }
    cumulative += LOAD(m->latency_bucket[GM_LATENCY_BUCKETS]);
    fprintf(f, "gha_metrics_delivery_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
    fprintf(f, "gha_metrics_delivery_duration_seconds_sum %.6f\n", LOAD(m->latency_sum_us) / 1e6);
    fprintf(f, "gha_metrics_delivery_duration_seconds_count %llu\n", (unsigned long long)cumulative);

    fprintf(f,
            "# HELP gha_metrics_records_written_total Run and job records written to the sink.\n"
            "# TYPE gha_metrics_records_written_total counter\n"
            "gha_metrics_records_written_total{kind=\"run\"} %llu\n"
            "gha_metrics_records_written_total{kind=\"job\"} %llu\n",
            (unsigned long long)LOAD(m->records_written[0]), (unsigned long long)LOAD(m->records_written[1]));
    fprintf(f,
            "# HELP gha_metrics_records_skipped_total Completed deliveries too untidy to make a record.\n"
            "# TYPE gha_metrics_records_skipped_total counter\n"
            "gha_metrics_records_skipped_total %llu\n",
            (unsigned long long)LOAD(m->records_skipped));
    fputs("# HELP gha_metrics_payload_anomalies_total Payload fields clamped or defaulted, by kind.\n"
          "# TYPE gha_metrics_payload_anomalies_total counter\n",
          f);
    for (unsigned i = 0; i < GM_ANOMALY_COUNT; i++)
        fprintf(f, "gha_metrics_payload_anomalies_total{kind=\"%s\"} %llu\n", gm_anomaly_name(i),
                (unsigned long long)LOAD(m->anomalies[i]));
    fprintf(f,
            "# HELP gha_metrics_sink_errors_total Failed writes to the sink.\n"
            "# TYPE gha_metrics_sink_errors_total counter\n"
            "gha_metrics_sink_errors_total %llu\n"
            "# HELP gha_metrics_http_errors_total Malformed HTTP requests refused before routing.\n"
            "# TYPE gha_metrics_http_errors_total counter\n"
            "gha_metrics_http_errors_total %llu\n"
            "# HELP gha_metrics_shared_ledger_errors_total Claims in the shared (DynamoDB) ledger that failed and are retried.\n"
            "# TYPE gha_metrics_shared_ledger_errors_total counter\n"
            "gha_metrics_shared_ledger_errors_total %llu\n"
            "# HELP gha_metrics_records_backfilled_total Records written for deliveries the backfill brought, by kind.\n"
            "# TYPE gha_metrics_records_backfilled_total counter\n"
            "gha_metrics_records_backfilled_total{kind=\"run\"} %llu\n"
            "gha_metrics_records_backfilled_total{kind=\"job\"} %llu\n",
            (unsigned long long)LOAD(m->sink_errors), (unsigned long long)LOAD(m->http_errors),
            (unsigned long long)LOAD(m->shared_ledger_errors), (unsigned long long)LOAD(m->records_backfilled[0]),
            (unsigned long long)LOAD(m->records_backfilled[1]));
    static const char *const dup_names[GM_DUP__COUNT] = {"delivery", "run", "job"};
    fputs("# HELP gha_metrics_duplicates_total Deliveries answered as already seen, and records not written twice.\n"
          "# TYPE gha_metrics_duplicates_total counter\n",
          f);
    for (int i = 0; i < GM_DUP__COUNT; i++)
        fprintf(f, "gha_metrics_duplicates_total{kind=\"%s\"} %llu\n", dup_names[i],
                (unsigned long long)LOAD(m->duplicates[i]));
    fprintf(f,
            "# HELP gha_metrics_processed_total Spooled deliveries processed.\n"
            "# TYPE gha_metrics_processed_total counter\n"
            "gha_metrics_processed_total %llu\n"
            "# HELP gha_metrics_process_retries_total Processing passes retried after a sink or checkpoint error.\n"
            "# TYPE gha_metrics_process_retries_total counter\n"
            "gha_metrics_process_retries_total %llu\n"
            "# HELP gha_metrics_checkpoints_total Durable processing checkpoints written.\n"
            "# TYPE gha_metrics_checkpoints_total counter\n"
            "gha_metrics_checkpoints_total %llu\n",
            (unsigned long long)LOAD(m->processed), (unsigned long long)LOAD(m->process_retries),
            (unsigned long long)LOAD(m->checkpoints));
    fprintf(f,
            "# HELP gha_metrics_process_resident_memory_bytes Resident set size.\n"
            "# TYPE gha_metrics_process_resident_memory_bytes gauge\n"
            "gha_metrics_process_resident_memory_bytes %llu\n"
            "# HELP gha_metrics_uptime_seconds Seconds since the process started.\n"
            "# TYPE gha_metrics_uptime_seconds gauge\n"
            "gha_metrics_uptime_seconds %.3f\n",
            (unsigned long long)gm_metrics_rss_bytes(), (gm_wall_ms() - m->started_at_ms) / 1000.0);
    return ferror(f) ? -1 : 0;
}
