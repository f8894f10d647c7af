#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gm/processor.h"

static char *decode(const char *body, size_t *len)
{
    return gm_form_payload(body, strlen(body), len);
}

Test(form, decodes_payload_field)
{
    size_t len = 0;
    char *p = decode("payload=%7B%22a%22%3A+1%7D", &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "{\"a\": 1}");
    cr_assert_eq(len, 8);
    free(p);
}

Test(form, finds_payload_among_other_fields)
{
    size_t len = 0;
    char *p = decode("x=1&payload=%5B%5D&y=2", &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "[]");
    free(p);
}

Test(form, keeps_nul_bytes_and_reports_length)
{
    size_t len = 0;
    char *p = decode("payload=a%00b", &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(p, "a\0b", 3), 0);
    free(p);
}

Test(form, refuses_missing_field_and_bad_escapes)
{
    size_t len = 0;
    const char *bad[] = {"", "payloa=1", "xpayload=1", "payload=%", "payload=%4", "payload=%zz", "payload=%4g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_null(decode(bad[i], &len), "accepted: %s", bad[i]);
}

Test(form, empty_payload_is_an_empty_string)
{
    size_t len = 7;
    char *p = decode("payload=", &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, 0);
    free(p);
}

/* ---- gm_processor_handle: the backfill's mark and the shared ledger ---- */

#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "gm/config.h"
#include "gm/ledger.h"
#include "gm/metrics.h"
#include "gm/sink.h"

typedef struct {
    gm_sink_t super;
    int writes;
    char last[8192];
} mem_sink_t;

static int mem_write(gm_sink_t *self, const gm_record_t *r, const char *line, size_t len, char *err, size_t errlen)
{
    (void)r, (void)err, (void)errlen;
    mem_sink_t *m = (mem_sink_t *)self;
    m->writes++;
    snprintf(m->last, sizeof(m->last), "%.*s", (int)len, line);
    return 0;
}

static const gm_sink_ops_t mem_ops = {.name = "mem", .write = mem_write};

/* The shared ledger stand-in: one answer per key prefix, and what it saw. */
typedef struct {
    int answer_d, answer_r;
    char seen[8][80];
    int n;
} shared_t;

static int fake_claim(void *ctx, const char *key, int64_t now, char *err, size_t errlen)
{
    (void)now;
    shared_t *s = ctx;
    if (s->n < 8)
        snprintf(s->seen[s->n++], sizeof(s->seen[0]), "%s", key);
    int a = key[0] == 'd' ? s->answer_d : s->answer_r;
    if (a < 0)
        snprintf(err, errlen, "table unreachable");
    return a;
}

static gm_config_t *cfg;
static gm_metrics_t metrics;
static gm_ledger_t *ledger;
static mem_sink_t sink;
static char dir[64];

static void proc_setup(void)
{
    static const char yaml[] = "webhook:\n  secret: s3cret\n";
    char err[512];
    cfg = gm_config_parse("t", yaml, strlen(yaml), err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    gm_metrics_init(&metrics);
    snprintf(dir, sizeof(dir), "/tmp/gm-proc-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    gm_ledger_opts_t lo = {.retention_ms = 86400000, .max_entries = 1000};
    ledger = gm_ledger_open(dir, &lo, 1, UINT64_MAX, 1700000000000, err, sizeof(err));
    cr_assert_not_null(ledger, "%s", err);
    memset(&sink, 0, sizeof(sink));
    sink.super.ops = &mem_ops;
}

static void proc_teardown(void)
{
    gm_ledger_close(ledger);
    gm_config_free(cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static char *fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/payloads/%s", GM_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* The fixture with the backfill's mark added at the top level. */
static char *marked(const char *name, const char *source, size_t *len)
{
    size_t n;
    const char *text0 = fixture(name, &n);
    json_t *o = json_loadb(text0, n, 0, NULL);
    cr_assert_not_null(o);
    json_object_set_new(o, "gha_metrics", json_pack("{s:s}", "source", source));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = strlen(text);
    return text;
}

static void handle(gm_processor_t *p, const char *event, const char *delivery, const char *body, size_t len,
                   gm_proc_result_t *res)
{
    gm_delivery_t d = {.event = event, .delivery = delivery, .body = body, .len = len,
                       .received_at_ms = 1700000000000};
    gm_processor_handle(p, &d, res);
}

TestSuite(processor, .init = proc_setup, .fini = proc_teardown);

Test(processor, backfill_mark_tags_the_record)
{
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = ledger};
    size_t len;
    char *body = marked("workflow_run.completed.2.json", "backfill", &len);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "backfill-run-1-1", body, len, &res);
    free(body);
    cr_assert_eq(res.status, GM_PROC_RECORDED, "%d %s", res.status, res.reason);
    cr_assert(res.backfilled);
    cr_assert_not_null(strstr(sink.last, "\"Backfilled\":true"), "%s", sink.last);
    cr_assert_eq(atomic_load(&metrics.records_backfilled[0]), 1);
}

Test(processor, other_marks_and_plain_deliveries_are_not_backfilled)
{
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = NULL};
    size_t len;
    char *body = marked("workflow_run.completed.2.json", "someone-else", &len);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "g1", body, len, &res);
    free(body);
    cr_assert_eq(res.status, GM_PROC_RECORDED);
    cr_assert_not(res.backfilled);
    cr_assert_null(strstr(sink.last, "Backfilled"));
    cr_assert_eq(atomic_load(&metrics.records_backfilled[0]), 0);
}

Test(processor, shared_ledger_sees_delivery_then_run_keys)
{
    shared_t sh = {0};
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = ledger,
                        .shared_claim = fake_claim, .shared_ctx = &sh};
    size_t len;
    const char *body = fixture("workflow_run.completed.2.json", &len);
    json_t *o = json_loads(body, 0, NULL);
    long long id = json_integer_value(json_object_get(json_object_get(o, "workflow_run"), "id"));
    long long att = json_integer_value(json_object_get(json_object_get(o, "workflow_run"), "run_attempt"));
    json_decref(o);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "guid-1", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_RECORDED, "%s", res.reason);
    cr_assert_eq(sh.n, 2);
    cr_assert_str_eq(sh.seen[0], "d:guid-1");
    char want[64];
    snprintf(want, sizeof(want), "r:%lld:%lld", id, att);
    cr_assert_str_eq(sh.seen[1], want);
}

Test(processor, run_held_by_another_writer_is_a_duplicate_remembered_here)
{
    shared_t sh = {.answer_d = 0, .answer_r = 1};
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = ledger,
                        .shared_claim = fake_claim, .shared_ctx = &sh};
    size_t len;
    const char *body = fixture("workflow_run.completed.2.json", &len);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "guid-2", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_DUPLICATE);
    cr_assert_eq(sink.writes, 0);
    cr_assert_eq(atomic_load(&metrics.duplicates[GM_DUP_RUN]), 1);
    /* Known locally now: a second delivery of it never asks the table. */
    sh.n = 0;
    handle(&p, "workflow_run", "guid-3", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_DUPLICATE);
    cr_assert_eq(sh.n, 1, "only the delivery key is asked: %d", sh.n);
}

Test(processor, delivery_held_by_another_receiver_is_a_duplicate)
{
    shared_t sh = {.answer_d = 1, .answer_r = 0};
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = ledger,
                        .shared_claim = fake_claim, .shared_ctx = &sh};
    size_t len;
    const char *body = fixture("workflow_run.completed.2.json", &len);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "guid-4", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_DUPLICATE);
    cr_assert_eq(sink.writes, 0);
    cr_assert_eq(atomic_load(&metrics.duplicates[GM_DUP_DELIVERY]), 1);
}

Test(processor, shared_ledger_error_fails_and_leaves_nothing_claimed)
{
    shared_t sh = {.answer_d = 0, .answer_r = -1};
    gm_processor_t p = {.cfg = cfg, .sink = &sink.super, .metrics = &metrics, .ledger = ledger,
                        .shared_claim = fake_claim, .shared_ctx = &sh};
    size_t len;
    const char *body = fixture("workflow_run.completed.2.json", &len);
    gm_proc_result_t res;
    handle(&p, "workflow_run", "guid-5", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_FAILED);
    cr_assert_str_eq(res.reason, "table unreachable");
    cr_assert_eq(sink.writes, 0);
    cr_assert_eq(atomic_load(&metrics.shared_ledger_errors), 1);
    cr_assert_gt(atomic_load(&metrics.shared_ledger_failing_since_ms), 0, "the streak's start, for /readyz");
    /* Retried once the table answers: recorded, exactly once. */
    sh.answer_r = 0;
    handle(&p, "workflow_run", "guid-5", body, len, &res);
    cr_assert_eq(res.status, GM_PROC_RECORDED, "%s", res.reason);
    cr_assert_eq(sink.writes, 1);
    cr_assert_eq(atomic_load(&metrics.shared_ledger_failing_since_ms), 0);
}
