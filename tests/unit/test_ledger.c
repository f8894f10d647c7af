#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/frame.h"
#include "gm/ledger.h"

#define HOUR INT64_C(3600000)
#define DAY (24 * HOUR)
#define RETENTION (35 * DAY)
#define T0 (INT64_C(1700000000000)) /* some wall-clock time, in ms */

/* Each test runs in its own process: one scratch directory per test. */
static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/gm-ledger-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    rmdir(dir);
}

TestSuite(ledger, .init = setup, .fini = teardown);

static gm_ledger_t *open_with(int64_t retention_ms, uint64_t generation, uint64_t durable_size, int64_t now_ms,
                              size_t max_entries)
{
    gm_ledger_opts_t opts = {.retention_ms = retention_ms, .max_entries = max_entries};
    char err[256] = "";
    gm_ledger_t *l = gm_ledger_open(dir, &opts, generation, durable_size, now_ms, err, sizeof(err));
    cr_assert_not_null(l, "open failed: %s", err);
    return l;
}

static gm_ledger_t *open_at(uint64_t generation, uint64_t durable_size, int64_t now_ms, size_t max_entries)
{
    return open_with(RETENTION, generation, durable_size, now_ms, max_entries);
}

static gm_ledger_t *open_new(void)
{
    return open_at(0, 0, T0, 100000);
}

static void sync_ok(gm_ledger_t *l, uint64_t *generation, uint64_t *size)
{
    char err[256] = "";
    cr_assert_eq(gm_ledger_sync(l, generation, size, err, sizeof(err)), 0, "sync failed: %s", err);
}

static char *path_of(uint64_t generation, const char *suffix)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "%s/ledger.%" PRIu64 ".log%s", dir, generation, suffix);
    return buf;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: missing", path);
    return (uint64_t)st.st_size;
}

static gm_ledger_stats_t stats_of(gm_ledger_t *l)
{
    gm_ledger_stats_t s;
    gm_ledger_stats(l, &s);
    return s;
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0640);
    cr_assert_geq(fd, 0, "%s", path);
    close(fd);
}

static void append_bytes(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

/* ---- keys ---- */

Test(ledger, keys_are_sha256_prefixes_by_kind)
{
    /* SHA-256("abc") = ba7816bf 8f01cfea ...: the first 8 bytes, little-endian. */
    cr_assert_eq(gm_ledger_key("abc", 3), UINT64_C(0xeacf018fbf1678ba));
    cr_assert_eq(gm_ledger_key_delivery("abc-1", 5), gm_ledger_key("d:abc-1", 7));
    cr_assert_eq(gm_ledger_key_run(123456789012, 2), gm_ledger_key("r:123456789012:2", 16));
    cr_assert_eq(gm_ledger_key_job(42, 1), gm_ledger_key("j:42:1", 6));
    cr_assert_neq(gm_ledger_key_run(42, 1), gm_ledger_key_job(42, 1));
    cr_assert_neq(gm_ledger_key_run(42, 1), gm_ledger_key_run(42, 2));
    char guid[300];
    memset(guid, 'x', sizeof(guid));
    char with_prefix[302] = "d:";
    memcpy(with_prefix + 2, guid, sizeof(guid));
    cr_assert_eq(gm_ledger_key_delivery(guid, sizeof(guid)), gm_ledger_key(with_prefix, sizeof(with_prefix)));
    cr_assert_neq(gm_ledger_key("", 0), 0);
}

/* ---- memory ---- */

Test(ledger, claim_unclaim_contains)
{
    gm_ledger_t *l = open_new();
    uint64_t k = gm_ledger_key_delivery("g-1", 3), other = gm_ledger_key_delivery("g-2", 3);
    cr_assert_eq(gm_ledger_contains(l, k, T0), 0);
    cr_assert_eq(gm_ledger_claim(l, k, T0), 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0 + 1), 0);
    cr_assert_eq(gm_ledger_contains(l, k, T0), 1);
    cr_assert_eq(gm_ledger_contains(l, other, T0), 0);
    cr_assert_eq(stats_of(l).entries, 1);
    gm_ledger_unclaim(l, k);
    cr_assert_eq(gm_ledger_contains(l, k, T0), 0);
    cr_assert_eq(stats_of(l).entries, 0);
    gm_ledger_unclaim(l, k); /* absent: no effect */
    cr_assert_eq(gm_ledger_claim(l, k, T0), 1);
    cr_assert_eq(gm_ledger_claim(l, other, T0), 1);
    cr_assert_eq(stats_of(l).entries, 2);
    gm_ledger_close(l);
}

/* Deleting from the middle of a probe cluster must keep the rest findable:
 * keys that share their home slot, removed in every order. */
Test(ledger, unclaim_keeps_colliding_keys_reachable)
{
    gm_ledger_t *l = open_new();
    uint64_t keys[12];
    for (size_t i = 0; i < 12; i++)
        keys[i] = 7 + (uint64_t)(i % 3) + ((uint64_t)i << 32); /* homes 7, 8, 9 in any power-of-two table */
    for (size_t i = 0; i < 12; i++)
        cr_assert_eq(gm_ledger_claim(l, keys[i], T0), 1);
    for (size_t r = 0; r < 12; r += 2) {
        gm_ledger_unclaim(l, keys[r]);
        for (size_t i = 0; i < 12; i++)
            cr_assert_eq(gm_ledger_contains(l, keys[i], T0), i > r || i % 2 == 1, "key %zu after %zu", i, r);
    }
    cr_assert_eq(stats_of(l).entries, 6);
    gm_ledger_close(l);
}

/* The same, where the cluster wraps around the end of the array: keys whose
 * low 20 bits put them in the last two slots, and keys homed at slot 0, in
 * any table of up to 2^20 slots. */
Test(ledger, unclaim_across_the_end_of_the_table)
{
    gm_ledger_t *l = open_new();
    uint64_t keys[12];
    for (size_t i = 0; i < 12; i++)
        keys[i] = ((uint64_t)(i + 1) << 32) | (i % 3 == 2 ? 0x100000u : 0xfffffu - i % 2);
    for (size_t i = 0; i < 12; i++)
        cr_assert_eq(gm_ledger_claim(l, keys[i], T0), 1);
    for (size_t r = 0; r < 12; r += 2) {
        gm_ledger_unclaim(l, keys[r]);
        for (size_t i = 0; i < 12; i++)
            cr_assert_eq(gm_ledger_contains(l, keys[i], T0), i > r || i % 2 == 1, "key %zu after %zu", i, r);
    }
    for (size_t r = 1; r < 12; r += 2) {
        gm_ledger_unclaim(l, keys[r]);
        for (size_t i = 1; i < 12; i += 2)
            cr_assert_eq(gm_ledger_contains(l, keys[i], T0), i > r, "key %zu after %zu", i, r);
    }
    cr_assert_eq(stats_of(l).entries, 0);
    gm_ledger_close(l);
}

/* Expiry is rounded up to the hour: never shorter than the retention, at
 * most an hour longer. */
Test(ledger, an_entry_lives_at_least_the_retention)
{
    gm_ledger_t *l = open_new();
    for (int64_t m = 0; m < 60; m++) {
        int64_t t = T0 + m * 60000 + 17;
        uint64_t k = gm_ledger_key_job(m, 1);
        gm_ledger_claim(l, k, t);
        cr_assert_eq(gm_ledger_contains(l, k, t + RETENTION - 1), 1, "minute %" PRId64, m);
        cr_assert_eq(gm_ledger_contains(l, k, t + RETENTION + HOUR), 0, "minute %" PRId64, m);
    }
    gm_ledger_close(l);
}

/* Persisting a key that is there already pushes its expiry out, in memory
 * and in the log. */
Test(ledger, persist_extends_the_expiry)
{
    gm_ledger_t *l = open_new();
    uint64_t k = gm_ledger_key_run(9, 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0), 1);
    gm_ledger_persist(l, k, T0 + 10 * DAY);
    cr_assert_eq(stats_of(l).entries, 1);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + RETENTION + DAY), 1);
    /* An earlier time does not shorten it. */
    gm_ledger_persist(l, k, T0);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + RETENTION + DAY), 1);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    gm_ledger_close(l);
    l = open_at(g, size, T0 + RETENTION + DAY, 1000);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + RETENTION + DAY), 1);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + 10 * DAY + RETENTION + HOUR), 0);
    gm_ledger_close(l);
}

/* Random claims, lookups and unclaims over keys crowded into a few home
 * slots near the end of the table, with the clock moving, against a plain
 * model. Fewer than a thousand keys are ever live, so nothing is evicted:
 * expired entries pile up until the table is at max_entries, or at 70% of
 * its array, and are then purged in sweeps. */
static void run_model(size_t max_entries)
{
    enum { KEYS = 3000, OPS = 200000 };
    const int64_t retention = 10 * HOUR;
    gm_ledger_t *l = open_with(retention, 0, 0, T0, max_entries);
    static uint32_t model[KEYS]; /* expiry hour, 0: absent */
    memset(model, 0, sizeof(model));
    uint64_t rng = 12345;
    int64_t now = T0;
    for (int op = 0; op < OPS; op++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        uint32_t r = (uint32_t)(rng >> 33);
        size_t i = r % KEYS;
        uint64_t key = ((uint64_t)(i + 1) << 32) | (1000 + i % 40);
        now += (r >> 12) % 120000; /* up to 2 minutes */
        uint32_t hour = (uint32_t)(now / HOUR);
        bool live = model[i] > hour;
        uint32_t what = (r >> 24) % 10; /* half claims, 30% lookups, 20% unclaims */
        if (what < 5) {
            cr_assert_eq(gm_ledger_claim(l, key, now), !live, "op %d claim %zu", op, i);
            if (!live)
                model[i] = (uint32_t)((now + retention + HOUR - 1) / HOUR);
        } else if (what < 8) {
            cr_assert_eq(gm_ledger_contains(l, key, now), live, "op %d contains %zu", op, i);
        } else {
            gm_ledger_unclaim(l, key);
            model[i] = 0;
        }
        cr_assert_leq(stats_of(l).entries, max_entries);
    }
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.evicted, 0);
    cr_assert_gt(s.expired, 1000);
    gm_ledger_close(l);
}

Test(ledger, matches_a_model_when_full)
{
    run_model(700);
}

Test(ledger, matches_a_model_when_not_full)
{
    run_model(100000);
}

Test(ledger, entries_expire_after_the_retention)
{
    gm_ledger_t *l = open_new();
    uint64_t k = gm_ledger_key_run(1, 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0), 1);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + RETENTION - HOUR), 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0 + RETENTION - HOUR), 0);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + RETENTION + HOUR), 0);
    cr_assert_eq(stats_of(l).expired, 1);
    cr_assert_eq(stats_of(l).entries, 0);
    /* Expired counts as absent: the next claimant is first again. */
    cr_assert_eq(gm_ledger_claim(l, k, T0 + RETENTION + HOUR), 1);
    cr_assert_eq(gm_ledger_contains(l, k, T0 + 2 * RETENTION), 1);
    gm_ledger_close(l);
}

Test(ledger, claim_over_an_expired_entry_is_first)
{
    gm_ledger_t *l = open_new();
    uint64_t k = gm_ledger_key_job(5, 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0), 1);
    cr_assert_eq(gm_ledger_claim(l, k, T0 + RETENTION + HOUR), 1);
    cr_assert_eq(stats_of(l).expired, 1);
    cr_assert_eq(stats_of(l).entries, 1);
    gm_ledger_close(l);
}

Test(ledger, persisted_entries_expire_after_reload)
{
    gm_ledger_t *l = open_new();
    uint64_t early = gm_ledger_key_run(1, 1), late = gm_ledger_key_run(2, 1);
    gm_ledger_persist(l, early, T0);
    gm_ledger_persist(l, late, T0 + 10 * DAY);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    gm_ledger_close(l);

    l = open_at(g, size, T0 + RETENTION - HOUR, 1000);
    cr_assert_eq(gm_ledger_contains(l, early, T0 + RETENTION - HOUR), 1);
    cr_assert_eq(stats_of(l).loaded, 2);
    gm_ledger_close(l);

    l = open_at(g, size, T0 + RETENTION + HOUR, 1000);
    cr_assert_eq(stats_of(l).loaded, 1);
    cr_assert_eq(stats_of(l).expired, 1);
    cr_assert_eq(gm_ledger_contains(l, early, T0 + RETENTION + HOUR), 0);
    cr_assert_eq(gm_ledger_contains(l, late, T0 + RETENTION + HOUR), 1);
    cr_assert_eq(gm_ledger_contains(l, late, T0 + 10 * DAY + RETENTION + HOUR), 0);
    gm_ledger_close(l);
}

/* Each key i claimed at hour i (all within the retention): the oldest are
 * the first to go, and the table never holds more than max_entries. */
Test(ledger, eviction_is_bounded_and_oldest_first)
{
    const size_t max = 200, total = 800;
    gm_ledger_t *l = open_at(0, 0, T0, max);
    for (size_t i = 0; i < total; i++) {
        cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_job((int64_t)i, 1), T0 + (int64_t)i * HOUR), 1);
        cr_assert_leq(stats_of(l).entries, max, "after %zu claims", i + 1);
    }
    int64_t now = T0 + (int64_t)total * HOUR;
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.expired, 0);
    cr_assert_eq(s.evicted + s.entries, total);
    cr_assert_geq(s.entries, max - max / 10);
    /* What is left is exactly the newest keys. */
    size_t first = total - (size_t)s.entries;
    for (size_t i = 0; i < total; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job((int64_t)i, 1), now), i >= first, "key %zu", i);
    gm_ledger_close(l);
}

/* All in the same hour: ties at the cut-off are taken in part, so one pass
 * evicts a tenth, not everything. */
Test(ledger, eviction_takes_a_tenth_of_equal_expiries)
{
    const size_t max = 1000;
    gm_ledger_t *l = open_at(0, 0, T0, max);
    for (size_t i = 0; i < max; i++)
        gm_ledger_claim(l, gm_ledger_key_job((int64_t)i, 1), T0);
    cr_assert_eq(stats_of(l).evicted, 0);
    cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_job(-1, 1), T0), 1);
    cr_assert_eq(stats_of(l).evicted, max / 10);
    cr_assert_eq(stats_of(l).entries, max - max / 10 + 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(-1, 1), T0), 1);
    gm_ledger_close(l);
}

/* Expiries far apart (beyond the histogram's hourly resolution) still go
 * oldest first. */
Test(ledger, eviction_with_a_wide_spread_of_expiries)
{
    const size_t max = 2000;
    gm_ledger_t *l = open_with(5000000 * HOUR, 0, 0, T0, max); /* nothing expires */
    for (size_t i = 0; i < max; i++)
        gm_ledger_claim(l, gm_ledger_key_job((int64_t)i, 1), T0 + (int64_t)(i * i) * HOUR);
    int64_t now = T0 + (int64_t)(max * max) * HOUR;
    gm_ledger_claim(l, gm_ledger_key_job(-1, 1), now);
    cr_assert_eq(stats_of(l).evicted, max / 10);
    for (size_t i = 0; i < max; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job((int64_t)i, 1), T0), i >= max / 10, "key %zu", i);
    gm_ledger_close(l);
}

Test(ledger, expired_entries_make_room_before_eviction)
{
    const size_t max = 100;
    gm_ledger_t *l = open_at(0, 0, T0, max);
    for (size_t i = 0; i < max; i++)
        gm_ledger_claim(l, gm_ledger_key_job((int64_t)i, 1), T0);
    int64_t later = T0 + RETENTION + HOUR;
    for (size_t i = 0; i < max; i++)
        cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_run((int64_t)i, 1), later), 1);
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.evicted, 0);
    cr_assert_eq(s.expired, max);
    cr_assert_eq(s.entries, max);
    gm_ledger_close(l);
}

Test(ledger, max_entries_of_one)
{
    gm_ledger_t *l = open_at(0, 0, T0, 1);
    for (int64_t i = 0; i < 50; i++) {
        cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_job(i, 1), T0 + i), 1);
        cr_assert_eq(stats_of(l).entries, 1);
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(i, 1), T0 + i), 1);
    }
    cr_assert_eq(stats_of(l).evicted, 49);
    gm_ledger_close(l);
}

Test(ledger, loading_more_than_max_entries_evicts)
{
    gm_ledger_t *l = open_new();
    for (int64_t i = 0; i < 500; i++)
        gm_ledger_persist(l, gm_ledger_key_job(i, 1), T0 + i * HOUR);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    gm_ledger_close(l);

    l = open_at(g, size, T0, 100);
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_leq(s.entries, 100);
    cr_assert_eq(s.loaded, 500);
    cr_assert_eq(s.entries + s.evicted, 500);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(499, 1), T0), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(0, 1), T0), 0);
    gm_ledger_close(l);
}

/* ---- the log ---- */

Test(ledger, open_requires_the_directory)
{
    gm_ledger_opts_t opts = {.retention_ms = RETENTION, .max_entries = 10};
    char err[256] = "";
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    cr_assert_null(gm_ledger_open(missing, &opts, 0, 0, T0, err, sizeof(err)));
    cr_assert(strstr(err, "nope") != NULL, "%s", err);
    cr_assert_eq(access(missing, F_OK), -1);

    char file[128];
    snprintf(file, sizeof(file), "%s/file", dir);
    touch(file);
    cr_assert_null(gm_ledger_open(file, &opts, 0, 0, T0, err, sizeof(err)));

    gm_ledger_opts_t bad = {.retention_ms = 0, .max_entries = 10};
    cr_assert_null(gm_ledger_open(dir, &bad, 0, 0, T0, err, sizeof(err)));
    bad = (gm_ledger_opts_t){.retention_ms = RETENTION, .max_entries = 0};
    cr_assert_null(gm_ledger_open(dir, &bad, 0, 0, T0, err, sizeof(err)));
}

Test(ledger, open_creates_the_log_and_removes_other_generations)
{
    touch(path_of(3, ""));
    touch(path_of(9, ""));
    touch(path_of(6, ".tmp"));
    char unrelated[128];
    snprintf(unrelated, sizeof(unrelated), "%s/ledger.notes", dir);
    touch(unrelated);

    gm_ledger_t *l = open_at(5, 0, T0, 10);
    cr_assert_eq(file_size(path_of(5, "")), 0);
    cr_assert_eq(access(path_of(3, ""), F_OK), -1);
    cr_assert_eq(access(path_of(9, ""), F_OK), -1);
    cr_assert_eq(access(path_of(6, ".tmp"), F_OK), -1);
    cr_assert_eq(access(unrelated, F_OK), 0);
    gm_ledger_close(l);
}

Test(ledger, sync_with_nothing_queued)
{
    gm_ledger_t *l = open_at(4, 0, T0, 10);
    uint64_t g = 99, size = 99;
    sync_ok(l, &g, &size);
    cr_assert_eq(g, 4);
    cr_assert_eq(size, 0);
    gm_ledger_claim(l, 1234, T0); /* claims alone are not logged */
    sync_ok(l, &g, &size);
    cr_assert_eq(size, 0);
    gm_ledger_close(l);
}

Test(ledger, persist_sync_reopen_restores)
{
    gm_ledger_t *l = open_new();
    for (int64_t i = 0; i < 1000; i++)
        gm_ledger_persist(l, gm_ledger_key_run(i, 1), T0);
    gm_ledger_persist(l, gm_ledger_key_run(0, 1), T0); /* twice in the log: fine */
    uint64_t g, size;
    sync_ok(l, &g, &size);
    cr_assert_eq(g, 0);
    /* One frame: header, version byte, 12 bytes an entry. */
    cr_assert_eq(size, GM_FRAME_HEADER + 1 + 1001 * 12);
    cr_assert_eq(file_size(path_of(0, "")), size);
    cr_assert_eq(stats_of(l).log_bytes, size);
    gm_ledger_close(l);

    l = open_at(g, size, T0 + HOUR, 100000);
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.entries, 1000);
    cr_assert_eq(s.loaded, 1001);
    cr_assert_eq(s.torn_bytes, 0);
    cr_assert_eq(s.corrupt, 0);
    cr_assert_eq(s.log_bytes, size);
    for (int64_t i = 0; i < 1000; i++)
        cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_run(i, 1), T0 + HOUR), 0);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1000, 1), T0 + HOUR), 0);

    /* Appends go after what was there. */
    gm_ledger_persist(l, gm_ledger_key_run(1000, 1), T0 + HOUR);
    uint64_t size2;
    sync_ok(l, &g, &size2);
    cr_assert_eq(size2, size + GM_FRAME_HEADER + 1 + 12);
    gm_ledger_close(l);
    l = open_at(g, size2, T0 + HOUR, 100000);
    cr_assert_eq(stats_of(l).entries, 1001);
    gm_ledger_close(l);
}

/* The checkpoint names an earlier size: what came after is rolled back. */
Test(ledger, reopen_cuts_to_the_durable_size)
{
    gm_ledger_t *l = open_new();
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    uint64_t g, s1, s2;
    sync_ok(l, &g, &s1);
    gm_ledger_persist(l, gm_ledger_key_run(2, 1), T0);
    gm_ledger_persist(l, gm_ledger_key_run(3, 1), T0);
    sync_ok(l, &g, &s2);
    cr_assert_gt(s2, s1);
    gm_ledger_close(l);

    l = open_at(g, s1, T0, 1000);
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.torn_bytes, s2 - s1);
    cr_assert_eq(s.entries, 1);
    cr_assert_eq(s.log_bytes, s1);
    cr_assert_eq(file_size(path_of(g, "")), s1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1, 1), T0), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(2, 1), T0), 0);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(3, 1), T0), 0);
    gm_ledger_close(l);
}

/* Garbage after the last frame (a torn append, a bad disk), whether or not
 * the checkpoint covers it, is cut and counted. */
Test(ledger, a_torn_tail_is_cut)
{
    gm_ledger_t *l = open_new();
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    uint64_t g, s1;
    sync_ok(l, &g, &s1);
    gm_ledger_close(l);

    /* Half of a frame that would have held another entry. */
    uint8_t frame[GM_FRAME_HEADER + 13] = {0};
    frame[GM_FRAME_HEADER] = 1;
    gm_frame_header(frame, frame + GM_FRAME_HEADER, 13);
    append_bytes(path_of(g, ""), frame, 10);
    l = open_at(g, UINT64_MAX, T0, 1000);
    cr_assert_eq(stats_of(l).torn_bytes, 10);
    cr_assert_eq(stats_of(l).entries, 1);
    cr_assert_eq(stats_of(l).log_bytes, s1);
    cr_assert_eq(file_size(path_of(g, "")), s1);
    gm_ledger_close(l);

    /* Garbage inside the checkpointed size. */
    append_bytes(path_of(g, ""), "garbage!garbage!", 16);
    l = open_at(g, s1 + 16, T0, 1000);
    cr_assert_eq(stats_of(l).torn_bytes, 16);
    cr_assert_eq(file_size(path_of(g, "")), s1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1, 1), T0), 1);
    /* Appending after the cut works and reads back. */
    gm_ledger_persist(l, gm_ledger_key_run(2, 1), T0);
    uint64_t s2;
    sync_ok(l, &g, &s2);
    gm_ledger_close(l);
    l = open_at(g, s2, T0, 1000);
    cr_assert_eq(stats_of(l).entries, 2);
    cr_assert_eq(stats_of(l).torn_bytes, 0);
    gm_ledger_close(l);
}

Test(ledger, a_corrupt_frame_in_the_middle_is_skipped)
{
    gm_ledger_t *l = open_new();
    uint64_t g, s1, s2, s3;
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    sync_ok(l, &g, &s1);
    gm_ledger_persist(l, gm_ledger_key_run(2, 1), T0);
    sync_ok(l, &g, &s2);
    gm_ledger_persist(l, gm_ledger_key_run(3, 1), T0);
    sync_ok(l, &g, &s3);
    gm_ledger_close(l);

    int fd = open(path_of(g, ""), O_RDWR);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, (off_t)s1 + GM_FRAME_HEADER + 3), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, (off_t)s1 + GM_FRAME_HEADER + 3), 1);
    close(fd);

    l = open_at(g, s3, T0, 1000);
    cr_assert_eq(stats_of(l).corrupt, 1);
    cr_assert_eq(stats_of(l).torn_bytes, 0);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1, 1), T0), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(2, 1), T0), 0);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(3, 1), T0), 1);
    gm_ledger_close(l);
}

Test(ledger, a_frame_of_an_unknown_version_is_skipped)
{
    gm_ledger_t *l = open_new();
    uint64_t g, s1;
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    sync_ok(l, &g, &s1);
    gm_ledger_close(l);
    uint8_t frame[GM_FRAME_HEADER + 13] = {0};
    frame[GM_FRAME_HEADER] = 2;
    gm_frame_header(frame, frame + GM_FRAME_HEADER, 13);
    append_bytes(path_of(g, ""), frame, sizeof(frame));
    l = open_at(g, UINT64_MAX, T0, 1000);
    cr_assert_eq(stats_of(l).corrupt, 1);
    cr_assert_eq(stats_of(l).entries, 1);
    gm_ledger_close(l);
}

/* Crash: synced, then more persisted but never synced; the checkpoint holds
 * the synced size. */
Test(ledger, crash_keeps_only_what_was_synced)
{
    gm_ledger_t *l = open_new();
    for (int64_t i = 0; i < 100; i++)
        gm_ledger_persist(l, gm_ledger_key_job(i, 1), T0);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    for (int64_t i = 100; i < 200; i++)
        gm_ledger_persist(l, gm_ledger_key_job(i, 1), T0);
    gm_ledger_close(l); /* does not sync */

    l = open_at(g, size, T0, 1000);
    cr_assert_eq(stats_of(l).entries, 100);
    for (int64_t i = 0; i < 200; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(i, 1), T0), i < 100, "job %" PRId64, i);
    gm_ledger_close(l);
}

/* A write that fails (here: the file size limit) leaves nothing behind and
 * keeps the queue for the next sync. */
Test(ledger, a_failed_sync_leaves_nothing_and_retries)
{
    gm_ledger_t *l = open_new();
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    uint64_t g, s1;
    sync_ok(l, &g, &s1);
    for (int64_t i = 2; i < 1000; i++)
        gm_ledger_persist(l, gm_ledger_key_run(i, 1), T0);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, small;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = s1 + 100;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    char err[256] = "";
    uint64_t g2 = 77, s2 = 77;
    cr_assert_eq(gm_ledger_sync(l, &g2, &s2, err, sizeof(err)), -1);
    cr_assert(strstr(err, "write") != NULL, "%s", err);
    cr_assert_eq(file_size(path_of(g, "")), s1);
    cr_assert_eq(stats_of(l).log_bytes, s1);

    /* Persisted meanwhile: kept too, after the batch. */
    gm_ledger_persist(l, gm_ledger_key_run(1000, 1), T0);
    /* A compaction (of the one durable entry: it fits) leaves the queue be. */
    cr_assert_eq(gm_ledger_compact(l, T0, &g2, &s2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g2, g + 1);
    gm_ledger_drop_old(l);
    g = g2;
    s1 = s2;

    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    sync_ok(l, &g2, &s2);
    cr_assert_eq(g2, g);
    cr_assert_gt(s2, s1);
    gm_ledger_close(l);

    l = open_at(g2, s2, T0, 10000);
    for (int64_t i = 1; i <= 1000; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(i, 1), T0), 1, "run %" PRId64, i);
    cr_assert_eq(stats_of(l).torn_bytes, 0);
    gm_ledger_close(l);
}

Test(ledger, a_failed_compaction_keeps_the_generation)
{
    gm_ledger_t *l = open_new();
    for (int64_t i = 0; i < 1000; i++)
        gm_ledger_persist(l, gm_ledger_key_run(i, 1), T0);
    uint64_t g, s1;
    sync_ok(l, &g, &s1);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, small;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 100;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    char err[256] = "";
    uint64_t g2, s2;
    cr_assert_eq(gm_ledger_compact(l, T0, &g2, &s2, err, sizeof(err)), -1);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_eq(access(path_of(g + 1, ".tmp"), F_OK), -1);
    cr_assert_eq(access(path_of(g + 1, ""), F_OK), -1);
    cr_assert_eq(stats_of(l).log_bytes, s1);

    gm_ledger_persist(l, gm_ledger_key_run(1000, 1), T0);
    sync_ok(l, &g2, &s2);
    cr_assert_eq(g2, g);
    gm_ledger_close(l);
    l = open_at(g2, s2, T0, 10000);
    cr_assert_eq(stats_of(l).entries, 1001);
    gm_ledger_close(l);
}

Test(ledger, compaction_moves_to_the_next_generation)
{
    gm_ledger_t *l = open_at(3, 0, T0, 100000);
    /* Durable: persisted twice each (the log holds duplicates), synced. */
    for (int r = 0; r < 2; r++)
        for (int64_t i = 0; i < 1000; i++)
            gm_ledger_persist(l, gm_ledger_key_run(i, 1), T0);
    gm_ledger_persist(l, gm_ledger_key_run(-1, 1), T0 - RETENTION); /* expires before the compaction */
    uint64_t g, size;
    sync_ok(l, &g, &size);
    /* Claimed only (never persisted) and queued but not synced. */
    gm_ledger_claim(l, gm_ledger_key_delivery("in-flight", 9), T0);
    gm_ledger_persist(l, gm_ledger_key_job(7, 1), T0);

    uint64_t g2, s2;
    char err[256] = "";
    cr_assert_eq(gm_ledger_compact(l, T0 + HOUR, &g2, &s2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g2, 4);
    /* Each live durable entry once. */
    cr_assert_eq(s2, GM_FRAME_HEADER + 1 + 1000 * 12);
    cr_assert_eq(file_size(path_of(4, "")), s2);
    cr_assert_eq(stats_of(l).log_bytes, s2);
    cr_assert_eq(access(path_of(3, ""), F_OK), 0); /* until drop_old */
    cr_assert_eq(access(path_of(4, ".tmp"), F_OK), -1);
    gm_ledger_drop_old(l);
    cr_assert_eq(access(path_of(3, ""), F_OK), -1);
    cr_assert_eq(access(path_of(4, ""), F_OK), 0);
    gm_ledger_close(l);

    /* The new checkpoint means what the old one did. */
    l = open_at(g2, s2, T0 + HOUR, 100000);
    cr_assert_eq(stats_of(l).entries, 1000);
    for (int64_t i = 0; i < 1000; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(i, 1), T0 + HOUR), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_delivery("in-flight", 9), T0 + HOUR), 0);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(7, 1), T0 + HOUR), 0);
    gm_ledger_close(l);
}

Test(ledger, compacting_an_empty_ledger)
{
    gm_ledger_t *l = open_at(2, 0, T0, 1000);
    gm_ledger_claim(l, 5, T0);
    uint64_t g, size;
    char err[256] = "";
    cr_assert_eq(gm_ledger_compact(l, T0, &g, &size, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g, 3);
    cr_assert_eq(size, 0);
    cr_assert_eq(file_size(path_of(3, "")), 0);
    gm_ledger_drop_old(l);
    cr_assert_eq(access(path_of(2, ""), F_OK), -1);
    gm_ledger_persist(l, 6, T0);
    sync_ok(l, &g, &size);
    cr_assert_eq(g, 3);
    gm_ledger_close(l);
    l = open_at(g, size, T0, 1000);
    cr_assert_eq(stats_of(l).entries, 1);
    cr_assert_eq(gm_ledger_contains(l, 6, T0), 1);
    gm_ledger_close(l);
}

Test(ledger, entries_queued_across_a_compaction_reach_the_new_file)
{
    gm_ledger_t *l = open_new();
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    gm_ledger_persist(l, gm_ledger_key_run(2, 1), T0);
    char err[256] = "";
    cr_assert_eq(gm_ledger_compact(l, T0, &g, &size, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g, 1);
    uint64_t g2, s2;
    sync_ok(l, &g2, &s2);
    cr_assert_eq(g2, 1);
    cr_assert_eq(s2, size + GM_FRAME_HEADER + 1 + 12);
    /* Compacting again: both are durable now, each written once. */
    cr_assert_eq(gm_ledger_compact(l, T0, &g2, &s2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g2, 2);
    cr_assert_eq(s2, GM_FRAME_HEADER + 1 + 2 * 12);
    gm_ledger_drop_old(l);
    gm_ledger_close(l);

    l = open_at(g2, s2, T0, 1000);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1, 1), T0), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(2, 1), T0), 1);
    cr_assert_eq(access(path_of(0, ""), F_OK), -1);
    cr_assert_eq(access(path_of(1, ""), F_OK), -1);
    gm_ledger_close(l);
}

/* After a compaction whose checkpoint never made it, the old generation is
 * still the one opened, and the newer file goes. */
Test(ledger, reopening_the_old_generation_after_a_compaction)
{
    gm_ledger_t *l = open_new();
    gm_ledger_persist(l, gm_ledger_key_run(1, 1), T0);
    uint64_t g, size, g2, s2;
    sync_ok(l, &g, &size);
    char err[256] = "";
    cr_assert_eq(gm_ledger_compact(l, T0, &g2, &s2, err, sizeof(err)), 0, "%s", err);
    gm_ledger_close(l);
    l = open_at(g, size, T0, 1000);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_run(1, 1), T0), 1);
    cr_assert_eq(access(path_of(g2, ""), F_OK), -1);
    gm_ledger_close(l);
}

/* More than one frame's worth: sync splits, compaction too, both read back. */
Test(ledger, many_keys)
{
    const int64_t n = 1000000;
    gm_ledger_t *l = open_at(0, 0, T0, 2000000);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(gm_ledger_claim(l, gm_ledger_key_job(i, 1), T0), 1);
    for (int64_t i = 0; i < n; i++)
        gm_ledger_persist(l, gm_ledger_key_job(i, 1), T0);
    cr_assert_eq(stats_of(l).entries, (uint64_t)n);
    uint64_t g, size;
    sync_ok(l, &g, &size);
    cr_assert_eq(size, (uint64_t)n * 12 + 12 * (GM_FRAME_HEADER + 1)); /* 12 frames of <= 1 MiB */
    char err[256] = "";
    cr_assert_eq(gm_ledger_compact(l, T0, &g, &size, err, sizeof(err)), 0, "%s", err);
    gm_ledger_drop_old(l);
    gm_ledger_close(l);

    l = open_at(g, size, T0, 2000000);
    gm_ledger_stats_t s = stats_of(l);
    cr_assert_eq(s.entries, (uint64_t)n,
                 "entries %" PRIu64 " loaded %" PRIu64 " evicted %" PRIu64 " corrupt %" PRIu64 " torn %" PRIu64
                 " size %" PRIu64,
                 s.entries, s.loaded, s.evicted, s.corrupt, s.torn_bytes, size);
    cr_assert_eq(s.loaded, (uint64_t)n);
    cr_assert_eq(s.evicted, 0);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(i, 1), T0), 1);
    cr_assert_eq(gm_ledger_contains(l, gm_ledger_key_job(n, 1), T0), 0);
    gm_ledger_close(l);
}

/* ---- threads ---- */

#define RACE_KEYS 20000
#define RACE_THREADS 4

typedef struct {
    gm_ledger_t *l;
    int id;
    atomic_int *wins;
    atomic_bool *done;
    int failed; /* the syncer's: asserted on by the main thread, after the join */
    char err[256];
} racer_t;

/* Each thread claims every key of the same range, in its own order (a
 * stride prime to RACE_KEYS), and persists what it wins. */
static void *racer_main(void *arg)
{
    static const int64_t strides[RACE_THREADS] = {1, 3, 7, 9};
    racer_t *r = arg;
    for (int64_t k = 0; k < RACE_KEYS; k++) {
        int64_t i = (k * strides[r->id] + r->id * 977) % RACE_KEYS;
        if (gm_ledger_claim(r->l, gm_ledger_key_run(i, 1), T0)) {
            atomic_fetch_add(&r->wins[i], 1);
            gm_ledger_persist(r->l, gm_ledger_key_run(i, 1), T0);
        }
        if (k % 5000 == 0)
            gm_ledger_contains(r->l, gm_ledger_key_run(k, 1), T0);
    }
    return NULL;
}

static void *syncer_main(void *arg)
{
    racer_t *r = arg;
    uint64_t g, size;
    int rounds = 0;
    while (!atomic_load(r->done) && !r->failed) {
        if (gm_ledger_sync(r->l, &g, &size, r->err, sizeof(r->err)) != 0)
            r->failed = 1;
        else if (++rounds % 8 == 0) {
            if (gm_ledger_compact(r->l, T0, &g, &size, r->err, sizeof(r->err)) != 0)
                r->failed = 1;
            gm_ledger_drop_old(r->l);
        }
    }
    return NULL;
}

Test(ledger, one_claimant_wins_each_key)
{
    gm_ledger_t *l = open_new();
    static atomic_int wins[RACE_KEYS];
    atomic_bool done = false;
    pthread_t threads[RACE_THREADS], syncer;
    racer_t racers[RACE_THREADS], sr = {.l = l, .done = &done};
    cr_assert_eq(pthread_create(&syncer, NULL, syncer_main, &sr), 0);
    for (int t = 0; t < RACE_THREADS; t++) {
        racers[t] = (racer_t){.l = l, .id = t, .wins = wins};
        cr_assert_eq(pthread_create(&threads[t], NULL, racer_main, &racers[t]), 0);
    }
    for (int t = 0; t < RACE_THREADS; t++)
        pthread_join(threads[t], NULL);
    atomic_store(&done, true);
    pthread_join(syncer, NULL);
    cr_assert_eq(sr.failed, 0, "%s", sr.err);

    for (int i = 0; i < RACE_KEYS; i++)
        cr_assert_eq(atomic_load(&wins[i]), 1, "key %d won %d times", i, atomic_load(&wins[i]));
    cr_assert_eq(stats_of(l).entries, RACE_KEYS);

    uint64_t g, size;
    sync_ok(l, &g, &size);
    gm_ledger_close(l);
    l = open_at(g, size, T0, 100000);
    cr_assert_eq(stats_of(l).entries, RACE_KEYS);
    gm_ledger_close(l);
}

/* ---- snapshots: the backfill reading a running receiver's ledger ---- */

Test(ledger, snapshot_reads_a_live_log_without_touching_it)
{
    gm_ledger_t *l = open_new();
    uint64_t run = gm_ledger_key_run(7, 1), job = gm_ledger_key_job(9, 2), other = gm_ledger_key_run(8, 1);
    gm_ledger_persist(l, run, T0);
    gm_ledger_persist(l, job, T0);
    uint64_t gen, size;
    sync_ok(l, &gen, &size);
    /* The writer is mid-append: half a frame at the end. */
    char *path = path_of(gen, "");
    static const unsigned char partial[] = {0x10, 0, 0, 0, 1, 2, 3};
    append_bytes(path, partial, sizeof(partial));
    uint64_t before = file_size(path);

    gm_ledger_opts_t opts = {.retention_ms = RETENTION, .max_entries = 1000};
    char err[256] = "";
    gm_ledger_t *snap = gm_ledger_open_snapshot(dir, &opts, gen, T0 + HOUR, err, sizeof(err));
    cr_assert_not_null(snap, "%s", err);
    cr_assert(gm_ledger_contains(snap, run, T0 + HOUR));
    cr_assert(gm_ledger_contains(snap, job, T0 + HOUR));
    cr_assert_not(gm_ledger_contains(snap, other, T0 + HOUR));
    /* Nothing written: the receiver's file is as it was, and a snapshot cannot sync. */
    gm_ledger_persist(snap, other, T0);
    uint64_t g2, s2;
    cr_assert_neq(gm_ledger_sync(snap, &g2, &s2, err, sizeof(err)), 0);
    cr_assert_eq(file_size(path), before);
    gm_ledger_close(snap);
    /* The writer still owns its file and goes on. */
    gm_ledger_persist(l, other, T0);
    gm_ledger_close(l);
}

Test(ledger, snapshot_of_a_missing_generation_says_so)
{
    gm_ledger_opts_t opts = {.retention_ms = RETENTION, .max_entries = 1000};
    char err[256] = "";
    errno = 0;
    cr_assert_null(gm_ledger_open_snapshot(dir, &opts, 42, T0, err, sizeof(err)));
    cr_assert_eq(errno, ENOENT, "the caller tells a compaction race by errno");
    cr_assert_not_null(strstr(err, "No such file"), "%s", err);
}
