/* gm_server: the h2o front end.
 *
 * Binds every configured listener once per event-loop thread (SO_REUSEPORT,
 * so the kernel spreads connections), runs the loops, and on SIGTERM or
 * SIGINT stops accepting, lets requests in flight finish (bounded by
 * server.shutdown_timeout) and returns. SIGHUP reopens the sink's files.
 *
 * gm_server_run blocks the calling thread, which must be the main thread:
 * it takes over signal handling (it blocks the signals before starting
 * threads and waits for them with sigwait). Returns 0 after a clean stop, or
 * -1 with the reason (a listener that cannot bind, a TLS file that does not
 * load) before anything was started. */
#ifndef GM_SERVER_H
#define GM_SERVER_H

#include <stddef.h>

#include "gm/app.h"

int gm_server_run(gm_app_t *app, char *err, size_t errlen);

#endif
