/* gm_alloc: allocation wrappers that abort on out-of-memory.
 *
 * Running out of memory is the one condition the service does not try to
 * survive: every other error is returned to the caller. The result of each
 * function is owned by the caller and released with free(). */
#ifndef GM_ALLOC_H
#define GM_ALLOC_H

#include <stddef.h>

void *gm_malloc(size_t n);
void *gm_calloc(size_t count, size_t size);
void *gm_realloc(void *p, size_t n);
char *gm_strdup(const char *s);
/* At most n bytes of s (which need not be NUL-terminated within them). */
char *gm_strndup(const char *s, size_t n);
/* p, or abort as the wrappers above do when it is NULL: for what other
 * libraries allocate (jansson's dumps, libcurl's header lists). */
void *gm_need(void *p);
/* printf into a new string. */
char *gm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
