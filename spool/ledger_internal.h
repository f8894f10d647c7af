/* Private to the ledger (spool/ledger*.c): the table (ledger.c) and its log
 * file (ledger_log.c) share the structure and helpers below.
 *
 * gm_ledger: a bounded, expiring set of 64-bit keys in memory, backed by an
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
#ifndef GM_LEDGER_INTERNAL_H
#define GM_LEDGER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gm/frame.h"
#include "gm/ledger.h"

#define HOUR_MS INT64_C(3600000)
#define LOG_VERSION 1u
#define LOG_ENTRY 12u
#define LOG_MAX_PAYLOAD (1u << 20)
/* A whole frame fits in 1 MiB, the buffer gm_segment_scan starts with. */
#define LOG_FRAME_ENTRIES ((LOG_MAX_PAYLOAD - GM_FRAME_HEADER - 1u) / LOG_ENTRY)

typedef struct {
    uint64_t key;          /* 0: empty slot */
    uint32_t expires_hour; /* live while the current hour is below this */
    uint32_t durable_hour; /* the latest expiry the synced log holds for key; 0: none */
} ledger_slot_t;
/* README's memory figures (32 bytes an entry at the bound, the table at most
 * half full) rest on this. */
_Static_assert(sizeof(ledger_slot_t) == 16, "a ledger slot is 16 bytes");

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

static inline uint32_t clamp_hour(int64_t h)
{
    return h < 0 ? 0 : h > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)h;
}

/* The hour now_ms falls in: an entry is live while this is below its expiry,
 * i.e. while now_ms < expires_hour * 1h. */
static inline uint32_t hour_of(int64_t ms)
{
    return clamp_hour(ms < 0 ? -1 : ms / HOUR_MS);
}

/* ---- encoding ---- */

static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the table (callers hold the lock) ---- */

static inline size_t home(const gm_ledger_t *l, uint64_t key)
{
    return (size_t)key & (l->cap - 1);
}

static inline size_t find(const gm_ledger_t *l, uint64_t key)
{
    size_t mask = l->cap - 1;
    for (size_t i = home(l, key);; i = (i + 1) & mask) {
        if (l->slots[i].key == key)
            return i;
        if (l->slots[i].key == 0)
            return SIZE_MAX;
    }
}

/* Finds key live, or makes it so with expiry exp (ledger.c). */
int gm_ledger_upsert(gm_ledger_t *l, uint64_t key, uint32_t now_hour, uint32_t exp, bool extend, ledger_slot_t **slot);

#endif
