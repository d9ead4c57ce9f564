// SPDX-License-Identifier: Apache-2.0
/*
 * actors/statsfill: the CRI usage messages of one cgroup's figures: each
 * message only with its figures, available bytes from the limit, swap
 * available from the swap limit, PSI in nanoseconds, the CPU rate from two
 * readings.
 */
#include <string.h>

#include "actors/statsfill.h"
#include "tests/unit/check.h"

int main(void)
{
    berth_stats_pb_t o;
    berth_cgroups_stats_t none = {0};
    berth_stats_pb_fill(&o, &none, 42, NULL);
    ok(!o.cpu && !o.memory && !o.swap && !o.io && !o.process,
       "no figures: no message (the storage still carries the timestamp)");
    ok(o.cpu_m.timestamp == 42 && o.mem_m.timestamp == 42,
       "timestamps set for callers that show them");

    berth_cgroups_stats_t cg = {
            .have_cpu = true,
            .cpu_ns = 5000,
            .have_mem = true,
            .mem_usage = 1000,
            .mem_working_set = 600,
            .have_rss = true,
            .mem_rss = 300,
            .have_faults = true,
            .pgfault = 9,
            .pgmajfault = 1,
            .have_limit = true,
            .mem_limit = 4096,
            .have_swap = true,
            .swap_usage = 100,
            .have_swap_limit = true,
            .swap_limit = 1000,
            .have_pids = true,
            .pids = 3,
    };
    cg.have_psi[BERTH_CGROUPS_PSI_CPU] = true;
    cg.psi[BERTH_CGROUPS_PSI_CPU].some = (berth_cgroups_psi_line_t){7, 1.5, 0.5, 0.25};
    cg.have_psi[BERTH_CGROUPS_PSI_IO] = true;
    cg.psi[BERTH_CGROUPS_PSI_IO].have_full = true;
    cg.psi[BERTH_CGROUPS_PSI_IO].some = (berth_cgroups_psi_line_t){20, 0, 0, 0};
    cg.psi[BERTH_CGROUPS_PSI_IO].full = (berth_cgroups_psi_line_t){10, 2.0, 1.0, 0.5};
    uint64_t nano = 250000000;
    berth_stats_pb_fill(&o, &cg, 77, &nano);
    check(o.cpu && o.cpu->usage_core_nano_seconds->value == 5000 &&
                  o.cpu->usage_nano_cores->value == 250000000 && o.cpu->timestamp == 77,
          "CPU: total and rate");
    check(o.cpu->psi && o.cpu->psi->some && o.cpu->psi->some->total == 7000 &&
                  o.cpu->psi->some->avg10 == 1.5 && o.cpu->psi->full == NULL,
          "CPU pressure: some in nanoseconds, no full line, no full");
    check(o.memory && o.memory->working_set_bytes->value == 600 &&
                  o.memory->usage_bytes->value == 1000 && o.memory->rss_bytes->value == 300 &&
                  o.memory->page_faults->value == 9 && o.memory->major_page_faults->value == 1 &&
                  o.memory->available_bytes->value == 4096 - 600 && o.memory->psi == NULL,
          "memory: working set, usage, rss, faults, available = limit - working set, no PSI");
    check(o.swap && o.swap->swap_usage_bytes->value == 100 &&
                  o.swap->swap_available_bytes->value == 900,
          "swap: used and available = limit - used");
    check(o.io && o.io->psi && o.io->psi->full && o.io->psi->full->total == 10000 &&
                  o.io->psi->full->avg60 == 1.0 && o.io->psi->some->total == 20000,
          "io: pressure some and full");
    check(o.process && o.process->process_count->value == 3, "process count");

    cg.have_limit = false;
    cg.have_swap_limit = false;
    cg.mem_working_set = 5000;
    berth_stats_pb_fill(&o, &cg, 78, NULL);
    ok(o.memory->available_bytes == NULL && o.swap->swap_available_bytes == NULL &&
               o.cpu->usage_nano_cores == NULL,
       "no limit, no swap limit, no rate: those fields absent");
    cg.have_limit = true;
    berth_stats_pb_fill(&o, &cg, 79, NULL);
    ok(o.memory->available_bytes->value == 0, "a working set above the limit: 0 available");

    uint64_t r = 0;
    ok(berth_stats_nano_cores(1000000000, 1000000000, 1500000000, 2000000000, &r) && r == 500000000,
       "half a second of CPU in a second: half a core");
    ok(!berth_stats_nano_cores(10, 5, 9, 6, &r), "a counter that went back: no rate");
    ok(!berth_stats_nano_cores(10, 5, 20, 5, &r), "no time between: no rate");
    ok(berth_stats_nano_cores(0, 0, 86400ull * 1000 * 1000000000ull, 86400ll * 1000000000ll, &r) &&
               r == 1000ull * 1000000000ull,
       "a day of a thousand cores does not overflow");
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
