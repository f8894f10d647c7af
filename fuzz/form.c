/* Any application/x-www-form-urlencoded body. */
#include <stdint.h>
#include <stdlib.h>

#include "gm/processor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    free(gm_form_payload((const char *)data, size, &len));
    return 0;
}
