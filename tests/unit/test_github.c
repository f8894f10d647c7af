/* gm_github: Link parsing, the app JWT, and real requests against the test
 * server of http_stub.h started inside each test (one request per
 * connection). The clock and the sleep are fake (stub_clock_t): sleeps
 * advance the clock and are recorded, so rate-limit waits are asserted
 * without waiting. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gm/alloc.h"
#include "gm/github.h"
#include "gm/http.h"
#include "gm/record.h"

#include "http_stub.h"

#define TOKEN "ghp_TESTTOKEN0123456789abcdef"
#define T0_MS 1700000000000LL

/* One request per connection; a request no route takes gets 599, a status
 * GitHub never sends. */
static const stub_opts_t GH = {.no_route = 599, .one_per_conn = true};

/* ---- helpers ------------------------------------------------------------------------ */

static char base_url[64];

static gm_github_t *open_opts(stub_t *s, stub_clock_t *clk, gm_github_opts_t o)
{
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", s != NULL ? s->port : 9);
    o.base_url = base_url;
    o.timeout_ms = o.timeout_ms ? o.timeout_ms : 5000;
    o.now_ms = stub_now;
    o.sleep_ms = stub_sleep;
    o.clock_ctx = clk;
    char err[256] = "";
    gm_github_t *gh = gm_github_open(&o, err, sizeof(err));
    cr_assert_not_null(gh, "open: %s", err);
    return gh;
}

static gm_github_t *open_token(stub_t *s, stub_clock_t *clk)
{
    return open_opts(s, clk, (gm_github_opts_t){.token = TOKEN});
}

static void get_ok(gm_github_t *gh, const char *path, gm_github_page_t *page)
{
    char err[256] = "";
    cr_assert_eq(gm_github_get_page(gh, path, page, err, sizeof(err)), 0, "get %s: %s", path, err);
}

/* ---- Link header ----------------------------------------------------------------------- */

/* Every client reads Retry-After through gm_http_retry_after_ms. */
Test(http, retry_after_seconds_and_http_dates)
{
    const int64_t now = INT64_C(1445412480000); /* Wed, 21 Oct 2015 07:28:00 GMT */
#define RA(s) gm_http_retry_after_ms(s, strlen(s), now)
    cr_assert_eq(RA("120"), 120000);
    cr_assert_eq(RA("0"), 0);
    cr_assert_eq(RA("1.5"), 1500);
    cr_assert_eq(RA("Wed, 21 Oct 2015 07:29:30 GMT"), 90000, "90 s after now");
    cr_assert_eq(RA("Wed, 21 Oct 2015 07:00:00 GMT"), 0, "a date already past");
    cr_assert_eq(RA("-5"), -1);
    cr_assert_eq(RA("soon"), -1);
    cr_assert_eq(RA(""), -1);
#undef RA
}

Test(github_link, next_among_others)
{
    char *n = gm_github_link_next("<https://api.github.com/repositories/1/actions/runs?per_page=100&page=2>; "
                                  "rel=\"next\", <https://api.github.com/repositories/1/actions/runs?page=5>; "
                                  "rel=\"last\"");
    cr_assert_str_eq(n, "https://api.github.com/repositories/1/actions/runs?per_page=100&page=2");
    free(n);

    n = gm_github_link_next("<https://x/a?page=1>; rel=\"prev\",<https://x/a?page=3>;rel=next");
    cr_assert_str_eq(n, "https://x/a?page=3");
    free(n);

    /* Spacing, parameter order, a rel list, commas inside the URL. */
    n = gm_github_link_next("  <https://x/a?page=1>  ;  rel = \"first\" ,\t<https://x/a?q=a,b&page=4> ; "
                            "title=\"x; y, z\" ; REL=\"last NEXT\"");
    cr_assert_str_eq(n, "https://x/a?q=a,b&page=4");
    free(n);
}

Test(github_link, no_next)
{
    cr_assert_null(gm_github_link_next(NULL));
    cr_assert_null(gm_github_link_next(""));
    cr_assert_null(gm_github_link_next("<https://x/a?page=1>; rel=\"prev\", <https://x/a?page=1>; rel=\"first\""));
    cr_assert_null(gm_github_link_next("<https://x/a?page=2>; rel=\"nextpage\""));
    cr_assert_null(gm_github_link_next("<https://x/a?page=2; rel=\"next\""));
    cr_assert_null(gm_github_link_next("garbage; rel=\"next\""));
}

/* ---- headers, pagination, errors ------------------------------------------------------------ */

Test(github, headers_sent_and_stats)
{
    stub_route_t r[] = {{"GET", "/repos/o/r/actions/runs?per_page=100", 1, 200,
                         "x-ratelimit-limit: 5000\r\nx-ratelimit-remaining: 4999\r\nx-ratelimit-reset: 1700003600\r\n"
                         "x-ratelimit-resource: core\r\n",
                         "{\"total_count\":0,\"workflow_runs\":[]}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.remaining, -1);
    cr_assert_eq(st.limit, -1);

    gm_github_page_t page;
    get_ok(gh, "/repos/o/r/actions/runs?per_page=100", &page);
    cr_assert_eq(page.status, 200);
    cr_assert_eq(page.from_cache, 0);
    cr_assert_null(page.next);
    cr_assert_eq(json_integer_value(json_object_get(page.body, "total_count")), 0);
    gm_github_page_clear(&page);

    const stub_req_t *q = stub_req(s, 0);
    cr_assert_str_eq(q->method, "GET");
    stub_assert_header(q, "Accept", "application/vnd.github+json");
    stub_assert_header(q, "X-GitHub-Api-Version", "2022-11-28");
    stub_assert_header(q, "User-Agent", "gha-metrics");
    stub_assert_header(q, "Authorization", "Bearer " TOKEN);
    cr_assert_null(stub_header(q, "If-None-Match"));

    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 1);
    cr_assert_eq(st.limit, 5000);
    cr_assert_eq(st.remaining, 4999);
    cr_assert_eq(st.reset_s, 1700003600);
    cr_assert_str_eq(st.resource, "core");
    cr_assert_eq(st.rate_limited, 0);
    cr_assert_eq(clk.nsleeps, 0);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, pagination_three_pages)
{
    stub_route_t r[] = {
        {"GET", "/orgs/o/repos?per_page=2", 1, 200,
         "Link: <http://127.0.0.1:$PORT/organizations/9/repos?per_page=2&page=2>; rel=\"next\", "
         "<http://127.0.0.1:$PORT/organizations/9/repos?per_page=2&page=3>; rel=\"last\"\r\n",
         "[{\"id\":1},{\"id\":2}]"},
        {"GET", "/organizations/9/repos?per_page=2&page=2", 1, 200,
         "Link: <http://127.0.0.1:$PORT/organizations/9/repos?per_page=2&page=1>; rel=\"prev\", "
         "<http://127.0.0.1:$PORT/organizations/9/repos?per_page=2&page=3>; rel=\"next\"\r\n",
         "[{\"id\":3},{\"id\":4}]"},
        {"GET", "/organizations/9/repos?per_page=2&page=3", 1, 200,
         "Link: <http://127.0.0.1:$PORT/organizations/9/repos?per_page=2&page=2>; rel=\"prev\"\r\n", "[{\"id\":5}]"},
    };
    stub_t *s = stub_start(r, 3, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    char *url = gm_strdup("/orgs/o/repos?per_page=2");
    int64_t ids = 0, pages = 0;
    while (url != NULL) {
        gm_github_page_t page;
        get_ok(gh, url, &page);
        cr_assert_eq(page.status, 200);
        size_t i;
        json_t *v;
        json_array_foreach(page.body, i, v) ids = ids * 10 + json_integer_value(json_object_get(v, "id"));
        free(url);
        url = page.next;
        page.next = NULL;
        gm_github_page_clear(&page);
        pages++;
    }
    cr_assert_eq(pages, 3);
    cr_assert_eq(ids, 12345);
    cr_assert_eq(stub_nreqs(s), 3);
    for (size_t i = 0; i < 3; i++)
        stub_assert_header(stub_req(s, i), "Authorization", "Bearer " TOKEN);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, foreign_origin_refused)
{
    stub_route_t r[] = {{"GET", NULL, 0, 200, "", "{}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    char err[256] = "";
    cr_assert_eq(gm_github_get_page(gh, "http://evil.example/x", &page, err, sizeof(err)), -1);
    cr_assert(strstr(err, "origin") != NULL, "%s", err);
    cr_assert_eq(gm_github_get_page(gh, "/x\r\nX-Evil: 1", &page, err, sizeof(err)), -1);
    cr_assert_eq(stub_nreqs(s), 0);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, not_found_returned_as_is)
{
    stub_route_t r[] = {{"GET", "/repos/o/gone/actions/runs", 0, 404, "x-ratelimit-remaining: 4000\r\n",
                         "{\"message\":\"Not Found\",\"documentation_url\":\"https://docs.github.com\"}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/repos/o/gone/actions/runs", &page);
    cr_assert_eq(page.status, 404);
    cr_assert_str_eq(json_string_value(json_object_get(page.body, "message")), "Not Found");
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 1);
    cr_assert_eq(clk.nsleeps, 0);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, forbidden_without_limit_not_retried)
{
    stub_route_t r[] = {{"GET", "/repos/o/r", 0, 403, "x-ratelimit-remaining: 4000\r\n",
                         "{\"message\":\"Resource not accessible by integration\"}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/repos/o/r", &page);
    cr_assert_eq(page.status, 403);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 1);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.rate_limited, 0);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, server_errors_retried)
{
    stub_route_t r[] = {{"GET", "/a", 2, 502, "", "{\"message\":\"Bad gateway\"}"},
                        {"GET", "/a", 1, 200, "", "[1]"},
                        {"GET", "/b", 0, 503, "", ""}};
    stub_t *s = stub_start(r, 3, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    cr_assert_eq(json_array_size(page.body), 1);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 3);
    cr_assert_eq(clk.nsleeps, 2);
    cr_assert_eq(clk.sleeps[0], 1000);
    cr_assert_eq(clk.sleeps[1], 2000);

    /* Always 503: five attempts, then the last answer. */
    get_ok(gh, "/b", &page);
    cr_assert_eq(page.status, 503);
    cr_assert_null(page.body);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 8);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 8);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, transport_errors_retried)
{
    stub_route_t r[] = {{"GET", "/a", 2, 0, NULL, NULL, STUB_CLOSE}, {"GET", "/a", 1, 200, "", "{\"ok\":true}"}};
    stub_t *s = stub_start(r, 2, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    cr_assert(json_is_true(json_object_get(page.body, "ok")));
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 3);
    cr_assert_eq(clk.nsleeps, 2);
    gm_github_close(gh);
    stub_stop(s);

    /* Nobody listening: five attempts, -1, status 0, no token in the error. */
    char url[64], err[512] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", stub_free_port());
    stub_clock_t clk2 = {.now = T0_MS};
    gm_github_opts_t o = {
        .base_url = url, .token = TOKEN, .now_ms = stub_now, .sleep_ms = stub_sleep, .clock_ctx = &clk2};
    gh = gm_github_open(&o, err, sizeof(err));
    cr_assert_not_null(gh);
    cr_assert_eq(gm_github_get_page(gh, "/a", &page, err, sizeof(err)), -1);
    cr_assert_eq(page.status, 0);
    cr_assert_null(page.body);
    cr_assert(err[0] != '\0');
    cr_assert_null(strstr(err, "TESTTOKEN"), "%s", err);
    cr_assert_eq(clk2.nsleeps, 4);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 5);
    gm_github_close(gh);
}

/* ---- rate limits ---------------------------------------------------------------------------- */

Test(github, primary_limit_waits_until_reset)
{
    /* T0 is 1700000000 s; reset 100 s later. */
    stub_route_t r[] = {{"GET", "/a", 1, 403,
                         "x-ratelimit-limit: 5000\r\nx-ratelimit-remaining: 0\r\nx-ratelimit-reset: 1700000100\r\n",
                         "{\"message\":\"API rate limit exceeded for user ID 1.\"}"},
                        {"GET", "/a", 1, 200,
                         "x-ratelimit-limit: 5000\r\nx-ratelimit-remaining: 4999\r\nx-ratelimit-reset: 1700003700\r\n",
                         "[]"}};
    stub_t *s = stub_start(r, 2, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    cr_assert_eq(clk.sleeps[0], 100000);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 2);
    cr_assert_eq(st.rate_limited, 1);
    cr_assert_eq(st.waited_ms, 100000);
    cr_assert_eq(st.remaining, 4999);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, secondary_limit_retry_after)
{
    stub_route_t r[] = {{"GET", "/a", 1, 403, "retry-after: 7\r\nx-ratelimit-remaining: 4000\r\n",
                         "{\"message\":\"You have exceeded a secondary rate limit.\"}"},
                        {"GET", "/a", 1, 200, "", "[]"}};
    stub_t *s = stub_start(r, 2, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    cr_assert_eq(clk.sleeps[0], 7000);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.rate_limited, 1);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, secondary_limit_by_message_backs_off)
{
    stub_route_t r[] = {{"GET", "/a", 1, 403, "", "{\"message\":\"You have exceeded a secondary rate limit.\"}"},
                        {"GET", "/a", 1, 200, "", "[]"}};
    stub_t *s = stub_start(r, 2, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    cr_assert_eq(clk.sleeps[0], 60000);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, too_many_requests_exponential)
{
    stub_route_t r[] = {{"GET", "/a", 2, 429, "", ""}, {"GET", "/a", 1, 200, "", "{}"}, {"GET", "/b", 0, 429, "", ""}};
    stub_t *s = stub_start(r, 3, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 2);
    cr_assert_eq(clk.sleeps[0], 60000);
    cr_assert_eq(clk.sleeps[1], 120000);

    /* Never lifted: five attempts, then the 429 itself. */
    clk.nsleeps = 0;
    get_ok(gh, "/b", &page);
    cr_assert_eq(page.status, 429);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 4);
    cr_assert_eq(clk.sleeps[3], 480000);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.rate_limited, 7);
    cr_assert_eq(st.requests, 8);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, proactive_slowdown_at_reserve)
{
    stub_route_t r[] = {
        {"GET", "/a", 1, 200, "x-ratelimit-remaining: 51\r\nx-ratelimit-reset: 1700000030\r\n", "{}"},
        {"GET", "/a", 1, 200, "x-ratelimit-remaining: 50\r\nx-ratelimit-reset: 1700000030\r\n", "{}"},
        {"GET", "/a", 1, 200, "x-ratelimit-remaining: 4999\r\nx-ratelimit-reset: 1700003630\r\n", "{}"},
        {"GET", "/a", 1, 200, "x-ratelimit-remaining: 4998\r\nx-ratelimit-reset: 1700003630\r\n", "{}"},
    };
    stub_t *s = stub_start(r, 4, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk); /* default reserve: 50 */
    gm_github_page_t page;
    get_ok(gh, "/a", &page); /* 51 left: above the reserve */
    gm_github_page_clear(&page);
    get_ok(gh, "/a", &page); /* no wait before; 50 left afterwards */
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 0);
    clk.now += 10000;
    get_ok(gh, "/a", &page); /* waits the 20 s left until reset first */
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    cr_assert_eq(clk.sleeps[0], 20000);
    get_ok(gh, "/a", &page);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.waited_ms, 20000);
    cr_assert_eq(st.rate_limited, 0);
    gm_github_close(gh);
    stub_stop(s);
}

Test(github, custom_reserve)
{
    stub_route_t r[] = {{"GET", "/a", 0, 200, "x-ratelimit-remaining: 100\r\nx-ratelimit-reset: 1700000005\r\n", "{}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .reserve = 100});
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    gm_github_page_clear(&page);
    get_ok(gh, "/a", &page);
    gm_github_page_clear(&page);
    cr_assert_eq(clk.nsleeps, 1);
    cr_assert_eq(clk.sleeps[0], 5000);
    gm_github_close(gh);
    stub_stop(s);
}

/* ---- ETags ------------------------------------------------------------------------------------ */

static char *temp_path(void)
{
    char *p = gm_strdup("/tmp/gm-test-gh-XXXXXX");
    int fd = mkstemp(p);
    cr_assert(fd >= 0);
    close(fd);
    unlink(p); /* a missing file: an empty cache */
    return p;
}

Test(github, etag_conditional_and_persisted)
{
    stub_route_t r[] = {
        {"GET", "/repos/o/r/actions/runs", 1, 200,
         "ETag: W/\"abc123\"\r\nLink: <http://127.0.0.1:$PORT/repos/o/r/actions/runs?page=2>; rel=\"next\"\r\n",
         "{\"total_count\":1,\"workflow_runs\":[{\"id\":7}]}"},
        {"GET", "/repos/o/r/actions/runs", 0, 304, "ETag: W/\"abc123\"\r\n", ""},
    };
    stub_t *s = stub_start(r, 2, &GH);
    char *path = temp_path();
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .etag_cache = path});
    gm_github_page_t page;
    get_ok(gh, "/repos/o/r/actions/runs", &page);
    cr_assert_eq(page.status, 200);
    cr_assert_eq(page.from_cache, 0);
    json_object_set_new(page.body, "mutated", json_true()); /* the caller's copy */
    gm_github_page_clear(&page);
    gm_github_cache_keep_body(gh, "/repos/o/r/actions/runs", true);

    get_ok(gh, "/repos/o/r/actions/runs", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_eq(page.from_cache, 1);
    cr_assert_eq(json_integer_value(json_object_get(page.body, "total_count")), 1);
    cr_assert_null(json_object_get(page.body, "mutated"));
    char want_next[128];
    snprintf(want_next, sizeof(want_next), "http://127.0.0.1:%d/repos/o/r/actions/runs?page=2", s->port);
    cr_assert_str_eq(page.next, want_next);
    gm_github_page_clear(&page);
    cr_assert_null(stub_header(stub_req(s, 0), "If-None-Match"));
    stub_assert_header(stub_req(s, 1), "If-None-Match", "W/\"abc123\"");
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 2);
    cr_assert_eq(st.not_modified, 1);
    gm_github_close(gh);
    cr_assert_eq(access(path, F_OK), 0, "cache not saved");

    /* Across close/open. */
    gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .etag_cache = path});
    get_ok(gh, "/repos/o/r/actions/runs", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_eq(page.from_cache, 1);
    cr_assert_eq(
        json_integer_value(json_object_get(json_array_get(json_object_get(page.body, "workflow_runs"), 0), "id")), 7);
    cr_assert_str_eq(page.next, want_next);
    gm_github_page_clear(&page);
    stub_assert_header(stub_req(s, 2), "If-None-Match", "W/\"abc123\"");
    gm_github_close(gh);

    /* The file holds no token. */
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert_null(strstr(buf, "TESTTOKEN"));
    unlink(path);
    free(path);
    stub_stop(s);
}

Test(github, etag_cache_corrupt_file_starts_empty)
{
    char *path = temp_path();
    FILE *f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    stub_route_t r[] = {{"GET", "/a", 0, 200, "ETag: \"e1\"\r\n", "[1,2]"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .etag_cache = path});
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    gm_github_cache_keep_body(gh, "/a", true);
    gm_github_close(gh);
    json_t *root = json_load_file(path, 0, NULL);
    cr_assert_not_null(root);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/a", s->port);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(root, "entries"), url), "etag")),
                     "\"e1\"");
    json_decref(root);
    unlink(path);
    free(path);
    stub_stop(s);
}

/* The entry of url in the cache file at path (new reference), or NULL. */
static json_t *file_entry(const char *path, stub_t *s, const char *url_path)
{
    json_t *root = json_load_file(path, 0, NULL);
    cr_assert_not_null(root, "%s: not JSON", path);
    cr_assert_eq(json_integer_value(json_object_get(root, "version")), 2);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, url_path);
    json_t *e = json_incref(json_object_get(json_object_get(root, "entries"), url));
    json_decref(root);
    return e;
}

static void assert_no_inm(stub_t *s, size_t i)
{
    const char *v = stub_header(stub_req(s, i), "If-None-Match");
    cr_assert_null(v, "request #%zu (%s) sent If-None-Match: %s", i, stub_req(s, i)->path, v);
}

/* The body is saved only when the caller keeps it; a settled page keeps its
 * ETag and next link, and its 304 returns no body but the next link; a page
 * nobody decided on is conditional within the client only. */
Test(github, etag_body_kept_only_when_asked)
{
    stub_route_t r[] = {
        {"GET", "/kept", 1, 200, "ETag: \"k1\"\r\n", "{\"workflow_runs\":[{\"id\":1}]}"},
        {"GET", "/kept", 0, 304, "", ""},
        {"GET", "/settled", 1, 200,
         "ETag: \"s1\"\r\nLink: <http://127.0.0.1:$PORT/settled?page=2>; rel=\"next\"\r\n",
         "{\"workflow_runs\":[{\"id\":2}]}"},
        {"GET", "/settled", 0, 304, "", ""},
        {"GET", "/silent", 1, 200, "ETag: \"q1\"\r\n", "{\"workflow_runs\":[{\"id\":3}]}"},
        {"GET", "/silent", 1, 304, "", ""},
        {"GET", "/silent", 1, 200, "ETag: \"q1\"\r\n", "{\"workflow_runs\":[{\"id\":3}]}"},
    };
    stub_t *s = stub_start(r, 7, &GH);
    char *path = temp_path();
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .etag_cache = path});
    gm_github_page_t page;
    const char *paths[] = {"/kept", "/settled", "/silent"};
    for (size_t i = 0; i < 3; i++) {
        get_ok(gh, paths[i], &page);
        cr_assert_eq(page.status, 200);
        gm_github_page_clear(&page);
    }
    gm_github_cache_keep_body(gh, "/kept", true);
    char next[128];
    snprintf(next, sizeof(next), "http://127.0.0.1:%d/settled", s->port);
    gm_github_cache_keep_body(gh, next, false); /* a full URL names the same entry */
    gm_github_cache_keep_body(gh, "/unknown", true); /* nothing to keep: no effect */
    /* Undecided, but held within the client: its 304 has the body. */
    get_ok(gh, "/silent", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_eq(page.from_cache, 1);
    cr_assert_not_null(page.body);
    gm_github_page_clear(&page);
    stub_assert_header(stub_req(s, 3), "If-None-Match", "\"q1\"");
    gm_github_close(gh);

    json_t *e = file_entry(path, s, "/kept");
    cr_assert_not_null(e);
    cr_assert_str_eq(json_string_value(json_object_get(e, "etag")), "\"k1\"");
    cr_assert(json_is_array(json_object_get(json_object_get(e, "body"), "workflow_runs")));
    cr_assert_eq(json_integer_value(json_object_get(e, "used_at")), T0_MS);
    json_decref(e);
    e = file_entry(path, s, "/settled");
    cr_assert_not_null(e);
    cr_assert_null(json_object_get(e, "body"));
    cr_assert_null(json_object_get(e, "pending"));
    snprintf(next, sizeof(next), "http://127.0.0.1:%d/settled?page=2", s->port);
    cr_assert_str_eq(json_string_value(json_object_get(e, "next")), next);
    json_decref(e);
    cr_assert_null(file_entry(path, s, "/silent"), "an undecided page was saved");

    gh = open_opts(s, &clk, (gm_github_opts_t){.token = TOKEN, .etag_cache = path});
    get_ok(gh, "/kept", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_eq(page.from_cache, 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(page.body, "workflow_runs"), 0), "id")),
                 1);
    cr_assert_null(page.next);
    gm_github_page_clear(&page);
    /* Settled: 304, from the cache, no body, the stored next link. */
    get_ok(gh, "/settled", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_eq(page.from_cache, 1);
    cr_assert_null(page.body);
    cr_assert_str_eq(page.next, next);
    gm_github_page_clear(&page);
    gm_github_cache_keep_body(gh, "/settled", true); /* no body to keep: stays settled */
    get_ok(gh, "/silent", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    stub_assert_header(stub_req(s, 4), "If-None-Match", "\"k1\"");
    stub_assert_header(stub_req(s, 5), "If-None-Match", "\"s1\"");
    assert_no_inm(s, 6);
    gm_github_close(gh);
    e = file_entry(path, s, "/settled");
    cr_assert_not_null(e);
    cr_assert_null(json_object_get(e, "body"));
    json_decref(e);
    unlink(path);
    free(path);
    stub_stop(s);
}

#define DAY_MS (24 * 3600 * 1000LL)

/* Entries unused (neither stored nor answered 304) for 8 days are dropped:
 * a 304 counts as a use. */
Test(github, etag_entries_expire_after_8_days)
{
    stub_route_t r[] = {
        {"GET", "/a", 1, 200, "ETag: \"a1\"\r\n", "[1]"},
        {"GET", "/a", 0, 304, "", ""},
        {"GET", "/b", 1, 200, "ETag: \"b1\"\r\n", "[2]"},
        {"GET", "/b", 0, 200, "ETag: \"b1\"\r\n", "[2]"},
    };
    stub_t *s = stub_start(r, 4, &GH);
    char *path = temp_path();
    stub_clock_t clk = {.now = T0_MS};
    gm_github_opts_t o = {.token = TOKEN, .etag_cache = path};
    gm_github_t *gh = open_opts(s, &clk, o);
    gm_github_page_t page;
    get_ok(gh, "/a", &page);
    gm_github_page_clear(&page);
    gm_github_cache_keep_body(gh, "/a", false);
    get_ok(gh, "/b", &page);
    gm_github_page_clear(&page);
    gm_github_cache_keep_body(gh, "/b", true);
    gm_github_close(gh);

    /* 7 days on: both still there; /a answered 304, /b not asked. */
    clk.now = T0_MS + 7 * DAY_MS;
    gh = open_opts(s, &clk, o);
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_null(page.body);
    gm_github_page_clear(&page);
    gm_github_close(gh);
    json_t *e = file_entry(path, s, "/b");
    cr_assert_not_null(e, "dropped before its 8 days");
    json_decref(e);

    /* 9 days after /b was stored, 2 after /a was last used. */
    clk.now = T0_MS + 9 * DAY_MS;
    gh = open_opts(s, &clk, o);
    get_ok(gh, "/b", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    get_ok(gh, "/a", &page);
    cr_assert_eq(page.status, 304);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 5);
    assert_no_inm(s, 3);
    stub_assert_header(stub_req(s, 4), "If-None-Match", "\"a1\"");
    gm_github_close(gh); /* /b was not kept this time */
    cr_assert_null(file_entry(path, s, "/b"));

    /* Dropped at save too: /a is 9 days unused when this client closes. */
    gh = open_opts(s, &clk, o);
    clk.now = T0_MS + 18 * DAY_MS + 1;
    gm_github_close(gh);
    cr_assert_null(file_entry(path, s, "/a"));
    unlink(path);
    free(path);
    stub_stop(s);
}

/* Kept bodies stay under the cap: undecided ones are dropped first, then
 * kept ones, least recently used first, each with its entry (a kept page
 * must not come back as settled); settled entries hold no body. */
Test(github, etag_body_cap_holds)
{
    char body[512];
    int n = snprintf(body, sizeof(body), "{\"pad\":\"%0380d\"}", 0);
    cr_assert_lt((size_t)n, sizeof(body));
    char big[1600];
    snprintf(big, sizeof(big), "{\"pad\":\"%01500d\"}", 0);
    stub_route_t r[] = {
        {"GET", "/p1", 1, 200, "ETag: \"1\"\r\n", body}, {"GET", "/s", 1, 200, "ETag: \"s\"\r\n", body},
        {"GET", "/p2", 1, 200, "ETag: \"2\"\r\n", body}, {"GET", "/q", 1, 200, "ETag: \"q\"\r\n", body},
        {"GET", "/p3", 1, 200, "ETag: \"3\"\r\n", body}, {"GET", "/big", 1, 200, "ETag: \"b\"\r\n", big},
        {"GET", "/p1", 1, 200, "ETag: \"1\"\r\n", body}, {"GET", NULL, 0, 304, "", ""},
    };
    stub_t *s = stub_start(r, 8, &GH);
    char *path = temp_path();
    stub_clock_t clk = {.now = T0_MS};
    gm_github_opts_t o = {.token = TOKEN, .etag_cache = path, .etag_cache_bytes = 1000};
    gm_github_t *gh = open_opts(s, &clk, o);
    gm_github_page_t page;
    const char *order[] = {"/p1", "/s", "/p2", "/q", "/p3", "/big"};
    for (size_t i = 0; i < 6; i++) {
        clk.now += 1000;
        get_ok(gh, order[i], &page);
        cr_assert_eq(page.status, 200);
        gm_github_page_clear(&page);
        if (strcmp(order[i], "/q") == 0) /* /q: left undecided */
            continue;
        gm_github_cache_keep_body(gh, order[i], strcmp(order[i], "/s") != 0 && strcmp(order[i], "/big") != 0);
    }
    /* /p1, /p2 kept (800); /q stored (1,200): /p1 made room, /q being the
     * newest. /p3 stored: /q (undecided) made room. /big is over the cap by
     * itself: never held, but settled all the same. */
    gm_github_close(gh);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *entries = json_object_get(root, "entries");
    size_t bytes = 0;
    const char *url;
    json_t *e;
    json_object_foreach(entries, url, e)
    {
        json_t *b = json_object_get(e, "body");
        if (b != NULL)
            bytes += json_dumpb(b, NULL, 0, JSON_COMPACT);
    }
    cr_assert_leq(bytes, 1000);
    cr_assert_eq(json_object_size(entries), 4, "%zu entries", json_object_size(entries));
    json_decref(root);
    cr_assert_null(file_entry(path, s, "/p1"));
    cr_assert_null(file_entry(path, s, "/q"));
    const char *bodies[] = {"/p2", "/p3"}, *settled[] = {"/s", "/big"};
    for (size_t i = 0; i < 2; i++) {
        e = file_entry(path, s, bodies[i]);
        cr_assert_not_null(json_object_get(e, "body"), "%s", bodies[i]);
        json_decref(e);
        e = file_entry(path, s, settled[i]);
        cr_assert_not_null(e, "%s", settled[i]);
        cr_assert_null(json_object_get(e, "body"), "%s", settled[i]);
        json_decref(e);
    }

    /* Reopened: /p2 comes from the cache (and is used last now); /p1 is
     * asked afresh, and its body makes room by dropping /p3, now the least
     * recently used; /big is settled. */
    gh = open_opts(s, &clk, o);
    get_ok(gh, "/p2", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_not_null(page.body);
    gm_github_page_clear(&page);
    stub_assert_header(stub_req(s, 6), "If-None-Match", "\"2\"");
    get_ok(gh, "/p1", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    assert_no_inm(s, 7);
    gm_github_cache_keep_body(gh, "/p1", true);
    get_ok(gh, "/big", &page);
    cr_assert_eq(page.status, 304);
    cr_assert_null(page.body);
    gm_github_page_clear(&page);
    gm_github_close(gh);
    cr_assert_null(file_entry(path, s, "/p3"));
    e = file_entry(path, s, "/p1");
    cr_assert_not_null(json_object_get(e, "body"));
    json_decref(e);
    unlink(path);
    free(path);
    stub_stop(s);
}

/* ---- GitHub App --------------------------------------------------------------------------------- */

static char *rsa_key(EVP_PKEY **keyp)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    cr_assert_not_null(key);
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *pem = gm_strndup(data, (size_t)n);
    BIO_free(b);
    *keyp = key;
    return pem;
}

static unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
    size_t padded = (len + 3) / 4 * 4;
    char *std = gm_malloc(padded + 1);
    for (size_t i = 0; i < padded; i++) {
        char c = i < len ? s[i] : '=';
        cr_assert(c != '=' || i >= len, "padding in base64url");
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    std[padded] = '\0';
    unsigned char *out = gm_malloc(padded);
    int n = EVP_DecodeBlock(out, (unsigned char *)std, (int)padded);
    cr_assert(n >= 0);
    *outlen = (size_t)n - (padded - len); /* DecodeBlock counts the padding as zero bytes */
    free(std);
    return out;
}

/* Checks the JWT's header, claims and signature; returns the claims. */
static json_t *verify_jwt(const char *jwt, EVP_PKEY *key)
{
    const char *d1 = strchr(jwt, '.');
    cr_assert_not_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    cr_assert_not_null(d2);
    cr_assert_null(strchr(d2 + 1, '.'));
    size_t n;
    unsigned char *h = b64url_decode(jwt, (size_t)(d1 - jwt), &n);
    json_t *hdr = json_loadb((char *)h, n, 0, NULL);
    cr_assert_not_null(hdr);
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "RS256");
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "typ")), "JWT");
    json_decref(hdr);
    free(h);
    unsigned char *p = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    json_t *claims = json_loadb((char *)p, n, 0, NULL);
    cr_assert_not_null(claims);
    free(p);
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &n);
    cr_assert_eq(n, 256);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    cr_assert_eq(EVP_DigestVerify(md, sig, n, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1, "bad signature");
    EVP_MD_CTX_free(md);
    free(sig);
    return claims;
}

Test(github_app, jwt_verifies)
{
    EVP_PKEY *key;
    char *pem = rsa_key(&key);
    char err[256] = "";
    char *jwt = gm_github_app_jwt(12345, pem, 1700000000, err, sizeof(err));
    cr_assert_not_null(jwt, "%s", err);
    cr_assert_null(strchr(jwt, '='));
    json_t *c = verify_jwt(jwt, key);
    cr_assert_eq(json_integer_value(json_object_get(c, "iat")), 1700000000 - 60);
    cr_assert_eq(json_integer_value(json_object_get(c, "exp")), 1700000000 + 540);
    cr_assert(json_is_integer(json_object_get(c, "iss")));
    cr_assert_eq(json_integer_value(json_object_get(c, "iss")), 12345);
    json_decref(c);

    /* A tampered payload fails verification. */
    char *bad = gm_strdup(jwt);
    char *dot = strchr(bad, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    const char *d2 = strrchr(bad, '.');
    size_t n;
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &n);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    cr_assert_neq(EVP_DigestVerify(md, sig, n, (const unsigned char *)bad, (size_t)(d2 - bad)), 1);
    EVP_MD_CTX_free(md);
    free(sig);
    free(bad);
    free(jwt);
    EVP_PKEY_free(key);
    free(pem);
}

Test(github_app, bad_key_rejected_without_echo)
{
    char err[256] = "";
    const char *pem = "-----BEGIN PRIVATE KEY-----\nTk9UQUtFWVNFQ1JFVA==\n-----END PRIVATE KEY-----\n";
    cr_assert_null(gm_github_app_jwt(1, pem, 1700000000, err, sizeof(err)));
    cr_assert(err[0] != '\0');
    cr_assert_null(strstr(err, "Tk9UQUtFWVNFQ1JFVA"));
    cr_assert_null(strstr(err, "BEGIN"));
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *ecpem = gm_strndup(data, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(ec);
    cr_assert_null(gm_github_app_jwt(1, ecpem, 1700000000, err, sizeof(err)));
    cr_assert(strstr(err, "RSA") != NULL, "%s", err);
    free(ecpem);
}

Test(github_app, installation_token_exchange_use_and_refresh)
{
    EVP_PKEY *key;
    char *pem = rsa_key(&key);
    char tok1[256], tok2[256], exp_iso[32];
    gm_time_format_iso8601(T0_MS + 3600 * 1000LL, exp_iso, sizeof(exp_iso));
    snprintf(tok1, sizeof(tok1), "{\"token\":\"ghs_FIRSTtoken111\",\"expires_at\":\"%s\",\"permissions\":{}}", exp_iso);
    gm_time_format_iso8601(T0_MS + 2 * 3600 * 1000LL, exp_iso, sizeof(exp_iso));
    snprintf(tok2, sizeof(tok2), "{\"token\":\"ghs_SECONDtoken22\",\"expires_at\":\"%s\"}", exp_iso);
    stub_route_t r[] = {
        {"POST", "/app/installations/42/access_tokens", 1, 201, "", tok1},
        {"POST", "/app/installations/42/access_tokens", 1, 201, "", tok2},
        {"GET", "/installation/repositories", 0, 200, "", "{\"total_count\":0,\"repositories\":[]}"},
    };
    stub_t *s = stub_start(r, 3, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.app_id = 777, .app_key_pem = pem, .installation_id = 42});
    gm_github_page_t page;
    get_ok(gh, "/installation/repositories", &page);
    cr_assert_eq(page.status, 200);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 2);

    const stub_req_t *q = stub_req(s, 0);
    cr_assert_str_eq(q->method, "POST");
    cr_assert_str_eq(q->path, "/app/installations/42/access_tokens");
    stub_assert_header(q, "Accept", "application/vnd.github+json");
    stub_assert_header(q, "X-GitHub-Api-Version", "2022-11-28");
    const char *auth = stub_header(q, "Authorization");
    cr_assert_not_null(auth);
    cr_assert_eq(strncmp(auth, "Bearer ", 7), 0);
    json_t *c = verify_jwt(auth + 7, key);
    cr_assert_eq(json_integer_value(json_object_get(c, "iss")), 777);
    cr_assert_eq(json_integer_value(json_object_get(c, "iat")), T0_MS / 1000 - 60);
    cr_assert_eq(json_integer_value(json_object_get(c, "exp")), T0_MS / 1000 + 540);
    json_decref(c);
    stub_assert_header(stub_req(s, 1), "Authorization", "Bearer ghs_FIRSTtoken111");

    /* 50 minutes on: still more than 5 minutes left, no exchange. */
    clk.now += 50 * 60 * 1000LL;
    get_ok(gh, "/installation/repositories", &page);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 3);
    stub_assert_header(stub_req(s, 2), "Authorization", "Bearer ghs_FIRSTtoken111");

    /* 56 minutes: within 5 minutes of the hour, refreshed. */
    clk.now += 6 * 60 * 1000LL;
    get_ok(gh, "/installation/repositories", &page);
    gm_github_page_clear(&page);
    cr_assert_eq(stub_nreqs(s), 5);
    cr_assert_str_eq(stub_req(s, 3)->method, "POST");
    stub_assert_header(stub_req(s, 4), "Authorization", "Bearer ghs_SECONDtoken22");
    gm_github_stats_t st;
    gm_github_stats(gh, &st);
    cr_assert_eq(st.requests, 5);
    gm_github_close(gh);
    stub_stop(s);
    EVP_PKEY_free(key);
    free(pem);
}

Test(github_app, exchange_refused_error_has_no_secret)
{
    EVP_PKEY *key;
    char *pem = rsa_key(&key);
    stub_route_t r[] = {{"POST", "/app/installations/42/access_tokens", 0, 401, "",
                         "{\"message\":\"A JSON web token could not be decoded\"}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.app_id = 777, .app_key_pem = pem, .installation_id = 42});
    gm_github_page_t page;
    char err[512] = "";
    cr_assert_eq(gm_github_get_page(gh, "/installation/repositories", &page, err, sizeof(err)), -1);
    cr_assert(strstr(err, "401") != NULL, "%s", err);
    cr_assert(strstr(err, "could not be decoded") != NULL, "%s", err);
    cr_assert_null(strstr(err, "eyJ"), "%s", err); /* no JWT */
    cr_assert_null(strstr(err, "PRIVATE"), "%s", err);
    cr_assert_eq(stub_nreqs(s), 1); /* a 401 is not retried */
    gm_github_close(gh);
    stub_stop(s);
    EVP_PKEY_free(key);
    free(pem);
}

Test(github, open_validates)
{
    char err[256] = "";
    gm_github_opts_t o = {.base_url = "ftp://x"};
    cr_assert_null(gm_github_open(&o, err, sizeof(err)));
    o = (gm_github_opts_t){.base_url = "http://127.0.0.1:1"};
    cr_assert_null(gm_github_open(&o, err, sizeof(err)));
    cr_assert(strstr(err, "token") != NULL, "%s", err);
    o = (gm_github_opts_t){.base_url = "http://127.0.0.1:1", .token = "a\r\nb"};
    cr_assert_null(gm_github_open(&o, err, sizeof(err)));
}

Test(github, post_sends_json)
{
    stub_route_t r[] = {{"POST", "/app/hook/deliveries/5/attempts", 1, 202, "", "{}"}};
    stub_t *s = stub_start(r, 1, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_token(s, &clk);
    gm_github_page_t page;
    char err[256] = "";
    cr_assert_eq(gm_github_post(gh, "/app/hook/deliveries/5/attempts", "{\"a\":1}", &page, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(page.status, 202);
    gm_github_page_clear(&page);
    const stub_req_t *q = stub_req(s, 0);
    cr_assert_str_eq(q->body, "{\"a\":1}");
    stub_assert_header(q, "Content-Type", "application/json");
    stub_assert_header(q, "Authorization", "Bearer " TOKEN);
    gm_github_close(gh);
    stub_stop(s);
}

/* The App's own endpoints (/app/hook/deliveries and their redelivery) take
 * the app JWT even on a client that otherwise acts as the installation; a
 * token client is refused before anything is sent. */
Test(github_app, app_endpoints_use_the_jwt)
{
    EVP_PKEY *key;
    char *pem = rsa_key(&key);
    stub_route_t r[] = {
        {"GET", "/app/hook/deliveries?per_page=100", 1, 200, "", "[]"},
        {"POST", "/app/hook/deliveries/7/attempts", 1, 202, "", "{}"},
    };
    stub_t *s = stub_start(r, 2, &GH);
    stub_clock_t clk = {.now = T0_MS};
    gm_github_t *gh = open_opts(s, &clk, (gm_github_opts_t){.app_id = 777, .app_key_pem = pem, .installation_id = 42});
    cr_assert(gm_github_is_app(gh));
    gm_github_page_t page;
    char err[256] = "";
    cr_assert_eq(gm_github_get_page_as_app(gh, "/app/hook/deliveries?per_page=100", &page, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(page.status, 200);
    cr_assert(json_is_array(page.body));
    gm_github_page_clear(&page);
    cr_assert_eq(gm_github_post_as_app(gh, "/app/hook/deliveries/7/attempts", NULL, &page, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(page.status, 202);
    gm_github_page_clear(&page);
    /* No installation token was fetched: two requests, each with a JWT. */
    cr_assert_eq(stub_nreqs(s), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *auth = stub_header(stub_req(s, i), "Authorization");
        cr_assert_not_null(auth);
        cr_assert_eq(strncmp(auth, "Bearer ", 7), 0);
        json_t *c = verify_jwt(auth + 7, key);
        cr_assert_eq(json_integer_value(json_object_get(c, "iss")), 777);
        json_decref(c);
    }
    gm_github_close(gh);

    gm_github_t *tok = open_token(s, &clk);
    cr_assert_not(gm_github_is_app(tok));
    cr_assert_eq(gm_github_get_page_as_app(tok, "/app/hook/deliveries", &page, err, sizeof(err)), -1);
    cr_assert(strstr(err, "App credentials") != NULL, "%s", err);
    cr_assert_null(strstr(err, TOKEN));
    cr_assert_eq(gm_github_post_as_app(tok, "/app/hook/deliveries/7/attempts", "{}", &page, err, sizeof(err)), -1);
    cr_assert_eq(stub_nreqs(s), 2);
    gm_github_close(tok);
    stub_stop(s);
    EVP_PKEY_free(key);
    free(pem);
}
