/* gm_store: the spool directory as a whole.
 *
 * One process owns a store at a time: two receivers appending to the same
 * segments, or a second one rolling back the first one's sink, would corrupt
 * both. gm_store_lock takes DIR/lock (flock, released by the kernel when
 * the process dies, so a crash never leaves a stale lock) and writes the
 * owner's pid in it for the error a second process gets.
 *
 * The node id (DIR/node-id, 32 hex characters, made once) names this store
 * in a shared ledger: a receiver that processes its spool again after a
 * crash finds its own claims there and takes them back.
 *
 * Ownership: the lock is a file descriptor the caller closes (or keeps
 * until exit). */
#ifndef GM_STORE_H
#define GM_STORE_H

#include <stddef.h>

/* Creates DIR (and its parents) when missing. Returns 0 / -1 with errno. */
int gm_store_make_dirs(const char *dir);

/* Returns the lock's fd, or -1 with the reason (another process holds it:
 * "… is used by process N"). */
int gm_store_lock(const char *dir, char *err, size_t errlen);

/* Reads DIR/node-id, creating it (durably) the first time. out holds 33
 * bytes. Returns 0 / -1 with the reason. */
int gm_store_node_id(const char *dir, char out[33], char *err, size_t errlen);

#endif
