// SPDX-License-Identifier: Apache-2.0
/*
 * The pod sandbox manager behind the real gRPC server, with requests that
 * crictl would refuse to send: a missing config or metadata, empty name, uid
 * or namespace, an unknown runtime handler, separators in a name part; and
 * the CRI's idempotence rules for unknown IDs (stop and remove succeed,
 * status is NOT_FOUND). Each bad request must name the field, and nothing
 * may be left behind (no record, no listed pod).
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/cri.h"
#include "actors/pods.h"
#include "conf/config.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/grpc_client.h"
#include "tests/unit/actors/cricall.h"
#include "tests/unit/check.h"

static void run_bad(Runtime__V1__RunPodSandboxRequest *r, int code, const char *text,
                    const char *what)
{
    answer_t a;
    call("/runtime.v1.RuntimeService/RunPodSandbox", &r->base, &a);
    ok(has(&a, code, text), what);
    answer_free(&a);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t k = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        k += de->d_name[0] != '.';
    closedir(d);
    return k;
}

static int count_msg(void *ctx, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

int main(void)
{
    printf("1..22\n");
    char tmpl[] = "/tmp/berth-pods-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *root = berth_asprintf("%s/root", base);
    char *runroot = berth_asprintf("%s/run", base);
    char *pods_dir = berth_asprintf("%s/pods", root);
    char *sock = berth_asprintf("%s/berth.sock", base);
    mkdir(root, 0700);
    mkdir(runroot, 0700);
    mkdir(pods_dir, 0700);

    berth_err_t err = NULL;
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, NULL);
    berth_config_builder_set_dir(b, NULL);
    berth_config_set(b, "crio.root", root, &err);
    berth_config_set(b, "crio.runroot", runroot, &err);
    berth_config_t *cfg = berth_config_build(b, &err);
    berth_config_builder_free(b);
    if (cfg == NULL) {
        printf("Bail out! config: %s\n", err->msg);
        return 1;
    }
    berth_engine_config_t ecfg = {.workers = 2};
    if (berth_engine_start(&ecfg, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    berth_blocking_start(2, &err);
    berth_handle_t pods = berth_actor_reserve();
    berth_pods_start(pods, cfg, BERTH_HANDLE_NONE, BERTH_HANDLE_NONE);
    const char *handlers[] = {"crun", "runc", NULL};
    berth_cri_config_t ccfg = {
            .runtime_version = "t", .handlers = handlers, .default_handler = "runc", .pods = pods};
    berth_handle_t cri = berth_cri_spawn(&ccfg);
    berth_grpc_server_config_t scfg = {.path = sock, .mode = 0660, .dispatch = cri};
    berth_handle_t listener;
    if (berth_grpc_server_start(&scfg, &listener, &err) < 0) {
        printf("Bail out! server: %s\n", err->msg);
        return 1;
    }
    cl = berth_grpc_client_new(sock, &err);
    if (cl == NULL) {
        printf("Bail out! client: %s\n", err->msg);
        return 1;
    }

    Runtime__V1__RunPodSandboxRequest r = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config is missing", "no config: INVALID_ARGUMENT");
    Runtime__V1__PodSandboxConfig c = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    r.config = &c;
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.metadata is missing", "no metadata");
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    c.metadata = &md;
    md.uid = (char *)"u1";
    md.namespace_ = (char *)"ns";
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.metadata.name is empty", "empty name");
    md.name = (char *)"p";
    md.uid = (char *)"";
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.metadata.uid is empty", "empty uid");
    md.uid = (char *)"u1";
    md.namespace_ = (char *)"";
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.metadata.namespace is empty",
            "empty namespace");
    md.namespace_ = (char *)"ns";
    md.name = (char *)"a/b";
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "must not contain", "a '/' in a name part");
    md.name = (char *)"p";
    c.hostname = (char *)"host\n127.0.0.1 evil";
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.hostname", "a hostname with a line break");
    c.hostname = (char *)"";
    Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
    char *servers[] = {(char *)"10.0.0.10\nnameserver 6.6.6.6"};
    dns.n_servers = 1;
    dns.servers = servers;
    c.dns_config = &dns;
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "config.dns_config",
            "a DNS server that would add a line to resolv.conf");
    c.dns_config = NULL;
    Runtime__V1__PortMapping pm = RUNTIME__V1__PORT_MAPPING__INIT;
    pm.container_port = 80;
    pm.host_port = 70000;
    Runtime__V1__PortMapping *pms[] = {&pm};
    c.n_port_mappings = 1;
    c.port_mappings = pms;
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "port_mappings[0]", "a host port out of range");
    c.n_port_mappings = 0;
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry sy =
            RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT;
    sy.key = (char *)"vm.swappiness";
    sy.value = (char *)"10";
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *sys[] = {&sy};
    Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    lx.n_sysctls = 1;
    lx.sysctls = sys;
    c.linux = &lx;
    run_bad(&r, BERTH_GRPC_INVALID_ARGUMENT, "vm.swappiness",
            "a node-wide sysctl, refused before anything is made");
    c.linux = NULL;
    r.runtime_handler = (char *)"nosuch";
    run_bad(&r, BERTH_GRPC_NOT_FOUND, "runtime_handler \"nosuch\" is not configured",
            "unknown handler: NOT_FOUND naming it");

    answer_t a;
    Runtime__V1__StopPodSandboxRequest st = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    st.pod_sandbox_id = (char *)"0123456789abcdef";
    call("/runtime.v1.RuntimeService/StopPodSandbox", &st.base, &a);
    ok(a.status == 0, "StopPodSandbox of an unknown ID: OK (idempotent)");
    answer_free(&a);
    Runtime__V1__RemovePodSandboxRequest rm = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
    rm.pod_sandbox_id = (char *)"0123456789abcdef";
    call("/runtime.v1.RuntimeService/RemovePodSandbox", &rm.base, &a);
    ok(a.status == 0, "RemovePodSandbox of an unknown ID: OK (idempotent)");
    answer_free(&a);
    Runtime__V1__PodSandboxStatusRequest ps = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
    ps.pod_sandbox_id = (char *)"0123456789abcdef";
    call("/runtime.v1.RuntimeService/PodSandboxStatus", &ps.base, &a);
    ok(has(&a, BERTH_GRPC_NOT_FOUND, "not found"), "PodSandboxStatus of an unknown ID: NOT_FOUND");
    answer_free(&a);

    Runtime__V1__ListPodSandboxRequest ls = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/ListPodSandbox", &ls.base, &a);
    Runtime__V1__ListPodSandboxResponse *lr =
            a.status == 0 ? runtime__v1__list_pod_sandbox_response__unpack(NULL, a.len, a.body)
                          : NULL;
    ok(lr && lr->n_items == 0, "nothing listed after the bad requests");
    if (lr)
        runtime__v1__list_pod_sandbox_response__free_unpacked(lr, NULL);
    answer_free(&a);
    ok(count_files(pods_dir) == 0, "no sandbox record written");

    /* the stats RPCs are served (no containers manager here: the pods
     * manager answers itself) */
    Runtime__V1__PodSandboxStatsRequest pst = RUNTIME__V1__POD_SANDBOX_STATS_REQUEST__INIT;
    pst.pod_sandbox_id = (char *)"0123456789abcdef";
    call("/runtime.v1.RuntimeService/PodSandboxStats", &pst.base, &a);
    ok(has(&a, BERTH_GRPC_NOT_FOUND, "pod sandbox 0123456789abcdef not found"),
       "PodSandboxStats of an unknown ID: NOT_FOUND naming it");
    answer_free(&a);
    Runtime__V1__ListPodSandboxStatsRequest lst = RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
    Runtime__V1__PodSandboxStatsFilter sf = RUNTIME__V1__POD_SANDBOX_STATS_FILTER__INIT;
    sf.id = (char *)"01";
    lst.filter = &sf;
    call("/runtime.v1.RuntimeService/ListPodSandboxStats", &lst.base, &a);
    Runtime__V1__ListPodSandboxStatsResponse *lsr =
            a.status == 0
                    ? runtime__v1__list_pod_sandbox_stats_response__unpack(NULL, a.len, a.body)
                    : NULL;
    ok(lsr && lsr->n_stats == 0, "ListPodSandboxStats with a filter: OK, empty");
    if (lsr)
        runtime__v1__list_pod_sandbox_stats_response__free_unpacked(lsr, NULL);
    answer_free(&a);
    lst.filter = NULL;
    call("/runtime.v1.RuntimeService/ListPodSandboxStats", &lst.base, &a);
    ok(a.status == 0, "ListPodSandboxStats without a filter: OK");
    answer_free(&a);
    Runtime__V1__StreamPodSandboxStatsRequest sst =
            RUNTIME__V1__STREAM_POD_SANDBOX_STATS_REQUEST__INIT;
    uint8_t sbuf[64];
    size_t slen = runtime__v1__stream_pod_sandbox_stats_request__pack(&sst, sbuf);
    int smsgs = 0, sstatus = -1;
    char *smsg = NULL;
    berth_grpc_client_call_stream(cl, "/runtime.v1.RuntimeService/StreamPodSandboxStats", sbuf,
                                  slen, 30000000000ull, count_msg, &smsgs, &sstatus, &smsg, &err);
    check(sstatus == 0 && smsgs == 0,
          "StreamPodSandboxStats: no pods, no message, then OK (%d: %s)", sstatus,
          smsg ? smsg : "");
    berth_free(smsg);
    berth_err_free(&err);

    /* the metrics calls take the same path: no pods, nothing */
    Runtime__V1__ListPodSandboxMetricsRequest lpm =
            RUNTIME__V1__LIST_POD_SANDBOX_METRICS_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/ListPodSandboxMetrics", &lpm.base, &a);
    Runtime__V1__ListPodSandboxMetricsResponse *lpr =
            a.status == 0
                    ? runtime__v1__list_pod_sandbox_metrics_response__unpack(NULL, a.len, a.body)
                    : NULL;
    ok(lpr && lpr->n_pod_metrics == 0, "ListPodSandboxMetrics: OK, empty");
    if (lpr)
        runtime__v1__list_pod_sandbox_metrics_response__free_unpacked(lpr, NULL);
    answer_free(&a);
    smsgs = 0;
    sstatus = -1;
    smsg = NULL;
    berth_grpc_client_call_stream(cl, "/runtime.v1.RuntimeService/StreamPodSandboxMetrics", "", 0,
                                  30000000000ull, count_msg, &smsgs, &sstatus, &smsg, &err);
    check(sstatus == 0 && smsgs == 0,
          "StreamPodSandboxMetrics: no pods, no message, then OK (%d: %s)", sstatus,
          smsg ? smsg : "");
    berth_free(smsg);
    berth_err_free(&err);

    berth_grpc_client_free(cl);
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    berth_config_unref(cfg);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", base, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return nfail ? 1 : 0;
}
