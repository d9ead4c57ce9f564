/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri_update: NRI container updates merged and applied
 * (actors/nri_update.h). The merge is pure; the applier is one actor per
 * batch that sends internal CRI requests to the containers actor and
 * collects their answers (local gRPC calls, io/grpc.h), so nothing here
 * touches a container's state but through its own actor.
 */
#include "actors/nri_update.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/timer.h"
#include "io/grpc.h"

typedef Nri__Pkg__Api__V1alpha1__ContainerUpdate nupdate_t;
typedef Nri__Pkg__Api__V1alpha1__ContainerEviction nevict_t;
typedef Nri__Pkg__Api__V1alpha1__LinuxResources nres_t;

/* ---- merging ------------------------------------------------------------ */

void berth_nri_res_fini(berth_nri_res_t *r)
{
    berth_free(r->cpuset_cpus);
    berth_free(r->cpuset_mems);
    for (size_t i = 0; i < r->nhugepages; i++)
        berth_free(r->hugepage_sizes[i]);
    berth_free(r->hugepage_sizes);
    berth_free(r->hugepage_limits);
    for (size_t i = 0; i < r->nunified; i++) {
        berth_free(r->unified_keys[i]);
        berth_free(r->unified_values[i]);
    }
    berth_free(r->unified_keys);
    berth_free(r->unified_values);
    *r = (berth_nri_res_t){0};
}

static void ctr_update_fini(berth_nri_ctr_update_t *cu)
{
    berth_free(cu->id);
    berth_nri_res_fini(&cu->res);
    for (size_t i = 0; i < cu->nowners; i++) {
        berth_free(cu->owners[i].field);
        berth_free(cu->owners[i].owner);
    }
    berth_free(cu->owners);
}

void berth_nri_updates_fini(berth_nri_updates_t *u)
{
    for (size_t i = 0; i < u->n; i++)
        ctr_update_fini(&u->v[i]);
    berth_free(u->v);
    for (size_t i = 0; i < u->nevict; i++) {
        berth_free(u->evict[i].id);
        berth_free(u->evict[i].reason);
        berth_free(u->evict[i].owner);
    }
    berth_free(u->evict);
    *u = (berth_nri_updates_t){0};
}

bool berth_nri_updates_any(const berth_nri_updates_t *u)
{
    return u->n > 0 || u->nevict > 0;
}

/* Records that plugin sets field of cu: another plugin's earlier claim is
 * a conflict; the same plugin's is overridden by its later word. */
static int claim(berth_nri_ctr_update_t *cu, const char *field, const char *plugin,
                 berth_err_t *err)
{
    for (size_t i = 0; i < cu->nowners; i++) {
        if (strcmp(cu->owners[i].field, field) != 0)
            continue;
        if (strcmp(cu->owners[i].owner, plugin) == 0)
            return 0;
        return berth_err_make(err, EEXIST, BERTH_ERR_INVALID,
                              "NRI plugins %s and %s both update %s of container %s",
                              cu->owners[i].owner, plugin, field, cu->id);
    }
    cu->owners = berth_realloc(cu->owners, (cu->nowners + 1) * sizeof(*cu->owners));
    cu->owners[cu->nowners++] =
            (berth_nri_limit_t){.field = berth_strdup(field), .owner = berth_strdup(plugin)};
    return 0;
}

static void set_str(char **dst, const char *v)
{
    berth_free(*dst);
    *dst = berth_strdup(v);
}

/* The first limit in r that berth does not apply, by name; NULL: none. */
static const char *unsupported(const nres_t *r)
{
    const Nri__Pkg__Api__V1alpha1__LinuxMemory *m = r->memory;
    const Nri__Pkg__Api__V1alpha1__LinuxCPU *c = r->cpu;
    if (m && m->reservation)
        return "memory.reservation";
    if (m && (m->kernel || m->kernel_tcp))
        return "kernel memory";
    if (m && m->swappiness)
        return "memory.swappiness";
    if (m && (m->disable_oom_killer || m->use_hierarchy))
        return "memory OOM killer or hierarchy settings";
    if (c && (c->realtime_runtime || c->realtime_period))
        return "realtime CPU";
    if (r->blockio_class)
        return "the block I/O class";
    if (r->rdt_class)
        return "the RDT class";
    if (r->n_devices)
        return "device rules";
    if (r->pids)
        return "the pids limit";
    return NULL;
}

static berth_nri_ctr_update_t *entry(berth_nri_updates_t *u, const char *id, bool ignore)
{
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->v[i].id, id) == 0) {
            u->v[i].ignore_failure = u->v[i].ignore_failure && ignore;
            return &u->v[i];
        }
    }
    u->v = berth_realloc(u->v, (u->n + 1) * sizeof(*u->v));
    berth_nri_ctr_update_t *cu = &u->v[u->n++];
    *cu = (berth_nri_ctr_update_t){.id = berth_strdup(id), .ignore_failure = ignore};
    return cu;
}

static int add_limits(berth_nri_ctr_update_t *cu, const char *plugin, const nres_t *r,
                      berth_err_t *err)
{
    berth_nri_res_t *res = &cu->res;
    char field[320];
    if (r->memory && r->memory->limit) {
        if (claim(cu, "memory.limit", plugin, err) < 0)
            return -1;
        res->memory_limit = r->memory->limit->value;
    }
    if (r->memory && r->memory->swap) {
        if (claim(cu, "memory.swap", plugin, err) < 0)
            return -1;
        res->memory_swap = r->memory->swap->value;
    }
    const Nri__Pkg__Api__V1alpha1__LinuxCPU *c = r->cpu;
    if (c && c->shares) {
        if (c->shares->value > INT64_MAX)
            return berth_err_make(err, ERANGE, BERTH_ERR_INVALID,
                                  "NRI plugin %s: CPU shares %" PRIu64 " of container %s are out "
                                  "of range",
                                  plugin, c->shares->value, cu->id);
        if (claim(cu, "cpu.shares", plugin, err) < 0)
            return -1;
        res->cpu_shares = (int64_t)c->shares->value;
    }
    if (c && c->quota) {
        if (claim(cu, "cpu.quota", plugin, err) < 0)
            return -1;
        res->cpu_quota = c->quota->value;
    }
    if (c && c->period) {
        if (c->period->value > INT64_MAX)
            return berth_err_make(err, ERANGE, BERTH_ERR_INVALID,
                                  "NRI plugin %s: CPU period of container %s is out of range",
                                  plugin, cu->id);
        if (claim(cu, "cpu.period", plugin, err) < 0)
            return -1;
        res->cpu_period = (int64_t)c->period->value;
    }
    if (c && c->cpus && c->cpus[0]) {
        if (claim(cu, "cpuset.cpus", plugin, err) < 0)
            return -1;
        set_str(&res->cpuset_cpus, c->cpus);
    }
    if (c && c->mems && c->mems[0]) {
        if (claim(cu, "cpuset.mems", plugin, err) < 0)
            return -1;
        set_str(&res->cpuset_mems, c->mems);
    }
    for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        const char *size = r->hugepage_limits[i]->page_size;
        if (size == NULL || size[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: a huge page limit of container %s without a "
                                  "page size",
                                  plugin, cu->id);
        snprintf(field, sizeof(field), "hugepages.%s", size);
        if (claim(cu, field, plugin, err) < 0)
            return -1;
        size_t k = 0;
        while (k < res->nhugepages && strcmp(res->hugepage_sizes[k], size) != 0)
            k++;
        if (k == res->nhugepages) {
            res->hugepage_sizes = berth_realloc(res->hugepage_sizes, (k + 1) * sizeof(char *));
            res->hugepage_limits = berth_realloc(res->hugepage_limits, (k + 1) * sizeof(uint64_t));
            res->hugepage_sizes[k] = berth_strdup(size);
            res->nhugepages++;
        }
        res->hugepage_limits[k] = r->hugepage_limits[i]->limit;
    }
    for (size_t i = 0; i < r->n_unified; i++) {
        const char *key = r->unified[i]->key, *value = r->unified[i]->value;
        if (key == NULL || key[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: a unified entry of container %s without a key",
                                  plugin, cu->id);
        snprintf(field, sizeof(field), "unified.%s", key);
        if (claim(cu, field, plugin, err) < 0)
            return -1;
        size_t k = 0;
        while (k < res->nunified && strcmp(res->unified_keys[k], key) != 0)
            k++;
        if (k == res->nunified) {
            res->unified_keys = berth_realloc(res->unified_keys, (k + 1) * sizeof(char *));
            res->unified_values = berth_realloc(res->unified_values, (k + 1) * sizeof(char *));
            res->unified_keys[k] = berth_strdup(key);
            res->unified_values[k] = NULL;
            res->nunified++;
        }
        set_str(&res->unified_values[k], value ? value : "");
    }
    return 0;
}

int berth_nri_updates_add(berth_nri_updates_t *u, const char *plugin, nupdate_t *const *up,
                          size_t n, nevict_t *const *ev, size_t nev, berth_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const nupdate_t *x = up[i];
        if (x->container_id == NULL || x->container_id[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: a container update without a container id",
                                  plugin);
        const nres_t *r = x->linux ? x->linux->resources : NULL;
        if (r == NULL)
            continue; /* nothing to change */
        const char *no = unsupported(r);
        if (no && !x->ignore_failure)
            return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                                  "NRI plugin %s updates %s of container %s, which berth does "
                                  "not apply",
                                  plugin, no, x->container_id);
        if (no)
            berth_log_warn("NRI update left out: berth does not apply it (ignore_failure)",
                           "plugin=%s id=%s what=\"%s\"", plugin, x->container_id, no);
        berth_nri_ctr_update_t *cu = entry(u, x->container_id, x->ignore_failure);
        if (add_limits(cu, plugin, r, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < nev; i++) {
        const char *id = ev[i]->container_id;
        if (id == NULL || id[0] == '\0')
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "NRI plugin %s: an eviction without a container id", plugin);
        bool dup = false;
        for (size_t k = 0; k < u->nevict && !dup; k++)
            dup = strcmp(u->evict[k].id, id) == 0;
        if (dup)
            continue;
        u->evict = berth_realloc(u->evict, (u->nevict + 1) * sizeof(*u->evict));
        u->evict[u->nevict++] = (berth_nri_eviction_t){
                .id = berth_strdup(id),
                .reason = berth_strdup(ev[i]->reason && ev[i]->reason[0] ? ev[i]->reason
                                                                         : "(no reason given)"),
                .owner = berth_strdup(plugin)};
    }
    return 0;
}

int berth_nri_updates_add_packed(berth_nri_updates_t *u, const char *plugin, int event,
                                 const uint8_t *p, size_t len, berth_err_t *err)
{
    ProtobufCAllocator *a = berth_alloc_protobuf_allocator();
    const ProtobufCMessageDescriptor *d;
    const char *what;
    switch (event) {
    case 0:
        d = &nri__pkg__api__v1alpha1__update_containers_request__descriptor;
        what = "UpdateContainersRequest";
        break;
    case BERTH_NRI_CREATE_CONTAINER:
        d = &nri__pkg__api__v1alpha1__create_container_response__descriptor;
        what = "CreateContainerResponse";
        break;
    case BERTH_NRI_UPDATE_CONTAINER:
        d = &nri__pkg__api__v1alpha1__update_container_response__descriptor;
        what = "UpdateContainerResponse";
        break;
    case BERTH_NRI_STOP_CONTAINER:
        d = &nri__pkg__api__v1alpha1__stop_container_response__descriptor;
        what = "StopContainerResponse";
        break;
    default:
        return 0;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, a, len, p);
    if (m == NULL)
        return berth_err_make(err, EPROTO, BERTH_ERR_INVALID, "NRI plugin %s: malformed %s", plugin,
                              what);
    int ret;
    switch (event) {
    case 0: {
        Nri__Pkg__Api__V1alpha1__UpdateContainersRequest *r = (void *)m;
        ret = berth_nri_updates_add(u, plugin, r->update, r->n_update, r->evict, r->n_evict, err);
        break;
    }
    case BERTH_NRI_CREATE_CONTAINER: {
        Nri__Pkg__Api__V1alpha1__CreateContainerResponse *r = (void *)m;
        ret = berth_nri_updates_add(u, plugin, r->update, r->n_update, r->evict, r->n_evict, err);
        break;
    }
    case BERTH_NRI_UPDATE_CONTAINER: {
        Nri__Pkg__Api__V1alpha1__UpdateContainerResponse *r = (void *)m;
        ret = berth_nri_updates_add(u, plugin, r->update, r->n_update, r->evict, r->n_evict, err);
        break;
    }
    default: {
        Nri__Pkg__Api__V1alpha1__StopContainerResponse *r = (void *)m;
        ret = berth_nri_updates_add(u, plugin, r->update, r->n_update, NULL, 0, err);
        break;
    }
    }
    protobuf_c_message_free_unpacked(m, a);
    return ret;
}

bool berth_nri_updates_take(berth_nri_updates_t *u, const char *id, berth_nri_res_t *out)
{
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->v[i].id, id) != 0)
            continue;
        *out = u->v[i].res;
        u->v[i].res = (berth_nri_res_t){0};
        ctr_update_fini(&u->v[i]);
        memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
        u->n--;
        return true;
    }
    return false;
}

/* ---- conversions -------------------------------------------------------- */

Runtime__V1__UpdateContainerResourcesRequest *
berth_nri_res_overlay(const Runtime__V1__UpdateContainerResourcesRequest *req,
                      const berth_nri_res_t *res)
{
    Runtime__V1__LinuxContainerResources lx = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    if (req->linux)
        lx = *req->linux;
    if (res->cpu_shares)
        lx.cpu_shares = res->cpu_shares;
    if (res->cpu_quota)
        lx.cpu_quota = res->cpu_quota;
    if (res->cpu_period)
        lx.cpu_period = res->cpu_period;
    if (res->memory_limit)
        lx.memory_limit_in_bytes = res->memory_limit;
    if (res->memory_swap)
        lx.memory_swap_limit_in_bytes = res->memory_swap;
    if (res->cpuset_cpus)
        lx.cpuset_cpus = res->cpuset_cpus;
    if (res->cpuset_mems)
        lx.cpuset_mems = res->cpuset_mems;
    /* huge pages and unified entries: the request's, each replaced by the
     * plugins' of the same page size or key, then the plugins' new ones */
    size_t nh = lx.n_hugepage_limits + res->nhugepages, nu = lx.n_unified + res->nunified;
    BERTH_AUTO_FREE Runtime__V1__HugepageLimit *hl = berth_calloc(nh + 1, sizeof(*hl));
    BERTH_AUTO_FREE Runtime__V1__HugepageLimit **hp = berth_calloc(nh + 1, sizeof(*hp));
    BERTH_AUTO_FREE Runtime__V1__LinuxContainerResources__UnifiedEntry *ue =
            berth_calloc(nu + 1, sizeof(*ue));
    BERTH_AUTO_FREE Runtime__V1__LinuxContainerResources__UnifiedEntry **up =
            berth_calloc(nu + 1, sizeof(*up));
    size_t k = 0;
    for (size_t i = 0; i < lx.n_hugepage_limits; i++)
        hp[k++] = lx.hugepage_limits[i];
    for (size_t i = 0; i < res->nhugepages; i++) {
        runtime__v1__hugepage_limit__init(&hl[i]);
        hl[i].page_size = res->hugepage_sizes[i];
        hl[i].limit = res->hugepage_limits[i];
        size_t j = 0;
        while (j < k && strcmp(hp[j]->page_size, hl[i].page_size) != 0)
            j++;
        hp[j] = &hl[i];
        if (j == k)
            k++;
    }
    lx.hugepage_limits = hp;
    lx.n_hugepage_limits = k;
    k = 0;
    for (size_t i = 0; i < lx.n_unified; i++)
        up[k++] = lx.unified[i];
    for (size_t i = 0; i < res->nunified; i++) {
        runtime__v1__linux_container_resources__unified_entry__init(&ue[i]);
        ue[i].key = res->unified_keys[i];
        ue[i].value = res->unified_values[i];
        size_t j = 0;
        while (j < k && strcmp(up[j]->key, ue[i].key) != 0)
            j++;
        up[j] = &ue[i];
        if (j == k)
            k++;
    }
    lx.unified = up;
    lx.n_unified = k;
    Runtime__V1__UpdateContainerResourcesRequest r = *req;
    r.linux = &lx;
    return (Runtime__V1__UpdateContainerResourcesRequest *)berth_cri_copy(&r.base);
}

static void put_varint(uint8_t **buf, size_t *len, uint64_t v)
{
    while (v >= 0x80) {
        (*buf)[(*len)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    (*buf)[(*len)++] = (uint8_t)v;
}

void berth_nri_res_append_cri(uint8_t **buf, size_t *len, uint32_t field,
                              const Runtime__V1__LinuxContainerResources *in)
{
    nres_t r = NRI__PKG__API__V1ALPHA1__LINUX_RESOURCES__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxMemory mem = NRI__PKG__API__V1ALPHA1__LINUX_MEMORY__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxCPU cpu = NRI__PKG__API__V1ALPHA1__LINUX_CPU__INIT;
    Nri__Pkg__Api__V1alpha1__OptionalInt64 limit = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT64__INIT,
                                           swap = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT64__INIT,
                                           quota = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT64__INIT;
    Nri__Pkg__Api__V1alpha1__OptionalUInt64 shares = NRI__PKG__API__V1ALPHA1__OPTIONAL_UINT64__INIT,
                                            period = NRI__PKG__API__V1ALPHA1__OPTIONAL_UINT64__INIT;
    if (in->memory_limit_in_bytes) {
        limit.value = in->memory_limit_in_bytes;
        mem.limit = &limit;
    }
    if (in->memory_swap_limit_in_bytes) {
        swap.value = in->memory_swap_limit_in_bytes;
        mem.swap = &swap;
    }
    if (in->cpu_shares > 0) {
        shares.value = (uint64_t)in->cpu_shares;
        cpu.shares = &shares;
    }
    if (in->cpu_quota) {
        quota.value = in->cpu_quota;
        cpu.quota = &quota;
    }
    if (in->cpu_period > 0) {
        period.value = (uint64_t)in->cpu_period;
        cpu.period = &period;
    }
    if (in->cpuset_cpus)
        cpu.cpus = in->cpuset_cpus;
    if (in->cpuset_mems)
        cpu.mems = in->cpuset_mems;
    r.memory = &mem;
    r.cpu = &cpu;
    size_t nh = in->n_hugepage_limits, nu = in->n_unified;
    BERTH_AUTO_FREE Nri__Pkg__Api__V1alpha1__HugepageLimit *hl = berth_calloc(nh + 1, sizeof(*hl));
    BERTH_AUTO_FREE Nri__Pkg__Api__V1alpha1__HugepageLimit **hp = berth_calloc(nh + 1, sizeof(*hp));
    BERTH_AUTO_FREE Nri__Pkg__Api__V1alpha1__LinuxResources__UnifiedEntry *ue =
            berth_calloc(nu + 1, sizeof(*ue));
    BERTH_AUTO_FREE Nri__Pkg__Api__V1alpha1__LinuxResources__UnifiedEntry **up =
            berth_calloc(nu + 1, sizeof(*up));
    for (size_t i = 0; i < nh; i++) {
        nri__pkg__api__v1alpha1__hugepage_limit__init(&hl[i]);
        hl[i].page_size = in->hugepage_limits[i]->page_size;
        hl[i].limit = in->hugepage_limits[i]->limit;
        hp[i] = &hl[i];
    }
    for (size_t i = 0; i < nu; i++) {
        nri__pkg__api__v1alpha1__linux_resources__unified_entry__init(&ue[i]);
        ue[i].key = in->unified[i]->key;
        ue[i].value = in->unified[i]->value;
        up[i] = &ue[i];
    }
    r.hugepage_limits = hp;
    r.n_hugepage_limits = nh;
    r.unified = up;
    r.n_unified = nu;
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    *buf = berth_realloc(*buf, *len + n + 16);
    put_varint(buf, len, (uint64_t)field << 3 | 2);
    put_varint(buf, len, n);
    protobuf_c_message_pack(&r.base, *buf + *len);
    *len += n;
}

/* ---- applying ----------------------------------------------------------- */

/* The containers actor: stored once by the daemon before NRI starts (and
 * so before any hook), read by the appliers; release/acquire so a reader
 * that sees the handle sees a started actor. */
static uint64_t containers_actor;

void berth_nri_update_setup(berth_handle_t containers)
{
    __atomic_store_n(&containers_actor, containers.v, __ATOMIC_RELEASE);
}

typedef struct applier {
    berth_nri_updates_t u;
    berth_handle_t me, reply_to;
    uint32_t reply_type;
    uint64_t tag;
    size_t pending, total;
    int *state; /* per item (updates, then evictions): 0 waiting, 1 done, -1 failed */
    char **why; /* per failed item */
    berth_timer_t *timer;
    bool done;
} applier_t;

static const char *item_id(const applier_t *a, size_t i)
{
    return i < a->u.n ? a->u.v[i].id : a->u.evict[i - a->u.n].id;
}

/* Who asked for item i: for an update, the plugins that set its limits. */
static const char *item_owner(const applier_t *a, size_t i)
{
    if (i >= a->u.n)
        return a->u.evict[i - a->u.n].owner;
    return a->u.v[i].nowners ? a->u.v[i].owners[0].owner : "(unknown)";
}

static void item_failed(applier_t *a, size_t i, const char *why)
{
    if (a->state[i] != 0)
        return;
    a->state[i] = -1;
    a->why[i] = berth_strdup(why);
    a->pending--;
    berth_log_warn(i < a->u.n ? "NRI container update failed" : "NRI eviction failed",
                   "plugin=%s id=%s error=\"%s\"", item_owner(a, i), item_id(a, i), why);
}

static void finish(berth_actor_t *self, applier_t *a)
{
    if (a->done)
        return;
    a->done = true;
    if (a->timer) {
        berth_timer_cancel(self, a->timer);
        a->timer = NULL;
    }
    berth_nri_applied_msg_t *r = berth_msg_new(a->reply_type, sizeof(*r));
    r->hdr.free = berth_nrisrv_updated_free;
    r->tag = a->tag;
    /* NRI answers only the failures a plugin did not say to ignore */
    Nri__Pkg__Api__V1alpha1__UpdateContainersResponse resp =
            NRI__PKG__API__V1ALPHA1__UPDATE_CONTAINERS_RESPONSE__INIT;
    BERTH_AUTO_FREE nupdate_t *fu = berth_calloc(a->u.n + 1, sizeof(*fu));
    BERTH_AUTO_FREE nupdate_t **fp = berth_calloc(a->u.n + 1, sizeof(*fp));
    for (size_t i = 0; i < a->total; i++) {
        if (a->state[i] >= 0)
            continue;
        bool ignored = i < a->u.n && a->u.v[i].ignore_failure;
        if (!ignored && r->error == NULL)
            berth_err_make(&r->error, EIO, BERTH_ERR_UNKNOWN,
                           "NRI plugin %s: %s of container %s: %s", item_owner(a, i),
                           i < a->u.n ? "update" : "eviction", item_id(a, i), a->why[i]);
        if (i < a->u.n && !ignored) {
            nri__pkg__api__v1alpha1__container_update__init(&fu[resp.n_failed]);
            fu[resp.n_failed].container_id = a->u.v[i].id;
            fp[resp.n_failed] = &fu[resp.n_failed];
            resp.n_failed++;
        }
    }
    resp.failed = fp;
    r->nfailed = resp.n_failed;
    r->failed_len = protobuf_c_message_get_packed_size(&resp.base);
    r->failed = berth_malloc(r->failed_len ? r->failed_len : 1);
    protobuf_c_message_pack(&resp.base, r->failed);
    if (berth_handle_valid(a->reply_to))
        berth_send(a->reply_to, &r->hdr);
    else
        berth_msg_free(&r->hdr);
    berth_actor_exit(self);
}

static void send_item(applier_t *a, berth_handle_t ctrs, size_t i)
{
    berth_cri_req_msg_t *rm;
    if (i < a->u.n) {
        Runtime__V1__UpdateContainerResourcesRequest base =
                RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
        base.container_id = a->u.v[i].id;
        Runtime__V1__UpdateContainerResourcesRequest *req =
                berth_nri_res_overlay(&base, &a->u.v[i].res);
        rm = berth_cri_req_new("/runtime.v1.RuntimeService/UpdateContainerResources", &req->base);
        berth_cri_free(&req->base);
    } else {
        const berth_nri_eviction_t *e = &a->u.evict[i - a->u.n];
        berth_log_info("NRI plugin evicts a container", "plugin=%s id=%s reason=\"%s\"", e->owner,
                       e->id, e->reason);
        Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
        req.container_id = e->id;
        req.timeout = BERTH_NRI_EVICT_GRACE_S;
        rm = berth_cri_req_new("/runtime.v1.RuntimeService/StopContainer", &req.base);
    }
    if (rm == NULL || rm->req == NULL) {
        if (rm)
            berth_msg_free(&rm->hdr);
        item_failed(a, i, "cannot build the request");
        return;
    }
    rm->call = berth_grpc_call_local(a->me, (int32_t)i, BERTH_NRI_CALL_METHOD);
    berth_send(ctrs, &rm->hdr); /* a gone containers actor: the timeout fails it */
}

static void applier_receive(berth_actor_t *self, berth_msg_t *msg)
{
    applier_t *a = berth_actor_state(self);
    int32_t tag;
    int code;
    const char *text;
    if (a->done) {
        /* late answers after the timeout */
    } else if (msg->type == BERTH_MSG_NRI_APPLY_GO) {
        a->me = berth_actor_self(self);
        berth_handle_t ctrs = {__atomic_load_n(&containers_actor, __ATOMIC_ACQUIRE)};
        for (size_t i = 0; i < a->total; i++) {
            if (!berth_handle_valid(ctrs))
                item_failed(a, i, "berth's containers are not running");
            else
                send_item(a, ctrs, i);
        }
        if (a->pending > 0)
            a->timer =
                    berth_timer_after(self, BERTH_NRI_APPLY_TIMEOUT_NS,
                                      berth_msg_new(BERTH_MSG_NRI_APPLY_TIME, sizeof(berth_msg_t)));
    } else if (msg->type == BERTH_MSG_NRI_APPLY_TIME) {
        a->timer = NULL;
        for (size_t i = 0; i < a->total; i++)
            item_failed(a, i, "not applied within 30 s");
    } else if (berth_grpc_out_final(msg, &tag, &code, &text)) {
        size_t i = (size_t)tag;
        if (i < a->total && a->state[i] == 0) {
            if (code == BERTH_GRPC_OK) {
                a->state[i] = 1;
                a->pending--;
            } else {
                item_failed(a, i, text[0] ? text : berth_grpc_code_name(code));
            }
        }
    }
    berth_msg_free(msg);
    if (!a->done && a->pending == 0)
        finish(self, a);
}

static void applier_fini(void *state)
{
    applier_t *a = state;
    for (size_t i = 0; i < a->total; i++)
        berth_free(a->why[i]);
    berth_free(a->why);
    berth_free(a->state);
    berth_nri_updates_fini(&a->u);
    berth_free(a);
}

static const berth_actor_class_t applier_class = {
        .name = "nri-apply", .receive = applier_receive, .fini = applier_fini};

void berth_nri_updates_apply(berth_nri_updates_t *u, berth_handle_t reply_to, uint32_t reply_type,
                             uint64_t tag)
{
    applier_t *a = berth_calloc(1, sizeof(*a));
    a->u = *u;
    *u = (berth_nri_updates_t){0};
    a->reply_to = reply_to;
    a->reply_type = reply_type;
    a->tag = tag;
    a->total = a->pending = a->u.n + a->u.nevict;
    a->state = berth_calloc(a->total + 1, sizeof(*a->state));
    a->why = berth_calloc(a->total + 1, sizeof(*a->why));
    berth_handle_t h = berth_actor_spawn(&applier_class, a);
    berth_send(h, berth_msg_new(BERTH_MSG_NRI_APPLY_GO, sizeof(berth_msg_t)));
}

void berth_nri_plugin_updates(const char *plugin, const uint8_t *req, size_t len,
                              berth_handle_t reply_to, uint32_t reply_type, uint64_t tag)
{
    berth_nri_updates_t u = {0};
    berth_err_t err = NULL;
    if (berth_nri_updates_add_packed(&u, plugin, 0, req, len, &err) < 0) {
        berth_nri_updates_fini(&u);
        berth_nri_applied_msg_t *r = berth_msg_new(reply_type, sizeof(*r));
        r->hdr.free = berth_nrisrv_updated_free;
        r->tag = tag;
        r->error = err;
        berth_send(reply_to, &r->hdr);
        return;
    }
    berth_log_info("NRI plugin updates containers", "plugin=%s updates=%zu evictions=%zu", plugin,
                   u.n, u.nevict);
    berth_nri_updates_apply(&u, reply_to, reply_type, tag);
}
