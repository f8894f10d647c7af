#include "gm/util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gm/alloc.h"

int gm_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int gm_write_file(const char *path, const void *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = gm_pwrite_all(fd, data, len, 0) == 0 && fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* One allocation sized from fstat, so no realloc leaves a stray copy of a
 * secret behind; the buffer is wiped when the read fails. */
char *gm_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat st;
    int e = fstat(fileno(f), &st) != 0  ? errno
            : S_ISDIR(st.st_mode)       ? EISDIR
            : !S_ISREG(st.st_mode)      ? EINVAL /* a FIFO or device: no size to trust */
            : (size_t)st.st_size > max ? EFBIG
                                        : 0;
    if (e != 0) {
        fclose(f);
        errno = e;
        return NULL;
    }
    char *text = gm_malloc((size_t)st.st_size + 1);
    size_t n = fread(text, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        OPENSSL_cleanse(text, (size_t)st.st_size + 1);
        free(text);
        errno = EIO;
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}

int gm_write_file_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    char *tmp = gm_asprintf("%s/%s.tmp", dir, name), *path = gm_asprintf("%s/%s", dir, name);
    int rc = gm_write_file(tmp, data, len, 0640) == 0 && rename(tmp, path) == 0 && gm_fsync_dir(dir) == 0 ? 0 : -1;
    int saved = errno;
    free(tmp);
    free(path);
    errno = saved;
    return rc;
}

int gm_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

int gm_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int64_t gm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t gm_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void gm_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int64_t gm_clock_now_ms(void *ctx)
{
    (void)ctx;
    return gm_wall_ms();
}

void gm_clock_sleep_ms(void *ctx, int64_t ms)
{
    (void)ctx;
    gm_sleep_ms(ms);
}

void gm_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
