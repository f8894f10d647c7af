/* gm_sig: X-Hub-Signature-256 verification.
 *
 * GitHub signs the raw body with HMAC-SHA256 and sends "sha256=<64 lowercase
 * hex>". Verification runs before anything looks at the body, compares in
 * constant time, and tries every configured secret so that a secret can be
 * rotated without dropping deliveries. Pure and reentrant. */
#ifndef GM_SIGNATURE_H
#define GM_SIGNATURE_H

#include <stddef.h>

#include "gm/config.h"

#define GM_SIG_HEX_LEN 64 /* hex digits of a SHA-256 HMAC */

/* Writes "sha256=" + 64 hex digits + NUL into out (at least 72 bytes). */
void gm_sig_sign(const unsigned char *key, size_t keylen, const void *body, size_t len, char out[72]);

/* Returns the index of the secret that matches, or -1 when the header is
 * malformed or no secret matches. Every secret is tried even after a match
 * so that timing does not tell which one matched. */
int gm_sig_verify(const gm_secret_t *secrets, size_t count, const char *header, size_t header_len, const void *body,
                  size_t len);

#endif
