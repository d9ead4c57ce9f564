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
 *   podstats  N pods with one container; ListPodSandboxStats, then
 *             ListPodSandboxMetrics, once a second for T s each (after an
 *             idle window of T s): latency and the runtime's CPU per call
 *   slow-cni  a CNI plugin that takes D s on ADD is put first in the
 *             runtime's CNI conf dir; pods are run kubelet-style (deadline,
 *             backoff): errors seen, ADD calls, hand-off time
 *   stream    one pod: Exec round trips, a stdin->stdout echo through cat,
 *             port-forward setup latency and throughput both ways
 *   floor     conmon + runc create/start/kill/delete without a CRI daemon,
 *             on the OCI spec berthd writes for the same container
 *             (--floor-spec runtime: the runtime's own `spec` default)
 *
 * For every run it samples the runtime's own RSS and CPU from /proc by
 * process-name patterns. Output: a table (and a progress bar on a terminal),
 * --json FILE, --plot DIR (gnuplot). --compare A=SOCK1 B=SOCK2 runs the
 * scenario against both, alternating the order per round, and prints B/A.
 * --load runs stress-ng (perf/bench_load.c) from before the first round to
 * after the last. It only ever signals processes it started itself (the
 * floor's conmon and runc children, by PID; stress-ng's process group).
 *
 * This file is main and the scenario table; perf/bench_core.h is the shared
 * core (options, pods, figures, report), perf/bench_<scenario>.c each
 * scenario.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

/* Every scenario, in the order the usage text lists them. */
static const berth_bench_scenario_t *const scenarios[] = {
        &berth_bench_density,  &berth_bench_containers, &berth_bench_churn, &berth_bench_relist,
        &berth_bench_podstats, &berth_bench_slow_cni,   &berth_bench_floor, &berth_bench_stream,
};

static const berth_bench_scenario_t *scenario_find(const char *name)
{
    for (size_t i = 0; name && i < BERTH_ARRAY_LEN(scenarios); i++)
        if (strcmp(name, scenarios[i]->name) == 0)
            return scenarios[i];
    return NULL;
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

/* The rounds: every endpoint once per round, the order alternating so that
 * neither always runs on a machine warmed (or dirtied) by the other.
 * Returns the runs, [{endpoint, round, result}]; *failures counts the runs
 * that could not run at all. */
static json_t *run_rounds(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc,
                          int *failures)
{
    json_t *runs = json_array();
    *failures = 0;
    for (int r = 0; r < o->rounds; r++) {
        for (int k = 0; k < o->neps; k++) {
            int e = (r % 2 == 0) ? k : o->neps - 1 - k;
            const berth_bench_endpoint_t *ep = &o->eps[e];
            fprintf(stderr, "berth-bench: %s round %d/%d on %s (%s)\n", o->scenario, r + 1,
                    o->rounds, ep->label, ep->sock ? ep->sock : o->oci_runtime);
            /* Keep pod names unique across rounds and endpoints. */
            char tag[16];
            snprintf(tag, sizeof(tag), "%x%02x%x", (unsigned)time(NULL) & 0xfffff,
                     (unsigned)getpid() & 0xff, (unsigned)(r * o->neps + k) & 0xf);
            /* An endpoint without a socket is the floor, whatever the
             * scenario: `--compare floor=floor berth=SOCK`. */
            json_t *res = ep->sock ? sc->run(o, ep, tag) : berth_bench_floor_run(o, ep, tag);
            if (res == NULL) {
                (*failures)++;
                continue;
            }
            if (sc->print_detail)
                sc->print_detail(res);
            if (o->stages)
                berth_bench_stages_print(res);
            json_array_append_new(runs, json_pack("{s:s,s:i,s:o}", "endpoint", ep->label, "round",
                                                  r + 1, "result", res));
        }
    }
    return runs;
}

/* The table and the spread on stdout; --json and --plot. */
static void report(const berth_bench_opts_t *o, const berth_bench_scenario_t *sc, json_t *runs)
{
    json_t *ratios = berth_bench_print_table(o, sc, runs);
    berth_bench_print_round_spread(o, sc, runs);
    berth_bench_load_print(stdout);
    if (o->json_path) {
        json_t *doc =
                json_pack("{s:s,s:o,s:i,s:O,s:o}", "scenario", o->scenario, "machine",
                          machine_json(), "rounds", o->rounds, "runs", runs, "ratios", ratios);
        json_t *params = json_pack("{s:i,s:i,s:f,s:f,s:f,s:s}", "pods", o->n, "workers", o->workers,
                                   "seconds", o->seconds, "rate", o->rate, "lifetime", o->lifetime,
                                   "image", o->image);
        json_object_set_new(doc, "params", params);
        json_object_set_new(doc, "load", berth_bench_load_json());
        if (json_dump_file(doc, o->json_path, JSON_INDENT(1)) < 0)
            fprintf(stderr, "berth-bench: cannot write %s\n", o->json_path);
        json_decref(doc);
    } else {
        json_decref(ratios);
    }
    if (o->plot_dir && sc->plots)
        berth_bench_plot(o, runs, o->plot_dir);
}

int main(int argc, char **argv)
{
    berth_bench_opts_t o;
    const berth_bench_scenario_t *sc;
    json_t *runs;
    int rc = 2, failures;
    if (!berth_bench_opts_parse(&o, argc, argv, &rc))
        goto out;
    sc = scenario_find(o.scenario);
    if (sc == NULL) {
        berth_bench_usage(stderr);
        goto out;
    }
    if (berth_bench_opts_endpoints(&o, sc == &berth_bench_floor) < 0)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    /* The same load for every endpoint and every round. */
    if (berth_bench_load_start(&o.load) < 0) {
        rc = 1;
        goto out;
    }
    runs = run_rounds(&o, sc, &failures);
    berth_bench_load_stop();
    report(&o, sc, runs);
    json_decref(runs);
    rc = failures ? 1 : 0;
out:
    berth_bench_opts_fini(&o);
    return rc;
}
