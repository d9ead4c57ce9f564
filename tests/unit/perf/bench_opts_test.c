/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/bench_opts: berth-bench's option table parsed the way the command
 * lines of docs/perf.md, scripts/ and tests/integration give it: defaults,
 * each kind of option (integers and reals clamped to 1, strings, flags, the
 * command split), --floor-spec's check, --compare endpoints and the floor,
 * --procs per label, --load's lists (and stress-ng missing from PATH), and
 * the errors that exit 2. Messages on stderr are expected for the error
 * cases.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"
#include "tests/unit/check.h"

/* Parses a NULL-terminated command line (after the program name). */
static bool parse(berth_bench_opts_t *o, int *exit_code, const char *const *args)
{
    char *argv[64] = {"berth-bench"};
    int argc = 1;
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    optind = 0; /* glibc: start over, as for a fresh process */
    *exit_code = -1;
    return berth_bench_opts_parse(o, argc, argv, exit_code);
}

#define PARSE(o, rc, ...) parse(o, rc, (const char *const[]){__VA_ARGS__, NULL})

static bool strv_is(char **v, const char *const *want)
{
    size_t i = 0;
    for (; v && v[i] && want[i]; i++)
        if (strcmp(v[i], want[i]) != 0)
            return false;
    return v && v[i] == NULL && want[i] == NULL;
}

int main(void)
{
    printf("1..23\n");
    berth_bench_opts_t o;
    int rc;

    bool go = PARSE(&o, &rc, "density", "--socket", "/run/berth/berth.sock");
    ok(go && strcmp(o.scenario, "density") == 0 && strcmp(o.sock, "/run/berth/berth.sock") == 0 &&
               o.n == -1 && o.workers == 4 && o.rounds == 1 && o.seconds == 30 && o.rate == 2 &&
               o.lifetime == 5 && o.slow_delay == 6 && o.deadline == 2 && o.backoff == 1 &&
               o.max == 60 && !o.no_pull && !o.compare && !o.floor_runtime_spec,
       "defaults");
    ok(strcmp(o.image, "docker.io/library/busybox:latest") == 0 &&
               strcmp(o.oci_runtime, "/usr/sbin/runc") == 0 &&
               strcmp(o.floor_dir, "/tmp/berth-bench-floor") == 0 &&
               strv_is(o.command, (const char *const[]){"sleep", "3600", NULL}),
       "default image, runtime, floor dir and command");
    ok(berth_bench_opts_endpoints(&o, false) == 0 && o.neps == 1 &&
               strcmp(o.eps[0].label, "runtime") == 0 &&
               strcmp(o.eps[0].sock, "/run/berth/berth.sock") == 0 &&
               strv_is(o.eps[0].procs,
                       (const char *const[]){"berthd", "berth-monitor", "conmon", NULL}),
       "one --socket endpoint, labelled runtime, berthd and its monitors unfiltered outside /tmp");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "-n", "7", "-P", "0", "--rate", "-3", "--seconds", "2.5", "--rounds", "0",
               "--no-pull", "--json", "out.json", "--command", "a b", "--cni-delay", "0.5", "churn",
               "--socket", "/s");
    ok(go && o.n == 7 && o.workers == 1 && o.rate == 1 && o.seconds == 2.5 && o.rounds == 1 &&
               o.no_pull && strcmp(o.json_path, "out.json") == 0 && o.slow_delay == 0.5 &&
               strcmp(o.scenario, "churn") == 0,
       "integers, reals (clamped to 1 where they must be positive), flags and strings");
    ok(strv_is(o.command, (const char *const[]){"a", "b", NULL}), "--command is split on spaces");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "floor", "--floor-spec", "runtime", "-n", "3");
    ok(go && o.floor_runtime_spec && berth_bench_opts_endpoints(&o, true) == 0 && o.neps == 1 &&
               strcmp(o.eps[0].label, "floor") == 0 && o.eps[0].sock == NULL &&
               strv_is(o.eps[0].procs, (const char *const[]){"conmon@/tmp/berth-bench-floor",
                                                             "runc@/tmp/berth-bench-floor",
                                                             "crun@/tmp/berth-bench-floor", NULL}),
       "floor needs no socket; its processes are filtered by its directory");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "floor", "--floor-spec", "bogus");
    ok(!go && rc == 2, "--floor-spec other than berth|runtime exits 2");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "containers", "--compare", "floor=floor",
               "berth=/tmp/berth-bench.d/berth.sock", "-n", "3", "-P", "1", "--rounds", "2",
               "--floor-dir", "/tmp/f");
    ok(go && o.compare && o.neps == 2 && strcmp(o.eps[0].label, "floor") == 0 &&
               o.eps[0].sock == NULL && strcmp(o.eps[1].label, "berth") == 0 &&
               strcmp(o.eps[1].sock, "/tmp/berth-bench.d/berth.sock") == 0 && o.rounds == 2,
       "--compare takes LABEL=SOCK options and arguments; SOCK floor is the floor");
    ok(berth_bench_opts_endpoints(&o, false) == 0 &&
               strv_is(o.eps[0].procs, (const char *const[]){"conmon@/tmp/f", "runc@/tmp/f",
                                                             "crun@/tmp/f", NULL}) &&
               strv_is(o.eps[1].procs, (const char *const[]){"berthd@/tmp/berth-bench.d/",
                                                             "berth-monitor@/tmp/berth-bench.d/",
                                                             "conmon@/tmp/berth-bench.d/", NULL}),
       "a socket under /tmp filters its processes by its directory");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "relist", "--compare", "a=/x/containerd.sock", "b=/y/s", "--procs",
               "b=foo,bar", "--procs", "baz");
    ok(go && berth_bench_opts_endpoints(&o, false) == 0 &&
               strv_is(o.eps[0].procs, (const char *const[]){"baz", NULL}) &&
               strv_is(o.eps[1].procs, (const char *const[]){"foo", "bar", NULL}),
       "--procs LABEL=... for one endpoint, a bare list for the others");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--compare", "a=1", "b=2", "c=3", "d=4", "e=5");
    ok(!go && rc == 2, "a fifth endpoint exits 2");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--socket", "/s", "extra");
    ok(!go && rc == 2, "an argument without --compare exits 2");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--no-such-option");
    ok(!go && rc == 2, "an unknown option exits 2");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density");
    ok(go && berth_bench_opts_endpoints(&o, false) < 0, "density without a socket is refused");
    berth_bench_opts_fini(&o);

    /* --load */
    go = PARSE(&o, &rc, "density", "--socket", "/s");
    ok(go && !berth_bench_load_any(&o.load) && strcmp(o.load.dir, "/tmp") == 0,
       "no load by default; the writers' directory is /tmp");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--socket", "/s", "--load", "busy");
    ok(go && o.load.cpu == 1 && o.load.disk == 1 && o.load.mem_pct == 25 && o.load.mem_bytes == 0,
       "--load busy: one core, one fsync writer, 25 % of RAM");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--socket", "/s", "--load", "cpu=2,mem=4g", "--load-dir",
               "/var/lib/x");
    ok(go && o.load.cpu == 2 && o.load.disk == 0 && o.load.mem_pct == 0 &&
               o.load.mem_bytes == 4ull << 30 && strcmp(o.load.dir, "/var/lib/x") == 0,
       "--load cpu=N,mem=SIZE and --load-dir");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--socket", "/s", "--load", "disk=3,mem=10%,mem=512M");
    ok(go && o.load.cpu == 0 && o.load.disk == 3 && o.load.mem_pct == 0 &&
               o.load.mem_bytes == 512ull << 20,
       "--load disk=N; a later mem overrides an earlier one");
    berth_bench_opts_fini(&o);

    go = PARSE(&o, &rc, "density", "--socket", "/s", "--load", "mem=10%", "--load", "busy,none");
    ok(go && !berth_bench_load_any(&o.load), "none clears what came before");
    berth_bench_opts_fini(&o);

    static const char *const bad[] = {"gpu",   "cpu=0",  "cpu=x", "disk=-1", "mem=95%",   "mem=4x",
                                      "mem=0", "busy=2", "",      ",",       "cpu,,bogus"};
    bool all_refused = true;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        go = PARSE(&o, &rc, "density", "--socket", "/s", "--load", bad[i]);
        if (go || rc != 2) {
            printf("# --load \"%s\" was accepted\n", bad[i]);
            all_refused = false;
        }
        berth_bench_opts_fini(&o);
    }
    ok(all_refused, "bad --load lists exit 2");

    /* Starting: no stress-ng in PATH is an error before anything runs; no
     * load runs nothing and still records the load average. */
    berth_bench_load_spec_t busy = {.cpu = 1, .dir = "/tmp"};
    const char *path = getenv("PATH");
    BERTH_AUTO_FREE char *saved = berth_strdup(path ? path : "/usr/bin:/bin");
    setenv("PATH", "/nonexistent", 1);
    ok(berth_bench_load_start(&busy) < 0, "--load without stress-ng in PATH is refused");
    berth_bench_load_stop();
    setenv("PATH", saved, 1);
    berth_bench_load_spec_t none = {.dir = "/tmp"};
    ok(berth_bench_load_start(&none) == 0, "no load starts nothing");
    berth_bench_load_stop();
    json_t *j = berth_bench_load_json();
    ok(strcmp(json_string_value(json_object_get(j, "summary")), "none") == 0 &&
               json_array_size(json_object_get(j, "loadavg_start")) == 3 &&
               json_array_size(json_object_get(j, "loadavg_end")) == 3 &&
               json_object_get(j, "tool") == NULL,
       "no load in JSON: summary none and the load average at start and end");
    json_decref(j);

    return nfail ? 1 : 0;
}
