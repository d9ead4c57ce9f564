/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exact CPU time of a runtime's short-lived children. A process's
 * cutime and cstime in /proc/[pid]/stat are whole clock ticks (10 ms), one
 * truncation each per process, so a runtime with a monitor per container
 * (conmon: one `runc create` of ~20 ms each) showed ~10 ms a pod less than it
 * spent. The kernel reports every task's exit with its CPU time over
 * taskstats (netlink, CAP_NET_ADMIN; sampled at each timer tick, so unbiased
 * where the truncation is not, or exact with kernel.task_delayacct): this
 * listener keeps (pid, parent, time) of every exit on the machine, and sums those whose parent
 * chain leads to one of the runtime's processes (runc under a monitor, host-local under bridge
 * under the daemon).
 */
#ifndef BERTH_PERF_BENCH_EXITS_H
#define BERTH_PERF_BENCH_EXITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One exited task (a thread: each of a Go program's threads is reported). */
typedef struct berth_bench_exit {
    pid_t pid, ppid; /* the task's id; its process's parent at the exit */
    pid_t tgid;      /* its process (0: a kernel too old to say) */
    uint64_t cpu_us; /* user + system */
} berth_bench_exit_t;

/* Sums the exits whose parent is one of roots[0..nroots), or an exited
 * task of the list that counts (pids reused within the list are taken as
 * the same process: the window is seconds long). Tasks of the roots
 * themselves are left out, a thread that ended included (their own time is
 * sampled). Pure. */
double berth_bench_exits_sum(const berth_bench_exit_t *ex, size_t n, const pid_t *roots,
                             size_t nroots);

typedef struct berth_bench_exits berth_bench_exits_t;

/* Starts listening; NULL when taskstats is unavailable (not root, or a
 * kernel without it): the caller keeps the clock-tick figures then. */
berth_bench_exits_t *berth_bench_exits_start(void);
/* The CPU seconds of the exits since the start that descend from roots
 * (berth_bench_exits_sum); *lost gets the number of reports the socket
 * dropped (0 unless the machine outran the listener). */
double berth_bench_exits_cpu_s(berth_bench_exits_t *x, const pid_t *roots, size_t nroots,
                               unsigned *lost);
void berth_bench_exits_stop(berth_bench_exits_t *x);

#endif
