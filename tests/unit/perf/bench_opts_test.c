/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/bench_opts: berth-bench's option table parsed the way the command
 * lines of docs/perf.md, scripts/ and tests/integration give it: defaults,
 * each kind of option (integers and reals clamped to 1, strings, flags, the
 * command split), --floor-spec's check, --compare endpoints and the floor,
 * --procs per label, and the errors that exit 2. Messages on stderr are
 * expected for the error cases.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
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
    printf("1..14\n");
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
               strv_is(o.eps[0].procs, (const char *const[]){"berthd", "conmon", NULL}),
       "one --socket endpoint, labelled runtime, berthd and conmon unfiltered outside /tmp");
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

    return nfail ? 1 : 0;
}
