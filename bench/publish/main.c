/* How many PutMetricData requests the publisher needs for a realistic mix,
 * next to the lower bound the CloudWatch limits allow.
 *
 * The mix: 200 repositories × 3 workflows, runs of 4 conclusions, 3 jobs per
 * run, 1,000 completed runs spread over a working day; teams of 10
 * repositories; the default dimension sets. The real producer (gm_emf) and
 * batcher (gm_cw) are used; time is simulated, so each flush interval is a
 * window whose datums are sent at its end. Deterministic (fixed seed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm/cwbatch.h"
#include "gm/emf.h"

#define RUNS 1000
#define REPOS 200
#define WORKFLOWS 3
#define JOBS_PER_RUN 3
#define DAY_MS (8LL * 3600 * 1000) /* a working day */

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

typedef struct {
    int64_t at;
    char *line;
} item_t;

static int by_time(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

int main(void)
{
    static const char *conclusions[] = {"success", "failure", "cancelled", "skipped"};
    static const char *workflows[] = {"CI", "Release", "CodeQL"};
    static char *const set0[] = {"Repository", "Workflow"}, *const set1[] = {"Repository"}, *const set2[] = {"Team"};
    gm_dimset_t sets[] = {{(char **)set0, 2}, {(char **)set1, 1}, {(char **)set2, 1}, {NULL, 0}};
    const int64_t start = 1795910400000LL; /* a fixed recent day, 08:00 */
    size_t n = RUNS * (1 + JOBS_PER_RUN);
    item_t *items = calloc(n, sizeof(*items));
    size_t k = 0;
    char repo[64], team[32];
    for (int i = 0; i < RUNS; i++) {
        int r = (int)(next() % REPOS);
        snprintf(repo, sizeof(repo), "octo-org/repo-%03d", r);
        snprintf(team, sizeof(team), "team-%02d", r / 10);
        int64_t done = start + (int64_t)(next() % DAY_MS);
        double duration = 60 + (double)(next() % 1200);
        gm_record_t rec = {0};
        rec.kind = GM_RECORD_RUN;
        rec.repository = repo;
        rec.workflow = (char *)workflows[next() % WORKFLOWS];
        rec.run_id = 1000 + i;
        rec.run_attempt = 1;
        rec.conclusion = (char *)conclusions[next() % 4];
        rec.completed_at_ms = done;
        rec.started_at_ms = done - (int64_t)duration * 1000;
        rec.created_at_ms = rec.started_at_ms - (int64_t)(next() % 120) * 1000;
        rec.duration_s = duration;
        rec.queue_s = (double)(rec.started_at_ms - rec.created_at_ms) / 1000;
        rec.event = (char *)"push";
        gm_emf_opts_t o = {.namespace_ = "GitHubActions", .dimensions = sets, .dimension_count = 4, .team = team,
                           .teams_configured = 1};
        items[k++] = (item_t){done, gm_emf_format(&rec, &o)};
        for (int j = 0; j < JOBS_PER_RUN; j++) {
            gm_record_t job = rec;
            job.kind = GM_RECORD_JOB;
            job.job_id = (int64_t)i * 10 + j;
            job.job_name = (char *)"build";
            job.runner_os = GM_RUNNER_LINUX;
            job.duration_s = duration / JOBS_PER_RUN;
            job.billable_minutes = (int64_t)(job.duration_s + 59) / 60;
            job.completed_at_ms = done - (int64_t)(JOBS_PER_RUN - 1 - j) * 1000;
            items[k++] = (item_t){job.completed_at_ms, gm_emf_format(&job, &o)};
        }
    }
    qsort(items, n, sizeof(*items), by_time);

    static const int64_t flushes_s[] = {10, 60, 300, 3600};
    printf("| flush interval | datums sent | samples | requests | lower bound | requests without merging | request cost / month |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t f = 0; f < sizeof(flushes_s) / sizeof(flushes_s[0]); f++) {
        int64_t window = flushes_s[f] * 1000;
        gm_cw_t *cw = gm_cw_new("GitHubActions");
        size_t requests = 0, datums = 0, values = 0, bound = 0, unmerged = 0, bytes = 0;
        size_t i = 0;
        for (int64_t t = start; i < n; t += window) {
            size_t window_datums = 0, window_bytes = 0, raw = 0;
            for (; i < n && items[i].at < t + window; i++) {
                /* Before merging a line is 4 (run) or 5 (job) metrics × 4 sets. */
                raw += strstr(items[i].line, "\"RecordType\":\"job\"") ? 20 : 16;
                size_t rejected = 0;
                char reason[128];
                gm_cw_add(cw, items[i].line, strlen(items[i].line), t + window, &rejected, reason, sizeof(reason));
            }
            size_t d, v;
            char *body;
            while ((body = gm_cw_take_request(cw, &d, &v)) != NULL) {
                requests++, datums += d, values += v, window_datums += d, window_bytes += strlen(body);
                bytes += strlen(body);
                free(body);
            }
            if (window_datums > 0)
                bound += gm_cw_lower_bound(window_datums, window_bytes / window_datums + 1);
            unmerged += (raw + 999) / 1000;
        }
        /* 1,000 runs a (working) day, 21 days a month, $0.01 per 1,000 requests. */
        printf("| %llds | %zu | %zu | %zu | %zu | %zu | $%.4f |\n", (long long)flushes_s[f], datums, values, requests,
               bound, unmerged, requests * 21 * 0.01 / 1000);
        gm_cw_free(cw);
    }
    for (size_t i = 0; i < n; i++)
        free(items[i].line);
    free(items);
    return 0;
}
