/* Any body a signed sender could post: validated, filtered, derived. */
#include <stdint.h>
#include <stdlib.h>

#include "gm/payload.h"
#include "gm/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[192];
    json_t *root = gm_payload_parse(data, size, reason, sizeof(reason));
    if (root == NULL)
        return 0;
    static const char *const events[] = {"workflow_run", "workflow_job", "ping"};
    for (size_t i = 0; i < 3; i++) {
        gm_record_t rec;
        gm_event_to_record(events[i], root, &rec, reason, sizeof(reason));
        gm_record_clear(&rec);
    }
    (void)gm_event_action(root);
    (void)gm_event_repository(root);
    json_decref(root);
    return 0;
}
