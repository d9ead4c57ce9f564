/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubesim: the kubelet's way of creating a sandbox or a container, for perf/
 * tools and the heavy-load tests. The kubelet sends RunPodSandbox with a
 * deadline (4 min by default) and, on DEADLINE_EXCEEDED or any other error,
 * waits a backoff and sends the SAME request again (same name, uid and
 * attempt) until it succeeds; this records every attempt (start, end, code,
 * message) so a tool can print what the kubelet would have seen.
 *
 * The retry rules are a pure state machine driven by times the caller passes
 * in (tests drive it with a fake clock); berth_kubesim_retry_run drives it with
 * a clock and a call function. Not thread-safe: one retry per thread.
 */
#ifndef BERTH_PERF_KUBESIM_H
#define BERTH_PERF_KUBESIM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/err.h"
#include "perf/cri_client.h"

typedef struct berth_kubesim_params {
    uint64_t deadline_ns;    /* per attempt, sent as grpc-timeout */
    uint64_t backoff_ns;     /* wait after a failed attempt */
    double backoff_factor;   /* backoff multiplier per failure; <= 1 keeps it fixed */
    uint64_t backoff_max_ns; /* cap for the growing backoff; 0 = none */
    uint64_t max_ns;         /* no attempt starts this long after the first */
} berth_kubesim_params_t;

/* Kubelet defaults: RunPodSandbox 4 min, CreateContainer 2 min, retried after
 * 10 s, for at most 10 min. */
berth_kubesim_params_t berth_kubesim_params_sandbox(void);
berth_kubesim_params_t berth_kubesim_params_container(void);

typedef struct berth_kubesim_attempt {
    uint64_t start_ns; /* since the first request */
    uint64_t end_ns;   /* since the first request */
    int code;          /* enum berth_grpc_code */
    char *msg;         /* owned, may be NULL */
} berth_kubesim_attempt_t;

enum berth_kubesim_state {
    BERTH_KUBESIM_RUNNING = 0,
    BERTH_KUBESIM_SUCCEEDED,
    BERTH_KUBESIM_GAVE_UP,
};

enum berth_kubesim_action {
    BERTH_KUBESIM_CALL, /* send the request now, with *arg_ns as deadline */
    BERTH_KUBESIM_WAIT, /* sleep *arg_ns, then ask again */
    BERTH_KUBESIM_DONE, /* see state */
};

typedef struct berth_kubesim_retry {
    berth_kubesim_params_t p;
    uint64_t t0;         /* absolute time of the first request */
    uint64_t next_at;    /* absolute time the next attempt may start */
    uint64_t backoff_ns; /* current backoff */
    int state;           /* enum berth_kubesim_state */
    berth_kubesim_attempt_t *attempts;
    size_t n_attempts, cap_attempts;
} berth_kubesim_retry_t;

/* Starts a retry whose first attempt may go at absolute time now. */
void berth_kubesim_retry_init(berth_kubesim_retry_t *r, const berth_kubesim_params_t *p,
                              uint64_t now);
void berth_kubesim_retry_fini(berth_kubesim_retry_t *r);
/* What to do at absolute time now (enum berth_kubesim_action). */
int berth_kubesim_retry_next(berth_kubesim_retry_t *r, uint64_t now, uint64_t *arg_ns);
/* Records an attempt between absolute times start and end; msg is copied.
 * OK ends the retry; any other code schedules the next attempt. */
void berth_kubesim_retry_record(berth_kubesim_retry_t *r, uint64_t start, uint64_t end, int code,
                                const char *msg);

/* How many attempts ended with code. */
size_t berth_kubesim_retry_count(const berth_kubesim_retry_t *r, int code);
/* Time from the first request to the successful reply, or 0 if none. */
uint64_t berth_kubesim_retry_time_to_success(const berth_kubesim_retry_t *r);
/* {"state":..., "attempts":N, "errors":{"DEADLINE_EXCEEDED":n,...},
 *  "time_to_success_s":x|null, "attempt_log":[{start_s,end_s,code,message}]}
 * Returns a new reference. */
json_t *berth_kubesim_retry_json(const berth_kubesim_retry_t *r);

typedef struct berth_kubesim_clock {
    uint64_t (*now_ns)(void *ctx);
    void (*sleep_ns)(void *ctx, uint64_t ns);
    void *ctx;
} berth_kubesim_clock_t;

/* CLOCK_MONOTONIC and nanosleep. */
const berth_kubesim_clock_t *berth_kubesim_real_clock(void);

/* One attempt: send the request with timeout_ns; fill st. A return < 0 is a
 * transport failure (recorded as UNAVAILABLE with err's message). */
typedef int (*berth_kubesim_call_fn)(void *ctx, uint64_t timeout_ns, berth_cri_status_t *st,
                                     berth_err_t *err);

/* Runs r (already initialised) to the end with clock and fn. */
void berth_kubesim_retry_run(berth_kubesim_retry_t *r, const berth_kubesim_clock_t *clock,
                             berth_kubesim_call_fn fn, void *ctx);

/* "Run a pod like the kubelet": RunPodSandbox with cfg retried by p on the
 * connection *c (reconnected to path after a transport failure). On success
 * *pod_id (owned) is set. r is initialised here; finish it with _fini. */
void berth_kubesim_run_pod(berth_cri_client_t **c, const char *path, berth_cri_pod_config_t *cfg,
                           const berth_kubesim_params_t *p, berth_kubesim_retry_t *r,
                           char **pod_id);
/* The same for CreateContainer in pod_id. */
void berth_kubesim_create_ctr(berth_cri_client_t **c, const char *path, const char *pod_id,
                              berth_cri_ctr_config_t *cfg, berth_cri_pod_config_t *pod,
                              const berth_kubesim_params_t *p, berth_kubesim_retry_t *r,
                              char **ctr_id);

#endif
