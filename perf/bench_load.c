/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's background load: the --load list, and stress-ng (Debian's
 * package) running it from before the first round to after the last. It
 * owns one process group (stress-ng and its workers) and one directory (the
 * disk writers' files); it must never leave either behind, however
 * berth-bench ends (after the rounds, exit, a signal, SIGKILL): a keeper
 * process stops them when berth-bench's pipe to it closes. It signals
 * nothing but that process group.
 *
 * Why these workers (docs/perf.md, "A busy node"): the cpu worker keeps one
 * core busy on one fixed method; the disk writer writes 4 KiB and fsyncs
 * each time (a journal or database log writer), in a directory on the same
 * disk as the runtimes' state (/tmp by default, like bench-berth.sh's), so
 * the runtimes' own fsyncs queue behind it; the mem worker writes every
 * cache line of its share of RAM once and then holds it, so memory is taken
 * without a second busy core.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "engine/alloc.h"
#include "perf/bench_load.h"

/* ---- the list --------------------------------------------------------------- */

/* "N" > 0 into *v; < 0 when it is not. */
static int parse_count(const char *s, int *v)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n <= 0 || n > 1024)
        return -1;
    *v = (int)n;
    return 0;
}

/* "P%" (1..90) or a size: bytes, or k/m/g (KiB, MiB, GiB). */
static int parse_mem(const char *s, berth_bench_load_spec_t *l)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end == s || n == 0 || *s == '-')
        return -1;
    if (strcmp(end, "%") == 0) {
        if (n > 90)
            return -1;
        l->mem_pct = (int)n;
        l->mem_bytes = 0;
        return 0;
    }
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    else if (*end)
        return -1;
    if (shift && end[1])
        return -1;
    if (n > (~0ull >> shift))
        return -1;
    l->mem_bytes = n << shift;
    l->mem_pct = 0;
    return 0;
}

int berth_bench_load_parse(berth_bench_load_spec_t *l, const char *arg)
{
    BERTH_AUTO_FREE char *copy = berth_strdup(arg);
    char *save = NULL;
    bool any = false;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        any = true;
        char *eq = strchr(item, '=');
        if (eq)
            *eq++ = '\0';
        int rc = 0;
        if (strcmp(item, "none") == 0 && eq == NULL) {
            l->cpu = l->disk = l->mem_pct = 0;
            l->mem_bytes = 0;
        } else if (strcmp(item, "busy") == 0 && eq == NULL) {
            l->cpu = l->disk = 1;
            l->mem_pct = BERTH_BENCH_LOAD_MEM_PCT;
            l->mem_bytes = 0;
        } else if (strcmp(item, "cpu") == 0) {
            l->cpu = 1;
            rc = eq ? parse_count(eq, &l->cpu) : 0;
        } else if (strcmp(item, "disk") == 0) {
            l->disk = 1;
            rc = eq ? parse_count(eq, &l->disk) : 0;
        } else if (strcmp(item, "mem") == 0) {
            l->mem_pct = BERTH_BENCH_LOAD_MEM_PCT;
            l->mem_bytes = 0;
            rc = eq ? parse_mem(eq, l) : 0;
        } else {
            rc = -1;
        }
        if (rc < 0) {
            fprintf(stderr,
                    "berth-bench: --load: bad item \"%s%s%s\" (cpu[=N], disk[=N], "
                    "mem[=SIZE|P%%], busy or none, comma-separated)\n",
                    item, eq ? "=" : "", eq ? eq : "");
            return -1;
        }
    }
    if (!any) {
        fprintf(stderr, "berth-bench: --load: empty list\n");
        return -1;
    }
    return 0;
}

bool berth_bench_load_any(const berth_bench_load_spec_t *l)
{
    return l->cpu > 0 || l->disk > 0 || l->mem_pct > 0 || l->mem_bytes > 0;
}

/* ---- the running load --------------------------------------------------------- */

/* berth-bench forks a keeper (one process, its own process group, so a
 * terminal's ^C does not reach it), which forks stress-ng into a process
 * group of its own and then waits on a pipe from berth-bench. The pipe's
 * write end is berth-bench's only reference (close-on-exec, so the floor's
 * conmons do not hold it): when berth-bench closes it, exits, or is killed
 * in any way, the keeper reads EOF, stops stress-ng's group (SIGTERM,
 * SIGKILL after 10 s), waits until none of it is left, removes the
 * writers' directory and exits. Nothing to do from a signal handler. */
static struct {
    berth_bench_load_spec_t spec;
    unsigned long long mem_bytes;
    char version[64];
    char dir[PATH_MAX];
    double settle_s;
    bool started, stopped, ended_early, atexit_set;
    double loadavg0[3], loadavg1[3];
    pid_t keeper, pgid;
    int ctl; /* write end to the keeper; closing it stops the load */
    int st;  /* from the keeper: stress-ng's pid, then 'E' if it ended */
} L = {.ctl = -1, .st = -1};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* stress-ng's path from $PATH, or false. */
static bool find_stress_ng(char *path, size_t size)
{
    const char *env = getenv("PATH");
    BERTH_AUTO_FREE char *dirs = berth_strdup(env && *env ? env : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, size, "%s/stress-ng", d);
        if (access(path, X_OK) == 0)
            return true;
    }
    return false;
}

/* "0.15.06" from `stress-ng --version`, or "?". */
static void read_version(const char *path, char *out, size_t size)
{
    snprintf(out, size, "?");
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        execl(path, "stress-ng", "--version", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[256];
    ssize_t n = pid > 0 ? read(p[0], buf, sizeof(buf) - 1) : -1;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *v = strstr(buf, "version ");
    if (v)
        sscanf(v + 8, "%63[^ \n]", out);
}

/* The RSS of the processes in group pg, in bytes. */
static unsigned long long group_rss(pid_t pg)
{
    unsigned long long sum = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char p[300], buf[512];
        snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "re");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* After "(comm) ": state, ppid, pgrp; ... rss is field 24. */
        const char *r = strrchr(buf, ')');
        int pgrp = 0;
        long rss = 0;
        if (r &&
            sscanf(r + 2,
                   "%*c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                   "%*d %*d %*d %*u %*u %ld",
                   &pgrp, &rss) == 2 &&
            pgrp == pg)
            sum += (unsigned long long)rss * (unsigned long long)page;
    }
    closedir(d);
    return sum;
}

/* Prints the end of stress-ng's log (its output) on stderr. */
static void print_log(void)
{
    char p[PATH_MAX + 32], buf[2048];
    snprintf(p, sizeof(p), "%s/stress-ng.log", L.dir);
    FILE *f = fopen(p, "re");
    if (f == NULL)
        return;
    if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) < 0)
        rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "berth-bench: stress-ng said:\n%s", buf);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* The keeper's life (see above); never returns. */
static void keeper(const char *path, char *const argv[], int ctl, int st)
{
    setpgid(0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* It says nothing, and must not hold berth-bench's output open after
     * berth-bench is gone (a pipe's reader would wait for it). */
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        if (nul > 2)
            close(nul);
    }
    char logp[PATH_MAX + 32];
    snprintf(logp, sizeof(logp), "%s/stress-ng.log", L.dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        /* Should the keeper itself be killed, stress-ng goes too. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        int log = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (nul < 0 || log < 0)
            _exit(126);
        dup2(nul, 0);
        dup2(log, 1);
        dup2(log, 2);
        execv(path, argv);
        _exit(127);
    }
    if (pid > 0)
        setpgid(pid, pid); /* stress-ng does it too; whichever comes first */
    int v = (int)pid;
    if (write(st, &v, sizeof(v)) != (ssize_t)sizeof(v) || pid < 0)
        _exit(1);
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    bool alive = true;
    for (;;) {
        struct pollfd fds[2] = {{.fd = ctl, .events = POLLIN}, {.fd = pfd, .events = POLLIN}};
        int n = poll(fds, alive && pfd >= 0 ? 2 : 1, alive && pfd < 0 ? 500 : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (alive &&
            (pfd >= 0 ? (fds[1].revents & POLLIN) != 0 : waitpid(pid, NULL, WNOHANG) == pid)) {
            /* stress-ng ended on its own: berth-bench says so. */
            if (pfd >= 0)
                waitpid(pid, NULL, 0);
            alive = false;
            (void)!write(st, "E", 1);
        }
        char c;
        if ((fds[0].revents & (POLLIN | POLLHUP)) && read(ctl, &c, 1) <= 0)
            break;
    }
    if (alive) {
        kill(-pid, SIGTERM);
        double t0 = mono_s();
        while (waitpid(pid, NULL, WNOHANG) == 0 && mono_s() - t0 < 10)
            nap_ms(50);
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    /* Workers whose parent is gone linger while they free their memory;
     * the directory goes once nothing of the group is left. */
    kill(-pid, SIGKILL);
    double t0 = mono_s();
    while (kill(-pid, 0) == 0 && mono_s() - t0 < 30)
        nap_ms(50);
    nftw(L.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    _exit(0);
}

static void at_exit(void)
{
    berth_bench_load_stop();
}

/* A byte from the keeper without waiting: 'E' when stress-ng ended. */
static void poll_status(void)
{
    char c;
    struct pollfd fd = {.fd = L.st, .events = POLLIN};
    while (L.st >= 0 && poll(&fd, 1, 0) == 1 && (fd.revents & POLLIN) && read(L.st, &c, 1) == 1)
        if (c == 'E')
            L.ended_early = true;
}

int berth_bench_load_start(const berth_bench_load_spec_t *l)
{
    bool atexit_set = L.atexit_set;
    memset(&L, 0, sizeof(L));
    L.ctl = L.st = -1;
    L.atexit_set = atexit_set;
    L.spec = *l;
    L.started = true;
    getloadavg(L.loadavg0, 3);
    if (!berth_bench_load_any(l))
        return 0;
    char path[PATH_MAX];
    if (!find_stress_ng(path, sizeof(path))) {
        fprintf(stderr, "berth-bench: --load needs stress-ng, which is not installed (not in "
                        "PATH): apt-get install stress-ng (scripts/setup.sh installs it)\n");
        return -1;
    }
    read_version(path, L.version, sizeof(L.version));
    unsigned long long total =
            (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE);
    L.mem_bytes = l->mem_pct ? total / 100 * (unsigned long long)l->mem_pct : l->mem_bytes;
    snprintf(L.dir, sizeof(L.dir), "%s/berth-bench-load.XXXXXX", l->dir ? l->dir : "/tmp");
    if (mkdtemp(L.dir) == NULL) {
        fprintf(stderr, "berth-bench: --load: cannot make %s: %s\n", L.dir, strerror(errno));
        L.dir[0] = '\0';
        return -1;
    }

    /* Every worker with one fixed method, so that two runs get the same load. */
    char cpu[16], disk[16], mem[32];
    snprintf(cpu, sizeof(cpu), "%d", l->cpu);
    snprintf(disk, sizeof(disk), "%d", l->disk);
    snprintf(mem, sizeof(mem), "%llub", L.mem_bytes);
    const char *argv[40] = {"stress-ng", "--timeout", "0", "--temp-path", L.dir};
    size_t ac = 5;
    if (l->cpu) {
        const char *a[] = {"--cpu", cpu, "--cpu-method", "int64"};
        memcpy(argv + ac, a, sizeof(a));
        ac += BERTH_ARRAY_LEN(a);
    }
    if (l->disk) {
        const char *a[] = {"--hdd", disk,          "--hdd-opts", "fsync,wr-seq", "--hdd-write-size",
                           "4k",    "--hdd-bytes", "64m"};
        memcpy(argv + ac, a, sizeof(a));
        ac += BERTH_ARRAY_LEN(a);
    }
    if (L.mem_bytes) {
        const char *a[] = {"--vm",      "1", "--vm-bytes",  mem,          "--vm-keep",
                           "--vm-hang", "0", "--vm-method", "cache-lines"};
        memcpy(argv + ac, a, sizeof(a));
        ac += BERTH_ARRAY_LEN(a);
    }
    argv[ac] = NULL;

    int ctl[2], st[2];
    if (pipe2(ctl, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0) {
        fprintf(stderr, "berth-bench: --load: pipe: %s\n", strerror(errno));
        nftw(L.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        return -1;
    }
    fflush(NULL); /* the keeper is a copy: nothing buffered twice */
    pid_t k = fork();
    if (k == 0) {
        close(ctl[1]);
        close(st[0]);
        keeper(path, (char *const *)argv, ctl[0], st[1]);
    }
    close(ctl[0]);
    close(st[1]);
    L.ctl = ctl[1];
    L.st = st[0];
    if (k < 0) {
        fprintf(stderr, "berth-bench: --load: fork: %s\n", strerror(errno));
        berth_bench_load_stop();
        return -1;
    }
    L.keeper = k;
    if (!L.atexit_set) {
        atexit(at_exit);
        L.atexit_set = true;
    }
    int v = -1;
    if (read(L.st, &v, sizeof(v)) != (ssize_t)sizeof(v) || v <= 0) {
        fprintf(stderr, "berth-bench: --load: cannot start stress-ng\n");
        berth_bench_load_stop();
        return -1;
    }
    L.pgid = v;

    /* Settle: the mem worker takes seconds to write its share once, and a
     * round must not start while it does. The others start at once. */
    double t0 = mono_s();
    for (;;) {
        nap_ms(200);
        poll_status();
        if (L.ended_early) {
            fprintf(stderr, "berth-bench: --load: stress-ng ended at once\n");
            print_log();
            berth_bench_load_stop();
            return -1;
        }
        double t = mono_s() - t0;
        if (t >= 1 && (L.mem_bytes == 0 || group_rss(L.pgid) >= L.mem_bytes / 100 * 95))
            break;
        if (t > 120) {
            fprintf(stderr,
                    "berth-bench: --load: the mem worker holds %.2f of %.2f GiB after "
                    "120 s; going on\n",
                    (double)group_rss(L.pgid) / (1 << 30), (double)L.mem_bytes / (1 << 30));
            break;
        }
    }
    L.settle_s = mono_s() - t0;
    fprintf(stderr, "berth-bench: load running (stress-ng pid %d, settled in %.1f s)\n",
            (int)L.pgid, L.settle_s);
    return 0;
}

void berth_bench_load_stop(void)
{
    if (!L.started || L.stopped)
        return;
    L.stopped = true;
    poll_status();
    if (L.ended_early && L.pgid > 0 && L.settle_s > 0) {
        fprintf(stderr, "berth-bench: --load: stress-ng had ended before the last round\n");
        print_log();
    }
    if (L.ctl >= 0)
        close(L.ctl); /* the keeper stops stress-ng and removes the directory */
    L.ctl = -1;
    if (L.keeper > 0)
        waitpid(L.keeper, NULL, 0);
    else if (L.dir[0])
        nftw(L.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (L.st >= 0)
        close(L.st);
    L.st = -1;
    getloadavg(L.loadavg1, 3);
}

/* "cpu 1 core, disk 1 fsync writer, mem 5.8 GiB" or "none". */
static void describe(char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    if (L.spec.cpu)
        n += (size_t)snprintf(out + n, size - n, "cpu %d core%s", L.spec.cpu,
                              L.spec.cpu > 1 ? "s" : "");
    if (L.spec.disk && n < size)
        n += (size_t)snprintf(out + n, size - n, "%sdisk %d fsync writer%s", n ? ", " : "",
                              L.spec.disk, L.spec.disk > 1 ? "s" : "");
    if (L.mem_bytes && n < size)
        n += (size_t)snprintf(out + n, size - n, "%smem %.1f GiB", n ? ", " : "",
                              (double)L.mem_bytes / (1 << 30));
    if (n == 0)
        snprintf(out, size, "none");
}

void berth_bench_load_print(FILE *f)
{
    char d[160];
    describe(d, sizeof(d));
    fprintf(f, "load: %s", d);
    if (berth_bench_load_any(&L.spec))
        fprintf(f, " (stress-ng %s%s)", L.version, L.ended_early ? ", ENDED EARLY" : "");
    fprintf(f, "; loadavg %.2f at start, %.2f at end\n", L.loadavg0[0], L.loadavg1[0]);
}

json_t *berth_bench_load_json(void)
{
    char d[160];
    describe(d, sizeof(d));
    json_t *j = json_pack("{s:s,s:i,s:i,s:I,s:[f,f,f],s:[f,f,f]}", "summary", d, "cpu", L.spec.cpu,
                          "disk", L.spec.disk, "mem_bytes", (json_int_t)L.mem_bytes,
                          "loadavg_start", L.loadavg0[0], L.loadavg0[1], L.loadavg0[2],
                          "loadavg_end", L.loadavg1[0], L.loadavg1[1], L.loadavg1[2]);
    if (berth_bench_load_any(&L.spec)) {
        BERTH_AUTO_FREE char *tool = berth_asprintf("stress-ng %s", L.version);
        json_object_set_new(j, "tool", json_string(tool));
        json_object_set_new(j, "dir", json_string(L.spec.dir ? L.spec.dir : "/tmp"));
        json_object_set_new(j, "settle_s", json_real(L.settle_s));
        json_object_set_new(j, "ran_throughout", json_boolean(!L.ended_early));
    }
    return j;
}
