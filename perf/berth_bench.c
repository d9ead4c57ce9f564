/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench: CRI runtime benchmarks against any CRI socket (berthd,
 * containerd, CRI-O), and the same container lifecycle straight through
 * conmon + runc as the floor. Scenarios (docs/perf.md says what each figure
 * means):
 *
 *   density   N pods with one container, P workers: Run/Create/Start
 *             latency per pod, pods/s, then timed teardown
 *   containers  P pods run first (untimed), then N containers created and
 *             started in them: the container lifecycle alone, the figure
 *             to hold against the floor
 *   churn     pods created at a fixed rate for T s, each deleted after L s
 *   relist    N pods running; List{PodSandbox,Containers,ContainerStats}
 *             every second for T s: latency and the runtime's CPU per relist
 *   slow-cni  a CNI plugin that takes D s on ADD is put first in the
 *             runtime's CNI conf dir; pods are run kubelet-style (deadline,
 *             backoff): errors seen, ADD calls, hand-off time
 *   floor     conmon + runc create/start/kill/delete without a CRI daemon,
 *             on the OCI spec berthd writes for the same container
 *             (--floor-spec runtime: the runtime's own `spec` default)
 *
 * For every run it samples the runtime's own RSS and CPU from /proc by
 * process-name patterns. Output: a table (and a progress bar on a terminal),
 * --json FILE, --plot DIR (gnuplot). --compare A=SOCK1 B=SOCK2 runs the
 * scenario against both, alternating the order per round, and prints B/A.
 * It only ever signals processes it started itself (the floor's conmon and
 * runc children, by PID).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "io/netns.h"
#include "io/ocispec.h"
#include "perf/bench_stats.h"
#include "perf/kubesim.h"

extern char **environ;

#define SEC 1000000000ull
#define MAX_ENDPOINTS 4

typedef struct endpoint {
    char *label;
    char *sock;   /* NULL for the floor */
    char **procs; /* comm patterns of the runtime's processes */
} endpoint_t;

static struct opts {
    const char *scenario;
    int n;
    int workers;
    double seconds;
    double rate;
    double lifetime;
    const char *image;
    char **command;
    const char *json_path;
    const char *plot_dir;
    int rounds;
    double slow_delay, deadline, backoff, max;
    const char *cni_conf_dir, *cni_bin_dir;
    const char *handler;
    const char *oci_runtime;
    const char *floor_dir;
    bool floor_runtime_spec; /* the runtime's `spec` default, not berth's */
    bool no_pull;
    bool progress;
} o = {
        .n = -1,
        .workers = 4,
        .seconds = 30,
        .rate = 2,
        .lifetime = 5,
        .image = "docker.io/library/busybox:latest",
        .rounds = 1,
        .slow_delay = 6,
        .deadline = 2,
        .backoff = 1,
        .max = 60,
        .oci_runtime = "/usr/sbin/runc",
        .floor_dir = "/tmp/berth-bench-floor",
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double real_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- progress and runtime sampling ----------------------------------------- */

static struct progress {
    const char *what;
    unsigned total;
    /* Bumped by workers, read by the printer: a count for display only, so
     * relaxed ordering suffices (no data is published through it). */
    unsigned done;
    bool stop;
    pthread_t thread;
} prog;

static void *progress_main(void *arg)
{
    for (;;) {
        /* Pairs with the release store in progress_end: once seen, the
         * final count below is the one the workers left. */
        bool stop = __atomic_load_n(&prog.stop, __ATOMIC_ACQUIRE);
        unsigned d = __atomic_load_n(&prog.done, __ATOMIC_RELAXED);
        unsigned t = prog.total ? prog.total : 1;
        int w = (int)(40.0 * d / t);
        fprintf(stderr, "\r%-10s [%.*s%*s] %u/%u", prog.what, w,
                "########################################", 40 - w, "", d, prog.total);
        if (stop)
            break;
        sleep_s(0.2);
    }
    fputs("\n", stderr);
    return NULL;
}

static void progress_begin(const char *what, unsigned total)
{
    prog.what = what;
    prog.total = total;
    prog.done = 0;
    prog.stop = false;
    if (o.progress)
        pthread_create(&prog.thread, NULL, progress_main, NULL);
}

static void progress_tick(void)
{
    /* Display-only counter: see struct progress. */
    __atomic_fetch_add(&prog.done, 1, __ATOMIC_RELAXED);
}

static void progress_end(void)
{
    if (!o.progress)
        return;
    /* Pairs with the acquire load in progress_main. */
    __atomic_store_n(&prog.stop, true, __ATOMIC_RELEASE);
    pthread_join(prog.thread, NULL);
}

/* A thread sampling the runtime's processes twice a second while a scenario
 * runs: the peak RSS and the RSS/CPU series for plots. */
typedef struct sampler {
    const endpoint_t *ep;
    double t0;
    bool stop; /* see sampler_stop */
    pthread_t thread;
    double peak_rss_mb;
    json_t *series; /* [[t, rss_mb, cpu_s, nprocs], ...] */
} sampler_t;

static void *sampler_main(void *arg)
{
    sampler_t *s = arg;
    /* Pairs with the release store in sampler_stop; nothing else is shared
     * until the join, which orders the rest. */
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        berth_bench_usage_t u;
        berth_bench_usage_sample((const char *const *)s->ep->procs, &u);
        double mb = (double)u.rss_bytes / 1048576.0;
        if (mb > s->peak_rss_mb)
            s->peak_rss_mb = mb;
        json_array_append_new(s->series,
                              json_pack("[f,f,f,i]", mono_s() - s->t0, mb, u.cpu_s, (int)u.nprocs));
        sleep_s(0.5);
    }
    return NULL;
}

static void sampler_start(sampler_t *s, const endpoint_t *ep)
{
    memset(s, 0, sizeof(*s));
    s->ep = ep;
    s->t0 = mono_s();
    s->series = json_array();
    pthread_create(&s->thread, NULL, sampler_main, s);
}

static void sampler_stop(sampler_t *s)
{
    __atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
}

static json_t *usage_json(const berth_bench_usage_t *u)
{
    return json_pack("{s:f,s:f,s:i}", "cpu_s", u->cpu_s, "rss_mb", (double)u->rss_bytes / 1048576.0,
                     "nprocs", (int)u->nprocs);
}

/* ---- pods ------------------------------------------------------------------ */

typedef struct pod_rec {
    char name[64], uid[64];
    char *pod_id, *ctr_id;
    double t_start, t_end; /* since the phase began */
    double latency, teardown;
    /* The two halves of latency: RunPodSandbox, and CreateContainer +
     * StartContainer (the whole of latency for the floor, which has no pod);
     * NAN when that half did not complete. */
    double sandbox, ctr;
    /* ctr's two parts: CreateContainer and StartContainer (the floor: conmon
     * up to the pid on the sync pipe, then runc start). */
    double create, start;
    bool ok;
    char *error; /* first failure, owned */
} pod_rec_t;

static char run_tag[16];

static void pod_rec_fini(pod_rec_t *p)
{
    berth_free(p->pod_id);
    berth_free(p->ctr_id);
    berth_free(p->error);
}

/* True when a CRI call failed (transport error or a non-OK status); the
 * first failure is kept in *error. Frees err and st either way. */
static bool call_failed(const char *what, int rc, berth_err_t *err, berth_cri_status_t *st,
                        char **error)
{
    if (rc == 0 && st->code == BERTH_GRPC_OK) {
        berth_cri_status_fini(st);
        return false;
    }
    if (*error == NULL) {
        if (rc < 0)
            *error = berth_asprintf("%s: %s", what, (*err)->msg);
        else
            *error = berth_asprintf("%s: %s: %s", what, berth_grpc_code_name(st->code),
                                    st->msg ? st->msg : "");
    }
    berth_err_free(err);
    berth_cri_status_fini(st);
    return true;
}

/* ---- the kubelet's pod cgroups (cgroupfs driver) ----------------------------
 * The kubelet makes a pod's cgroup, /kubepods/<qos>/pod<uid>, in every
 * hierarchy before it calls RunPodSandbox, and removes it once the pod is
 * gone; the runtime only makes each container's leaf below it. berth-bench
 * does the same, outside the timed calls, so that the runtime is measured on
 * the work a node gives it (and the floor on the same). */

static char **cg_roots; /* mount points of the cgroup hierarchies */
static size_t n_cg_roots;
static pthread_once_t cg_once = PTHREAD_ONCE_INIT;

static void cg_roots_init(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (f == NULL)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* "id parent maj:min root mountpoint opts ... - fstype source superopts" */
        char mp[4096], fstype[64];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        if (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0)
            continue;
        cg_roots = berth_realloc(cg_roots, (n_cg_roots + 1) * sizeof(char *));
        cg_roots[n_cg_roots++] = berth_strdup(mp);
    }
    free(line);
    fclose(f);
}

/* A v1 cpuset directory starts with empty cpus and mems, which no task can
 * join: copy the parent's, as the kubelet and runc do. */
static void cg_cpuset_inherit(const char *dir)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(files); i++) {
        BERTH_AUTO_FREE char *mine = berth_asprintf("%s/%s", dir, files[i]);
        BERTH_AUTO_FREE char *theirs = berth_asprintf("%s/../%s", dir, files[i]);
        char buf[256] = "";
        FILE *f = fopen(theirs, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        f = fopen(mine, "w");
        if (f) {
            fputs(buf, f);
            fclose(f);
        }
    }
}

/* Makes (make) or removes the cgroup REL ("/a/b/podX") in every hierarchy;
 * removal takes the last component only (the levels above are shared). */
static void pod_cgroup(const char *rel, bool make)
{
    pthread_once(&cg_once, cg_roots_init);
    for (size_t i = 0; i < n_cg_roots; i++) {
        BERTH_AUTO_FREE char *full = berth_asprintf("%s%s", cg_roots[i], rel);
        if (!make) {
            rmdir(full);
            continue;
        }
        bool cpuset = strstr(cg_roots[i], "cpuset") != NULL;
        for (char *p = full + strlen(cg_roots[i]) + 1;; p++) {
            if (*p != '/' && *p != '\0')
                continue;
            char c = *p;
            *p = '\0';
            if (mkdir(full, 0755) == 0 && cpuset)
                cg_cpuset_inherit(full);
            *p = c;
            if (c == '\0')
                break;
        }
    }
}

/* The pods' log directories (the kubelet's /var/log/pods). Removing a
 * deleted pod's directory is the kubelet's job, so berth-bench, playing the
 * kubelet, does it after RemovePodSandbox. */
#define BENCH_LOG_ROOT "/tmp/berth-bench-logs"

static void pod_logs_remove(const char *name, const char *uid)
{
    BERTH_AUTO_FREE char *d = berth_asprintf("%s/berth-bench_%s_%s", BENCH_LOG_ROOT, name, uid);
    berth_fs_remove_tree(d);
}

/* Run + Create + Start for one pod on c; fills p. */
static void pod_up(berth_cri_client_t *c, pod_rec_t *p, double t0)
{
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    pod_cgroup(cgp, true);
    berth_cri_pod_spec_t ps = {.name = p->name,
                               .uid = p->uid,
                               .namespace_ = "berth-bench",
                               .log_root = BENCH_LOG_ROOT,
                               .cgroup_parent = cgp,
                               .runtime_handler = o.handler};
    berth_cri_ctr_spec_t cs = {
            .name = "main", .image = o.image, .command = (const char *const *)o.command};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_cri_ctr_config_t *cc = berth_cri_ctr_config_new(&cs, &ps);
    berth_cri_status_t st = {0};
    berth_err_t err = NULL;
    double t = mono_s();
    p->t_start = t - t0;
    int rc = berth_cri_run_pod(c, pc, 240 * SEC, &p->pod_id, &st, &err);
    if (call_failed("RunPodSandbox", rc, &err, &st, &p->error))
        goto out;
    double tc = mono_s();
    p->sandbox = tc - t;
    rc = berth_cri_create_ctr(c, p->pod_id, cc, pc, 120 * SEC, &p->ctr_id, &st, &err);
    if (call_failed("CreateContainer", rc, &err, &st, &p->error))
        goto out;
    double ts = mono_s();
    p->create = ts - tc;
    rc = berth_cri_start_ctr(c, p->ctr_id, 120 * SEC, &st, &err);
    if (call_failed("StartContainer", rc, &err, &st, &p->error))
        goto out;
    p->start = mono_s() - ts;
    p->ctr = mono_s() - tc;
    p->ok = true;
out:
    p->t_end = mono_s() - t0;
    p->latency = p->t_end - p->t_start;
    berth_cri_ctr_config_free(cc);
    berth_cri_pod_config_free(pc);
}

/* StopPodSandbox + RemovePodSandbox, as the kubelet tears a pod down (the
 * sandbox stop kills its containers). */
static void pod_down(berth_cri_client_t *c, pod_rec_t *p)
{
    if (p->pod_id == NULL)
        return;
    berth_cri_status_t st = {0};
    berth_err_t err = NULL;
    double t = mono_s();
    int rc = berth_cri_stop_pod(c, p->pod_id, 120 * SEC, &st, &err);
    if (!call_failed("StopPodSandbox", rc, &err, &st, &p->error)) {
        rc = berth_cri_remove_pod(c, p->pod_id, 120 * SEC, &st, &err);
        call_failed("RemovePodSandbox", rc, &err, &st, &p->error);
    }
    p->teardown = mono_s() - t;
    pod_logs_remove(p->name, p->uid);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    pod_cgroup(cgp, false);
}

typedef struct pool {
    const endpoint_t *ep;
    pod_rec_t *pods;
    unsigned n;
    /* The next pod index: workers claim indexes with fetch_add; each pod
     * record is then touched by one worker only and read after the join, so
     * relaxed ordering suffices. */
    unsigned next;
    bool down;
    double t0;
} pool_t;

static void *pool_worker(void *arg)
{
    pool_t *pl = arg;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(pl->ep->sock, &err);
    for (;;) {
        unsigned i = __atomic_fetch_add(&pl->next, 1, __ATOMIC_RELAXED);
        if (i >= pl->n)
            break;
        pod_rec_t *p = &pl->pods[i];
        if (c == NULL) {
            if (p->error == NULL)
                p->error = berth_asprintf("connect: %s", err->msg);
        } else if (pl->down) {
            pod_down(c, p);
        } else {
            pod_up(c, p, pl->t0);
        }
        progress_tick();
    }
    berth_cri_client_free(c);
    return NULL;
}

static double pool_run(const endpoint_t *ep, pod_rec_t *pods, unsigned n, bool down)
{
    pool_t pl = {.ep = ep, .pods = pods, .n = n, .down = down, .t0 = mono_s()};
    unsigned nw = (unsigned)o.workers < n ? (unsigned)o.workers : n;
    pthread_t th[256];
    if (nw > BERTH_ARRAY_LEN(th))
        nw = BERTH_ARRAY_LEN(th);
    progress_begin(down ? "teardown" : "startup", n);
    for (unsigned i = 0; i < nw; i++)
        pthread_create(&th[i], NULL, pool_worker, &pl);
    for (unsigned i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    progress_end();
    return mono_s() - pl.t0;
}

static pod_rec_t *pods_new(unsigned n, const char *kind)
{
    pod_rec_t *pods = berth_calloc(n ? n : 1, sizeof(*pods));
    for (unsigned i = 0; i < n; i++) {
        snprintf(pods[i].name, sizeof(pods[i].name), "%s-%s-%u", kind, run_tag, i);
        snprintf(pods[i].uid, sizeof(pods[i].uid), "%s-uid-%s-%u", kind, run_tag, i);
        pods[i].sandbox = NAN;
        pods[i].ctr = NAN;
        pods[i].create = NAN;
        pods[i].start = NAN;
    }
    return pods;
}

static void pods_free(pod_rec_t *pods, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        pod_rec_fini(&pods[i]);
    berth_free(pods);
}

/* Errors by message prefix, first few kept verbatim for the report. */
static json_t *pods_errors(const pod_rec_t *pods, unsigned n, unsigned *count)
{
    json_t *a = json_array();
    *count = 0;
    for (unsigned i = 0; i < n; i++) {
        if (pods[i].error == NULL)
            continue;
        if (*count < 5)
            json_array_append_new(a, json_string(pods[i].error));
        (*count)++;
    }
    return a;
}

static int pull_image(const endpoint_t *ep)
{
    if (o.no_pull)
        return 0;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    if (c == NULL) {
        fprintf(stderr, "berth-bench: %s: %s\n", ep->label, err->msg);
        return -1;
    }
    berth_cri_status_t st = {0};
    int rc = berth_cri_pull(c, o.image, 300 * SEC, NULL, &st, &err);
    berth_cri_client_free(c);
    if (rc < 0 || st.code != BERTH_GRPC_OK) {
        fprintf(stderr, "berth-bench: %s: PullImage %s: %s\n", ep->label, o.image,
                rc < 0   ? err->msg
                : st.msg ? st.msg
                         : berth_grpc_code_name(st.code));
        berth_cri_status_fini(&st);
        return -1;
    }
    berth_cri_status_fini(&st);
    return 0;
}

/* The startup half shared by density and relist: figures into res. */
static void startup_figures(json_t *res, pod_rec_t *pods, unsigned n, double wall,
                            const berth_bench_usage_t *u0, const berth_bench_usage_t *u1)
{
    BERTH_AUTO_FREE double *lat = berth_calloc(n ? n : 1, sizeof(double));
    BERTH_AUTO_FREE double *ends = berth_calloc(n ? n : 1, sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok) {
            lat[k] = pods[i].latency;
            ends[k++] = pods[i].t_end;
        }
    berth_bench_summary_t s;
    berth_bench_summarize(lat, k, &s);
    /* The halves, over the pods that started (so both halves exist). */
    BERTH_AUTO_FREE double *half = berth_calloc(n ? n : 1, sizeof(double));
    size_t ks = 0, kc = 0;
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok && !isnan(pods[i].sandbox))
            half[ks++] = pods[i].sandbox;
    if (ks > 0) {
        berth_bench_summary_t hs;
        berth_bench_summarize(half, ks, &hs);
        json_object_set_new(res, "sandbox_s", berth_bench_summary_json(&hs));
    }
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok && !isnan(pods[i].ctr))
            half[kc++] = pods[i].ctr;
    if (kc > 0) {
        berth_bench_summary_t hs;
        berth_bench_summarize(half, kc, &hs);
        json_object_set_new(res, "ctr_create_start_s", berth_bench_summary_json(&hs));
        json_object_set_new(res, "ctr_create_start_samples_s", berth_bench_json_doubles(half, kc));
    }
    size_t kcr = 0, kst = 0;
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok && !isnan(pods[i].create))
            half[kcr++] = pods[i].create;
    if (kcr > 0) {
        berth_bench_summary_t hs;
        berth_bench_summarize(half, kcr, &hs);
        json_object_set_new(res, "ctr_create_s", berth_bench_summary_json(&hs));
    }
    for (unsigned i = 0; i < n; i++)
        if (pods[i].ok && !isnan(pods[i].start))
            half[kst++] = pods[i].start;
    if (kst > 0) {
        berth_bench_summary_t hs;
        berth_bench_summarize(half, kst, &hs);
        json_object_set_new(res, "ctr_start_s", berth_bench_summary_json(&hs));
    }
    unsigned nerr;
    json_object_set_new(res, "pods", json_integer(n));
    json_object_set_new(res, "started", json_integer((json_int_t)k));
    json_object_set_new(res, "startup_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "startup_wall_s", json_real(wall));
    json_object_set_new(res, "pods_per_s", json_real(wall > 0 ? (double)k / wall : 0));
    json_object_set_new(res, "startup_samples_s", berth_bench_json_doubles(lat, k));
    json_object_set_new(res, "ready_at_s", berth_bench_json_doubles(ends, k));
    json_object_set_new(res, "error_samples", pods_errors(pods, n, &nerr));
    json_object_set_new(res, "errors", json_integer(nerr));
    json_t *rt = json_object_get(res, "runtime");
    double cpu = u1->cpu_s - u0->cpu_s;
    json_object_set_new(rt, "idle", usage_json(u0));
    json_object_set_new(rt, "loaded", usage_json(u1));
    json_object_set_new(rt, "startup_cpu_s", json_real(cpu));
    json_object_set_new(rt, "cpu_s_per_pod", json_real(k ? cpu / (double)k : 0));
    json_object_set_new(
            rt, "rss_mb_per_pod",
            json_real(k ? ((double)u1->rss_bytes - (double)u0->rss_bytes) / 1048576.0 / (double)k
                        : 0));
}

static void teardown_figures(json_t *res, pod_rec_t *pods, unsigned n, double wall)
{
    BERTH_AUTO_FREE double *td = berth_calloc(n ? n : 1, sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < n; i++)
        if (pods[i].pod_id)
            td[k++] = pods[i].teardown;
    berth_bench_summary_t s;
    berth_bench_summarize(td, k, &s);
    json_object_set_new(res, "teardown_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "teardown_wall_s", json_real(wall));
}

static json_t *new_result(const endpoint_t *ep)
{
    return json_pack("{s:s,s:s?,s:{}}", "endpoint", ep->label, "socket", ep->sock, "runtime");
}

static json_t *run_density(const endpoint_t *ep)
{
    unsigned n = o.n < 0 ? 110 : (unsigned)o.n;
    if (pull_image(ep) < 0)
        return NULL;
    json_t *res = new_result(ep);
    pod_rec_t *pods = pods_new(n, "density");
    sampler_t smp;
    berth_bench_usage_t u0, u1, u2;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    sampler_start(&smp, ep);
    double wall = pool_run(ep, pods, n, false);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    startup_figures(res, pods, n, wall, &u0, &u1);
    double twall = pool_run(ep, pods, n, true);
    sampler_stop(&smp);
    berth_bench_usage_sample((const char *const *)ep->procs, &u2);
    teardown_figures(res, pods, n, twall);
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "after", usage_json(&u2));
    json_object_set_new(rt, "rss_peak_mb", json_real(smp.peak_rss_mb));
    json_object_set_new(rt, "series", smp.series);
    pods_free(pods, n);
    return res;
}

/* ---- relist ------------------------------------------------------------------ */

static double timed_list(berth_cri_client_t *c, int which, bool *ok)
{
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    double t = mono_s();
    int rc;
    if (which == 0) {
        Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        Runtime__V1__ListPodSandboxResponse *r = NULL;
        rc = berth_cri_list_pod_sandbox(c, &req, 10 * SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    } else if (which == 1) {
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ListContainersResponse *r = NULL;
        rc = berth_cri_list_containers(c, &req, 10 * SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    } else {
        Runtime__V1__ListContainerStatsRequest req =
                RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
        Runtime__V1__ListContainerStatsResponse *r = NULL;
        rc = berth_cri_list_container_stats(c, &req, 10 * SEC, &r, &st, &err);
        berth_cri_msg_free(r);
    }
    double dt = mono_s() - t;
    *ok = rc == 0 && st.code == BERTH_GRPC_OK;
    berth_cri_status_fini(&st);
    return dt;
}

/* ---- containers: create+start in pods that already run -------------------
 * One pod per worker, run before the clock starts, then N containers created
 * and started in those pods, each worker one at a time in its own pod. This
 * is the container lifecycle alone, the figure to hold against the floor
 * (conmon + the runtime, no daemon): in density every CreateContainer comes
 * right after its pod's RunPodSandbox and also pays for the kernel work that
 * CNI ADD leaves behind (veth, bridge port, addresses, routes). Teardown is
 * one StopPodSandbox + RemovePodSandbox per pod. */

typedef struct ctr_pool {
    const endpoint_t *ep;
    pod_rec_t *recs;
    unsigned n;
    /* Index claims as in pool_t: relaxed suffices, the join orders results. */
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
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(cp->ep->sock, &err);
    char name[64], uid[64];
    snprintf(name, sizeof(name), "ctrs-%s-w%u", run_tag, a->w);
    snprintf(uid, sizeof(uid), "ctrs-uid-%s-w%u", run_tag, a->w);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", uid);
    pod_cgroup(cgp, true);
    berth_cri_pod_spec_t ps = {.name = name,
                               .uid = uid,
                               .namespace_ = "berth-bench",
                               .log_root = BENCH_LOG_ROOT,
                               .cgroup_parent = cgp,
                               .runtime_handler = o.handler};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_cri_status_t st = {0};
    char *pod_id = NULL, *perr = NULL;
    if (c == NULL)
        perr = berth_asprintf("connect: %s", err->msg);
    else
        call_failed("RunPodSandbox", berth_cri_run_pod(c, pc, 240 * SEC, &pod_id, &st, &err), &err,
                    &st, &perr);
    pthread_barrier_wait(&cp->ready);
    pthread_barrier_wait(&cp->go);
    for (;;) {
        unsigned i = __atomic_fetch_add(&cp->next, 1, __ATOMIC_RELAXED);
        if (i >= cp->n)
            break;
        pod_rec_t *p = &cp->recs[i];
        double t = mono_s();
        p->t_start = t - cp->t0;
        if (perr != NULL) {
            p->error = berth_strdup(perr);
        } else {
            berth_cri_ctr_spec_t cs = {
                    .name = p->name, .image = o.image, .command = (const char *const *)o.command};
            berth_cri_ctr_config_t *cc = berth_cri_ctr_config_new(&cs, &ps);
            int rc = berth_cri_create_ctr(c, pod_id, cc, pc, 120 * SEC, &p->ctr_id, &st, &err);
            if (!call_failed("CreateContainer", rc, &err, &st, &p->error)) {
                double ts = mono_s();
                p->create = ts - t;
                rc = berth_cri_start_ctr(c, p->ctr_id, 120 * SEC, &st, &err);
                if (!call_failed("StartContainer", rc, &err, &st, &p->error)) {
                    p->start = mono_s() - ts;
                    p->ctr = mono_s() - t;
                    p->ok = true;
                }
            }
            berth_cri_ctr_config_free(cc);
        }
        p->t_end = mono_s() - cp->t0;
        p->latency = p->t_end - p->t_start;
        progress_tick();
    }
    pthread_barrier_wait(&cp->ready); /* every container started: teardown */
    cp->teardown[a->w] = NAN;
    if (pod_id != NULL) {
        double t = mono_s();
        int rc = berth_cri_stop_pod(c, pod_id, 120 * SEC, &st, &err);
        if (!call_failed("StopPodSandbox", rc, &err, &st, &perr)) {
            rc = berth_cri_remove_pod(c, pod_id, 120 * SEC, &st, &err);
            call_failed("RemovePodSandbox", rc, &err, &st, &perr);
        }
        cp->teardown[a->w] = mono_s() - t;
    }
    pod_logs_remove(name, uid);
    pod_cgroup(cgp, false);
    cp->errors[a->w] = perr;
    berth_free(pod_id);
    berth_cri_pod_config_free(pc);
    berth_cri_client_free(c);
    return NULL;
}

static json_t *run_containers(const endpoint_t *ep)
{
    unsigned n = o.n < 0 ? 110 : (unsigned)o.n;
    if (pull_image(ep) < 0)
        return NULL;
    unsigned nw = (unsigned)o.workers < n ? (unsigned)o.workers : n;
    if (nw == 0)
        nw = 1;
    pthread_t th[256];
    if (nw > BERTH_ARRAY_LEN(th))
        nw = BERTH_ARRAY_LEN(th);
    json_t *res = new_result(ep);
    ctr_pool_t cp = {.ep = ep, .recs = pods_new(n, "ctr"), .n = n};
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
    sampler_t smp;
    berth_bench_usage_t u0, u1, u2;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    sampler_start(&smp, ep);
    progress_begin("containers", n);
    cp.t0 = mono_s();
    pthread_barrier_wait(&cp.go);
    pthread_barrier_wait(&cp.ready); /* every container started */
    double wall = mono_s() - cp.t0;
    progress_end();
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    startup_figures(res, cp.recs, n, wall, &u0, &u1);
    double t1 = mono_s();
    for (unsigned i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    double twall = mono_s() - t1;
    sampler_stop(&smp);
    berth_bench_usage_sample((const char *const *)ep->procs, &u2);
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
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "after", usage_json(&u2));
    json_object_set_new(rt, "rss_peak_mb", json_real(smp.peak_rss_mb));
    json_object_set_new(rt, "series", smp.series);
    pthread_barrier_destroy(&cp.ready);
    pthread_barrier_destroy(&cp.go);
    berth_free(cp.teardown);
    berth_free(cp.errors);
    pods_free(cp.recs, n);
    return res;
}

static json_t *run_relist(const endpoint_t *ep)
{
    unsigned n = o.n < 0 ? 20 : (unsigned)o.n;
    if (pull_image(ep) < 0)
        return NULL;
    json_t *res = new_result(ep);
    pod_rec_t *pods = pods_new(n, "relist");
    berth_bench_usage_t u0, u1, u2, u3;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double wall = pool_run(ep, pods, n, false);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    startup_figures(res, pods, n, wall, &u0, &u1);

    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    unsigned rounds = (unsigned)(o.seconds > 1 ? o.seconds : 1);
    BERTH_AUTO_FREE double *lat = berth_calloc(3 * rounds, sizeof(double));
    size_t k[3] = {0, 0, 0};
    bool stats = true;
    /* Let the runtime settle after the creation burst before measuring. */
    sleep_s(2);
    berth_bench_usage_sample((const char *const *)ep->procs, &u2);
    double t0 = mono_s();
    progress_begin("relist", rounds);
    for (unsigned r = 0; c && r < rounds; r++) {
        double next = t0 + (double)(r + 1);
        for (int w = 0; w < 3; w++) {
            if (w == 2 && !stats)
                continue;
            bool ok;
            double dt = timed_list(c, w, &ok);
            if (!ok && w == 2)
                stats = false; /* the runtime does not answer stats: skip them */
            else if (ok)
                lat[(size_t)w * rounds + k[w]++] = dt;
        }
        progress_tick();
        sleep_s(next - mono_s());
    }
    progress_end();
    double span = mono_s() - t0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u3);
    berth_cri_client_free(c);
    static const char *const names[3] = {"list_pods_s", "list_containers_s", "list_stats_s"};
    for (int w = 0; w < 3; w++) {
        /* Absent, not 0, when the runtime answered none (ListContainerStats
         * unimplemented): the table then shows "-". */
        if (k[w] == 0)
            continue;
        berth_bench_summary_t s;
        berth_bench_summarize(lat + (size_t)w * rounds, k[w], &s);
        json_object_set_new(res, names[w], berth_bench_summary_json(&s));
    }
    json_object_set_new(res, "relists", json_integer((json_int_t)k[0]));
    json_object_set_new(res, "stats_answered", json_boolean(stats && k[2] > 0));
    json_t *rt = json_object_get(res, "runtime");
    double cpu = u3.cpu_s - u2.cpu_s;
    json_object_set_new(rt, "relist_window_s", json_real(span));
    json_object_set_new(rt, "relist_cpu_s", json_real(cpu));
    json_object_set_new(rt, "cpu_ms_per_relist", json_real(k[0] ? 1000.0 * cpu / (double)k[0] : 0));
    json_object_set_new(rt, "cpu_percent", json_real(span > 0 ? 100.0 * cpu / span : 0));

    double twall = pool_run(ep, pods, n, true);
    teardown_figures(res, pods, n, twall);
    pods_free(pods, n);
    return res;
}

/* ---- churn ------------------------------------------------------------------- */

typedef struct churn_pod {
    const endpoint_t *ep;
    pod_rec_t rec;
    double t0;
    pthread_t th;
} churn_pod_t;

static void *churn_main(void *arg)
{
    churn_pod_t *cp = arg;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(cp->ep->sock, &err);
    if (c == NULL) {
        cp->rec.error = berth_asprintf("connect: %s", err->msg);
        return NULL;
    }
    pod_up(c, &cp->rec, cp->t0);
    sleep_s(o.lifetime);
    pod_down(c, &cp->rec);
    berth_cri_client_free(c);
    progress_tick();
    return NULL;
}

static json_t *run_churn(const endpoint_t *ep)
{
    if (pull_image(ep) < 0)
        return NULL;
    unsigned n = (unsigned)(o.rate * o.seconds);
    if (n == 0)
        n = 1;
    json_t *res = new_result(ep);
    churn_pod_t *cps = berth_calloc(n, sizeof(*cps));
    sampler_t smp;
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    sampler_start(&smp, ep);
    double t0 = mono_s();
    progress_begin("churn", n);
    for (unsigned i = 0; i < n; i++) {
        sleep_s(t0 + (double)i / o.rate - mono_s());
        cps[i].ep = ep;
        cps[i].t0 = t0;
        snprintf(cps[i].rec.name, sizeof(cps[i].rec.name), "churn-%s-%u", run_tag, i);
        snprintf(cps[i].rec.uid, sizeof(cps[i].rec.uid), "churn-uid-%s-%u", run_tag, i);
        pthread_create(&cps[i].th, NULL, churn_main, &cps[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(cps[i].th, NULL);
    progress_end();
    double wall = mono_s() - t0;
    sampler_stop(&smp);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);

    BERTH_AUTO_FREE double *up = berth_calloc(n, sizeof(double));
    BERTH_AUTO_FREE double *down = berth_calloc(n, sizeof(double));
    json_t *series = json_array();
    size_t k = 0, kd = 0;
    unsigned nerr = 0;
    json_t *errs = json_array();
    for (unsigned i = 0; i < n; i++) {
        pod_rec_t *p = &cps[i].rec;
        if (p->ok) {
            up[k++] = p->latency;
            json_array_append_new(series, json_pack("[f,f]", p->t_start, p->latency));
        }
        if (p->pod_id)
            down[kd++] = p->teardown;
        if (p->error && nerr++ < 5)
            json_array_append_new(errs, json_string(p->error));
        pod_rec_fini(p);
    }
    berth_free(cps);
    berth_bench_summary_t s;
    berth_bench_summarize(up, k, &s);
    json_object_set_new(res, "pods", json_integer(n));
    json_object_set_new(res, "rate_per_s", json_real(o.rate));
    json_object_set_new(res, "lifetime_s", json_real(o.lifetime));
    json_object_set_new(res, "startup_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "startup_samples_s", berth_bench_json_doubles(up, k));
    berth_bench_summarize(down, kd, &s);
    json_object_set_new(res, "teardown_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "latency_over_time", series);
    json_object_set_new(res, "errors", json_integer(nerr));
    json_object_set_new(res, "error_samples", errs);
    json_object_set_new(res, "wall_s", json_real(wall));
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "cpu_s", json_real(u1.cpu_s - u0.cpu_s));
    json_object_set_new(rt, "cpu_s_per_pod", json_real((u1.cpu_s - u0.cpu_s) / (double)n));
    json_object_set_new(rt, "rss_peak_mb", json_real(smp.peak_rss_mb));
    json_object_set_new(rt, "series", smp.series);
    return res;
}

/* ---- slow-cni -------------------------------------------------------------- */

/* A chained CNI plugin that logs each call and sleeps on ADD, then passes
 * the previous result on. Killed mid-sleep (the runtime gave up), it writes
 * no "end" line: that ADD never finished. */
static const char slow_plugin[] =
        "#!/bin/sh\n"
        "# berth-bench slow-cni: logs calls to countFile, sleeps delay s on ADD.\n"
        "conf=$(cat)\n"
        "count=$(printf '%s' \"$conf\" | jq -r .countFile)\n"
        "delay=$(printf '%s' \"$conf\" | jq -r .delay)\n"
        "pod=$(printf '%s' \"$CNI_ARGS\" | tr ';' '\\n' | sed -n 's/^K8S_POD_NAME=//p')\n"
        "case \"$CNI_COMMAND\" in\n"
        "ADD)\n"
        "  echo \"ADD $pod $CNI_CONTAINERID start $(date +%s.%N)\" >>\"$count\"\n"
        "  sleep \"$delay\"\n"
        "  echo \"ADD $pod $CNI_CONTAINERID end $(date +%s.%N)\" >>\"$count\"\n"
        "  printf '%s' \"$conf\" | jq -c '.prevResult // {cniVersion: \"1.0.0\"}'\n"
        "  ;;\n"
        "DEL) echo \"DEL $pod $CNI_CONTAINERID x $(date +%s.%N)\" >>\"$count\" ;;\n"
        "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
        "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}' ;;\n"
        "esac\n"
        "exit 0\n";

static int write_file(const char *path, const char *data, mode_t mode)
{
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(data);
    bool ok = write(fd, data, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

typedef struct cni_calls {
    unsigned adds, dels, adds_finished;
    double first_end; /* realtime of the first finished ADD, 0 if none */
} cni_calls_t;

static void count_cni(const char *path, const char *pod, cni_calls_t *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[512], op[8], name[128], cid[128], what[16];
    double ts;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%7s %127s %127s %15s %lf", op, name, cid, what, &ts) != 5)
            continue;
        if (strcmp(name, pod) != 0)
            continue;
        if (strcmp(op, "DEL") == 0) {
            out->dels++;
        } else if (strcmp(what, "start") == 0) {
            out->adds++;
        } else if (strcmp(what, "end") == 0) {
            out->adds_finished++;
            if (out->first_end == 0)
                out->first_end = ts;
        }
    }
    fclose(f);
}

typedef struct slow_pod {
    const endpoint_t *ep;
    pod_rec_t rec;
    berth_kubesim_retry_t retry;
    double real_t0;
    pthread_t th;
} slow_pod_t;

static void *slow_main(void *arg)
{
    slow_pod_t *sp = arg;
    berth_cri_pod_spec_t ps = {.name = sp->rec.name,
                               .uid = sp->rec.uid,
                               .namespace_ = "berth-bench",
                               .log_root = BENCH_LOG_ROOT,
                               .runtime_handler = o.handler};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_kubesim_params_t p = {
            .deadline_ns = (uint64_t)(o.deadline * 1e9),
            .backoff_ns = (uint64_t)(o.backoff * 1e9),
            .backoff_factor = 1.0,
            .max_ns = (uint64_t)(o.max * 1e9),
    };
    berth_cri_client_t *c = NULL;
    sp->real_t0 = real_s();
    berth_kubesim_run_pod(&c, sp->ep->sock, pc, &p, &sp->retry, &sp->rec.pod_id);
    berth_cri_client_free(c);
    berth_cri_pod_config_free(pc);
    progress_tick();
    return NULL;
}

/* The runtime's CNI directory for ep: from --cni-conf-dir / --cni-bin-dir
 * (opt), either "DIR" for every endpoint or "LABEL=DIR,LABEL=DIR" (for
 * --compare); else SOCKDIR/leaf when that directory exists, the layout of
 * scripts/bench-berth.sh and scripts/peer-containerd.sh. NULL: unknown. */
static char *cni_dir(const endpoint_t *ep, const char *opt, const char *leaf)
{
    if (opt && strchr(opt, '=') == NULL)
        return berth_strdup(opt);
    if (opt) {
        char **v = berth_bench_strv_split(opt, ',');
        char *dir = NULL;
        size_t ll = strlen(ep->label);
        for (char **e = v; *e && dir == NULL; e++)
            if (strncmp(*e, ep->label, ll) == 0 && (*e)[ll] == '=')
                dir = berth_strdup(*e + ll + 1);
        berth_bench_strv_free(v);
        return dir;
    }
    const char *slash = strrchr(ep->sock, '/');
    if (slash == NULL)
        return NULL;
    char *dir = berth_asprintf("%.*s/%s", (int)(slash - ep->sock), ep->sock, leaf);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    berth_free(dir);
    return NULL;
}

static int quiet_spawn_wait(char *const argv[]);

static json_t *run_slow_cni(const endpoint_t *ep)
{
    BERTH_AUTO_FREE char *conf_dir = cni_dir(ep, o.cni_conf_dir, "cni-conf");
    BERTH_AUTO_FREE char *bin_dir = cni_dir(ep, o.cni_bin_dir, "cni-bin");
    if (conf_dir == NULL || bin_dir == NULL) {
        fprintf(stderr,
                "berth-bench: %s: slow-cni needs --cni-conf-dir and --cni-bin-dir (the "
                "runtime's own CNI directories)\n",
                ep->label);
        return NULL;
    }
    unsigned n = o.n < 0 ? 1 : (unsigned)o.n;
    BERTH_AUTO_FREE char *plugin = berth_asprintf("%s/berth-bench-slow", bin_dir);
    BERTH_AUTO_FREE char *conf = berth_asprintf("%s/00-berth-bench-slow.conflist", conf_dir);
    BERTH_AUTO_FREE char *count = berth_asprintf("/tmp/berth-bench-slow-%s.log", run_tag);
    BERTH_AUTO_FREE char *ipam = berth_asprintf("/tmp/berth-bench-slow-ipam-%s", run_tag);
    BERTH_AUTO_FREE char *conf_text = berth_asprintf(
            "{\"cniVersion\":\"1.0.0\",\"name\":\"berth-bench-slow\",\"plugins\":["
            "{\"type\":\"bridge\",\"bridge\":\"berthslow0\",\"isGateway\":true,\"ipMasq\":false,"
            "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.214.1.0/24\"}]],"
            "\"dataDir\":\"%s\"}},"
            "{\"type\":\"berth-bench-slow\",\"delay\":%g,\"countFile\":\"%s\"}]}\n",
            ipam, o.slow_delay, count);
    if (write_file(plugin, slow_plugin, 0755) < 0 || write_file(conf, conf_text, 0644) < 0) {
        fprintf(stderr, "berth-bench: cannot install the slow CNI plugin: %s\n", strerror(errno));
        unlink(plugin);
        return NULL;
    }
    /* Runtimes pick up CNI config changes asynchronously (inotify). */
    sleep_s(3);

    json_t *res = new_result(ep);
    slow_pod_t *sps = berth_calloc(n, sizeof(*sps));
    progress_begin("slow-cni", n);
    for (unsigned i = 0; i < n; i++) {
        sps[i].ep = ep;
        snprintf(sps[i].rec.name, sizeof(sps[i].rec.name), "slow-%s-%u", run_tag, i);
        snprintf(sps[i].rec.uid, sizeof(sps[i].rec.uid), "slow-uid-%s-%u", run_tag, i);
        pthread_create(&sps[i].th, NULL, slow_main, &sps[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(sps[i].th, NULL);
    progress_end();

    json_t *per = json_array();
    unsigned ok = 0, errors = 0, adds = 0;
    BERTH_AUTO_FREE double *handoff = berth_calloc(n, sizeof(double));
    size_t kh = 0;
    for (unsigned i = 0; i < n; i++) {
        slow_pod_t *sp = &sps[i];
        cni_calls_t cc;
        count_cni(count, sp->rec.name, &cc);
        json_t *j = berth_kubesim_retry_json(&sp->retry);
        json_object_set_new(j, "pod", json_string(sp->rec.name));
        json_object_set_new(j, "cni_add_calls", json_integer(cc.adds));
        json_object_set_new(j, "cni_adds_finished", json_integer(cc.adds_finished));
        json_object_set_new(j, "cni_del_calls", json_integer(cc.dels));
        size_t e = sp->retry.n_attempts - (sp->retry.state == BERTH_KUBESIM_SUCCEEDED);
        errors += (unsigned)e;
        adds += cc.adds;
        if (sp->retry.state == BERTH_KUBESIM_SUCCEEDED) {
            ok++;
            double success =
                    sp->real_t0 + (double)berth_kubesim_retry_time_to_success(&sp->retry) / 1e9;
            if (cc.first_end > 0) {
                handoff[kh] = success - cc.first_end;
                json_object_set_new(j, "handoff_s", json_real(handoff[kh++]));
            }
        }
        json_array_append_new(per, j);
        berth_kubesim_retry_fini(&sp->retry);
    }
    /* Clean up the pods and take the plugin out before the next run. */
    unlink(conf);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    for (unsigned i = 0; c && i < n; i++)
        pod_down(c, &sps[i].rec);
    berth_cri_client_free(c);
    for (unsigned i = 0; i < n; i++)
        pod_rec_fini(&sps[i].rec);
    berth_free(sps);
    unlink(plugin);
    /* The slow network's bridge outlives its pods; nothing else uses it. */
    char *ip_argv[] = {"/usr/sbin/ip", "link", "del", "berthslow0", NULL};
    quiet_spawn_wait(ip_argv);

    berth_bench_summary_t s;
    berth_bench_summarize(handoff, kh, &s);
    json_object_set_new(res, "pods", json_integer(n));
    json_object_set_new(res, "succeeded", json_integer(ok));
    json_object_set_new(res, "errors", json_integer(errors));
    json_object_set_new(res, "cni_add_calls", json_integer(adds));
    if (kh > 0) /* absent, not 0, when no pod ever got its sandbox */
        json_object_set_new(res, "handoff_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "params",
                        json_pack("{s:f,s:f,s:f,s:f}", "cni_delay_s", o.slow_delay, "deadline_s",
                                  o.deadline, "backoff_s", o.backoff, "max_s", o.max));
    json_object_set_new(res, "per_pod", per);
    json_object_set_new(res, "cni_log", json_string(count));
    return res;
}

/* ---- floor: conmon + OCI runtime, no CRI daemon ---------------------------- */

static int spawn_wait(char *const argv[], posix_spawn_file_actions_t *fa, char *const envp[])
{
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], fa, NULL, argv, envp ? envp : environ);
    if (r != 0) {
        errno = r;
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int quiet_spawn_wait(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int r = spawn_wait(argv, &fa, NULL);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    if (n < 0)
        rc = -1;
    close(in);
    if (close(out) < 0)
        rc = -1;
    return rc;
}

/* The floor's spec by default: the one berthd generates (io/ocispec) for
 * the container berth-bench asks for (perf/cri_client.c: RuntimeDefault
 * seccomp, the kubelet's masked and read-only paths, berth's default
 * capabilities and mounts, the pod's /etc files and /dev/shm as bind
 * mounts, a PID namespace of its own, cpu shares 2, oom_score_adj 1000), so
 * that floor vs berth is the daemon's cost alone. Like berthd's containers
 * it joins a pod's network, IPC and UTS namespaces, pinned once for the
 * whole run (ns), and sets the pod's hostname; each container gets an
 * overlay of its own on the busybox directory (floor_up), mounted before
 * its clock starts. */
static json_t *floor_berth_spec(const char *rootfs, const berth_netns_paths_t *ns)
{
    static const char *const files[] = {"hosts", "resolv.conf", "hostname"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(files); i++) {
        BERTH_AUTO_FREE char *f = berth_asprintf("%s/%s", o.floor_dir, files[i]);
        FILE *fp = fopen(f, "w");
        if (fp == NULL) {
            fprintf(stderr, "berth-bench: floor: cannot write %s: %s\n", f, strerror(errno));
            return NULL;
        }
        fputs(i == 0 ? "127.0.0.1 localhost\n" : i == 1 ? "nameserver 127.0.0.1\n" : "floor\n", fp);
        fclose(fp);
    }
    BERTH_AUTO_FREE char *hosts = berth_asprintf("%s/hosts", o.floor_dir);
    BERTH_AUTO_FREE char *resolv = berth_asprintf("%s/resolv.conf", o.floor_dir);
    BERTH_AUTO_FREE char *hostname = berth_asprintf("%s/hostname", o.floor_dir);
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", o.floor_dir);
    mkdir(shm, 01777);
    static const char *const args[] = {"/bin/busybox", "sleep", "3600"};
    static const char *const env[] = {
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    static const char *const masked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys",
                                         "/proc/timer_list", "/sys/firmware"};
    static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                     "/proc/sysrq-trigger"};
    berth_ocispec_t spec = {
            .id = "floor",
            .args = args,
            .nargs = BERTH_ARRAY_LEN(args),
            .env = env,
            .nenv = BERTH_ARRAY_LEN(env),
            .seccomp = BERTH_SECCOMP_RUNTIME_DEFAULT,
            .masked_paths_set = true,
            .masked_paths = masked,
            .nmasked_paths = BERTH_ARRAY_LEN(masked),
            .readonly_paths_set = true,
            .readonly_paths = ro,
            .nreadonly_paths = BERTH_ARRAY_LEN(ro),
            .oom_score_adj_set = true,
            .oom_score_adj = 1000,
            .cpu_shares = 2,
            .root_path = rootfs,
            .hosts_path = hosts,
            .resolv_path = resolv,
            .hostname_path = hostname,
            .shm_path = shm,
            .hostname = "floor",
            .net_mode = BERTH_NS_PATH,
            .net_path = ns->net,
            .ipc_mode = BERTH_NS_PATH,
            .ipc_path = ns->ipc,
            .uts_mode = BERTH_NS_PATH,
            .uts_path = ns->uts,
            .pid_mode = BERTH_NS_NEW,
            .cgroup_parent = "/kubepods/besteffort",
    };
    BERTH_AUTO_ERR berth_err_t err = NULL;
    json_t *t = berth_ocispec_build(&spec, &err);
    if (t == NULL)
        fprintf(stderr, "berth-bench: floor: berth's OCI spec: %s\n", err->msg);
    return t;
}

/* The bundle template: berth's spec (above), or with --floor-spec runtime
 * the runtime's `spec` default on a read-only busybox rootfs; shared by
 * every container, running a sleep. Returns a new reference. */
static json_t *floor_prepare(const berth_netns_paths_t *ns)
{
    BERTH_AUTO_FREE char *rootfs = berth_asprintf("%s/rootfs", o.floor_dir);
    BERTH_AUTO_FREE char *tdir = berth_asprintf("%s/template", o.floor_dir);
    static const char *const dirs[] = {"bin", "proc", "dev", "sys", "tmp", "etc"};
    mkdir(o.floor_dir, 0755);
    mkdir(rootfs, 0755);
    mkdir(tdir, 0755);
    for (size_t i = 0; i < BERTH_ARRAY_LEN(dirs); i++) {
        BERTH_AUTO_FREE char *d = berth_asprintf("%s/%s", rootfs, dirs[i]);
        mkdir(d, 0755);
    }
    BERTH_AUTO_FREE char *bb = berth_asprintf("%s/bin/busybox", rootfs);
    if (access(bb, X_OK) < 0 && copy_file("/bin/busybox", bb, 0755) < 0) {
        fprintf(stderr, "berth-bench: floor: cannot copy /bin/busybox (busybox-static)\n");
        return NULL;
    }
    if (!o.floor_runtime_spec)
        return floor_berth_spec(rootfs, ns);
    BERTH_AUTO_FREE char *cfg = berth_asprintf("%s/config.json", tdir);
    unlink(cfg);
    char *spec_argv[] = {(char *)o.oci_runtime, "spec", "--bundle", tdir, NULL};
    if (quiet_spawn_wait(spec_argv) != 0) {
        fprintf(stderr, "berth-bench: floor: %s spec failed\n", o.oci_runtime);
        return NULL;
    }
    json_error_t je;
    json_t *t = json_load_file(cfg, 0, &je);
    if (t == NULL) {
        fprintf(stderr, "berth-bench: floor: %s: %s\n", cfg, je.text);
        return NULL;
    }
    json_t *proc = json_object_get(t, "process");
    json_object_set_new(proc, "terminal", json_false());
    json_object_set_new(proc, "args", json_pack("[s,s,s]", "/bin/busybox", "sleep", "3600"));
    json_object_set_new(t, "root", json_pack("{s:s,s:b}", "path", rootfs, "readonly", 1));
    return t;
}

typedef struct floor_ctx {
    json_t *tmpl;
    char *runc_root, *exits, *socks;
} floor_ctx_t;

static char **env_with(const char *extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = berth_calloc(n + 2, sizeof(char *));
    memcpy(env, environ, n * sizeof(char *));
    env[n] = (char *)extra;
    return env;
}

/* conmon (+ runc create) until the container's pid arrives on the sync
 * pipe, then runc start. */
static void floor_up(floor_ctx_t *fc, pod_rec_t *p, double t0)
{
    BERTH_AUTO_FREE char *bundle = berth_asprintf("%s/run/c/%s", o.floor_dir, p->name);
    BERTH_AUTO_FREE char *cfgp = berth_asprintf("%s/config.json", bundle);
    /* The container's log on the disk, in a directory of its own made
     * before the clock starts, as the kubelet's pod log directory is for
     * berthd's containers (conmon creates the file itself, timed in both). */
    BERTH_AUTO_FREE char *logdir = berth_asprintf("%s/ovl/%s/log", o.floor_dir, p->name);
    BERTH_AUTO_FREE char *log = berth_asprintf("k8s-file:%s/0.log", logdir);
    BERTH_AUTO_FREE char *pidf = berth_asprintf("%s/pidfile", bundle);
    BERTH_AUTO_FREE char *cpidf = berth_asprintf("%s/conmon.pid", bundle);
    BERTH_AUTO_FREE char *rarg = berth_asprintf("--root=%s", fc->runc_root);
    /* The pod cgroup the kubelet would have made (untimed), the leaf as
     * berthd names it. */
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    pod_cgroup(cgp, true);
    BERTH_AUTO_FREE char *cg = berth_asprintf("%s/berth-%s", cgp, p->name);
    /* Declared before the first goto: cleanup must never see it unset. */
    BERTH_AUTO_FREE char **env = NULL;
    mkdir(bundle, 0755);
    berth_fs_mkdir_p(logdir, 0755, NULL);
    json_t *cfg = json_deep_copy(fc->tmpl);
    json_object_set_new(json_object_get(cfg, "linux"), "cgroupsPath", json_string(cg));
    if (!o.floor_runtime_spec) {
        /* A writable layer of its own, as berthd gives every container (its
         * mount is not timed here; berthd's is, in CreateContainer). */
        BERTH_AUTO_FREE char *ovl = berth_asprintf("%s/ovl/%s", o.floor_dir, p->name);
        BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", ovl);
        BERTH_AUTO_FREE char *work = berth_asprintf("%s/work", ovl);
        BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", ovl);
        BERTH_AUTO_FREE char *opts = berth_asprintf("lowerdir=%s/rootfs,upperdir=%s,workdir=%s",
                                                    o.floor_dir, upper, work);
        if (berth_fs_mkdir_p(upper, 0755, NULL) < 0 || berth_fs_mkdir_p(work, 0755, NULL) < 0 ||
            berth_fs_mkdir_p(merged, 0755, NULL) < 0 ||
            mount("overlay", merged, "overlay", 0, opts) < 0) {
            p->error = berth_asprintf("overlay rootfs %s: %s", merged, strerror(errno));
            json_decref(cfg);
            p->t_end = mono_s() - t0;
            return;
        }
        json_object_set_new(json_object_get(cfg, "root"), "path", json_string(merged));
    }
    int jr = json_dump_file(cfg, cfgp, 0);
    json_decref(cfg);
    double t = mono_s();
    p->t_start = t - t0;
    if (jr < 0) {
        p->error = berth_asprintf("cannot write %s", cfgp);
        goto out;
    }
    int sp[2];
    if (pipe2(sp, O_CLOEXEC) < 0) {
        p->error = berth_asprintf("pipe: %s", strerror(errno));
        goto out;
    }
    char *argv[] = {"/usr/bin/conmon",
                    "--api-version",
                    "1",
                    "-c",
                    p->name,
                    "-u",
                    p->name,
                    "-n",
                    p->name,
                    "-r",
                    (char *)o.oci_runtime,
                    "-b",
                    bundle,
                    "-p",
                    pidf,
                    "-P",
                    cpidf,
                    "-l",
                    log,
                    "--exit-dir",
                    fc->exits,
                    "--persist-dir",
                    bundle,
                    "--socket-dir-path",
                    fc->socks,
                    "--log-level",
                    "error",
                    "--runtime-arg",
                    rarg,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sp[1], 3);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    env = env_with("_OCI_SYNCPIPE=3");
    int rc = spawn_wait(argv, &fa, env);
    posix_spawn_file_actions_destroy(&fa);
    close(sp[1]);
    char buf[512];
    size_t len = 0;
    ssize_t n;
    /* The daemonised conmon keeps the pipe open: stop at the end of the
     * first JSON object instead of waiting for EOF. */
    while (len < sizeof(buf) - 1 && (n = read(sp[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        if (strchr(buf, '}'))
            break;
    }
    buf[len] = '\0';
    close(sp[0]);
    json_t *j = json_loads(buf, 0, NULL);
    json_int_t pid = j ? json_integer_value(json_object_get(j, "data")) : -1;
    if (rc != 0 || pid <= 0) {
        p->error = berth_asprintf("conmon (exit %d): %s", rc, len ? buf : "no sync message");
        json_decref(j);
        goto out;
    }
    json_decref(j);
    double ts = mono_s();
    p->create = ts - t;
    char *start_argv[] = {(char *)o.oci_runtime, rarg, "start", p->name, NULL};
    rc = quiet_spawn_wait(start_argv);
    if (rc != 0) {
        p->error = berth_asprintf("%s start: exit %d", o.oci_runtime, rc);
        goto out;
    }
    p->pod_id = berth_strdup(p->name);
    p->ok = true;
    p->start = mono_s() - ts;
    p->ctr = mono_s() - t;
out:
    p->t_end = mono_s() - t0;
    p->latency = p->t_end - p->t_start;
}

static void floor_down(floor_ctx_t *fc, pod_rec_t *p)
{
    if (p->pod_id == NULL)
        return;
    BERTH_AUTO_FREE char *rarg = berth_asprintf("--root=%s", fc->runc_root);
    BERTH_AUTO_FREE char *exitf = berth_asprintf("%s/%s", fc->exits, p->name);
    double t = mono_s();
    char *kill_argv[] = {(char *)o.oci_runtime, rarg, "kill", p->name, "KILL", NULL};
    quiet_spawn_wait(kill_argv);
    /* conmon writes the exit file once it reaped the container. */
    for (int i = 0; i < 5000 && access(exitf, F_OK) < 0; i++)
        sleep_s(0.002);
    char *del_argv[] = {(char *)o.oci_runtime, rarg, "delete", "-f", p->name, NULL};
    if (quiet_spawn_wait(del_argv) != 0 && p->error == NULL)
        p->error = berth_asprintf("%s delete %s failed", o.oci_runtime, p->name);
    BERTH_AUTO_FREE char *ovl = berth_asprintf("%s/ovl/%s", o.floor_dir, p->name);
    if (!o.floor_runtime_spec) {
        BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", ovl);
        umount2(merged, MNT_DETACH);
    }
    berth_fs_remove_tree(ovl);
    p->teardown = mono_s() - t;
    unlink(exitf);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    pod_cgroup(cgp, false);
}

typedef struct floor_pool {
    floor_ctx_t *fc;
    pod_rec_t *pods;
    unsigned n;
    /* Index claims as in pool_t: relaxed suffices, the join orders results. */
    unsigned next;
    bool down;
    double t0;
} floor_pool_t;

static void *floor_worker(void *arg)
{
    floor_pool_t *fp = arg;
    for (;;) {
        unsigned i = __atomic_fetch_add(&fp->next, 1, __ATOMIC_RELAXED);
        if (i >= fp->n)
            break;
        if (fp->down)
            floor_down(fp->fc, &fp->pods[i]);
        else
            floor_up(fp->fc, &fp->pods[i], fp->t0);
        progress_tick();
    }
    return NULL;
}

static double floor_pool_run(floor_ctx_t *fc, pod_rec_t *pods, unsigned n, bool down)
{
    floor_pool_t fp = {.fc = fc, .pods = pods, .n = n, .down = down, .t0 = mono_s()};
    unsigned nw = (unsigned)o.workers < n ? (unsigned)o.workers : n;
    pthread_t th[256];
    if (nw > BERTH_ARRAY_LEN(th))
        nw = BERTH_ARRAY_LEN(th);
    progress_begin(down ? "teardown" : "startup", n);
    for (unsigned i = 0; i < nw; i++)
        pthread_create(&th[i], NULL, floor_worker, &fp);
    for (unsigned i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    progress_end();
    return mono_s() - fp.t0;
}

static json_t *run_floor(const endpoint_t *ep)
{
    unsigned n = o.n < 0 ? 110 : (unsigned)o.n;
    /* Runtime state and bundles on a tmpfs, as /run is on a node and as
     * scripts/bench-berth.sh gives berthd's runroot; the rootfs stays on the
     * disk like a CRI runtime's image store. */
    mkdir(o.floor_dir, 0755);
    BERTH_AUTO_FREE char *run = berth_asprintf("%s/run", o.floor_dir);
    mkdir(run, 0755);
    bool run_mounted = mount("berth-bench-floor", run, "tmpfs", 0, "mode=0755") == 0;
    if (!run_mounted)
        fprintf(stderr, "berth-bench: floor: no tmpfs on %s (%s): runtime state on %s's disk\n",
                run, strerror(errno), o.floor_dir);
    /* The pod's namespaces, pinned as berthd pins them (io/netns). */
    BERTH_AUTO_FREE char *pins = berth_asprintf("%s/ns", run);
    berth_netns_paths_t ns = {0};
    if (!o.floor_runtime_spec) {
        berth_netns_spec_t nspec = {
                .pin_dir = pins, .pod_id = "floor", .kinds = BERTH_NETNS_ALL, .hostname = "floor"};
        BERTH_AUTO_ERR berth_err_t nerr = NULL;
        if (berth_netns_create(&nspec, &ns, &nerr) < 0) {
            fprintf(stderr, "berth-bench: floor: pod namespaces: %s\n", nerr->msg);
            if (run_mounted)
                umount2(run, MNT_DETACH);
            return NULL;
        }
    }
    json_t *tmpl = floor_prepare(&ns);
    if (tmpl == NULL) {
        berth_netns_remove(&ns, NULL);
        berth_netns_paths_fini(&ns);
        berth_netns_dir_release(pins, NULL);
        if (run_mounted)
            umount2(run, MNT_DETACH);
        return NULL;
    }
    floor_ctx_t fc = {
            .tmpl = tmpl,
            .runc_root = berth_asprintf("%s/runtime-root", run),
            .exits = berth_asprintf("%s/exits", run),
            .socks = berth_asprintf("%s/socks", run),
    };
    BERTH_AUTO_FREE char *cdir = berth_asprintf("%s/c", run);
    mkdir(cdir, 0755);
    mkdir(fc.runc_root, 0700);
    mkdir(fc.exits, 0755);
    mkdir(fc.socks, 0755);
    json_t *res = new_result(ep);
    pod_rec_t *pods = pods_new(n, "floor");
    sampler_t smp;
    berth_bench_usage_t u0, u1, u2;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    sampler_start(&smp, ep);
    double wall = floor_pool_run(&fc, pods, n, false);
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    startup_figures(res, pods, n, wall, &u0, &u1);
    double twall = floor_pool_run(&fc, pods, n, true);
    sampler_stop(&smp);
    berth_bench_usage_sample((const char *const *)ep->procs, &u2);
    teardown_figures(res, pods, n, twall);
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "after", usage_json(&u2));
    json_object_set_new(rt, "rss_peak_mb", json_real(smp.peak_rss_mb));
    json_object_set_new(rt, "series", smp.series);
    json_object_set_new(res, "oci_runtime", json_string(o.oci_runtime));
    json_object_set_new(res, "floor_spec", json_string(o.floor_runtime_spec ? "runtime" : "berth"));
    pods_free(pods, n);
    json_decref(tmpl);
    berth_free(fc.runc_root);
    berth_free(fc.exits);
    berth_free(fc.socks);
    berth_netns_remove(&ns, NULL);
    berth_netns_paths_fini(&ns);
    berth_netns_dir_release(pins, NULL);
    /* Lazily: a conmon may still be closing its files. */
    if (run_mounted)
        umount2(run, MNT_DETACH);
    return res;
}

/* ---- report ------------------------------------------------------------------ */

typedef struct metric {
    const char *path;
    const char *label;
    double scale;
} metric_t;

static const metric_t density_metrics[] = {
        {"startup_s.p50", "startup p50 (ms)", 1000},
        {"startup_s.p90", "startup p90 (ms)", 1000},
        {"startup_s.p99", "startup p99 (ms)", 1000},
        {"sandbox_s.p50", "RunPodSandbox p50 (ms)", 1000},
        {"sandbox_s.p99", "RunPodSandbox p99 (ms)", 1000},
        {"ctr_create_start_s.p50", "ctr create+start p50 (ms)", 1000},
        {"ctr_create_start_s.p90", "ctr create+start p90 (ms)", 1000},
        {"ctr_create_start_s.p99", "ctr create+start p99 (ms)", 1000},
        {"ctr_create_s.p50", "CreateContainer p50 (ms)", 1000},
        {"ctr_start_s.p50", "StartContainer p50 (ms)", 1000},
        {"pods_per_s", "pods/s", 1},
        {"teardown_s.p50", "teardown p50 (ms)", 1000},
        {"teardown_s.p99", "teardown p99 (ms)", 1000},
        {"teardown_wall_s", "teardown wall (s)", 1},
        {"runtime.cpu_s_per_pod", "runtime CPU/pod (s)", 1},
        {"runtime.loaded.rss_mb", "runtime RSS loaded (MB)", 1},
        {"runtime.rss_mb_per_pod", "runtime RSS/pod (MB)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

static const metric_t relist_metrics[] = {
        {"pods", "pods running", 1},
        {"list_pods_s.p50", "ListPodSandbox p50 (ms)", 1000},
        {"list_pods_s.p99", "ListPodSandbox p99 (ms)", 1000},
        {"list_containers_s.p50", "ListContainers p50 (ms)", 1000},
        {"list_containers_s.p99", "ListContainers p99 (ms)", 1000},
        {"list_stats_s.p50", "ListContainerStats p50 (ms)", 1000},
        {"list_stats_s.p99", "ListContainerStats p99 (ms)", 1000},
        {"runtime.cpu_ms_per_relist", "runtime CPU/relist (ms)", 1},
        {"runtime.cpu_percent", "runtime CPU while relisting (%)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

static const metric_t churn_metrics[] = {
        {"pods", "pods", 1},
        {"startup_s.p50", "startup p50 (ms)", 1000},
        {"startup_s.p99", "startup p99 (ms)", 1000},
        {"teardown_s.p50", "teardown p50 (ms)", 1000},
        {"teardown_s.p99", "teardown p99 (ms)", 1000},
        {"runtime.cpu_s_per_pod", "runtime CPU/pod (s)", 1},
        {"runtime.rss_peak_mb", "runtime RSS peak (MB)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

static const metric_t slow_metrics[] = {
        {"pods", "pods", 1},
        {"succeeded", "pods started", 1},
        {"errors", "errors seen by the client", 1},
        {"cni_add_calls", "CNI ADD calls", 1},
        {"handoff_s.p50", "slow step end -> success p50 (s)", 1},
        {"handoff_s.max", "slow step end -> success max (s)", 1},
        {NULL, NULL, 0},
};

static const metric_t *metrics_for(const char *scenario)
{
    if (strcmp(scenario, "relist") == 0)
        return relist_metrics;
    if (strcmp(scenario, "churn") == 0)
        return churn_metrics;
    if (strcmp(scenario, "slow-cni") == 0)
        return slow_metrics;
    return density_metrics;
}

/* The median over rounds of one metric for one endpoint. */
static double metric_median(json_t *runs, const char *label, const metric_t *m)
{
    double v[64];
    size_t n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "endpoint")), label) != 0)
            continue;
        double x = berth_bench_json_number(json_object_get(r, "result"), m->path);
        if (!isnan(x) && n < BERTH_ARRAY_LEN(v))
            v[n++] = x * m->scale;
    }
    if (n == 0)
        return NAN;
    berth_bench_summary_t s;
    berth_bench_summarize(v, n, &s);
    return s.p50;
}

static json_t *print_table(json_t *runs, endpoint_t *eps, int neps)
{
    const metric_t *ms = metrics_for(o.scenario);
    json_t *ratios = json_object();
    printf("\n%s%s\n", o.scenario, o.rounds > 1 ? " (median over rounds)" : "");
    printf("%-36s", "");
    for (int e = 0; e < neps; e++)
        printf(" %14s", eps[e].label);
    if (neps == 2)
        printf(" %10s", "B/A");
    printf("\n");
    for (const metric_t *m = ms; m->path; m++) {
        printf("%-36s", m->label);
        double v[MAX_ENDPOINTS];
        for (int e = 0; e < neps; e++) {
            v[e] = metric_median(runs, eps[e].label, m);
            if (isnan(v[e]))
                printf(" %14s", "-");
            else
                printf(" %14.3f", v[e]);
        }
        if (neps == 2) {
            double r = v[1] / v[0];
            if (isnan(r) || isinf(r)) {
                printf(" %10s", "-");
            } else {
                printf(" %10.2f", r);
                json_object_set_new(ratios, m->path, json_real(r));
            }
        }
        printf("\n");
    }
    return ratios;
}

/* One endpoint's value of m in round r (NAN when it has none). */
static double round_value(json_t *runs, const char *label, int r, const metric_t *m)
{
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        if (strcmp(json_string_value(json_object_get(run, "endpoint")), label) == 0 &&
            json_integer_value(json_object_get(run, "round")) == r)
            return berth_bench_json_number(json_object_get(run, "result"), m->path) * m->scale;
    }
    return NAN;
}

/* The table's medians hide how much the ratio moves from round to round,
 * which on a noisy machine is more than a goal's margin: the scenario's
 * first metric as a ratio to the first endpoint, round by round. */
static void print_round_spread(json_t *runs, endpoint_t *eps, int neps)
{
    const metric_t *m = metrics_for(o.scenario);
    if (o.rounds < 2 || neps < 2 || m->path == NULL)
        return;
    for (int e = 1; e < neps; e++) {
        double v[64];
        size_t n = 0;
        for (int r = 1; r <= o.rounds && n < BERTH_ARRAY_LEN(v); r++) {
            double a = round_value(runs, eps[0].label, r, m);
            double b = round_value(runs, eps[e].label, r, m);
            if (!isnan(a) && !isnan(b) && a > 0)
                v[n++] = b / a;
        }
        if (n == 0)
            continue;
        berth_bench_summary_t st;
        berth_bench_summarize(v, n, &st);
        printf("%s/%s per round, %s: min %.2f, median %.2f, max %.2f over %zu rounds\n",
               eps[e].label, eps[0].label, m->label, st.min, st.p50, st.max, n);
    }
}

static void print_slow_detail(json_t *res)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "per_pod"), i, p)
    {
        printf("  %s: %s, %lld attempt(s), CNI ADD %lld (finished %lld), DEL %lld",
               json_string_value(json_object_get(p, "pod")),
               json_string_value(json_object_get(p, "state")),
               json_integer_value(json_object_get(p, "attempts")),
               json_integer_value(json_object_get(p, "cni_add_calls")),
               json_integer_value(json_object_get(p, "cni_adds_finished")),
               json_integer_value(json_object_get(p, "cni_del_calls")));
        json_t *tts = json_object_get(p, "time_to_success_s");
        if (json_is_number(tts))
            printf(", success after %.3f s", json_number_value(tts));
        json_t *h = json_object_get(p, "handoff_s");
        if (json_is_number(h))
            printf(", %.3f s after the slow step ended", json_number_value(h));
        printf("\n");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(p, "errors"), k, v)
        {
            printf("    errors %-20s %lld\n", k, json_integer_value(v));
        }
    }
}

/* ---- plots ------------------------------------------------------------------- */

/* Collects one array field over every round of one endpoint. */
static size_t collect(json_t *runs, const char *label, const char *field, double **out)
{
    size_t n = 0, cap = 0, i, j;
    json_t *r, *x;
    *out = NULL;
    json_array_foreach(runs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "endpoint")), label) != 0)
            continue;
        json_array_foreach(json_object_get(json_object_get(r, "result"), field), j, x)
        {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                *out = berth_realloc(*out, cap * sizeof(double));
            }
            (*out)[n++] = json_number_value(x);
        }
    }
    return n;
}

/* Writes data files and a gnuplot script under dir and runs gnuplot:
 * <scenario>-cdf.png (startup latency CDF per endpoint) and
 * <scenario>-rate.png (pods ready per second, first round). */
static int plot(json_t *runs, endpoint_t *eps, int neps, const char *dir)
{
    mkdir(dir, 0755);
    BERTH_AUTO_FREE char *gp = berth_asprintf("%s/%s.gp", dir, o.scenario);
    FILE *g = fopen(gp, "we");
    if (g == NULL)
        return -1;
    fprintf(g,
            "set terminal pngcairo size 800,500 font 'sans,10'\nset grid\nset key bottom right\n");
    fprintf(g, "set output '%s/%s-cdf.png'\nset title '%s: pod startup latency CDF'\n", dir,
            o.scenario, o.scenario);
    fprintf(g, "set xlabel 'startup latency (s)'\nset ylabel 'fraction of pods'\nplot ");
    for (int e = 0; e < neps; e++) {
        BERTH_AUTO_FREE double *v = NULL;
        size_t n = collect(runs, eps[e].label, "startup_samples_s", &v);
        berth_bench_summary_t unused;
        (void)unused;
        BERTH_AUTO_FREE char *dat =
                berth_asprintf("%s/%s-cdf-%s.dat", dir, o.scenario, eps[e].label);
        FILE *f = fopen(dat, "we");
        if (f == NULL)
            continue;
        /* A CDF: each sorted sample against its rank. */
        for (size_t i = 0; i + 1 < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (v[j] < v[i]) {
                    double t = v[i];
                    v[i] = v[j];
                    v[j] = t;
                }
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.6f %.6f\n", v[i], (double)(i + 1) / (double)n);
        fclose(f);
        fprintf(g, "%s'%s' using 1:2 with steps lw 2 title '%s'", e ? ", " : "", dat, eps[e].label);
    }
    fprintf(g, "\n");
    fprintf(g, "set output '%s/%s-rate.png'\nset title '%s: pods ready per second'\n", dir,
            o.scenario, o.scenario);
    fprintf(g, "set xlabel 'time since start (s)'\nset ylabel 'pods/s'\nset key top right\nplot ");
    for (int e = 0; e < neps; e++) {
        /* First round only: rounds would overlay on one time axis. */
        json_t *first = NULL;
        size_t i;
        json_t *r;
        json_array_foreach(runs, i, r)
        {
            if (first == NULL &&
                strcmp(json_string_value(json_object_get(r, "endpoint")), eps[e].label) == 0)
                first = json_object_get(r, "result");
        }
        json_t *ready = first ? json_object_get(first, "ready_at_s") : NULL;
        if (ready == NULL && first)
            ready = json_object_get(first, "startup_samples_s");
        size_t n = json_array_size(ready);
        BERTH_AUTO_FREE double *t = berth_calloc(n ? n : 1, sizeof(double));
        json_t *x;
        json_array_foreach(ready, i, x)
        {
            t[i] = json_number_value(x);
        }
        size_t nb;
        BERTH_AUTO_FREE unsigned *b = berth_bench_per_second(t, n, &nb);
        BERTH_AUTO_FREE char *dat =
                berth_asprintf("%s/%s-rate-%s.dat", dir, o.scenario, eps[e].label);
        FILE *f = fopen(dat, "we");
        if (f == NULL)
            continue;
        for (size_t k = 0; k < nb; k++)
            fprintf(f, "%zu %u\n", k, b[k]);
        fclose(f);
        fprintf(g, "%s'%s' using 1:2 with linespoints lw 2 title '%s'", e ? ", " : "", dat,
                eps[e].label);
    }
    fprintf(g, "\n");
    fclose(g);
    char *argv[] = {"/usr/bin/gnuplot", gp, NULL};
    if (access(argv[0], X_OK) < 0) {
        fprintf(stderr,
                "berth-bench: gnuplot missing (apt-get install gnuplot-nox); script "
                "left in %s\n",
                gp);
        return -1;
    }
    int rc = quiet_spawn_wait(argv);
    if (rc == 0)
        printf("plots: %s/%s-cdf.png %s/%s-rate.png\n", dir, o.scenario, dir, o.scenario);
    return rc == 0 ? 0 : -1;
}

/* ---- main -------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: berth-bench SCENARIO [options]\n"
          "scenarios: density containers churn relist slow-cni floor\n"
          "  --socket PATH          CRI socket (or --compare A=SOCK1 B=SOCK2)\n"
          "  --compare LABEL=SOCK   add an endpoint (repeat, or give more LABEL=SOCK args)\n"
          "                         (SOCK \"floor\": conmon + OCI runtime, no daemon)\n"
          "  --procs [LABEL=]P,P    comm patterns of the runtime's processes\n"
          "                         (default by socket: containerd,containerd-shim*,pause\n"
          "                         or berthd,conmon; floor: conmon,runc)\n"
          "  -n N                   pods (density/floor 110, relist 20, slow-cni 1)\n"
          "  -P N                   parallel workers (4)\n"
          "  --seconds S            relist/churn duration (30)\n"
          "  --rate R --lifetime L  churn: pods/s (2) and pod lifetime s (5)\n"
          "  --image REF            container image (docker.io/library/busybox:latest)\n"
          "  --command 'a b c'      container command (default: sleep 3600)\n"
          "  --no-pull              do not PullImage first\n"
          "  --handler NAME         runtime handler\n"
          "  --cni-delay S --deadline S --backoff S --max S   slow-cni (6, 2, 1, 60)\n"
          "  --cni-conf-dir D --cni-bin-dir D   the runtime's CNI dirs (slow-cni): DIR or\n"
          "                         LABEL=DIR,...; default SOCKDIR/cni-conf, SOCKDIR/cni-bin\n"
          "  --oci-runtime PATH     floor: OCI runtime (/usr/sbin/runc)\n"
          "  --floor-spec berth|runtime\n"
          "                         floor: the OCI spec berthd would write for the same\n"
          "                         container (berth, default) or `RUNTIME spec`'s default\n"
          "  --rounds K             rounds, endpoints alternate order (1)\n"
          "  --json FILE            write every result as JSON\n"
          "  --plot DIR             latency CDF and pods/s PNGs via gnuplot\n",
          f);
}

/* "comm" or, for a private runtime whose socket lives in its own directory
 * under /tmp (scripts/bench-berth.sh, scripts/peer-containerd.sh), "comm@DIR":
 * its daemon, monitors and shims all carry DIR on their command lines, so
 * other engineers' berthds and conmons on the same machine are not counted.
 * pause processes carry nothing to tell them apart and stay unfiltered. */
static char **default_procs(const char *sock, bool floor)
{
    if (floor) {
        BERTH_AUTO_FREE char *f =
                berth_asprintf("conmon@%s,runc@%s,crun@%s", o.floor_dir, o.floor_dir, o.floor_dir);
        return berth_bench_strv_split(f, ',');
    }
    BERTH_AUTO_FREE char *dir = NULL;
    const char *slash = sock ? strrchr(sock, '/') : NULL;
    if (slash && strncmp(sock, "/tmp/", 5) == 0 && slash > sock + 4)
        dir = berth_asprintf("@%.*s/", (int)(slash - sock), sock);
    const char *d = dir ? dir : "";
    BERTH_AUTO_FREE char *list = NULL;
    if (sock && strstr(sock, "containerd"))
        list = berth_asprintf("containerd%s,containerd-shim*%s,pause", d, d);
    else if (sock && strstr(sock, "crio"))
        list = berth_asprintf("crio%s,conmon%s,pause", d, d);
    else
        list = berth_asprintf("berthd%s,conmon%s", d, d);
    return berth_bench_strv_split(list, ',');
}

static json_t *run_one(const endpoint_t *ep)
{
    const char *s = o.scenario;
    if (ep->sock == NULL)
        return run_floor(ep);
    if (strcmp(s, "density") == 0)
        return run_density(ep);
    if (strcmp(s, "relist") == 0)
        return run_relist(ep);
    if (strcmp(s, "churn") == 0)
        return run_churn(ep);
    if (strcmp(s, "slow-cni") == 0)
        return run_slow_cni(ep);
    if (strcmp(s, "containers") == 0)
        return run_containers(ep);
    return run_floor(ep);
}

static json_t *machine_json(void)
{
    struct utsname u;
    uname(&u);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:s,s:s,s:i,s:[f,f,f]}", "date", date, "kernel", u.release, "machine",
                     u.machine, "cpus", (int)sysconf(_SC_NPROCESSORS_ONLN), "loadavg", load[0],
                     load[1], load[2]);
}

static int add_endpoint(endpoint_t *eps, int *neps, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || *neps >= MAX_ENDPOINTS) {
        fprintf(stderr, "berth-bench: bad endpoint %s (LABEL=SOCKET, at most %d)\n", arg,
                MAX_ENDPOINTS);
        return -1;
    }
    eps[*neps].label = berth_strndup(arg, (size_t)(eq - arg));
    /* "floor" stands for conmon + the OCI runtime with no CRI daemon, so
     * `--compare floor=floor berth=SOCK` prints berth's overhead as a ratio. */
    eps[*neps].sock = strcmp(eq + 1, "floor") == 0 ? NULL : berth_strdup(eq + 1);
    (*neps)++;
    return 0;
}

int main(int argc, char **argv)
{
    endpoint_t eps[MAX_ENDPOINTS] = {0};
    int neps = 0;
    const char *procs_arg[MAX_ENDPOINTS + 1] = {0};
    int nprocs = 0;
    const char *sock = NULL;
    bool compare = false;
    static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},
            {"compare", required_argument, NULL, 'C'},
            {"procs", required_argument, NULL, 'R'},
            {"seconds", required_argument, NULL, 'T'},
            {"rate", required_argument, NULL, 'r'},
            {"lifetime", required_argument, NULL, 'L'},
            {"image", required_argument, NULL, 'i'},
            {"command", required_argument, NULL, 'c'},
            {"no-pull", no_argument, NULL, 'N'},
            {"handler", required_argument, NULL, 'H'},
            {"cni-delay", required_argument, NULL, 'D'},
            {"deadline", required_argument, NULL, 'd'},
            {"backoff", required_argument, NULL, 'b'},
            {"max", required_argument, NULL, 'm'},
            {"cni-conf-dir", required_argument, NULL, 'F'},
            {"cni-bin-dir", required_argument, NULL, 'B'},
            {"oci-runtime", required_argument, NULL, 'O'},
            {"floor-dir", required_argument, NULL, 'W'},
            {"floor-spec", required_argument, NULL, 'S'},
            {"rounds", required_argument, NULL, 'k'},
            {"json", required_argument, NULL, 'j'},
            {"plot", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "n:P:h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            sock = optarg;
            break;
        case 'C':
            compare = true;
            if (add_endpoint(eps, &neps, optarg) < 0)
                return 2;
            break;
        case 'R':
            if (nprocs < MAX_ENDPOINTS)
                procs_arg[nprocs++] = optarg;
            break;
        case 'n':
            o.n = atoi(optarg);
            break;
        case 'P':
            o.workers = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        case 'T':
            o.seconds = atof(optarg);
            break;
        case 'r':
            o.rate = atof(optarg) > 0 ? atof(optarg) : 1;
            break;
        case 'L':
            o.lifetime = atof(optarg);
            break;
        case 'i':
            o.image = optarg;
            break;
        case 'c':
            o.command = berth_bench_strv_split(optarg, ' ');
            break;
        case 'N':
            o.no_pull = true;
            break;
        case 'H':
            o.handler = optarg;
            break;
        case 'D':
            o.slow_delay = atof(optarg);
            break;
        case 'd':
            o.deadline = atof(optarg);
            break;
        case 'b':
            o.backoff = atof(optarg);
            break;
        case 'm':
            o.max = atof(optarg);
            break;
        case 'F':
            o.cni_conf_dir = optarg;
            break;
        case 'B':
            o.cni_bin_dir = optarg;
            break;
        case 'O':
            o.oci_runtime = optarg;
            break;
        case 'W':
            o.floor_dir = optarg;
            break;
        case 'S':
            if (strcmp(optarg, "berth") != 0 && strcmp(optarg, "runtime") != 0) {
                fprintf(stderr, "berth-bench: --floor-spec: \"%s\" is neither berth nor runtime\n",
                        optarg);
                return 2;
            }
            o.floor_runtime_spec = strcmp(optarg, "runtime") == 0;
            break;
        case 'k':
            o.rounds = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        case 'j':
            o.json_path = optarg;
            break;
        case 'p':
            o.plot_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    for (; optind < argc; optind++) {
        if (o.scenario == NULL && strchr(argv[optind], '=') == NULL)
            o.scenario = argv[optind];
        else if (compare && add_endpoint(eps, &neps, argv[optind]) < 0)
            return 2;
        else if (!compare) {
            usage(stderr);
            return 2;
        }
    }
    static const char *const scenarios[] = {"density", "containers", "churn",
                                            "relist",  "slow-cni",   "floor"};
    bool known = false;
    for (size_t i = 0; o.scenario && i < BERTH_ARRAY_LEN(scenarios); i++)
        known |= strcmp(o.scenario, scenarios[i]) == 0;
    if (!known) {
        usage(stderr);
        return 2;
    }
    bool floor = strcmp(o.scenario, "floor") == 0;
    if (!compare) {
        if (sock == NULL && !floor) {
            fprintf(stderr, "berth-bench: --socket PATH or --compare A=SOCK1 B=SOCK2 needed\n");
            return 2;
        }
        eps[0].label = berth_strdup(floor ? "floor" : "runtime");
        eps[0].sock = sock ? berth_strdup(sock) : NULL;
        neps = 1;
    }
    for (int e = 0; e < neps; e++) {
        for (int i = 0; i < nprocs; i++) {
            const char *eq = strchr(procs_arg[i], '=');
            if (eq == NULL && eps[e].procs == NULL)
                eps[e].procs = berth_bench_strv_split(procs_arg[i], ',');
            else if (eq && strncmp(procs_arg[i], eps[e].label, (size_t)(eq - procs_arg[i])) == 0 &&
                     eps[e].label[eq - procs_arg[i]] == '\0')
                eps[e].procs = berth_bench_strv_split(eq + 1, ',');
        }
        if (eps[e].procs == NULL)
            eps[e].procs = default_procs(eps[e].sock, floor || eps[e].sock == NULL);
    }
    if (o.command == NULL)
        o.command = berth_bench_strv_split("sleep 3600", ' ');
    o.progress = isatty(2) && isatty(1);
    snprintf(run_tag, sizeof(run_tag), "%x%04x", (unsigned)time(NULL) & 0xfffff,
             (unsigned)getpid() & 0xffff);
    signal(SIGPIPE, SIG_IGN);

    json_t *runs = json_array();
    int failures = 0;
    for (int r = 0; r < o.rounds; r++) {
        for (int k = 0; k < neps; k++) {
            /* Alternate the order per round so neither endpoint always runs
             * on a machine warmed (or dirtied) by the other. */
            int e = (r % 2 == 0) ? k : neps - 1 - k;
            fprintf(stderr, "berth-bench: %s round %d/%d on %s (%s)\n", o.scenario, r + 1, o.rounds,
                    eps[e].label, eps[e].sock ? eps[e].sock : o.oci_runtime);
            /* Keep pod names unique across rounds and endpoints. */
            snprintf(run_tag, sizeof(run_tag), "%x%02x%x", (unsigned)time(NULL) & 0xfffff,
                     (unsigned)getpid() & 0xff, (unsigned)(r * neps + k) & 0xf);
            json_t *res = run_one(&eps[e]);
            if (res == NULL) {
                failures++;
                continue;
            }
            if (strcmp(o.scenario, "slow-cni") == 0)
                print_slow_detail(res);
            json_array_append_new(runs, json_pack("{s:s,s:i,s:o}", "endpoint", eps[e].label,
                                                  "round", r + 1, "result", res));
        }
    }
    json_t *ratios = print_table(runs, eps, neps);
    print_round_spread(runs, eps, neps);
    if (o.json_path) {
        json_t *doc = json_pack("{s:s,s:o,s:i,s:O,s:o}", "scenario", o.scenario, "machine",
                                machine_json(), "rounds", o.rounds, "runs", runs, "ratios", ratios);
        json_t *params =
                json_pack("{s:i,s:i,s:f,s:f,s:f,s:s}", "pods", o.n, "workers", o.workers, "seconds",
                          o.seconds, "rate", o.rate, "lifetime", o.lifetime, "image", o.image);
        json_object_set_new(doc, "params", params);
        if (json_dump_file(doc, o.json_path, JSON_INDENT(1)) < 0)
            fprintf(stderr, "berth-bench: cannot write %s\n", o.json_path);
        json_decref(doc);
    } else {
        json_decref(ratios);
    }
    if (o.plot_dir && strcmp(o.scenario, "relist") != 0 && strcmp(o.scenario, "slow-cni") != 0)
        plot(runs, eps, neps, o.plot_dir);
    json_decref(runs);
    for (int e = 0; e < neps; e++) {
        berth_free(eps[e].label);
        berth_free(eps[e].sock);
        berth_bench_strv_free(eps[e].procs);
    }
    berth_bench_strv_free(o.command);
    return failures ? 1 : 0;
}
