/* Private to the AWS client (clients/aws*.c): the client's state and the
 * credentials it holds, shared by the calls (aws.c) and the credentials
 * chain (aws_credentials.c). Not part of gm/aws.h. */
#ifndef GM_AWS_INTERNAL_H
#define GM_AWS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "gm/aws.h"

typedef struct {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL for long-term keys */
    int64_t expires_ms;  /* 0: not known to expire */
} creds_t;

struct gm_aws {
    char *service;
    char *region;
    char *endpoint; /* without trailing '/' */
    char *url;      /* endpoint + "/" */
    char *sigv4;    /* "aws:amz:region:service" */
    CURL *curl;
    creds_t creds;
    bool have_creds;
    int64_t next_refresh_ms; /* after a failed refresh: not before this */
    char source[96];         /* "" until the first successful lookup */
    char errbuf[CURL_ERROR_SIZE];
};

/* Wipes and frees the three strings, then zeroes *c. */
void gm_aws_creds_clear(creds_t *c);
/* [s, *end) without leading and trailing blanks (moves *end back). */
const char *gm_aws_trim(const char *s, const char **end);
/* getenv, with "" taken as unset. */
const char *gm_aws_env(const char *name);
/* Credentials for the next request: cached, refreshed when temporary ones
 * near their expiry. 0, or -1 with the reason in err. */
int gm_aws_ensure_credentials(gm_aws_t *aws, char *err, size_t errlen);

#endif
