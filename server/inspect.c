#include "gm/inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm/alloc.h"
#include "gm/checkpoint.h"
#include "gm/segment.h"

#define MAX_RECORD (64u << 20)

/* Files in dir whose names end with `suffix`: count and bytes. */
static void files_with(const char *dir, const char *suffix, json_int_t *count, json_int_t *bytes)
{
    *count = *bytes = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < sl || strcmp(de->d_name + n - sl, suffix) != 0)
            continue;
        char *p = gm_asprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            (*count)++;
            *bytes += st.st_size;
        }
        free(p);
    }
    closedir(d);
}

/* Frames from `from` to the end of the spool: deliveries not yet processed
 * (as of the last checkpoint). */
static json_int_t frames_after(const char *dir, gm_spool_pos_t from, json_int_t *bytes)
{
    json_int_t frames = 0;
    *bytes = 0;
    for (uint64_t seg = from.segment;; seg++) {
        char *p = gm_asprintf("%s/%020llu.seg", dir, (unsigned long long)seg);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        free(p);
        if (fd < 0)
            break;
        gm_segment_scan_t scan;
        char err[256];
        if (gm_segment_scan(fd, seg == from.segment ? from.offset : 0, UINT64_MAX, MAX_RECORD, NULL, NULL, &scan, err,
                            sizeof(err)) == 0) {
            frames += (json_int_t)scan.records;
            *bytes += (json_int_t)(scan.valid_end - (seg == from.segment ? from.offset : 0));
        }
        close(fd);
    }
    return frames;
}

static json_t *remote_sink(const char *spool_dir, const char *name)
{
    char *dir = gm_asprintf("%s/publish-%s", spool_dir, name);
    struct stat st;
    if (stat(dir, &st) != 0) {
        free(dir);
        return NULL;
    }
    char *cursor_path = gm_asprintf("%s/cursor.json", dir), *inflight = gm_asprintf("%s/inflight", dir);
    char *outbox = gm_asprintf("%s/outbox", dir), *dead = gm_asprintf("%s/dead-letter.jsonl", dir);
    json_t *cursor = json_load_file(cursor_path, 0, NULL);
    json_int_t inflight_n, inflight_b, seg_n, seg_b, dead_lines = 0;
    files_with(inflight, ".json", &inflight_n, &inflight_b);
    files_with(outbox, ".seg", &seg_n, &seg_b);
    FILE *f = fopen(dead, "r");
    if (f != NULL) {
        int c;
        while ((c = fgetc(f)) != EOF)
            dead_lines += c == '\n';
        fclose(f);
    }
    json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:I}", "cursor", cursor ? cursor : json_null(), "requests_in_flight",
                          inflight_n > 0 ? inflight_n - 1 : 0, "outbox_segments", seg_n, "outbox_bytes", seg_b,
                          "dead_letters", dead_lines);
    free(cursor_path);
    free(inflight);
    free(outbox);
    free(dead);
    free(dir);
    return o;
}

json_t *gm_inspect(const gm_config_t *cfg, char *err, size_t errlen)
{
    const char *dir = cfg->spool.dir;
    gm_checkpoint_t cp;
    int fresh = gm_checkpoint_load(dir, &cp, err, errlen);
    if (fresh < 0)
        return NULL;
    json_int_t segs, seg_bytes, ledger_n, ledger_b, pending_bytes;
    files_with(dir, ".seg", &segs, &seg_bytes);
    files_with(dir, ".log", &ledger_n, &ledger_b);
    json_int_t pending = frames_after(dir, cp.spool, &pending_bytes);
    json_t *o = json_pack("{s:s, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "spool_dir", dir, "checkpoint",
                          fresh ? json_null()
                                : json_pack("{s:I, s:I, s:I, s:I, s:I, s:O?}", "spool_segment",
                                            (json_int_t)cp.spool.segment, "spool_offset", (json_int_t)cp.spool.offset,
                                            "processed", (json_int_t)cp.processed, "ledger_generation",
                                            (json_int_t)cp.ledger_generation, "ledger_size",
                                            (json_int_t)cp.ledger_size, "sink_mark", cp.sink_mark),
                          "spool", "segments", segs, "bytes", seg_bytes, "pending", pending, "pending_bytes",
                          pending_bytes, "ledger", "log_files", ledger_n, "log_bytes", ledger_b);
    gm_checkpoint_clear(&cp);
    static const char *const remotes[] = {"cloudwatch", "emf-logs"};
    for (size_t i = 0; i < 2; i++) {
        json_t *r = remote_sink(dir, remotes[i]);
        if (r != NULL)
            json_object_set_new(o, remotes[i], r);
    }
    return o;
}
