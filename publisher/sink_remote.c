/* The remote sink: outbox on disk, publisher thread, durable in-flight
 * requests. The protocol is described in include/gm/remote.h. */
#define _GNU_SOURCE
#include "gm/remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "gm/alloc.h"
#include "gm/checkpoint.h"
#include "gm/log.h"
#include "gm/spool.h"
#include "gm/util.h"

#include "sink_remote_internal.h"

#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define READ_BATCH 5000
#define SHUTDOWN_SEND_MS 10000

int64_t gm_remote_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pos_before(gm_spool_pos_t a, gm_spool_pos_t b)
{
    return a.segment < b.segment || (a.segment == b.segment && a.offset < b.offset);
}

static void count_code(remote_t *r, const char *code)
{
    const char *c = code[0] ? code : "transport";
    for (int i = 0; i < MAX_CODES; i++) {
        if (r->codes[i].code[0] == '\0')
            snprintf(r->codes[i].code, sizeof(r->codes[i].code), "%s", c);
        if (strcmp(r->codes[i].code, c) == 0) {
            r->codes[i].count++;
            return;
        }
    }
}

/* --- the publisher's own files ------------------------------------------- */

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = gm_asprintf("%s/%s", dir, de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static json_t *pos_json(gm_spool_pos_t p)
{
    return json_pack("{s:I, s:I}", "outbox_segment", (json_int_t)p.segment, "outbox_offset", (json_int_t)p.offset);
}

static int pos_from_json(const json_t *o, gm_spool_pos_t *p)
{
    json_int_t seg, off;
    if (o == NULL || json_unpack((json_t *)o, "{s:I, s:I}", "outbox_segment", &seg, "outbox_offset", &off) != 0 ||
        seg < 1 || off < 0)
        return -1;
    *p = (gm_spool_pos_t){(uint64_t)seg, (uint64_t)off};
    return 0;
}

static int save_cursor(remote_t *r, gm_spool_pos_t pos)
{
    json_t *o = pos_json(pos);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = gm_write_file_atomic(r->dir, "cursor.json", text, strlen(text));
    free(text);
    return rc;
}

static gm_spool_pos_t load_cursor(const char *path)
{
    gm_spool_pos_t p = {1, 0};
    json_t *o = json_load_file(path, 0, NULL);
    if (o != NULL && pos_from_json(o, &p) != 0)
        p = (gm_spool_pos_t){1, 0};
    json_decref(o);
    return p;
}

static void dead_letter(remote_t *r, const char *what, size_t len, const char *reason)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s%}", "at_ms", (json_int_t)gm_remote_now_ms(), "sink", r->client->name, "reason",
                          reason, "item", what, len);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text != NULL) {
        int fd = open(r->dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd >= 0) {
            size_t n = strlen(text);
            text[n] = '\n'; /* the terminator's byte becomes the line's end */
            ssize_t w = write(fd, text, n + 1);
            (void)w;
            (void)fdatasync(fd);
            close(fd);
        }
        free(text);
    }
    pthread_mutex_lock(&r->lock);
    r->dead_letters++;
    pthread_mutex_unlock(&r->lock);
    GM_WARN("publisher", "%s: set aside in %s: %s", r->client->name, r->dead_letter, reason);
}

/* --- sending ---------------------------------------------------------------- */

static int stopping_past_deadline(remote_t *r)
{
    pthread_mutex_lock(&r->lock);
    int past = r->stopping && gm_remote_now_ms() >= r->stop_deadline_ms;
    pthread_mutex_unlock(&r->lock);
    return past;
}

/* Sleeps up to ms, waking early only when shutdown's deadline passes. */
static void pause_ms(remote_t *r, int64_t ms)
{
    int64_t until = gm_remote_now_ms() + ms;
    while (gm_remote_now_ms() < until && !stopping_past_deadline(r))
        usleep(20 * 1000);
}

static int64_t full_jitter(unsigned attempt)
{
    int64_t cap = BACKOFF_BASE_MS << (attempt < 20 ? attempt : 20);
    if (cap > BACKOFF_CAP_MS || cap <= 0)
        cap = BACKOFF_CAP_MS;
    uint32_t rnd = 0;
    (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    return (int64_t)(rnd % (uint64_t)cap) + 1;
}

/* Sends one body until AWS takes it, sets it aside, or shutdown's deadline
 * passes (-1: it stays in its file for the next start). */
static int send_body(remote_t *r, const char *body)
{
    size_t len = strlen(body);
    for (unsigned attempt = 0;; attempt++) {
        gm_aws_response_t resp;
        gm_aws_outcome_t o = r->client->send(r->client, body, len, &resp);
        /* Counting parses the body: outside the lock that /readyz and
         * /metrics take on the event loops. */
        size_t items = o == GM_AWS_OK ? r->client->count(body) : 0;
        pthread_mutex_lock(&r->lock);
        if (o == GM_AWS_OK) {
            r->requests_ok++;
            r->items_sent += items;
            r->bytes_sent += len;
            r->last_success_ms = gm_remote_now_ms();
        } else {
            r->requests_failed++;
            count_code(r, resp.code);
            snprintf(r->last_error, sizeof(r->last_error), "%s%s%s", resp.code, resp.code[0] ? ": " : "",
                     resp.message);
            if (o == GM_AWS_RETRY && (resp.status == 429 || strstr(resp.code, "hrottl") != NULL))
                r->throttles++;
            if (o == GM_AWS_AUTH)
                r->auth_errors++;
        }
        pthread_mutex_unlock(&r->lock);
        if (o == GM_AWS_OK) {
            gm_aws_response_clear(&resp);
            return 0;
        }
        if (o == GM_AWS_REJECTED) {
            char *a = NULL, *b = NULL;
            char reason[384];
            snprintf(reason, sizeof(reason), "%s: %s", resp.code, resp.message);
            gm_aws_response_clear(&resp);
            if (r->client->split(body, &a, &b) == 0) {
                /* Bisect: the halves that AWS takes are sent, the item it
                 * refuses ends alone in the dead-letter file. */
                int rc = send_body(r, a);
                if (rc == 0)
                    rc = send_body(r, b);
                free(a);
                free(b);
                return rc;
            }
            dead_letter(r, body, len, reason);
            return 0;
        }
        GM_LOG(o == GM_AWS_AUTH ? GM_LOG_ERROR : GM_LOG_WARN, "publisher", "%s: %s (%s%s%s), retrying",
               r->client->name, o == GM_AWS_AUTH ? "credentials refused or missing" : "request failed", resp.code,
               resp.code[0] ? ": " : "", resp.message);
        int64_t wait = resp.retry_after_s > 0 ? (int64_t)(resp.retry_after_s * 1000) : full_jitter(attempt);
        gm_aws_response_clear(&resp);
        pthread_mutex_lock(&r->lock);
        r->retries++;
        pthread_mutex_unlock(&r->lock);
        if (stopping_past_deadline(r))
            return -1;
        pause_ms(r, wait);
        if (stopping_past_deadline(r))
            return -1;
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sends what DIR/inflight holds, in order, then moves the cursor to the
 * position it covers and removes it. Returns 0, -1 when interrupted. */
static int drain_inflight(remote_t *r)
{
    DIR *d = opendir(r->inflight_dir);
    if (d == NULL)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "req-", 4) == 0) {
            names = gm_realloc(names, (n + 1) * sizeof(*names));
            names[n++] = gm_strdup(de->d_name);
        }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = gm_asprintf("%s/%s", r->inflight_dir, names[i]);
        size_t len;
        char *body = gm_read_file(path, 64u << 20, &len);
        if (body != NULL && (rc = send_body(r, body)) == 0) {
            unlink(path);
            (void)gm_fsync_dir(r->inflight_dir);
        }
        free(body);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc != 0)
        return -1;
    char *cpath = gm_asprintf("%s/cursor.json", r->inflight_dir);
    gm_spool_pos_t covered = load_cursor(cpath);
    free(cpath);
    if (save_cursor(r, covered) != 0)
        return -1;
    remove_tree(r->inflight_dir);
    (void)gm_fsync_dir(r->dir);
    r->cursor = covered;
    /* After a restart the client holds nothing yet: reading resumes past what
     * the resent requests covered, not from the cursor they started at. */
    if (pos_before(r->pending_end, covered))
        r->pending_end = covered;
    /* Sent and acknowledged: the outbox segments before it can go. */
    gm_spool_release(r->outbox, covered, r->pending_lines, gm_remote_now_ms());
    r->pending_lines = 0;
    return 0;
}

/* Turns what the client holds into request files and commits them, with the
 * position they cover, by one rename. Bodies taken from the client stay held
 * until that rename succeeds, so a failed write (a full disk) loses nothing:
 * the next attempt writes them again, with whatever was read meanwhile. */
static int commit_requests(remote_t *r, gm_spool_pos_t covered)
{
    size_t items;
    char *body;
    while ((body = r->client->take(r->client, &items)) != NULL) {
        r->held = gm_realloc(r->held, (r->nheld + 1) * sizeof(*r->held));
        r->held[r->nheld++] = body;
    }
    remove_tree(r->inflight_tmp);
    if (mkdir(r->inflight_tmp, 0750) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->nheld; i++) {
        char *path = gm_asprintf("%s/req-%08zu.json", r->inflight_tmp, i);
        rc = gm_write_file(path, r->held[i], strlen(r->held[i]), 0640);
        free(path);
    }
    json_t *o = pos_json(covered);
    char *text = json_dumps(o, JSON_COMPACT), *cpath = gm_asprintf("%s/cursor.json", r->inflight_tmp);
    json_decref(o);
    if (rc == 0)
        rc = gm_write_file(cpath, text, strlen(text), 0640);
    free(text);
    free(cpath);
    if (rc == 0 && (gm_fsync_dir(r->inflight_tmp) != 0 || rename(r->inflight_tmp, r->inflight_dir) != 0 ||
                    gm_fsync_dir(r->dir) != 0))
        rc = -1;
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < r->nheld; i++)
        free(r->held[i]);
    r->nheld = 0;
    return 0;
}

/* --- the publisher thread --------------------------------------------------- */

typedef struct {
    remote_t *r;
    int64_t now;
    int64_t oldest;
} read_ctx_t;

static int on_line(void *ctx, const gm_spool_entry_t *e)
{
    read_ctx_t *rc = ctx;
    char reason[256];
    if (rc->oldest == 0 || e->received_at_ms < rc->oldest)
        rc->oldest = e->received_at_ms;
    rc->r->pending_lines++;
    if (rc->r->client->add(rc->r->client, e->body, e->body_len, rc->now, reason, sizeof(reason)) != 0)
        dead_letter(rc->r, e->body, e->body_len, reason);
    return 0;
}

static void *publisher_main(void *arg)
{
    remote_t *r = arg;
    pthread_setname_np(pthread_self(), "gm-publish");
    char err[512];
    int64_t holding_since = 0; /* when the client got its oldest unsent line */
    if (drain_inflight(r) != 0)
        goto Exit;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        gm_spool_pos_t readable = r->readable;
        int stopping = r->stopping;
        pthread_mutex_unlock(&r->lock);

        if (pos_before(r->pending_end, readable)) {
            gm_spool_pos_t pos = r->pending_end;
            read_ctx_t rc = {r, gm_remote_now_ms(), 0};
            /* Only what a saved checkpoint covers: past it, a crash could
             * roll lines back and the pipeline would produce them again. */
            for (;;) {
                gm_spool_pos_t before = pos;
                long n = gm_spool_read_until(r->outbox, &pos, readable, READ_BATCH, on_line, &rc, err, sizeof(err));
                if (n < 0) {
                    GM_ERROR("publisher", "outbox: %s", err);
                    break;
                }
                if (!pos_before(before, pos) || !pos_before(pos, readable))
                    break;
            }
            pthread_mutex_lock(&r->lock);
            if (r->backlog_since_ms == 0 || (rc.oldest != 0 && rc.oldest < r->backlog_since_ms))
                r->backlog_since_ms = rc.oldest;
            pthread_mutex_unlock(&r->lock);
            if (holding_since == 0 && r->client->pending(r->client) > 0)
                holding_since = gm_remote_now_ms();
            r->pending_end = pos;
        }

        int holding = r->client->pending(r->client) > 0 || r->nheld > 0;
        int due = holding && (r->client->full(r->client) || stopping || r->nheld > 0 ||
                              gm_remote_now_ms() - holding_since >= (int64_t)r->cfg->publish.flush_interval_ms);
        int idle_advance = !holding && pos_before(r->cursor, r->pending_end);
        if (due || idle_advance) {
            if (commit_requests(r, r->pending_end) != 0) {
                GM_ERROR("publisher", "%s: cannot write in-flight requests in %s: %s", r->client->name, r->dir,
                         strerror(errno));
                pause_ms(r, 1000);
                continue;
            }
            holding_since = 0;
            if (drain_inflight(r) != 0)
                break;
            pthread_mutex_lock(&r->lock);
            r->backlog_since_ms = 0;
            pthread_mutex_unlock(&r->lock);
            continue;
        }
        if (stopping && !holding && !pos_before(r->cursor, r->pending_end))
            break;
        /* Nothing new to read: sleep until a checkpoint confirms more, or the
         * held lines' flush falls due, or a second passes. */
        int64_t wait_ms = 1000;
        if (holding) {
            int64_t left = holding_since + (int64_t)r->cfg->publish.flush_interval_ms - gm_remote_now_ms();
            wait_ms = left < wait_ms ? left : wait_ms;
        }
        pthread_mutex_lock(&r->lock);
        if (!r->stopping && wait_ms > 0 && !pos_before(r->pending_end, r->readable)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (wait_ms % 1000) * 1000000;
            ts.tv_sec += wait_ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        }
        pthread_mutex_unlock(&r->lock);
    }
Exit:
    return NULL;
}

/* --- the sink operations ---------------------------------------------------- */

static int remote_write(gm_sink_t *s, const gm_record_t *rec, const char *line, size_t len, char *err, size_t errlen)
{
    remote_t *r = (remote_t *)s;
    (void)rec;
    gm_spool_entry_t e = {
        .received_at_ms = gm_remote_now_ms(),
        .event = "emf",
        .event_len = 3,
        .delivery = "",
        .delivery_len = 0,
        .body = line,
        .body_len = (uint32_t)len,
    };
    return gm_spool_append_nowait(r->outbox, &e, err, errlen);
}

static json_t *remote_commit(gm_sink_t *s, char *err, size_t errlen)
{
    remote_t *r = (remote_t *)s;
    gm_spool_pos_t end;
    if (gm_spool_flush(r->outbox, &end, err, errlen) != 0)
        return NULL;
    return pos_json(end);
}

static void remote_confirm(gm_sink_t *s, const json_t *mark)
{
    remote_t *r = (remote_t *)s;
    gm_spool_pos_t p;
    if (pos_from_json(mark, &p) != 0)
        return;
    pthread_mutex_lock(&r->lock);
    if (pos_before(r->readable, p))
        r->readable = p;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Opens the outbox after cutting it back to the mark, and starts the
 * publisher: lines past the mark were never confirmed, so the pipeline
 * produces them again. */
static int remote_rollback(gm_sink_t *s, const json_t *mark, uint64_t *dropped, char *err, size_t errlen)
{
    remote_t *r = (remote_t *)s;
    gm_spool_pos_t to = {1, 0};
    if (mark != NULL && pos_from_json(mark, &to) != 0)
        to = (gm_spool_pos_t){1, 0}; /* the mark of another sink: nothing here was confirmed */
    if (mkdir(r->outbox_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", r->outbox_dir, strerror(errno));
        return -1;
    }
    remove_tree(r->inflight_tmp); /* never committed */
    char *cpath = gm_asprintf("%s/cursor.json", r->dir);
    r->cursor = r->pending_end = load_cursor(cpath);
    free(cpath);
    int64_t cut = gm_spool_cut(r->outbox_dir, to, err, errlen);
    if (cut < 0)
        return -1;
    *dropped = (uint64_t)cut;
    gm_spool_opts_t so = {
        .dir = r->outbox_dir,
        .segment_bytes = 64u << 20,
        .min_free_bytes = 0, /* the receiver's spool keeps the reserve */
        .max_record = 1u << 20,
        .retention_ms = 0,
    };
    gm_spool_pos_t from = r->cursor;
    if (pos_before(to, from))
        from = to;
    if ((r->outbox = gm_spool_open(&so, from, NULL, NULL, err, errlen)) == NULL ||
        gm_spool_start(r->outbox, err, errlen) != 0)
        return -1;
    r->readable = to;
    if (pthread_create(&r->thread, NULL, publisher_main, r) != 0) {
        snprintf(err, errlen, "cannot start the publisher thread");
        return -1;
    }
    r->started = 1;
    return 0;
}

static int remote_check(gm_sink_t *s, char *err, size_t errlen)
{
    remote_t *r = (remote_t *)s;
    if (r->outbox == NULL) {
        snprintf(err, errlen, "outbox not open");
        return -1;
    }
    if (gm_spool_check(r->outbox, err, errlen) != 0)
        return -1;
    pthread_mutex_lock(&r->lock);
    int64_t age = r->backlog_since_ms ? gm_remote_now_ms() - r->backlog_since_ms : 0;
    int degraded = age > (int64_t)r->cfg->publish.max_backlog_age_ms;
    /* The publisher thread writes last_error under the lock. */
    if (degraded)
        snprintf(err, errlen, "%s backlog is %lld s old (last error: %s)", r->client->name, (long long)(age / 1000),
                 r->last_error[0] ? r->last_error : "none");
    pthread_mutex_unlock(&r->lock);
    return degraded ? 1 : 0;
}

/* At shutdown: let the publisher send what is confirmed, for a while. */
static int remote_flush(gm_sink_t *s, char *err, size_t errlen)
{
    remote_t *r = (remote_t *)s;
    (void)err, (void)errlen;
    if (!r->started)
        return 0;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    r->stop_deadline_ms = gm_remote_now_ms() + SHUTDOWN_SEND_MS;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    r->started = 0;
    return 0;
}

static void remote_destroy(gm_sink_t *s)
{
    remote_t *r = (remote_t *)s;
    char err[64];
    remote_flush(s, err, sizeof(err));
    for (size_t i = 0; i < r->nheld; i++)
        free(r->held[i]);
    free(r->held);
    gm_spool_close(r->outbox);
    r->client->destroy(r->client);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->dir);
    free(r->outbox_dir);
    free(r->inflight_dir);
    free(r->inflight_tmp);
    free(r->dead_letter);
    free(r);
}

static const gm_sink_ops_t remote_ops = {
    .name = "remote",
    .write = remote_write,
    .flush = remote_flush,
    .commit = remote_commit,
    .rollback = remote_rollback,
    .confirm = remote_confirm,
    .metrics = gm_remote_metrics,
    .check = remote_check,
    .destroy = remote_destroy,
};

gm_sink_t *gm_remote_sink_open(const gm_config_t *cfg, const char *dir, gm_remote_client_t *client, char *err,
                               size_t errlen)
{
    remote_t *r = gm_calloc(1, sizeof(*r));
    r->super.ops = &remote_ops;
    r->cfg = cfg;
    r->client = client;
    r->dir = gm_strdup(dir);
    r->outbox_dir = gm_asprintf("%s/outbox", dir);
    r->inflight_dir = gm_asprintf("%s/inflight", dir);
    r->inflight_tmp = gm_asprintf("%s/inflight.tmp", dir);
    r->dead_letter = gm_asprintf("%s/dead-letter.jsonl", dir);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        remote_destroy(&r->super);
        return NULL;
    }
    return &r->super;
}
