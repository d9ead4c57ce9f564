/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared core of berth-bench (perf/berth_bench.c and one
 * perf/bench_<scenario>.c per scenario): the parsed options and endpoints,
 * the scenario table's entry, clocks, the progress bar, the /proc sampler,
 * the kubelet-style pod lifecycle on a CRI client (pod records, the worker
 * pool, the kubelet's pod cgroups and log directories), the figures every
 * pod scenario reports, and the report (table, per-round spread, plots).
 * Private to the berth-bench executable: nothing else includes it, and none
 * of it is ever linked into berthd.
 *
 * Every function runs on the main thread unless it says otherwise; the
 * scenario code's worker threads call the pod lifecycle, the progress tick
 * and the clocks only.
 */
#ifndef BERTH_PERF_BENCH_CORE_H
#define BERTH_PERF_BENCH_CORE_H

#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "perf/bench_exits.h"
#include "perf/bench_load.h"
#include "perf/bench_stats.h"
#include "perf/cri_client.h"

#define BERTH_BENCH_SEC 1000000000ull
#define BERTH_BENCH_MAX_ENDPOINTS 4

/* The pods' log directories (the kubelet's /var/log/pods). Removing a
 * deleted pod's directory is the kubelet's job, so berth-bench, playing the
 * kubelet, does it after RemovePodSandbox. */
#define BERTH_BENCH_LOG_ROOT "/tmp/berth-bench-logs"

typedef struct berth_bench_endpoint {
    char *label;
    char *sock;   /* NULL for the floor */
    char **procs; /* comm patterns of the runtime's processes */
} berth_bench_endpoint_t;

/* Everything the command line says (perf/bench_opts.c), read-only once
 * parsed: scenarios and their worker threads only read it. */
typedef struct berth_bench_opts {
    const char *scenario;
    int n; /* -1: the scenario's default */
    int workers;
    double seconds;
    double rate;
    double lifetime;
    const char *image;
    char **command; /* owned */
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
    /* --load and --load-dir (perf/bench_load.h): the same background load
     * for every endpoint and round; all zero: none. */
    berth_bench_load_spec_t load;
    /* --stages: print each run's stage table (perf/bench_stages.c). */
    bool stages;
    /* stream (perf/bench_stream.c): MiB each way through port-forward, and
     * the transport ("spdy", "websocket"). */
    int pf_mib;
    const char *transport;
    /* --socket, --compare and --procs as given, then the endpoints (owned). */
    const char *sock;
    bool compare;
    const char *procs_arg[BERTH_BENCH_MAX_ENDPOINTS + 1];
    int nprocs;
    berth_bench_endpoint_t eps[BERTH_BENCH_MAX_ENDPOINTS];
    int neps;
} berth_bench_opts_t;

/* One row of a scenario's table: a JSON path into a run's result, the row's
 * label and the factor to print it with. Arrays end with a NULL path. */
typedef struct berth_bench_metric {
    const char *path;
    const char *label;
    double scale;
} berth_bench_metric_t;

/* A scenario's run against one endpoint: a new JSON result (endpoint,
 * socket, runtime usage, the scenario's figures), or NULL when it could not
 * run at all (said on stderr). tag is unique per round and endpoint, and
 * goes into pod names. */
typedef json_t *berth_bench_run_fn(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                                   const char *tag);

/* An entry of the scenario table (perf/berth_bench.c). */
typedef struct berth_bench_scenario {
    const char *name;
    berth_bench_run_fn *run;
    /* The table's rows; the first is the one the per-round spread uses. */
    const berth_bench_metric_t *metrics;
    /* Prints a run's details right after it, or NULL. */
    void (*print_detail)(json_t *res);
    bool plots; /* --plot applies */
} berth_bench_scenario_t;

extern const berth_bench_scenario_t berth_bench_density, berth_bench_containers, berth_bench_churn,
        berth_bench_relist, berth_bench_slow_cni, berth_bench_floor, berth_bench_stream,
        berth_bench_podstats;
/* density's rows, shared by containers and floor. */
extern const berth_bench_metric_t berth_bench_density_metrics[];
/* The floor's run: every scenario's, for an endpoint without a socket. */
json_t *berth_bench_floor_run(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                              const char *tag);

/* ---- options (perf/bench_opts.c) ------------------------------------------ */

void berth_bench_usage(FILE *f);
/* Parses options and positional arguments into *o (zeroed first). Returns
 * true to go on, false to exit with *exit_code (messages printed). */
bool berth_bench_opts_parse(berth_bench_opts_t *o, int argc, char **argv, int *exit_code);
/* The endpoints once the scenario is known (floor: it is "floor"): the
 * single --socket one unless --compare, and each one's process patterns.
 * < 0 when an endpoint is missing (said on stderr). */
int berth_bench_opts_endpoints(berth_bench_opts_t *o, bool floor);
void berth_bench_opts_fini(berth_bench_opts_t *o);

/* ---- clocks, progress, sampling (perf/bench_core.c) ----------------------- */

double berth_bench_mono_s(void);
double berth_bench_real_s(void);
/* Sleeps s seconds (nothing when s <= 0), across signals. Any thread. */
void berth_bench_sleep_s(double s);

/* A progress bar on stderr for a phase of total steps, when o->progress;
 * one at a time. tick: any thread. */
void berth_bench_progress_begin(const berth_bench_opts_t *o, const char *what, unsigned total);
void berth_bench_progress_tick(void);
void berth_bench_progress_end(void);

/* A thread sampling the runtime's processes twice a second while a scenario
 * runs: the peak RSS and the RSS/CPU series for plots. */
typedef struct berth_bench_sampler {
    const berth_bench_endpoint_t *ep;
    double t0;
    bool stop; /* see berth_bench_sampler_stop */
    pthread_t thread;
    double peak_rss_mb;
    json_t *series; /* [[t, rss_mb, cpu_s, nprocs], ...]; the caller takes it */
} berth_bench_sampler_t;

void berth_bench_sampler_start(berth_bench_sampler_t *s, const berth_bench_endpoint_t *ep);
void berth_bench_sampler_stop(berth_bench_sampler_t *s);
json_t *berth_bench_usage_json(const berth_bench_usage_t *u);

/* ---- pods ------------------------------------------------------------------ */

typedef struct berth_bench_pod {
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
} berth_bench_pod_t;

void berth_bench_pod_fini(berth_bench_pod_t *p);

/* True when a CRI call failed (transport error or a non-OK status); the
 * first failure is kept in *error. Frees err and st either way. */
bool berth_bench_call_failed(const char *what, int rc, berth_err_t *err, berth_cri_status_t *st,
                             char **error);

/* Makes (make) or removes the cgroup REL ("/a/b/podX") in every hierarchy,
 * as the kubelet does around a pod; removal takes the last component only
 * (the levels above are shared). Any thread. */
void berth_bench_pod_cgroup(const char *rel, bool make);
/* Removes a pod's log directory under BERTH_BENCH_LOG_ROOT. Any thread. */
void berth_bench_pod_logs_remove(const char *name, const char *uid);
/* Makes ROOT/berth-bench_NAME_UID (the pod's log_directory, as the kubelet
 * does before RunPodSandbox) and, with ctr, its CTR subdirectory (the log
 * path's parent, before CreateContainer). 0, or -errno. Any thread. */
int berth_bench_log_dir_make(const char *root, const char *name, const char *uid, const char *ctr);

/* The grace period of StopContainer at teardown, in seconds: the
 * environment's BERTH_BENCH_STOP_GRACE (a whole number >= 0), else
 * BERTH_BENCH_STOP_GRACE_DEFAULT. env may be NULL. Any thread. */
#define BERTH_BENCH_STOP_GRACE_DEFAULT 2
int64_t berth_bench_stop_grace(const char *env);
/* The container command to send: o->command, except that the default
 * `sleep 3600` runs under a shell that exits on SIGTERM (a PID 1 without a
 * handler ignores it and StopContainer would wait out the grace). Borrowed;
 * NULL-terminated. */
const char *const *berth_bench_ctr_command(const berth_bench_opts_t *o);

/* The kubelet's PLEG: one thread per endpoint relisting (ListPodSandbox +
 * ListContainers) every period seconds, counted, while a scenario runs. */
typedef struct berth_bench_pleg {
    const char *sock; /* borrowed */
    double period;
    bool stop; /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    /* Written by the thread, read after the join. */
    unsigned relists, calls, errors;
    char *error; /* the first failure, owned */
} berth_bench_pleg_t;

/* The next relist's time: period after the last one ended (the kubelet's
 * wait.Until), never before now. */
double berth_bench_pleg_next(double last_end, double period, double now);
void berth_bench_pleg_start(berth_bench_pleg_t *pl, const char *sock, double period);
/* Stops the thread (at once, not at the next tick) and joins it. */
void berth_bench_pleg_stop(berth_bench_pleg_t *pl);
/* {"period_s", "relists", "calls", "errors"[, "error"]}: new. Frees
 * pl->error. */
json_t *berth_bench_pleg_json(berth_bench_pleg_t *pl);
/* print_detail for the pod scenarios: the "pleg relist:" line from a
 * result's "pleg" (nothing when absent). */
void berth_bench_pleg_print(json_t *res);

/* What a pod scenario watches around its run: the runtime's processes
 * (usage before, after startup, after teardown; the RSS sampler) and,
 * when asked, the PLEG-like relist. */
typedef struct berth_bench_watch {
    const berth_bench_endpoint_t *ep;
    berth_bench_sampler_t smp;
    berth_bench_usage_t u0, u1, u2;
    berth_bench_pleg_t pleg;
    bool relist;
    json_t *stages0; /* the runtime's stage histograms at the start, or NULL */
    /* Every exit on the machine from u0 to u1, for the exact CPU of the
     * runtime's children; NULL without taskstats (then cutime, cstime). */
    berth_bench_exits_t *exits;
} berth_bench_watch_t;

void berth_bench_watch_start(berth_bench_watch_t *w, const berth_bench_endpoint_t *ep, bool relist);
/* Startup is done: the usage at that point, then the startup figures. */
void berth_bench_watch_started(berth_bench_watch_t *w, json_t *res, berth_bench_pod_t *pods,
                               unsigned n, double wall);
/* Teardown is done: stops the relist and the sampler, and adds "pleg" and
 * the runtime's "after", "rss_peak_mb" and "series" to res. */
void berth_bench_watch_stop(berth_bench_watch_t *w, json_t *res);

/* One pod as the kubelet starts it, timed from t0; fills p: the log
 * directory, RunPodSandbox, PodSandboxStatus, ImageStatus (PullImage when
 * missing, unless --no-pull), the container's log directory,
 * CreateContainer, StartContainer, ContainerStatus. Any thread, with a
 * client of its own. */
void berth_bench_pod_up(const berth_bench_opts_t *o, berth_cri_client_t *c, berth_bench_pod_t *p,
                        double t0);
/* StopContainer (grace berth_bench_stop_grace), StopPodSandbox,
 * RemovePodSandbox, as the kubelet tears a pod down; then its log directory
 * and cgroup. */
void berth_bench_pod_down(berth_cri_client_t *c, berth_bench_pod_t *p);

/* Brings n pods up (or down) on ep with o->workers threads, a client each;
 * returns the wall time. */
/* Runs worker(arg) on min(--workers, n) threads under the progress bar
 * ("startup" or "teardown"); the wall time since t0 when all are done. */
double berth_bench_threads(const berth_bench_opts_t *o, unsigned n, bool down,
                           void *(*worker)(void *), void *arg, double t0);
double berth_bench_pool_run(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                            berth_bench_pod_t *pods, unsigned n, bool down);

/* n pod records named KIND-TAG-i (uid KIND-uid-TAG-i), halves NAN. */
berth_bench_pod_t *berth_bench_pods_new(unsigned n, const char *kind, const char *tag);
void berth_bench_pods_free(berth_bench_pod_t *pods, unsigned n);
/* The first few errors verbatim; *count: how many pods failed. */
json_t *berth_bench_pods_errors(const berth_bench_pod_t *pods, unsigned n, unsigned *count);

/* The kubelet's image check on c: ImageStatus of o->image, then PullImage
 * when it is missing (an error with --no-pull). < 0 with the first failure
 * in *error (owned) unless one is there already. Any thread. */
int berth_bench_ensure_image(const berth_bench_opts_t *o, berth_cri_client_t *c, char **error);
/* The same once on ep before a scenario; < 0 said on stderr. */
int berth_bench_pull_image(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep);

/* The startup figures of pods (and the runtime usage before, u0, and after,
 * u1) into res; the teardown figures. */
void berth_bench_startup_figures(json_t *res, berth_bench_pod_t *pods, unsigned n, double wall,
                                 const berth_bench_usage_t *u0, const berth_bench_usage_t *u1);
void berth_bench_teardown_figures(json_t *res, berth_bench_pod_t *pods, unsigned n, double wall);
/* {"endpoint", "socket", "runtime": {}}: a run's result to fill. */
json_t *berth_bench_new_result(const berth_bench_endpoint_t *ep);

/* ---- stages (perf/bench_stages.c) ---------------------------------------------- */

/* The runtime's stage histograms (berthd: verbose Status, info "stages"), or
 * NULL when it serves none or cannot be reached. New reference. */
json_t *berth_bench_stages_fetch(const char *sock);
/* after - before per histogram: {NAME: {count, sum, p50, p90, p99, max}}
 * (ns, or counts for a name with "(count)"), only those that changed; NULL
 * when after has none. New reference. */
json_t *berth_bench_stages_diff(json_t *before, json_t *after);
/* {"median_pods", "slowest_10pct"}: the mean startup and its client-side
 * parts (RunPodSandbox, CreateContainer, StartContainer, the rest) of the
 * pods from p40 to p60 and of the slowest tenth; NULL under 10 pods. */
json_t *berth_bench_tail_split(const berth_bench_pod_t *pods, unsigned n);
/* The split and the stage table of a run's result ("tail", "stages"). */
void berth_bench_stages_print(json_t *res);

/* ---- processes ---------------------------------------------------------------- */

/* posix_spawn + wait: the exit code, 128 + signal, or -1 (errno). envp NULL:
 * this process's environment. Any thread. */
int berth_bench_spawn_wait(char *const argv[], posix_spawn_file_actions_t *fa, char *const envp[]);
/* The same with stdout and stderr on /dev/null. */
int berth_bench_spawn_wait_quiet(char *const argv[]);

/* ---- report (perf/bench_report.c) ---------------------------------------------- */

/* The table of sc's metrics over runs ([{endpoint, round, result}]), medians
 * over rounds, and B/A with two endpoints (each one's ratio to the first
 * with more); returns the ratios (new): {path: B/A}, or with more than two
 * endpoints {"<label>/<first>": {path: ratio}}. */
json_t *berth_bench_print_table(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc,
                                json_t *runs);
/* With rounds and endpoints to compare: the first metric's ratio to the
 * first endpoint, min/median/max over rounds. */
void berth_bench_print_round_spread(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc,
                                    json_t *runs);
/* gnuplot PNGs under dir: startup latency CDF and pods ready per second. */
int berth_bench_plot(const berth_bench_opts_t *o, json_t *runs, const char *dir);

#endif
