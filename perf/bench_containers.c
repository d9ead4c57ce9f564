/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench containers: the container lifecycle alone, in pods run before
 * the clock starts (see below). Only the pods it named are touched.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

/* ---- containers: create+start in pods that already run -------------------
 * One pod per worker, run before the clock starts, then N containers created
 * and started in those pods, each worker one at a time in its own pod. This
 * is the container lifecycle alone, the figure to hold against the floor
 * (conmon + the runtime, no daemon): in density every CreateContainer comes
 * right after its pod's RunPodSandbox and also pays for the kernel work that
 * CNI ADD leaves behind (veth, bridge port, addresses, routes). Teardown is
 * the kubelet's: StopContainer for each of a pod's containers, then one
 * StopPodSandbox + RemovePodSandbox per pod. Each pod has its log directory
 * and each container the one below it, made before the runtime's calls as
 * the kubelet makes them; the kubelet's status calls (PodSandboxStatus,
 * ImageStatus, ContainerStatus) go around them and its PLEG relists every
 * second from a thread of its own. */

typedef struct ctr_pool {
    const berth_bench_opts_t *o;
    const berth_bench_endpoint_t *ep;
    const char *tag;
    berth_bench_pod_t *recs;
    unsigned n;
    /* Index claims as in bench_core.c's pool: relaxed suffices, the join
     * orders results. */
    unsigned next;
    double t0; /* written before the go barrier, read after it */
    pthread_barrier_t ready, go;
    double *teardown; /* one per worker */
    char **errors;    /* a worker's pod failure, owned */
} ctr_pool_t;

typedef struct ctr_worker_arg {
    ctr_pool_t *cp;
    unsigned w;
} ctr_worker_arg_t;

static void *ctr_worker(void *arg)
{
    ctr_worker_arg_t *a = arg;
    ctr_pool_t *cp = a->cp;
    const berth_bench_opts_t *o = cp->o;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(cp->ep->sock, &err);
    char name[64], uid[64];
    snprintf(name, sizeof(name), "ctrs-%s-w%u", cp->tag, a->w);
    snprintf(uid, sizeof(uid), "ctrs-uid-%s-w%u", cp->tag, a->w);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", uid);
    berth_bench_pod_cgroup(cgp, true);
    berth_cri_pod_spec_t ps = {.name = name,
                               .uid = uid,
                               .namespace_ = "berth-bench",
                               .log_root = BERTH_BENCH_LOG_ROOT,
                               .cgroup_parent = cgp,
                               .runtime_handler = o->handler};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_cri_status_t st = {0};
    char *pod_id = NULL, *perr = NULL;
    /* The containers this worker made, stopped one by one at teardown. */
    BERTH_AUTO_FREE unsigned *mine = berth_calloc(cp->n ? cp->n : 1, sizeof(unsigned));
    unsigned nmine = 0;
    int mk = berth_bench_log_dir_make(BERTH_BENCH_LOG_ROOT, name, uid, NULL);
    if (c == NULL)
        perr = berth_asprintf("connect: %s", err->msg);
    else if (mk < 0)
        perr = berth_asprintf("pod log directory: %s", strerror(-mk));
    else if (!berth_bench_call_failed(
                     "RunPodSandbox",
                     berth_cri_run_pod(c, pc, 240 * BERTH_BENCH_SEC, &pod_id, &st, &err), &err, &st,
                     &perr))
        berth_bench_call_failed("PodSandboxStatus",
                                berth_cri_pod_status_id(c, pod_id, 30 * BERTH_BENCH_SEC, &st, &err),
                                &err, &st, &perr);
    pthread_barrier_wait(&cp->ready);
    pthread_barrier_wait(&cp->go);
    for (;;) {
        unsigned i = __atomic_fetch_add(&cp->next, 1, __ATOMIC_RELAXED);
        if (i >= cp->n)
            break;
        berth_bench_pod_t *p = &cp->recs[i];
        double t = berth_bench_mono_s();
        p->t_start = t - cp->t0;
        if (perr != NULL) {
            p->error = berth_strdup(perr);
        } else if (berth_bench_ensure_image(o, c, &p->error) == 0 &&
                   (mk = berth_bench_log_dir_make(BERTH_BENCH_LOG_ROOT, name, uid, p->name)) < 0) {
            p->error = berth_asprintf("container log directory: %s", strerror(-mk));
        } else if (p->error == NULL) {
            /* As the kubelet: ImageStatus and the log directory above, then
             * Create + Start (the ctr figures), then ContainerStatus. */
            berth_cri_ctr_spec_t cs = {
                    .name = p->name, .image = o->image, .command = berth_bench_ctr_command(o)};
            berth_cri_ctr_config_t *cc = berth_cri_ctr_config_new(&cs, &ps);
            double tc = berth_bench_mono_s();
            int rc = berth_cri_create_ctr(c, pod_id, cc, pc, 120 * BERTH_BENCH_SEC, &p->ctr_id, &st,
                                          &err);
            if (p->ctr_id != NULL)
                mine[nmine++] = i;
            if (!berth_bench_call_failed("CreateContainer", rc, &err, &st, &p->error)) {
                double ts = berth_bench_mono_s();
                p->create = ts - tc;
                rc = berth_cri_start_ctr(c, p->ctr_id, 120 * BERTH_BENCH_SEC, &st, &err);
                if (!berth_bench_call_failed("StartContainer", rc, &err, &st, &p->error)) {
                    double te = berth_bench_mono_s();
                    p->start = te - ts;
                    p->ctr = te - tc;
                    rc = berth_cri_ctr_status_id(c, p->ctr_id, 30 * BERTH_BENCH_SEC, &st, &err);
                    if (!berth_bench_call_failed("ContainerStatus", rc, &err, &st, &p->error))
                        p->ok = true;
                }
            }
            berth_cri_ctr_config_free(cc);
        }
        p->t_end = berth_bench_mono_s() - cp->t0;
        p->latency = p->t_end - p->t_start;
        berth_bench_progress_tick();
    }
    pthread_barrier_wait(&cp->ready); /* every container started: teardown */
    cp->teardown[a->w] = NAN;
    if (pod_id != NULL) {
        double t = berth_bench_mono_s();
        /* The kubelet's order: each container stopped with its grace, then
         * the sandbox stopped and removed (which removes the containers). */
        int64_t g = berth_bench_stop_grace(getenv("BERTH_BENCH_STOP_GRACE"));
        for (unsigned j = 0; j < nmine; j++) {
            berth_bench_pod_t *p = &cp->recs[mine[j]];
            int rc = berth_cri_stop_ctr(c, p->ctr_id, g, ((uint64_t)g + 120) * BERTH_BENCH_SEC, &st,
                                        &err);
            berth_bench_call_failed("StopContainer", rc, &err, &st, &perr);
        }
        int rc = berth_cri_stop_pod(c, pod_id, 120 * BERTH_BENCH_SEC, &st, &err);
        if (!berth_bench_call_failed("StopPodSandbox", rc, &err, &st, &perr)) {
            rc = berth_cri_remove_pod(c, pod_id, 120 * BERTH_BENCH_SEC, &st, &err);
            berth_bench_call_failed("RemovePodSandbox", rc, &err, &st, &perr);
        }
        cp->teardown[a->w] = berth_bench_mono_s() - t;
    }
    berth_bench_pod_logs_remove(name, uid);
    berth_bench_pod_cgroup(cgp, false);
    cp->errors[a->w] = perr;
    berth_free(pod_id);
    berth_cri_pod_config_free(pc);
    berth_cri_client_free(c);
    return NULL;
}

static json_t *run_containers(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                              const char *tag)
{
    unsigned n = o->n < 0 ? 110 : (unsigned)o->n;
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    unsigned nw = (unsigned)o->workers < n ? (unsigned)o->workers : n;
    if (nw == 0)
        nw = 1;
    pthread_t th[256];
    if (nw > BERTH_ARRAY_LEN(th))
        nw = BERTH_ARRAY_LEN(th);
    json_t *res = berth_bench_new_result(ep);
    ctr_pool_t cp = {
            .o = o, .ep = ep, .tag = tag, .recs = berth_bench_pods_new(n, "ctr", tag), .n = n};
    cp.teardown = berth_calloc(nw, sizeof(double));
    cp.errors = berth_calloc(nw, sizeof(char *));
    ctr_worker_arg_t args[256];
    pthread_barrier_init(&cp.ready, NULL, nw + 1);
    pthread_barrier_init(&cp.go, NULL, nw + 1);
    for (unsigned i = 0; i < nw; i++) {
        args[i] = (ctr_worker_arg_t){.cp = &cp, .w = i};
        pthread_create(&th[i], NULL, ctr_worker, &args[i]);
    }
    pthread_barrier_wait(&cp.ready); /* the pods run */
    berth_bench_watch_t w;
    berth_bench_watch_start(&w, ep, true);
    berth_bench_progress_begin(o, "containers", n);
    cp.t0 = berth_bench_mono_s();
    pthread_barrier_wait(&cp.go);
    pthread_barrier_wait(&cp.ready); /* every container started */
    double wall = berth_bench_mono_s() - cp.t0;
    berth_bench_progress_end();
    berth_bench_watch_started(&w, res, cp.recs, n, wall);
    double t1 = berth_bench_mono_s();
    for (unsigned i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    double twall = berth_bench_mono_s() - t1;
    berth_bench_watch_stop(&w, res);
    size_t k = 0;
    for (unsigned i = 0; i < nw; i++)
        if (!isnan(cp.teardown[i]))
            cp.teardown[k++] = cp.teardown[i];
    berth_bench_summary_t ts;
    berth_bench_summarize(cp.teardown, k, &ts);
    json_object_set_new(res, "teardown_s", berth_bench_summary_json(&ts));
    json_object_set_new(res, "teardown_wall_s", json_real(twall));
    json_object_set_new(res, "pod_sandboxes", json_integer(nw));
    for (unsigned i = 0; i < nw; i++)
        if (cp.errors[i]) {
            fprintf(stderr, "berth-bench: containers: worker %u's pod: %s\n", i, cp.errors[i]);
            berth_free(cp.errors[i]);
        }
    pthread_barrier_destroy(&cp.ready);
    pthread_barrier_destroy(&cp.go);
    berth_free(cp.teardown);
    berth_free(cp.errors);
    berth_bench_pods_free(cp.recs, n);
    return res;
}

const berth_bench_scenario_t berth_bench_containers = {
        .name = "containers",
        .run = run_containers,
        .metrics = berth_bench_density_metrics,
        .print_detail = berth_bench_pleg_print,
        .plots = true,
};
