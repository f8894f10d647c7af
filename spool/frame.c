/* gm_frame: CRC-32C, frame headers and the spool entry encoding.
 *
 * CRC-32C rather than zlib's CRC-32 because x86-64 has an instruction for
 * it (SSE4.2): checking every frame on every read then costs next to
 * nothing. The instruction is reached through a target("sse4.2") function
 * chosen at run time, so the build needs no -msse4.2 and the same binary
 * still runs, on the table-driven path, on a CPU (or an architecture)
 * without it.
 *
 * Every multi-byte field is assembled byte by byte: the format is
 * little-endian whatever the host, and the buffers are not aligned. */
#include "gm/frame.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define GM_CRC32C_HW 1
#endif

#define CRC32C_POLY 0x82F63B78u /* Castagnoli, bit-reflected */

#define ENTRY_VERSION 1
#define ENTRY_HEADER 16 /* version, flags, event_len, delivery_len, body_len u32, received_at_ms i64 */
#define ENTRY_FORM_ENCODED 0x01u
#define ENTRY_NO_RECORD 0x02u
#define ENTRY_FLAGS (ENTRY_FORM_ENCODED | ENTRY_NO_RECORD)

/* The table-driven path, whatever the CPU. Not in the header: only the
 * tests call it, to check the two paths against each other. */
uint32_t gm_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Slicing-by-8: table[k][b] is the CRC register after byte b followed by k
 * zero bytes, so eight input bytes cost eight lookups and no loop. */
static uint32_t table[8][256];
static int have_sse42;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
#ifdef GM_CRC32C_HW
    /* Needed if the first CRC is taken before libgcc's own constructor has
     * run (from another constructor); harmless otherwise. */
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

/* The update steps work on the raw register: the ~ at either end is done
 * once, by the callers. */
static uint32_t sw_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
              table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
    }
    for (; n > 0; p++, n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p) & 0xff];
    return crc;
}

#ifdef GM_CRC32C_HW
__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t crc, const uint8_t *p, size_t n)
{
    /* Aligned 8-byte loads: an unaligned one is legal on x86 but slower
     * when it crosses a cache line. */
    for (; n > 0 && ((uintptr_t)p & 7) != 0; p++, n--)
        crc = _mm_crc32_u8(crc, *p);
    uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* x86 is little-endian: bytes in stream order */
        c = _mm_crc32_u64(c, w);
    }
    crc = (uint32_t)c;
    for (; n > 0; p++, n--)
        crc = _mm_crc32_u8(crc, *p);
    return crc;
}
#endif

uint32_t gm_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, crc32c_init);
    return ~sw_update(~crc, buf, len);
}

uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, crc32c_init);
#ifdef GM_CRC32C_HW
    if (have_sse42)
        return ~hw_update(~crc, buf, len);
#endif
    return ~sw_update(~crc, buf, len);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t frame_crc(const uint8_t len_le[4], const void *payload, uint32_t len)
{
    /* The CRC covers the length as well, so that a damaged length is
     * reported as corruption rather than sending the reader off by that
     * many bytes. */
    return gm_crc32c(gm_crc32c(0, len_le, 4), payload, len);
}

void gm_frame_header(uint8_t hdr[GM_FRAME_HEADER], const void *payload, uint32_t len)
{
    put32(hdr, GM_FRAME_MAGIC);
    put32(hdr + 4, len);
    put32(hdr + 8, frame_crc(hdr + 4, payload, len));
}

gm_frame_status_t gm_frame_decode(const uint8_t *buf, size_t avail, uint32_t max_payload, const uint8_t **payload,
                                  uint32_t *len, size_t *frame_len)
{
    /* Each field is judged as soon as its bytes are there, so that a
     * reader searching through garbage rejects a candidate at once instead
     * of reading up to a bogus length first. */
    if (avail < 4)
        return GM_FRAME_INCOMPLETE;
    if (get32(buf) != GM_FRAME_MAGIC)
        return GM_FRAME_CORRUPT;
    if (avail < 8)
        return GM_FRAME_INCOMPLETE;
    uint32_t n = get32(buf + 4);
    if (n > max_payload)
        return GM_FRAME_CORRUPT;
    if (avail < GM_FRAME_HEADER || avail - GM_FRAME_HEADER < n)
        return GM_FRAME_INCOMPLETE;
    if (frame_crc(buf + 4, buf + GM_FRAME_HEADER, n) != get32(buf + 8))
        return GM_FRAME_CORRUPT;
    *payload = buf + GM_FRAME_HEADER;
    *len = n;
    *frame_len = GM_FRAME_HEADER + (size_t)n;
    return GM_FRAME_OK;
}

size_t gm_spool_entry_size(const gm_spool_entry_t *e)
{
    return ENTRY_HEADER + (size_t)e->event_len + e->delivery_len + e->body_len;
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
    if (n > 0) /* src may be NULL when there is nothing to copy */
        memcpy(p, src, n);
    return p + n;
}

void gm_spool_entry_encode(const gm_spool_entry_t *e, uint8_t *out)
{
    uint64_t at = (uint64_t)e->received_at_ms; /* two's complement, by definition of the conversion */
    out[0] = ENTRY_VERSION;
    out[1] = (uint8_t)((e->form_encoded ? ENTRY_FORM_ENCODED : 0) | (e->no_record ? ENTRY_NO_RECORD : 0));
    out[2] = e->event_len;
    out[3] = e->delivery_len;
    put32(out + 4, e->body_len);
    put32(out + 8, (uint32_t)at);
    put32(out + 12, (uint32_t)(at >> 32));
    uint8_t *p = put_bytes(out + ENTRY_HEADER, e->event, e->event_len);
    p = put_bytes(p, e->delivery, e->delivery_len);
    put_bytes(p, e->body, e->body_len);
}

int gm_spool_entry_decode(const uint8_t *p, size_t len, gm_spool_entry_t *out)
{
    if (len < ENTRY_HEADER || p[0] != ENTRY_VERSION || (p[1] & ~ENTRY_FLAGS) != 0)
        return -1;
    uint32_t body_len = get32(p + 4);
    /* Exactly, not "at least": bytes left over would mean that the writer
     * and the reader disagree on the format, and guessing is worse. */
    if ((uint64_t)ENTRY_HEADER + p[2] + p[3] + body_len != (uint64_t)len)
        return -1;
    uint64_t at = (uint64_t)get32(p + 8) | (uint64_t)get32(p + 12) << 32;
    /* Back to signed without an implementation-defined conversion. */
    out->received_at_ms = at <= INT64_MAX ? (int64_t)at : -(int64_t)~at - 1;
    out->form_encoded = (p[1] & ENTRY_FORM_ENCODED) != 0;
    out->no_record = (p[1] & ENTRY_NO_RECORD) != 0;
    out->event_len = p[2];
    out->event = (const char *)p + ENTRY_HEADER;
    out->delivery_len = p[3];
    out->delivery = out->event + out->event_len;
    out->body_len = body_len;
    out->body = out->delivery + out->delivery_len;
    return 0;
}
