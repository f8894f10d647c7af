/* gm_segment: reading spool segment files (and any file of frames).
 *
 * A segment is a file of frames written by one appender. Reading tolerates
 * what a crash or a bad disk can leave: an incomplete or corrupt frame with
 * nothing valid after it is a torn tail (reported, so the owner can cut the
 * file there); a corrupt frame followed by valid ones is skipped by
 * scanning forward for the next frame that decodes, and counted.
 *
 * Thread: a scan reads through its own fd with pread; callers make sure no
 * one truncates the file meanwhile. */
#ifndef GM_SEGMENT_H
#define GM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

/* Notes on the figures: with a limit, torn_bytes is min(limit, file_size) -
 * valid_end (a frame crossing the limit is torn within the range); after a
 * stop (cb returned 1) torn_bytes is 0, the rest unexamined; `corrupt` counts
 * damaged regions, not frames; file_size is taken at the start, so on a
 * segment still being written pass the synced size as the limit. */
typedef struct {
    uint64_t records;      /* valid frames seen */
    uint64_t corrupt;      /* damaged regions skipped before valid frames */
    uint64_t corrupt_bytes;
    uint64_t valid_end;    /* offset just past the last valid frame (or `from` when none) */
    uint64_t file_size;    /* size seen when the scan ended */
    uint64_t torn_bytes;   /* file_size - valid_end: the tail to cut */
} gm_segment_scan_t;

/* Called for each valid frame, in order. `offset` is where the frame starts,
 * `next` where the following one would. The payload is valid only during
 * the call. Return 0 to go on, 1 to stop early (valid_end is then `next`),
 * -1 to abort the scan (gm_segment_scan returns -1 with err untouched). */
typedef int (*gm_segment_cb)(void *ctx, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len);

/* Scans [from, limit) of fd (limit = UINT64_MAX: to the end of the file).
 * max_payload bounds a frame's length (larger = corrupt). cb may be NULL
 * (validate and count only). Returns 0 (with out filled), or -1 with the
 * reason in err (no path: the caller adds it) on an I/O error or when `from`
 * lies past the end: a checkpoint its file does not reach means lost data,
 * which must not pass for "nothing to read". Memory: at most
 * max(1 MiB, max_payload + 12); the file is never written. */
int gm_segment_scan(int fd, uint64_t from, uint64_t limit, uint32_t max_payload, gm_segment_cb cb, void *ctx,
                    gm_segment_scan_t *out, char *err, size_t errlen);

#endif
