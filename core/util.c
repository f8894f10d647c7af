#include "gm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

char *gm_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                fclose(f);
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            cap = cap ? cap * 2 : 65536;
            cap = cap > max ? max : cap;
            buf = gm_realloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf = buf ? buf : gm_malloc(1);
    buf[n] = '\0';
    *len = n;
    return buf;
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
