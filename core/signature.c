#include "gm/signature.h"

#include "gm/util.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char hexdigits[] = "0123456789abcdef";

static void hmac_sha256(const unsigned char *key, size_t keylen, const void *body, size_t len,
                        unsigned char mac[EVP_MAX_MD_SIZE])
{
    unsigned int maclen = 0;
    /* HMAC() only fails on allocation failure inside OpenSSL; a zeroed MAC
     * then matches nothing, which is the safe outcome. */
    if (HMAC(EVP_sha256(), key, (int)keylen, body, len, mac, &maclen) == NULL)
        memset(mac, 0, EVP_MAX_MD_SIZE);
}

void gm_sig_sign(const unsigned char *key, size_t keylen, const void *body, size_t len, char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    hmac_sha256(key, keylen, body, len, mac);
    memcpy(out, "sha256=", 7);
    for (size_t i = 0; i < 32; i++) {
        out[7 + 2 * i] = hexdigits[mac[i] >> 4];
        out[8 + 2 * i] = hexdigits[mac[i] & 15];
    }
    out[71] = '\0';
}

int gm_sig_verify(const gm_secret_t *secrets, size_t count, const char *header, size_t header_len, const void *body,
                  size_t len)
{
    if (header == NULL || header_len != 7 + GM_SIG_HEX_LEN || memcmp(header, "sha256=", 7) != 0)
        return -1;
    /* Decode the claimed MAC once; the comparison is then on raw bytes. */
    unsigned char claimed[32];
    for (size_t i = 0; i < 32; i++) {
        int hi = gm_hexval((unsigned char)header[7 + 2 * i]), lo = gm_hexval((unsigned char)header[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        claimed[i] = (unsigned char)(hi << 4 | lo);
    }
    int match = -1;
    for (size_t i = 0; i < count; i++) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        hmac_sha256(secrets[i].value, secrets[i].len, body, len, mac);
        if (CRYPTO_memcmp(mac, claimed, 32) == 0 && match < 0)
            match = (int)i;
    }
    return match;
}
