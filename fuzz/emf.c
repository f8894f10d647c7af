/* Any line in the outbox: turned into datums and requests, or refused. */
#include <stdint.h>
#include <stdlib.h>

#include "gm/cwbatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gm_cw_t *cw = gm_cw_new("GitHubActions");
    size_t rejected = 0, datums, values;
    char reason[160];
    (void)gm_cw_add(cw, (const char *)data, size, 1795910400000LL, &rejected, reason, sizeof(reason));
    char *body;
    while ((body = gm_cw_take_request(cw, &datums, &values)) != NULL) {
        char *a = NULL, *b = NULL;
        if (gm_cw_split_request(body, &a, &b) == 0) {
            free(a);
            free(b);
        }
        free(body);
    }
    gm_cw_free(cw);
    return 0;
}
