// SPDX-License-Identifier: Apache-2.0
/*
 * CRIU's probe and the bounded command run of io/criu.h. Everything here
 * but the parsers blocks, and runs on the blocking pool or in main; the
 * published probe is the only shared state (one atomic pointer).
 */
#include "io/criu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/fs.h"

extern char **environ;

#define OUTPUT_MAX (64 * 1024)
#define PROBE_TIMEOUT_MS 30000u

/* The line of `text` that starts at `p`, without its end, owned. */
static char *line_at(const char *p)
{
    size_t n = strcspn(p, "\n");
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
        n--;
    return berth_strndup(p, n);
}

char *berth_criu_check_reason(const char *output, int wait_status)
{
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        return NULL;
    const char *text = output ? output : "";
    const char *last = NULL;
    for (const char *p = text; *p;) {
        if (strncmp(p, "Error", 5) == 0)
            return line_at(p);
        if (strspn(p, " \t\r") != strcspn(p, "\n"))
            last = p;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    if (last)
        return line_at(last);
    if (WIFSIGNALED(wait_status))
        return berth_asprintf("criu was killed by signal %d", WTERMSIG(wait_status));
    return berth_asprintf("criu exited with status %d and said nothing",
                          WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
}

char *berth_criu_parse_version(const char *output)
{
    const char *p = output ? strstr(output, "Version:") : NULL;
    if (p == NULL)
        return NULL;
    p += strlen("Version:");
    p += strspn(p, " \t");
    size_t n = strcspn(p, " \t\r\n");
    return n ? berth_strndup(p, n) : NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int berth_criu_run(const char *const *argv, unsigned timeout_ms, char **output, int *wait_status,
                   berth_err_t *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return berth_err_errno(err, errno, "cannot make a pipe for %s", argv[0]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    /* The child gets default dispositions and an empty mask, as io/spawn's. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(p[1]);
    BERTH_AUTO_CLOSE int rd = p[0];
    if (rc != 0)
        return berth_err_errno(err, rc, "cannot run %s", argv[0]);

    char *buf = berth_malloc(OUTPUT_MAX + 1);
    size_t len = 0;
    bool timed_out = false;
    uint64_t deadline = timeout_ms ? now_ms() + timeout_ms : 0;
    for (;;) {
        int wait = -1;
        if (deadline) {
            uint64_t t = now_ms();
            if (t >= deadline) {
                timed_out = true;
                break;
            }
            wait = (int)(deadline - t);
        }
        struct pollfd pfd = {.fd = rd, .events = POLLIN};
        int n = poll(&pfd, 1, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            continue;
        char chunk[4096];
        ssize_t got = read(rd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* EOF: every writer (the child and its children) is gone */
        size_t keep = (size_t)got < OUTPUT_MAX - len ? (size_t)got : OUTPUT_MAX - len;
        memcpy(buf + len, chunk, keep);
        len += keep;
    }
    buf[len] = '\0';
    /* A child past its time is killed; the wait below then reaps it, so it
     * never stays a zombie (waitpid on our own pid: never wait(-1), which
     * would reap berth's other children behind their pidfds). */
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            berth_free(buf);
            return berth_err_errno(err, errno, "cannot wait for %s", argv[0]);
        }
    }
    if (timed_out) {
        berth_free(buf);
        return berth_err_make(err, ETIMEDOUT, BERTH_ERR_TIMEOUT, "%s did not finish within %u ms",
                              argv[0], timeout_ms);
    }
    *output = buf;
    *wait_status = status;
    return 0;
}

/* runc runs "criu" from PATH; berthd's PATH may lack the sbin directories. */
static char *find_criu(void)
{
    const char *path = getenv("PATH");
    if (path) {
        BERTH_AUTO_FREE char *copy = berth_strdup(path);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            const char *dirs[] = {d, NULL};
            char *p = berth_fs_find_in(dirs, "criu");
            if (p)
                return p;
        }
    }
    return berth_fs_find_exec("criu");
}

void berth_criu_probe_at(const char *path, berth_criu_status_t *out)
{
    memset(out, 0, sizeof(*out));
    out->path = path ? berth_strdup(path) : find_criu();
    if (out->path == NULL || access(out->path, X_OK) < 0) {
        out->reason = berth_asprintf("criu is not installed: %s",
                                     path ? path : "no criu on PATH nor in /usr/sbin");
        return;
    }
    BERTH_AUTO_ERR berth_err_t err = NULL;
    BERTH_AUTO_FREE char *text = NULL;
    int status;
    const char *ver[] = {out->path, "--version", NULL};
    if (berth_criu_run(ver, PROBE_TIMEOUT_MS, &text, &status, &err) == 0)
        out->version = berth_criu_parse_version(text);
    berth_free(berth_steal_ptr(&text));
    berth_err_free(&err);
    const char *check[] = {out->path, "check", NULL};
    if (berth_criu_run(check, PROBE_TIMEOUT_MS, &text, &status, &err) < 0) {
        out->reason = berth_asprintf("criu check could not run: %s", err->msg);
        return;
    }
    BERTH_AUTO_FREE char *why = berth_criu_check_reason(text, status);
    if (why == NULL) {
        out->usable = true;
        return;
    }
    /* CRIU follows the kernel: its version and the kernel's say most */
    struct utsname u;
    if (uname(&u) < 0)
        snprintf(u.release, sizeof(u.release), "?");
    out->reason = berth_asprintf("criu check failed (criu %s at %s, kernel %s): %s",
                                 out->version ? out->version : "of unknown version", out->path,
                                 u.release, why);
}

void berth_criu_status_fini(berth_criu_status_t *s)
{
    berth_free(s->path);
    berth_free(s->version);
    berth_free(s->reason);
    memset(s, 0, sizeof(*s));
}

/* Written once by a successful compare-and-swap from NULL, never freed
 * after: release on the swap pairs with the acquire loads, so a reader
 * sees the fields the prober filled. */
static _Atomic(berth_criu_status_t *) published;

const berth_criu_status_t *berth_criu_status(void)
{
    return atomic_load_explicit(&published, memory_order_acquire);
}

const berth_criu_status_t *berth_criu_probe(void)
{
    berth_criu_status_t *cur = atomic_load_explicit(&published, memory_order_acquire);
    if (cur)
        return cur;
    berth_criu_status_t *s = berth_calloc(1, sizeof(*s));
    berth_criu_probe_at(NULL, s);
    if (s->usable)
        berth_log_info("criu can checkpoint containers", "path=%s version=%s", s->path,
                       s->version ? s->version : "?");
    else
        berth_log_info("checkpoints cannot work on this node", "reason=\"%s\"", s->reason);
    /* The loser of two concurrent first probes frees its own and uses the
     * winner's; acq_rel: release publishes s, acquire reads the winner's. */
    if (!atomic_compare_exchange_strong_explicit(&published, &cur, s, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        berth_criu_status_fini(s);
        berth_free(s);
        return cur;
    }
    return s;
}

char *berth_criu_status_json(void)
{
    const berth_criu_status_t *s = berth_criu_status();
    json_t *o = json_object();
    json_object_set_new(o, "probed", json_boolean(s != NULL));
    json_object_set_new(o, "usable", json_boolean(s && s->usable));
    if (s && s->path)
        json_object_set_new(o, "criu", json_string(s->path));
    if (s && s->version)
        json_object_set_new(o, "version", json_string(s->version));
    if (s == NULL || s->reason)
        json_object_set_new(o, "reason",
                            json_string(s ? s->reason : "CRIU's probe has not finished yet"));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void probe_job(void *arg)
{
    (void)arg;
    berth_criu_probe();
}

void berth_criu_probe_async(void)
{
    berth_blocking_run(probe_job, NULL, BERTH_HANDLE_NONE, NULL);
}
