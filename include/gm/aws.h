/* gm_aws: calling AWS JSON-protocol APIs (CloudWatch, CloudWatch Logs,
 * DynamoDB) from C, with libcurl doing the SigV4 signing
 * (CURLOPT_AWS_SIGV4) and this module finding credentials the way the AWS
 * SDKs do:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials, profile AWS_PROFILE or "default"
 *   3. container endpoint (ECS, Fargate): AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      on http://169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN (or _TOKEN_FILE) as Authorization
 *   4. EC2 IMDSv2: PUT /latest/api/token, then
 *      /latest/meta-data/iam/security-credentials/[role]; endpoint
 *      http://169.254.169.254 or AWS_EC2_METADATA_SERVICE_ENDPOINT;
 *      skipped when AWS_EC2_METADATA_DISABLED=true
 *
 * Temporary credentials (3, 4, or 1/2 with a session token) are refreshed
 * five minutes before they expire; X-Amz-Security-Token is sent with them.
 * Secrets never appear in an error message, a log line or /metrics: errors
 * name the source ("environment", "shared file profile x", "container
 * endpoint", "IMDSv2").
 *
 * Thread: a gm_aws_t may be used by one thread at a time (it owns a curl
 * handle); make one per thread. Ownership: gm_aws_open's result is the
 * caller's, released with gm_aws_close; a gm_aws_response_t owns its body,
 * released with gm_aws_response_clear. */
#ifndef GM_AWS_H
#define GM_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gm_aws gm_aws_t;

typedef struct {
    const char *service;  /* SigV4 service: "monitoring", "logs", "dynamodb" */
    const char *region;   /* NULL: AWS_REGION, then AWS_DEFAULT_REGION */
    const char *endpoint; /* NULL: https://{service}.{region}.amazonaws.com */
    long timeout_ms;      /* whole request; default 10 s when 0 */
} gm_aws_opts_t;

typedef enum {
    GM_AWS_OK = 0,         /* HTTP 2xx */
    GM_AWS_RETRY,          /* throttling, 5xx, timeout, connection error: back off and retry */
    GM_AWS_REJECTED,       /* 4xx the request itself caused (validation): do not retry as is */
    GM_AWS_AUTH,           /* no credentials, or AWS refused them: retry later, say so loudly */
} gm_aws_outcome_t;

typedef struct {
    gm_aws_outcome_t outcome;
    long status;          /* HTTP status, 0 when none came */
    char code[64];        /* AWS error code ("Throttling", "InvalidParameterValue", ...), "" when none */
    char message[256];    /* AWS's error message, or curl's; never credentials */
    char *body;           /* response body, NUL-terminated (may be "") */
    size_t body_len;
    double retry_after_s; /* from Retry-After when present, else 0 */
} gm_aws_response_t;

/* Resolves the region (error when none) but not the credentials: those are
 * looked up at the first call, so the service starts without AWS reachable. */
gm_aws_t *gm_aws_open(const gm_aws_opts_t *opts, char *err, size_t errlen);
void gm_aws_close(gm_aws_t *aws);

const char *gm_aws_region(const gm_aws_t *aws);
const char *gm_aws_endpoint(const gm_aws_t *aws);

/* POSTs a JSON-protocol request: X-Amz-Target: target, the given content
 * type ("application/x-amz-json-1.0" / "-1.1"), extra headers (NULL-ended,
 * "Name: value", may be NULL). Always fills *resp; returns resp->outcome.
 * Error codes are taken from the body's "__type" (after any '#') or
 * "code", or the x-amzn-ErrorType header; throttling is recognised by code
 * (Throttling, ThrottlingException, ThrottledException,
 * TooManyRequestsException, RequestLimitExceeded, ...) or HTTP 429. */
gm_aws_outcome_t gm_aws_call(gm_aws_t *aws, const char *target, const char *content_type,
                             const char *const *extra_headers, const void *body, size_t len,
                             gm_aws_response_t *resp);

void gm_aws_response_clear(gm_aws_response_t *resp);

/* Where the credentials in use came from ("environment", ...), or NULL
 * before the first successful lookup. Never the secret. */
const char *gm_aws_credentials_source(gm_aws_t *aws);

/* Parsing, exposed for unit tests: reads `profile` from an INI-style shared
 * credentials file text. Returns 0 and fills the three (caller frees; the
 * token may be NULL), or -1 with the reason. */
int gm_aws_parse_shared_credentials(const char *text, const char *profile, char **access_key, char **secret_key,
                                    char **session_token, char *err, size_t errlen);

#endif
