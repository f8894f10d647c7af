/* The store's lock and identity: see gm/store.h. */
#include "gm/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gm/alloc.h"
#include "gm/util.h"

int gm_store_make_dirs(const char *dir)
{
    char *p = gm_strdup(dir);
    int rc = 0;
    for (char *s = p + 1; *s != '\0' && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0750) != 0 && errno != EEXIST)
        rc = -1;
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

int gm_store_lock(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "%s is used by another gha-metrics (process %s): one process per spool.dir",
                     dir, pid[0] != '\0' ? pid : "?");
        else
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    /* Only informative: a failure here does not weaken the lock. */
    if (ftruncate(fd, 0) == 0)
        (void)gm_pwrite_all(fd, pid, (size_t)len, 0);
    return fd;
}

static int valid_id(const char *s, size_t n)
{
    if (n != 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (gm_hexval((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

int gm_store_node_id(const char *dir, char out[33], char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/node-id", dir);
    size_t n = 0;
    char *text = gm_read_file(path, 256, &n);
    if (text != NULL) {
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
            n--;
        int ok = valid_id(text, n);
        if (ok)
            memcpy(out, text, 32), out[32] = '\0';
        free(text);
        if (!ok)
            snprintf(err, errlen, "%s: not a node id (32 hex characters); remove it to make a new one", path);
        return ok ? 0 : -1;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(err, errlen, "cannot generate a node id");
        return -1;
    }
    char line[34];
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(line + 2 * i, 3, "%02x", raw[i]);
    line[32] = '\n';
    line[33] = '\0';
    if (gm_write_file_atomic(dir, "node-id", line, 33) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    memcpy(out, line, 32);
    out[32] = '\0';
    return 0;
}
