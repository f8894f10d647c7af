#include "gm/tls.h"

#include <stdio.h>

#include <h2o.h>
#include <openssl/err.h>

static void openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}

SSL_CTX *gm_tls_server_ctx(const char *certificate, const char *key, bool http2, char *err, size_t errlen)
{
    static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "%s: cannot load the certificate chain: %s", certificate, why);
        goto Error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "%s: cannot load the private key: %s", key, why);
        goto Error;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s: the key does not match the certificate %s", key, certificate);
        goto Error;
    }
    h2o_ssl_register_alpn_protocols(ctx, http2 ? h2o_http2_alpn_protocols : http1_only);
    return ctx;
Error:
    SSL_CTX_free(ctx);
    return NULL;
}
