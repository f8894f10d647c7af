/* gm_segment: scans over real files in a temporary directory: every frame
 * delivered across buffer refills and growth, a torn tail cut at every byte
 * of the last frame, damage in the middle skipped and counted, the range
 * and the callback's verdicts respected, and the file never changed. */
/* nftw() */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/frame.h"
#include "gm/segment.h"

#define MIB (1u << 20)
#define MAX_FRAMES 1024

static char tmpdir[64];
static char path[128];

static int remove_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void setup(void)
{
    strcpy(tmpdir, "/tmp/gm-test-segment-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof(path), "%s/seg", tmpdir);
}

static void teardown(void)
{
    if (tmpdir[0] != '\0')
        nftw(tmpdir, remove_cb, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(segment, .init = setup, .fini = teardown, .timeout = 60);

/* ---- building files ---- */

/* The payload of frame i: recognisable, and different for every frame. */
static void fill(uint8_t *p, uint32_t len, size_t i)
{
    for (uint32_t j = 0; j < len; j++)
        p[j] = (uint8_t)(i * 131 + j * 7 + (j >> 9));
}

/* A file image in memory: frames of the given sizes back to back.
 * off[i] is where frame i starts, off[n] the end. */
typedef struct {
    uint8_t *data;
    size_t size;
    size_t n;
    uint64_t off[MAX_FRAMES + 1];
} image_t;

static void image_build(image_t *im, const uint32_t *sizes, size_t n)
{
    cr_assert_leq(n, MAX_FRAMES);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += GM_FRAME_HEADER + sizes[i];
    im->data = malloc(total ? total : 1);
    cr_assert_not_null(im->data);
    im->n = n;
    im->size = 0;
    for (size_t i = 0; i < n; i++) {
        im->off[i] = im->size;
        uint8_t *f = im->data + im->size;
        fill(f + GM_FRAME_HEADER, sizes[i], i);
        gm_frame_header(f, f + GM_FRAME_HEADER, sizes[i]);
        im->size += GM_FRAME_HEADER + sizes[i];
    }
    im->off[n] = im->size;
}

static void write_bytes(const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    const uint8_t *p = data;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, p + done, len - done);
        cr_assert_gt(w, 0, "write: %s", strerror(errno));
        done += (size_t)w;
    }
    cr_assert_eq(close(fd), 0);
}

static uint8_t *read_back(size_t *len)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    uint8_t *p = malloc((size_t)st.st_size + 1);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(read(fd, p, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

/* ---- scanning ---- */

typedef struct {
    size_t n;
    uint64_t off[MAX_FRAMES], next[MAX_FRAMES];
    uint32_t len[MAX_FRAMES], crc[MAX_FRAMES];
    size_t stop_at, abort_at; /* 1-based call number; 0 = never */
} seen_t;

static int collect_cb(void *ctx, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    seen_t *s = ctx;
    cr_assert_lt(s->n, MAX_FRAMES);
    cr_assert_eq(next, offset + GM_FRAME_HEADER + len);
    s->off[s->n] = offset;
    s->next[s->n] = next;
    s->len[s->n] = len;
    s->crc[s->n] = gm_crc32c(0, payload, len);
    s->n++;
    if (s->n == s->abort_at)
        return -1;
    if (s->n == s->stop_at)
        return 1;
    return 0;
}

static int scan(uint64_t from, uint64_t limit, uint32_t max_payload, seen_t *seen, gm_segment_scan_t *out)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    char err[256] = "";
    memset(out, 0xA5, sizeof(*out));
    int rc = gm_segment_scan(fd, from, limit, max_payload, collect_cb, seen, out, err, sizeof(err));
    cr_assert_eq(rc, 0, "scan failed: %s", err);
    close(fd);
    return rc;
}

/* Frame i of the image was delivered as record k, with its payload intact. */
static void expect_record(const image_t *im, const seen_t *s, size_t k, size_t i)
{
    cr_assert_lt(k, s->n);
    uint32_t len = (uint32_t)(im->off[i + 1] - im->off[i] - GM_FRAME_HEADER);
    cr_assert_eq(s->off[k], im->off[i], "record %zu: offset %llu, want frame %zu at %llu", k,
                 (unsigned long long)s->off[k], i, (unsigned long long)im->off[i]);
    cr_assert_eq(s->next[k], im->off[i + 1]);
    cr_assert_eq(s->len[k], len);
    cr_assert_eq(s->crc[k], gm_crc32c(0, im->data + im->off[i] + GM_FRAME_HEADER, len), "record %zu payload", k);
}

static void expect_all(const image_t *im, const seen_t *s, size_t first, size_t count)
{
    cr_assert_eq(s->n, count, "records delivered: %zu, want %zu", s->n, count);
    for (size_t k = 0; k < count; k++)
        expect_record(im, s, k, first + k);
}

static void expect_stats(const gm_segment_scan_t *o, uint64_t records, uint64_t corrupt, uint64_t corrupt_bytes,
                         uint64_t valid_end, uint64_t file_size, uint64_t torn)
{
    cr_assert_eq(o->records, records, "records %llu, want %llu", (unsigned long long)o->records,
                 (unsigned long long)records);
    cr_assert_eq(o->corrupt, corrupt, "corrupt %llu, want %llu", (unsigned long long)o->corrupt,
                 (unsigned long long)corrupt);
    cr_assert_eq(o->corrupt_bytes, corrupt_bytes, "corrupt_bytes %llu, want %llu", (unsigned long long)o->corrupt_bytes,
                 (unsigned long long)corrupt_bytes);
    cr_assert_eq(o->valid_end, valid_end, "valid_end %llu, want %llu", (unsigned long long)o->valid_end,
                 (unsigned long long)valid_end);
    cr_assert_eq(o->file_size, file_size, "file_size %llu, want %llu", (unsigned long long)o->file_size,
                 (unsigned long long)file_size);
    cr_assert_eq(o->torn_bytes, torn, "torn_bytes %llu, want %llu", (unsigned long long)o->torn_bytes,
                 (unsigned long long)torn);
}

/* ---- whole files ---- */

Test(segment, empty_file)
{
    write_bytes("", 0);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 1024, &s, &o);
    expect_stats(&o, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(s.n, 0);
}

Test(segment, every_frame_across_refills_and_growth)
{
    /* Sizes around the header, the 1 MiB first buffer (exactly filling it,
     * one byte over), a 2 MiB frame that forces growth, and runs of frames
     * that straddle refill boundaries. */
    static const uint32_t sizes[] = {0, 1,      11,     12,     13,     1000, 65536, MIB - 12, MIB - 11,    3, 2 * MIB,
                                     5, 300007, 300007, 300007, 300007, MIB,  0,     77777,    2 * MIB + 1, 9};
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    image_t im;
    image_build(&im, sizes, n);
    write_bytes(im.data, im.size);

    seen_t *s = calloc(1, sizeof(*s));
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 4 * MIB, s, &o);
    expect_all(&im, s, 0, n);
    expect_stats(&o, n, 0, 0, im.size, im.size, 0);
    free(s);
    free(im.data);
}

Test(segment, many_frames_slide_the_buffer)
{
    /* About 8 MiB of frames of an odd size: many refills, each moving a
     * partial frame to the front. */
    static uint32_t sizes[800];
    for (size_t i = 0; i < 800; i++)
        sizes[i] = 10007 + (uint32_t)(i % 13);
    image_t im;
    image_build(&im, sizes, 800);
    write_bytes(im.data, im.size);

    seen_t *s = calloc(1, sizeof(*s));
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 20000, s, &o);
    expect_all(&im, s, 0, 800);
    expect_stats(&o, 800, 0, 0, im.size, im.size, 0);
    free(s);
    free(im.data);
}

Test(segment, null_callback_only_counts)
{
    static const uint32_t sizes[] = {10, 20, 30};
    image_t im;
    image_build(&im, sizes, 3);
    write_bytes(im.data, im.size);
    int fd = open(path, O_RDONLY);
    char err[128] = "";
    gm_segment_scan_t o;
    cr_assert_eq(gm_segment_scan(fd, 0, UINT64_MAX, 100, NULL, NULL, &o, err, sizeof(err)), 0, "%s", err);
    close(fd);
    expect_stats(&o, 3, 0, 0, im.size, im.size, 0);
    free(im.data);
}

/* ---- torn tails ---- */

Test(segment, torn_tail_at_every_byte_of_the_last_frame)
{
    static const uint32_t sizes[] = {0, 100, 4000, 17, 300};
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    image_t im;
    image_build(&im, sizes, n);
    uint64_t start = im.off[n - 1];

    for (uint64_t cut = start; cut < im.size; cut++) {
        write_bytes(im.data, (size_t)cut);
        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 8192, &s, &o);
        expect_all(&im, &s, 0, n - 1);
        expect_stats(&o, n - 1, 0, 0, start, cut, cut - start);

        /* The scan reports the tail; cutting it is the owner's business. */
        size_t len;
        uint8_t *back = read_back(&len);
        cr_assert_eq(len, cut);
        cr_assert(memcmp(back, im.data, len) == 0, "file changed at cut %llu", (unsigned long long)cut);
        free(back);
    }
    free(im.data);
}

Test(segment, torn_tail_of_a_frame_bigger_than_the_buffer)
{
    static const uint32_t sizes[] = {100, 3 * MIB};
    image_t im;
    image_build(&im, sizes, 2);
    static const uint64_t cuts[] = {112 + 4, 112 + 8, 112 + 12, 112 + MIB, 112 + 3 * MIB};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        write_bytes(im.data, (size_t)cuts[k]);
        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 4 * MIB, &s, &o);
        expect_all(&im, &s, 0, 1);
        expect_stats(&o, 1, 0, 0, 112, cuts[k], cuts[k] - 112);
    }
    free(im.data);
}

Test(segment, crc_mismatch_in_the_last_frame_is_a_torn_tail)
{
    static const uint32_t sizes[] = {50, 60, 70};
    image_t im;
    image_build(&im, sizes, 3);
    /* In the payload, in the CRC, in the length (downward). */
    static const size_t at[] = {GM_FRAME_HEADER + 69, GM_FRAME_HEADER + 0, 8, 4};
    for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        im.data[im.off[2] + at[k]] ^= 0x01;
        write_bytes(im.data, im.size);
        im.data[im.off[2] + at[k]] ^= 0x01;
        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 1024, &s, &o);
        expect_all(&im, &s, 0, 2);
        expect_stats(&o, 2, 0, 0, im.off[2], im.size, im.size - im.off[2]);
    }
    free(im.data);
}

Test(segment, garbage_after_valid_frames_is_a_torn_tail)
{
    static const uint32_t sizes[] = {10, 20, 30};
    image_t im;
    image_build(&im, sizes, 3);
    uint8_t *buf = malloc(im.size + 5000);
    memcpy(buf, im.data, im.size);

    /* Zeros (a preallocated or sparse end), random bytes, and bytes that
     * hold magics with bogus lengths and CRCs. */
    for (int kind = 0; kind < 3; kind++) {
        static const size_t lens[] = {1, 3, 4, 11, 12, 13, 5000};
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            size_t g = lens[l];
            for (size_t i = 0; i < g; i++)
                buf[im.size + i] = kind == 0 ? 0 : (uint8_t)(i * 2654435761u >> 13);
            if (kind == 2)
                for (size_t i = 0; i + 12 <= g; i += 37) {
                    static const uint8_t fake[12] = {'G', 'M', 'S', '1', 8, 0, 0, 0, 1, 2, 3, 4};
                    memcpy(buf + im.size + i, fake, 12);
                }
            write_bytes(buf, im.size + g);
            seen_t s = {0};
            gm_segment_scan_t o;
            scan(0, UINT64_MAX, 1024, &s, &o);
            expect_all(&im, &s, 0, 3);
            expect_stats(&o, 3, 0, 0, im.size, im.size + g, g);
        }
    }
    free(buf);
    free(im.data);
}

/* ---- damage in the middle ---- */

Test(segment, corrupt_frame_in_the_middle_is_skipped_and_counted)
{
    static const uint32_t sizes[] = {40, 50, 60, 70, 80, 90};
    image_t im;
    image_build(&im, sizes, 6);
    /* Payload, CRC, magic, length down, length up (to past the end of the
     * file, yet under max_payload), length over max_payload. */
    static const struct {
        size_t at;
        uint8_t x;
    } damage[] = {{GM_FRAME_HEADER + 10, 0x10}, {9, 0x01}, {0, 0x20}, {4, 0x04}, {6, 0x01}, {7, 0x80}};
    for (size_t k = 0; k < sizeof(damage) / sizeof(damage[0]); k++) {
        im.data[im.off[2] + damage[k].at] ^= damage[k].x;
        write_bytes(im.data, im.size);
        im.data[im.off[2] + damage[k].at] ^= damage[k].x;

        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 1 * MIB, &s, &o);
        cr_assert_eq(s.n, 5, "damage %zu: %zu records", k, s.n);
        expect_record(&im, &s, 0, 0);
        expect_record(&im, &s, 1, 1);
        expect_record(&im, &s, 2, 3);
        expect_record(&im, &s, 3, 4);
        expect_record(&im, &s, 4, 5);
        expect_stats(&o, 5, 1, im.off[3] - im.off[2], im.size, im.size, 0);
    }
    free(im.data);
}

Test(segment, adjacent_corrupt_frames_are_one_region)
{
    static const uint32_t sizes[] = {40, 50, 60, 70};
    image_t im;
    image_build(&im, sizes, 4);
    im.data[im.off[1] + 20] ^= 1;
    im.data[im.off[2] + 20] ^= 1;
    write_bytes(im.data, im.size);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 1024, &s, &o);
    cr_assert_eq(s.n, 2);
    expect_record(&im, &s, 0, 0);
    expect_record(&im, &s, 1, 3);
    expect_stats(&o, 2, 1, im.off[3] - im.off[1], im.size, im.size, 0);
    free(im.data);
}

Test(segment, two_damaged_regions_are_counted_apart)
{
    static const uint32_t sizes[] = {40, 50, 60, 70, 80};
    image_t im;
    image_build(&im, sizes, 5);
    im.data[im.off[0] + 20] ^= 1;
    im.data[im.off[2] + 20] ^= 1;
    write_bytes(im.data, im.size);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 1024, &s, &o);
    cr_assert_eq(s.n, 3);
    expect_record(&im, &s, 0, 1);
    expect_record(&im, &s, 1, 3);
    expect_record(&im, &s, 2, 4);
    expect_stats(&o, 3, 2, (im.off[1] - im.off[0]) + (im.off[3] - im.off[2]), im.size, im.size, 0);
    free(im.data);
}

Test(segment, a_few_stray_bytes_between_frames)
{
    /* The search starts one byte after the bad frame, so it finds a frame
     * right behind a single stray byte. */
    static const uint32_t sizes[] = {30, 40, 50};
    image_t im;
    image_build(&im, sizes, 3);
    for (size_t gap = 1; gap <= 13; gap++) {
        uint8_t *buf = malloc(im.size + gap);
        memcpy(buf, im.data, im.off[1]);
        memset(buf + im.off[1], 'G', gap); /* the magic's first byte, to tempt an off-by-one */
        memcpy(buf + im.off[1] + gap, im.data + im.off[1], im.size - im.off[1]);
        write_bytes(buf, im.size + gap);

        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 1024, &s, &o);
        cr_assert_eq(s.n, 3, "gap %zu: %zu records", gap, s.n);
        cr_assert_eq(s.off[1], im.off[1] + gap);
        cr_assert_eq(s.off[2], im.off[2] + gap);
        expect_stats(&o, 3, 1, gap, im.size + gap, im.size + gap, 0);
        free(buf);
    }
    free(im.data);
}

Test(segment, search_looks_past_a_fake_header_that_runs_off_the_end)
{
    /* Garbage between two valid frames, holding a magic whose length points
     * past the end of the file: not the end of the search. */
    static const uint32_t sizes[] = {30, 40};
    image_t im;
    image_build(&im, sizes, 2);
    size_t gap = 100;
    uint8_t *buf = calloc(1, im.size + gap);
    memcpy(buf, im.data, im.off[1]);
    memset(buf + im.off[1], 0x5A, gap);
    static const uint8_t fake[8] = {'G', 'M', 'S', '1', 0x00, 0x10, 0x00, 0x00}; /* 4096 bytes */
    memcpy(buf + im.off[1] + 20, fake, sizeof(fake));
    memcpy(buf + im.off[1] + gap, im.data + im.off[1], im.size - im.off[1]);
    write_bytes(buf, im.size + gap);

    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 8192, &s, &o);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.off[1], im.off[1] + gap);
    cr_assert_eq(s.crc[1], gm_crc32c(0, im.data + im.off[1] + GM_FRAME_HEADER, 40));
    expect_stats(&o, 2, 1, gap, im.size + gap, im.size + gap, 0);
    free(buf);
    free(im.data);
}

Test(segment, search_finds_a_magic_split_by_a_refill)
{
    /* Garbage from 112 up to a valid frame placed around the 1 MiB mark,
     * where the first read ends: its magic may be cut in two by the buffer. */
    static const uint32_t sizes[] = {100, 50};
    image_t im;
    image_build(&im, sizes, 2);
    for (uint64_t start = MIB - 5; start <= MIB + 1; start++) {
        size_t size = (size_t)start + (size_t)(im.size - im.off[1]);
        uint8_t *buf = malloc(size);
        memcpy(buf, im.data, im.off[1]);
        memset(buf + im.off[1], 0xEE, (size_t)(start - im.off[1]));
        memcpy(buf + start, im.data + im.off[1], im.size - im.off[1]);
        write_bytes(buf, size);

        seen_t s = {0};
        gm_segment_scan_t o;
        scan(0, UINT64_MAX, 1024, &s, &o);
        cr_assert_eq(s.n, 2, "frame at %llu: %zu records", (unsigned long long)start, s.n);
        cr_assert_eq(s.off[1], start);
        expect_stats(&o, 2, 1, start - im.off[1], size, size, 0);
        free(buf);
    }
    free(im.data);
}

Test(segment, corrupt_region_bigger_than_the_buffer)
{
    /* A 1.5 MiB frame with a bad CRC: the search for the next frame runs
     * through more than one buffer's worth. */
    static const uint32_t sizes[] = {100, 3 * MIB / 2, 200, 300};
    image_t im;
    image_build(&im, sizes, 4);
    im.data[im.off[1] + GM_FRAME_HEADER + MIB] ^= 0x40;
    write_bytes(im.data, im.size);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 2 * MIB, &s, &o);
    cr_assert_eq(s.n, 3);
    expect_record(&im, &s, 0, 0);
    expect_record(&im, &s, 1, 2);
    expect_record(&im, &s, 2, 3);
    expect_stats(&o, 3, 1, im.off[2] - im.off[1], im.size, im.size, 0);
    free(im.data);
}

Test(segment, frame_over_max_payload_is_damage)
{
    static const uint32_t sizes[] = {10, 600, 20};
    image_t im;
    image_build(&im, sizes, 3);
    write_bytes(im.data, im.size);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 500, &s, &o);
    cr_assert_eq(s.n, 2);
    expect_record(&im, &s, 0, 0);
    expect_record(&im, &s, 1, 2);
    expect_stats(&o, 2, 1, im.off[2] - im.off[1], im.size, im.size, 0);
    free(im.data);
}

/* ---- the range ---- */

Test(segment, from_and_limit_are_respected)
{
    static const uint32_t sizes[] = {100, 200, MIB + 3, 300, 400, 500, 2 * MIB, 600};
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    image_t im;
    image_build(&im, sizes, n);
    write_bytes(im.data, im.size);

    for (size_t a = 0; a < n; a++) {
        for (size_t b = a; b <= n; b++) {
            seen_t s = {0};
            gm_segment_scan_t o;
            scan(im.off[a], im.off[b], 4 * MIB, &s, &o);
            expect_all(&im, &s, a, b - a);
            expect_stats(&o, b - a, 0, 0, im.off[b], im.size, 0);
        }
    }

    /* A limit past the end is the end. */
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(im.off[3], im.size + 1000, 4 * MIB, &s, &o);
    expect_all(&im, &s, 3, n - 3);
    expect_stats(&o, n - 3, 0, 0, im.size, im.size, 0);

    /* A limit inside a frame: that frame is the (range's) torn tail, and
     * nothing past the limit is looked at. */
    seen_t s2 = {0};
    scan(im.off[1], im.off[4] + 50, 4 * MIB, &s2, &o);
    expect_all(&im, &s2, 1, 3);
    expect_stats(&o, 3, 0, 0, im.off[4], im.size, 50);
    free(im.data);
}

Test(segment, from_at_the_end_and_past_it)
{
    static const uint32_t sizes[] = {10, 20};
    image_t im;
    image_build(&im, sizes, 2);
    write_bytes(im.data, im.size);

    seen_t s = {0};
    gm_segment_scan_t o;
    scan(im.size, UINT64_MAX, 100, &s, &o);
    expect_stats(&o, 0, 0, 0, im.size, im.size, 0);
    cr_assert_eq(s.n, 0);

    /* Past the end: a checkpoint that its file does not reach is an error. */
    int fd = open(path, O_RDONLY);
    char err[256] = "";
    cr_assert_eq(gm_segment_scan(fd, im.size + 1, UINT64_MAX, 100, collect_cb, &s, &o, err, sizeof(err)), -1);
    cr_assert_neq(err[0], '\0');
    cr_log_info("from past the end: %s", err);
    cr_assert_eq(gm_segment_scan(fd, im.off[1], im.off[1] - 1, 100, collect_cb, &s, &o, err, sizeof(err)), -1);
    close(fd);
    cr_assert_eq(s.n, 0);
    free(im.data);
}

Test(segment, from_in_the_middle_of_a_frame_resynchronises)
{
    static const uint32_t sizes[] = {100, 200, 300};
    image_t im;
    image_build(&im, sizes, 3);
    write_bytes(im.data, im.size);
    seen_t s = {0};
    gm_segment_scan_t o;
    scan(im.off[0] + 7, UINT64_MAX, 1024, &s, &o);
    expect_all(&im, &s, 1, 2);
    expect_stats(&o, 2, 1, im.off[1] - 7, im.size, im.size, 0);
    free(im.data);
}

/* ---- the callback ---- */

Test(segment, callback_stop)
{
    static const uint32_t sizes[] = {10, 20, 30, 40, 50};
    image_t im;
    image_build(&im, sizes, 5);
    write_bytes(im.data, im.size);
    seen_t s = {.stop_at = 3};
    gm_segment_scan_t o;
    scan(0, UINT64_MAX, 100, &s, &o);
    expect_all(&im, &s, 0, 3);
    /* The stopping frame counts and is consumed; nothing after it is judged. */
    expect_stats(&o, 3, 0, 0, im.off[3], im.size, 0);

    /* Resuming from there delivers the rest. */
    seen_t s2 = {0};
    scan(o.valid_end, UINT64_MAX, 100, &s2, &o);
    expect_all(&im, &s2, 3, 2);
    free(im.data);
}

Test(segment, callback_abort)
{
    static const uint32_t sizes[] = {10, 20, 30, 40, 50};
    image_t im;
    image_build(&im, sizes, 5);
    write_bytes(im.data, im.size);
    int fd = open(path, O_RDONLY);
    seen_t s = {.abort_at = 2};
    gm_segment_scan_t o;
    char err[64] = "untouched";
    cr_assert_eq(gm_segment_scan(fd, 0, UINT64_MAX, 100, collect_cb, &s, &o, err, sizeof(err)), -1);
    close(fd);
    cr_assert_str_eq(err, "untouched");
    cr_assert_eq(s.n, 2, "no call after the abort");
    /* out holds the progress before the frame that was not consumed. */
    cr_assert_eq(o.records, 1);
    cr_assert_eq(o.valid_end, im.off[1]);
    cr_assert_eq(o.file_size, im.size);
    free(im.data);
}

/* ---- errors ---- */

Test(segment, read_error_is_reported)
{
    static const uint32_t sizes[] = {10};
    image_t im;
    image_build(&im, sizes, 1);
    write_bytes(im.data, im.size);
    int fd = open(path, O_WRONLY); /* fstat works, pread fails with EBADF */
    cr_assert_geq(fd, 0);
    seen_t s = {0};
    gm_segment_scan_t o;
    char err[256] = "";
    cr_assert_eq(gm_segment_scan(fd, 0, UINT64_MAX, 100, collect_cb, &s, &o, err, sizeof(err)), -1);
    close(fd);
    cr_assert_neq(err[0], '\0');
    cr_assert_not_null(strstr(err, strerror(EBADF)), "err: %s", err);
    cr_assert_eq(s.n, 0);

    err[0] = '\0';
    cr_assert_eq(gm_segment_scan(-1, 0, UINT64_MAX, 100, collect_cb, &s, &o, err, sizeof(err)), -1);
    cr_assert_neq(err[0], '\0');
    free(im.data);
}
