/* gm_ledger: what has already been accepted or recorded, so that nothing is
 * counted twice.
 *
 * Keys are 64-bit hashes of short strings: "d:<delivery guid>" for
 * deliveries, "r:<run id>:<attempt>" for run records, "j:<job id>:<attempt>"
 * for job records (see gm_ledger_key_*). Each entry expires after the
 * retention (default 35 days); memory is bounded by max_entries, beyond which
 * the entries closest to expiry are evicted first (and counted).
 *
 * Durability: claims live in memory; gm_ledger_persist queues an entry for
 * the log file, gm_ledger_sync writes and fdatasyncs what is queued and
 * returns the log's (generation, size), which the caller stores in its own
 * durable checkpoint. gm_ledger_open truncates the log to the size that
 * checkpoint names, so the ledger and the sink roll back together after a
 * crash. gm_ledger_compact rewrites the live entries into the next
 * generation's file — only entries the log already holds, so a claim that
 * never became durable cannot slip into it; the caller checkpoints the new
 * (generation, size) and then calls gm_ledger_drop_old.
 *
 * Expiry is rounded up to the hour. gm_ledger_claim never extends an
 * expiry; gm_ledger_persist does. Lookups are O(1); an insert can take a
 * pass over the table under the lock (growth, or eviction at the bound:
 * about 30 ms per million entries, rarely).
 *
 * Files: DIR/ledger.<generation>.log, frames of gm_frame.h.
 *
 * Thread: every function may be called from any thread (one internal mutex;
 * lookups are O(1) and never touch the disk). gm_ledger_sync/compact do the
 * I/O outside the lock for the part that is slow.
 *
 * Ownership: gm_ledger_open returns a ledger owned by the caller, released
 * with gm_ledger_close (which does not sync). */
#ifndef GM_LEDGER_H
#define GM_LEDGER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gm_ledger gm_ledger_t;

typedef struct {
    int64_t retention_ms; /* > 0 */
    size_t max_entries;   /* > 0 */
} gm_ledger_opts_t;

typedef struct {
    uint64_t entries;      /* live entries in memory */
    uint64_t evicted;      /* evicted before expiry because of max_entries */
    uint64_t expired;      /* dropped at expiry */
    uint64_t loaded;       /* entries read from the log at open */
    uint64_t torn_bytes;   /* bytes cut from the log at open past the durable size */
    uint64_t corrupt;      /* corrupt frames skipped at open */
    uint64_t log_bytes;    /* current log size */
} gm_ledger_stats_t;

/* Opens (creating DIR/ledger.<generation>.log when missing), cutting the log
 * to durable_size (UINT64_MAX: keep the whole valid file) and loading the
 * entries not expired at now_ms. Files of other generations are removed. */
gm_ledger_t *gm_ledger_open(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation, uint64_t durable_size,
                            int64_t now_ms, char *err, size_t errlen);
void gm_ledger_close(gm_ledger_t *l);

/* A read-only copy of another process's ledger (the backfill beside a
 * running receiver): loads DIR/ledger.<generation>.log as far as its whole
 * frames go, without writing, cutting or removing anything. Lookups work;
 * nothing it is given is ever written (gm_ledger_sync fails on it). NULL
 * with errno ENOENT when that generation is gone (a compaction switched
 * files: read the checkpoint again). */
gm_ledger_t *gm_ledger_open_snapshot(const char *dir, const gm_ledger_opts_t *opts, uint64_t generation,
                                     int64_t now_ms, char *err, size_t errlen);

uint64_t gm_ledger_key(const char *s, size_t len);
uint64_t gm_ledger_key_delivery(const char *guid, size_t len);
uint64_t gm_ledger_key_run(int64_t run_id, int64_t attempt);
uint64_t gm_ledger_key_job(int64_t job_id, int64_t attempt);

/* 1 when key is present and not expired, else 0. */
int gm_ledger_contains(gm_ledger_t *l, uint64_t key, int64_t now_ms);

/* Inserts key in memory if absent (or expired). Returns 1 when this call
 * inserted it (the caller is first), 0 when it was already there. Not
 * logged: see gm_ledger_persist. */
int gm_ledger_claim(gm_ledger_t *l, uint64_t key, int64_t now_ms);

/* Removes a claim made by gm_ledger_claim that did not come to anything (the
 * spool refused the delivery). */
void gm_ledger_unclaim(gm_ledger_t *l, uint64_t key);

/* Inserts key if absent and queues it for the log (with its expiry counted
 * from now_ms). Idempotent in memory; the log may hold a key twice. */
void gm_ledger_persist(gm_ledger_t *l, uint64_t key, int64_t now_ms);

/* Writes the queued entries and fdatasyncs the log. Returns 0 with the
 * durable (generation, size), or -1 with the reason (the queue is kept and
 * retried by the next call). */
int gm_ledger_sync(gm_ledger_t *l, uint64_t *generation, uint64_t *size, char *err, size_t errlen);

/* Writes every live entry into the next generation's log (fsync'd, and the
 * directory too) and switches to it. Returns 0 with the new (generation,
 * size) or -1 (the current generation stays in use). */
int gm_ledger_compact(gm_ledger_t *l, int64_t now_ms, uint64_t *generation, uint64_t *size, char *err,
                      size_t errlen);
/* Removes log files of generations older than the current one. */
void gm_ledger_drop_old(gm_ledger_t *l);

void gm_ledger_stats(gm_ledger_t *l, gm_ledger_stats_t *out);

#endif
