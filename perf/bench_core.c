/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's shared core (perf/bench_core.h): clocks, the progress bar,
 * the /proc sampler, and the kubelet's side of a pod on any CRI socket:
 * records, Run/Create/Start and Stop/Remove, the worker pool, the pod
 * cgroups and log directories the kubelet makes and removes around a pod,
 * and the figures every pod scenario reports. It only ever signals or waits
 * for processes it started itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "perf/bench_core.h"

extern char **environ;

double berth_bench_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double berth_bench_real_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void berth_bench_sleep_s(double s)
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
    bool on; /* a printer thread runs */
    pthread_t thread;
} prog;

static void *progress_main(void *arg)
{
    for (;;) {
        /* Pairs with the release store in berth_bench_progress_end: once seen, the
         * final count below is the one the workers left. */
        bool stop = __atomic_load_n(&prog.stop, __ATOMIC_ACQUIRE);
        unsigned d = __atomic_load_n(&prog.done, __ATOMIC_RELAXED);
        unsigned t = prog.total ? prog.total : 1;
        int w = (int)(40.0 * d / t);
        fprintf(stderr, "\r%-10s [%.*s%*s] %u/%u", prog.what, w,
                "########################################", 40 - w, "", d, prog.total);
        if (stop)
            break;
        berth_bench_sleep_s(0.2);
    }
    fputs("\n", stderr);
    return NULL;
}

void berth_bench_progress_begin(const berth_bench_opts_t *o, const char *what, unsigned total)
{
    prog.what = what;
    prog.total = total;
    prog.done = 0;
    prog.stop = false;
    prog.on = o->progress;
    if (prog.on)
        pthread_create(&prog.thread, NULL, progress_main, NULL);
}

void berth_bench_progress_tick(void)
{
    /* Display-only counter: see struct progress. */
    __atomic_fetch_add(&prog.done, 1, __ATOMIC_RELAXED);
}

void berth_bench_progress_end(void)
{
    if (!prog.on)
        return;
    /* Pairs with the acquire load in progress_main. */
    __atomic_store_n(&prog.stop, true, __ATOMIC_RELEASE);
    pthread_join(prog.thread, NULL);
}

static void *sampler_main(void *arg)
{
    berth_bench_sampler_t *s = arg;
    /* Pairs with the release store in berth_bench_sampler_stop; nothing else is shared
     * until the join, which orders the rest. */
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        berth_bench_usage_t u;
        berth_bench_usage_sample((const char *const *)s->ep->procs, &u);
        double mb = (double)u.rss_bytes / 1048576.0;
        if (mb > s->peak_rss_mb)
            s->peak_rss_mb = mb;
        json_array_append_new(s->series, json_pack("[f,f,f,i]", berth_bench_mono_s() - s->t0, mb,
                                                   u.cpu_s, (int)u.nprocs));
        berth_bench_sleep_s(0.5);
    }
    return NULL;
}

void berth_bench_sampler_start(berth_bench_sampler_t *s, const berth_bench_endpoint_t *ep)
{
    memset(s, 0, sizeof(*s));
    s->ep = ep;
    s->t0 = berth_bench_mono_s();
    s->series = json_array();
    pthread_create(&s->thread, NULL, sampler_main, s);
}

void berth_bench_sampler_stop(berth_bench_sampler_t *s)
{
    __atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
    pthread_join(s->thread, NULL);
}

json_t *berth_bench_usage_json(const berth_bench_usage_t *u)
{
    return json_pack("{s:f,s:f,s:i}", "cpu_s", u->cpu_s, "rss_mb", (double)u->rss_bytes / 1048576.0,
                     "nprocs", (int)u->nprocs);
}

/* ---- pods ------------------------------------------------------------------ */

void berth_bench_pod_fini(berth_bench_pod_t *p)
{
    berth_free(p->pod_id);
    berth_free(p->ctr_id);
    berth_free(p->error);
}

bool berth_bench_call_failed(const char *what, int rc, berth_err_t *err, berth_cri_status_t *st,
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

void berth_bench_pod_cgroup(const char *rel, bool make)
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

void berth_bench_pod_logs_remove(const char *name, const char *uid)
{
    BERTH_AUTO_FREE char *d =
            berth_asprintf("%s/berth-bench_%s_%s", BERTH_BENCH_LOG_ROOT, name, uid);
    berth_fs_remove_tree(d);
}

int berth_bench_log_dir_make(const char *root, const char *name, const char *uid, const char *ctr)
{
    BERTH_AUTO_FREE char *d = ctr ? berth_asprintf("%s/berth-bench_%s_%s/%s", root, name, uid, ctr)
                                  : berth_asprintf("%s/berth-bench_%s_%s", root, name, uid);
    berth_err_t err = NULL;
    if (berth_fs_mkdir_p(d, 0755, &err) < 0) {
        int e = err->errnum;
        berth_err_free(&err);
        return e > 0 ? -e : -EIO;
    }
    return 0;
}

int64_t berth_bench_stop_grace(const char *env)
{
    if (env == NULL || *env == '\0')
        return BERTH_BENCH_STOP_GRACE_DEFAULT;
    char *end;
    errno = 0;
    long long v = strtoll(env, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 3600)
        return BERTH_BENCH_STOP_GRACE_DEFAULT;
    return (int64_t)v;
}

static int64_t stop_grace(void)
{
    static int64_t grace = -1;
    /* Benign race: every thread computes the same value. */
    int64_t g = __atomic_load_n(&grace, __ATOMIC_RELAXED);
    if (g < 0) {
        g = berth_bench_stop_grace(getenv("BERTH_BENCH_STOP_GRACE"));
        __atomic_store_n(&grace, g, __ATOMIC_RELAXED);
    }
    return g;
}

const char *const *berth_bench_ctr_command(const berth_bench_opts_t *o)
{
    /* `wait` returns on the signal, the trap exits; the orphaned sleep dies
     * with the container's PID namespace. */
    static const char *const on_term[] = {"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait",
                                          NULL};
    char **c = o->command;
    if (c && c[0] && c[1] && !c[2] && strcmp(c[0], "sleep") == 0 && strcmp(c[1], "3600") == 0)
        return on_term;
    return (const char *const *)c;
}

int berth_bench_ensure_image(const berth_bench_opts_t *o, berth_cri_client_t *c, char **error)
{
    berth_cri_status_t st = {0};
    berth_err_t err = NULL;
    bool present = false;
    int rc = berth_cri_image_present(c, o->image, 30 * BERTH_BENCH_SEC, &present, &st, &err);
    if (berth_bench_call_failed("ImageStatus", rc, &err, &st, error))
        return -1;
    if (present)
        return 0;
    if (o->no_pull) {
        if (*error == NULL)
            *error =
                    berth_asprintf("ImageStatus: %s is not present and --no-pull is set", o->image);
        return -1;
    }
    rc = berth_cri_pull(c, o->image, 300 * BERTH_BENCH_SEC, NULL, &st, &err);
    return berth_bench_call_failed("PullImage", rc, &err, &st, error) ? -1 : 0;
}

void berth_bench_pod_up(const berth_bench_opts_t *o, berth_cri_client_t *c, berth_bench_pod_t *p,
                        double t0)
{
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    berth_bench_pod_cgroup(cgp, true);
    berth_cri_pod_spec_t ps = {.name = p->name,
                               .uid = p->uid,
                               .namespace_ = "berth-bench",
                               .log_root = BERTH_BENCH_LOG_ROOT,
                               .cgroup_parent = cgp,
                               .runtime_handler = o->handler};
    berth_cri_ctr_spec_t cs = {
            .name = "main", .image = o->image, .command = berth_bench_ctr_command(o)};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_cri_ctr_config_t *cc = berth_cri_ctr_config_new(&cs, &ps);
    berth_cri_status_t st = {0};
    berth_err_t err = NULL;
    double t = berth_bench_mono_s();
    p->t_start = t - t0;
    /* The kubelet makes the pod's log directory before RunPodSandbox and
     * the container's below it before CreateContainer (CRI-O fails
     * CreateContainer without it); both are part of its startup. */
    int mk = berth_bench_log_dir_make(BERTH_BENCH_LOG_ROOT, p->name, p->uid, NULL);
    if (mk < 0) {
        p->error = berth_asprintf("pod log directory: %s", strerror(-mk));
        goto out;
    }
    t = berth_bench_mono_s();
    int rc = berth_cri_run_pod(c, pc, 240 * BERTH_BENCH_SEC, &p->pod_id, &st, &err);
    if (berth_bench_call_failed("RunPodSandbox", rc, &err, &st, &p->error))
        goto out;
    p->sandbox = berth_bench_mono_s() - t;
    rc = berth_cri_pod_status_id(c, p->pod_id, 30 * BERTH_BENCH_SEC, &st, &err);
    if (berth_bench_call_failed("PodSandboxStatus", rc, &err, &st, &p->error))
        goto out;
    if (berth_bench_ensure_image(o, c, &p->error) < 0)
        goto out;
    mk = berth_bench_log_dir_make(BERTH_BENCH_LOG_ROOT, p->name, p->uid, "main");
    if (mk < 0) {
        p->error = berth_asprintf("container log directory: %s", strerror(-mk));
        goto out;
    }
    double tc = berth_bench_mono_s();
    rc = berth_cri_create_ctr(c, p->pod_id, cc, pc, 120 * BERTH_BENCH_SEC, &p->ctr_id, &st, &err);
    if (berth_bench_call_failed("CreateContainer", rc, &err, &st, &p->error))
        goto out;
    double ts = berth_bench_mono_s();
    p->create = ts - tc;
    rc = berth_cri_start_ctr(c, p->ctr_id, 120 * BERTH_BENCH_SEC, &st, &err);
    if (berth_bench_call_failed("StartContainer", rc, &err, &st, &p->error))
        goto out;
    double te = berth_bench_mono_s();
    p->start = te - ts;
    p->ctr = te - tc;
    rc = berth_cri_ctr_status_id(c, p->ctr_id, 30 * BERTH_BENCH_SEC, &st, &err);
    if (berth_bench_call_failed("ContainerStatus", rc, &err, &st, &p->error))
        goto out;
    p->ok = true;
out:
    p->t_end = berth_bench_mono_s() - t0;
    p->latency = p->t_end - p->t_start;
    berth_cri_ctr_config_free(cc);
    berth_cri_pod_config_free(pc);
}

void berth_bench_pod_down(berth_cri_client_t *c, berth_bench_pod_t *p)
{
    if (p->pod_id == NULL)
        return;
    berth_cri_status_t st = {0};
    berth_err_t err = NULL;
    double t = berth_bench_mono_s();
    /* The kubelet stops each container with its grace period before it
     * stops the sandbox, and leaves their removal to RemovePodSandbox. A
     * failed StopContainer is recorded; the sandbox stop still runs. */
    if (p->ctr_id != NULL) {
        int64_t g = stop_grace();
        int rc = berth_cri_stop_ctr(c, p->ctr_id, g, ((uint64_t)g + 120) * BERTH_BENCH_SEC, &st,
                                    &err);
        berth_bench_call_failed("StopContainer", rc, &err, &st, &p->error);
    }
    int rc = berth_cri_stop_pod(c, p->pod_id, 120 * BERTH_BENCH_SEC, &st, &err);
    if (!berth_bench_call_failed("StopPodSandbox", rc, &err, &st, &p->error)) {
        rc = berth_cri_remove_pod(c, p->pod_id, 120 * BERTH_BENCH_SEC, &st, &err);
        berth_bench_call_failed("RemovePodSandbox", rc, &err, &st, &p->error);
    }
    p->teardown = berth_bench_mono_s() - t;
    berth_bench_pod_logs_remove(p->name, p->uid);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    berth_bench_pod_cgroup(cgp, false);
}

/* ---- the kubelet's PLEG ------------------------------------------------------ */

double berth_bench_pleg_next(double last_end, double period, double now)
{
    double next = last_end + period;
    return next > now ? next : now;
}

static void pleg_count(berth_bench_pleg_t *pl, const char *what, int rc, berth_err_t *err,
                       berth_cri_status_t *st)
{
    pl->calls++;
    if (berth_bench_call_failed(what, rc, err, st, &pl->error))
        pl->errors++;
}

static void *pleg_main(void *arg)
{
    berth_bench_pleg_t *pl = arg;
    berth_cri_client_t *c = NULL;
    double next = berth_bench_mono_s();
    for (;;) {
        /* Sleep until the next relist or a stop, whichever comes first. */
        pthread_mutex_lock(&pl->lock);
        while (!pl->stop) {
            double now = berth_bench_mono_s();
            if (now >= next)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double left = next - now;
            ts.tv_sec += (time_t)left;
            ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pl->cond, &pl->lock, &ts);
        }
        bool stop = pl->stop;
        pthread_mutex_unlock(&pl->lock);
        if (stop)
            break;
        berth_err_t err = NULL;
        berth_cri_status_t st = {0};
        if (c == NULL)
            c = berth_cri_client_new(pl->sock, &err);
        if (c == NULL) {
            /* Both lists of this relist fail with the connection. */
            pl->calls += 2;
            pl->errors += 2;
            if (pl->error == NULL)
                pl->error = berth_asprintf("connect: %s", err->msg);
            berth_err_free(&err);
        } else {
            Runtime__V1__ListPodSandboxRequest pr = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
            Runtime__V1__ListPodSandboxResponse *prs = NULL;
            int rc = berth_cri_list_pod_sandbox(c, &pr, 10 * BERTH_BENCH_SEC, &prs, &st, &err);
            berth_cri_msg_free(prs);
            bool lost = rc < 0;
            pleg_count(pl, "ListPodSandbox", rc, &err, &st);
            Runtime__V1__ListContainersRequest cr = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
            Runtime__V1__ListContainersResponse *crs = NULL;
            rc = berth_cri_list_containers(c, &cr, 10 * BERTH_BENCH_SEC, &crs, &st, &err);
            berth_cri_msg_free(crs);
            lost = lost || rc < 0;
            pleg_count(pl, "ListContainers", rc, &err, &st);
            if (lost) { /* reconnect at the next relist */
                berth_cri_client_free(c);
                c = NULL;
            }
        }
        pl->relists++;
        double now = berth_bench_mono_s();
        next = berth_bench_pleg_next(now, pl->period, now);
    }
    berth_cri_client_free(c);
    return NULL;
}

void berth_bench_pleg_start(berth_bench_pleg_t *pl, const char *sock, double period)
{
    memset(pl, 0, sizeof(*pl));
    pl->sock = sock;
    pl->period = period;
    pthread_mutex_init(&pl->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pl->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_create(&pl->thread, NULL, pleg_main, pl);
}

void berth_bench_pleg_stop(berth_bench_pleg_t *pl)
{
    pthread_mutex_lock(&pl->lock);
    pl->stop = true;
    pthread_cond_signal(&pl->cond);
    pthread_mutex_unlock(&pl->lock);
    pthread_join(pl->thread, NULL);
    pthread_cond_destroy(&pl->cond);
    pthread_mutex_destroy(&pl->lock);
}

json_t *berth_bench_pleg_json(berth_bench_pleg_t *pl)
{
    json_t *j = json_pack("{s:f,s:i,s:i,s:i}", "period_s", pl->period, "relists",
                          (json_int_t)pl->relists, "calls", (json_int_t)pl->calls, "errors",
                          (json_int_t)pl->errors);
    if (pl->error != NULL)
        json_object_set_new(j, "error", json_string(pl->error));
    berth_free(pl->error);
    pl->error = NULL;
    return j;
}

void berth_bench_pleg_print(json_t *res)
{
    json_t *j = json_object_get(res, "pleg");
    if (j == NULL)
        return;
    const char *e = json_string_value(json_object_get(j, "error"));
    printf("%s: pleg relist: %lld relists, %lld calls, %lld errors%s%s\n",
           json_string_value(json_object_get(res, "endpoint")),
           (long long)json_integer_value(json_object_get(j, "relists")),
           (long long)json_integer_value(json_object_get(j, "calls")),
           (long long)json_integer_value(json_object_get(j, "errors")), e ? " (first: " : "",
           e ? e : "");
    if (e)
        printf(")\n");
}

typedef struct pool {
    const berth_bench_opts_t *o;
    const berth_bench_endpoint_t *ep;
    berth_bench_pod_t *pods;
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
        berth_bench_pod_t *p = &pl->pods[i];
        if (c == NULL) {
            if (p->error == NULL)
                p->error = berth_asprintf("connect: %s", err->msg);
        } else if (pl->down) {
            berth_bench_pod_down(c, p);
        } else {
            berth_bench_pod_up(pl->o, c, p, pl->t0);
        }
        berth_bench_progress_tick();
    }
    berth_cri_client_free(c);
    return NULL;
}

double berth_bench_pool_run(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                            berth_bench_pod_t *pods, unsigned n, bool down)
{
    pool_t pl = {.o = o, .ep = ep, .pods = pods, .n = n, .down = down, .t0 = berth_bench_mono_s()};
    return berth_bench_threads(o, n, down, pool_worker, &pl, pl.t0);
}

double berth_bench_threads(const berth_bench_opts_t *o, unsigned n, bool down,
                           void *(*worker)(void *), void *arg, double t0)
{
    unsigned nw = (unsigned)o->workers < n ? (unsigned)o->workers : n;
    pthread_t th[256];
    if (nw > BERTH_ARRAY_LEN(th))
        nw = BERTH_ARRAY_LEN(th);
    berth_bench_progress_begin(o, down ? "teardown" : "startup", n);
    for (unsigned i = 0; i < nw; i++)
        pthread_create(&th[i], NULL, worker, arg);
    for (unsigned i = 0; i < nw; i++)
        pthread_join(th[i], NULL);
    berth_bench_progress_end();
    return berth_bench_mono_s() - t0;
}

berth_bench_pod_t *berth_bench_pods_new(unsigned n, const char *kind, const char *tag)
{
    berth_bench_pod_t *pods = berth_calloc(n ? n : 1, sizeof(*pods));
    for (unsigned i = 0; i < n; i++) {
        snprintf(pods[i].name, sizeof(pods[i].name), "%s-%s-%u", kind, tag, i);
        snprintf(pods[i].uid, sizeof(pods[i].uid), "%s-uid-%s-%u", kind, tag, i);
        pods[i].sandbox = NAN;
        pods[i].ctr = NAN;
        pods[i].create = NAN;
        pods[i].start = NAN;
    }
    return pods;
}

void berth_bench_pods_free(berth_bench_pod_t *pods, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        berth_bench_pod_fini(&pods[i]);
    berth_free(pods);
}

/* Errors by message prefix, first few kept verbatim for the report. */
json_t *berth_bench_pods_errors(const berth_bench_pod_t *pods, unsigned n, unsigned *count)
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

int berth_bench_pull_image(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    if (c == NULL) {
        fprintf(stderr, "berth-bench: %s: %s\n", ep->label, err->msg);
        return -1;
    }
    /* As the kubelet: ImageStatus, and a pull only when the image is
     * missing. With --no-pull the image must be there. */
    BERTH_AUTO_FREE char *error = NULL;
    int rc = berth_bench_ensure_image(o, c, &error);
    berth_cri_client_free(c);
    if (rc < 0)
        fprintf(stderr, "berth-bench: %s: %s: %s\n", ep->label, o->image, error);
    return rc;
}

/* The startup half shared by every pod scenario. */
void berth_bench_startup_figures(json_t *res, berth_bench_pod_t *pods, unsigned n, double wall,
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
    json_object_set_new(res, "error_samples", berth_bench_pods_errors(pods, n, &nerr));
    json_object_set_new(res, "errors", json_integer(nerr));
    json_t *rt = json_object_get(res, "runtime");
    double cpu = u1->cpu_s - u0->cpu_s;
    json_object_set_new(rt, "idle", berth_bench_usage_json(u0));
    json_object_set_new(rt, "loaded", berth_bench_usage_json(u1));
    json_object_set_new(rt, "startup_cpu_s", json_real(cpu));
    json_object_set_new(rt, "cpu_s_per_pod", json_real(k ? cpu / (double)k : 0));
    json_object_set_new(
            rt, "rss_mb_per_pod",
            json_real(k ? ((double)u1->rss_bytes - (double)u0->rss_bytes) / 1048576.0 / (double)k
                        : 0));
}

void berth_bench_teardown_figures(json_t *res, berth_bench_pod_t *pods, unsigned n, double wall)
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

json_t *berth_bench_new_result(const berth_bench_endpoint_t *ep)
{
    return json_pack("{s:s,s:s?,s:{}}", "endpoint", ep->label, "socket", ep->sock, "runtime");
}

/* ---- processes ------------------------------------------------------------- */

int berth_bench_spawn_wait(char *const argv[], posix_spawn_file_actions_t *fa, char *const envp[])
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

int berth_bench_spawn_wait_quiet(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int r = berth_bench_spawn_wait(argv, &fa, NULL);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

void berth_bench_watch_start(berth_bench_watch_t *w, const berth_bench_endpoint_t *ep, bool relist)
{
    w->ep = ep;
    w->relist = relist;
    w->stages0 = berth_bench_stages_fetch(ep->sock);
    w->exits = berth_bench_exits_start();
    berth_bench_usage_sample((const char *const *)ep->procs, &w->u0);
    berth_bench_sampler_start(&w->smp, ep);
    if (relist)
        berth_bench_pleg_start(&w->pleg, ep->sock, 1.0);
}

/* The startup figures with the children's CPU from the exits under the
 * runtime's processes (those of u0 and u1) instead of their cutime and
 * cstime; both go into "runtime" so a reader can compare. */
static void exact_children(berth_bench_watch_t *w, json_t *res, berth_bench_pod_t *pods, unsigned n,
                           double wall)
{
    size_t nroots = w->u0.npids + w->u1.npids;
    BERTH_AUTO_FREE pid_t *roots = berth_calloc(nroots ? nroots : 1, sizeof(pid_t));
    memcpy(roots, w->u0.pids, w->u0.npids * sizeof(pid_t));
    memcpy(roots + w->u0.npids, w->u1.pids, w->u1.npids * sizeof(pid_t));
    unsigned lost = 0;
    double children = berth_bench_exits_cpu_s(w->exits, roots, nroots, &lost);
    berth_bench_exits_stop(w->exits);
    w->exits = NULL;
    BERTH_AUTO_FREE berth_bench_usage_t *u1 = berth_memdup(&w->u1, sizeof(w->u1));
    u1->cpu_s = w->u0.cpu_s + (w->u1.own_cpu_s - w->u0.own_cpu_s) + children;
    berth_bench_startup_figures(res, pods, n, wall, &w->u0, u1);
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "startup_own_cpu_s", json_real(w->u1.own_cpu_s - w->u0.own_cpu_s));
    json_object_set_new(rt, "startup_children_cpu_s", json_real(children));
    json_object_set_new(rt, "startup_children_ticks_cpu_s",
                        json_real(w->u1.child_cpu_s - w->u0.child_cpu_s));
    json_object_set_new(rt, "exit_reports_lost", json_integer(lost));
}

void berth_bench_watch_started(berth_bench_watch_t *w, json_t *res, berth_bench_pod_t *pods,
                               unsigned n, double wall)
{
    berth_bench_usage_sample((const char *const *)w->ep->procs, &w->u1);
    if (w->exits != NULL) {
        exact_children(w, res, pods, n, wall);
    } else {
        berth_bench_startup_figures(res, pods, n, wall, &w->u0, &w->u1);
    }
    json_t *tail = berth_bench_tail_split(pods, n);
    if (tail != NULL)
        json_object_set_new(res, "tail", tail);
    if (w->stages0 != NULL) {
        json_t *s1 = berth_bench_stages_fetch(w->ep->sock);
        json_t *d = s1 ? berth_bench_stages_diff(w->stages0, s1) : NULL;
        if (d != NULL)
            json_object_set_new(res, "stages", d);
        if (s1)
            json_decref(s1);
        json_decref(w->stages0);
        w->stages0 = NULL;
    }
}

void berth_bench_watch_stop(berth_bench_watch_t *w, json_t *res)
{
    berth_bench_exits_stop(w->exits); /* when startup never finished */
    w->exits = NULL;
    if (w->relist)
        berth_bench_pleg_stop(&w->pleg);
    berth_bench_sampler_stop(&w->smp);
    if (w->relist)
        json_object_set_new(res, "pleg", berth_bench_pleg_json(&w->pleg));
    berth_bench_usage_sample((const char *const *)w->ep->procs, &w->u2);
    json_t *rt = json_object_get(res, "runtime");
    json_object_set_new(rt, "after", berth_bench_usage_json(&w->u2));
    json_object_set_new(rt, "rss_peak_mb", json_real(w->smp.peak_rss_mb));
    json_object_set_new(rt, "series", w->smp.series);
}
