/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/podusers: which userns_options RunPodSandbox accepts (NODE and no
 * options always; POD with one mapping each that maps container ID 0, the
 * pod's own network/IPC/PID namespaces and a kernel that passed the probe)
 * and refuses with INVALID_ARGUMENT (CONTAINER, TARGET, bad mappings), and
 * the mappings a POD-mode pod gets. Pure: no kernel calls (the probe is not
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
    berth_idmap_t um = {0}, gm = {0};
    ok(berth_podusers_maps(&pc, &um, &gm) && um.host_id == 100000 && um.length == 65536 &&
               gm.host_id == 100000,
       "POD: the pod's mappings");
    u.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
    ok(!berth_podusers_maps(&pc, &um, &gm), "NODE: none");
    ok(!berth_podusers_maps(NULL, &um, &gm), "no config: none");

    /* CRI-O's userns-mode annotation */
    uint32_t size = 0;
    ok(berth_podusers_auto("", &size, &err) == 0, "userns-mode \"\": the node's");
    ok(berth_podusers_auto("auto", &size, &err) == 1 && size == 65536, "auto: 65536 IDs");
    ok(berth_podusers_auto("auto:size=1024", &size, &err) == 1 && size == 1024, "auto:size=1024");
    const char *bad_modes[] = {"host",        "auto:size=0",          "auto:size=x", "auto:size=",
                               "auto:what=1", "auto:size=4294967296", "autox"};
    for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
        ok(berth_podusers_auto(bad_modes[i], &size, &err) < 0 && err->kind == BERTH_ERR_INVALID,
           bad_modes[i]);
        berth_err_free(&err);
    }
    ok(berth_podusers_auto("auto:keep-id=true", &size, &err) < 0 &&
               err->kind == BERTH_ERR_UNSUPPORTED && strstr(err->msg, "keep-id"),
       "keep-id: UNSUPPORTED, named");
    berth_err_free(&err);
    ok(berth_podusers_auto("auto:size=10,map-to-root=true", &size, &err) < 0 &&
               err->kind == BERTH_ERR_UNSUPPORTED,
       "map-to-root: UNSUPPORTED");
    berth_err_free(&err);

    /* the ranges picked, written into a config that had no linux part */
    ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    Runtime__V1__PodSandboxConfig *cfg = berth_calloc(1, sizeof(*cfg));
    runtime__v1__pod_sandbox_config__init(cfg);
    berth_podusers_set(cfg, 200000, 300000, 1024);
    ok(berth_podusers_maps(cfg, &um, &gm) && um.host_id == 200000 && gm.host_id == 300000 &&
               um.container_id == 0 && um.length == 1024 && gm.length == 1024,
       "set: POD mode with the picked ranges");
    ok(berth_podusers_check(cfg->linux->security_context->namespace_options, &err) < 0 &&
               err->kind == BERTH_ERR_PRECONDITION,
       "set: the mappings pass the CRI rules (the probe did not run: FAILED_PRECONDITION)");
    berth_err_free(&err);
    berth_podusers_set(cfg, 400000, 400000, 10);
    ok(berth_podusers_maps(cfg, &um, &gm) && um.host_id == 400000, "set again replaces");
    protobuf_c_message_free_unpacked(&cfg->base, a);

    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
