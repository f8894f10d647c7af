/* gm_lambda: the AWS Lambda custom-runtime loop (provided.al2023), so that
 * gha-metrics itself can be a function's `bootstrap`.
 *
 * The Runtime API (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01):
 *  - GET  /runtime/invocation/next: long poll for the next event (the body)
 *    and its Lambda-Runtime-Aws-Request-Id, -Deadline-Ms,
 *    -Invoked-Function-Arn and -Trace-Id headers;
 *  - POST /runtime/invocation/{id}/response with the handler's JSON result;
 *  - POST /runtime/invocation/{id}/error with {"errorMessage","errorType"}
 *    and the header Lambda-Runtime-Function-Error-Type;
 *  - POST /runtime/init/error when start-up fails, before the first /next.
 * No request to it has a timeout: Lambda freezes the process between
 * invocations, and a timer running across a freeze would fire for nothing.
 *
 * The loop survives its invocations: a handler error, an event that is not
 * JSON ("Runtime.UnmarshalError") or larger than the 6 MB Lambda allows, and a
 * result that cannot be serialised ("Runtime.MarshalError") are each
 * reported for that invocation, and the loop takes the next event. It ends
 * only when the Runtime API cannot be reached or refuses /next (Lambda is
 * shutting the sandbox down), or after max_invocations. An answer the API
 * refuses (4xx) is logged (module "lambda") and the loop goes on: Lambda has
 * then already settled that invocation.
 *
 * Threads: gm_lambda_run is meant for the main thread of a process that is a
 * Lambda runtime. Before each handler call it sets _X_AMZN_TRACE_ID (setenv;
 * unsetenv when the event carried no trace header), so no other thread may
 * read or change the environment while it runs. The handler runs on the
 * calling thread.
 *
 * Ownership: the event and the invocation's strings belong to the loop and
 * are valid during the handler call only. The handler's result is a new
 * reference the loop releases. Errors come back in (err, errlen); nothing here
 * prints except the per-invocation warnings above. */
#ifndef GM_LAMBDA_H
#define GM_LAMBDA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
    const char *request_id;   /* Lambda-Runtime-Aws-Request-Id; never NULL */
    int64_t deadline_ms;      /* epoch ms from Lambda-Runtime-Deadline-Ms; 0 when absent */
    const char *function_arn; /* Lambda-Runtime-Invoked-Function-Arn; "" when absent */
    const char *trace_id;     /* Lambda-Runtime-Trace-Id (also in _X_AMZN_TRACE_ID); NULL when absent */
} gm_lambda_invocation_t;

/* Sizes of the buffers the loop hands a handler for its error. */
#define GM_LAMBDA_ERRTYPE_MAX 128
#define GM_LAMBDA_ERRMSG_MAX 2048

/* Returns the response (a new reference the loop owns; any JSON value) or
 * NULL with errtype/err filled (both arrive as empty strings; an empty
 * errtype is sent as "Handler.Error", an empty err as "handler failed"). */
typedef json_t *(*gm_lambda_handler_fn)(void *ctx, const json_t *event, const gm_lambda_invocation_t *inv,
                                        char *errtype, size_t errtypelen, char *err, size_t errlen);

/* Runs the loop against runtime_api ("host:port", the value of
 * AWS_LAMBDA_RUNTIME_API). max_invocations 0 = until the API goes away.
 * Returns 0 when it ended normally (max reached), -1 with the reason (the
 * API unreachable, /next refused, an invocation without a request id). */
int gm_lambda_run(const char *runtime_api, gm_lambda_handler_fn fn, void *ctx, unsigned max_invocations, char *err,
                  size_t errlen);

/* Reports an initialisation failure (POST /runtime/init/error) with the body
 * {"errorMessage": message, "errorType": errtype}; errtype NULL or "" means
 * "Runtime.InitError". Lambda accepts it only before the first /next; the
 * process should exit afterwards. Returns 0 when accepted (202), -1 with the
 * reason otherwise. */
int gm_lambda_init_error(const char *runtime_api, const char *errtype, const char *message, char *err, size_t errlen);

/* Milliseconds left before the invocation's deadline (negative once past),
 * or INT64_MAX when Lambda gave no deadline: for a handler that must stop a
 * long job in time to answer. */
int64_t gm_lambda_remaining_ms(const gm_lambda_invocation_t *inv);

#endif
