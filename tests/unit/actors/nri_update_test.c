/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri_update: two plugins' updates of one container merged (CPU from
 * one, memory from the other), a limit both set refused naming both, a
 * limit berth does not apply refused unless ignore_failure, evictions kept
 * once, the packed answers of each hook read, the container's own update
 * taken out and laid over a CRI request, and CRI limits appended to a
 * request as NRI's LinuxResources. Pure functions, no engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/nri_update.h"
#include "engine/alloc.h"
#include "nri.pb-c.h"
#include "tests/unit/check.h"

typedef Nri__Pkg__Api__V1alpha1__ContainerUpdate nupdate_t;

/* One update of container id: shares (0: none), a memory limit (0: none),
 * a unified key (NULL: none), a pids limit (an unsupported one). */
typedef struct upd {
    nupdate_t u;
    Nri__Pkg__Api__V1alpha1__LinuxContainerUpdate lu;
    Nri__Pkg__Api__V1alpha1__LinuxResources r;
    Nri__Pkg__Api__V1alpha1__LinuxCPU cpu;
    Nri__Pkg__Api__V1alpha1__LinuxMemory mem;
    Nri__Pkg__Api__V1alpha1__OptionalUInt64 shares;
    Nri__Pkg__Api__V1alpha1__OptionalInt64 limit;
    Nri__Pkg__Api__V1alpha1__LinuxPids pids;
    Nri__Pkg__Api__V1alpha1__LinuxResources__UnifiedEntry ue, *uep;
} upd_t;

static nupdate_t *mk(upd_t *x, const char *id, uint64_t shares, int64_t limit, const char *ukey,
                     bool pids, bool ignore)
{
    nri__pkg__api__v1alpha1__container_update__init(&x->u);
    nri__pkg__api__v1alpha1__linux_container_update__init(&x->lu);
    nri__pkg__api__v1alpha1__linux_resources__init(&x->r);
    nri__pkg__api__v1alpha1__linux_cpu__init(&x->cpu);
    nri__pkg__api__v1alpha1__linux_memory__init(&x->mem);
    nri__pkg__api__v1alpha1__optional_uint64__init(&x->shares);
    nri__pkg__api__v1alpha1__optional_int64__init(&x->limit);
    nri__pkg__api__v1alpha1__linux_pids__init(&x->pids);
    nri__pkg__api__v1alpha1__linux_resources__unified_entry__init(&x->ue);
    x->u.container_id = (char *)id;
    x->u.ignore_failure = ignore;
    x->u.linux = &x->lu;
    x->lu.resources = &x->r;
    if (shares) {
        x->shares.value = shares;
        x->cpu.shares = &x->shares;
        x->r.cpu = &x->cpu;
    }
    if (limit) {
        x->limit.value = limit;
        x->mem.limit = &x->limit;
        x->r.memory = &x->mem;
    }
    if (ukey) {
        x->ue.key = (char *)ukey;
        x->ue.value = (char *)"max";
        x->uep = &x->ue;
        x->r.unified = &x->uep;
        x->r.n_unified = 1;
    }
    if (pids)
        x->r.pids = &x->pids;
    return &x->u;
}

static void test_merge(void)
{
    berth_nri_updates_t u = {0};
    berth_err_t err = NULL;
    upd_t a, b;
    nupdate_t *pa[] = {mk(&a, "c1", 512, 0, "memory.high", false, false)};
    nupdate_t *pb[] = {mk(&b, "c1", 0, 1 << 30, NULL, false, true)};
    ok(berth_nri_updates_add(&u, "10-cpu", pa, 1, NULL, 0, &err) == 0, "first plugin's update");
    ok(berth_nri_updates_add(&u, "20-mem", pb, 1, NULL, 0, &err) == 0,
       "second plugin's update of other limits of the same container");
    ok(u.n == 1 && u.v[0].res.cpu_shares == 512 && u.v[0].res.memory_limit == (1 << 30) &&
               u.v[0].res.nunified == 1 && strcmp(u.v[0].res.unified_keys[0], "memory.high") == 0,
       "merged into one update: shares, memory limit, unified");
    ok(!u.v[0].ignore_failure, "ignore_failure only when every plugin says so");

    upd_t c;
    nupdate_t *pc[] = {mk(&c, "c1", 1024, 0, NULL, false, false)};
    ok(berth_nri_updates_add(&u, "30-other", pc, 1, NULL, 0, &err) < 0 && err &&
               strstr(err->msg, "10-cpu") && strstr(err->msg, "30-other") &&
               strstr(err->msg, "cpu.shares") && err->kind == BERTH_ERR_INVALID,
       "two plugins setting the same limit conflict, naming both");
    berth_err_free(&err);
    berth_nri_updates_fini(&u);

    /* the same plugin twice: its later word wins */
    nupdate_t *pa2[] = {mk(&a, "c1", 512, 0, NULL, false, false),
                        mk(&b, "c1", 2048, 0, NULL, false, false)};
    ok(berth_nri_updates_add(&u, "10-cpu", pa2, 2, NULL, 0, &err) == 0 && u.n == 1 &&
               u.v[0].res.cpu_shares == 2048,
       "one plugin updating a limit twice: the last value");
    berth_nri_updates_fini(&u);
}

static void test_unsupported(void)
{
    berth_nri_updates_t u = {0};
    berth_err_t err = NULL;
    upd_t a;
    nupdate_t *pa[] = {mk(&a, "c2", 256, 0, NULL, true, false)};
    ok(berth_nri_updates_add(&u, "10-p", pa, 1, NULL, 0, &err) < 0 && err &&
               err->kind == BERTH_ERR_UNSUPPORTED && strstr(err->msg, "pids") &&
               strstr(err->msg, "10-p"),
       "a pids limit is refused naming the plugin");
    berth_err_free(&err);
    berth_nri_updates_fini(&u);
    pa[0] = mk(&a, "c2", 256, 0, NULL, true, true);
    ok(berth_nri_updates_add(&u, "10-p", pa, 1, NULL, 0, &err) == 0 && u.n == 1 &&
               u.v[0].res.cpu_shares == 256 && u.v[0].ignore_failure,
       "ignore_failure: the pids limit left out, the shares kept");
    berth_nri_updates_fini(&u);
    upd_t b;
    pa[0] = mk(&b, "", 256, 0, NULL, false, false);
    ok(berth_nri_updates_add(&u, "10-p", pa, 1, NULL, 0, &err) < 0 && err,
       "an update without a container id is refused");
    berth_err_free(&err);
    berth_nri_updates_fini(&u);
}

static void test_packed(void)
{
    /* an UpdateContainersRequest with an update and two evictions of one
     * container */
    upd_t a;
    nupdate_t *pa[] = {mk(&a, "c3", 300, 0, NULL, false, false)};
    Nri__Pkg__Api__V1alpha1__ContainerEviction
            e = NRI__PKG__API__V1ALPHA1__CONTAINER_EVICTION__INIT,
            *pe[] = {&e, &e};
    e.container_id = (char *)"c4";
    e.reason = (char *)"too hungry";
    Nri__Pkg__Api__V1alpha1__UpdateContainersRequest req =
            NRI__PKG__API__V1ALPHA1__UPDATE_CONTAINERS_REQUEST__INIT;
    req.update = pa;
    req.n_update = 1;
    req.evict = pe;
    req.n_evict = 2;
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = berth_malloc(len);
    protobuf_c_message_pack(&req.base, buf);
    berth_nri_updates_t u = {0};
    berth_err_t err = NULL;
    ok(berth_nri_updates_add_packed(&u, "10-p", 0, buf, len, &err) == 0 && u.n == 1 &&
               u.nevict == 1 && strcmp(u.evict[0].reason, "too hungry") == 0 &&
               strcmp(u.evict[0].owner, "10-p") == 0,
       "UpdateContainersRequest: one update, the eviction kept once");
    berth_free(buf);

    /* the same update in an UpdateContainerResponse, a CreateContainer and
     * a StopContainer answer */
    Nri__Pkg__Api__V1alpha1__UpdateContainerResponse ur =
            NRI__PKG__API__V1ALPHA1__UPDATE_CONTAINER_RESPONSE__INIT;
    upd_t b;
    nupdate_t *pb[] = {mk(&b, "c5", 0, 4096 * 1024, NULL, false, false)};
    ur.update = pb;
    ur.n_update = 1;
    len = protobuf_c_message_get_packed_size(&ur.base);
    buf = berth_malloc(len);
    protobuf_c_message_pack(&ur.base, buf);
    ok(berth_nri_updates_add_packed(&u, "20-q", BERTH_NRI_UPDATE_CONTAINER, buf, len, &err) == 0 &&
               u.n == 2,
       "UpdateContainerResponse read");
    ok(berth_nri_updates_add_packed(&u, "30-r", BERTH_NRI_STOP_CONTAINER, buf, len, &err) < 0 &&
               err && strstr(err->msg, "20-q") && strstr(err->msg, "30-r"),
       "the same limit again from StopContainerResponse: a conflict");
    berth_err_free(&err);
    ok(berth_nri_updates_add_packed(&u, "30-r", BERTH_NRI_START_CONTAINER, buf, len, &err) == 0,
       "an event without updates adds nothing");
    uint8_t junk[] = {0x0a, 0x7f, 0x01};
    ok(berth_nri_updates_add_packed(&u, "40-s", BERTH_NRI_CREATE_CONTAINER, junk, sizeof(junk),
                                    &err) < 0 &&
               err && strstr(err->msg, "malformed CreateContainerResponse"),
       "a malformed answer is refused");
    berth_err_free(&err);
    berth_free(buf);

    berth_nri_res_t own;
    ok(berth_nri_updates_take(&u, "c3", &own) && own.cpu_shares == 300 && u.n == 1 &&
               strcmp(u.v[0].id, "c5") == 0,
       "the container's own update taken out");
    ok(!berth_nri_updates_take(&u, "c3", &own), "taken once");
    Runtime__V1__LinuxContainerResources lx = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    lx.cpu_shares = 2;
    lx.memory_limit_in_bytes = 1 << 20;
    Runtime__V1__UpdateContainerResourcesRequest cr =
            RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
    cr.container_id = (char *)"c3";
    cr.linux = &lx;
    Runtime__V1__UpdateContainerResourcesRequest *n = berth_nri_res_overlay(&cr, &own);
    ok(n && strcmp(n->container_id, "c3") == 0 && n->linux->cpu_shares == 300 &&
               n->linux->memory_limit_in_bytes == (1 << 20),
       "overlay: the plugin's shares replace the request's, the memory limit stays");
    protobuf_c_message_free_unpacked(&n->base, berth_alloc_protobuf_allocator());
    berth_nri_res_fini(&own);
    berth_nri_updates_fini(&u);
}

static void test_append(void)
{
    /* a packed container (field 2) then the limits (field 3): an
     * UpdateContainerRequest */
    Nri__Pkg__Api__V1alpha1__Container c = NRI__PKG__API__V1ALPHA1__CONTAINER__INIT;
    c.id = (char *)"c6";
    Nri__Pkg__Api__V1alpha1__CreateContainerRequest cr =
            NRI__PKG__API__V1ALPHA1__CREATE_CONTAINER_REQUEST__INIT;
    cr.container = &c;
    size_t len = protobuf_c_message_get_packed_size(&cr.base);
    uint8_t *buf = berth_malloc(len);
    protobuf_c_message_pack(&cr.base, buf);
    Runtime__V1__LinuxContainerResources lx = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    lx.cpu_shares = 700;
    lx.cpu_quota = 50000;
    lx.memory_limit_in_bytes = 64 << 20;
    lx.cpuset_cpus = (char *)"0";
    berth_nri_res_append_cri(&buf, &len, 3, &lx);
    Nri__Pkg__Api__V1alpha1__UpdateContainerRequest *r =
            nri__pkg__api__v1alpha1__update_container_request__unpack(NULL, len, buf);
    ok(r && r->container && strcmp(r->container->id, "c6") == 0 && r->linux_resources &&
               r->linux_resources->cpu && r->linux_resources->cpu->shares &&
               r->linux_resources->cpu->shares->value == 700 &&
               r->linux_resources->cpu->quota->value == 50000 &&
               r->linux_resources->cpu->period == NULL &&
               strcmp(r->linux_resources->cpu->cpus, "0") == 0 &&
               r->linux_resources->memory->limit->value == (64 << 20) &&
               r->linux_resources->memory->swap == NULL,
       "CRI limits appended: an UpdateContainerRequest a plugin reads, unset ones absent");
    if (r)
        nri__pkg__api__v1alpha1__update_container_request__free_unpacked(r, NULL);
    berth_free(buf);
}

int main(void)
{
    test_merge();
    test_unsupported();
    test_packed();
    test_append();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
