/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf/bench_core: the parts of berth-bench's kubelet that need no CRI
 * runtime: the StopContainer grace period's default and its environment
 * override, the container command that exits on SIGTERM, the pod and
 * container log directories made as the kubelet makes them, and the PLEG
 * relist thread (its timer rule, and its counts and prompt stop against a
 * socket nobody serves), and --stages' arithmetic (perf/bench_stages.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "io/fs.h"
#include "perf/bench_core.h"
#include "tests/unit/check.h"

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void test_grace(void)
{
    check(berth_bench_stop_grace(NULL) == BERTH_BENCH_STOP_GRACE_DEFAULT,
          "grace: unset is the default (%d s)", BERTH_BENCH_STOP_GRACE_DEFAULT);
    ok(berth_bench_stop_grace("") == BERTH_BENCH_STOP_GRACE_DEFAULT, "grace: empty is the default");
    ok(berth_bench_stop_grace("5") == 5, "grace: 5");
    ok(berth_bench_stop_grace("0") == 0, "grace: 0 (kill at once)");
    ok(berth_bench_stop_grace("-1") == BERTH_BENCH_STOP_GRACE_DEFAULT, "grace: negative ignored");
    ok(berth_bench_stop_grace("3s") == BERTH_BENCH_STOP_GRACE_DEFAULT,
       "grace: trailing junk ignored");
    ok(berth_bench_stop_grace("x") == BERTH_BENCH_STOP_GRACE_DEFAULT,
       "grace: not a number ignored");
}

static void test_command(void)
{
    char *dflt[] = {"sleep", "3600", NULL};
    char *mine[] = {"sleep", "600", NULL};
    berth_bench_opts_t o = {.command = dflt};
    const char *const *c = berth_bench_ctr_command(&o);
    ok(c != (const char *const *)dflt && strcmp(c[0], "sh") == 0 && strcmp(c[1], "-c") == 0 &&
               strstr(c[2], "trap") && strstr(c[2], "TERM") && strstr(c[2], "sleep 3600") &&
               c[3] == NULL,
       "command: the default sleep runs under a shell that exits on SIGTERM");
    o.command = mine;
    ok(berth_bench_ctr_command(&o) == (const char *const *)mine,
       "command: a given command is sent as is");
}

static void test_log_dirs(void)
{
    char root[] = "/tmp/bench_core_test.XXXXXX";
    if (!ok(mkdtemp(root) != NULL, "log dirs: a scratch root"))
        return;
    ok(berth_bench_log_dir_make(root, "p", "u1", NULL) == 0, "log dirs: pod directory made");
    BERTH_AUTO_FREE char *pd = berth_asprintf("%s/berth-bench_p_u1", root);
    BERTH_AUTO_FREE char *cd = berth_asprintf("%s/berth-bench_p_u1/main", root);
    ok(is_dir(pd) && !is_dir(cd), "log dirs: the pod's log_directory (namespace_name_uid)");
    ok(berth_bench_log_dir_make(root, "p", "u1", "main") == 0 && is_dir(cd),
       "log dirs: the container's directory, the log path's parent");
    ok(berth_bench_log_dir_make(root, "p", "u1", "main") == 0, "log dirs: made again is fine");
    BERTH_AUTO_FREE char *file = berth_asprintf("%s/file", root);
    FILE *f = fopen(file, "w");
    if (f)
        fclose(f);
    ok(berth_bench_log_dir_make(file, "p", "u1", NULL) < 0,
       "log dirs: a root that is a file fails");
    berth_fs_remove_tree(root);
}

static void test_pleg(void)
{
    ok(berth_bench_pleg_next(10.0, 1.0, 10.2) == 11.0, "pleg: next relist a period after the last");
    ok(berth_bench_pleg_next(10.0, 1.0, 12.5) == 12.5,
       "pleg: a late relist runs now, never in the past");

    berth_bench_pleg_t pl;
    berth_bench_pleg_start(&pl, "/nonexistent/berth-bench-test.sock", 0.01);
    berth_bench_sleep_s(0.2);
    berth_bench_pleg_stop(&pl);
    check(pl.relists >= 1, "pleg: relisted (%u times) until stopped", pl.relists);
    check(pl.calls == 2 * pl.relists && pl.errors == pl.calls,
          "pleg: two lists per relist, each counted failed without a runtime (%u/%u)", pl.errors,
          pl.calls);
    json_t *j = berth_bench_pleg_json(&pl);
    ok(json_integer_value(json_object_get(j, "relists")) == pl.relists &&
               json_integer_value(json_object_get(j, "errors")) == pl.errors &&
               json_real_value(json_object_get(j, "period_s")) == 0.01 &&
               strstr(json_string_value(json_object_get(j, "error")), "connect") != NULL,
       "pleg: JSON has period, counts and the first error");
    json_decref(j);

    /* A stop during a long wait ends it at once (a hang here is the bug). */
    berth_bench_pleg_start(&pl, "/nonexistent/berth-bench-test.sock", 3600);
    berth_bench_sleep_s(0.05);
    berth_bench_pleg_stop(&pl);
    check(pl.relists <= 1, "pleg: at most the first relist, then stopped mid-wait (%u)",
          pl.relists);
    json_decref(berth_bench_pleg_json(&pl));
}

/* perf/bench_stages.c: a run's stage figures are after - before, and the
 * slowest tenth's split is the mean of its pods' parts. */
static void test_stages(void)
{
    berth_hist_t *h = berth_hist_get("stage/x");
    berth_hist_t *g = berth_hist_get("stage/untouched");
    berth_hist_record(g, 7);
    for (int i = 0; i < 50; i++)
        berth_hist_record(h, 1000000); /* 1 ms, before the run */
    json_t *before = berth_hist_json();
    for (int i = 0; i < 10; i++)
        berth_hist_record(h, 20000000); /* 20 ms, the run */
    json_t *after = berth_hist_json();
    json_t *d = berth_bench_stages_diff(before, after);
    json_t *x = json_object_get(d, "stage/x");
    json_int_t p50 = json_integer_value(json_object_get(x, "p50"));
    check(json_integer_value(json_object_get(x, "count")) == 10 && p50 > 19000000 &&
                  p50 < 21000000 && json_integer_value(json_object_get(x, "sum")) == 200000000,
          "stages: the difference holds the run's records only (p50 %lld ns)", (long long)p50);
    check(json_object_get(d, "stage/untouched") == NULL,
          "stages: a histogram the run did not touch is left out");
    json_t *none = json_object();
    check(berth_bench_stages_diff(before, none) == NULL,
          "stages: none when the runtime serves none");
    json_decref(none);
    json_decref(d);
    json_decref(before);
    json_decref(after);

    berth_bench_pod_t *pods = berth_bench_pods_new(20, "t", "t");
    for (unsigned i = 0; i < 20; i++) {
        pods[i].ok = true;
        pods[i].sandbox = 0.1;
        pods[i].create = i >= 18 ? 1.0 : 0.2; /* the slowest two: a slow create */
        pods[i].start = 0.05;
        pods[i].latency = pods[i].sandbox + pods[i].create + pods[i].start + 0.01;
    }
    json_t *t = berth_bench_tail_split(pods, 20);
    json_t *slow = json_object_get(t, "slowest_10pct"), *mid = json_object_get(t, "median_pods");
    check(json_integer_value(json_object_get(slow, "pods")) == 2 &&
                  json_real_value(json_object_get(slow, "create_s")) > 0.99 &&
                  json_real_value(json_object_get(mid, "create_s")) < 0.21 &&
                  json_real_value(json_object_get(slow, "other_s")) > 0.009 &&
                  json_real_value(json_object_get(slow, "other_s")) < 0.011,
          "tail: the slowest tenth's create and the rest, against the median pods'");
    check(berth_bench_tail_split(pods, 9) == NULL, "tail: none under 10 pods");
    json_decref(t);
    berth_bench_pods_free(pods, 20);
}

int main(void)
{
    test_grace();
    test_command();
    test_log_dirs();
    test_pleg();
    test_stages();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
