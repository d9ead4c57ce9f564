/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/spawn: real children through the engine. A driver actor runs phases of
 * process runs (each phase waits for all of its exit messages), the results
 * are checked on the main thread after the engine stopped. Runs threaded by
 * default, deterministic with --deterministic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/spawn.h"
#include "tests/unit/check.h"

#define NHELPERS 4
#define PER_HELPER 50
#define NPOLL 20
#define BIG_STDIN 300000

enum {
    T_EXIT3 = 1,
    T_CAT,
    T_FD3,
    T_CWDENV,
    T_CAP,
    T_TIMEOUT,
    T_KILL,
    T_SELFSIG,
    T_GRACE,
    T_NULLIN,
    T_SESSION,
    T_POLL_EXIT3,
    T_POLL_TIMEOUT,
    T_POLL_FIRST, /* T_POLL_FIRST .. +NPOLL-1: concurrent runs in poll mode */
    T_MAX = T_POLL_FIRST + NPOLL,
};

enum { MSG_START = 300, MSG_HELPER_DONE };

static berth_proc_exit_msg_t *results[T_MAX];
static int duplicates;
static pid_t session_pid;
static int enoent_errnum;
static int fd3_pipe[2] = {-1, -1};
static int leak_fd = -1;
static char *big_stdin;
static struct {
    int replies, dups, bad;
} helper_stats[NHELPERS];
static bool deterministic;

/* ---- helper actors: many concurrent short runs ----------------------- */

typedef struct helper {
    int idx;
    berth_handle_t driver;
    int outstanding;
    unsigned char seen[PER_HELPER];
} helper_t;

static void helper_receive(berth_actor_t *self, berth_msg_t *msg)
{
    helper_t *h = berth_actor_state(self);
    if (msg->type == MSG_START) {
        for (int i = 0; i < PER_HELPER; i++) {
            char arg[32];
            snprintf(arg, sizeof arg, "%d-%d", h->idx, i);
            char *argv[] = {"/bin/echo", arg, NULL};
            berth_proc_spec_t spec = {.argv = argv, .stdout_mode = BERTH_PROC_CAPTURE};
            BERTH_AUTO_ERR berth_err_t err = NULL;
            if (berth_proc_run(berth_actor_self(self), &spec, (uint64_t)i, NULL, NULL, &err) == 0)
                h->outstanding++;
            else
                helper_stats[h->idx].bad++;
        }
    } else if (msg->type == BERTH_MSG_PROC_EXIT) {
        berth_proc_exit_msg_t *m = (berth_proc_exit_msg_t *)msg;
        char want[40];
        snprintf(want, sizeof want, "%d-%d\n", h->idx, (int)m->tag);
        helper_stats[h->idx].replies++;
        if (m->tag >= PER_HELPER || h->seen[m->tag]++)
            helper_stats[h->idx].dups++;
        if (!berth_proc_exit_ok(m) || strcmp((char *)m->out, want) != 0)
            helper_stats[h->idx].bad++;
        h->outstanding--;
    }
    berth_msg_free(msg);
    if (h->outstanding == 0) {
        berth_send(h->driver, berth_msg_new(MSG_HELPER_DONE, sizeof(berth_msg_t)));
        berth_actor_exit(self);
    }
}

static const berth_actor_class_t helper_class = {
        .name = "spawn-test-helper", .receive = helper_receive, .fini = berth_free};

/* ---- the driver --------------------------------------------------------- */

typedef struct driver {
    int phase;
    int outstanding;
} driver_t;

static void launch(berth_actor_t *self, driver_t *d, int tag, const berth_proc_spec_t *spec,
                   berth_handle_t *h, pid_t *pid)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_proc_run(berth_actor_self(self), spec, (uint64_t)tag, h, pid, &err) < 0) {
        printf("# launch %d failed: %s\n", tag, err->msg);
        return;
    }
    d->outstanding++;
}

static void phase1(berth_actor_t *self, driver_t *d)
{
    {
        char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
        berth_proc_spec_t s = {
                .argv = argv, .stdout_mode = BERTH_PROC_CAPTURE, .stderr_mode = BERTH_PROC_CAPTURE};
        launch(self, d, T_EXIT3, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/cat", NULL};
        berth_proc_spec_t s = {.argv = argv,
                               .stdin_mode = BERTH_PROC_DATA,
                               .stdin_data = big_stdin,
                               .stdin_len = BIG_STDIN,
                               .stdout_mode = BERTH_PROC_CAPTURE};
        launch(self, d, T_CAT, &s, NULL, NULL);
    }
    {
        char script[128];
        snprintf(script, sizeof script, "echo hi >&3; [ -e /proc/self/fd/%d ] && exit 9; exit 0",
                 leak_fd);
        char *argv[] = {"/bin/sh", "-c", script, NULL};
        berth_proc_fd_t fds[] = {{.fd = fd3_pipe[1], .child_fd = 3}};
        berth_proc_spec_t s = {.argv = argv, .fds = fds, .nfds = 1};
        launch(self, d, T_FD3, &s, NULL, NULL);
        close(fd3_pipe[1]); /* the child has its own copy now */
        fd3_pipe[1] = -1;
    }
    {
        char *argv[] = {"/bin/sh", "-c", "pwd; echo $FOO", NULL};
        char *envp[] = {"FOO=bar", NULL};
        berth_proc_spec_t s = {
                .argv = argv, .envp = envp, .cwd = "/usr", .stdout_mode = BERTH_PROC_CAPTURE};
        launch(self, d, T_CWDENV, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sh", "-c", "head -c 100000 /dev/zero; echo e >&2", NULL};
        berth_proc_spec_t s = {.argv = argv,
                               .stdout_mode = BERTH_PROC_CAPTURE,
                               .stderr_mode = BERTH_PROC_CAPTURE,
                               .max_output = 1000};
        launch(self, d, T_CAP, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sleep", "10", NULL};
        berth_proc_spec_t s = {.argv = argv, .timeout_ns = 300 * 1000 * 1000};
        launch(self, d, T_TIMEOUT, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sleep", "10", NULL};
        berth_proc_spec_t s = {.argv = argv};
        berth_handle_t h = BERTH_HANDLE_NONE;
        launch(self, d, T_KILL, &s, &h, NULL);
        berth_proc_kill(h, SIGTERM);
    }
    {
        char *argv[] = {"/bin/sh", "-c", "kill -USR1 $$; sleep 5", NULL};
        berth_proc_spec_t s = {.argv = argv};
        launch(self, d, T_SELFSIG, &s, NULL, NULL);
    }
    {
        /* A grandchild keeps stdout open past the child's exit. */
        char *argv[] = {"/bin/sh", "-c", "sleep 3 & echo x", NULL};
        berth_proc_spec_t s = {
                .argv = argv, .stdout_mode = BERTH_PROC_CAPTURE, .eof_grace_ns = 300 * 1000 * 1000};
        launch(self, d, T_GRACE, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sh", "-c", "cat; echo done", NULL};
        berth_proc_spec_t s = {.argv = argv, .stdout_mode = BERTH_PROC_CAPTURE};
        launch(self, d, T_NULLIN, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sh", "-c", "read a b c d e f g < /proc/$$/stat; echo $f", NULL};
        berth_proc_spec_t s = {
                .argv = argv, .stdout_mode = BERTH_PROC_CAPTURE, .new_session = true};
        launch(self, d, T_SESSION, &s, NULL, &session_pid);
    }
    {
        char *argv[] = {"/nonexistent/berth-test", NULL};
        berth_proc_spec_t s = {.argv = argv};
        BERTH_AUTO_ERR berth_err_t err = NULL;
        if (berth_proc_run(berth_actor_self(self), &s, 99, NULL, NULL, &err) < 0)
            enoent_errnum = err->errnum;
    }
}

static void phase2(berth_actor_t *self, driver_t *d)
{
    for (int i = 0; i < NHELPERS; i++) {
        helper_t *h = berth_calloc(1, sizeof *h);
        h->idx = i;
        h->driver = berth_actor_self(self);
        berth_handle_t hh = berth_actor_spawn(&helper_class, h);
        berth_send(hh, berth_msg_new(MSG_START, sizeof(berth_msg_t)));
        d->outstanding++;
    }
}

static void phase3(berth_actor_t *self, driver_t *d)
{
    berth_proc_force_poll_wait(true);
    {
        char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
        berth_proc_spec_t s = {
                .argv = argv, .stdout_mode = BERTH_PROC_CAPTURE, .stderr_mode = BERTH_PROC_CAPTURE};
        launch(self, d, T_POLL_EXIT3, &s, NULL, NULL);
    }
    {
        char *argv[] = {"/bin/sleep", "10", NULL};
        berth_proc_spec_t s = {.argv = argv, .timeout_ns = 200 * 1000 * 1000};
        launch(self, d, T_POLL_TIMEOUT, &s, NULL, NULL);
    }
    for (int i = 0; i < NPOLL; i++) {
        char *argv[] = {"/bin/sh", "-c", "exit $1", "sh", NULL, NULL};
        char code[16];
        snprintf(code, sizeof code, "%d", i);
        argv[4] = code;
        berth_proc_spec_t s = {.argv = argv};
        launch(self, d, T_POLL_FIRST + i, &s, NULL, NULL);
    }
    berth_proc_force_poll_wait(false);
}

static void driver_receive(berth_actor_t *self, berth_msg_t *msg)
{
    driver_t *d = berth_actor_state(self);
    bool advance = false;
    if (msg->type == MSG_START) {
        advance = true;
    } else if (msg->type == BERTH_MSG_PROC_EXIT) {
        berth_proc_exit_msg_t *m = (berth_proc_exit_msg_t *)msg;
        d->outstanding--;
        if (m->tag < T_MAX && results[m->tag] == NULL) {
            results[m->tag] = m;
            msg = NULL;
        } else {
            duplicates++;
        }
        advance = d->outstanding == 0;
    } else if (msg->type == MSG_HELPER_DONE) {
        d->outstanding--;
        advance = d->outstanding == 0;
    }
    berth_msg_free(msg);
    while (advance) {
        d->phase++;
        if (d->phase == 1)
            phase1(self, d);
        else if (d->phase == 2)
            phase2(self, d);
        else if (d->phase == 3)
            phase3(self, d);
        else {
            berth_actor_exit(self);
            if (!deterministic)
                berth_engine_stop();
            return;
        }
        advance = d->outstanding == 0;
    }
}

static const berth_actor_class_t driver_class = {
        .name = "spawn-test-driver", .receive = driver_receive, .fini = berth_free};

static const char *out_of(int tag)
{
    return results[tag] ? (const char *)results[tag]->out : "(no result)";
}

static bool exited_with(int tag, int code, int status)
{
    berth_proc_exit_msg_t *m = results[tag];
    if (m == NULL)
        return false;
    if (m->code != code || m->status != status) {
        printf("# tag %d: code %d status %d wait_error %d\n", tag, m->code, m->status,
               m->wait_error);
        return false;
    }
    return true;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* berth_proc_reap_strays: a zombie child named like the runtime in another
 * PID namespace is reaped; one in ours, though named the same, is not. The
 * test runs in a child of its own: after unshare(CLONE_NEWPID) every later
 * fork of the caller starts in the new namespace, LeakSanitizer's tracer
 * too, which then cannot reach the threads it must stop (a fatal error at
 * exit under ASan). The child answers in its exit status, one bit a check,
 * 0x80 for a skip. */
static void strays(void)
{
    pid_t tester = fork();
    if (tester == 0) {
        pid_t ours = fork();
        if (ours == 0) {
            prctl(PR_SET_NAME, "strayt");
            _exit(0);
        }
        if (unshare(CLONE_NEWPID) < 0) {
            waitpid(ours, NULL, 0);
            _exit(0x80);
        }
        pid_t theirs = fork();
        if (theirs == 0) {
            prctl(PR_SET_NAME, "strayt");
            _exit(0);
        }
        int bits = 0;
        if (berth_proc_reap_strays("strayt", 2000ull * 1000000ull) == 1)
            bits |= 1;
        if (waitpid(theirs, NULL, WNOHANG) < 0 && errno == ECHILD)
            bits |= 2;
        if (waitpid(ours, NULL, WNOHANG) == ours)
            bits |= 4;
        _exit(bits);
    }
    int st = 0;
    if (waitpid(tester, &st, 0) != tester || !WIFEXITED(st)) {
        for (int i = 0; i < 3; i++)
            check(false, "the strays test's child exited");
        return;
    }
    int bits = WEXITSTATUS(st);
    if (bits & 0x80) {
        for (int i = 0; i < 3; i++)
            printf("ok %d # SKIP unshare(CLONE_NEWPID) refused\n", 25 + i);
        return;
    }
    check(bits & 1, "the zombie in another PID namespace is reaped");
    check(bits & 2, "it is gone");
    check(bits & 4, "the one in ours was left to its owner");
}

int main(int argc, char **argv)
{
    deterministic = argc > 1 && strcmp(argv[1], "--deterministic") == 0;
    alarm(120); /* a hang fails the test instead of stalling the suite */
    printf("1..27\n");

    big_stdin = berth_malloc(BIG_STDIN);
    for (size_t i = 0; i < BIG_STDIN; i++)
        big_stdin[i] = (char)('a' + i % 26);
    if (pipe2(fd3_pipe, O_CLOEXEC) < 0)
        return 1;
    leak_fd = dup(0); /* not CLOEXEC: the child must still not see it */

    /* Like berthd: signals blocked before the workers start. Children must
     * still get an empty mask (the SIGTERM and SIGUSR1 runs check it). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    int fds_before = count_fds();
    berth_engine_config_t cfg = {.workers = 2, .deterministic = deterministic};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return 77;
    }
    driver_t *d = berth_calloc(1, sizeof *d);
    berth_handle_t drv = berth_actor_spawn(&driver_class, d);
    berth_send(drv, berth_msg_new(MSG_START, sizeof(berth_msg_t)));
    if (deterministic)
        berth_engine_run();
    else
        berth_engine_join();

    check(exited_with(T_EXIT3, CLD_EXITED, 3), "sh exits with status 3");
    check(results[T_EXIT3] && strcmp(out_of(T_EXIT3), "out\n") == 0 &&
                  strcmp((char *)results[T_EXIT3]->err, "err\n") == 0,
          "stdout and stderr captured separately");
    check(results[T_CAT] && results[T_CAT]->out_len == BIG_STDIN &&
                  memcmp(results[T_CAT]->out, big_stdin, BIG_STDIN) == 0 &&
                  results[T_CAT]->stdin_error == 0,
          "%d bytes of stdin come back through cat", BIG_STDIN);
    char hi[8] = {0};
    ssize_t n = read(fd3_pipe[0], hi, sizeof hi - 1);
    check(n == 3 && strcmp(hi, "hi\n") == 0, "extra fd appears as fd 3 in the child");
    check(exited_with(T_FD3, CLD_EXITED, 0),
          "a non-CLOEXEC fd of the parent is closed in the child");
    check(strcmp(out_of(T_CWDENV), "/usr\nbar\n") == 0, "cwd and environment are applied");
    check(results[T_CAP] && results[T_CAP]->out_len == 1000 && results[T_CAP]->out_truncated,
          "stdout is capped at max_output and flagged");
    check(results[T_CAP] && !results[T_CAP]->err_truncated &&
                  strcmp((char *)results[T_CAP]->err, "e\n") == 0 &&
                  exited_with(T_CAP, CLD_EXITED, 0),
          "the capped run still completes normally");
    check(results[T_TIMEOUT] && results[T_TIMEOUT]->timed_out &&
                  exited_with(T_TIMEOUT, CLD_KILLED, SIGKILL),
          "timeout kills sleep 10 with SIGKILL and says so");
    check(results[T_TIMEOUT] && results[T_TIMEOUT]->elapsed_ns < 5000000000ull,
          "timed out run ends long before sleep would");
    check(exited_with(T_KILL, CLD_KILLED, SIGTERM) && !results[T_KILL]->timed_out,
          "berth_proc_kill(SIGTERM) is reported as killed by SIGTERM");
    check(exited_with(T_SELFSIG, CLD_KILLED, SIGUSR1), "death by SIGUSR1 is reported");
    check(results[T_GRACE] && results[T_GRACE]->pipes_open && strcmp(out_of(T_GRACE), "x\n") == 0 &&
                  exited_with(T_GRACE, CLD_EXITED, 0),
          "a grandchild holding stdout does not hold the exit message past the grace");
    check(strcmp(out_of(T_NULLIN), "done\n") == 0, "stdin defaults to /dev/null");
    char sid[32];
    snprintf(sid, sizeof sid, "%d\n", (int)session_pid);
    check(session_pid > 0 && strcmp(out_of(T_SESSION), sid) == 0,
          "new_session makes the child a session leader");
    check(enoent_errnum == ENOENT, "a missing executable fails berth_proc_run with ENOENT");
    check(results[T_EXIT3] && results[T_EXIT3]->pid > 0 && results[T_EXIT3]->elapsed_ns > 0,
          "pid and elapsed time are reported");

    int replies = 0, dups = 0, bad = 0;
    for (int i = 0; i < NHELPERS; i++) {
        replies += helper_stats[i].replies;
        dups += helper_stats[i].dups;
        bad += helper_stats[i].bad;
    }
    check(replies == NHELPERS * PER_HELPER && dups == 0,
          "%d concurrent runs from %d actors reported exactly once (%d replies, %d dups)",
          NHELPERS * PER_HELPER, NHELPERS, replies, dups);
    check(bad == 0, "every concurrent run echoed its own argument (%d bad)", bad);

    check(exited_with(T_POLL_EXIT3, CLD_EXITED, 3) && strcmp(out_of(T_POLL_EXIT3), "out\n") == 0,
          "poll fallback: exit status and output");
    check(results[T_POLL_TIMEOUT] && results[T_POLL_TIMEOUT]->timed_out &&
                  exited_with(T_POLL_TIMEOUT, CLD_KILLED, SIGKILL),
          "poll fallback: timeout kill");
    int poll_ok = 0;
    for (int i = 0; i < NPOLL; i++)
        poll_ok += exited_with(T_POLL_FIRST + i, CLD_EXITED, i);
    check(poll_ok == NPOLL, "poll fallback: %d concurrent exit codes (%d right)", NPOLL, poll_ok);
    check(duplicates == 0, "no exit message arrived twice");

    for (int i = 0; i < T_MAX; i++)
        if (results[i] != NULL)
            berth_msg_free(&results[i]->hdr);
    berth_engine_shutdown();
    /* Every fd the runs and the engine used is closed again; the only fd the
     * test itself closed meanwhile is fd3_pipe[1]. */
    int fds_after = count_fds() + 1;
    check(fds_after == fds_before, "no fd leaked (%d open before, %d after)", fds_before,
          fds_after);
    berth_free(big_stdin);
    strays();
    return nfail ? 1 : 0;
}
