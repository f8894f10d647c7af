#include "gm/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Set once before threads start; atomic only so that tests may change it. */
static _Atomic int min_level = GM_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void gm_log_set_level(gm_log_level_t level)
{
    atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

int gm_log_enabled(gm_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

static void format_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

void gm_log_json(gm_log_level_t level, const char *module, const char *msg, json_t *fields)
{
    if (!gm_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char ts[64]; /* room for any int in struct tm, as the compiler checks */
    format_now(ts, sizeof(ts));
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "module", json_string(module));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields != NULL) {
        json_object_update_missing(line, fields);
        json_decref(fields);
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (text == NULL)
        return;
    struct iovec iov[2] = {{text, strlen(text)}, {"\n", 1}};
    ssize_t r = writev(STDERR_FILENO, iov, 2);
    (void)r; /* nowhere better to report a failing stderr */
    free(text);
}

void gm_log_msg(gm_log_level_t level, const char *module, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    gm_log_json(level, module, buf, NULL);
}
