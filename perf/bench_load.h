/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's background load (--load, perf/bench_load.c): stress-ng
 * workers started before the first round and stopped after the last, so
 * that "a busy node" is one fixed condition shared by every endpoint and
 * every round. Private to the berth-bench executable.
 *
 * One load per process. Everything runs on the main thread, before the
 * scenario's threads exist (start: it forks) or after they are joined
 * (stop).
 */
#ifndef BERTH_PERF_BENCH_LOAD_H
#define BERTH_PERF_BENCH_LOAD_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* The default share of MemTotal the mem worker holds. */
#define BERTH_BENCH_LOAD_MEM_PCT 25

/* What --load asks for; all zero: no load. */
typedef struct berth_bench_load_spec {
    int cpu;                      /* stress-ng --cpu workers, one core at 100 % each */
    int disk;                     /* --hdd writers, an fsync after every 4 KiB write */
    int mem_pct;                  /* the mem worker holds this % of MemTotal... */
    unsigned long long mem_bytes; /* ...or this many bytes (when mem_pct is 0) */
    const char *dir;              /* --load-dir: where the writers write (borrowed) */
} berth_bench_load_spec_t;

/* Parses a --load list into *l (its dir untouched): comma-separated cpu[=N],
 * disk[=N], mem[=SIZE|P%] (SIZE: bytes, or with a k/m/g suffix), busy (cpu,
 * disk and mem at their defaults: one core, one writer, 25 % of RAM) and
 * none; a later item overrides an earlier one. < 0 with a message on
 * stderr when the list is bad. */
int berth_bench_load_parse(berth_bench_load_spec_t *l, const char *arg);
/* True when l asks for any load. */
bool berth_bench_load_any(const berth_bench_load_spec_t *l);

/* Records the load average, then starts l's load (nothing more when none):
 * stress-ng in a process group of its own, with its writers in a new
 * directory under l->dir, and waits until it holds its memory. A keeper
 * process stops it and removes the directory when berth-bench stops the
 * load, exits or dies in any way (even SIGKILL): it watches a pipe only
 * berth-bench holds. < 0 said on stderr (stress-ng missing, or it failed
 * to start): nothing is left running then. */
int berth_bench_load_start(const berth_bench_load_spec_t *l);
/* Stops the load (SIGTERM to its process group, SIGKILL after 10 s),
 * removes its directory, through the keeper, and waits for that), and
 * records the load average; says on stderr when stress-ng had ended
 * before. Idempotent; also runs at exit. */
void berth_bench_load_stop(void);
/* The report's line: "load: cpu 1 core, ... (stress-ng V); loadavg ...". */
void berth_bench_load_print(FILE *f);
/* {"summary", "cpu", "disk", "mem_bytes", "tool", "dir", "settle_s",
 * "ran_throughout", "loadavg_start", "loadavg_end"}: new. */
json_t *berth_bench_load_json(void);

#endif
