/* gm_ledger, in memory: keys, the open-addressing table, expiry and
 * eviction, and the claim/persist calls. The log file is ledger_log.c; the
 * design is described in ledger_internal.h. */
#include "gm/ledger.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "gm/alloc.h"
#include "ledger_internal.h"

#define EVICT_BUCKETS 1024u

/* Rounded up, so that an entry lives at least the retention. */
static uint32_t expiry_hour(const gm_ledger_t *l, int64_t now_ms)
{
    int64_t t = now_ms > INT64_MAX - l->retention_ms ? INT64_MAX : now_ms + l->retention_ms;
    if (t <= 0)
        return 1; /* 0 is what an empty slot holds */
    return clamp_hour(t / HOUR_MS + (t % HOUR_MS != 0));
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
int gm_ledger_upsert(gm_ledger_t *l, uint64_t key, uint32_t now_hour, uint32_t exp, bool extend, ledger_slot_t **slot)
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
    int first = gm_ledger_upsert(l, key, hour_of(now_ms), expiry_hour(l, now_ms), false, &s);
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
    gm_ledger_upsert(l, key, hour_of(now_ms), exp, true, &s);
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
