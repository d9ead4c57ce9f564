/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubesim: the kubelet's retry of a slow creation, as a state machine fed
 * with times plus a small driver. The state machine never reads a clock, so
 * the retry rules are tested with a fake one; the driver is the only part
 * that sleeps. It keeps resending one request (the kubelet keeps name, uid
 * and attempt across retries), which is what a runtime must recognise.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/alloc.h"
#include "perf/kubesim.h"

#define SEC 1000000000ull

berth_kubesim_params_t berth_kubesim_params_sandbox(void)
{
    return (berth_kubesim_params_t){
            .deadline_ns = 240 * SEC,
            .backoff_ns = 10 * SEC,
            .backoff_factor = 1.0,
            .max_ns = 600 * SEC,
    };
}

berth_kubesim_params_t berth_kubesim_params_container(void)
{
    berth_kubesim_params_t p = berth_kubesim_params_sandbox();
    p.deadline_ns = 120 * SEC;
    return p;
}

void berth_kubesim_retry_init(berth_kubesim_retry_t *r, const berth_kubesim_params_t *p,
                              uint64_t now)
{
    memset(r, 0, sizeof(*r));
    r->p = *p;
    r->t0 = now;
    r->next_at = now;
    r->backoff_ns = p->backoff_ns;
    r->state = BERTH_KUBESIM_RUNNING;
}

void berth_kubesim_retry_fini(berth_kubesim_retry_t *r)
{
    for (size_t i = 0; i < r->n_attempts; i++)
        berth_free(r->attempts[i].msg);
    berth_free(r->attempts);
    r->attempts = NULL;
    r->n_attempts = r->cap_attempts = 0;
}

int berth_kubesim_retry_next(berth_kubesim_retry_t *r, uint64_t now, uint64_t *arg_ns)
{
    *arg_ns = 0;
    if (r->state != BERTH_KUBESIM_RUNNING)
        return BERTH_KUBESIM_DONE;
    /* The budget bounds when an attempt may start, never an attempt in
     * flight: the kubelet does not shorten a deadline it already sent. */
    if (r->n_attempts > 0 && r->next_at - r->t0 >= r->p.max_ns) {
        r->state = BERTH_KUBESIM_GAVE_UP;
        return BERTH_KUBESIM_DONE;
    }
    if (now < r->next_at) {
        *arg_ns = r->next_at - now;
        return BERTH_KUBESIM_WAIT;
    }
    *arg_ns = r->p.deadline_ns;
    return BERTH_KUBESIM_CALL;
}

void berth_kubesim_retry_record(berth_kubesim_retry_t *r, uint64_t start, uint64_t end, int code,
                                const char *msg)
{
    if (r->n_attempts == r->cap_attempts) {
        r->cap_attempts = r->cap_attempts ? 2 * r->cap_attempts : 8;
        r->attempts = berth_realloc(r->attempts, r->cap_attempts * sizeof(*r->attempts));
    }
    r->attempts[r->n_attempts++] = (berth_kubesim_attempt_t){
            .start_ns = start - r->t0,
            .end_ns = end - r->t0,
            .code = code,
            .msg = msg ? berth_strdup(msg) : NULL,
    };
    if (code == BERTH_GRPC_OK) {
        r->state = BERTH_KUBESIM_SUCCEEDED;
        return;
    }
    r->next_at = end + r->backoff_ns;
    if (r->p.backoff_factor > 1.0) {
        double next = (double)r->backoff_ns * r->p.backoff_factor;
        if (r->p.backoff_max_ns && next > (double)r->p.backoff_max_ns)
            next = (double)r->p.backoff_max_ns;
        r->backoff_ns = (uint64_t)next;
    }
    if (r->next_at - r->t0 >= r->p.max_ns)
        r->state = BERTH_KUBESIM_GAVE_UP;
}

size_t berth_kubesim_retry_count(const berth_kubesim_retry_t *r, int code)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_attempts; i++)
        n += r->attempts[i].code == code;
    return n;
}

uint64_t berth_kubesim_retry_time_to_success(const berth_kubesim_retry_t *r)
{
    if (r->state != BERTH_KUBESIM_SUCCEEDED || r->n_attempts == 0)
        return 0;
    return r->attempts[r->n_attempts - 1].end_ns;
}

static const char *state_name(int s)
{
    switch (s) {
    case BERTH_KUBESIM_SUCCEEDED:
        return "succeeded";
    case BERTH_KUBESIM_GAVE_UP:
        return "gave_up";
    default:
        return "running";
    }
}

json_t *berth_kubesim_retry_json(const berth_kubesim_retry_t *r)
{
    json_t *errors = json_object();
    json_t *log = json_array();
    for (size_t i = 0; i < r->n_attempts; i++) {
        const berth_kubesim_attempt_t *a = &r->attempts[i];
        const char *name = berth_grpc_code_name(a->code);
        if (a->code != BERTH_GRPC_OK) {
            json_t *n = json_object_get(errors, name);
            json_object_set_new(errors, name, json_integer(n ? json_integer_value(n) + 1 : 1));
        }
        json_array_append_new(
                log, json_pack("{s:f,s:f,s:s,s:s?}", "start_s", (double)a->start_ns / 1e9, "end_s",
                               (double)a->end_ns / 1e9, "code", name, "message", a->msg));
    }
    uint64_t tts = berth_kubesim_retry_time_to_success(r);
    json_t *o = json_pack("{s:s,s:I,s:o,s:o}", "state", state_name(r->state), "attempts",
                          (json_int_t)r->n_attempts, "errors", errors, "attempt_log", log);
    json_object_set_new(o, "time_to_success_s",
                        r->state == BERTH_KUBESIM_SUCCEEDED ? json_real((double)tts / 1e9)
                                                            : json_null());
    return o;
}

static uint64_t real_now(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void real_sleep(void *ctx, uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / SEC), .tv_nsec = (long)(ns % SEC)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

const berth_kubesim_clock_t *berth_kubesim_real_clock(void)
{
    static const berth_kubesim_clock_t clock = {.now_ns = real_now, .sleep_ns = real_sleep};
    return &clock;
}

void berth_kubesim_retry_run(berth_kubesim_retry_t *r, const berth_kubesim_clock_t *clock,
                             berth_kubesim_call_fn fn, void *ctx)
{
    for (;;) {
        uint64_t arg;
        int act = berth_kubesim_retry_next(r, clock->now_ns(clock->ctx), &arg);
        if (act == BERTH_KUBESIM_DONE)
            return;
        if (act == BERTH_KUBESIM_WAIT) {
            clock->sleep_ns(clock->ctx, arg);
            continue;
        }
        berth_cri_status_t st = {0};
        BERTH_AUTO_ERR berth_err_t err = NULL;
        uint64_t start = clock->now_ns(clock->ctx);
        int rc = fn(ctx, arg, &st, &err);
        uint64_t end = clock->now_ns(clock->ctx);
        if (rc < 0)
            berth_kubesim_retry_record(r, start, end, BERTH_GRPC_UNAVAILABLE,
                                       err ? err->msg : "transport failure");
        else
            berth_kubesim_retry_record(r, start, end, st.code, st.msg);
        berth_cri_status_fini(&st);
    }
}

typedef struct sim_call {
    berth_cri_client_t **c;
    const char *path;
    const char *pod_id;
    berth_cri_pod_config_t *pod;
    berth_cri_ctr_config_t *ctr;
    char *id; /* owned: the result */
} sim_call_t;

/* A broken connection is dropped and reopened on the next attempt, as a
 * kubelet's gRPC channel reconnects. */
static int ensure_client(sim_call_t *s, berth_err_t *err)
{
    if (*s->c == NULL)
        *s->c = berth_cri_client_new(s->path, err);
    return *s->c ? 0 : -1;
}

static int call_run_pod(void *ctx, uint64_t timeout_ns, berth_cri_status_t *st, berth_err_t *err)
{
    sim_call_t *s = ctx;
    if (ensure_client(s, err) < 0)
        return -1;
    int r = berth_cri_run_pod(*s->c, s->pod, timeout_ns, &s->id, st, err);
    if (r < 0) {
        berth_cri_client_free(*s->c);
        *s->c = NULL;
    }
    return r;
}

static int call_create_ctr(void *ctx, uint64_t timeout_ns, berth_cri_status_t *st, berth_err_t *err)
{
    sim_call_t *s = ctx;
    if (ensure_client(s, err) < 0)
        return -1;
    int r = berth_cri_create_ctr(*s->c, s->pod_id, s->ctr, s->pod, timeout_ns, &s->id, st, err);
    if (r < 0) {
        berth_cri_client_free(*s->c);
        *s->c = NULL;
    }
    return r;
}

void berth_kubesim_run_pod(berth_cri_client_t **c, const char *path, berth_cri_pod_config_t *cfg,
                           const berth_kubesim_params_t *p, berth_kubesim_retry_t *r, char **pod_id)
{
    const berth_kubesim_clock_t *clock = berth_kubesim_real_clock();
    sim_call_t s = {.c = c, .path = path, .pod = cfg};
    berth_kubesim_retry_init(r, p, clock->now_ns(clock->ctx));
    berth_kubesim_retry_run(r, clock, call_run_pod, &s);
    *pod_id = s.id;
}

void berth_kubesim_create_ctr(berth_cri_client_t **c, const char *path, const char *pod_id,
                              berth_cri_ctr_config_t *cfg, berth_cri_pod_config_t *pod,
                              const berth_kubesim_params_t *p, berth_kubesim_retry_t *r,
                              char **ctr_id)
{
    const berth_kubesim_clock_t *clock = berth_kubesim_real_clock();
    sim_call_t s = {.c = c, .path = path, .pod_id = pod_id, .pod = pod, .ctr = cfg};
    berth_kubesim_retry_init(r, p, clock->now_ns(clock->ctx));
    berth_kubesim_retry_run(r, clock, call_create_ctr, &s);
    *ctr_id = s.id;
}
