/* gm_frame: the on-disk framing shared by spool segments and the ledger log,
 * and the encoding of one spooled delivery.
 *
 * A frame is  magic u32 | length u32 | crc32c u32 | payload[length]  (all
 * little-endian), the CRC covering the length field and the payload. A torn
 * write (crash mid-append) leaves an incomplete frame or a CRC mismatch at
 * the end of a file; either is detected, never mistaken for data.
 *
 * Pure: no I/O, reentrant. */
#ifndef GM_FRAME_H
#define GM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_FRAME_MAGIC 0x31534D47u /* "GMS1" on disk */
#define GM_FRAME_HEADER 12u

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2.
 * Chain calls by passing the previous result; start with 0. */
uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len);

/* Fills the 12-byte header for a payload. */
void gm_frame_header(uint8_t hdr[GM_FRAME_HEADER], const void *payload, uint32_t len);

typedef enum {
    GM_FRAME_OK = 0,     /* *payload, *len and *frame_len are set */
    GM_FRAME_INCOMPLETE, /* fewer bytes than the header or the stated length: a torn tail, or read more */
    GM_FRAME_CORRUPT,    /* bad magic, length over max_payload, or CRC mismatch */
} gm_frame_status_t;

/* Decodes the frame at buf (avail bytes available). Fewer than 4 bytes is
 * always INCOMPLETE. The outputs are set only on GM_FRAME_OK. */
gm_frame_status_t gm_frame_decode(const uint8_t *buf, size_t avail, uint32_t max_payload, const uint8_t **payload,
                                  uint32_t *len, size_t *frame_len);

/* One spooled delivery: what the handler verified, as it arrived. */
typedef struct {
    int64_t received_at_ms; /* wall clock at receipt */
    bool form_encoded;      /* body is application/x-www-form-urlencoded */
    bool no_record;         /* the receiver found an action that makes no record (not "completed"):
                               processing need not parse the body again */
    const char *event;      /* X-GitHub-Event; not NUL-terminated when decoded */
    uint8_t event_len;
    const char *delivery;   /* X-GitHub-Delivery */
    uint8_t delivery_len;
    const void *body;       /* the raw, signed body */
    uint32_t body_len;
} gm_spool_entry_t;

/* Payload size of an entry, and its encoding into out (that many bytes).
 * The caller keeps the size within the reader's max_payload. */
size_t gm_spool_entry_size(const gm_spool_entry_t *e);
void gm_spool_entry_encode(const gm_spool_entry_t *e, uint8_t *out);
/* Decodes a payload; the entry borrows from p. Returns 0, or -1 when the
 * payload is not a valid entry (unknown version or flag bits, lengths that
 * do not add up exactly). */
int gm_spool_entry_decode(const uint8_t *p, size_t len, gm_spool_entry_t *out);

#endif
