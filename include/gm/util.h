/* gm_util: the few helpers several modules need and no module owns. */
#ifndef GM_UTIL_H
#define GM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* pwrite until everything is written (EINTR and short writes retried).
 * Returns 0, or -1 with errno set. */
int gm_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset);

/* Value of a hex digit (either case), or -1. */
int gm_hexval(unsigned char c);

#endif
