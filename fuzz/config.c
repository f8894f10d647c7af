/* Any configuration text: refused with a message, or loaded and freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gm/alloc.h"
#include "gm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = gm_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char err[GM_CONFIG_ERR_MAX];
    gm_config_t *cfg = gm_config_parse("fuzz.yaml", text, size, err, sizeof(err));
    gm_config_free(cfg);
    free(text);
    return 0;
}
