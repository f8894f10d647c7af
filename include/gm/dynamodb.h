/* gm_ddb: the DynamoDB backend of the shared ledger, the table where
 * several receivers and the nightly backfill claim delivery guids and run
 * keys ("d:<guid>", "r:<run id>:<attempt>", "j:<job id>:<attempt>") so that
 * nothing is recorded twice.
 *
 * The table: partition key `pk` (S), no sort key; each item is
 *   {pk: S key, owner: S writer id, claimed_at: N epoch ms, expires_at: N epoch s}
 * with `expires_at` as the table's TTL attribute. DynamoDB's TTL deletes
 * lazily (up to days late), so both calls here treat an item whose
 * expires_at <= now (in whole seconds) as absent; the two agree at the
 * boundary, so a key that lookup reports absent can always be claimed.
 *
 * Errors: each call returns its outcome and writes the reason into
 * (err, errlen): AWS's error code and message (scrubbed of credentials by
 * gm_aws), or curl's; never a secret. Nothing is printed or logged here.
 *
 * Retries: throttling, 5xx and transport errors are retried, up to 3
 * attempts per request with short jittered backoff (tens of milliseconds:
 * a receiver holds a delivery while it claims). A claim retried after a
 * lost response finds the item already ours and still reports CLAIMED.
 * Rejections (validation, missing table) and refused credentials are not
 * retried.
 *
 * Thread: a gm_ddb_t may be used by one thread at a time (it owns a gm_aws_t
 * and so a curl handle); make one per thread. Different handles, in one
 * process or many, may claim the same keys concurrently: DynamoDB's
 * conditional write decides, and exactly one of them gets CLAIMED.
 *
 * Ownership: gm_ddb_open copies everything in the options; its result is
 * the caller's, released with gm_ddb_close. */
#ifndef GM_DYNAMODB_H
#define GM_DYNAMODB_H

#include <stddef.h>
#include <stdint.h>

typedef struct gm_ddb gm_ddb_t;

typedef struct {
    const char *table;    /* required: 3-255 of [A-Za-z0-9_.-] */
    const char *region;   /* NULL: from the environment (gm_aws rules: AWS_REGION, AWS_DEFAULT_REGION) */
    const char *endpoint; /* NULL: AWS's; else e.g. http://127.0.0.1:PORT */
    const char *owner;    /* required: this writer's stable id (a receiver's node id, "backfill") */
    int64_t ttl_s;        /* required, > 0: expires_at = now + ttl_s (epoch seconds, the table's TTL attribute) */
    long timeout_ms;      /* per request (each attempt), default 5 s when 0 */
} gm_ddb_opts_t;

typedef enum { GM_DDB_CLAIMED = 0, GM_DDB_TAKEN, GM_DDB_ERROR } gm_ddb_claim_t;

/* Longest key accepted, in bytes: DynamoDB's limit for a partition key. */
#define GM_DDB_MAX_KEY 2048

/* Checks the options and resolves the region (credentials are looked up at
 * the first call, so a service starts while AWS is unreachable). NULL with
 * the reason when an option is missing or malformed. */
gm_ddb_t *gm_ddb_open(const gm_ddb_opts_t *o, char *err, size_t errlen);
void gm_ddb_close(gm_ddb_t *d);

/* Conditional PutItem of {pk: key, owner, claimed_at: now_ms, expires_at:
 * now_ms / 1000 + ttl_s} on "attribute_not_exists(pk) OR #o = :me OR
 * expires_at <= :now_s".
 *   GM_DDB_CLAIMED  written: the key was free, expired, or already ours (a
 *                   receiver that crashed before its checkpoint processes the
 *                   same frames again and gets its own claims back; the
 *                   claim's claimed_at and expires_at are refreshed)
 *   GM_DDB_TAKEN    another owner holds it (ConditionalCheckFailedException)
 *   GM_DDB_ERROR    after the retries, or on a rejection or refused
 *                   credentials, or a key that is empty, longer than
 *                   GM_DDB_MAX_KEY or not UTF-8; with the reason */
gm_ddb_claim_t gm_ddb_claim(gm_ddb_t *d, const char *key, int64_t now_ms, char *err, size_t errlen);

/* Which of keys[0..n) are held (by anyone): found[i] = 1 when keys[i] is
 * present and not expired (expires_at > now_ms / 1000; an item without
 * expires_at never expires), else 0. BatchGetItem with ConsistentRead,
 * projecting pk and expires_at, up to 100 distinct keys per request
 * (duplicates in keys are allowed and asked for once); UnprocessedKeys are
 * asked for again with backoff. Returns 0, or -1 with the reason (found is
 * then unspecified). n == 0 makes no request. */
int gm_ddb_lookup(gm_ddb_t *d, const char *const *keys, size_t n, int64_t now_ms, unsigned char *found, char *err,
                  size_t errlen);

#endif
