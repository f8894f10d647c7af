/* gm_lambda: the custom-runtime loop over the Lambda Runtime API (see
 * gm/lambda.h for the contract).
 *
 * One libcurl handle, reused: the API is a local HTTP/1.1 server and keeps the
 * connection open between invocations. No request has a timeout, as AWS asks:
 * the sandbox is frozen between invocations (and may be frozen right after a
 * response is posted), and a timer running across a freeze would fail a call
 * that was never in trouble. */
#include "gm/lambda.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gm/alloc.h"
#include "gm/util.h"
#include "gm/http.h"
#include "gm/log.h"

#define API_VERSION "2018-06-01"
/* Lambda delivers at most 6 MB; anything larger is not an event it sent. */
#define MAX_EVENT ((size_t)6 << 20)
/* The API's answers to our POSTs: {"status":"OK"} or a short error. */
#define MAX_ANSWER ((size_t)64 << 10)
/* The API is on the same host: a failure that outlasts a few quick tries
 * means the sandbox is going away, not a network blip. */
#define NEXT_ATTEMPTS 3
#define NEXT_BACKOFF_MS 100

#define TYPE_UNMARSHAL "Runtime.UnmarshalError"
#define TYPE_MARSHAL "Runtime.MarshalError"
#define TYPE_HANDLER "Handler.Error"
#define TYPE_INIT "Runtime.InitError"

typedef struct {
    CURL *curl;
    char *base; /* "http://host:port/2018-06-01/runtime" */
    char errbuf[CURL_ERROR_SIZE];
    gm_http_body_t body;
    /* From the last answer's headers (owned; NULL when absent). */
    char *request_id, *deadline, *function_arn, *trace_id;
} rt_t;

typedef enum { PERFORM_OK = 0, PERFORM_TOO_BIG = 1, PERFORM_FAILED = -1 } perform_rc_t;

static void clear_headers(rt_t *rt)
{
    free(rt->request_id);
    free(rt->deadline);
    free(rt->function_arn);
    free(rt->trace_id);
    rt->request_id = rt->deadline = rt->function_arn = rt->trace_id = NULL;
}

static void keep_header(char **slot, const char *line, size_t len, const char *name)
{
    size_t vlen;
    const char *v = gm_http_header_value(line, len, name, &vlen);
    if (v != NULL) {
        free(*slot);
        *slot = gm_strndup(v, vlen);
    }
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    rt_t *rt = userdata;
    size_t len = size * nitems;
    keep_header(&rt->request_id, buf, len, "Lambda-Runtime-Aws-Request-Id");
    keep_header(&rt->deadline, buf, len, "Lambda-Runtime-Deadline-Ms");
    keep_header(&rt->function_arn, buf, len, "Lambda-Runtime-Invoked-Function-Arn");
    keep_header(&rt->trace_id, buf, len, "Lambda-Runtime-Trace-Id");
    return len;
}

/* AWS_LAMBDA_RUNTIME_API is "host:port"; anything else would let the value
 * reshape the URLs built from it. */
static bool valid_api(const char *api)
{
    if (api == NULL || *api == '\0' || strlen(api) > 255)
        return false;
    for (const char *p = api; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static void rt_close(rt_t *rt)
{
    if (rt->curl != NULL) {
        curl_easy_cleanup(rt->curl);
        curl_global_cleanup();
    }
    clear_headers(rt);
    gm_http_body_wipe(&rt->body);
    free(rt->base);
    memset(rt, 0, sizeof(*rt));
}

static int rt_open(rt_t *rt, const char *api, char *err, size_t errlen)
{
    memset(rt, 0, sizeof(*rt));
    if (!valid_api(api)) {
        gm_errf(err, errlen, "runtime API address '%.64s' is not host:port", api != NULL ? api : "");
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        gm_errf(err, errlen, "libcurl initialisation failed");
        return -1;
    }
    rt->curl = curl_easy_init();
    if (rt->curl == NULL) {
        curl_global_cleanup();
        gm_errf(err, errlen, "libcurl initialisation failed");
        return -1;
    }
    rt->base = gm_asprintf("http://%s/" API_VERSION "/runtime", api);
    CURL *c = rt->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* a local endpoint: never through a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "gha-metrics/" GM_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gm_http_body_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rt->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rt);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rt->errbuf);
    return 0;
}

/* One request to base + path. body NULL = GET. On PERFORM_OK, *status is
 * the HTTP status and rt->body the answer; PERFORM_TOO_BIG when the answer
 * exceeded max (the headers were still read). */
static perform_rc_t perform(rt_t *rt, const char *path, const char *body, size_t len, const char *errtype, size_t max,
                            long *status, char *err, size_t errlen)
{
    CURL *c = rt->curl;
    char *url = gm_asprintf("%s%s", rt->base, path);
    struct curl_slist *h = NULL;
    char *type_header = NULL;
    clear_headers(rt);
    gm_http_body_wipe(&rt->body);
    gm_http_body_init(&rt->body, max, 0);
    rt->errbuf[0] = '\0';
    *status = 0;

    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        h = gm_http_header(h, "Content-Type: application/json");
        h = gm_http_header(h, "Expect:"); /* no 100-continue round trip for bodies over 1 KiB */
        if (errtype != NULL) {
            type_header = gm_asprintf("Lambda-Runtime-Function-Error-Type: %s", errtype);
            h = gm_http_header(h, type_header);
        }
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, len > 0 ? body : "");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode res = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(h);
    free(type_header);

    perform_rc_t rc = PERFORM_OK;
    if (res == CURLE_OK || (res == CURLE_WRITE_ERROR && rt->body.too_big)) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        rc = res == CURLE_OK ? PERFORM_OK : PERFORM_TOO_BIG;
    } else {
        gm_errf(err, errlen, "%s %s: %s", body == NULL ? "GET" : "POST", url,
                rt->errbuf[0] != '\0' ? rt->errbuf : curl_easy_strerror(res));
        rc = PERFORM_FAILED;
    }
    free(url);
    return rc;
}

/* What an API refusal said, for an error message: its errorType and
 * errorMessage when JSON, else the start of the text (printable ASCII only). */
static void describe_refusal(const rt_t *rt, char *out, size_t outlen)
{
    out[0] = '\0';
    if (rt->body.data == NULL || rt->body.len == 0)
        return;
    json_t *j = json_loadb(rt->body.data, rt->body.len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "errorType"));
    const char *msg = json_string_value(json_object_get(j, "errorMessage"));
    if (type != NULL || msg != NULL) {
        snprintf(out, outlen, ": %.64s%s%.300s", type != NULL ? type : "", type != NULL && msg != NULL ? ": " : "",
                 msg != NULL ? msg : "");
    } else {
        size_t n = 0;
        if (outlen > 2) {
            out[n++] = ':';
            out[n++] = ' ';
        }
        for (size_t i = 0; i < rt->body.len && n + 1 < outlen && i < 200; i++) {
            unsigned char ch = (unsigned char)rt->body.data[i];
            out[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
        }
        out[n] = '\0';
    }
    json_decref(j);
}

/* A value safe for a header line and for a JSON string: control characters
 * and non-ASCII bytes become '_'. Newly allocated. */
static char *header_safe(const char *s)
{
    char *out = gm_strdup(s);
    for (char *p = out; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch >= 0x7f)
            *p = '_';
    }
    return out;
}

/* A JSON string of s; when s is not valid UTF-8 (a handler's message, or
 * jansson quoting bytes of a broken event), its non-ASCII bytes become '?'. */
static json_t *json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    char *copy = gm_strdup(s);
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* {"errorMessage": message, "errorType": errtype}, newly allocated. */
static char *error_body(const char *errtype, const char *message)
{
    json_t *o = json_object();
    json_object_set_new(o, "errorMessage", json_string_lossy(message));
    json_object_set_new(o, "errorType", json_string(errtype));
    char *s = gm_need(json_dumps(o, JSON_COMPACT)); /* only out of memory fails it */
    json_decref(o);
    return s;
}

/* POSTs an invocation's answer (errtype NULL: /response, else /error).
 * Returns -1 only when the API could not be reached; a refusal is logged:
 * Lambda has settled the invocation either way, and the next /next tells
 * whether the sandbox carries on. */
static int post_answer(rt_t *rt, const char *request_id, const char *errtype, const char *body, char *err,
                       size_t errlen)
{
    char *id = curl_easy_escape(rt->curl, request_id, 0);
    if (id == NULL)
        abort();
    char *path = gm_asprintf("/invocation/%s/%s", id, errtype == NULL ? "response" : "error");
    curl_free(id);
    long status;
    perform_rc_t rc = perform(rt, path, body, strlen(body), errtype, MAX_ANSWER, &status, err, errlen);
    int ret = 0;
    if (rc == PERFORM_FAILED) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err != NULL && errlen > 0 ? err : "");
        gm_errf(err, errlen, "the runtime API is unreachable: %s", why);
        ret = -1;
    } else if (status != 202) {
        char why[512];
        describe_refusal(rt, why, sizeof(why));
        GM_WARN("lambda", "the runtime API answered %ld to POST %s for invocation %.128s%s", status, path, request_id,
                why);
    }
    free(path);
    return ret;
}

static int post_error(rt_t *rt, const char *request_id, const char *errtype, const char *message, char *err,
                      size_t errlen)
{
    char *type = header_safe(errtype);
    char *body = error_body(type, message);
    int rc = post_answer(rt, request_id, type, body, err, errlen);
    free(body);
    free(type);
    return rc;
}

/* GET /next, a few quick tries when the API cannot be reached. Returns
 * PERFORM_OK or PERFORM_TOO_BIG with a 200 and a request id, else -1 with
 * the reason. */
static perform_rc_t next_invocation(rt_t *rt, char *err, size_t errlen)
{
    long status = 0;
    perform_rc_t rc = PERFORM_FAILED;
    for (int attempt = 0; attempt < NEXT_ATTEMPTS; attempt++) {
        if (attempt > 0)
            gm_sleep_ms((long)NEXT_BACKOFF_MS << (attempt - 1));
        rc = perform(rt, "/invocation/next", NULL, 0, NULL, MAX_EVENT, &status, err, errlen);
        if (rc != PERFORM_FAILED)
            break;
    }
    if (rc == PERFORM_FAILED) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err != NULL && errlen > 0 ? err : "");
        gm_errf(err, errlen, "the runtime API is unreachable (%d tries): %s", NEXT_ATTEMPTS, why);
        return PERFORM_FAILED;
    }
    if (status != 200) {
        char why[512];
        describe_refusal(rt, why, sizeof(why));
        gm_errf(err, errlen, "the runtime API answered %ld to /invocation/next%s", status, why);
        return PERFORM_FAILED;
    }
    if (rt->request_id == NULL || rt->request_id[0] == '\0') {
        gm_errf(err, errlen, "the runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id");
        return PERFORM_FAILED;
    }
    return rc;
}

static int64_t parse_deadline(const char *s)
{
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* Runs the handler on the invocation just received and posts its answer.
 * Returns -1 only when the API could not be reached. */
static int handle(rt_t *rt, perform_rc_t got, gm_lambda_handler_fn fn, void *ctx, char *err, size_t errlen)
{
    /* The header strings are freed by the next request: the answer's POST. */
    char *request_id = gm_strdup(rt->request_id);
    char *function_arn = gm_strdup(rt->function_arn != NULL ? rt->function_arn : "");
    char *trace_id = rt->trace_id != NULL ? gm_strdup(rt->trace_id) : NULL;
    gm_lambda_invocation_t inv = {
        .request_id = request_id,
        .deadline_ms = parse_deadline(rt->deadline),
        .function_arn = function_arn,
        .trace_id = trace_id,
    };
    /* The X-Ray SDKs and anything the handler calls read the trace from here. */
    if (trace_id != NULL)
        setenv("_X_AMZN_TRACE_ID", trace_id, 1);
    else
        unsetenv("_X_AMZN_TRACE_ID");

    int rc;
    json_error_t jerr;
    const char *text = rt->body.data != NULL ? rt->body.data : "";
    json_t *event = got == PERFORM_OK ? json_loadb(text, rt->body.len, JSON_DECODE_ANY, &jerr) : NULL;
    if (got == PERFORM_TOO_BIG) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the event is larger than %zu bytes", MAX_EVENT);
        rc = post_error(rt, request_id, TYPE_UNMARSHAL, msg, err, errlen);
    } else if (event == NULL) {
        char msg[512];
        snprintf(msg, sizeof(msg), "the event is not JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        rc = post_error(rt, request_id, TYPE_UNMARSHAL, msg, err, errlen);
    } else {
        gm_http_body_wipe(&rt->body); /* the event may be large: not kept across the handler */
        char errtype[GM_LAMBDA_ERRTYPE_MAX] = "", msg[GM_LAMBDA_ERRMSG_MAX] = "";
        json_t *out = fn(ctx, event, &inv, errtype, sizeof(errtype), msg, sizeof(msg));
        json_decref(event);
        errtype[sizeof(errtype) - 1] = '\0';
        msg[sizeof(msg) - 1] = '\0';
        if (out == NULL) {
            rc = post_error(rt, request_id, errtype[0] != '\0' ? errtype : TYPE_HANDLER,
                            msg[0] != '\0' ? msg : "handler failed", err, errlen);
        } else {
            char *s = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(out);
            if (s == NULL) {
                rc = post_error(rt, request_id, TYPE_MARSHAL, "the handler's result could not be serialised", err,
                                errlen);
            } else {
                rc = post_answer(rt, request_id, NULL, s, err, errlen);
                free(s);
            }
        }
    }
    free(request_id);
    free(function_arn);
    free(trace_id);
    return rc;
}

int gm_lambda_run(const char *runtime_api, gm_lambda_handler_fn fn, void *ctx, unsigned max_invocations, char *err,
                  size_t errlen)
{
    if (fn == NULL) {
        gm_errf(err, errlen, "no handler");
        return -1;
    }
    rt_t rt;
    if (rt_open(&rt, runtime_api, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (unsigned n = 0; max_invocations == 0 || n < max_invocations; n++) {
        perform_rc_t got = next_invocation(&rt, err, errlen);
        if (got == PERFORM_FAILED || handle(&rt, got, fn, ctx, err, errlen) != 0) {
            rc = -1;
            break;
        }
    }
    rt_close(&rt);
    return rc;
}

int gm_lambda_init_error(const char *runtime_api, const char *errtype, const char *message, char *err, size_t errlen)
{
    rt_t rt;
    if (rt_open(&rt, runtime_api, err, errlen) != 0)
        return -1;
    char *type = header_safe(errtype != NULL && errtype[0] != '\0' ? errtype : TYPE_INIT);
    char *body = error_body(type, message != NULL ? message : "");
    long status;
    int rc = 0;
    if (perform(&rt, "/init/error", body, strlen(body), type, MAX_ANSWER, &status, err, errlen) == PERFORM_FAILED) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err != NULL && errlen > 0 ? err : "");
        gm_errf(err, errlen, "the runtime API is unreachable: %s", why);
        rc = -1;
    } else if (status != 202) {
        char why[512];
        describe_refusal(&rt, why, sizeof(why));
        gm_errf(err, errlen, "the runtime API answered %ld to /init/error%s", status, why);
        rc = -1;
    }
    free(body);
    free(type);
    rt_close(&rt);
    return rc;
}

int64_t gm_lambda_remaining_ms(const gm_lambda_invocation_t *inv)
{
    if (inv == NULL || inv->deadline_ms <= 0)
        return INT64_MAX;
    return inv->deadline_ms - gm_wall_ms();
}
