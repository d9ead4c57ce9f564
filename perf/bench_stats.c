/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's numbers: percentiles and summaries (pure), per-second
 * buckets, JSON helpers, and the /proc reader for a runtime's RSS and CPU.
 * The reader tolerates processes that vanish between readdir and open:
 * containers come and go while a benchmark samples.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/bench_stats.h"

double berth_bench_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    if (p <= 0)
        return sorted[0];
    if (p >= 100)
        return sorted[n - 1];
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;
    double frac = rank - (double)lo;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void berth_bench_summarize(const double *v, size_t n, berth_bench_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->n = n;
    if (n == 0)
        return;
    BERTH_AUTO_FREE double *s = berth_memdup(v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    out->min = s[0];
    out->max = s[n - 1];
    out->mean = sum / (double)n;
    out->p50 = berth_bench_percentile(s, n, 50);
    out->p90 = berth_bench_percentile(s, n, 90);
    out->p99 = berth_bench_percentile(s, n, 99);
}

json_t *berth_bench_summary_json(const berth_bench_summary_t *s)
{
    return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)s->n, "min", s->min, "mean",
                     s->mean, "p50", s->p50, "p90", s->p90, "p99", s->p99, "max", s->max);
}

unsigned *berth_bench_per_second(const double *t, size_t n, size_t *nbuckets)
{
    double last = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] > last)
            last = t[i];
    size_t nb = n ? (size_t)last + 1 : 0;
    unsigned *b = berth_calloc(nb ? nb : 1, sizeof(unsigned));
    for (size_t i = 0; i < n; i++)
        if (t[i] >= 0)
            b[(size_t)t[i]]++;
    *nbuckets = nb;
    return b;
}

json_t *berth_bench_json_doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

double berth_bench_json_number(json_t *o, const char *path)
{
    BERTH_AUTO_FREE char *copy = berth_strdup(path);
    char *save = NULL;
    for (char *k = strtok_r(copy, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_is_object(o) ? json_object_get(o, k) : NULL;
    return o && json_is_number(o) ? json_number_value(o) : NAN;
}

char **berth_bench_strv_split(const char *s, char sep)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == sep;
    char **v = berth_calloc(n + 1, sizeof(char *));
    size_t i = 0;
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == sep || *p == '\0') {
            if (p > start)
                v[i++] = berth_strndup(start, (size_t)(p - start));
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    return v;
}

void berth_bench_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        berth_free(*p);
    berth_free(v);
}

static ssize_t read_small(int dirfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* The command line with its NULs turned into spaces; "" when unreadable. */
static void read_cmdline(int pd, char *buf, size_t cap)
{
    ssize_t n = read_small(pd, "cmdline", buf, cap);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
}

/* comm against "GLOB" or "GLOB@TEXT" (see berth_bench_usage_sample); the
 * command line is read only when a pattern with TEXT matched the name. */
static bool comm_matches(int pd, const char *comm, const char *const *patterns)
{
    char cmdline[4096];
    bool have_cmdline = false;
    for (; *patterns; patterns++) {
        const char *at = strchr(*patterns, '@');
        if (at == NULL) {
            if (fnmatch(*patterns, comm, 0) == 0)
                return true;
            continue;
        }
        char glob[64];
        size_t gl = (size_t)(at - *patterns);
        if (gl >= sizeof(glob))
            continue;
        memcpy(glob, *patterns, gl);
        glob[gl] = '\0';
        if (fnmatch(glob, comm, 0) != 0)
            continue;
        if (!have_cmdline) {
            read_cmdline(pd, cmdline, sizeof(cmdline));
            have_cmdline = true;
        }
        if (strstr(cmdline, at + 1))
            return true;
    }
    return false;
}

/* The CPU time of pd's live threads in seconds, exact: each task's
 * schedstat starts with its run time in ns. /proc/[pid]/stat truncates the
 * process's utime and stime to clock ticks (10 ms here) one by one, which
 * loses up to two ticks per process: nothing for one daemon, but about 10 ms
 * a pod for a runtime with a monitor process per container, enough to make
 * a conmon look free. Threads that exited are not in task/: -1 when none
 * could be read. */
static double live_threads_cpu_s(int pd)
{
    int td = openat(pd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (td < 0)
        return -1;
    DIR *d = fdopendir(td);
    if (d == NULL) {
        close(td);
        return -1;
    }
    unsigned long long ns = 0;
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], buf[128];
        snprintf(path, sizeof(path), "%s/schedstat", e->d_name);
        unsigned long long run;
        if (read_small(dirfd(d), path, buf, sizeof(buf)) > 0 && sscanf(buf, "%llu", &run) == 1) {
            ns += run;
            any = true;
        }
    }
    closedir(d);
    return any ? (double)ns / 1e9 : -1;
}

void berth_bench_usage_sample(const char *const *patterns, berth_bench_usage_t *out)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir("/proc");
    if (d == NULL)
        return;
    double tick = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int pd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pd < 0)
            continue;
        char comm[64], stat[1024], statm[256];
        if (read_small(pd, "comm", comm, sizeof(comm)) <= 0) {
            close(pd);
            continue;
        }
        comm[strcspn(comm, "\n")] = '\0';
        if (!comm_matches(pd, comm, patterns) || read_small(pd, "stat", stat, sizeof(stat)) <= 0 ||
            read_small(pd, "statm", statm, sizeof(statm)) <= 0) {
            close(pd);
            continue;
        }
        double live = live_threads_cpu_s(pd);
        close(pd);
        /* comm may hold spaces or ')': the fields start after the last ')'. */
        char *p = strrchr(stat, ')');
        if (p == NULL)
            continue;
        unsigned long long utime, stime;
        long long cutime, cstime;
        /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime cutime cstime */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &utime,
                   &stime, &cutime, &cstime) != 4)
            continue;
        unsigned long size, resident;
        if (sscanf(statm, "%lu %lu", &size, &resident) != 2)
            continue;
        /* Its own time: the exact figure of its live threads, unless
         * threads that exited make the ticks larger. Reaped children have
         * only the ticks (one truncation each for cutime and cstime). */
        double own = (double)(utime + stime) / tick;
        if (live > own)
            own = live;
        double children = (double)(cutime + cstime) / tick;
        out->own_cpu_s += own;
        out->child_cpu_s += children;
        out->cpu_s += own + children;
        if (out->npids < BERTH_BENCH_USAGE_PIDS)
            out->pids[out->npids++] = (pid_t)atoi(e->d_name);
        out->rss_bytes += (uint64_t)resident * (uint64_t)page;
        out->nprocs++;
    }
    closedir(d);
}
