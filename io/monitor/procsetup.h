/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What both of berth-monitor's processes (the keeper, keeper.c, and the
 * worker, main.c) set up first: subreaper, a descriptor limit raised to the
 * hard one (the one berthd gave is kept for the children they start),
 * SIGPIPE ignored, SIGCHLD blocked and read from a signalfd.
 */
#ifndef BERTH_IO_MONITOR_PROCSETUP_H
#define BERTH_IO_MONITOR_PROCSETUP_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/resource.h>

/* The descriptor limit the process was started with, and whether it was
 * raised (then a child gets it back: berth_mon_child_limits). */
typedef struct berth_mon_limits {
    struct rlimit nofile;
    bool raised;
} berth_mon_limits_t;

/* Returns the signalfd (non-blocking, close-on-exec) for SIGCHLD, or -1
 * with *what naming the step that failed and errno. */
int berth_mon_proc_setup(berth_mon_limits_t *limits, const char **what);

/* In a forked child before exec: the inherited limit back, every signal's
 * default action, an empty mask. */
void berth_mon_child_reset(const berth_mon_limits_t *limits);

/* One line of the monitor's own log on stderr: time, who ("keeper",
 * "worker") and pid, then the message. */
void berth_mon_vsay(const char *who, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

#endif
