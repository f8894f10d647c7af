/* gm_log: one JSON object per line on stderr.
 *
 * Every line carries ts, level, module and msg; callers add fields with a
 * jansson object. Lines are written with a single write(2) so that lines
 * from several threads never interleave. The level is set once at start-up
 * from the configuration, before any thread exists.
 *
 * Never log a payload or a secret: fields are chosen by the caller, and no
 * function here formats request bodies. */
#ifndef GM_LOG_H
#define GM_LOG_H

#include <jansson.h>

#include "gm/config.h"

void gm_log_set_level(gm_log_level_t level);
int gm_log_enabled(gm_log_level_t level);

/* Writes one line. `fields` (may be NULL) is consumed: its reference is
 * stolen. */
void gm_log_json(gm_log_level_t level, const char *module, const char *msg, json_t *fields);

/* printf-style message without extra fields. */
void gm_log_msg(gm_log_level_t level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define GM_LOG(level, module, ...)                                                                                     \
    do {                                                                                                               \
        if (gm_log_enabled(level))                                                                                     \
            gm_log_msg(level, module, __VA_ARGS__);                                                                    \
    } while (0)
#define GM_DEBUG(module, ...) GM_LOG(GM_LOG_DEBUG, module, __VA_ARGS__)
#define GM_INFO(module, ...) GM_LOG(GM_LOG_INFO, module, __VA_ARGS__)
#define GM_WARN(module, ...) GM_LOG(GM_LOG_WARN, module, __VA_ARGS__)
#define GM_ERROR(module, ...) GM_LOG(GM_LOG_ERROR, module, __VA_ARGS__)

#endif
