/* gm_github App auth (see gm/github.h): the app JWT (RS256, iat 60 s in
 * the past, exp 9 minutes ahead, iss = the app id) and the installation
 * token it is exchanged for, renewed five minutes before its hour ends.
 *
 * Secrets: the JWT, the installation token and the private key are wiped
 * before they are freed, and so is the parsed token exchange answer; errors
 * never contain them. */
#include "gm/github.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gm/alloc.h"
#include "gm/http.h"
#include "gm/record.h"

#include "github_internal.h"

/* The installation token is renewed this long before it expires. */
#define REFRESH_BEFORE_MS (5 * 60 * 1000LL)
/* When GitHub gives no usable expires_at: tokens last an hour. */
#define TOKEN_LIFETIME_MS (60 * 60 * 1000LL)

/* ---- app JWT ------------------------------------------------------------------ */

static char *b64url(const unsigned char *in, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = gm_malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        if (i + 1 < len)
            *o++ = tbl[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

char *gm_github_app_jwt(int64_t app_id, const char *key_pem, int64_t now_s, char *err, size_t errlen)
{
    char *jwt = NULL, *input = NULL, *h64 = NULL, *p64 = NULL;
    unsigned char *sig = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    BIO *bio = NULL;

    if (app_id <= 0 || key_pem == NULL || *key_pem == '\0') {
        snprintf(err, errlen, "app JWT: an app id and a private key are needed");
        return NULL;
    }
    bio = BIO_new_mem_buf(key_pem, -1);
    if (bio == NULL || (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
        snprintf(err, errlen, "app JWT: the private key is not a readable PEM private key");
        goto Exit;
    }
    if (!EVP_PKEY_is_a(key, "RSA")) {
        snprintf(err, errlen, "app JWT: the private key is not an RSA key");
        goto Exit;
    }
    /* The app id as a number: GitHub takes iss as the app id (a number) or
     * the client id (a string). */
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"iat\":%lld,\"exp\":%lld,\"iss\":%lld}", (long long)(now_s - 60),
             (long long)(now_s + 540), (long long)app_id);
    h64 = b64url((const unsigned char *)header, sizeof(header) - 1);
    p64 = b64url((const unsigned char *)payload, strlen(payload));
    input = gm_asprintf("%s.%s", h64, p64);

    size_t siglen = 0;
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(err, errlen, "app JWT: cannot sign");
        goto Exit;
    }
    sig = gm_malloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(err, errlen, "app JWT: cannot sign");
        goto Exit;
    }
    char *s64 = b64url(sig, siglen);
    jwt = gm_asprintf("%s.%s", input, s64);
    free(s64);
Exit:
    ERR_clear_error(); /* nothing about the key stays in OpenSSL's queue */
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(sig);
    free(h64);
    free(p64);
    free(input);
    return jwt;
}

/* ---- installation token ------------------------------------------------------- */

/* Renews the installation token when missing or within five minutes of its
 * expiry: POST {base}/app/installations/{id}/access_tokens with the JWT. */
int gm_github_ensure_token(gm_github_t *gh, char *err, size_t errlen)
{
    if (gh->inst_token != NULL && gm_github_now(gh) < gh->inst_expires_ms - REFRESH_BEFORE_MS)
        return 0;
    gm_http_wipe_free(gh->inst_token);
    gh->inst_token = NULL;
    char *url = gm_asprintf("%s/app/installations/%lld/access_tokens", gh->base, (long long)gh->installation_id);
    resp_headers_t hdrs = {0};
    gm_github_headers_reset(&hdrs);
    long st = 0;
    json_t *o = NULL;
    int rc = gm_github_perform(gh, "POST", url, "{}", AUTH_JWT, NULL, &st, &hdrs, &o, err, errlen);
    gm_github_headers_reset(&hdrs);
    if (rc == 0) {
        const char *tok = json_string_value(json_object_get(o, "token"));
        const char *exp = json_string_value(json_object_get(o, "expires_at"));
        if (st != 201 && st != 200) {
            gm_github_set_err(gh, err, errlen, "github: installation token for %lld: HTTP %ld %s",
                              (long long)gh->installation_id, st, gm_github_message(o));
            rc = -1;
        } else if (tok == NULL || *tok == '\0' || gm_http_has_crlf(tok)) {
            gm_github_set_err(gh, err, errlen, "github: installation token for %lld: no token in the answer",
                              (long long)gh->installation_id);
            rc = -1;
        } else {
            int64_t exp_ms;
            gh->inst_token = gm_strdup(tok);
            gh->inst_expires_ms = exp != NULL && gm_time_parse_iso8601(exp, &exp_ms) == 0
                                      ? exp_ms
                                      : gm_github_now(gh) + TOKEN_LIFETIME_MS;
        }
    }
    if (o != NULL) {
        /* Wipe the token in the parsed answer, in place, before it is freed
         * (replacing the string would free the old bytes unwiped). */
        json_t *t = json_object_get(o, "token");
        if (json_is_string(t))
            OPENSSL_cleanse((char *)json_string_value(t), json_string_length(t));
        json_decref(o);
    }
    free(url);
    return rc;
}
