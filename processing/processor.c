#include "gm/processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gm/alloc.h"
#include "gm/emf.h"
#include "gm/payload.h"
#include "gm/util.h"

static char *urldecode(const unsigned char *src, size_t n, size_t *out_len)
{
    char *out = gm_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '+') {
            out[o++] = ' ';
        } else if (src[i] == '%') {
            int hi = i + 2 < n ? gm_hexval(src[i + 1]) : -1;
            int lo = i + 2 < n ? gm_hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (char)src[i];
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

char *gm_form_payload(const char *body, size_t len, size_t *out_len)
{
    static const char key[] = "payload=";
    const size_t keylen = sizeof(key) - 1;
    /* GitHub sends only this field, but a proxy could add others. */
    for (size_t pos = 0; pos < len;) {
        const char *amp = memchr(body + pos, '&', len - pos);
        size_t fieldlen = amp ? (size_t)(amp - (body + pos)) : len - pos;
        if (fieldlen >= keylen && memcmp(body + pos, key, keylen) == 0)
            return urldecode((const unsigned char *)body + pos + keylen, fieldlen - keylen, out_len);
        pos += fieldlen + 1;
    }
    return NULL;
}

static void copy_str(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src != NULL ? src : "");
}

static int is_workflow_event(const char *event)
{
    return strcmp(event, "workflow_run") == 0 || strcmp(event, "workflow_job") == 0;
}

/* Parse and derive: the part shared by the receiver's check and processing.
 * Leaves *rec filled (to be cleared by the caller) when status is RECORDED. */
static void derive(const gm_delivery_t *d, gm_proc_result_t *res, gm_record_t *rec)
{
    memset(res, 0, sizeof(*res));
    memset(rec, 0, sizeof(*rec));
    int is_ping = strcmp(d->event, "ping") == 0;
    if (!is_ping && !is_workflow_event(d->event)) {
        res->status = GM_PROC_IGNORED;
        return;
    }

    char *decoded = NULL;
    const char *text = d->body;
    size_t len = d->len;
    if (d->form_encoded) {
        decoded = gm_form_payload(d->body, d->len, &len);
        if (decoded == NULL) {
            res->status = GM_PROC_INVALID;
            copy_str(res->reason, sizeof(res->reason), "form body without a well-formed payload field");
            return;
        }
        text = decoded;
    }
    json_t *root = gm_payload_parse(text, len, res->reason, sizeof(res->reason));
    free(decoded);
    if (root == NULL) {
        res->status = GM_PROC_INVALID;
        return;
    }
    copy_str(res->action, sizeof(res->action), gm_event_action(root));
    copy_str(res->repository, sizeof(res->repository), gm_event_repository(root));
    json_t *mark = json_object_get(json_object_get(root, "gha_metrics"), "source");
    res->backfilled = json_is_string(mark) && strcmp(json_string_value(mark), "backfill") == 0;
    if (is_ping) {
        res->status = GM_PROC_PING;
        json_decref(root);
        return;
    }
    gm_event_result_t er = gm_event_to_record(d->event, root, rec, res->reason, sizeof(res->reason));
    res->anomalies = rec->anomalies;
    res->kind = rec->kind;
    res->status = er == GM_EVENT_RECORD ? GM_PROC_RECORDED : er == GM_EVENT_NO_RECORD ? GM_PROC_NO_RECORD : GM_PROC_INVALID;
    json_decref(root);
}

void gm_processor_validate(const gm_delivery_t *d, gm_proc_result_t *res)
{
    gm_record_t rec;
    derive(d, res, &rec);
    gm_record_clear(&rec);
}

static uint64_t record_key(const gm_record_t *r)
{
    return r->kind == GM_RECORD_JOB ? gm_ledger_key_job(r->job_id, r->run_attempt)
                                    : gm_ledger_key_run(r->run_id, r->run_attempt);
}

/* The shared ledger's answer for a key this process is about to act on:
 * 0 go on, 1 another writer has it (a duplicate), -1 cannot tell now. */
static int shared_claim(gm_processor_t *p, const char *key, int64_t now_ms, gm_proc_result_t *res)
{
    if (p->shared_claim == NULL)
        return 0;
    int rc = p->shared_claim(p->shared_ctx, key, now_ms, res->reason, sizeof(res->reason));
    if (rc < 0) {
        atomic_fetch_add_explicit(&p->metrics->shared_ledger_errors, 1, memory_order_relaxed);
        /* /readyz reports how long the table has been failing: a streak's start. */
        int64_t none = 0;
        atomic_compare_exchange_strong(&p->metrics->shared_ledger_failing_since_ms, &none, gm_wall_ms());
        res->status = GM_PROC_FAILED;
    } else {
        atomic_store_explicit(&p->metrics->shared_ledger_failing_since_ms, 0, memory_order_relaxed);
    }
    return rc;
}

static void write_record(gm_processor_t *p, const gm_delivery_t *d, const gm_record_t *rec, gm_proc_result_t *res)
{
    const gm_config_t *cfg = p->cfg;
    uint64_t key = record_key(rec);
    int is_job = rec->kind == GM_RECORD_JOB;
    /* The same attempt can arrive in several deliveries (GitHub's retries of
     * a failed delivery get new ids only when sent by hand, a backfill finds
     * it again): the first to be processed is the one recorded. */
    if (p->ledger != NULL && !gm_ledger_claim(p->ledger, key, d->received_at_ms)) {
        res->status = GM_PROC_DUPLICATE;
        atomic_fetch_add_explicit(&p->metrics->duplicates[is_job ? GM_DUP_JOB : GM_DUP_RUN], 1, memory_order_relaxed);
        return;
    }
    char skey[64];
    snprintf(skey, sizeof(skey), "%c:%lld:%lld", is_job ? 'j' : 'r', (long long)(is_job ? rec->job_id : rec->run_id),
             (long long)rec->run_attempt);
    int shared = shared_claim(p, skey, d->received_at_ms, res);
    if (shared != 0) {
        if (shared > 0) {
            /* Another writer recorded it: remember that here too. */
            res->status = GM_PROC_DUPLICATE;
            atomic_fetch_add_explicit(&p->metrics->duplicates[is_job ? GM_DUP_JOB : GM_DUP_RUN], 1,
                                      memory_order_relaxed);
            if (p->ledger != NULL)
                gm_ledger_persist(p->ledger, key, d->received_at_ms);
        } else if (p->ledger != NULL) {
            gm_ledger_unclaim(p->ledger, key);
        }
        return;
    }
    /* Set by the signed body, so only a holder of the secret can set it. */
    bool backfilled = res->backfilled;
    gm_emf_opts_t opts = {
        .namespace_ = cfg->publish.namespace_,
        .dimensions = cfg->publish.dimensions,
        .dimension_count = cfg->publish.dimension_count,
        .team = gm_config_team_of(cfg, rec->repository),
        .teams_configured = cfg->team_count > 0,
        .delivery_id = d->delivery,
        .backfilled = backfilled,
    };
    char *line = gm_emf_format(rec, &opts);
    int ok = line != NULL && gm_sink_write(p->sink, rec, line, strlen(line), res->reason, sizeof(res->reason)) == 0;
    free(line);
    if (!ok) {
        if (res->reason[0] == '\0')
            copy_str(res->reason, sizeof(res->reason), "cannot render the EMF line");
        atomic_fetch_add_explicit(&p->metrics->sink_errors, 1, memory_order_relaxed);
        res->status = GM_PROC_FAILED;
        if (p->ledger != NULL)
            gm_ledger_unclaim(p->ledger, key);
        return;
    }
    if (p->ledger != NULL)
        gm_ledger_persist(p->ledger, key, d->received_at_ms);
    atomic_fetch_add_explicit(&p->metrics->records_written[is_job], 1, memory_order_relaxed);
    if (backfilled)
        atomic_fetch_add_explicit(&p->metrics->records_backfilled[is_job], 1, memory_order_relaxed);
    res->status = GM_PROC_RECORDED;
}

void gm_processor_handle(gm_processor_t *p, const gm_delivery_t *d, gm_proc_result_t *res)
{
    gm_record_t rec;
    derive(d, res, &rec);
    gm_metrics_count_anomalies(p->metrics, res->anomalies);
    /* Another receiver may have had this delivery (a redelivery behind the
     * same load balancer); the backfill asks for redeliveries by this key. */
    if ((res->status == GM_PROC_RECORDED || res->status == GM_PROC_NO_RECORD) && d->delivery != NULL &&
        p->shared_claim != NULL) {
        char skey[80];
        snprintf(skey, sizeof(skey), "d:%s", d->delivery);
        int shared = shared_claim(p, skey, d->received_at_ms, res);
        if (shared > 0) {
            res->status = GM_PROC_DUPLICATE;
            atomic_fetch_add_explicit(&p->metrics->duplicates[GM_DUP_DELIVERY], 1, memory_order_relaxed);
        }
    }
    if (res->status == GM_PROC_RECORDED)
        write_record(p, d, &rec, res);
    else if (res->status == GM_PROC_NO_RECORD && strcmp(res->action, "completed") == 0)
        atomic_fetch_add_explicit(&p->metrics->records_skipped, 1, memory_order_relaxed);
    gm_record_clear(&rec);
    if (p->ledger != NULL && d->delivery != NULL && res->status != GM_PROC_FAILED)
        gm_ledger_persist(p->ledger, gm_ledger_key_delivery(d->delivery, strlen(d->delivery)), d->received_at_ms);
}
