/* gm_segment: the forward scan over a file of frames.
 *
 * The file is read with pread through one buffer that slides along it: up
 * to 1 MiB to start with (few, large reads), grown only when a single frame
 * is bigger than that. A scan therefore holds at most
 * max(1 MiB, max_payload + 12) bytes, whatever the size of the file.
 *
 * A frame that does not decode (bad magic, bad CRC, or a length that runs
 * past the end of the range) starts a search, byte by byte, for the next
 * frame that does. Finding one means the damage was in the middle: the gap
 * is skipped and counted. Finding none means it was the torn tail of a
 * crashed append, reported and left for the owner to cut (a scan never
 * writes). A length that runs past the end is searched through too,
 * rather than taken as a torn tail at once: a length bit flipped upward in
 * the middle of a file looks exactly like that, and taking it as a tail
 * would cut every valid frame after it.
 *
 * The search could be fooled only by a payload that holds a whole frame,
 * CRC included. Spooled bodies are signed JSON or form-encoded text, and the
 * length field of any frame under 144 MiB has a byte below 0x09, which
 * neither of them carries raw. */
#include "gm/segment.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/frame.h"

#define CHUNK (1u << 20)

typedef struct {
    int fd;
    uint8_t *buf;
    size_t cap;
    uint64_t base;    /* file offset of buf[0] */
    size_t have;      /* bytes of the file held from base */
    uint64_t end;     /* end of the range: min(limit, file size) */
    uint64_t size;    /* file size */
    size_t max_frame; /* GM_FRAME_HEADER + max_payload: the most the buffer grows to */
} reader_t;

/* Makes buf start at pos and hold at least need bytes of the file (fewer
 * only if the file turns out shorter than fstat said), reading as much more
 * as fits. */
static int refill(reader_t *r, uint64_t pos, size_t need, char *err, size_t errlen)
{
    size_t keep = (size_t)(r->base + r->have - pos);
    if (keep > 0 && pos != r->base)
        memmove(r->buf, r->buf + (pos - r->base), keep);
    r->base = pos;
    r->have = keep;
    if (need > r->cap) {
        /* Doubling, so that frames growing a little at a time do not cost
         * a realloc each; never past the largest frame there can be, nor
         * past what is left to read. need is within both. */
        size_t cap = r->cap * 2 > need ? r->cap * 2 : need;
        if (cap > r->max_frame)
            cap = r->max_frame;
        if (cap > r->end - pos)
            cap = (size_t)(r->end - pos);
        r->buf = gm_realloc(r->buf, cap);
        r->cap = cap;
    }
    while (r->have < r->cap && r->base + r->have < r->end) {
        uint64_t left = r->end - (r->base + r->have);
        size_t want = r->cap - r->have < left ? r->cap - r->have : (size_t)left;
        ssize_t n = pread(r->fd, r->buf + r->have, want, (off_t)(r->base + r->have));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "read at offset %llu: %s", (unsigned long long)(r->base + r->have), strerror(errno));
            return -1;
        }
        if (n == 0) {
            /* Shorter than fstat said (someone truncated it after all):
             * what was there is all there is. */
            r->end = r->size = r->base + r->have;
            break;
        }
        r->have += (size_t)n;
    }
    return 0;
}

/* Index of the first whole magic in b[0..n), or, when there is none, of
 * the last 3 bytes, which may be the start of one cut by the buffer's end. */
static size_t find_magic(const uint8_t *b, size_t n)
{
    static const uint8_t m[4] = {GM_FRAME_MAGIC & 0xff, (GM_FRAME_MAGIC >> 8) & 0xff, (GM_FRAME_MAGIC >> 16) & 0xff,
                                 GM_FRAME_MAGIC >> 24};
    for (size_t i = 0; i + 4 <= n;) {
        const uint8_t *hit = memchr(b + i, m[0], n - 3 - i);
        if (hit == NULL)
            break;
        i = (size_t)(hit - b);
        if (memcmp(hit, m, 4) == 0)
            return i;
        i++;
    }
    return n < 3 ? 0 : n - 3;
}

int gm_segment_scan(int fd, uint64_t from, uint64_t limit, uint32_t max_payload, gm_segment_cb cb, void *ctx,
                    gm_segment_scan_t *out, char *err, size_t errlen)
{
    gm_segment_scan_t s = {.valid_end = from};
    reader_t r = {.fd = fd, .base = from, .max_frame = GM_FRAME_HEADER + (size_t)max_payload};
    int rc = -1;
    bool resync = false; /* searching for a good frame after a bad one at s.valid_end */
    bool stopped = false;

    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat: %s", strerror(errno));
        goto done;
    }
    r.size = (uint64_t)st.st_size;
    r.end = limit < r.size ? limit : r.size;
    if (from > r.end) {
        /* A start past the end means a checkpoint and its file disagree:
         * the caller must hear of it, not get "nothing to read". */
        snprintf(err, errlen, "start offset %llu is past the end (%llu, file size %llu)", (unsigned long long)from,
                 (unsigned long long)r.end, (unsigned long long)r.size);
        goto done;
    }
    r.cap = r.end - from < CHUNK ? (size_t)(r.end - from) : CHUNK;
    r.buf = gm_malloc(r.cap);

    uint64_t pos = from;
    while (pos < r.end) {
        if (resync) {
            if (r.end - pos < GM_FRAME_HEADER)
                break; /* no frame fits in what is left */
            size_t n = (size_t)(r.base + r.have - pos);
            size_t i = find_magic(r.buf + (pos - r.base), n);
            pos += i;
            if (n - i < 4) { /* no magic in the buffer */
                if (r.base + r.have >= r.end)
                    break;
                if (refill(&r, pos, 0, err, errlen) != 0)
                    goto done;
                continue;
            }
        }

        size_t avail = (size_t)(r.base + r.have - pos);
        const uint8_t *at = r.buf + (pos - r.base);
        const uint8_t *payload;
        uint32_t len;
        size_t frame_len;
        gm_frame_status_t fs = gm_frame_decode(at, avail, max_payload, &payload, &len, &frame_len);
        if (fs == GM_FRAME_INCOMPLETE) {
            /* The length is known (and within max_payload) from 8 bytes on. */
            uint64_t need = avail >= 8 ? GM_FRAME_HEADER + ((uint64_t)at[4] | (uint64_t)at[5] << 8 |
                                                            (uint64_t)at[6] << 16 | (uint64_t)at[7] << 24)
                                       : GM_FRAME_HEADER;
            if (need <= r.end - pos) {
                if (refill(&r, pos, (size_t)need, err, errlen) != 0)
                    goto done;
                continue;
            }
            /* It cannot complete within the range: as bad as a corrupt one. */
        } else if (fs == GM_FRAME_OK) {
            uint64_t next = pos + frame_len;
            int c = cb != NULL ? cb(ctx, pos, next, payload, len) : 0;
            /* An abort leaves out at the progress before this frame, which
             * was not consumed; err is untouched, the reason is the
             * callback's own. */
            if (c < 0)
                goto done;
            if (resync) {
                s.corrupt++;
                s.corrupt_bytes += pos - s.valid_end;
                resync = false;
            }
            s.records++;
            pos = s.valid_end = next;
            if (c > 0) {
                stopped = true;
                break;
            }
            continue;
        }
        resync = true;
        pos++;
    }
    /* Without a stop, everything from the last valid frame to the end of
     * the range is either nothing (a clean end) or the torn tail. */
    s.torn_bytes = stopped ? 0 : r.end - s.valid_end;
    rc = 0;

done:
    s.file_size = r.size;
    if (out != NULL)
        *out = s;
    free(r.buf);
    return rc;
}
