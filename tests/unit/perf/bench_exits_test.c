/* SPDX-License-Identifier: Apache-2.0 */
/* perf/bench_exits: the sum over a process tree of exits (pure), and the
 * taskstats listener on a child and grandchild of this test (as root). */
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perf/bench_exits.h"
#include "tests/unit/check.h"

static bool near(double a, double b)
{
    return a - b < 1e-9 && b - a < 1e-9;
}

static void burn(double s)
{
    struct timespec c0, c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
    while ((double)(c.tv_sec - c0.tv_sec) + (double)(c.tv_nsec - c0.tv_nsec) / 1e9 < s);
}

int main(void)
{
    printf("1..5\n");
    const pid_t roots[] = {100, 110};
    const berth_bench_exit_t ex[] = {
            {.pid = 203, .ppid = 201, .cpu_us = 1000}, /* great-grandchild, before its parents */
            {.pid = 200, .ppid = 100, .cpu_us = 5000}, /* a root's child */
            {.pid = 201, .ppid = 200, .cpu_us = 3000}, /* its child */
            {.pid = 202, .ppid = 999, .cpu_us = 7000}, /* someone else's */
            {.pid = 110, .ppid = 1, .cpu_us = 400},    /* a root itself: sampled, not summed */
            {.pid = 204, .ppid = 110, .cpu_us = 20},   /* the other root's child */
            /* a thread of root 110, whose parent is root 100: sampled */
            {.pid = 111, .ppid = 100, .tgid = 110, .cpu_us = 900},
    };
    ok(near(berth_bench_exits_sum(ex, 7, roots, 2), 0.00902),
       "exits under the roots at any depth count, others and the roots' own do not");
    ok(berth_bench_exits_sum(NULL, 0, roots, 2) == 0, "no exits, nothing");
    const berth_bench_exit_t loop[] = {{.pid = 300, .ppid = 301, .cpu_us = 1},
                                       {.pid = 301, .ppid = 300, .cpu_us = 1}};
    ok(berth_bench_exits_sum(loop, 2, roots, 2) == 0, "a parent loop (pid reuse) ends, uncounted");

    berth_bench_exits_t *x = berth_bench_exits_start();
    if (x == NULL) {
        ok(true, "# SKIP taskstats needs CAP_NET_ADMIN");
        ok(true, "# SKIP taskstats needs CAP_NET_ADMIN");
        return nfail ? 1 : 0;
    }
    pid_t self = getpid();
    pid_t c = fork();
    if (c == 0) {
        pid_t g = fork();
        if (g == 0) {
            burn(0.02);
            _exit(0);
        }
        burn(0.01);
        waitpid(g, NULL, 0);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    unsigned lost = 0;
    double s = berth_bench_exits_cpu_s(x, &self, 1, &lost);
    /* Timer-tick sampled (bench_exits.c): within a few ticks of 30 ms. */
    ok(s >= 0.015 && s < 1, "a child's and a grandchild's CPU (30 ms of work)");
    ok(lost == 0, "no report lost");
    berth_bench_exits_stop(x);
    return nfail ? 1 : 0;
}
