/* SPDX-License-Identifier: Apache-2.0 */
/* The process set-up both berth-monitor processes share. See procsetup.h. */
#include "io/monitor/procsetup.h"
#include "io/monitor/crilog.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

int berth_mon_proc_setup(berth_mon_limits_t *limits, const char **what)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        *what = "prctl(PR_SET_CHILD_SUBREAPER)";
        return -1;
    }
    /* A few descriptors a container: as many as the hard limit allows. */
    struct rlimit rl;
    limits->raised = false;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        limits->nofile = rl;
        rl.rlim_cur = rl.rlim_max;
        limits->raised = setrlimit(RLIMIT_NOFILE, &rl) == 0;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        *what = "signalfd";
    return sfd;
}

void berth_mon_child_reset(const berth_mon_limits_t *limits)
{
    if (limits->raised)
        setrlimit(RLIMIT_NOFILE, &limits->nofile);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void berth_mon_vsay(const char *who, const char *fmt, va_list ap)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char stamp[40];
    berth_crilog_stamp(&now, stamp);
    fprintf(stderr, "%s berth-monitor %s[%d]: ", stamp, who, (int)getpid());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}
