/* The spool's append → group sync → read path, recovery after a crash, and
 * the checkpoint file, against real files in a temporary directory. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/checkpoint.h"
#include "gm/spool.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/gm-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static gm_spool_opts_t opts(void)
{
    return (gm_spool_opts_t){
        .dir = dir, .segment_bytes = 1 << 20, .min_free_bytes = 0, .max_record = 1 << 20, .retention_ms = 0};
}

typedef struct {
    gm_spool_waiter_t w;
    _Atomic int done, ok;
} waiter_t;

static void on_synced(gm_spool_waiter_t *w, int ok)
{
    waiter_t *x = (waiter_t *)w;
    atomic_store(&x->ok, ok);
    atomic_store(&x->done, 1);
}

static gm_spool_entry_t entry(const char *delivery, const char *body)
{
    return (gm_spool_entry_t){
        .received_at_ms = 1700000000000,
        .event = "workflow_job",
        .event_len = 12,
        .delivery = delivery,
        .delivery_len = (uint8_t)strlen(delivery),
        .body = body,
        .body_len = (uint32_t)strlen(body),
    };
}

static void append_n(gm_spool_t *s, int n, waiter_t *ws)
{
    char err[256], id[32], body[64];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "d-%d", i);
        snprintf(body, sizeof(body), "{\"n\":%d}", i);
        gm_spool_entry_t e = entry(id, body);
        ws[i].w.on_synced = on_synced;
        cr_assert_eq(gm_spool_append(s, &e, &ws[i].w, err, sizeof(err)), 0, "%s", err);
    }
}

static void wait_all(waiter_t *ws, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 5000 && !atomic_load(&ws[i].done); k++)
            usleep(1000);
        cr_assert(atomic_load(&ws[i].done), "waiter %d never notified", i);
        cr_assert(atomic_load(&ws[i].ok), "waiter %d: sync failed", i);
    }
}

typedef struct {
    int seen;
    char ids[64][16];
} collect_t;

static int collect(void *ctx, const gm_spool_entry_t *e)
{
    collect_t *c = ctx;
    if (c->seen < 64)
        snprintf(c->ids[c->seen], sizeof(c->ids[0]), "%.*s", e->delivery_len, e->delivery);
    c->seen++;
    return 0;
}

TestSuite(spool, .init = setup, .fini = teardown);

Test(spool, every_waiter_is_notified_and_reads_follow_in_order)
{
    char err[256];
    gm_spool_t *s = gm_spool_open(&(gm_spool_opts_t){opts().dir, 1 << 20, 0, 1 << 20, 0}, (gm_spool_pos_t){1, 0},
                                  NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    waiter_t ws[50] = {0};
    append_n(s, 50, ws);
    wait_all(ws, 50);

    gm_spool_pos_t pos = {1, 0};
    collect_t c = {0};
    cr_assert_eq(gm_spool_wait(s, pos, 1000), 1);
    cr_assert_eq(gm_spool_read(s, &pos, 1000, collect, &c, err, sizeof(err)), 50);
    cr_assert_eq(c.seen, 50);
    cr_assert_str_eq(c.ids[0], "d-0");
    cr_assert_str_eq(c.ids[49], "d-49");
    cr_assert_eq(gm_spool_read(s, &pos, 1000, collect, &c, err, sizeof(err)), 0, "nothing past the end");

    gm_spool_stats_t st;
    gm_spool_stats(s, &st);
    cr_assert_eq(st.appended, 50);
    cr_assert_eq(st.pending, 50);
    cr_assert(st.syncs >= 1 && st.syncs <= 50);
    gm_spool_release(s, pos, 50, 0);
    gm_spool_stats(s, &st);
    cr_assert_eq(st.pending, 0);
    cr_assert_eq(st.pending_bytes, 0);
    gm_spool_stop(s);
    gm_spool_close(s);
}

Test(spool, a_reader_stopping_early_reads_the_same_entry_again)
{
    char err[256];
    gm_spool_t *s = gm_spool_open(&(gm_spool_opts_t){dir, 1 << 20, 0, 1 << 20, 0}, (gm_spool_pos_t){1, 0}, NULL,
                                  NULL, err, sizeof(err));
    cr_assert_not_null(s);
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    waiter_t ws[5] = {0};
    append_n(s, 5, ws);
    wait_all(ws, 5);
    gm_spool_pos_t pos = {1, 0};
    collect_t c = {0};
    cr_assert_eq(gm_spool_read(s, &pos, 2, collect, &c, err, sizeof(err)), 2);
    cr_assert_eq(gm_spool_read(s, &pos, 100, collect, &c, err, sizeof(err)), 3);
    cr_assert_str_eq(c.ids[2], "d-2");
    gm_spool_close(s);
}

Test(spool, segments_rotate_and_are_read_across)
{
    char err[256];
    gm_spool_opts_t o = {dir, 1 << 20, 0, 1 << 20, 0};
    gm_spool_t *s = gm_spool_open(&o, (gm_spool_pos_t){1, 0}, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s);
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    /* 3 entries of 400 KB in 1 MiB segments: the third starts segment 2. */
    static char big[400 * 1024];
    memset(big, 'x', sizeof(big) - 1);
    waiter_t ws[3] = {0};
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "big-%d", i);
        gm_spool_entry_t e = entry(id, big);
        ws[i].w.on_synced = on_synced;
        cr_assert_eq(gm_spool_append(s, &e, &ws[i].w, err, sizeof(err)), 0);
    }
    wait_all(ws, 3);
    gm_spool_stats_t st;
    gm_spool_stats(s, &st);
    cr_assert_eq(st.segments, 2, "two segments, got %llu", (unsigned long long)st.segments);
    gm_spool_pos_t pos = {1, 0};
    collect_t c = {0};
    cr_assert_eq(gm_spool_read(s, &pos, 100, collect, &c, err, sizeof(err)), 3);
    cr_assert_eq(pos.segment, 2);
    /* Releasing past segment 1 deletes it (retention 0). */
    gm_spool_release(s, pos, 3, INT64_MAX / 2);
    gm_spool_stats(s, &st);
    cr_assert_eq(st.segments, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
    cr_assert_neq(access(path, F_OK), 0, "processed segment deleted");
    gm_spool_close(s);
}

static int recovered;
static void count_recovered(void *ctx, const gm_spool_entry_t *e)
{
    (void)ctx, (void)e;
    recovered++;
}

Test(spool, recovery_cuts_a_torn_tail_and_replays_past_the_checkpoint)
{
    char err[256];
    gm_spool_opts_t o = {dir, 1 << 20, 0, 1 << 20, 0};
    gm_spool_t *s = gm_spool_open(&o, (gm_spool_pos_t){1, 0}, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s);
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    waiter_t ws[10] = {0};
    append_n(s, 10, ws);
    wait_all(ws, 10);
    gm_spool_pos_t pos = {1, 0};
    collect_t c = {0};
    cr_assert_eq(gm_spool_read(s, &pos, 4, collect, &c, err, sizeof(err)), 4); /* "processed" 4 */
    gm_spool_close(s);

    /* A crash mid-append: half a frame at the end. */
    char path[128];
    snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
    struct stat before;
    cr_assert_eq(stat(path, &before), 0);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_eq(write(fd, "GMS1\x40\x00\x00\x00garbage", 15), 15);
    close(fd);

    recovered = 0;
    s = gm_spool_open(&o, pos, count_recovered, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    gm_spool_stats_t st;
    gm_spool_stats(s, &st);
    cr_assert_eq(recovered, 6, "the 6 entries past the checkpoint, got %d", recovered);
    cr_assert_eq(st.recovered, 6);
    cr_assert_eq(st.torn_bytes, 15);
    struct stat after;
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(after.st_size, before.st_size, "torn tail cut");

    /* New appends follow the recovered data; reading resumes at the checkpoint. */
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    waiter_t more[1] = {0};
    gm_spool_entry_t e = entry("after", "{}");
    more[0].w.on_synced = on_synced;
    cr_assert_eq(gm_spool_append(s, &e, &more[0].w, err, sizeof(err)), 0);
    wait_all(more, 1);
    collect_t c2 = {0};
    cr_assert_eq(gm_spool_read(s, &pos, 100, collect, &c2, err, sizeof(err)), 7);
    cr_assert_str_eq(c2.ids[0], "d-4");
    cr_assert_str_eq(c2.ids[6], "after");
    gm_spool_close(s);
}

Test(spool, a_failed_write_leaves_nothing_behind)
{
    char err[256];
    /* min_free beyond any disk: every append is refused before writing. */
    gm_spool_opts_t o = {dir, 1 << 20, UINT64_MAX / 2, 1 << 20, 0};
    gm_spool_t *s = gm_spool_open(&o, (gm_spool_pos_t){1, 0}, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s);
    cr_assert_eq(gm_spool_start(s, err, sizeof(err)), 0);
    waiter_t w = {0};
    w.w.on_synced = on_synced;
    gm_spool_entry_t e = entry("x", "{}");
    cr_assert_eq(gm_spool_append(s, &e, &w.w, err, sizeof(err)), -1);
    cr_assert(strstr(err, "reserve") != NULL, "%s", err);
    cr_assert_eq(gm_spool_check(s, err, sizeof(err)), -1);
    gm_spool_stats_t st;
    gm_spool_stats(s, &st);
    cr_assert_eq(st.append_errors, 1);
    cr_assert_eq(st.pending, 0);
    char path[128];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_size, 0);
    gm_spool_close(s);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

Test(checkpoint, a_missing_file_is_a_fresh_start)
{
    char err[256];
    gm_checkpoint_t cp;
    cr_assert_eq(gm_checkpoint_load(dir, &cp, err, sizeof(err)), 1);
    cr_assert_eq(cp.spool.segment, 1);
    cr_assert_eq(cp.spool.offset, 0);
    cr_assert_null(cp.sink_mark);
}

Test(checkpoint, survives_save_and_load)
{
    char err[256];
    gm_checkpoint_t cp = {.spool = {7, 12345}, .ledger_generation = 3, .ledger_size = 999, .processed = 42};
    cp.sink_mark = json_pack("{s:s, s:i}", "file", "x", "size", 10);
    cr_assert_eq(gm_checkpoint_save(dir, &cp, err, sizeof(err)), 0, "%s", err);
    gm_checkpoint_clear(&cp);
    gm_checkpoint_t back;
    cr_assert_eq(gm_checkpoint_load(dir, &back, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(back.spool.segment, 7);
    cr_assert_eq(back.spool.offset, 12345);
    cr_assert_eq(back.ledger_generation, 3);
    cr_assert_eq(back.ledger_size, 999);
    cr_assert_eq(back.processed, 42);
    cr_assert_eq(json_integer_value(json_object_get(back.sink_mark, "size")), 10);
    gm_checkpoint_clear(&back);
}

Test(checkpoint, a_leftover_temporary_file_does_not_count)
{
    char err[256], path[128];
    gm_checkpoint_t cp = {.spool = {2, 100}};
    cr_assert_eq(gm_checkpoint_save(dir, &cp, err, sizeof(err)), 0);
    /* A crash while writing the next one leaves only the temporary file. */
    snprintf(path, sizeof(path), "%s/checkpoint.json.tmp", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"spool_segment\": 9", f);
    fclose(f);
    gm_checkpoint_t back;
    cr_assert_eq(gm_checkpoint_load(dir, &back, err, sizeof(err)), 0);
    cr_assert_eq(back.spool.segment, 2);
    cr_assert_eq(back.spool.offset, 100);
    gm_checkpoint_clear(&back);
}

Test(checkpoint, a_damaged_file_is_refused_not_guessed)
{
    char err[256], path[128];
    snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"spool_segment\": \"seven\"}", f);
    fclose(f);
    gm_checkpoint_t cp;
    cr_assert_eq(gm_checkpoint_load(dir, &cp, err, sizeof(err)), -1);
    cr_assert(strstr(err, "checkpoint") != NULL, "%s", err);
}
