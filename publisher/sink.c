#include "gm/sink.h"

#include <stdio.h>

gm_sink_t *gm_sink_open(const gm_config_t *cfg, char *err, size_t errlen)
{
    switch (cfg->publish.sink) {
    case GM_SINK_EMF_FILE:
        return gm_sink_emf_file_open(cfg->publish.file, err, errlen);
    case GM_SINK_CLOUDWATCH:
    case GM_SINK_EMF_LOGS:
        break;
    }
    snprintf(err, errlen, "%s: publish.sink: this sink is not available in this build yet", cfg->path);
    return NULL;
}

void gm_sink_close(gm_sink_t *sink)
{
    if (sink == NULL)
        return;
    char err[256];
    if (sink->ops->flush != NULL)
        sink->ops->flush(sink, err, sizeof(err));
    sink->ops->destroy(sink);
}
