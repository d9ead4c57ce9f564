// SPDX-License-Identifier: Apache-2.0
#include "actors/statsfill.h"

#include <string.h>

static Runtime__V1__UInt64Value *u64(berth_stats_pb_t *o, uint64_t x)
{
    Runtime__V1__UInt64Value *v = &o->v[o->nv++];
    runtime__v1__uint64_value__init(v);
    v->value = x;
    return v;
}

static Runtime__V1__PsiStats *psi(berth_stats_pb_t *o, const berth_cgroups_stats_t *cg, int i)
{
    if (!cg->have_psi[i])
        return NULL;
    const berth_cgroups_psi_t *p = &cg->psi[i];
    Runtime__V1__PsiStats *s = &o->psi[i];
    runtime__v1__psi_stats__init(s);
    const berth_cgroups_psi_line_t *lines[2] = {&p->some, p->have_full ? &p->full : NULL};
    for (int k = 0; k < 2; k++) {
        if (lines[k] == NULL)
            continue;
        Runtime__V1__PsiData *d = &o->psid[i][k];
        runtime__v1__psi_data__init(d);
        d->total = lines[k]->total_us * 1000; /* the CRI counts nanoseconds */
        d->avg10 = lines[k]->avg10;
        d->avg60 = lines[k]->avg60;
        d->avg300 = lines[k]->avg300;
        if (k == 0)
            s->some = d;
        else
            s->full = d;
    }
    return s;
}

bool berth_stats_nano_cores(uint64_t cpu0, int64_t at0, uint64_t cpu1, int64_t at1, uint64_t *out)
{
    if (at1 <= at0 || cpu1 < cpu0)
        return false;
    /* 128 bits: a day of 1000 cores is 8.6e16 ns of CPU, times 1e9 */
    unsigned __int128 d = (unsigned __int128)(cpu1 - cpu0) * 1000000000u;
    *out = (uint64_t)(d / (uint64_t)(at1 - at0));
    return true;
}

void berth_stats_pb_fill(berth_stats_pb_t *o, const berth_cgroups_stats_t *cg, int64_t at,
                         const uint64_t *nano)
{
    memset(o, 0, sizeof(*o));
    runtime__v1__cpu_usage__init(&o->cpu_m);
    runtime__v1__memory_usage__init(&o->mem_m);
    runtime__v1__swap_usage__init(&o->swap_m);
    runtime__v1__io_usage__init(&o->io_m);
    runtime__v1__process_usage__init(&o->proc_m);
    o->cpu_m.timestamp = o->mem_m.timestamp = o->swap_m.timestamp = at;
    o->io_m.timestamp = o->proc_m.timestamp = at;
    if (cg->have_cpu) {
        o->cpu_m.usage_core_nano_seconds = u64(o, cg->cpu_ns);
        if (nano)
            o->cpu_m.usage_nano_cores = u64(o, *nano);
        o->cpu_m.psi = psi(o, cg, BERTH_CGROUPS_PSI_CPU);
        o->cpu = &o->cpu_m;
    }
    if (cg->have_mem) {
        Runtime__V1__MemoryUsage *m = &o->mem_m;
        m->working_set_bytes = u64(o, cg->mem_working_set);
        m->usage_bytes = u64(o, cg->mem_usage);
        if (cg->have_rss)
            m->rss_bytes = u64(o, cg->mem_rss);
        if (cg->have_faults) {
            m->page_faults = u64(o, cg->pgfault);
            m->major_page_faults = u64(o, cg->pgmajfault);
        }
        if (cg->have_limit)
            m->available_bytes =
                    u64(o, cg->mem_limit > cg->mem_working_set ? cg->mem_limit - cg->mem_working_set
                                                               : 0);
        m->psi = psi(o, cg, BERTH_CGROUPS_PSI_MEMORY);
        o->memory = m;
    }
    if (cg->have_swap) {
        o->swap_m.swap_usage_bytes = u64(o, cg->swap_usage);
        if (cg->have_swap_limit)
            o->swap_m.swap_available_bytes =
                    u64(o, cg->swap_limit > cg->swap_usage ? cg->swap_limit - cg->swap_usage : 0);
        o->swap = &o->swap_m;
    }
    if (cg->have_psi[BERTH_CGROUPS_PSI_IO]) {
        o->io_m.psi = psi(o, cg, BERTH_CGROUPS_PSI_IO);
        o->io = &o->io_m;
    }
    if (cg->have_pids) {
        o->proc_m.process_count = u64(o, cg->pids);
        o->process = &o->proc_m;
    }
}
