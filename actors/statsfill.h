/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI usage messages of one cgroup's figures (CpuUsage, MemoryUsage,
 * SwapUsage, IoUsage, ProcessUsage), filled the same way for a container's
 * ContainerStats and a pod's PodSandboxStats. Builds structs that borrow
 * nothing and own nothing: they live in the caller's berth_stats_pb_t.
 * Pure; any thread.
 */
#ifndef BERTH_ACTORS_STATSFILL_H
#define BERTH_ACTORS_STATSFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "io/cgroups.h"
#include "proto/cri.h"

typedef struct berth_stats_pb {
    /* The messages, each set (non-NULL) only when its figures were read:
     * cpu when the cgroup's CPU usage was, memory when its memory usage
     * was, swap when the kernel accounts swap, io when it has I/O pressure
     * figures (the only IoUsage figures), process when pids.current was. */
    Runtime__V1__CpuUsage *cpu;
    Runtime__V1__MemoryUsage *memory;
    Runtime__V1__SwapUsage *swap;
    Runtime__V1__IoUsage *io;
    Runtime__V1__ProcessUsage *process;
    /* storage */
    Runtime__V1__CpuUsage cpu_m;
    Runtime__V1__MemoryUsage mem_m;
    Runtime__V1__SwapUsage swap_m;
    Runtime__V1__IoUsage io_m;
    Runtime__V1__ProcessUsage proc_m;
    Runtime__V1__PsiStats psi[BERTH_CGROUPS_N_PSI];
    Runtime__V1__PsiData psid[BERTH_CGROUPS_N_PSI][2];
    Runtime__V1__UInt64Value v[16];
    int nv;
} berth_stats_pb_t;

/* Fills o from cg, read at wall time `at` (ns; each message's timestamp);
 * nano (NULL: none) is the CPU rate UsageNanoCores reports. Memory's
 * available_bytes is the limit less the working set, as the kubelet
 * computes it (none without a limit); swap_available_bytes likewise the
 * swap limit less the swap used. PSI totals go from the kernel's
 * microseconds to the CRI's nanoseconds. */
void berth_stats_pb_fill(berth_stats_pb_t *o, const berth_cgroups_stats_t *cg, int64_t at,
                         const uint64_t *nano);

/* The CPU rate between two readings of a cgroup's CPU counter (ns of CPU
 * per s of wall time): false when there is none (time did not move
 * forward, or the counter went back: a new cgroup). */
bool berth_stats_nano_cores(uint64_t cpu0, int64_t at0, uint64_t cpu1, int64_t at1, uint64_t *out);

#endif
