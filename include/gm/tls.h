/* gm_tls: server TLS contexts for h2o listeners.
 *
 * TLS 1.2 and later only; ALPN offers h2 only when HTTP/2 is enabled, else
 * http/1.1 alone, so that a client cannot negotiate the HTTP/2 stack of
 * h2o 2.2.5 unless the operator asked for it. The returned SSL_CTX is owned
 * by the caller (SSL_CTX_free) and may be shared by every loop thread. */
#ifndef GM_TLS_H
#define GM_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

SSL_CTX *gm_tls_server_ctx(const char *certificate, const char *key, bool http2, char *err, size_t errlen);

#endif
