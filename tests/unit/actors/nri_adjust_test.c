/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri_adjust: a plugin's args, rlimits, hooks, devices, resources,
 * namespaces, sysctls, seccomp and OOM score merged and patched into a
 * spec; two plugins setting one field conflict naming both, a removal
 * ("-KEY") or UpdateArgs lets a later plugin take a field over; what berth
 * cannot apply refused with its reason; the default validator's rules and
 * berth's own. Pure functions, no engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/nri.h"
#include "conf/config.h"
#include "engine/alloc.h"
#include "nri.pb-c.h"
#include "tests/unit/check.h"

typedef Nri__Pkg__Api__V1alpha1__ContainerAdjustment adj_t;
typedef Nri__Pkg__Api__V1alpha1__LinuxContainerAdjustment lx_t;

/* adj packed in a CreateContainerResponse and merged into a for plugin. */
static int merge(berth_nri_adjust_t *a, const char *plugin, adj_t *adj, berth_err_t *err)
{
    Nri__Pkg__Api__V1alpha1__CreateContainerResponse r =
            NRI__PKG__API__V1ALPHA1__CREATE_CONTAINER_RESPONSE__INIT;
    r.adjust = adj;
    size_t len = protobuf_c_message_get_packed_size(&r.base);
    uint8_t *buf = berth_malloc(len + 1);
    protobuf_c_message_pack(&r.base, buf);
    int rc = berth_nri_adjust_add(a, plugin, buf, len, err);
    berth_free(buf);
    return rc;
}

/* The parts of a spec berth_nri_apply_spec patches. */
static json_t *spec(void)
{
    return json_loads("{\"process\":{\"args\":[\"sh\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
                      "\"hard\":1024,\"soft\":1024}]},\"linux\":{\"namespaces\":[{\"type\":"
                      "\"pid\"},{\"type\":\"network\",\"path\":\"/run/netns/x\"}],\"resources\":"
                      "{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}],\"memory\":{\"limit\":"
                      "1}},\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"}}}",
                      0, NULL);
}

static void test_merge_apply(void)
{
    berth_nri_adjust_t a = {0};
    berth_err_t err = NULL;

    /* plugin one: args, an rlimit, a hook, a device, limits, a namespace
     * removal, a sysctl, the OOM score, seccomp */
    adj_t adj = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    char *args[] = {(char *)"/bin/echo", (char *)"hi"};
    adj.args = args;
    adj.n_args = 2;
    Nri__Pkg__Api__V1alpha1__POSIXRlimit rl = NRI__PKG__API__V1ALPHA1__POSIXRLIMIT__INIT,
                                         *rlp = &rl;
    rl.type = (char *)"RLIMIT_NOFILE";
    rl.hard = 4321;
    rl.soft = 1234;
    adj.rlimits = &rlp;
    adj.n_rlimits = 1;
    Nri__Pkg__Api__V1alpha1__Hooks hooks = NRI__PKG__API__V1ALPHA1__HOOKS__INIT;
    Nri__Pkg__Api__V1alpha1__Hook hk = NRI__PKG__API__V1ALPHA1__HOOK__INIT, *hkp = &hk;
    hk.path = (char *)"/usr/bin/true";
    hooks.create_runtime = &hkp;
    hooks.n_create_runtime = 1;
    adj.hooks = &hooks;
    lx_t lx = NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxDevice dev = NRI__PKG__API__V1ALPHA1__LINUX_DEVICE__INIT,
                                         *devp = &dev;
    dev.path = (char *)"/dev/nri-zero";
    dev.type = (char *)"c";
    dev.major = 1;
    dev.minor = 5;
    lx.devices = &devp;
    lx.n_devices = 1;
    Nri__Pkg__Api__V1alpha1__LinuxResources res = NRI__PKG__API__V1ALPHA1__LINUX_RESOURCES__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxMemory mem = NRI__PKG__API__V1ALPHA1__LINUX_MEMORY__INIT;
    Nri__Pkg__Api__V1alpha1__OptionalInt64 lim = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT64__INIT;
    lim.value = 64 << 20;
    mem.limit = &lim;
    res.memory = &mem;
    Nri__Pkg__Api__V1alpha1__LinuxCPU cpu = NRI__PKG__API__V1ALPHA1__LINUX_CPU__INIT;
    cpu.cpus = (char *)"0";
    res.cpu = &cpu;
    lx.resources = &res;
    Nri__Pkg__Api__V1alpha1__LinuxNamespace ns = NRI__PKG__API__V1ALPHA1__LINUX_NAMESPACE__INIT,
                                            *nsp = &ns;
    ns.type = (char *)"-network";
    lx.namespaces = &nsp;
    lx.n_namespaces = 1;
    Nri__Pkg__Api__V1alpha1__LinuxContainerAdjustment__SysctlEntry sy =
            NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__SYSCTL_ENTRY__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxContainerAdjustment__SysctlEntry *syp = &sy;
    sy.key = (char *)"-net.ipv4.ip_forward";
    sy.value = (char *)"";
    lx.sysctl = &syp;
    lx.n_sysctl = 1;
    Nri__Pkg__Api__V1alpha1__OptionalInt oom = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT__INIT;
    oom.value = 999;
    lx.oom_score_adj = &oom;
    Nri__Pkg__Api__V1alpha1__LinuxSeccomp sec = NRI__PKG__API__V1ALPHA1__LINUX_SECCOMP__INIT;
    sec.default_action = (char *)"SCMP_ACT_ALLOW";
    lx.seccomp_policy = &sec;
    adj.linux = &lx;
    check(merge(&a, "10-one", &adj, &err) == 0, "merge: plugin one's adjustments taken: %s",
          err ? err->msg : "");
    berth_err_free(&err);

    /* plugin two: the same rlimit and memory limit conflict, naming both */
    adj_t two = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    two.rlimits = &rlp;
    two.n_rlimits = 1;
    ok(merge(&a, "20-two", &two, &err) < 0 && err && strstr(err->msg, "10-one") &&
               strstr(err->msg, "20-two") && strstr(err->msg, "RLIMIT_NOFILE"),
       "conflict: a second plugin's RLIMIT_NOFILE names both plugins");
    berth_err_free(&err);
    two = (adj_t)NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    lx_t lx2 = NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxResources res2 = NRI__PKG__API__V1ALPHA1__LINUX_RESOURCES__INIT;
    res2.memory = &mem;
    lx2.resources = &res2;
    two.linux = &lx2;
    ok(merge(&a, "20-two", &two, &err) < 0 && err && strstr(err->msg, "memory.limit"),
       "conflict: a second plugin's memory limit");
    berth_err_free(&err);
    /* plugin two again: args taken over with UpdateArgs, the device taken
     * over after removing it */
    two = (adj_t)NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    char *args2[] = {(char *)"", (char *)"/bin/true"};
    two.args = args2;
    two.n_args = 2;
    lx2 = (lx_t)NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxDevice rm = NRI__PKG__API__V1ALPHA1__LINUX_DEVICE__INIT,
                                         d2 = NRI__PKG__API__V1ALPHA1__LINUX_DEVICE__INIT;
    rm.path = (char *)"-/dev/nri-zero";
    d2 = dev;
    d2.minor = 3;
    Nri__Pkg__Api__V1alpha1__LinuxDevice *devs2[] = {&rm, &d2};
    lx2.devices = devs2;
    lx2.n_devices = 2;
    two.linux = &lx2;
    check(merge(&a, "20-two", &two, &err) == 0,
          "take over: UpdateArgs and remove-then-add need no conflict: %s", err ? err->msg : "");
    berth_err_free(&err);

    json_t *s = spec();
    ok(berth_nri_apply_spec(&a, s, &err) == 0, "apply: patched");
    json_t *proc = json_object_get(s, "process"), *lxs = json_object_get(s, "linux");
    json_t *argv = json_object_get(proc, "args");
    ok(json_array_size(argv) == 1 &&
               strcmp(json_string_value(json_array_get(argv, 0)), "/bin/true") == 0,
       "apply: args replaced by the last owner");
    json_t *r0 = json_array_get(json_object_get(proc, "rlimits"), 0);
    ok(json_array_size(json_object_get(proc, "rlimits")) == 1 &&
               json_integer_value(json_object_get(r0, "soft")) == 1234 &&
               json_integer_value(json_object_get(r0, "hard")) == 4321,
       "apply: RLIMIT_NOFILE replaced, not doubled");
    ok(json_array_size(json_object_get(json_object_get(s, "hooks"), "createRuntime")) == 1,
       "apply: the createRuntime hook added");
    json_t *devs = json_object_get(lxs, "devices");
    json_t *d = json_array_get(devs, 0);
    ok(json_array_size(devs) == 1 && json_integer_value(json_object_get(d, "minor")) == 3 &&
               json_integer_value(json_object_get(d, "fileMode")) == 0666,
       "apply: one /dev/nri-zero, the second plugin's");
    json_t *rules = json_object_get(json_object_get(lxs, "resources"), "devices");
    json_t *rule = json_array_get(rules, 1);
    ok(json_array_size(rules) == 2 && json_is_true(json_object_get(rule, "allow")) &&
               json_integer_value(json_object_get(rule, "major")) == 1 &&
               json_integer_value(json_object_get(rule, "minor")) == 3,
       "apply: the device's cgroup allow rule after the deny-all");
    json_t *rs = json_object_get(lxs, "resources");
    ok(json_integer_value(json_object_get(json_object_get(rs, "memory"), "limit")) == 64 << 20 &&
               strcmp(json_string_value(json_object_get(json_object_get(rs, "cpu"), "cpus")),
                      "0") == 0,
       "apply: memory limit and cpuset set");
    json_t *nss = json_object_get(lxs, "namespaces");
    ok(json_array_size(nss) == 1 &&
               strcmp(json_string_value(json_object_get(json_array_get(nss, 0), "type")), "pid") ==
                       0,
       "apply: the network namespace removed, pid kept");
    ok(json_object_size(json_object_get(lxs, "sysctl")) == 0, "apply: the sysctl removed");
    ok(json_integer_value(json_object_get(proc, "oomScoreAdj")) == 999, "apply: OOM score set");
    ok(strcmp(json_string_value(json_object_get(json_object_get(lxs, "seccomp"), "defaultAction")),
              "SCMP_ACT_ALLOW") == 0,
       "apply: the seccomp policy replaced");
    json_decref(s);

    /* the validator: off, berth's rules only; on, hooks and namespaces */
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    berth_config_t cfg = {0};
    const char *plugins[] = {"10-one", "20-two"};
    check(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) == 0,
          "validate: the default validator off lets hooks and namespaces through: %s",
          err ? err->msg : "");
    berth_err_free(&err);
    cfg.nri_validator_enable = true;
    cfg.nri_reject_oci_hook_adjustment = true;
    check(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) < 0 && err &&
                  err->kind == BERTH_ERR_DENIED && strstr(err->msg, "10-one") &&
                  strstr(err->msg, "reject_oci_hook_adjustment"),
          "validate: reject_oci_hook_adjustment names the plugin: %s", err ? err->msg : "passed");
    berth_err_free(&err);
    cfg.nri_reject_oci_hook_adjustment = false;
    cfg.nri_reject_namespace_adjustment = true;
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) < 0 && err &&
               strstr(err->msg, "network"),
       "validate: reject_namespace_adjustment names the namespace");
    berth_err_free(&err);
    cfg.nri_reject_namespace_adjustment = false;
    cfg.nri_reject_unconfined_seccomp_adjustment = true;
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) < 0 && err &&
               strstr(err->msg, "reject_unconfined_seccomp_adjustment"),
       "validate: seccomp replaced in an Unconfined container");
    berth_err_free(&err);
    cfg.nri_reject_unconfined_seccomp_adjustment = false;
    cfg.nri_reject_runtime_default_seccomp_adjustment = true;
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) == 0,
       "validate: the RuntimeDefault rule spares an Unconfined container");
    cfg.nri_reject_runtime_default_seccomp_adjustment = false;

    char *req[] = {(char *)"two", (char *)"gone", NULL};
    cfg.nri_required_plugins = (berth_strv_t){.v = req, .n = 2};
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) < 0 && err &&
               err->kind == BERTH_ERR_PRECONDITION && strstr(err->msg, "gone") &&
               !strstr(err->msg, "two"),
       "validate: a required plugin missing (the index is not part of the name)");
    berth_err_free(&err);
    Runtime__V1__ContainerConfig__AnnotationsEntry tol =
            RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
    Runtime__V1__ContainerConfig__AnnotationsEntry *tolp = &tol;
    tol.key = (char *)"tolerate/pod";
    tol.value = (char *)"true";
    cc.annotations = &tolp;
    cc.n_annotations = 1;
    cfg.nri_tolerate_missing_plugins_annotation = (char *)"tolerate";
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) == 0,
       "validate: the tolerate annotation (per pod) lets it through");
    cfg.nri_required_plugins = (berth_strv_t){0};
    tol.key = (char *)BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION;
    tol.value = (char *)"[\"one\", \"three\"]";
    cfg.nri_tolerate_missing_plugins_annotation = NULL;
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, plugins, 2, &err) < 0 && err &&
               strstr(err->msg, "three") && !strstr(err->msg, "one,"),
       "validate: the required-plugins annotation's list");
    berth_err_free(&err);
    berth_nri_adjust_fini(&a);
}

static void test_refused(void)
{
    berth_nri_adjust_t a = {0};
    berth_err_t err = NULL;
    adj_t adj = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    lx_t lx = NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxResources res = NRI__PKG__API__V1ALPHA1__LINUX_RESOURCES__INIT;
    Nri__Pkg__Api__V1alpha1__OptionalString cls = NRI__PKG__API__V1ALPHA1__OPTIONAL_STRING__INIT;
    cls.value = (char *)"gold";
    res.blockio_class = &cls;
    lx.resources = &res;
    adj.linux = &lx;
    ok(merge(&a, "10-one", &adj, &err) < 0 && err && err->kind == BERTH_ERR_UNSUPPORTED &&
               strstr(err->msg, "block I/O class") && strstr(err->msg, "10-one"),
       "refused: a block I/O class, with its reason");
    berth_err_free(&err);
    res.blockio_class = NULL;
    Nri__Pkg__Api__V1alpha1__LinuxMemory mem = NRI__PKG__API__V1ALPHA1__LINUX_MEMORY__INIT;
    Nri__Pkg__Api__V1alpha1__OptionalInt64 k = NRI__PKG__API__V1ALPHA1__OPTIONAL_INT64__INIT;
    mem.kernel = &k;
    res.memory = &mem;
    ok(merge(&a, "10-one", &adj, &err) < 0 && err && strstr(err->msg, "kernel memory"),
       "refused: kernel memory");
    berth_err_free(&err);
    res.memory = NULL;
    Nri__Pkg__Api__V1alpha1__POSIXRlimit rl = NRI__PKG__API__V1ALPHA1__POSIXRLIMIT__INIT,
                                         *rlp = &rl;
    rl.type = (char *)"RLIMIT_NOFILE";
    rl.hard = 1;
    rl.soft = 2;
    adj.rlimits = &rlp;
    adj.n_rlimits = 1;
    ok(merge(&a, "10-one", &adj, &err) < 0 && err && err->kind == BERTH_ERR_INVALID &&
               strstr(err->msg, "above its hard"),
       "refused: a soft rlimit above the hard one");
    berth_err_free(&err);
    berth_nri_adjust_fini(&a);

    /* berth's own rules */
    adj = (adj_t)NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    lx = (lx_t)NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxNamespace ns = NRI__PKG__API__V1ALPHA1__LINUX_NAMESPACE__INIT,
                                            *nsp = &ns;
    ns.type = (char *)"-user";
    lx.namespaces = &nsp;
    lx.n_namespaces = 1;
    adj.linux = &lx;
    ok(merge(&a, "10-one", &adj, &err) == 0, "rules: a user namespace removal merged");
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    berth_pod_info_t pod = {.user_ns = (char *)"/proc/1/ns/user"};
    ok(berth_nri_validate(&a, NULL, &cc, &pod, NULL, 0, &err) < 0 && err &&
               err->kind == BERTH_ERR_DENIED && strstr(err->msg, "hostUsers"),
       "rules: no leaving a pod's own user namespace, validator or not");
    berth_err_free(&err);
    ok(berth_nri_validate(&a, NULL, &cc, NULL, NULL, 0, &err) == 0,
       "rules: the same in a pod on the node's user namespace");
    berth_nri_adjust_fini(&a);
    adj.linux = NULL;
    Nri__Pkg__Api__V1alpha1__Mount m = NRI__PKG__API__V1ALPHA1__MOUNT__INIT, *mp = &m;
    char *opts[] = {(char *)"rbind", (char *)"rshared"};
    m.destination = (char *)"/shared";
    m.source = (char *)"/srv";
    m.options = opts;
    m.n_options = 2;
    adj.mounts = &mp;
    adj.n_mounts = 1;
    ok(merge(&a, "10-one", &adj, &err) == 0 &&
               berth_nri_validate(&a, NULL, &cc, NULL, NULL, 0, &err) < 0 && err &&
               strstr(err->msg, "shared propagation"),
       "rules: no shared propagation into a container that is not privileged");
    berth_err_free(&err);
    berth_nri_adjust_fini(&a);
}

/* Hooks never conflict; the validator names every plugin that added one
 * (10-a is not taken for part of 10-ab). */
static void test_hooks_owners(void)
{
    berth_nri_adjust_t a = {0};
    berth_err_t err = NULL;
    adj_t adj = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__Hooks hooks = NRI__PKG__API__V1ALPHA1__HOOKS__INIT;
    Nri__Pkg__Api__V1alpha1__Hook hk = NRI__PKG__API__V1ALPHA1__HOOK__INIT, *hkp = &hk;
    hk.path = (char *)"/bin/true";
    hooks.poststop = &hkp;
    hooks.n_poststop = 1;
    adj.hooks = &hooks;
    ok(merge(&a, "10-ab", &adj, &err) == 0 && merge(&a, "10-a", &adj, &err) == 0 &&
               merge(&a, "10-ab", &adj, &err) == 0,
       "hooks: three additions by two plugins, no conflict");
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    berth_config_t cfg = {.nri_validator_enable = true, .nri_reject_oci_hook_adjustment = true};
    ok(berth_nri_validate(&a, &cfg, &cc, NULL, NULL, 0, &err) < 0 && err &&
               strstr(err->msg, "plugin(s) 10-ab,10-a add"),
       "hooks: the validator names both plugins once");
    berth_err_free(&err);
    json_t *s = spec();
    berth_nri_apply_spec(&a, s, &err);
    ok(json_array_size(json_object_get(json_object_get(s, "hooks"), "poststop")) == 3,
       "hooks: all three appended");
    json_decref(s);
    berth_nri_adjust_fini(&a);
}

/* "-/path" removes an earlier plugin's mount there (a later one may mount
 * there again) and the kubelet's, not the one a plugin added. */
static void test_unmount(void)
{
    berth_nri_adjust_t a = {0};
    berth_err_t err = NULL;
    adj_t adj = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__Mount m = NRI__PKG__API__V1ALPHA1__MOUNT__INIT, *mp = &m;
    m.destination = (char *)"/data";
    m.source = (char *)"/srv";
    adj.mounts = &mp;
    adj.n_mounts = 1;
    ok(merge(&a, "10-a", &adj, &err) == 0, "unmount: 10-a mounts /data");
    Nri__Pkg__Api__V1alpha1__Mount rm1 = NRI__PKG__API__V1ALPHA1__MOUNT__INIT,
                                   rm2 = NRI__PKG__API__V1ALPHA1__MOUNT__INIT,
                                   again = NRI__PKG__API__V1ALPHA1__MOUNT__INIT;
    rm1.destination = (char *)"-/data";
    rm2.destination = (char *)"-/kube";
    again.destination = (char *)"/data";
    again.source = (char *)"/other";
    Nri__Pkg__Api__V1alpha1__Mount *two[] = {&rm1, &rm2, &again};
    adj.mounts = two;
    adj.n_mounts = 3;
    check(merge(&a, "20-b", &adj, &err) == 0 && a.nmounts == 1 &&
                  strcmp(a.mounts[0].owner, "20-b") == 0 &&
                  strcmp(a.mounts[0].source, "/other") == 0,
          "unmount: 20-b removes 10-a's /data and mounts its own there: %s", err ? err->msg : "");
    berth_err_free(&err);
    json_t *s = json_loads("{\"process\":{},\"linux\":{},\"mounts\":[{\"destination\":\"/kube\","
                           "\"source\":\"/x\"},{\"destination\":\"/proc\",\"source\":\"proc\"},"
                           "{\"destination\":\"/data\",\"source\":\"/other\"}]}",
                           0, NULL);
    ok(berth_nri_apply_spec(&a, s, &err) == 0, "unmount: patched");
    json_t *ms = json_object_get(s, "mounts");
    ok(json_array_size(ms) == 2 &&
               strcmp(json_string_value(json_object_get(json_array_get(ms, 0), "destination")),
                      "/proc") == 0 &&
               strcmp(json_string_value(json_object_get(json_array_get(ms, 1), "source")),
                      "/other") == 0,
       "unmount: the kubelet's /kube gone, the plugin's /data kept");
    json_decref(s);
    berth_nri_adjust_fini(&a);
}

int main(void)
{
    test_merge_apply();
    test_unmount();
    test_hooks_owners();
    test_refused();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
