// SPDX-License-Identifier: Apache-2.0
/*
 * What reading one container's CPU and memory usage costs (io/cgroups), as
 * ListContainerStats pays it per container: prints nanoseconds per read, no
 * pass or fail. Without an argument it makes an empty cgroup of its own in
 * every cgroup hierarchy mounted (root only) and removes it afterwards;
 * with one it reads that cgroup (a cgroupsPath, "/kubepods/.../berth-<id>").
 *
 *   cgroups_bench [-n READS] [CGROUP_PATH]
 *
 * Built with -DCGROUPS_BENCH_OLD it also compiles against an io/cgroups.c
 * from before the reader (see docs/perf.md for the figures of both).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/cgroups.h"

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Wall and CPU time of the reads, per read. CPU time is what a relist pays
 * on a busy node; the wall time also holds the waits for the CPUs. */
typedef struct span {
    double wall, cpu;
} span_t;

static span_t span_start(void)
{
    return (span_t){clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_PROCESS_CPUTIME_ID)};
}

static void span_print(const char *what, span_t t0, long reads)
{
    double wall = (clock_ns(CLOCK_MONOTONIC) - t0.wall) / (double)reads;
    double cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0.cpu) / (double)reads;
    printf("%-58s %8.0f ns CPU, %8.0f ns wall per container\n", what, cpu, wall);
}

/* Calls fn(mount point) for each cgroup and cgroup2 mount in mountinfo. */
static void each_hierarchy(void (*fn)(const char *mnt, const char *cg), const char *cg)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char mnt[1024], fstype[64];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        if (strcmp(fstype, "cgroup") == 0 || strcmp(fstype, "cgroup2") == 0)
            fn(mnt, cg);
    }
    fclose(f);
}

static void make_cg(const char *mnt, const char *cg)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s%s", mnt, cg);
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        fprintf(stderr, "cgroups_bench: mkdir %s: %s\n", p, strerror(errno));
}

static void remove_cg(const char *mnt, const char *cg)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s%s", mnt, cg);
    rmdir(p);
}

int main(int argc, char **argv)
{
    long reads = 20000;
    int opt;
    while ((opt = getopt(argc, argv, "n:")) != -1) {
        if (opt == 'n') {
            reads = strtol(optarg, NULL, 10);
        } else {
            fprintf(stderr, "usage: cgroups_bench [-n READS] [CGROUP_PATH]\n");
            return 2;
        }
    }
    char own[64];
    const char *cg = optind < argc ? argv[optind] : NULL;
    if (cg == NULL) {
        snprintf(own, sizeof(own), "/berth-cgbench-%d", (int)getpid());
        cg = own;
        each_hierarchy(make_cg, cg);
    }
    berth_cgroups_stats_t st;
    if (berth_cgroups_stats_read(cg, &st) < 0) {
        fprintf(stderr, "cgroups_bench: nothing to read for cgroup %s\n", cg);
        if (cg == own)
            each_hierarchy(remove_cg, cg);
        return 1;
    }
    printf("cgroup %s: cpu %s, memory %s; %ld reads each\n", cg, st.have_cpu ? "yes" : "no",
           st.have_mem ? "yes" : "no", reads);

    span_t t0 = span_start();
    for (long i = 0; i < reads; i++)
        berth_cgroups_stats_read(cg, &st);
    span_print("berth_cgroups_stats_read (files opened per read)", t0, reads);

#ifndef CGROUPS_BENCH_OLD
    berth_cgroups_reader_t *r = berth_cgroups_reader_new(cg);
    berth_cgroups_reader_read(r, &st); /* opens and keeps the files */
    t0 = span_start();
    for (long i = 0; i < reads; i++)
        berth_cgroups_reader_read(r, &st);
    span_print("berth_cgroups_reader_read (a reader kept: pread only)", t0, reads);
    berth_cgroups_reader_unref(r);
#endif

    if (cg == own)
        each_hierarchy(remove_cg, cg);
    return 0;
}
