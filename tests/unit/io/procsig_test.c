/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/procsig: the fate of a signal from the masks and NSpid of a status
 * text, then live: this process (default, caught, ignored) and the init of
 * a new PID namespace, where the kernel really discards SIGTERM until the
 * program installs a handler (root; skipped without CLONE_NEWPID).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/procsig.h"
#include "tests/unit/check.h"

/* SIGTERM is 15: bit 14, 0x4000. */
static const char *const host_init = "Name:\tinit\nNSpid:\t1\nSigIgn:\t0000000000000000\n"
                                     "SigCgt:\t0000000000000000\n";
static const char *const ctr_init = "Name:\ttop\nPid:\t4242\nNSpid:\t4242\t1\n"
                                    "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
                                    "SigCgt:\t0000000000000000\n";
static const char *const ctr_init_caught = "NSpid:\t4242\t1\nSigIgn:\t0000000000000000\n"
                                           "SigCgt:\t0000000000004000\n";
static const char *const ctr_init_ignored = "NSpid:\t4242\t1\nSigIgn:\t0000000000004000\n"
                                            "SigCgt:\t0000000000000000\n";
static const char *const ctr_child = "NSpid:\t4243\t7\nSigIgn:\t0000000000000000\n"
                                     "SigCgt:\t0000000000000000\n";
static const char *const nested3 = "NSpid:\t4244\t17\t1\nSigIgn:\t0\nSigCgt:\t0\n";

static void parse_tests(void)
{
    static const struct {
        const char *status;
        int sig, want; /* want -1: refused with EINVAL */
        const char *what;
    } cases[] = {
            {ctr_init, SIGTERM, BERTH_SIG_DISCARDED,
             "a container's init without a handler discards SIGTERM"},
            {ctr_init, SIGKILL, BERTH_SIG_DELIVERED_DEFAULT, "SIGKILL is never discarded"},
            {ctr_init_caught, SIGTERM, BERTH_SIG_CAUGHT, "a handler for SIGTERM: caught"},
            {ctr_init_caught, SIGINT, BERTH_SIG_DISCARDED,
             "a handler for SIGTERM says nothing of SIGINT"},
            {ctr_init_ignored, SIGTERM, BERTH_SIG_IGNORED, "SIG_IGN: ignored"},
            {ctr_child, SIGTERM, BERTH_SIG_DELIVERED_DEFAULT,
             "a process that is not its namespace's init gets the default action"},
            {host_init, SIGTERM, BERTH_SIG_DELIVERED_DEFAULT,
             "the outermost namespace's init is not a container's"},
            {nested3, SIGTERM, BERTH_SIG_DISCARDED, "init two namespaces down discards too"},
            {"NSpid:\t1\t1\n", SIGTERM, -1, "no SigCgt/SigIgn: EINVAL"},
            {ctr_init, 0, -1, "signal 0: EINVAL"},
            {ctr_init, 65, -1, "signal 65: EINVAL"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errno = 0;
        int got = berth_proc_sig_fate_parse(cases[i].status, cases[i].sig);
        check(got == cases[i].want && (cases[i].want != -1 || errno == EINVAL), "%s",
              cases[i].what);
    }
}

static volatile sig_atomic_t got;
static void on_term(int sig)
{
    (void)sig;
    _exit(42);
}
static void on_usr(int sig)
{
    got = sig;
}

static void self_tests(void)
{
    pid_t me = getpid();
    signal(SIGUSR2, SIG_DFL);
    check(berth_proc_sig_fate(me, SIGUSR2) == BERTH_SIG_DELIVERED_DEFAULT,
          "this process, SIGUSR2 default: delivered");
    signal(SIGUSR2, on_usr);
    check(berth_proc_sig_fate(me, SIGUSR2) == BERTH_SIG_CAUGHT, "with a handler: caught");
    signal(SIGUSR2, SIG_IGN);
    check(berth_proc_sig_fate(me, SIGUSR2) == BERTH_SIG_IGNORED, "SIG_IGN: ignored");
    signal(SIGUSR2, SIG_DFL);
    check(berth_proc_sig_fate(999999999, SIGTERM) == -1 && errno == ENOENT,
          "a pid that does not exist: ENOENT");
}

static bool waitpid_for(pid_t pid, int *status, int ms)
{
    for (int i = 0; i < ms; i++) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void pidns_tests(void)
{
    if (unshare(CLONE_NEWPID) < 0) {
        printf("ok %d # skip unshare(CLONE_NEWPID): %s\n", ++ntest, strerror(errno));
        return;
    }
    int go[2], ack[2];
    if (pipe(go) < 0 || pipe(ack) < 0) {
        check(false, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* init of the new namespace: SIGTERM at its default until told */
        signal(SIGTERM, SIG_DFL);
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(1);
        signal(SIGTERM, on_term);
        if (write(ack[1], "k", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    check(pid > 0, "fork into a new PID namespace");
    if (pid < 0)
        return;
    /* the child may not have reset its disposition yet: the masks are
     * inherited (this process has no SIGTERM handler), so it is already
     * discarded from the fork on */
    check(berth_proc_sig_fate(pid, SIGTERM) == BERTH_SIG_DISCARDED,
          "the namespace's init without a handler: discarded");
    kill(pid, SIGTERM);
    int status;
    check(!waitpid_for(pid, &status, 200),
          "the kernel discarded SIGTERM: still running 200 ms later");
    if (write(go[1], "g", 1) != 1)
        check(false, "write: %s", strerror(errno));
    char b;
    check(read(ack[0], &b, 1) == 1, "the child installed its handler");
    check(berth_proc_sig_fate(pid, SIGTERM) == BERTH_SIG_CAUGHT, "now caught");
    kill(pid, SIGTERM);
    bool exited = waitpid_for(pid, &status, 5000);
    check(exited && WIFEXITED(status) && WEXITSTATUS(status) == 42,
          "a second SIGTERM reaches the handler (exit 42)");
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
}

/* The window critest hit: a stop signal reaches the runtime's init while
 * it holds SIGTERM blocked (it has handlers: "caught"), stays pending, and
 * the program the init becomes has the default action when it unblocks: the
 * kernel discards it. What the container actor watches: pending, then
 * discarded with the process alive (lost), then caught (send again). */
static void pidns_exec_window_tests(void)
{
    if (unshare(CLONE_NEWPID) < 0) {
        printf("ok %d # skip unshare(CLONE_NEWPID): %s\n", ++ntest, strerror(errno));
        return;
    }
    int go[2], ack[2];
    if (pipe(go) < 0 || pipe(ack) < 0) {
        check(false, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        signal(SIGTERM, on_term); /* the runtime's handlers */
        sigprocmask(SIG_BLOCK, &term, NULL);
        char b;
        if (write(ack[1], "1", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(1);
        /* the exec: handlers reset to the default, then the program runs
         * with the signal unblocked */
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &term, NULL);
        if (write(ack[1], "2", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(1);
        signal(SIGTERM, on_term); /* the program's own handler, later */
        if (write(ack[1], "3", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char b;
    check(pid > 0 && read(ack[0], &b, 1) == 1, "the runtime's init blocks SIGTERM");
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    check(berth_proc_sig_pending(pid, SIGTERM) == 1 &&
                  berth_proc_sig_fate(pid, SIGTERM) == BERTH_SIG_CAUGHT,
          "sent while blocked: pending, and the fate says caught");
    if (write(go[1], "g", 1) != 1 || read(ack[0], &b, 1) != 1)
        check(false, "pipe to the child");
    int status;
    check(!waitpid_for(pid, &status, 100) && berth_proc_sig_pending(pid, SIGTERM) == 0 &&
                  berth_proc_sig_fate(pid, SIGTERM) == BERTH_SIG_DISCARDED,
          "after the exec: not pending, discarded, still running: the signal is lost");
    if (write(go[1], "g", 1) != 1 || read(ack[0], &b, 1) != 1)
        check(false, "pipe to the child");
    check(berth_proc_sig_fate(pid, SIGTERM) == BERTH_SIG_CAUGHT, "the program's handler: caught");
    kill(pid, SIGTERM);
    bool exited = waitpid_for(pid, &status, 5000);
    check(exited && WIFEXITED(status) && WEXITSTATUS(status) == 42,
          "the signal sent again reaches the program (exit 42)");
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
}

/* unshare(CLONE_NEWPID) is for good: once the namespace's init exits, this
 * process can create no more children, and LeakSanitizer needs one at exit.
 * So the namespace test runs in a child of its own, which continues the TAP
 * numbering, reports its counts on a pipe and leaves with _exit. */
static void pidns_tests_in_child(void (*fn)(void))
{
    int rep[2];
    if (pipe(rep) < 0) {
        check(false, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        fn();
        int counts[2] = {ntest, nfail};
        fflush(stdout);
        if (write(rep[1], counts, sizeof(counts)) != (ssize_t)sizeof(counts))
            _exit(2);
        _exit(0);
    }
    close(rep[1]);
    int counts[2] = {0, 0};
    ssize_t n = pid > 0 ? read(rep[0], counts, sizeof(counts)) : -1;
    close(rep[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof(counts)) {
        check(false, "the PID namespace test's child reported nothing (status %d)", status);
        return;
    }
    ntest = counts[0];
    nfail = counts[1];
}

static void ids_tests(void)
{
    berth_proc_ids_t ids;
    const char *st = "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
                     "FDSize:\t64\nGroups:\t1000 1234 50000 \nNSpid:\t7\n";
    check(berth_proc_ids_parse(st, &ids) == 0 && ids.uid == 1000 && ids.gid == 1000 &&
                  ids.ngroups == 3 && ids.groups[0] == 1000 && ids.groups[1] == 1234 &&
                  ids.groups[2] == 50000,
          "ids: uid, gid and the three groups");
    berth_proc_ids_fini(&ids);
    check(berth_proc_ids_parse("Uid:\t0\t0\t0\t0\nGid:\t5\t5\t5\t5\nGroups:\t\n", &ids) == 0 &&
                  ids.gid == 5 && ids.ngroups == 0 && ids.groups == NULL,
          "ids: no supplementary groups");
    berth_proc_ids_fini(&ids);
    check(berth_proc_ids_parse("Name:\tx\nGroups:\t1\n", &ids) < 0 && errno == EINVAL,
          "ids: a status without Uid is EINVAL");
    check(berth_proc_ids(getpid(), &ids) == 0 && ids.uid == getuid() && ids.gid == getgid(),
          "ids of this process match getuid/getgid");
    berth_proc_ids_fini(&ids);
}

int main(void)
{
    parse_tests();
    ids_tests();
    self_tests();
    pidns_tests_in_child(pidns_tests);
    pidns_tests_in_child(pidns_exec_window_tests);
    check(berth_proc_sig_pending_parse("SigPnd:\t0000000000000000\nShdPnd:\t0000000000004000\n",
                                       SIGTERM) == 1 &&
                  berth_proc_sig_pending_parse("SigPnd:\t0000000000004000\nShdPnd:\t0\n",
                                               SIGTERM) == 1 &&
                  berth_proc_sig_pending_parse("SigPnd:\t0\nShdPnd:\t0000000000000100\n",
                                               SIGTERM) == 0,
          "pending: the thread's or the process's mask");
    check(berth_proc_sig_pending_parse("Name:\tx\n", SIGTERM) == -1 && errno == EINVAL,
          "pending: no masks is EINVAL");
    char comm[64] = "";
    FILE *cf = fopen("/proc/self/comm", "re");
    if (cf && fgets(comm, sizeof(comm), cf))
        comm[strcspn(comm, "\n")] = '\0';
    if (cf)
        fclose(cf);
    char rt[128];
    snprintf(rt, sizeof(rt), "/usr/local/bin/%s", comm);
    check(berth_proc_is_runtime_init(getpid(), rt) == 1 &&
                  berth_proc_is_runtime_init(getpid(), "/usr/bin/runc") == 0 &&
                  berth_proc_is_runtime_init(getpid(), "crun") == 0,
          "runtime init: a process named as the runtime is one, another is not (%s)", comm);
    check(berth_proc_is_runtime_init(999999999, "runc") == -1 && errno == ENOENT,
          "runtime init: a pid that does not exist is ENOENT");
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
