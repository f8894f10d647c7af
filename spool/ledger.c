/* gm_ledger: a bounded, expiring set of 64-bit keys in memory, backed by an
 * append-only log of frames.
 *
 * Memory: open addressing with linear probing over a power-of-two array of
 * 16-byte slots. Deletion shifts the following entries of the cluster back
 * (Knuth's algorithm R), so there are no tombstones and probe lengths never
 * degrade with churn. Keys are SHA-256 prefixes, so their low bits index the
 * table as they are. An entry expired at the caller's clock counts as absent;
 * it is removed when a lookup meets it, and in bulk on growth and when the
 * table is at max_entries.
 *
 * Each slot also remembers the expiry that the log durably holds for its key
 * (durable_hour): compaction rewrites exactly what the log already says, so
 * a claim that never became durable (an in-flight delivery, later unclaimed)
 * cannot leak into the next generation, and the new (generation, size) means
 * the same as the last synced one. Entries queued but not synced stay queued
 * through a compaction and go to the new file on the next sync.
 *
 * Log payload: version u8 (1), then entries of key u64 LE | expires_hour u32
 * LE. A frame carries at most LOG_FRAME_ENTRIES entries (1 MiB in all).
 *
 * Locking: one mutex guards everything; io_busy (under it) makes sync and
 * compact take turns for the file, so either can do its I/O unlocked. */
#include "gm/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "gm/alloc.h"
#include "gm/frame.h"
#include "gm/segment.h"
#include "gm/util.h"

#define HOUR_MS INT64_C(3600000)
#define INITIAL_SLOTS 1024u
#define LOG_VERSION 1u
#define LOG_ENTRY 12u
#define LOG_MAX_PAYLOAD (1u << 20)
/* A whole frame fits in 1 MiB, the buffer gm_segment_scan starts with. */
#define LOG_FRAME_ENTRIES ((LOG_MAX_PAYLOAD - GM_FRAME_HEADER - 1u) / LOG_ENTRY)
#define EVICT_BUCKETS 1024u

typedef struct {
    uint64_t key;          /* 0: empty slot */
    uint32_t expires_hour; /* live while the current hour is below this */
    uint32_t durable_hour; /* the latest expiry the synced log holds for key; 0: none */
} ledger_slot_t;

struct gm_ledger {
    pthread_mutex_t lock;
    pthread_cond_t io_done; /* signalled when io_busy clears */
    char *dir;
    int64_t retention_ms;
    size_t max_entries;

    ledger_slot_t *slots;
    size_t cap;       /* a power of two */
    size_t count;     /* occupied slots, expired ones included until purged */
    uint32_t min_exp; /* no entry expires before this hour: purging earlier finds nothing */
    uint32_t max_exp; /* nor after this one */

    uint8_t *queue; /* persisted entries not yet written, LOG_ENTRY bytes each */
    size_t queued, queue_cap;

    bool io_busy;
    bool tail_dirty; /* a failed write may have left bytes past log_size */
    int fd;
    uint64_t generation;
    uint64_t log_size;

    gm_ledger_stats_t stats;
};

/* ---- time ---- */

static uint32_t clamp_hour(int64_t h)
{
    return h < 0 ? 0 : h > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)h;
}

/* The hour now_ms falls in: an entry is live while this is below its expiry,
 * i.e. while now_ms < expires_hour * 1h. */
static uint32_t hour_of(int64_t ms)
{
    return clamp_hour(ms < 0 ? -1 : ms / HOUR_MS);
}

/* Rounded up, so that an entry lives at least the retention. */
static uint32_t expiry_hour(const gm_ledger_t *l, int64_t now_ms)
{
    int64_t t = now_ms > INT64_MAX - l->retention_ms ? INT64_MAX : now_ms + l->retention_ms;
    if (t <= 0)
        return 1; /* 0 is what an empty slot holds */
    return clamp_hour(t / HOUR_MS + (t % HOUR_MS != 0));
}

/* ---- encoding ---- */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- keys ---- */

uint64_t gm_ledger_key(const char *s, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, md);
    uint64_t k = get_u64(md);
    return k != 0 ? k : 1; /* 0 marks an empty slot */
}

uint64_t gm_ledger_key_delivery(const char *guid, size_t len)
{
    char small[128];
    char *buf = len + 2 <= sizeof(small) ? small : gm_malloc(len + 2);
    buf[0] = 'd';
    buf[1] = ':';
    memcpy(buf + 2, guid, len);
    uint64_t k = gm_ledger_key(buf, len + 2);
    if (buf != small)
        free(buf);
    return k;
}

static uint64_t key_id_attempt(char kind, int64_t id, int64_t attempt)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%c:%" PRId64 ":%" PRId64, kind, id, attempt);
    return gm_ledger_key(buf, (size_t)n);
}

uint64_t gm_ledger_key_run(int64_t run_id, int64_t attempt)
{
    return key_id_attempt('r', run_id, attempt);
}

uint64_t gm_ledger_key_job(int64_t job_id, int64_t attempt)
{
    return key_id_attempt('j', job_id, attempt);
}

/* ---- the table (callers hold the lock) ---- */

static size_t home(const gm_ledger_t *l, uint64_t key)
{
    return (size_t)key & (l->cap - 1);
}

static size_t find(const gm_ledger_t *l, uint64_t key)
{
    size_t mask = l->cap - 1;
    for (size_t i = home(l, key);; i = (i + 1) & mask) {
        if (l->slots[i].key == key)
            return i;
        if (l->slots[i].key == 0)
            return SIZE_MAX;
    }
}

/* Backward-shift deletion: moves each later entry of the cluster into the
 * hole when its home position allows, then empties the last hole. Only
 * entries after i (up to the next empty slot) ever move. */
static void delete_at(gm_ledger_t *l, size_t i)
{
    size_t mask = l->cap - 1;
    for (size_t j = (i + 1) & mask; l->slots[j].key != 0; j = (j + 1) & mask) {
        size_t k = home(l, l->slots[j].key);
        /* The entry at j may fill i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            l->slots[i] = l->slots[j];
            i = j;
        }
    }
    l->slots[i] = (ledger_slot_t){0};
    l->count--;
}

static void place(ledger_slot_t *slots, size_t cap, ledger_slot_t s)
{
    size_t mask = cap - 1;
    size_t i = (size_t)s.key & mask;
    while (slots[i].key != 0)
        i = (i + 1) & mask;
    slots[i] = s;
}

/* Visits every entry once, deleting those for which drop() says so. Starts
 * after an empty slot and goes once around: a deletion only pulls entries
 * from positions not visited yet, and the slot that received one is looked
 * at again. The table is never full (load stays under 70%). */
typedef bool (*drop_fn)(void *ctx, const ledger_slot_t *s);

static void sweep(gm_ledger_t *l, drop_fn drop, void *ctx)
{
    size_t mask = l->cap - 1, start = 0;
    while (l->slots[start].key != 0)
        start++;
    size_t i = (start + 1) & mask;
    for (size_t seen = 1; seen < l->cap;) {
        if (l->slots[i].key != 0 && drop(ctx, &l->slots[i])) {
            delete_at(l, i);
            continue;
        }
        i = (i + 1) & mask;
        seen++;
    }
}

typedef struct {
    gm_ledger_t *l;
    uint32_t now_hour;
    uint32_t min_left;
} purge_ctx_t;

static bool purge_drop(void *ctx, const ledger_slot_t *s)
{
    purge_ctx_t *c = ctx;
    if (s->expires_hour <= c->now_hour) {
        c->l->stats.expired++;
        return true;
    }
    if (s->expires_hour < c->min_left)
        c->min_left = s->expires_hour;
    return false;
}

static void purge_expired(gm_ledger_t *l, uint32_t now_hour)
{
    if (now_hour < l->min_exp)
        return; /* nothing can have expired yet */
    purge_ctx_t c = {l, now_hour, UINT32_MAX};
    sweep(l, purge_drop, &c);
    l->min_exp = c.min_left;
}

typedef struct {
    uint32_t cut; /* evict every entry expiring before this hour... */
    size_t ties;  /* ...and this many of those expiring at it */
} evict_ctx_t;

static bool evict_drop(void *ctx, const ledger_slot_t *s)
{
    evict_ctx_t *c = ctx;
    if (s->expires_hour < c->cut)
        return true;
    if (s->expires_hour == c->cut && c->ties > 0) {
        c->ties--;
        return true;
    }
    return false;
}

/* Evicts about a tenth of the entries, those closest to expiry, so that a
 * full table pays for a sweep once per many inserts. The cut-off hour comes
 * from histograms of the expiries, each pass narrowing the range to the
 * bucket where the running count reaches the target (three passes at most
 * for the whole u32 range); ties at the cut-off hour are taken in table
 * order up to the target, so exactly `target` entries go. */
static void evict_oldest(gm_ledger_t *l)
{
    size_t target = l->count / 10 ? l->count / 10 : 1;
    uint32_t lo = l->min_exp, hi = l->max_exp; /* bounds kept up to date: no pass to find them */
    size_t below = 0;                          /* entries expiring before lo */
    while (lo < hi) {
        size_t hist[EVICT_BUCKETS] = {0};
        uint32_t span = hi - lo;
        unsigned shift = 0;
        while ((span >> shift) >= EVICT_BUCKETS)
            shift++;
        /* Live entries expire at hour 1 or later and empty slots hold 0,
         * so one unsigned comparison leaves out both those out of range
         * and the empty slots. */
        for (size_t i = 0; i < l->cap; i++) {
            uint32_t d = l->slots[i].expires_hour - lo;
            if (d <= span)
                hist[d >> shift]++;
        }
        size_t b = 0;
        while (below + hist[b] < target)
            below += hist[b++];
        uint64_t nlo = lo + ((uint64_t)b << shift), nhi = nlo + ((uint64_t)1 << shift) - 1;
        lo = (uint32_t)nlo;
        hi = nhi < hi ? (uint32_t)nhi : hi;
    }
    evict_ctx_t c = {lo, target - below};
    sweep(l, evict_drop, &c);
    l->stats.evicted += target;
    l->min_exp = lo; /* whatever is left expires at the cut-off or later */
}

/* Doubles the array (more if needed), dropping expired entries on the way. */
static void grow(gm_ledger_t *l, uint32_t now_hour)
{
    size_t cap = l->cap * 2;
    ledger_slot_t *slots = gm_calloc(cap, sizeof(*slots));
    size_t count = 0;
    uint32_t min_left = UINT32_MAX;
    for (size_t i = 0; i < l->cap; i++) {
        ledger_slot_t s = l->slots[i];
        if (s.key == 0)
            continue;
        if (s.expires_hour <= now_hour) {
            l->stats.expired++;
            continue;
        }
        place(slots, cap, s);
        count++;
        min_left = s.expires_hour < min_left ? s.expires_hour : min_left;
    }
    free(l->slots);
    l->slots = slots;
    l->cap = cap;
    l->count = count;
    l->min_exp = min_left;
}

/* Makes room for one more entry: never beyond max_entries, never over 70%
 * load. Expired entries go first, so that they neither cause an eviction
 * nor double the array; purge_expired sweeps at most about once an hour
 * (min_exp), so a table that stays full costs one sweep per tenth evicted. */
static void make_room(gm_ledger_t *l, uint32_t now_hour)
{
    if (l->count >= l->max_entries) {
        purge_expired(l, now_hour);
        if (l->count >= l->max_entries)
            evict_oldest(l);
    }
    if ((l->count + 1) * 10 > l->cap * 7) {
        purge_expired(l, now_hour);
        if ((l->count + 1) * 10 > l->cap * 7)
            grow(l, now_hour);
    }
}

static void note_expiry(gm_ledger_t *l, uint32_t exp)
{
    if (exp < l->min_exp)
        l->min_exp = exp;
    if (exp > l->max_exp)
        l->max_exp = exp;
}

/* Finds key live, or makes it so with expiry exp. Returns 1 when inserted
 * (absent or expired before), 0 when it was live already (its expiry then
 * pushed out to exp when `extend`); *slot points at the entry either way. */
static int upsert(gm_ledger_t *l, uint64_t key, uint32_t now_hour, uint32_t exp, bool extend, ledger_slot_t **slot)
{
    size_t i = find(l, key);
    if (i != SIZE_MAX) {
        ledger_slot_t *s = &l->slots[i];
        *slot = s;
        if (s->expires_hour > now_hour) {
            if (extend && s->expires_hour < exp) {
                s->expires_hour = exp;
                note_expiry(l, exp);
            }
            return 0;
        }
        l->stats.expired++;
        *s = (ledger_slot_t){.key = key, .expires_hour = exp};
    } else {
        make_room(l, now_hour);
        size_t mask = l->cap - 1;
        for (i = home(l, key); l->slots[i].key != 0; i = (i + 1) & mask)
            ;
        l->slots[i] = (ledger_slot_t){.key = key, .expires_hour = exp};
        l->count++;
        *slot = &l->slots[i];
    }
    note_expiry(l, exp);
    return 1;
}

/* ---- public: memory ---- */

int gm_ledger_contains(gm_ledger_t *l, uint64_t key, int64_t now_ms)
{
    pthread_mutex_lock(&l->lock);
    size_t i = find(l, key);
    int live = 0;
    if (i != SIZE_MAX) {
        live = l->slots[i].expires_hour > hour_of(now_ms);
        if (!live) {
            delete_at(l, i);
            l->stats.expired++;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return live;
}

int gm_ledger_claim(gm_ledger_t *l, uint64_t key, int64_t now_ms)
{
    ledger_slot_t *s;
    pthread_mutex_lock(&l->lock);
    int first = upsert(l, key, hour_of(now_ms), expiry_hour(l, now_ms), false, &s);
    pthread_mutex_unlock(&l->lock);
    return first;
}

void gm_ledger_unclaim(gm_ledger_t *l, uint64_t key)
{
    pthread_mutex_lock(&l->lock);
    size_t i = find(l, key);
    if (i != SIZE_MAX)
        delete_at(l, i);
    pthread_mutex_unlock(&l->lock);
}

void gm_ledger_persist(gm_ledger_t *l, uint64_t key, int64_t now_ms)
{
    ledger_slot_t *s;
    pthread_mutex_lock(&l->lock);
    uint32_t exp = expiry_hour(l, now_ms);
    upsert(l, key, hour_of(now_ms), exp, true, &s);
    if (l->queued == l->queue_cap) {
        l->queue_cap = l->queue_cap ? l->queue_cap * 2 : 256;
        l->queue = gm_realloc(l->queue, l->queue_cap * LOG_ENTRY);
    }
    uint8_t *e = l->queue + l->queued++ * LOG_ENTRY;
    put_u64(e, key);
    put_u32(e + 8, exp);
    pthread_mutex_unlock(&l->lock);
}

void gm_ledger_stats(gm_ledger_t *l, gm_ledger_stats_t *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->stats;
    out->entries = l->count;
    out->log_bytes = l->log_size;
    pthread_mutex_unlock(&l->lock);
}

/* ---- files ---- */

static char *log_path(const gm_ledger_t *l, uint64_t generation, const char *suffix)
{
    return gm_asprintf("%s/ledger.%" PRIu64 ".log%s", l->dir, generation, suffix);
}

/* Parses "ledger.<generation>.log" or "ledger.<generation>.log.tmp". */
static bool parse_log_name(const char *name, uint64_t *generation, bool *tmp)
{
    if (strncmp(name, "ledger.", 7) != 0 || name[7] < '0' || name[7] > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long g = strtoull(name + 7, &end, 10);
    if (errno != 0)
        return false;
    if (strcmp(end, ".log") == 0)
        *tmp = false;
    else if (strcmp(end, ".log.tmp") == 0)
        *tmp = true;
    else
        return false;
    *generation = g;
    return true;
}

/* Removes the logs of other generations than keep (older ones only when
 * older_only) and leftovers of compactions up to keep. */
static void remove_other_logs(const char *dir, uint64_t keep, bool older_only)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t g;
        bool tmp;
        if (!parse_log_name(de->d_name, &g, &tmp))
            continue;
        bool drop = tmp ? (g <= keep || !older_only) : (g < keep || (!older_only && g != keep));
        if (drop)
            (void)unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Entries are laid out in their frames directly: entry j of a run of
 * frames sits at entry_at(buf, j), and seal_frames() then fills in the
 * version bytes and headers. */
#define FRAME_BYTES (GM_FRAME_HEADER + 1u + LOG_FRAME_ENTRIES * LOG_ENTRY)

static size_t frames_len(size_t n)
{
    size_t rem = n % LOG_FRAME_ENTRIES;
    return n / LOG_FRAME_ENTRIES * FRAME_BYTES + (rem ? GM_FRAME_HEADER + 1 + rem * LOG_ENTRY : 0);
}

static uint8_t *entry_at(uint8_t *buf, size_t j)
{
    return buf + j / LOG_FRAME_ENTRIES * FRAME_BYTES + GM_FRAME_HEADER + 1 + j % LOG_FRAME_ENTRIES * LOG_ENTRY;
}

static void seal_frames(uint8_t *buf, size_t n)
{
    for (size_t j = 0; j < n; j += LOG_FRAME_ENTRIES) {
        uint8_t *frame = buf + j / LOG_FRAME_ENTRIES * FRAME_BYTES;
        size_t k = n - j < LOG_FRAME_ENTRIES ? n - j : LOG_FRAME_ENTRIES;
        frame[GM_FRAME_HEADER] = LOG_VERSION;
        gm_frame_header(frame, frame + GM_FRAME_HEADER, (uint32_t)(1 + k * LOG_ENTRY));
    }
}

/* Waits for the file to be free and takes it. */
static void io_begin(gm_ledger_t *l)
{
    while (l->io_busy)
        pthread_cond_wait(&l->io_done, &l->lock);
    l->io_busy = true;
}

static void io_end(gm_ledger_t *l)
{
    l->io_busy = false;
    pthread_cond_broadcast(&l->io_done);
}

/* ---- public: log ---- */

int gm_ledger_sync(gm_ledger_t *l, uint64_t *generation, uint64_t *size, char *err, size_t errlen)
{
    pthread_mutex_lock(&l->lock);
    io_begin(l);
    uint8_t *batch = l->queue;
    size_t n = l->queued;
    uint64_t off = l->log_size, gen = l->generation;
    bool tail_dirty = l->tail_dirty;
    int fd = l->fd;
    if (n == 0) {
        io_end(l);
        pthread_mutex_unlock(&l->lock);
        *generation = gen;
        *size = off;
        return 0;
    }
    l->queue = NULL;
    l->queued = l->queue_cap = 0;
    pthread_mutex_unlock(&l->lock);

    size_t len = frames_len(n);
    uint8_t *buf = gm_malloc(len);
    for (size_t j = 0; j < n; j += LOG_FRAME_ENTRIES) {
        size_t k = n - j < LOG_FRAME_ENTRIES ? n - j : LOG_FRAME_ENTRIES;
        memcpy(entry_at(buf, j), batch + j * LOG_ENTRY, k * LOG_ENTRY);
    }
    seal_frames(buf, n);
    const char *what = "truncate";
    int rc = tail_dirty ? ftruncate(fd, (off_t)off) : 0;
    if (rc == 0) {
        what = "write";
        rc = gm_pwrite_all(fd, buf, len, off);
    }
    if (rc == 0) {
        what = "fdatasync";
        rc = fdatasync(fd);
    }
    int saved = errno;
    free(buf);
    /* Nothing half-written stays: cut back to the last durable size (the
     * next sync retries the cut before writing if this fails too). */
    if (rc != 0)
        tail_dirty = ftruncate(fd, (off_t)off) != 0;

    pthread_mutex_lock(&l->lock);
    if (rc == 0) {
        l->log_size = off + len;
        l->tail_dirty = false;
        for (size_t k = 0; k < n; k++) {
            const uint8_t *e = batch + k * LOG_ENTRY;
            size_t i = find(l, get_u64(e));
            uint32_t exp = get_u32(e + 8);
            if (i != SIZE_MAX && l->slots[i].durable_hour < exp)
                l->slots[i].durable_hour = exp;
        }
        free(batch);
        *generation = l->generation;
        *size = l->log_size;
    } else {
        l->tail_dirty = tail_dirty;
        /* Put the batch back ahead of what was queued meanwhile. */
        batch = gm_realloc(batch, (n + l->queued) * LOG_ENTRY);
        if (l->queued > 0)
            memcpy(batch + n * LOG_ENTRY, l->queue, l->queued * LOG_ENTRY);
        free(l->queue);
        l->queue = batch;
        l->queued += n;
        l->queue_cap = l->queued;
    }
    io_end(l);
    pthread_mutex_unlock(&l->lock);
    if (rc != 0) {
        char *path = log_path(l, gen, "");
        snprintf(err, errlen, "%s: %s failed: %s", path, what, strerror(saved));
        free(path);
        return -1;
    }
    return 0;
}

int gm_ledger_compact(gm_ledger_t *l, int64_t now_ms, uint64_t *generation, uint64_t *size, char *err, size_t errlen)
{
    /* Snapshot what the log durably holds and is still live, straight
     * into the frames; the CRCs are computed after the lock. */
    pthread_mutex_lock(&l->lock);
    io_begin(l);
    uint32_t now_hour = hour_of(now_ms);
    uint8_t *buf = gm_malloc(frames_len(l->count));
    size_t n = 0;
    for (size_t i = 0; i < l->cap; i++) {
        const ledger_slot_t *s = &l->slots[i];
        if (s->key == 0 || s->durable_hour <= now_hour)
            continue;
        uint8_t *e = entry_at(buf, n++);
        put_u64(e, s->key);
        put_u32(e + 8, s->durable_hour);
    }
    uint64_t gen = l->generation + 1;
    pthread_mutex_unlock(&l->lock);

    char *tmp = log_path(l, gen, ".tmp"), *path = log_path(l, gen, "");
    size_t len = frames_len(n);
    seal_frames(buf, n);
    const char *what = "open";
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0) {
        what = "write";
        rc = gm_pwrite_all(fd, buf, len, 0);
    }
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd);
    }
    bool renamed = false;
    if (rc == 0) {
        what = "rename";
        rc = rename(tmp, path);
        renamed = rc == 0;
    }
    if (rc == 0) {
        what = "fsync of the directory";
        rc = fsync_dir(l->dir);
    }
    int saved = errno;
    free(buf);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        (void)unlink(renamed ? path : tmp);
        snprintf(err, errlen, "%s: %s failed: %s", tmp, what, strerror(saved));
    }
    free(tmp);
    free(path);

    pthread_mutex_lock(&l->lock);
    int old = -1;
    if (rc == 0) {
        old = l->fd;
        l->fd = fd;
        l->generation = gen;
        l->log_size = len;
        l->tail_dirty = false;
        *generation = gen;
        *size = len;
    }
    io_end(l);
    pthread_mutex_unlock(&l->lock);
    if (old >= 0)
        close(old);
    return rc == 0 ? 0 : -1;
}

void gm_ledger_drop_old(gm_ledger_t *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t gen = l->generation;
    pthread_mutex_unlock(&l->lock);
    remove_other_logs(l->dir, gen, true);
}

/* ---- open / close ---- */

typedef struct {
    gm_ledger_t *l;
    uint32_t now_hour;
} load_ctx_t;

static int load_cb(void *ctx, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    load_ctx_t *c = ctx;
    gm_ledger_t *l = c->l;
    (void)offset, (void)next;
    if (len < 1 || payload[0] != LOG_VERSION || (len - 1) % LOG_ENTRY != 0) {
        l->stats.corrupt++; /* a sound frame this version cannot read */
        return 0;
    }
    for (const uint8_t *e = payload + 1; e < payload + len; e += LOG_ENTRY) {
        uint64_t key = get_u64(e);
        uint32_t exp = get_u32(e + 8);
        if (key == 0)
            continue;
        if (exp <= c->now_hour) {
            l->stats.expired++;
            continue;
        }
        ledger_slot_t *s;
        upsert(l, key, c->now_hour, exp, true, &s);
        if (s->durable_hour < exp)
            s->durable_hour = exp;
        l->stats.loaded++;
    }
    return 0;
}

gm_ledger_t *gm_ledger_open(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation, uint64_t durable_size,
                            int64_t now_ms, char *err, size_t errlen)
{
    if (dir == NULL || opts == NULL || opts->retention_ms <= 0 || opts->max_entries == 0) {
        snprintf(err, errlen, "ledger: a directory, a retention > 0 and max_entries > 0 are required");
        return NULL;
    }
    struct stat st;
    int bad = stat(dir, &st) != 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
    if (bad != 0) {
        snprintf(err, errlen, "%s: ledger directory: %s", dir, strerror(bad));
        return NULL;
    }

    gm_ledger_t *l = gm_calloc(1, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->io_done, NULL);
    l->dir = gm_strdup(dir);
    l->retention_ms = opts->retention_ms;
    l->max_entries = opts->max_entries;
    l->cap = INITIAL_SLOTS;
    l->slots = gm_calloc(l->cap, sizeof(*l->slots));
    l->min_exp = UINT32_MAX;
    l->generation = generation;
    l->fd = -1;

    char *path = log_path(l, generation, "");
    const char *what = "open";
    bool created = false;
    l->fd = open(path, O_RDWR | O_CLOEXEC);
    if (l->fd < 0 && errno == ENOENT) {
        l->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        created = true;
    }
    if (l->fd < 0)
        goto Error;
    what = "fsync of the directory";
    if (created && fsync_dir(dir) != 0)
        goto Error;
    what = "fstat";
    if (fstat(l->fd, &st) != 0)
        goto Error;

    /* Past the checkpoint: written, but never acknowledged as durable. */
    uint64_t file_size = (uint64_t)st.st_size;
    if (durable_size != UINT64_MAX && file_size > durable_size) {
        what = "truncate";
        if (ftruncate(l->fd, (off_t)durable_size) != 0 || fsync(l->fd) != 0)
            goto Error;
        l->stats.torn_bytes += file_size - durable_size;
    }

    load_ctx_t ctx = {l, hour_of(now_ms)};
    gm_segment_scan_t scan;
    char scan_err[256];
    if (gm_segment_scan(l->fd, 0, UINT64_MAX, LOG_MAX_PAYLOAD, load_cb, &ctx, &scan, scan_err, sizeof(scan_err)) != 0) {
        snprintf(err, errlen, "%s: %s", path, scan_err);
        goto Cleanup;
    }
    l->stats.corrupt += scan.corrupt;
    l->log_size = scan.file_size;
    /* A bad frame with nothing sound after it, within the checkpoint: a bad
     * disk, or a log kept whole (UINT64_MAX). */
    if (scan.torn_bytes > 0) {
        what = "truncate";
        if (ftruncate(l->fd, (off_t)scan.valid_end) != 0 || fsync(l->fd) != 0)
            goto Error;
        l->stats.torn_bytes += scan.torn_bytes;
        l->log_size = scan.valid_end;
    }

    remove_other_logs(dir, generation, false);
    free(path);
    return l;

Error:
    snprintf(err, errlen, "%s: %s failed: %s", path, what, strerror(errno));
Cleanup:
    free(path);
    gm_ledger_close(l);
    return NULL;
}

void gm_ledger_close(gm_ledger_t *l)
{
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    pthread_cond_destroy(&l->io_done);
    pthread_mutex_destroy(&l->lock);
    free(l->queue);
    free(l->slots);
    free(l->dir);
    free(l);
}
