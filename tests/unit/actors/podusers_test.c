/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/podusers: which userns_options RunPodSandbox accepts (NODE and no
 * options always; POD with disjoint extents that map container ID 0, the
 * pod's own network/IPC/PID namespaces and a kernel that passed the probe)
 * and refuses with INVALID_ARGUMENT (CONTAINER, TARGET, bad mappings), and
 * the mappings a POD-mode pod gets; CRI-O's userns-mode options and the
 * extents keep-id and map-to-root make. Pure: no kernel calls (the probe is not
 * run, so POD mode ends at FAILED_PRECONDITION naming why).
 */
#include <string.h>

#include "actors/podusers.h"
#include "engine/alloc.h"
#include "tests/unit/check.h"

static Runtime__V1__IDMapping mk(uint32_t c, uint32_t h, uint32_t l)
{
    Runtime__V1__IDMapping m = RUNTIME__V1__IDMAPPING__INIT;
    m.container_id = c;
    m.host_id = h;
    m.length = l;
    return m;
}

int main(void)
{
    berth_err_t err = NULL;
    ok(berth_podusers_check(NULL, &err) == 0, "no namespace options: the node's user namespace");
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    ok(berth_podusers_check(&ns, &err) == 0, "no userns_options: the node's");
    Runtime__V1__UserNamespace u = RUNTIME__V1__USER_NAMESPACE__INIT;
    ns.userns_options = &u;
    u.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
    ok(berth_podusers_check(&ns, &err) == 0, "NODE is accepted");

    Runtime__V1__IDMapping good = mk(0, 100000, 65536), other = mk(0, 300000, 65536);
    Runtime__V1__IDMapping from1 = mk(1, 100000, 65536);
    Runtime__V1__IDMapping *one[] = {&good}, *two[] = {&good, &other}, *bad[] = {&from1};
    u.n_uids = 1;
    u.uids = one;
    ok(berth_podusers_check(&ns, &err) < 0 && err->kind == BERTH_ERR_INVALID,
       "NODE with mappings: INVALID_ARGUMENT");
    berth_err_free(&err);

    int modes[] = {RUNTIME__V1__NAMESPACE_MODE__CONTAINER, RUNTIME__V1__NAMESPACE_MODE__TARGET};
    const char *names[] = {"CONTAINER", "TARGET"};
    for (int i = 0; i < 2; i++) {
        u.mode = modes[i];
        int rc = berth_podusers_check(&ns, &err);
        check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, names[i]),
              "%s: INVALID_ARGUMENT naming the mode (%s)", names[i], err ? err->msg : "");
        berth_err_free(&err);
    }

    u.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    u.n_uids = 2;
    u.uids = two;
    u.n_gids = 1;
    u.gids = one;
    int rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "userns_options"),
          "POD with two uid mappings: INVALID_ARGUMENT naming the field (%s)", err ? err->msg : "");
    berth_err_free(&err);
    u.n_uids = 1;
    u.uids = bad;
    ok(berth_podusers_check(&ns, &err) < 0 && err->kind == BERTH_ERR_INVALID,
       "POD with container ID 0 unmapped: INVALID_ARGUMENT");
    berth_err_free(&err);
    u.n_gids = 0;
    u.uids = one;
    ok(berth_podusers_check(&ns, &err) < 0 && err->kind == BERTH_ERR_INVALID,
       "POD without gid mappings: INVALID_ARGUMENT");
    berth_err_free(&err);
    u.n_gids = 1;
    ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
    rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "IPC"),
          "POD with the node's IPC: INVALID_ARGUMENT (%s)", err ? err->msg : "");
    berth_err_free(&err);
    ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
    ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_PRECONDITION,
          "POD with the node's network passes the rules (user_namespaces_host_network)");
    berth_err_free(&err);
    ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_PRECONDITION && strstr(err->msg, "not available"),
          "a valid POD request without the probe: FAILED_PRECONDITION with why (%s)",
          err ? err->msg : "");
    berth_err_free(&err);

    /* the mappings a pod gets */
    /* The init function, not the INIT macro: the macro names a deprecated
     * field, which -Werror builds refuse. */
    Runtime__V1__LinuxSandboxSecurityContext sc;
    runtime__v1__linux_sandbox_security_context__init(&sc);
    sc.namespace_options = &ns;
    Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    lx.security_context = &sc;
    Runtime__V1__PodSandboxConfig pc = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    pc.linux = &lx;
    static berth_idmaps_t um, gm;
    ok(berth_podusers_maps(&pc, &um, &gm) && um.n == 1 && um.v[0].host_id == 100000 &&
               um.v[0].length == 65536 && gm.v[0].host_id == 100000,
       "POD: the pod's mappings");
    u.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
    ok(!berth_podusers_maps(&pc, &um, &gm), "NODE: none");
    ok(!berth_podusers_maps(NULL, &um, &gm), "no config: none");

    /* several extents, as keep-id makes them, pass the CRI rules */
    Runtime__V1__IDMapping k0 = mk(0, 100000, 1000), k1 = mk(1001, 101000, 64535),
                           k2 = mk(1000, 1000, 1), kover = mk(1000, 100500, 1);
    Runtime__V1__IDMapping *three[] = {&k0, &k1, &k2}, *clash[] = {&k0, &k1, &kover};
    u.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    u.n_uids = 3;
    u.uids = three;
    rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_PRECONDITION,
          "POD with three disjoint uid extents "
          "passes the rules (%s)",
          err ? err->msg : "");
    berth_err_free(&err);
    ok(berth_podusers_maps(&pc, &um, &gm) && um.n == 3 && um.v[2].host_id == 1000,
       "the maps carry every extent");
    u.uids = clash;
    rc = berth_podusers_check(&ns, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "overlap"),
          "host IDs shared by two extents: INVALID_ARGUMENT (%s)", err ? err->msg : "");
    berth_err_free(&err);

    /* CRI-O's userns-mode annotation */
    berth_userns_auto_t o;
    ok(berth_podusers_auto("", &o, &err) == 0, "userns-mode \"\": the node's");
    ok(berth_podusers_auto("auto", &o, &err) == 1 && o.size == 65536 && !o.keep_id &&
               !o.map_to_root,
       "auto: 65536 IDs");
    ok(berth_podusers_auto("auto:size=1024", &o, &err) == 1 && o.size == 1024, "auto:size=1024");
    ok(berth_podusers_auto("auto:keep-id=true", &o, &err) == 1 && o.keep_id && o.size == 65536,
       "auto:keep-id=true");
    ok(berth_podusers_auto("auto:keep-id", &o, &err) == 1 && o.keep_id, "auto:keep-id (a flag)");
    ok(berth_podusers_auto("auto:size=2048;map-to-root=true", &o, &err) == 1 && o.map_to_root &&
               o.size == 2048,
       "auto:size=2048;map-to-root=true (CRI-O's separator)");
    ok(berth_podusers_auto("auto:map-to-root=true,size=10", &o, &err) == 1 && o.map_to_root &&
               o.size == 10,
       "',' separates options too");
    ok(berth_podusers_auto("auto:keep-id=false", &o, &err) == 1 && !o.keep_id, "keep-id=false");
    const char *bad_modes[] = {"host",
                               "auto:size=0",
                               "auto:size=x",
                               "auto:size=",
                               "auto:size",
                               "auto:what=1",
                               "auto:size=4294967296",
                               "auto:size=2147483649",
                               "autox",
                               "keep-id",
                               "auto:keep-id=yes",
                               "auto:keep-id=true;map-to-root=true"};
    for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
        rc = berth_podusers_auto(bad_modes[i], &o, &err);
        check(rc < 0 && err->kind == BERTH_ERR_INVALID &&
                      strstr(err->msg, BERTH_USERNS_MODE_ANNOTATION),
              "%s: INVALID_ARGUMENT naming the annotation (%s)", bad_modes[i], err ? err->msg : "");
        berth_err_free(&err);
    }
    ok(berth_podusers_auto("auto:what=1", &o, &err) < 0 && strstr(err->msg, "what"),
       "the unknown option is named");
    berth_err_free(&err);
    ok(berth_podusers_auto("auto:uidmapping=0:1000:1,1:2000:5", &o, &err) < 0 &&
               err->kind == BERTH_ERR_UNSUPPORTED && strstr(err->msg, "uidmapping"),
       "uidmapping: UNSUPPORTED, named");
    berth_err_free(&err);

    /* the extents keep-id and map-to-root add */
    Runtime__V1__LinuxSandboxSecurityContext psc;
    runtime__v1__linux_sandbox_security_context__init(&psc);
    Runtime__V1__Int64Value ru = RUNTIME__V1__INT64_VALUE__INIT,
                            rg = RUNTIME__V1__INT64_VALUE__INIT;
    ru.value = 1000;
    rg.value = 3000;
    int64_t groups[] = {4000, 3000, 5000};
    berth_userns_auto_t keep = {.size = 65536, .keep_id = true};
    rc = berth_podusers_extra(&keep, &psc, &um, &gm, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "keep-id") &&
                  strstr(err->msg, "runAsUser"),
          "keep-id without a runAsUser: INVALID_ARGUMENT naming the option (%s)",
          err ? err->msg : "");
    berth_err_free(&err);
    ok(berth_podusers_extra(&keep, NULL, &um, &gm, &err) < 0, "keep-id without a context");
    berth_err_free(&err);
    psc.run_as_user = &ru;
    psc.run_as_group = &rg;
    psc.n_supplemental_groups = 3;
    psc.supplemental_groups = groups;
    ok(berth_podusers_extra(&keep, &psc, &um, &gm, &err) == 0 && um.n == 1 &&
               um.v[0].container_id == 1000 && um.v[0].host_id == 1000 && um.v[0].length == 1 &&
               gm.n == 3 && gm.v[0].host_id == 3000 && gm.v[1].host_id == 4000 &&
               gm.v[2].container_id == 5000,
       "keep-id: runAsUser, runAsGroup and the groups as themselves (3000 once)");
    ok(berth_podusers_pool_need(&um, 65536) == 65535 &&
               berth_podusers_pool_need(&gm, 65536) == 65533,
       "the pool gives the rest of [0, size)");
    ok(berth_podusers_pool_need(&gm, 4500) == 4498, "an extent past size takes nothing of it");
    berth_podusers_fill(&um, 65536, 300000);
    ok(um.n == 3 && um.v[0].container_id == 0 && um.v[0].host_id == 300000 &&
               um.v[0].length == 1000 && um.v[1].container_id == 1001 &&
               um.v[1].host_id == 301000 && um.v[1].length == 64535 && um.v[2].host_id == 1000,
       "fill: 0-999 and 1001-65535 from the pool, then 1000 as itself");
    ok(berth_idmap_check("uid", um.v, um.n, &err) == 0, "the filled map passes the rules");
    berth_podusers_fill(&gm, 65536, 500000);
    ok(gm.n == 7 && gm.v[0].length == 3000 && gm.v[1].container_id == 3001 &&
               gm.v[1].host_id == 503000 && gm.v[3].container_id == 5001 &&
               gm.v[3].host_id == 504998 && gm.v[3].length == 60535 && gm.v[4].host_id == 3000,
       "fill: four gaps around 3000, 4000, 5000, then those three");
    ok(berth_idmap_check("gid", gm.v, gm.n, &err) == 0, "and passes the rules");
    uint32_t h = 0;
    ok(berth_idmap_to_host(&gm, 4000, &h) && h == 4000 && berth_idmap_to_host(&gm, 4001, &h) &&
               h == 503999,
       "lookups across extents");

    berth_userns_auto_t root = {.size = 65536, .map_to_root = true};
    psc.run_as_group = NULL;
    ok(berth_podusers_extra(&root, &psc, &um, &gm, &err) == 0 && um.n == 1 &&
               um.v[0].container_id == 0 && um.v[0].host_id == 1000 && gm.n == 0,
       "map-to-root: container 0 is runAsUser; no runAsGroup, no gid extent; no groups");
    berth_podusers_fill(&um, 65536, 300000);
    ok(um.n == 2 && um.v[0].container_id == 1 && um.v[0].host_id == 300000 &&
               um.v[0].length == 65535 && um.v[1].container_id == 0 && um.v[1].host_id == 1000,
       "fill: 1-65535 from the pool");
    berth_podusers_fill(&gm, 65536, 500000);
    ok(gm.n == 1 && gm.v[0].length == 65536, "the gid map is one range");
    ru.value = 0;
    rc = berth_podusers_extra(&root, &psc, &um, &gm, &err);
    check(rc < 0 && err->kind == BERTH_ERR_INVALID && strstr(err->msg, "root"),
          "runAsUser 0: the node's root is never mapped (%s)", err ? err->msg : "");
    berth_err_free(&err);
    ru.value = 1000;
    berth_userns_auto_t plain = {.size = 65536};
    ok(berth_podusers_extra(&plain, &psc, &um, &gm, &err) == 0 && um.n == 0 && gm.n == 0,
       "plain auto: no extra extents");
    root.size = 1;
    berth_podusers_extra(&root, &psc, &um, &gm, &err);
    ok(berth_podusers_pool_need(&um, 1) == 0, "map-to-root with size=1 takes nothing of the pool");
    berth_podusers_fill(&um, 1, 0);
    ok(um.n == 1 && um.v[0].host_id == 1000, "and maps root alone");

    /* the ranges picked, written into a config that had no linux part */
    ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    Runtime__V1__PodSandboxConfig *cfg = berth_calloc(1, sizeof(*cfg));
    runtime__v1__pod_sandbox_config__init(cfg);
    static berth_idmaps_t su = {.n = 1, .v = {{0, 200000, 1024}}},
                          sg = {.n = 2, .v = {{1, 300000, 1023}, {0, 1000, 1}}};
    berth_podusers_set(cfg, &su, &sg);
    ok(berth_podusers_maps(cfg, &um, &gm) && um.v[0].host_id == 200000 && gm.n == 2 &&
               gm.v[0].host_id == 300000 && gm.v[1].host_id == 1000 && um.v[0].length == 1024,
       "set: POD mode with the picked extents");
    ok(berth_podusers_check(cfg->linux->security_context->namespace_options, &err) < 0 &&
               err->kind == BERTH_ERR_PRECONDITION,
       "set: the mappings pass the CRI rules (the probe did not run: FAILED_PRECONDITION)");
    berth_err_free(&err);
    su.v[0].host_id = 400000;
    berth_podusers_set(cfg, &su, &su);
    ok(berth_podusers_maps(cfg, &um, &gm) && um.v[0].host_id == 400000 && gm.n == 1,
       "set again replaces");
    protobuf_c_message_free_unpacked(&cfg->base, a);

    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
