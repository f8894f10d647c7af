/* h2post: a small closed-loop load generator for bench/ingest, for the one
 * thing h2load cannot do: give every request its own X-GitHub-Delivery.
 *
 * h2load sends the same header set with every request (-H is fixed for the
 * run; only the URI can vary, and gha-metrics reads the delivery id from the
 * header), so against a receiver that de-duplicates by delivery id all but
 * the first h2load request would be answered "duplicate" without an fsync.
 * h2post keeps CONNS connections with STREAMS requests in flight on each
 * (like h2load -c CONNS -m STREAMS), over HTTP/2 with TLS (ALPN h2) or
 * HTTP/1.1, through libcurl's multi interface (already a build dependency of
 * gha-metrics), and sends the same signed body with a fresh delivery id each
 * time.
 *
 *   h2post URL BODY_FILE SIGNATURE TAG CONNS SECONDS [h2|h1] [STREAMS]
 *
 * Runs for SECONDS, then stops issuing requests and lets the ones in flight
 * finish (so every delivery the server accepted has been counted here too).
 * Prints one JSON line on stdout, in the shape of bench/lib/webhook.lua's:
 *   {"tool":"h2post","requests":N,"duration_us":N,"status":{"202":N},
 *    "errors":{"transfer":N},"connections":N,"http2":N,
 *    "latency_us":{"p50":N,"p99":N,"max":N,"mean":N}}
 * Latency is measured from handing the request to libcurl to its completion
 * (like h2load's "time for request"). As in wrk and h2load, connection set-up
 * is left out: the first request of each connection (TCP + TLS handshake) is
 * counted in "requests" but not timed ("connections" says how many). */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    CURL *h;
    struct curl_slist *headers;
    uint64_t started_ns;
} xfer_t;

static const char *g_signature, *g_tag;
static uint64_t g_counter;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static void die(const char *what)
{
    fprintf(stderr, "h2post: %s\n", what);
    exit(2);
}

/* A fresh delivery id (GitHub's 8-4-4-4-12 hex shape) for the next request. */
static void new_delivery(xfer_t *x)
{
    char line[128];
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    const char *fixed[] = {"Content-Type: application/json", "User-Agent: GitHub-Hookshot/bench", "Accept: */*",
                           "X-GitHub-Event: workflow_run", "X-GitHub-Hook-ID: 1", "Expect:"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if ((x->headers = curl_slist_append(x->headers, fixed[i])) == NULL)
            die("out of memory");
    snprintf(line, sizeof(line), "X-Hub-Signature-256: %s", g_signature);
    x->headers = curl_slist_append(x->headers, line);
    snprintf(line, sizeof(line), "X-GitHub-Delivery: %s-ffff-4000-8000-%012" PRIx64, g_tag, ++g_counter);
    x->headers = curl_slist_append(x->headers, line);
    if (x->headers == NULL)
        die("out of memory");
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->headers);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: h2post URL BODY_FILE SIGNATURE TAG CONNS SECONDS [h2|h1] [STREAMS]\n");
        return 2;
    }
    const char *url = argv[1], *body_file = argv[2];
    g_signature = argv[3];
    g_tag = argv[4];
    long conns = strtol(argv[5], NULL, 10);
    double seconds = strtod(argv[6], NULL);
    int h2 = argc < 8 || strcmp(argv[7], "h1") != 0;
    long streams = argc > 8 ? strtol(argv[8], NULL, 10) : 1;
    if (conns < 1 || conns > 10000 || seconds <= 0 || streams < 1 || streams > 1000 || strlen(g_tag) != 8 ||
        strlen(g_signature) > 80)
        die("bad arguments");

    FILE *f = fopen(body_file, "rb");
    if (f == NULL)
        die("cannot open the body file");
    static char body[1 << 22];
    size_t body_len = fread(body, 1, sizeof(body), f);
    fclose(f);
    if (body_len == 0 || body_len == sizeof(body))
        die("body file empty or too large");

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)(h2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING));
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, streams);

    size_t n = (size_t)(conns * (h2 ? streams : 1));
    xfer_t *xs = calloc(n, sizeof(*xs));
    size_t lat_cap = 1 << 16, lat_n = 0;
    uint64_t *lat = malloc(lat_cap * sizeof(*lat));
    if (xs == NULL || lat == NULL)
        die("out of memory");

    uint64_t start = now_ns(), stop_at = start + (uint64_t)(seconds * 1e9);
    for (size_t i = 0; i < n; i++) {
        xfer_t *x = &xs[i];
        if ((x->h = curl_easy_init()) == NULL)
            die("curl_easy_init failed");
        curl_easy_setopt(x->h, CURLOPT_URL, url);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION, (long)(h2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1));
        curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 0L); /* loopback, self-signed */
        curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, 10000L); /* GitHub gives up after 10 s */
        curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        new_delivery(x);
        x->started_ns = now_ns();
        curl_multi_add_handle(multi, x->h);
    }

    uint64_t requests = 0, errors = 0, connections = 0, http2 = 0, sum_lat = 0, last_done = start;
    uint64_t status[600] = {0};
    int running = 1;
    size_t active = n;
    while (active > 0) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            die("curl_multi_perform failed");
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            xfer_t *x;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            uint64_t t = now_ns();
            long code = 0, conn = 0, version = 0;
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
            curl_easy_getinfo(x->h, CURLINFO_NUM_CONNECTS, &conn);
            curl_easy_getinfo(x->h, CURLINFO_HTTP_VERSION, &version);
            connections += (uint64_t)conn;
            if (m->data.result != CURLE_OK || code <= 0 || code >= 600) {
                errors++;
                if (errors <= 5)
                    fprintf(stderr, "h2post: %s\n", curl_easy_strerror(m->data.result));
            } else {
                requests++;
                status[code]++;
                if (version == CURL_HTTP_VERSION_2_0)
                    http2++;
                /* Like wrk and h2load, request latency leaves out connection set-up: the
                 * first request of each connection (TCP + TLS handshake) is counted, not timed. */
                if (conn == 0) {
                    if (lat_n == lat_cap) {
                        lat_cap *= 2;
                        if ((lat = realloc(lat, lat_cap * sizeof(*lat))) == NULL)
                            die("out of memory");
                    }
                    lat[lat_n++] = (t - x->started_ns) / 1000;
                    sum_lat += (t - x->started_ns) / 1000;
                }
            }
            last_done = t;
            curl_multi_remove_handle(multi, x->h);
            if (t < stop_at) {
                new_delivery(x);
                x->started_ns = now_ns();
                curl_multi_add_handle(multi, x->h);
            } else {
                active--;
            }
        }
        if (active > 0 && curl_multi_poll(multi, NULL, 0, 100, NULL) != CURLM_OK)
            die("curl_multi_poll failed");
    }

    qsort(lat, lat_n, sizeof(*lat), cmp_u64);
#define PCT(p) (lat_n ? lat[(size_t)((p) / 100.0 * (double)(lat_n - 1) + 0.5)] : 0)
    printf("{\"tool\":\"h2post\",\"requests\":%" PRIu64 ",\"duration_us\":%" PRIu64 ",\"status\":{", requests,
           (last_done - start) / 1000);
    int first = 1;
    for (int c = 0; c < 600; c++)
        if (status[c]) {
            printf("%s\"%d\":%" PRIu64, first ? "" : ",", c, status[c]);
            first = 0;
        }
    printf("},\"errors\":{\"transfer\":%" PRIu64 "},\"connections\":%" PRIu64 ",\"http2\":%" PRIu64
           ",\"latency_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 ",\"mean\":%.1f}}\n",
           errors, connections, http2, PCT(50), PCT(99), lat_n ? lat[lat_n - 1] : 0,
           lat_n ? (double)sum_lat / (double)lat_n : 0.0);

    for (size_t i = 0; i < n; i++) {
        curl_easy_cleanup(xs[i].h);
        curl_slist_free_all(xs[i].headers);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    free(xs);
    free(lat);
    return 0;
}
