/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/kubesim: the kubelet retry state machine on a fake clock. The fake
 * "runtime" below answers like a slow CNI under a deadline: it exceeds the
 * deadline until its work is done, then succeeds (berth) or keeps failing
 * (a runtime that throws the work away), so the counts the heavy-load test
 * relies on are checked here without a daemon.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/kubesim.h"
#include "tests/unit/check.h"

#define SEC 1000000000ull

typedef struct fake {
    uint64_t now;
    uint64_t sleeps;
    uint64_t work_done_at; /* absolute time the runtime's slow work ends */
    bool hand_off;         /* a retry gets the result once the work is done */
    unsigned calls;
} fake_t;

static uint64_t fake_now(void *ctx)
{
    return ((fake_t *)ctx)->now;
}

static void fake_sleep(void *ctx, uint64_t ns)
{
    fake_t *f = ctx;
    f->now += ns;
    f->sleeps++;
}

static fake_t fk;

/* A stalled call: answered when the work is done if that comes before the
 * deadline (hand_off), DEADLINE_EXCEEDED at the deadline otherwise. */
static int fake_call(void *ctx, uint64_t timeout_ns, berth_cri_status_t *st, berth_err_t *err)
{
    fake_t *f = &fk;
    f->calls++;
    uint64_t deadline = f->now + timeout_ns;
    if (f->hand_off && f->work_done_at <= deadline) {
        if (f->work_done_at > f->now)
            f->now = f->work_done_at;
        st->code = BERTH_GRPC_OK;
        return 0;
    }
    f->now = deadline;
    st->code = BERTH_GRPC_DEADLINE_EXCEEDED;
    st->msg = berth_strdup("stalled at stage cni");
    return 0;
}

static int failing_transport(void *ctx, uint64_t timeout_ns, berth_cri_status_t *st,
                             berth_err_t *err)
{
    fk.calls++;
    fk.now += SEC / 10;
    return berth_err_make(err, 111, BERTH_ERR_UNAVAILABLE, "connection refused");
}

int main(void)
{
    printf("1..17\n");
    berth_kubesim_clock_t clock = {.now_ns = fake_now, .sleep_ns = fake_sleep, .ctx = &fk};
    berth_kubesim_params_t p = {.deadline_ns = 2 * SEC,
                                .backoff_ns = 1 * SEC,
                                .backoff_factor = 1.0,
                                .max_ns = 60 * SEC};
    berth_kubesim_retry_t r;

    /* Pure state machine. */
    berth_kubesim_retry_init(&r, &p, 100);
    uint64_t arg;
    ok(berth_kubesim_retry_next(&r, 100, &arg) == BERTH_KUBESIM_CALL && arg == 2 * SEC,
       "first step is a call with the deadline");
    berth_kubesim_retry_record(&r, 100, 100 + 2 * SEC, BERTH_GRPC_DEADLINE_EXCEEDED, "x");
    ok(berth_kubesim_retry_next(&r, 100 + 2 * SEC, &arg) == BERTH_KUBESIM_WAIT && arg == SEC,
       "after a failure: wait the backoff");
    ok(berth_kubesim_retry_next(&r, 100 + 3 * SEC, &arg) == BERTH_KUBESIM_CALL,
       "after the backoff: call again");
    berth_kubesim_retry_record(&r, 100 + 3 * SEC, 100 + 4 * SEC, BERTH_GRPC_OK, NULL);
    ok(r.state == BERTH_KUBESIM_SUCCEEDED &&
               berth_kubesim_retry_next(&r, 100 + 4 * SEC, &arg) == BERTH_KUBESIM_DONE,
       "success ends the retry");
    ok(berth_kubesim_retry_time_to_success(&r) == 4 * SEC && r.attempts[0].start_ns == 0 &&
               r.attempts[1].start_ns == 3 * SEC,
       "times are relative to the first request");
    berth_kubesim_retry_fini(&r);

    /* berth-like: slow work of 4.5 s, deadline 2 s, backoff 1 s. The first
     * call times out at 2 s, the retry at 3 s stalls and gets the result at
     * 4.5 s: exactly one DEADLINE_EXCEEDED. */
    fk = (fake_t){.now = 1000 * SEC, .work_done_at = 1004 * SEC + SEC / 2, .hand_off = true};
    berth_kubesim_retry_init(&r, &p, fk.now);
    berth_kubesim_retry_run(&r, &clock, fake_call, NULL);
    ok(r.state == BERTH_KUBESIM_SUCCEEDED, "hand-off runtime: the pod starts");
    ok(berth_kubesim_retry_count(&r, BERTH_GRPC_DEADLINE_EXCEEDED) == 1 && r.n_attempts == 2,
       "hand-off runtime: exactly one DEADLINE_EXCEEDED");
    ok(berth_kubesim_retry_time_to_success(&r) == 4 * SEC + SEC / 2,
       "hand-off runtime: success the moment the slow work ends");
    json_t *j = berth_kubesim_retry_json(&r);
    BERTH_AUTO_FREE char *txt = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    json_t *back = json_loads(txt, 0, NULL);
    ok(back && strcmp(json_string_value(json_object_get(back, "state")), "succeeded") == 0 &&
               json_integer_value(json_object_get(back, "attempts")) == 2 &&
               json_integer_value(json_object_get(json_object_get(back, "errors"),
                                                  "DEADLINE_EXCEEDED")) == 1 &&
               json_real_value(json_object_get(back, "time_to_success_s")) == 4.5,
       "JSON round-trips state, attempts, errors by code and time to success");
    json_t *log = json_object_get(back, "attempt_log");
    ok(json_array_size(log) == 2 &&
               strcmp(json_string_value(json_object_get(json_array_get(log, 0), "message")),
                      "stalled at stage cni") == 0 &&
               json_is_null(json_object_get(json_array_get(log, 1), "message")),
       "JSON attempt log keeps messages (null when none)");
    json_decref(back);
    berth_kubesim_retry_fini(&r);

    /* Work of 6 s: the retry at 3 s stalls to its deadline at 5 s, the one
     * at 6 s is handed the stashed result at once. */
    fk = (fake_t){.now = 0, .work_done_at = 6 * SEC, .hand_off = true};
    berth_kubesim_retry_init(&r, &p, 0);
    berth_kubesim_retry_run(&r, &clock, fake_call, NULL);
    ok(berth_kubesim_retry_count(&r, BERTH_GRPC_DEADLINE_EXCEEDED) == 2 &&
               berth_kubesim_retry_time_to_success(&r) == 6 * SEC && fk.sleeps == 2,
       "stash hand-off: two deadlines, success at the third request's start");
    berth_kubesim_retry_fini(&r);

    /* containerd-like: every attempt starts the work over, none finishes:
     * 2 s + 1 s per attempt in a 60 s budget is 20 errors. */
    fk = (fake_t){.now = 5 * SEC, .hand_off = false};
    berth_kubesim_retry_init(&r, &p, fk.now);
    berth_kubesim_retry_run(&r, &clock, fake_call, NULL);
    ok(r.state == BERTH_KUBESIM_GAVE_UP, "throw-away runtime: the pod never starts");
    ok(berth_kubesim_retry_count(&r, BERTH_GRPC_DEADLINE_EXCEEDED) == 20 && fk.calls == 20,
       "throw-away runtime: 20 errors in 60 s");
    ok(berth_kubesim_retry_time_to_success(&r) == 0, "no success, no time to success");
    berth_kubesim_retry_fini(&r);

    /* Transport failures count as UNAVAILABLE and are retried too. */
    fk = (fake_t){.now = 0};
    berth_kubesim_params_t q = p;
    q.max_ns = 5 * SEC;
    berth_kubesim_retry_init(&r, &q, 0);
    berth_kubesim_retry_run(&r, &clock, failing_transport, NULL);
    ok(r.n_attempts == 5 && berth_kubesim_retry_count(&r, BERTH_GRPC_UNAVAILABLE) == 5 &&
               strcmp(r.attempts[0].msg, "connection refused") == 0,
       "transport failures are recorded as UNAVAILABLE with the cause");
    berth_kubesim_retry_fini(&r);

    /* A growing backoff is capped. */
    berth_kubesim_params_t e = {.deadline_ns = SEC,
                                .backoff_ns = SEC,
                                .backoff_factor = 2.0,
                                .backoff_max_ns = 3 * SEC,
                                .max_ns = 100 * SEC};
    berth_kubesim_retry_init(&r, &e, 0);
    uint64_t t = 0, waits[4];
    for (int i = 0; i < 4; i++) {
        berth_kubesim_retry_record(&r, t, t + SEC, BERTH_GRPC_UNAVAILABLE, NULL);
        t += SEC;
        berth_kubesim_retry_next(&r, t, &waits[i]);
        t += waits[i];
    }
    ok(waits[0] == SEC && waits[1] == 2 * SEC && waits[2] == 3 * SEC && waits[3] == 3 * SEC,
       "exponential backoff grows and stops at its cap");
    berth_kubesim_retry_fini(&r);

    berth_kubesim_params_t d = berth_kubesim_params_sandbox();
    berth_kubesim_params_t c = berth_kubesim_params_container();
    ok(d.deadline_ns == 240 * SEC && c.deadline_ns == 120 * SEC,
       "kubelet defaults: 4 min sandbox, 2 min container");
    return nfail ? 1 : 0;
}
