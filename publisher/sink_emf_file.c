/* The emf-file sink: one EMF JSON object per line, appended to a file (or
 * stdout). The CloudWatch agent, Fluent Bit or Lambda's log capture turn
 * such a file into metrics without an AWS call from this process. */
#include "gm/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gm/alloc.h"

typedef struct {
    gm_sink_t super;
    char *path; /* NULL for stdout */
    int fd;
    pthread_mutex_t lock; /* guards fd across reopen */
} emf_file_t;

static int open_append(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        snprintf(err, errlen, "%s: cannot open for appending: %s", path, strerror(errno));
    return fd;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int emf_file_write(gm_sink_t *s, const gm_record_t *r, const char *line, size_t len, char *err, size_t errlen)
{
    emf_file_t *self = (emf_file_t *)s;
    (void)r;
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    pthread_mutex_lock(&self->lock);
    /* O_APPEND makes each line land whole at the end, even with another
     * process (a log shipper's truncation, a second receiver) on the file;
     * the lock keeps a partial-write retry from interleaving with others. */
    int rc = write_all(self->fd, iov, 2);
    int saved = errno;
    pthread_mutex_unlock(&self->lock);
    if (rc != 0)
        snprintf(err, errlen, "%s: write failed: %s", self->path ? self->path : "stdout", strerror(saved));
    return rc;
}

static int emf_file_flush(gm_sink_t *s, char *err, size_t errlen)
{
    (void)s, (void)err, (void)errlen;
    return 0; /* every write goes straight to the kernel */
}

/* The mark names the file by device and inode as well as size: after a
 * rotation (the file was moved away and reopened) the bytes past the mark are
 * in another file, which is left alone. */
static json_t *emf_file_commit(gm_sink_t *s, char *err, size_t errlen)
{
    emf_file_t *self = (emf_file_t *)s;
    if (self->path == NULL)
        return json_pack("{s:b}", "stdout", 1);
    struct stat st;
    pthread_mutex_lock(&self->lock);
    int rc = fdatasync(self->fd) == 0 && fstat(self->fd, &st) == 0 ? 0 : -1;
    int saved = errno;
    pthread_mutex_unlock(&self->lock);
    if (rc != 0) {
        snprintf(err, errlen, "%s: sync failed: %s", self->path, strerror(saved));
        return NULL;
    }
    return json_pack("{s:s, s:I, s:I, s:I}", "file", self->path, "dev", (json_int_t)st.st_dev, "ino",
                     (json_int_t)st.st_ino, "size", (json_int_t)st.st_size);
}

static int emf_file_rollback(gm_sink_t *s, const json_t *mark, uint64_t *dropped, char *err, size_t errlen)
{
    emf_file_t *self = (emf_file_t *)s;
    *dropped = 0;
    json_int_t dev = 0, ino = 0, size = 0;
    if (self->path == NULL || mark == NULL ||
        json_unpack((json_t *)mark, "{s:I, s:I, s:I}", "dev", &dev, "ino", &ino, "size", &size) != 0)
        return 0; /* stdout, or no mark yet: nothing that can be taken back */
    struct stat st;
    if (fstat(self->fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", self->path, strerror(errno));
        return -1;
    }
    if ((json_int_t)st.st_dev != dev || (json_int_t)st.st_ino != ino || st.st_size <= size)
        return 0;
    if (ftruncate(self->fd, (off_t)size) != 0 || fdatasync(self->fd) != 0) {
        snprintf(err, errlen, "%s: cannot cut back to %lld bytes: %s", self->path, (long long)size, strerror(errno));
        return -1;
    }
    *dropped = (uint64_t)(st.st_size - size);
    return 0;
}

static int emf_file_check(gm_sink_t *s, char *err, size_t errlen)
{
    emf_file_t *self = (emf_file_t *)s;
    if (self->path == NULL)
        return 0;
    struct stat st;
    pthread_mutex_lock(&self->lock);
    int rc = fstat(self->fd, &st);
    pthread_mutex_unlock(&self->lock);
    if (rc != 0 || access(self->path, W_OK) != 0) {
        snprintf(err, errlen, "%s: not writable: %s", self->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int emf_file_reopen(gm_sink_t *s, char *err, size_t errlen)
{
    emf_file_t *self = (emf_file_t *)s;
    if (self->path == NULL)
        return 0;
    int fd = open_append(self->path, err, errlen);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&self->lock);
    int old = self->fd;
    self->fd = fd;
    pthread_mutex_unlock(&self->lock);
    close(old);
    return 0;
}

static void emf_file_destroy(gm_sink_t *s)
{
    emf_file_t *self = (emf_file_t *)s;
    if (self->path != NULL)
        close(self->fd);
    pthread_mutex_destroy(&self->lock);
    free(self->path);
    free(self);
}

static const gm_sink_ops_t emf_file_ops = {
    .name = "emf-file",
    .write = emf_file_write,
    .flush = emf_file_flush,
    .commit = emf_file_commit,
    .rollback = emf_file_rollback,
    .check = emf_file_check,
    .reopen = emf_file_reopen,
    .destroy = emf_file_destroy,
};

/* Creates the parent directory (one level) so that the default ./var/...
 * works on a fresh checkout. */
static void ensure_parent_dir(const char *path)
{
    char *copy = gm_strdup(path);
    char *dir = dirname(copy);
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0)
        (void)mkdir(dir, 0750);
    free(copy);
}

gm_sink_t *gm_sink_emf_file_open(const char *path, char *err, size_t errlen)
{
    emf_file_t *self = gm_calloc(1, sizeof(*self));
    self->super.ops = &emf_file_ops;
    pthread_mutex_init(&self->lock, NULL);
    if (strcmp(path, "-") == 0) {
        self->fd = STDOUT_FILENO;
        return &self->super;
    }
    ensure_parent_dir(path);
    self->path = gm_strdup(path);
    self->fd = open_append(path, err, errlen);
    if (self->fd < 0) {
        pthread_mutex_destroy(&self->lock);
        free(self->path);
        free(self);
        return NULL;
    }
    return &self->super;
}
