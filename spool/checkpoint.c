#include "gm/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/util.h"

#define FILE_NAME "checkpoint.json"

static int get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int gm_checkpoint_load(const char *dir, gm_checkpoint_t *cp, char *err, size_t errlen)
{
    memset(cp, 0, sizeof(*cp));
    cp->spool.segment = 1;
    char *path = gm_asprintf("%s/%s", dir, FILE_NAME);
    int rc = -1;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        rc = 1;
        goto Exit;
    }
    json_error_t jerr;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        goto Exit;
    }
    json_t *mark = json_object_get(o, "sink_mark");
    if (get_u64(o, "spool_segment", &cp->spool.segment) != 0 || get_u64(o, "spool_offset", &cp->spool.offset) != 0 ||
        get_u64(o, "ledger_generation", &cp->ledger_generation) != 0 ||
        get_u64(o, "ledger_size", &cp->ledger_size) != 0 || get_u64(o, "processed", &cp->processed) != 0 ||
        (mark != NULL && !json_is_object(mark) && !json_is_null(mark))) {
        snprintf(err, errlen, "%s: not a checkpoint of this version", path);
        json_decref(o);
        goto Exit;
    }
    cp->sink_mark = json_is_object(mark) ? json_incref(mark) : NULL;
    json_decref(o);
    rc = 0;
Exit:
    free(path);
    return rc;
}

int gm_checkpoint_save(const char *dir, const gm_checkpoint_t *cp, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:O?}", "spool_segment", (json_int_t)cp->spool.segment,
                          "spool_offset", (json_int_t)cp->spool.offset, "ledger_generation",
                          (json_int_t)cp->ledger_generation, "ledger_size", (json_int_t)cp->ledger_size, "processed",
                          (json_int_t)cp->processed, "sink_mark", cp->sink_mark);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (text == NULL) {
        snprintf(err, errlen, "cannot encode the checkpoint");
        return -1;
    }
    /* With a newline: operators read it. */
    size_t len = strlen(text);
    text[len] = '\n'; /* the terminator's byte: json_dumps allocated it */
    int rc = gm_write_file_atomic(dir, FILE_NAME, text, len + 1);
    if (rc != 0)
        snprintf(err, errlen, "%s/%s: %s", dir, FILE_NAME, strerror(errno));
    free(text);
    return rc;
}

void gm_checkpoint_clear(gm_checkpoint_t *cp)
{
    json_decref(cp->sink_mark);
    cp->sink_mark = NULL;
}
