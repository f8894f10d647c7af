/* The remote sink's /metrics: what was sent, what failed, the backlog, and
 * what it all costs. */
#include <stdio.h>
#include <string.h>

#include "sink_remote_internal.h"

void gm_remote_metrics(gm_sink_t *s, FILE *f)
{
    remote_t *r = (remote_t *)s;
    const char *n = r->client->name;
    pthread_mutex_lock(&r->lock);
    int64_t age_ms = r->backlog_since_ms ? gm_remote_now_ms() - r->backlog_since_ms : 0;
    fprintf(f,
            "# HELP gha_metrics_publish_requests_total Requests sent to AWS by outcome.\n"
            "# TYPE gha_metrics_publish_requests_total counter\n"
            "gha_metrics_publish_requests_total{sink=\"%s\",outcome=\"ok\"} %llu\n"
            "gha_metrics_publish_requests_total{sink=\"%s\",outcome=\"failed\"} %llu\n"
            "# HELP gha_metrics_publish_items_total Datums or log events AWS accepted.\n"
            "# TYPE gha_metrics_publish_items_total counter\n"
            "gha_metrics_publish_items_total{sink=\"%s\",kind=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_bytes_total Request bytes AWS accepted.\n"
            "# TYPE gha_metrics_publish_bytes_total counter\n"
            "gha_metrics_publish_bytes_total{sink=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_retries_total Requests retried after throttling, 5xx, transport or credential errors.\n"
            "# TYPE gha_metrics_publish_retries_total counter\n"
            "gha_metrics_publish_retries_total{sink=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_throttles_total Requests AWS throttled.\n"
            "# TYPE gha_metrics_publish_throttles_total counter\n"
            "gha_metrics_publish_throttles_total{sink=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_auth_errors_total Requests refused for missing or invalid credentials.\n"
            "# TYPE gha_metrics_publish_auth_errors_total counter\n"
            "gha_metrics_publish_auth_errors_total{sink=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_dead_letters_total Items set aside in the dead-letter file.\n"
            "# TYPE gha_metrics_publish_dead_letters_total counter\n"
            "gha_metrics_publish_dead_letters_total{sink=\"%s\"} %llu\n"
            "# HELP gha_metrics_publish_backlog_age_seconds Age of the oldest record not yet accepted by AWS.\n"
            "# TYPE gha_metrics_publish_backlog_age_seconds gauge\n"
            "gha_metrics_publish_backlog_age_seconds{sink=\"%s\"} %.3f\n",
            n, (unsigned long long)r->requests_ok, n, (unsigned long long)r->requests_failed, n,
            r->client->item_name, (unsigned long long)r->items_sent, n, (unsigned long long)r->bytes_sent, n,
            (unsigned long long)r->retries, n, (unsigned long long)r->throttles, n,
            (unsigned long long)r->auth_errors, n, (unsigned long long)r->dead_letters, n, age_ms / 1000.0);
    fputs("# HELP gha_metrics_publish_errors_total Failed requests by AWS error code.\n"
          "# TYPE gha_metrics_publish_errors_total counter\n",
          f);
    for (int i = 0; i < MAX_CODES && r->codes[i].code[0]; i++)
        fprintf(f, "gha_metrics_publish_errors_total{sink=\"%s\",code=\"%s\"} %llu\n", n, r->codes[i].code,
                (unsigned long long)r->codes[i].count);
    /* PutMetricData and PutLogEvents are billed per 1,000 requests (about
     * $0.01) and, for logs, per GB ingested (about $0.50): an estimate of what
     * this process has spent, for comparing configurations. */
    double cost = r->requests_ok * 0.01 / 1000.0 + (strcmp(n, "emf-logs") == 0 ? r->bytes_sent * 0.50 / 1e9 : 0);
    if (r->client->series != NULL) {
        /* The series cost is per month, at the first tier's $0.30 per
         * custom metric: what these series cost while they keep reporting. */
        size_t series = r->client->series(r->client);
        fprintf(f,
                "# HELP gha_metrics_publish_series Distinct CloudWatch series (custom metrics) this process has sent.\n"
                "# TYPE gha_metrics_publish_series gauge\n"
                "gha_metrics_publish_series{sink=\"%s\"} %zu\n"
                "# HELP gha_metrics_publish_series_cost_usd_per_month Estimated monthly cost of those series ($0.30 each).\n"
                "# TYPE gha_metrics_publish_series_cost_usd_per_month gauge\n"
                "gha_metrics_publish_series_cost_usd_per_month{sink=\"%s\"} %.2f\n",
                n, series, n, series * 0.30);
    }
    fprintf(f,
            "# HELP gha_metrics_publish_estimated_cost_usd_total Estimated AWS request and ingestion cost of what was sent.\n"
            "# TYPE gha_metrics_publish_estimated_cost_usd_total counter\n"
            "gha_metrics_publish_estimated_cost_usd_total{sink=\"%s\"} %.6f\n",
            n, cost);
    pthread_mutex_unlock(&r->lock);
    if (r->outbox != NULL) {
        gm_spool_stats_t st;
        gm_spool_stats(r->outbox, &st);
        fprintf(f,
                "# HELP gha_metrics_publish_outbox_bytes Bytes in the outbox (sent and unsent, until deleted).\n"
                "# TYPE gha_metrics_publish_outbox_bytes gauge\n"
                "gha_metrics_publish_outbox_bytes{sink=\"%s\"} %llu\n",
                n, (unsigned long long)st.pending_bytes);
    }
}
