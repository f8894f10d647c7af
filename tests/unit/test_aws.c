/* gm_aws: credentials parsing and chain, region and endpoint, and real
 * signed calls against the test server of http_stub.h, started inside each
 * test. The signature is checked by recomputing SigV4 from what the
 * server received. Criterion forks each test, so environment changes stay
 * inside the test. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gm/alloc.h"
#include "gm/aws.h"
#include "gm/record.h"

#include "http_stub.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define REGION "eu-west-1"
#define SERVICE "monitoring"
#define TARGET "GraniteServiceVersion20100801.PutMetricData"
#define CT "application/x-amz-json-1.0"

/* ---- environment -------------------------------------------------------- */

static void env_clean(void)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                       "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                       "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                       "http_proxy",
                                       "HTTP_PROXY",
                                       "https_proxy",
                                       "HTTPS_PROXY",
                                       "all_proxy",
                                       "ALL_PROXY",
                                       "no_proxy",
                                       "NO_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gm-test/credentials", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void env_keys(const char *akid, const char *secret, const char *token)
{
    setenv("AWS_ACCESS_KEY_ID", akid, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    if (token != NULL)
        setenv("AWS_SESSION_TOKEN", token, 1);
    else
        unsetenv("AWS_SESSION_TOKEN");
}

static char *write_temp(const char *text)
{
    char *path = gm_strdup("/tmp/gm-test-aws-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- helpers ------------------------------------------------------------ */

static gm_aws_t *open_at(int port, long timeout_ms)
{
    char endpoint[64], err[256] = "";
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
    gm_aws_opts_t o = {.service = SERVICE, .region = REGION, .endpoint = endpoint, .timeout_ms = timeout_ms};
    gm_aws_t *aws = gm_aws_open(&o, err, sizeof(err));
    cr_assert_not_null(aws, "open: %s", err);
    return aws;
}

static gm_aws_outcome_t call(gm_aws_t *aws, gm_aws_response_t *resp)
{
    static const char body[] = "{\"Namespace\":\"GHA\",\"MetricData\":[]}";
    return gm_aws_call(aws, TARGET, CT, NULL, body, sizeof(body) - 1, resp);
}

/* ---- SigV4, recomputed from what the server received ---------------------- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
            return false;
    return true;
}

/* Checks the Authorization header's form and recomputes its signature with
 * `secret`; returns the SignedHeaders list (caller frees). */
static char *verify_sigv4(const stub_req_t *r, const char *akid, const char *secret)
{
    const char *date = stub_header(r, "X-Amz-Date");
    cr_assert_not_null(stub_header(r, "Authorization"), "no Authorization header");
    cr_assert_not_null(date, "no X-Amz-Date header");
    cr_assert_eq(strlen(date), 16, "x-amz-date %s", date);
    cr_assert(date[8] == 'T' && date[15] == 'Z', "x-amz-date %s", date);

    char *auth = gm_strdup(stub_header(r, "Authorization"));
    static const char prefix[] = "AWS4-HMAC-SHA256 Credential=";
    cr_assert(strncmp(auth, prefix, sizeof(prefix) - 1) == 0, "authorization: %s", auth);
    char *cred = auth + sizeof(prefix) - 1;
    char *sh = strstr(cred, ", SignedHeaders="), *sig = strstr(cred, ", Signature=");
    cr_assert(sh != NULL && sig != NULL && sh < sig, "authorization: %s", auth);
    *sh = '\0';
    sh += strlen(", SignedHeaders=");
    *sig = '\0';
    sig += strlen(", Signature=");

    char scope[128], want_cred[256];
    snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request", date, REGION, SERVICE);
    snprintf(want_cred, sizeof(want_cred), "%s/%s", akid, scope);
    cr_assert_str_eq(cred, want_cred);
    cr_assert(is_hex64(sig), "signature %s", sig);
    char *signed_headers = gm_strdup(sh);
    cr_assert(strstr(signed_headers, "host") != NULL, "signed: %s", signed_headers);
    cr_assert(strstr(signed_headers, "x-amz-date") != NULL, "signed: %s", signed_headers);
    cr_assert(strstr(signed_headers, "content-type") != NULL, "signed: %s", signed_headers);

    /* Canonical request (no query string; path "/"). */
    size_t cap = 16384, used = 0;
    char *canon = gm_malloc(cap);
    used += (size_t)snprintf(canon + used, cap - used, "%s\n%s\n\n", r->method, r->path);
    char *names = gm_strdup(signed_headers), *save = NULL, *prev = NULL;
    for (char *name = strtok_r(names, ";", &save); name != NULL; name = strtok_r(NULL, ";", &save)) {
        if (prev != NULL)
            cr_assert(strcmp(prev, name) < 0, "signed headers not sorted: %s", signed_headers);
        prev = name;
        for (char *q = name; *q; q++)
            cr_assert(!isupper((unsigned char)*q), "signed header not lower case: %s", name);
        const char *v = stub_header(r, name);
        cr_assert_not_null(v, "signed header %s was not sent", name);
        used += (size_t)snprintf(canon + used, cap - used, "%s:%s\n", name, v);
    }
    free(names);
    char body_hash[65], canon_hash[65];
    sha256_hex(r->body, r->body_len, body_hash);
    used += (size_t)snprintf(canon + used, cap - used, "\n%s\n%s", signed_headers, body_hash);
    cr_assert(used < cap);
    sha256_hex(canon, used, canon_hash);
    char *sts = gm_asprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, canon_hash);

    unsigned char k[32];
    char *k0 = gm_asprintf("AWS4%s", secret), day[9];
    snprintf(day, sizeof(day), "%.8s", date);
    hmac(k0, strlen(k0), day, k);
    hmac(k, 32, REGION, k);
    hmac(k, 32, SERVICE, k);
    hmac(k, 32, "aws4_request", k);
    unsigned char mac[32];
    char want[65];
    hmac(k, 32, sts, mac);
    hex(mac, 32, want);
    cr_assert_str_eq(sig, want, "signature does not verify; canonical request:\n%s", canon);

    free(k0);
    free(sts);
    free(canon);
    free(auth);
    return signed_headers;
}

/* ---- shared credentials file ---------------------------------------------- */

static int parse(const char *text, const char *profile, char **ak, char **sk, char **tok, char *err)
{
    return gm_aws_parse_shared_credentials(text, profile, ak, sk, tok, err, 256);
}

static void free3(char *a, char *b, char *c)
{
    free(a);
    free(b);
    free(c);
}

Test(shared_file, default_profile)
{
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(
        parse("[default]\naws_access_key_id=AKIA1\naws_secret_access_key=sec/ret+1\n", "default", &ak, &sk, &tok, err),
        0, "%s", err);
    cr_assert_str_eq(ak, "AKIA1");
    cr_assert_str_eq(sk, "sec/ret+1");
    cr_assert_null(tok);
    free3(ak, sk, tok);
}

Test(shared_file, picks_the_named_profile_among_several)
{
    const char *text = "[default]\n"
                       "aws_access_key_id = AKIA_DEFAULT\n"
                       "aws_secret_access_key = SECRET_DEFAULT\n"
                       "\n"
                       "[ci]\n"
                       "aws_access_key_id = AKIA_CI\n"
                       "aws_secret_access_key = SECRET_CI\n"
                       "[prod]\n"
                       "aws_access_key_id = AKIA_PROD\n"
                       "aws_secret_access_key = SECRET_PROD\n";
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse(text, "ci", &ak, &sk, &tok, err), 0, "%s", err);
    cr_assert_str_eq(ak, "AKIA_CI");
    cr_assert_str_eq(sk, "SECRET_CI");
    free3(ak, sk, tok);
    cr_assert_eq(parse(text, "prod", &ak, &sk, &tok, err), 0, "%s", err);
    cr_assert_str_eq(ak, "AKIA_PROD");
    cr_assert_str_eq(sk, "SECRET_PROD");
    free3(ak, sk, tok);
}

Test(shared_file, comments_whitespace_crlf_and_case)
{
    const char *text = "# a comment\r\n"
                       "; another = not a key\r\n"
                       "  [ default ]  \r\n"
                       "\t# indented comment\r\n"
                       "AWS_Access_Key_Id\t=\t AKIA2 \r\n"
                       "aws_secret_access_key=   s3cr3t   ; inline comment\r\n"
                       "aws_session_token :tok#en # inline\r\n"
                       "region = eu-west-1\r\n";
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse(text, "default", &ak, &sk, &tok, err), 0, "%s", err);
    cr_assert_str_eq(ak, "AKIA2");
    cr_assert_str_eq(sk, "s3cr3t");
    cr_assert_str_eq(tok, "tok#en");
    free3(ak, sk, tok);
}

Test(shared_file, session_token_and_its_old_name)
{
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse("[t]\naws_access_key_id=ASIA1\naws_secret_access_key=S\naws_session_token=IQoJb3JpZ2luX2VjE==\n",
                       "t", &ak, &sk, &tok, err),
                 0, "%s", err);
    cr_assert_str_eq(tok, "IQoJb3JpZ2luX2VjE==");
    free3(ak, sk, tok);
    cr_assert_eq(parse("[t]\naws_access_key_id=ASIA1\naws_secret_access_key=S\naws_security_token=OLD\n", "t", &ak, &sk,
                       &tok, err),
                 0, "%s", err);
    cr_assert_str_eq(tok, "OLD");
    free3(ak, sk, tok);
}

Test(shared_file, later_sections_and_keys_override)
{
    const char *text = "[a]\naws_access_key_id=ONE\naws_secret_access_key=S1\n"
                       "[b]\naws_access_key_id=B\naws_secret_access_key=SB\n"
                       "[a]\naws_access_key_id=TWO\n";
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse(text, "a", &ak, &sk, &tok, err), 0, "%s", err);
    cr_assert_str_eq(ak, "TWO");
    cr_assert_str_eq(sk, "S1");
    free3(ak, sk, tok);
}

Test(shared_file, nested_settings_are_not_keys)
{
    const char *text = "[default]\naws_access_key_id=AK\naws_secret_access_key=SK\n"
                       "s3 =\n  aws_access_key_id = NESTED\n";
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse(text, "default", &ak, &sk, &tok, err), 0, "%s", err);
    cr_assert_str_eq(ak, "AK");
    free3(ak, sk, tok);
}

Test(shared_file, missing_profile_and_keys)
{
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse("[other]\naws_access_key_id=A\naws_secret_access_key=S\n", "default", &ak, &sk, &tok, err), -1);
    cr_assert_str_eq(err, "no profile \"default\"");
    cr_assert(ak == NULL && sk == NULL && tok == NULL);
    cr_assert_eq(parse("", "default", &ak, &sk, &tok, err), -1);

    cr_assert_eq(parse("[p]\naws_access_key_id=AKIA_ONLY\n", "p", &ak, &sk, &tok, err), -1);
    cr_assert_str_eq(err, "profile \"p\" has no aws_secret_access_key");
    cr_assert(ak == NULL && sk == NULL);

    cr_assert_eq(parse("[p]\naws_secret_access_key=VERYSECRETVALUE\n", "p", &ak, &sk, &tok, err), -1);
    cr_assert_str_eq(err, "profile \"p\" has no aws_access_key_id");
    cr_assert(strstr(err, "VERYSECRETVALUE") == NULL);

    cr_assert_eq(parse("[p]\naws_access_key_id=\naws_secret_access_key=S\n", "p", &ak, &sk, &tok, err), -1,
                 "an empty key is a missing key");
    /* The bare name only: "[profile p]" is another profile in this file. */
    cr_assert_eq(parse("[profile p]\naws_access_key_id=A\naws_secret_access_key=S\n", "p", &ak, &sk, &tok, err), -1);
}

Test(shared_file, malformed_lines_name_the_line_not_the_text)
{
    char *ak, *sk, *tok, err[256];
    cr_assert_eq(parse("[p]\naws_access_key_id=A\nSECRETLINEWITHOUTEQUALS\n", "p", &ak, &sk, &tok, err), -1);
    cr_assert(strstr(err, "line 3") != NULL, "%s", err);
    cr_assert(strstr(err, "SECRETLINE") == NULL, "%s", err);
    cr_assert_eq(parse("[p\naws_access_key_id=A\n", "p", &ak, &sk, &tok, err), -1);
    cr_assert(strstr(err, "line 1") != NULL, "%s", err);
}

/* ---- region and endpoint -------------------------------------------------- */

static char *open_region(const char *opt_region, char *err)
{
    gm_aws_opts_t o = {.service = SERVICE, .region = opt_region};
    gm_aws_t *aws = gm_aws_open(&o, err, 256);
    if (aws == NULL)
        return NULL;
    char *r = gm_strdup(gm_aws_region(aws));
    gm_aws_close(aws);
    return r;
}

Test(region, options_then_aws_region_then_default_region, .init = env_clean)
{
    char err[256], *r;
    setenv("AWS_REGION", "us-east-2", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    cr_assert_str_eq(r = open_region("eu-central-1", err), "eu-central-1");
    free(r);
    cr_assert_str_eq(r = open_region(NULL, err), "us-east-2");
    free(r);
    cr_assert_str_eq(r = open_region("", err), "us-east-2", "an empty option is no option");
    free(r);
    unsetenv("AWS_REGION");
    cr_assert_str_eq(r = open_region(NULL, err), "ap-south-1");
    free(r);
    setenv("AWS_REGION", "", 1);
    cr_assert_str_eq(r = open_region(NULL, err), "ap-south-1", "an empty variable is no variable");
    free(r);
}

Test(region, none_is_an_error, .init = env_clean)
{
    char err[256] = "";
    cr_assert_null(open_region(NULL, err));
    cr_assert_str_eq(err, "no AWS region: set publish.region or AWS_REGION");
}

Test(region, malformed_regions_are_refused, .init = env_clean)
{
    char err[256] = "";
    cr_assert_null(open_region("eu-west-1:evil", err));
    cr_assert_null(open_region("eu west", err));
    cr_assert_null(open_region("evil.com/x", err));
    cr_assert(strstr(err, "bad AWS region") != NULL, "%s", err);
}

Test(endpoint, defaults_and_overrides, .init = env_clean)
{
    char err[256] = "";
    gm_aws_opts_t o = {.service = "logs", .region = "us-west-2"};
    gm_aws_t *aws = gm_aws_open(&o, err, sizeof(err));
    cr_assert_not_null(aws, "%s", err);
    cr_assert_str_eq(gm_aws_endpoint(aws), "https://logs.us-west-2.amazonaws.com");
    cr_assert_null(gm_aws_credentials_source(aws), "no lookup before the first call");
    gm_aws_close(aws);

    o = (gm_aws_opts_t){.service = "monitoring", .region = "cn-north-1"};
    cr_assert_not_null(aws = gm_aws_open(&o, err, sizeof(err)), "%s", err);
    cr_assert_str_eq(gm_aws_endpoint(aws), "https://monitoring.cn-north-1.amazonaws.com.cn");
    gm_aws_close(aws);

    o = (gm_aws_opts_t){.service = "monitoring", .region = "us-east-1", .endpoint = "http://localhost:4566/"};
    cr_assert_not_null(aws = gm_aws_open(&o, err, sizeof(err)), "%s", err);
    cr_assert_str_eq(gm_aws_endpoint(aws), "http://localhost:4566");
    gm_aws_close(aws);

    o.endpoint = "HTTPS://vpce-1.monitoring.us-east-1.vpce.amazonaws.com";
    cr_assert_not_null(aws = gm_aws_open(&o, err, sizeof(err)), "%s", err);
    gm_aws_close(aws);

    const char *bad[] = {"ftp://example.com", "monitoring.us-east-1.amazonaws.com", "http://", "http://a b/",
                         "https://h/?x=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.endpoint = bad[i];
        err[0] = '\0';
        cr_assert_null(gm_aws_open(&o, err, sizeof(err)), "accepted %s", bad[i]);
        cr_assert(strstr(err, "http://") != NULL, "%s", err);
    }
    o = (gm_aws_opts_t){.service = NULL, .region = "us-east-1"};
    cr_assert_null(gm_aws_open(&o, err, sizeof(err)));
}

/* ---- signed calls ----------------------------------------------------------- */

Test(call, env_credentials_sign_the_request, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    stub_route_t routes[] = {{"POST", "/", 0, 200, "x-amzn-RequestId: r-1\r\n", "{\"ok\":true}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    const char *extra[] = {"x-amzn-logs-format: json/emf", "Content-Encoding: identity", NULL};
    /* A body with a NUL byte: the length, not strlen, is what is sent and hashed. */
    static const char body[] = "{\"a\":1}\0tail";
    gm_aws_response_t resp;
    cr_assert_eq(gm_aws_call(aws, TARGET, CT, extra, body, sizeof(body) - 1, &resp), GM_AWS_OK, "%s", resp.message);
    cr_assert_eq(resp.status, 200);
    cr_assert_str_eq(resp.body, "{\"ok\":true}");
    cr_assert_eq(resp.body_len, 11);
    cr_assert_str_eq(resp.code, "");
    cr_assert_str_eq(gm_aws_credentials_source(aws), "environment");

    const stub_req_t *r = stub_find(s, "POST", "/", 0);
    cr_assert_eq(r->body_len, sizeof(body) - 1);
    cr_assert_eq(memcmp(r->body, body, sizeof(body) - 1), 0);
    stub_assert_header(r, "X-Amz-Target", TARGET);
    stub_assert_header(r, "Content-Type", CT);
    stub_assert_header(r, "Accept", "application/json");
    stub_assert_header(r, "x-amzn-logs-format", "json/emf");
    cr_assert_null(stub_header(r, "X-Amz-Security-Token"), "no session token, no token header");
    cr_assert_null(stub_header(r, "Expect"));
    char *signed_headers = verify_sigv4(r, AKID, SECRET);
    cr_assert(strstr(signed_headers, "x-amz-target") != NULL, "signed: %s", signed_headers);
    cr_assert(strstr(signed_headers, "x-amz-security-token") == NULL, "signed: %s", signed_headers);
    free(signed_headers);

    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
}

Test(call, session_token_is_sent_and_signed, .init = env_clean)
{
    env_keys("ASIAEXAMPLE", SECRET, "FwoGZXIvYXdzEXAMPLETOKEN//+==");
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    const stub_req_t *r = stub_find(s, "POST", "/", 0);
    stub_assert_header(r, "X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLETOKEN//+==");
    char *signed_headers = verify_sigv4(r, "ASIAEXAMPLE", SECRET);
    cr_assert(strstr(signed_headers, "x-amz-security-token") != NULL, "signed: %s", signed_headers);
    free(signed_headers);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
}

Test(call, large_body_is_signed_over_100_continue, .init = env_clean)
{
    env_keys(AKID, SECRET, "SESSIONTOKEN");
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    size_t len = (size_t)3 << 19; /* 1.5 MiB: above curl's Expect threshold */
    char *body = gm_malloc(len);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    gm_aws_response_t resp;
    cr_assert_eq(gm_aws_call(aws, "Logs_20140328.PutLogEvents", "application/x-amz-json-1.1", NULL, body, len, &resp),
                 GM_AWS_OK, "%s", resp.message);
    const stub_req_t *r = stub_find(s, "POST", "/", 0);
    cr_assert_eq(r->body_len, len);
    cr_assert_eq(memcmp(r->body, body, len), 0);
    cr_assert_not_null(stub_header(r, "Expect"), "curl sent no Expect: this test no longer covers 100-continue");
    char *signed_headers = verify_sigv4(r, AKID, SECRET);
    cr_assert(strstr(signed_headers, "x-amz-security-token") != NULL, "signed: %s", signed_headers);
    free(signed_headers);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    free(body);
}

Test(call, the_connection_is_kept_alive, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
        gm_aws_response_clear(&resp);
    }
    cr_assert_eq(stub_count(s, "POST", "/"), 3);
    cr_assert_eq(s->nconns, 1, "%d connections for 3 calls", s->nconns);
    gm_aws_close(aws);
    stub_stop(s);
}

typedef struct {
    const char *name;
    stub_route_t route;
    long timeout_ms;
    gm_aws_outcome_t outcome;
    long status;
    const char *code;
    const char *message; /* a substring; NULL: any */
    double retry_after_s;
} case_t;

Test(call, outcomes_from_canned_responses, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    const case_t cases[] = {
        {"200", {"POST", "/", 0, 200, NULL, "{}"}, 0, GM_AWS_OK, 200, "", NULL, 0},
        {"throttling json",
         {"POST", "/", 0, 400, NULL,
          "{\"__type\":\"com.amazon.coral.availability#Throttling\",\"message\":\"Rate exceeded\"}"},
         0,
         GM_AWS_RETRY,
         400,
         "Throttling",
         "Rate exceeded",
         0},
        {"throttling exception",
         {"POST", "/", 0, 400, NULL, "{\"__type\":\"ThrottlingException\",\"Message\":\"slow down\"}"},
         0,
         GM_AWS_RETRY,
         400,
         "ThrottlingException",
         "slow down",
         0},
        {"429 retry-after", {"POST", "/", 0, 429, "Retry-After: 7\r\n", ""}, 0, GM_AWS_RETRY, 429, "", "HTTP 429", 7},
        {"500",
         {"POST", "/", 0, 500, NULL, "{\"__type\":\"InternalFailure\"}"},
         0,
         GM_AWS_RETRY,
         500,
         "InternalFailure",
         NULL,
         0},
        {"503 html", {"POST", "/", 0, 503, NULL, "<html>busy</html>"}, 0, GM_AWS_RETRY, 503, "", "HTTP 503", 0},
        {"invalid parameter",
         {"POST", "/", 0, 400, NULL,
          "{\"__type\":\"InvalidParameterValue\",\"message\":\"The value NaN for parameter "
          "MetricData.member.1.Value is invalid.\"}"},
         0,
         GM_AWS_REJECTED,
         400,
         "InvalidParameterValue",
         "is invalid",
         0},
        {"query-compatible header",
         {"POST", "/", 0, 400, "x-amzn-query-error: InvalidParameterCombination;Sender\r\n",
          "{\"__type\":\"com.amazonaws.cloudwatch#InvalidParameterCombinationException\",\"message\":\"no\"}"},
         0,
         GM_AWS_REJECTED,
         400,
         "InvalidParameterCombination",
         "no",
         0},
        {"error type header first",
         {"POST", "/", 0, 400, "x-amzn-ErrorType: ThrottlingException\r\n", "{\"__type\":\"Wrapped\"}"},
         0,
         GM_AWS_RETRY,
         400,
         "ThrottlingException",
         "HTTP 400 ThrottlingException",
         0},
        {"413", {"POST", "/", 0, 413, NULL, ""}, 0, GM_AWS_REJECTED, 413, "", "HTTP 413", 0},
        {"unrecognized client",
         {"POST", "/", 0, 403, NULL,
          "{\"__type\":\"UnrecognizedClientException\",\"message\":\"The security token included in the request "
          "is invalid.\"}"},
         0,
         GM_AWS_AUTH,
         403,
         "UnrecognizedClientException",
         "security token",
         0},
        {"signature via header",
         {"POST", "/", 0, 400,
          "x-amzn-ErrorType: InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/\r\n",
          ""},
         0,
         GM_AWS_AUTH,
         400,
         "InvalidSignatureException",
         NULL,
         0},
        {"expired token code",
         {"POST", "/", 0, 400, NULL, "{\"code\":\"ExpiredTokenException\"}"},
         0,
         GM_AWS_AUTH,
         400,
         "ExpiredTokenException",
         NULL,
         0},
        {"closed without answer",
         {"POST", "/", 0, 0, NULL, NULL, STUB_CLOSE},
         0,
         GM_AWS_RETRY,
         0,
         "",
         "Empty reply",
         0},
        {"timeout", {"POST", "/", 0, 0, NULL, NULL, STUB_HANG}, 300, GM_AWS_RETRY, 0, "", "timed out", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const case_t *c = &cases[i];
        stub_t *s = stub_start(&c->route, 1, NULL);
        gm_aws_t *aws = open_at(s->port, c->timeout_ms);
        gm_aws_response_t resp;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        gm_aws_outcome_t o = call(aws, &resp);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cr_assert_eq(o, c->outcome, "%s: outcome %d (%s)", c->name, o, resp.message);
        cr_assert_eq(resp.outcome, o, "%s", c->name);
        cr_assert_eq(resp.status, c->status, "%s: status %ld", c->name, resp.status);
        cr_assert_str_eq(resp.code, c->code, "%s: code %s", c->name, resp.code);
        if (c->message != NULL)
            cr_assert(strstr(resp.message, c->message) != NULL, "%s: message %s", c->name, resp.message);
        if (o != GM_AWS_OK)
            cr_assert(resp.message[0] != '\0', "%s: no message", c->name);
        cr_assert_float_eq(resp.retry_after_s, c->retry_after_s, 1e-9, "%s", c->name);
        cr_assert_not_null(resp.body, "%s", c->name);
        cr_assert(strstr(resp.message, SECRET) == NULL, "%s", c->name);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        cr_assert(secs < 3, "%s took %.1f s", c->name, secs);
        gm_aws_response_clear(&resp);
        gm_aws_close(aws);
        stub_stop(s);
    }
}

Test(call, connection_refused_is_retry, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    gm_aws_t *aws = open_at(stub_free_port(), 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_RETRY);
    cr_assert_eq(resp.status, 0);
    cr_assert(resp.message[0] != '\0');
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
}

Test(call, oversized_response_is_an_error, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, NULL, STUB_ANSWER, (size_t)9 << 20}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_RETRY);
    cr_assert(strstr(resp.message, "8 MiB") != NULL, "%s", resp.message);
    cr_assert_str_eq(resp.body, "");
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
}

Test(call, malformed_extra_headers_are_refused_without_a_request, .init = env_clean)
{
    env_keys(AKID, SECRET, NULL);
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    const char *bad[] = {"X-Evil: a\r\nX-Injected: b", "No-Colon", ": no name",
                         "Accept:" /* removes a header: signed yet never sent */, "Accept:  "};
    gm_aws_response_t resp;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *extra[] = {bad[i], NULL};
        cr_assert_eq(gm_aws_call(aws, TARGET, CT, extra, "{}", 2, &resp), GM_AWS_REJECTED, "accepted %s", bad[i]);
        cr_assert(strstr(resp.message, "bad request") != NULL, "%s", resp.message);
        gm_aws_response_clear(&resp);
    }
    cr_assert_eq(gm_aws_call(aws, NULL, CT, NULL, "{}", 2, &resp), GM_AWS_REJECTED);
    gm_aws_response_clear(&resp);
    cr_assert_eq(stub_count(s, "POST", "/"), 0);
    gm_aws_close(aws);
    stub_stop(s);
}

/* ---- the credentials chain -------------------------------------------------- */

Test(chain, credentials_are_cached_until_aws_refuses_them, .init = env_clean)
{
    env_keys("AKIDFIRST", SECRET, NULL);
    stub_route_t routes[] = {
        {"POST", "/", 1, 200, NULL, "{}"},
        {"POST", "/", 1, 403, NULL, "{\"__type\":\"UnrecognizedClientException\",\"message\":\"bad\"}"},
        {"POST", "/", 0, 200, NULL, "{}"},
    };
    stub_t *s = stub_start(routes, 3, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    gm_aws_response_clear(&resp);

    env_keys("AKIDSECOND", "anothersecretkey", NULL); /* rotated */
    cr_assert_eq(call(aws, &resp), GM_AWS_AUTH, "%s", resp.message);
    gm_aws_response_clear(&resp);
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    gm_aws_response_clear(&resp);

    free(verify_sigv4(stub_find(s, "POST", "/", 0), "AKIDFIRST", SECRET));
    free(verify_sigv4(stub_find(s, "POST", "/", 1), "AKIDFIRST", SECRET)); /* still cached */
    free(verify_sigv4(stub_find(s, "POST", "/", 2), "AKIDSECOND", "anothersecretkey"));
    gm_aws_close(aws);
    stub_stop(s);
}

Test(chain, no_credentials_names_the_sources_tried, .init = env_clean)
{
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
    cr_assert_eq(resp.status, 0);
    cr_assert_str_eq(resp.body, "");
    const char *names[] = {"no AWS credentials",
                           "environment",
                           "shared file profile default",
                           "not found",
                           "container endpoint",
                           "IMDSv2",
                           "disabled"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert(strstr(resp.message, names[i]) != NULL, "no \"%s\" in: %s", names[i], resp.message);
    cr_assert_null(gm_aws_credentials_source(aws));
    cr_assert_eq(stub_count(s, "POST", "/"), 0);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
}

Test(chain, shared_file_profile_from_aws_profile, .init = env_clean)
{
    char *path = write_temp("[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = nope\n"
                            "[ci]\naws_access_key_id = AKIAFILECI\naws_secret_access_key = filesecret/ci+key\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "ci", 1);
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    cr_assert_str_eq(gm_aws_credentials_source(aws), "shared file profile ci");
    free(verify_sigv4(stub_find(s, "POST", "/", 0), "AKIAFILECI", "filesecret/ci+key"));
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    unlink(path);
    free(path);
}

Test(chain, environment_comes_before_the_file, .init = env_clean)
{
    char *path = write_temp("[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    env_keys(AKID, SECRET, NULL);
    stub_route_t routes[] = {{"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    free(verify_sigv4(stub_find(s, "POST", "/", 0), AKID, SECRET));
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    unlink(path);
    free(path);
}

static char *creds_json(const char *akid, const char *secret, const char *token, int64_t expires_in_ms)
{
    char exp[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    gm_time_format_iso8601((int64_t)ts.tv_sec * 1000 + expires_in_ms, exp, sizeof(exp));
    return gm_asprintf("{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\","
                       "\"Token\":\"%s\",\"Expiration\":\"%s\"}",
                       akid, secret, token, exp);
}

static void set_full_uri(int port, const char *path)
{
    char *uri = gm_asprintf("http://127.0.0.1:%d%s", port, path);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    free(uri);
}

Test(chain, container_endpoint_with_authorization_token, .init = env_clean)
{
    char *json = creds_json("ASIACONTAINER", "containersecret", "containertoken", 3600 * 1000);
    stub_route_t routes[] = {
        {"GET", "/creds", 0, 200, NULL, json},
        {"POST", "/", 0, 200, NULL, "{}"},
    };
    stub_t *s = stub_start(routes, 2, NULL);
    set_full_uri(s->port, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0", 1);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    gm_aws_response_clear(&resp);
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    gm_aws_response_clear(&resp);
    cr_assert_str_eq(gm_aws_credentials_source(aws), "container endpoint");

    cr_assert_eq(stub_count(s, "GET", "/creds"), 1, "cached while far from expiry");
    stub_assert_header(stub_find(s, "GET", "/creds", 0), "Authorization", "Basic c2VjcmV0");
    for (size_t i = 0; i < 2; i++) {
        const stub_req_t *r = stub_find(s, "POST", "/", i);
        stub_assert_header(r, "X-Amz-Security-Token", "containertoken");
        free(verify_sigv4(r, "ASIACONTAINER", "containersecret"));
    }
    gm_aws_close(aws);
    stub_stop(s);
    free(json);
}

Test(chain, container_token_file_wins_over_the_variable, .init = env_clean)
{
    char *json = creds_json("ASIACONTAINER", "containersecret", "t", 3600 * 1000);
    stub_route_t routes[] = {{"GET", "/creds", 0, 200, NULL, json}, {"POST", "/", 0, 200, NULL, "{}"}};
    stub_t *s = stub_start(routes, 2, NULL);
    char *file = write_temp("token-from-file\n");
    set_full_uri(s->port, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token-from-env", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file, 1);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    stub_assert_header(stub_find(s, "GET", "/creds", 0), "Authorization", "token-from-file");
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    unlink(file);
    free(file);
    free(json);
}

Test(chain, container_full_uri_plain_http_only_to_local_addresses, .init = env_clean)
{
    const char *refused[] = {"http://10.1.2.3/creds", "http://169.254.169.254/creds", "http://example.com/creds",
                             "http://127.0.0.1@example.com/creds", "ftp://127.0.0.1/creds"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i], 1);
        gm_aws_t *aws = open_at(stub_free_port(), 0);
        gm_aws_response_t resp;
        cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
        cr_assert(strstr(resp.message, "container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI refused") != NULL,
                  "%s: %s", refused[i], resp.message);
        gm_aws_response_clear(&resp);
        gm_aws_close(aws);
    }
    /* Allowed (nothing listens there, so the lookup fails later, not here). */
    int port = stub_free_port();
    char *allowed[] = {gm_asprintf("http://127.0.0.2:%d/creds", port), gm_asprintf("http://[::1]:%d/creds", port)};
    for (size_t i = 0; i < 2; i++) {
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", allowed[i], 1);
        gm_aws_t *aws = open_at(port, 0);
        gm_aws_response_t resp;
        cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
        cr_assert(strstr(resp.message, "container endpoint (") != NULL, "%s", resp.message);
        cr_assert(strstr(resp.message, "refused") == NULL, "%s: %s", allowed[i], resp.message);
        gm_aws_response_clear(&resp);
        gm_aws_close(aws);
        free(allowed[i]);
    }
}

Test(chain, temporary_credentials_are_refreshed_before_expiry, .init = env_clean)
{
    char *near = creds_json("ASIANEAR", "nearsecret", "neartoken", 2 * 60 * 1000); /* within 5 minutes */
    char *far = creds_json("ASIAFAR", "farsecret", "fartoken", 3600 * 1000);
    stub_route_t routes[] = {
        {"GET", "/creds", 1, 200, NULL, near},
        {"GET", "/creds", 0, 200, NULL, far},
        {"POST", "/", 0, 200, NULL, "{}"},
    };
    stub_t *s = stub_start(routes, 3, NULL);
    set_full_uri(s->port, "/creds");
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
        gm_aws_response_clear(&resp);
    }
    cr_assert_eq(stub_count(s, "GET", "/creds"), 2);
    free(verify_sigv4(stub_find(s, "POST", "/", 0), "ASIANEAR", "nearsecret"));
    free(verify_sigv4(stub_find(s, "POST", "/", 1), "ASIAFAR", "farsecret"));
    free(verify_sigv4(stub_find(s, "POST", "/", 2), "ASIAFAR", "farsecret"));
    gm_aws_close(aws);
    stub_stop(s);
    free(near);
    free(far);
}

Test(chain, failed_refresh_keeps_still_valid_credentials, .init = env_clean)
{
    char *near = creds_json("ASIANEAR", "nearsecret", "neartoken", 2 * 60 * 1000);
    stub_route_t routes[] = {
        {"GET", "/creds", 1, 200, NULL, near},
        {"GET", "/creds", 0, 500, NULL, "{}"},
        {"POST", "/", 0, 200, NULL, "{}"},
    };
    stub_t *s = stub_start(routes, 3, NULL);
    set_full_uri(s->port, "/creds");
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
        cr_assert_str_eq(resp.message, "", "an OK call says nothing of the failed refresh");
        gm_aws_response_clear(&resp);
    }
    /* One fetch, one failed refresh, then a pause before the next try. */
    cr_assert_eq(stub_count(s, "GET", "/creds"), 2);
    free(verify_sigv4(stub_find(s, "POST", "/", 2), "ASIANEAR", "nearsecret"));
    gm_aws_close(aws);
    stub_stop(s);
    free(near);
}

#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"

Test(chain, imdsv2_token_then_role_then_credentials, .init = env_clean)
{
    unsetenv("AWS_EC2_METADATA_DISABLED");
    char *json = creds_json("ASIAIMDS", "imdssecret", "imdstoken", 6 * 3600 * 1000LL);
    stub_route_t routes[] = {
        {"PUT", "/latest/api/token", 0, 200, NULL, "AQAEAimds-session-token=="},
        {"GET", ROLE_PATH, 0, 200, NULL, "gm-instance-role\n"},
        {"GET", ROLE_PATH "gm-instance-role", 0, 200, NULL, json},
        {"POST", "/", 0, 200, NULL, "{}"},
    };
    stub_t *s = stub_start(routes, 4, NULL);
    char *endpoint = gm_asprintf("http://127.0.0.1:%d/", s->port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_OK, "%s", resp.message);
    cr_assert_str_eq(gm_aws_credentials_source(aws), "IMDSv2");
    gm_aws_response_clear(&resp);

    stub_assert_header(stub_find(s, "PUT", "/latest/api/token", 0), "X-aws-ec2-metadata-token-ttl-seconds", "21600");
    stub_assert_header(stub_find(s, "GET", ROLE_PATH, 0), "X-aws-ec2-metadata-token", "AQAEAimds-session-token==");
    stub_assert_header(stub_find(s, "GET", ROLE_PATH "gm-instance-role", 0), "X-aws-ec2-metadata-token",
                       "AQAEAimds-session-token==");
    const stub_req_t *r = stub_find(s, "POST", "/", 0);
    stub_assert_header(r, "X-Amz-Security-Token", "imdstoken");
    free(verify_sigv4(r, "ASIAIMDS", "imdssecret"));
    /* Order: token, role, credentials, then the call. */
    cr_assert_str_eq(stub_req(s, 0)->method, "PUT");
    cr_assert_str_eq(stub_req(s, 1)->path, ROLE_PATH);
    cr_assert_str_eq(stub_req(s, 2)->path, ROLE_PATH "gm-instance-role");
    cr_assert_str_eq(stub_req(s, 3)->method, "POST");
    gm_aws_close(aws);
    stub_stop(s);
    free(endpoint);
    free(json);
}

Test(chain, imds_failure_is_named, .init = env_clean)
{
    unsetenv("AWS_EC2_METADATA_DISABLED");
    stub_route_t routes[] = {{"PUT", "/latest/api/token", 0, 403, NULL, ""}};
    stub_t *s = stub_start(routes, 1, NULL);
    char *endpoint = gm_asprintf("http://127.0.0.1:%d", s->port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
    cr_assert(strstr(resp.message, "IMDSv2 (token: HTTP 403)") != NULL, "%s", resp.message);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    free(endpoint);
}

/* ---- secrets never leak into messages --------------------------------------- */

Test(secrets, never_in_messages, .init = env_clean)
{
    /* AWS's message echoing the secret (it does not, but if it ever did). */
    env_keys(AKID, SECRET, "SESSIONTOKENVALUE123");
    char *echo = gm_asprintf("{\"__type\":\"InvalidSignatureException\",\"message\":\"key " SECRET
                             " token SESSIONTOKENVALUE123 is wrong\"}");
    stub_route_t routes[] = {{"POST", "/", 0, 403, NULL, echo}};
    stub_t *s = stub_start(routes, 1, NULL);
    gm_aws_t *aws = open_at(s->port, 0);
    gm_aws_response_t resp;
    cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
    cr_assert(strstr(resp.message, "key ") != NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, SECRET) == NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, "wJalrXUtnFEMI") == NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, "SESSIONTOKENVALUE123") == NULL, "%s", resp.message);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    free(echo);

    /* Sources that hold a secret but fail: the reasons name no value. */
    env_clean();
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    char *path = write_temp("[default]\naws_secret_access_key = " SECRET "\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    stub_route_t bad_container[] = {
        {"GET", "/creds", 0, 200, NULL, "{\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"T\"}"}};
    s = stub_start(bad_container, 1, NULL);
    set_full_uri(s->port, "/creds");
    aws = open_at(s->port, 0);
    cr_assert_eq(call(aws, &resp), GM_AWS_AUTH);
    cr_assert(strstr(resp.message, "environment (AWS_ACCESS_KEY_ID not set)") != NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, "has no aws_access_key_id") != NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, "lacks AccessKeyId") != NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, SECRET) == NULL, "%s", resp.message);
    cr_assert(strstr(resp.message, "wJalrXUtnFEMI") == NULL, "%s", resp.message);
    gm_aws_response_clear(&resp);
    gm_aws_close(aws);
    stub_stop(s);
    unlink(path);
    free(path);
}
