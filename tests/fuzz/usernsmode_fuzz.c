/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for CRI-O's io.kubernetes.cri-o.userns-mode annotation as
 * berth reads it (actors/podusers.h): the input's first line is the value;
 * the bytes after it give the pod's runAsUser, runAsGroup and supplemental
 * groups (4 bytes each, little-endian, a set top bit meaning absent for the
 * first two). A value that parses with a context that passes gets its
 * maps built around a pool range; then the maps must cover container IDs
 * [0, size) exactly once and pass the kernel's rules (io/userns.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actors/podusers.h"
#include "engine/alloc.h"
#include "engine/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t word(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t vlen = nl ? (size_t)(nl - data) : size;
    BERTH_AUTO_FREE char *value = berth_malloc(vlen + 1);
    memcpy(value, data, vlen);
    value[vlen] = '\0';
    const uint8_t *rest = nl ? nl + 1 : data + size;
    size_t nrest = (size_t)(data + size - rest);

    Runtime__V1__LinuxSandboxSecurityContext sc;
    runtime__v1__linux_sandbox_security_context__init(&sc);
    Runtime__V1__Int64Value ru = RUNTIME__V1__INT64_VALUE__INIT,
                            rg = RUNTIME__V1__INT64_VALUE__INIT;
    int64_t groups[400];
    if (nrest >= 4 && !(rest[3] & 0x80)) {
        ru.value = word(rest);
        sc.run_as_user = &ru;
    }
    if (nrest >= 8 && !(rest[7] & 0x80)) {
        rg.value = word(rest + 4);
        sc.run_as_group = &rg;
    }
    for (size_t off = 8; off + 4 <= nrest && sc.n_supplemental_groups < 400; off += 4)
        groups[sc.n_supplemental_groups++] = word(rest + off);
    sc.supplemental_groups = groups;

    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_userns_auto_t o;
    if (berth_podusers_auto(value, &o, &err) <= 0)
        return 0;
    BERTH_AUTO_FREE berth_idmaps_t *um = berth_malloc(sizeof(*um));
    BERTH_AUTO_FREE berth_idmaps_t *gm = berth_malloc(sizeof(*gm));
    if (berth_podusers_extra(&o, &sc, um, gm, &err) < 0)
        return 0;
    berth_idmaps_t *maps[2] = {um, gm};
    for (int k = 0; k < 2; k++) {
        berth_idmaps_t *m = maps[k];
        uint32_t need = berth_podusers_pool_need(m, o.size);
        if (need > o.size)
            abort();
        /* a pool range no extra host ID falls in, as the manager ensures */
        uint64_t start = 1;
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].host_id >= start)
                start = (uint64_t)m->v[i].host_id + 1;
        if (start + need > UINT32_MAX)
            continue;
        size_t nextra = m->n;
        berth_podusers_fill(m, o.size, (uint32_t)start);
        if (m->n > BERTH_IDMAP_MAX || m->n < nextra)
            abort();
        uint64_t covered = 0;
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].container_id < o.size)
                covered += m->v[i].length;
        if (covered != o.size)
            abort();
        if (berth_idmap_check(k ? "gid" : "uid", m->v, m->n, &err) < 0)
            abort();
    }
    return 0;
}
