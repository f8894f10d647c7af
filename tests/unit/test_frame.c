/* gm_frame: CRC-32C vectors and paths, the frame format and its failure
 * verdicts (every bit flip, every truncation), and the spool entry
 * encoding. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gm/frame.h"

/* The table-driven path, exported by frame.c for this test only. */
extern uint32_t gm_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* xorshift64*: reproducible "random" data, the same on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Header then payload, in a buffer of exactly the frame's size (so that
 * ASan catches a read past it). */
static uint8_t *make_frame(const void *payload, uint32_t len, size_t *size)
{
    uint8_t *f = malloc(GM_FRAME_HEADER + len);
    cr_assert_not_null(f);
    gm_frame_header(f, payload, len);
    if (len > 0)
        memcpy(f + GM_FRAME_HEADER, payload, len);
    *size = GM_FRAME_HEADER + len;
    return f;
}

/* ---- CRC-32C ---- */

static void check_vector(const void *buf, size_t len, uint32_t want)
{
    cr_assert_eq(gm_crc32c(0, buf, len), want, "crc32c: %08x, want %08x", gm_crc32c(0, buf, len), want);
    cr_assert_eq(gm_crc32c_sw(0, buf, len), want, "crc32c_sw: %08x, want %08x", gm_crc32c_sw(0, buf, len), want);
}

Test(crc32c, known_vectors)
{
    uint8_t b[32];
    check_vector("123456789", 9, 0xE3069283u);
    check_vector("", 0, 0);
    check_vector(NULL, 0, 0);
    /* RFC 3720 (iSCSI), appendix B.4. */
    memset(b, 0, sizeof(b));
    check_vector(b, 32, 0x8A9136AAu);
    memset(b, 0xff, sizeof(b));
    check_vector(b, 32, 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    check_vector(b, 32, 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    check_vector(b, 32, 0x113FDB5Cu);
}

Test(crc32c, chaining_equals_one_pass)
{
    uint8_t b[300];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)rng();
    uint32_t whole = gm_crc32c(0, b, sizeof(b));
    cr_assert_eq(whole, gm_crc32c_sw(0, b, sizeof(b)));
    for (size_t cut = 0; cut <= sizeof(b); cut++) {
        cr_assert_eq(gm_crc32c(gm_crc32c(0, b, cut), b + cut, sizeof(b) - cut), whole, "cut at %zu", cut);
        cr_assert_eq(gm_crc32c_sw(gm_crc32c_sw(0, b, cut), b + cut, sizeof(b) - cut), whole, "sw cut at %zu", cut);
        /* The paths share one register format, so they chain into each other. */
        cr_assert_eq(gm_crc32c_sw(gm_crc32c(0, b, cut), b + cut, sizeof(b) - cut), whole, "mixed cut at %zu", cut);
    }
    uint32_t c = 0;
    for (size_t i = 0; i < sizeof(b); i++)
        c = gm_crc32c(c, b + i, 1);
    cr_assert_eq(c, whole);
}

Test(crc32c, hardware_and_software_agree)
{
    cr_log_info("SSE4.2 %s: gm_crc32c is the %s path", __builtin_cpu_supports("sse4.2") ? "present" : "absent",
                __builtin_cpu_supports("sse4.2") ? "hardware" : "software");
    enum { MAX = 5000, SLACK = 16 };
    uint8_t *b = malloc(MAX + SLACK);
    cr_assert_not_null(b);
    for (int iter = 0; iter < 3000; iter++) {
        /* Short lengths often, to hit every head/tail alignment case. */
        size_t len = iter % 3 == 0 ? (size_t)(rng() % 40) : (size_t)(rng() % (MAX + 1));
        size_t start = (size_t)(rng() % SLACK);
        uint32_t seed = iter % 2 ? (uint32_t)rng() : 0;
        for (size_t i = 0; i < len; i++)
            b[start + i] = (uint8_t)rng();
        uint32_t hw = gm_crc32c(seed, b + start, len), sw = gm_crc32c_sw(seed, b + start, len);
        cr_assert_eq(hw, sw, "len %zu start %zu seed %08x: %08x vs %08x", len, start, seed, hw, sw);
    }
    free(b);
}

/* ---- frames ---- */

Test(frame, header_layout_is_little_endian)
{
    uint8_t h[GM_FRAME_HEADER];
    gm_frame_header(h, "123456789", 9);
    static const uint8_t magic[4] = {'G', 'M', 'S', '1'};
    cr_assert_arr_eq(h, magic, 4);
    cr_assert_eq(le32(h), GM_FRAME_MAGIC);
    cr_assert_eq(h[4], 9);
    cr_assert_eq(h[5] | h[6] | h[7], 0);
    /* CRC over the 4 length bytes then the payload, computed independently. */
    static const uint8_t covered[13] = {9, 0, 0, 0, '1', '2', '3', '4', '5', '6', '7', '8', '9'};
    cr_assert_eq(le32(h + 8), gm_crc32c_sw(0, covered, sizeof(covered)));
}

Test(frame, round_trip)
{
    static const uint32_t sizes[] = {0, 1, 7, 8, 100, 4096, 70000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint32_t n = sizes[k];
        uint8_t *p = malloc(n + 1);
        for (uint32_t i = 0; i < n; i++)
            p[i] = (uint8_t)rng();
        size_t size;
        uint8_t *f = make_frame(p, n, &size);
        const uint8_t *payload = NULL;
        uint32_t len = 0;
        size_t frame_len = 0;
        cr_assert_eq(gm_frame_decode(f, size, n, &payload, &len, &frame_len), GM_FRAME_OK, "size %u", n);
        cr_assert_eq(payload, f + GM_FRAME_HEADER);
        cr_assert_eq(len, n);
        cr_assert_eq(frame_len, GM_FRAME_HEADER + n);
        cr_assert(n == 0 || memcmp(payload, p, n) == 0);

        /* Bytes after the frame (the next one) do not change the verdict. */
        uint8_t *g = malloc(size + 5);
        memcpy(g, f, size);
        memset(g + size, 0x47, 5);
        cr_assert_eq(gm_frame_decode(g, size + 5, UINT32_MAX, &payload, &len, &frame_len), GM_FRAME_OK);
        cr_assert_eq(frame_len, size);
        cr_assert_eq(len, n);
        free(g);
        free(f);
        free(p);
    }
}

Test(frame, length_over_max_payload_is_corrupt)
{
    uint8_t p[64] = {0};
    size_t size;
    uint8_t *f = make_frame(p, sizeof(p), &size);
    const uint8_t *payload;
    uint32_t len;
    size_t frame_len;
    cr_assert_eq(gm_frame_decode(f, size, 64, &payload, &len, &frame_len), GM_FRAME_OK);
    cr_assert_eq(gm_frame_decode(f, size, 63, &payload, &len, &frame_len), GM_FRAME_CORRUPT);
    /* ... as soon as the length is there, before the rest of the header. */
    for (size_t avail = 8; avail <= size; avail++)
        cr_assert_eq(gm_frame_decode(f, avail, 63, &payload, &len, &frame_len), GM_FRAME_CORRUPT, "avail %zu", avail);
    for (size_t avail = 0; avail < 8; avail++)
        cr_assert_eq(gm_frame_decode(f, avail, 63, &payload, &len, &frame_len), GM_FRAME_INCOMPLETE, "avail %zu",
                     avail);
    free(f);
}

Test(frame, bad_magic_is_corrupt_from_four_bytes)
{
    uint8_t p[16] = {1, 2, 3};
    size_t size;
    uint8_t *f = make_frame(p, sizeof(p), &size);
    f[3] ^= 0x01;
    const uint8_t *payload;
    uint32_t len;
    size_t frame_len;
    for (size_t avail = 0; avail < 4; avail++)
        cr_assert_eq(gm_frame_decode(f, avail, 1024, &payload, &len, &frame_len), GM_FRAME_INCOMPLETE);
    for (size_t avail = 4; avail <= size; avail++)
        cr_assert_eq(gm_frame_decode(f, avail, 1024, &payload, &len, &frame_len), GM_FRAME_CORRUPT, "avail %zu", avail);
    free(f);
}

/* Flips each bit of a frame in turn. A CRC catches any single-bit error;
 * the one other verdict is INCOMPLETE, when the flip raises the length past
 * the bytes there are (and not past max_payload). */
static void flip_every_bit(uint32_t max_payload)
{
    uint8_t p[20];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)rng();
    size_t size;
    uint8_t *f = make_frame(p, sizeof(p), &size);
    uint8_t *g = malloc(size);
    int incomplete = 0;
    for (size_t bit = 0; bit < size * 8; bit++) {
        memcpy(g, f, size);
        g[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        gm_frame_status_t want = GM_FRAME_CORRUPT;
        if (bit / 8 >= 4 && bit / 8 < 8) {
            uint32_t n = le32(g + 4);
            if (n > sizeof(p) && n <= max_payload)
                want = GM_FRAME_INCOMPLETE;
        }
        const uint8_t *payload;
        uint32_t len;
        size_t frame_len;
        gm_frame_status_t got = gm_frame_decode(g, size, max_payload, &payload, &len, &frame_len);
        cr_assert_eq(got, want, "bit %zu: status %d, want %d", bit, got, want);
        incomplete += got == GM_FRAME_INCOMPLETE;
    }
    cr_log_info("max_payload %u: %d of %zu flips INCOMPLETE", max_payload, incomplete, size * 8);
    free(g);
    free(f);
}

Test(frame, every_single_bit_flip_is_detected)
{
    flip_every_bit(1024);
    flip_every_bit(UINT32_MAX);
    flip_every_bit(20);
}

Test(frame, every_truncation_is_incomplete)
{
    static const uint32_t sizes[] = {0, 1, 5, 33, 300};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint8_t p[300];
        for (size_t i = 0; i < sizeof(p); i++)
            p[i] = (uint8_t)rng();
        size_t size;
        uint8_t *f = make_frame(p, sizes[k], &size);
        for (size_t avail = 0; avail < size; avail++) {
            /* A copy of exactly avail bytes: ASan proves nothing past it is read. */
            uint8_t *t = malloc(avail ? avail : 1);
            memcpy(t, f, avail);
            const uint8_t *payload;
            uint32_t len;
            size_t frame_len;
            cr_assert_eq(gm_frame_decode(t, avail, 1u << 20, &payload, &len, &frame_len), GM_FRAME_INCOMPLETE,
                         "payload %u, avail %zu", sizes[k], avail);
            free(t);
        }
        free(f);
    }
}

/* ---- spool entries ---- */

static void entry_round_trip(const gm_spool_entry_t *e)
{
    size_t n = gm_spool_entry_size(e);
    cr_assert_eq(n, 16u + e->event_len + e->delivery_len + e->body_len);
    uint8_t *buf = malloc(n);
    gm_spool_entry_encode(e, buf);

    gm_spool_entry_t d;
    memset(&d, 0xA5, sizeof(d));
    cr_assert_eq(gm_spool_entry_decode(buf, n, &d), 0);
    cr_assert_eq(d.received_at_ms, e->received_at_ms);
    cr_assert_eq(d.form_encoded, e->form_encoded);
    cr_assert_eq(d.no_record, e->no_record);
    cr_assert_eq(d.event_len, e->event_len);
    cr_assert_eq(d.delivery_len, e->delivery_len);
    cr_assert_eq(d.body_len, e->body_len);
    /* Borrowed from the buffer, in order, back to back. */
    cr_assert_eq((const uint8_t *)d.event, buf + 16);
    cr_assert_eq(d.delivery, d.event + d.event_len);
    cr_assert_eq((const char *)d.body, d.delivery + d.delivery_len);
    cr_assert_eq((const uint8_t *)d.body + d.body_len, buf + n);
    cr_assert(e->event_len == 0 || memcmp(d.event, e->event, e->event_len) == 0);
    cr_assert(e->delivery_len == 0 || memcmp(d.delivery, e->delivery, e->delivery_len) == 0);
    cr_assert(e->body_len == 0 || memcmp(d.body, e->body, e->body_len) == 0);
    free(buf);
}

Test(entry, layout_is_as_documented)
{
    gm_spool_entry_t e = {.received_at_ms = 0x0102030405060708,
                          .form_encoded = true,
                          .event = "ping",
                          .event_len = 4,
                          .delivery = "d-1",
                          .delivery_len = 3,
                          .body = "{}",
                          .body_len = 2};
    static const uint8_t want[] = {1,    1,    4,    3,   2,   0,   0,   0,   0x08, 0x07, 0x06, 0x05, 0x04,
                                   0x03, 0x02, 0x01, 'p', 'i', 'n', 'g', 'd', '-',  '1',  '{',  '}'};
    cr_assert_eq(gm_spool_entry_size(&e), sizeof(want));
    uint8_t got[sizeof(want)];
    gm_spool_entry_encode(&e, got);
    cr_assert_arr_eq(got, want, sizeof(want));
}

Test(entry, round_trip)
{
    static char big_body[70000];
    for (size_t i = 0; i < sizeof(big_body); i++)
        big_body[i] = (char)rng();
    char name[255];
    memset(name, 'x', sizeof(name));

    gm_spool_entry_t cases[] = {
        {.received_at_ms = 1700000000123,
         .event = "workflow_run",
         .event_len = 12,
         .delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
         .delivery_len = 36,
         .body = "{\"action\":\"completed\"}",
         .body_len = 23},
        {.received_at_ms = 0,
         .form_encoded = true,
         .event = "ping",
         .event_len = 4,
         .delivery = "x",
         .delivery_len = 1,
         .body = "payload=%7B%7D",
         .body_len = 14},
        {.received_at_ms = -1}, /* everything empty, NULL pointers included */
        {.received_at_ms = INT64_MIN, .event = name, .event_len = 255, .delivery = name, .delivery_len = 255},
        {.received_at_ms = INT64_MAX, .body = big_body, .body_len = sizeof(big_body)},
        {.received_at_ms = -1234567890123, .body = "\0\1\2", .body_len = 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        entry_round_trip(&cases[i]);
}

Test(entry, inside_a_frame)
{
    gm_spool_entry_t e = {.received_at_ms = 42,
                          .event = "workflow_job",
                          .event_len = 12,
                          .delivery = "abc",
                          .delivery_len = 3,
                          .body = "{\"a\":1}",
                          .body_len = 7};
    size_t n = gm_spool_entry_size(&e);
    uint8_t *f = malloc(GM_FRAME_HEADER + n);
    gm_spool_entry_encode(&e, f + GM_FRAME_HEADER);
    gm_frame_header(f, f + GM_FRAME_HEADER, (uint32_t)n);

    const uint8_t *payload;
    uint32_t len;
    size_t frame_len;
    cr_assert_eq(gm_frame_decode(f, GM_FRAME_HEADER + n, 1024, &payload, &len, &frame_len), GM_FRAME_OK);
    gm_spool_entry_t d;
    cr_assert_eq(gm_spool_entry_decode(payload, len, &d), 0);
    cr_assert_eq(d.received_at_ms, 42);
    cr_assert_eq(memcmp(d.event, "workflow_job", 12), 0);
    cr_assert_eq(memcmp(d.body, "{\"a\":1}", 7), 0);
    free(f);
}

/* A valid encoding to damage, in a buffer with room for one extra byte. */
static size_t valid_entry(uint8_t *buf)
{
    gm_spool_entry_t e = {.received_at_ms = 5,
                          .event = "push",
                          .event_len = 4,
                          .delivery = "id",
                          .delivery_len = 2,
                          .body = "{}",
                          .body_len = 2};
    gm_spool_entry_encode(&e, buf);
    return gm_spool_entry_size(&e);
}

static void expect_rejected(const uint8_t *buf, size_t len, const char *what)
{
    /* A copy of exactly len bytes, so that an overrun is ASan's to report. */
    uint8_t *t = malloc(len ? len : 1);
    memcpy(t, buf, len);
    gm_spool_entry_t d = {.received_at_ms = 99};
    cr_assert_eq(gm_spool_entry_decode(t, len, &d), -1, "accepted: %s", what);
    free(t);
}

Test(entry, decode_rejects_bad_versions)
{
    uint8_t buf[64];
    size_t n = valid_entry(buf);
    gm_spool_entry_t d;
    cr_assert_eq(gm_spool_entry_decode(buf, n, &d), 0);
    static const uint8_t versions[] = {0, 2, 3, 0x81, 0xff};
    for (size_t i = 0; i < sizeof(versions); i++) {
        buf[0] = versions[i];
        expect_rejected(buf, n, "version");
    }
}

Test(entry, decode_rejects_unknown_flags)
{
    uint8_t buf[64];
    size_t n = valid_entry(buf);
    for (int bit = 2; bit < 8; bit++) {
        buf[1] = (uint8_t)(1u << bit);
        expect_rejected(buf, n, "flag bit");
        buf[1] = (uint8_t)(1u << bit | 1u);
        expect_rejected(buf, n, "flag bit with form_encoded");
    }
    buf[1] = 1;
    gm_spool_entry_t d;
    cr_assert_eq(gm_spool_entry_decode(buf, n, &d), 0);
    cr_assert(d.form_encoded);
    cr_assert(!d.no_record);
    buf[1] = 3; /* both known flags */
    cr_assert_eq(gm_spool_entry_decode(buf, n, &d), 0);
    cr_assert(d.form_encoded);
    cr_assert(d.no_record);
}

Test(entry, decode_rejects_lengths_that_do_not_add_up)
{
    uint8_t buf[64];
    size_t n = valid_entry(buf);
    for (size_t len = 0; len < n; len++)
        expect_rejected(buf, len, "truncated");
    buf[n] = 0;
    expect_rejected(buf, n + 1, "trailing byte");

    static const struct {
        size_t at;
        uint8_t value;
    } edits[] = {
        {2, 5}, {2, 3}, {2, 0xff}, {3, 3},    {3, 1}, {3, 0xff}, /* event_len, delivery_len */
        {4, 3}, {4, 1}, {7, 0x80}, {4, 0xff},                    /* body_len */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        n = valid_entry(buf);
        buf[edits[i].at] = edits[i].value;
        expect_rejected(buf, n, "length field");
    }
    /* body_len at its maximum, where a 32-bit sum would wrap. */
    n = valid_entry(buf);
    buf[4] = buf[5] = buf[6] = buf[7] = 0xff;
    expect_rejected(buf, n, "body_len 0xffffffff");
}
