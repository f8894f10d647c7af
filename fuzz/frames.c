/* Any bytes in a spool segment (a torn tail, a bad disk): frames and
 * entries decode or are refused, and a scan always ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gm/frame.h"
#include "gm/segment.h"

static int on_frame(void *ctx, uint64_t offset, uint64_t next, const uint8_t *payload, uint32_t len)
{
    (void)ctx, (void)offset, (void)next;
    gm_spool_entry_t e;
    (void)gm_spool_entry_decode(payload, len, &e);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p;
    uint32_t len;
    size_t flen;
    (void)gm_frame_decode(data, size, 1u << 20, &p, &len, &flen);
    gm_spool_entry_t e;
    (void)gm_spool_entry_decode(data, size, &e);

    FILE *f = tmpfile();
    if (f == NULL)
        return 0;
    if (fwrite(data, 1, size, f) == size && fflush(f) == 0) {
        gm_segment_scan_t scan;
        char err[128];
        (void)gm_segment_scan(fileno(f), 0, UINT64_MAX, 1u << 16, on_frame, NULL, &scan, err, sizeof(err));
    }
    fclose(f);
    return 0;
}
