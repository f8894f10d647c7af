#include "gm/sink.h"

#include <stdio.h>
#include <stdlib.h>

#include "gm/alloc.h"
#include "gm/remote.h"

gm_sink_t *gm_sink_open(const gm_config_t *cfg, char *err, size_t errlen)
{
    switch (cfg->publish.sink) {
    case GM_SINK_EMF_FILE:
        return gm_sink_emf_file_open(cfg->publish.file, err, errlen);
    case GM_SINK_CLOUDWATCH:
    case GM_SINK_EMF_LOGS: {
        gm_remote_client_t *c = cfg->publish.sink == GM_SINK_CLOUDWATCH ? gm_cloudwatch_client_new(cfg, err, errlen)
                                                                        : gm_logs_client_new(cfg, err, errlen);
        if (c == NULL)
            return NULL;
        /* Beside the spool: the outbox is part of the same durable state. */
        char *dir = gm_asprintf("%s/publish-%s", cfg->spool.dir, c->name);
        gm_sink_t *s = gm_remote_sink_open(cfg, dir, c, err, errlen);
        free(dir);
        return s;
    }
    }
    snprintf(err, errlen, "%s: publish.sink: unknown sink", cfg->path);
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
