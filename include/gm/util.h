/* gm_util: the few helpers several modules need and no module owns. */
#ifndef GM_UTIL_H
#define GM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* pwrite until everything is written (EINTR and short writes retried).
 * Returns 0, or -1 with errno set. */
int gm_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset);

/* fsync of a directory: makes a create, rename or unlink in it durable. */
int gm_fsync_dir(const char *dir);

/* Writes path whole and fsyncs it. Returns 0, or -1 with errno set. */
int gm_write_file(const char *path, const void *data, size_t len, int mode);

/* Replaces dir/name atomically: writes dir/name.tmp, fsyncs it, renames it
 * over, fsyncs the directory. A crash leaves the old file or the new one,
 * never a mix. Returns 0, or -1 with errno set. */
int gm_write_file_atomic(const char *dir, const char *name, const void *data, size_t len);

/* Reads a whole regular file into a new NUL-terminated buffer the caller
 * frees (wiping it first when it held a secret). NULL with errno on
 * failure: EFBIG past max bytes, EISDIR for a directory, EINVAL for another
 * non-regular file. */
char *gm_read_file(const char *path, size_t max, size_t *len);

/* Wall-clock time in epoch milliseconds. */
int64_t gm_wall_ms(void);
/* Monotonic time in microseconds, for intervals (never steps back). */
uint64_t gm_mono_us(void);
/* Sleeps ms (EINTR resumed). */
void gm_sleep_ms(int64_t ms);
/* The same two as the injectable clock callbacks of the clients
 * (now_ms(ctx), sleep_ms(ctx, ms)): the defaults when a test gives none. */
int64_t gm_clock_now_ms(void *ctx);
void gm_clock_sleep_ms(void *ctx, int64_t ms);

/* printf into an error buffer the caller gave (nothing when err is NULL or
 * errlen 0): the (char *err, size_t errlen) convention every module uses. */
void gm_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Value of a hex digit (either case), or -1. */
int gm_hexval(unsigned char c);

#endif
