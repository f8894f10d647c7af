#define _GNU_SOURCE
#include "gm/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(void)
{
    static const char msg[] = "{\"level\":\"fatal\",\"module\":\"alloc\",\"msg\":\"out of memory\"}\n";
    /* write(2) directly: stdio may itself need memory. */
    ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *gm_need(void *p)
{
    if (p == NULL)
        oom();
    return p;
}

void *gm_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *gm_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

void *gm_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom();
    return q;
}

char *gm_strdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        oom();
    return p;
}

/* Reads at most n bytes, so s may be a slice of a larger buffer. */
char *gm_strndup(const char *s, size_t n)
{
    const char *nul = memchr(s, '\0', n);
    size_t len = nul != NULL ? (size_t)(nul - s) : n;
    char *p = gm_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *gm_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0)
        oom();
    return p;
}
