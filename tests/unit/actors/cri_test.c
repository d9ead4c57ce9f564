// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI service actor behind the real gRPC server, driven by the project's
 * gRPC client on a temporary socket: Version, Status (with the network
 * condition following the CNI directory), RuntimeConfig, UpdateRuntimeConfig,
 * UNIMPLEMENTED naming the method, unknown methods, undecodable requests, and
 * the server still answering after all of them.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/cadvisor.h"
#include "actors/cri.h"
#include "actors/netstatus.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/grpc_client.h"
#include "io/rromount.h"
#include "io/userns.h"
#include "proto/cri.h"
#include "tests/unit/actors/cricall.h"
#include "tests/unit/check.h"

static const char *sock;
static void call_raw(const char *method, const void *body, size_t len, answer_t *a)
{
    berth_err_t err = NULL;
    memset(a, 0, sizeof(*a));
    if (berth_grpc_client_call(cl, method, body, len, 5000000000ull, &a->body, &a->len, &a->status,
                               &a->msg, &err) < 0) {
        a->status = -1;
        berth_err_free(&err);
    }
}

static Runtime__V1__StatusResponse *status(answer_t *a)
{
    Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
    req.verbose = 1;
    call("/runtime.v1.RuntimeService/Status", &req.base, a);
    if (a->status != 0)
        return NULL;
    return runtime__v1__status_response__unpack(NULL, a->len, a->body);
}

static const Runtime__V1__RuntimeCondition *cond(const Runtime__V1__StatusResponse *s,
                                                 const char *type)
{
    for (size_t i = 0; s && s->status && i < s->status->n_conditions; i++) {
        if (strcmp(s->status->conditions[i]->type, type) == 0)
            return s->status->conditions[i];
    }
    return NULL;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

int main(void)
{
    printf("1..24\n");
    char tmpl[] = "/tmp/berth-cri-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *netdir = berth_asprintf("%s/net.d", base);
    char *plugdir = berth_asprintf("%s/bin", base);
    mkdir(netdir, 0755);
    mkdir(plugdir, 0755);
    sock = berth_asprintf("%s/berth.sock", base);

    berth_err_t err = NULL;
    berth_engine_config_t ecfg = {.workers = 2};
    if (berth_engine_start(&ecfg, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    berth_blocking_start(2, &err);
    const char *pdirs[] = {plugdir, NULL};
    berth_netstatus_config_t ncfg = {
            .network_dir = netdir, .plugin_dirs = pdirs, .rescan_ns = 50 * 1000 * 1000};
    berth_handle_t ns = berth_netstatus_spawn(&ncfg);
    const char *handlers[] = {"crun", "runc", NULL};
    berth_cri_config_t ccfg = {.runtime_version = "9.9.9",
                               .handlers = handlers,
                               .default_handler = "crun",
                               .netstatus = ns};
    berth_handle_t cri = berth_cri_spawn(&ccfg);
    berth_grpc_server_config_t scfg = {.path = sock, .mode = 0660, .dispatch = cri};
    berth_handle_t listener;
    if (berth_grpc_server_start(&scfg, &listener, &err) < 0) {
        printf("Bail out! server: %s\n", err->msg);
        return 1;
    }
    cl = berth_grpc_client_new(sock, &err);
    ok(cl != NULL, "client connects");
    if (cl == NULL)
        return 1;

    answer_t a;
    Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/Version", &vreq.base, &a);
    Runtime__V1__VersionResponse *v =
            a.status == 0 ? runtime__v1__version_response__unpack(NULL, a.len, a.body) : NULL;
    ok(v && strcmp(v->runtime_name, "berth") == 0, "Version: runtime name berth");
    ok(v && strcmp(v->runtime_api_version, "v1") == 0 && strcmp(v->runtime_version, "9.9.9") == 0,
       "Version: api v1 and berth's version");
    if (v)
        runtime__v1__version_response__free_unpacked(v, NULL);
    answer_free(&a);

    /* The first scan may not have arrived yet; either way the network is
     * not ready with an empty directory. */
    Runtime__V1__StatusResponse *s = NULL;
    const Runtime__V1__RuntimeCondition *net = NULL;
    for (int i = 0; i < 100; i++) {
        s = status(&a);
        net = cond(s, "NetworkReady");
        if (net && strstr(net->message, "no CNI configuration file"))
            break;
        if (s)
            runtime__v1__status_response__free_unpacked(s, NULL);
        s = NULL;
        answer_free(&a);
        usleep(20000);
    }
    const Runtime__V1__RuntimeCondition *rt = cond(s, "RuntimeReady");
    ok(rt && rt->status, "Status: RuntimeReady true");
    ok(net && !net->status && strcmp(net->reason, "NetworkPluginNotReady") == 0,
       "Status: NetworkReady false with a reason while no conflist exists");
    ok(s && s->n_runtime_handlers == 3 && strcmp(s->runtime_handlers[0]->name, "crun") == 0 &&
               strcmp(s->runtime_handlers[2]->name, "") == 0,
       "Status: runtime handlers listed, the default also as \"\"");
    ok(s && s->runtime_handlers[0]->features &&
               s->runtime_handlers[0]->features->recursive_read_only_mounts ==
                       berth_rro_supported() &&
               s->runtime_handlers[2]->features &&
               s->runtime_handlers[2]->features->recursive_read_only_mounts ==
                       berth_rro_supported(),
       "Status: recursive read-only mounts advertised per handler where the kernel has them");
    ok(s && s->runtime_handlers[0]->features->user_namespaces == berth_userns_supported(NULL) &&
               s->runtime_handlers[2]->features->user_namespaces == berth_userns_supported(NULL) &&
               s->features->user_namespaces_host_network == berth_userns_supported(NULL),
       "Status: user namespaces advertised per handler where the probe passed");
    ok(s && s->features && s->features->supplemental_groups_policy,
       "Status: supplemental_groups_policy advertised");
    ok(s && s->n_info == 3 && strstr(s->info[0]->value, "\"defaultRuntime\":\"crun\""),
       "Status verbose: info carries the config");
    ok(s && s->n_info == 3 && strcmp(s->info[1]->key, "stages") == 0 &&
               strstr(s->info[1]->value, "\"hists\":{") && strstr(s->info[1]->value, "\"rpc "),
       "Status verbose: info carries the stage histograms (with the RPCs answered so far)");
    /* no daemon start here: nothing probed CRIU, and the entry says so */
    ok(s && s->n_info == 3 && strcmp(s->info[2]->key, "checkpoint") == 0 &&
               strstr(s->info[2]->value, "\"probed\":false") &&
               strstr(s->info[2]->value, "\"usable\":false"),
       "Status verbose: info says whether checkpoints work (not probed yet)");
    if (s)
        runtime__v1__status_response__free_unpacked(s, NULL);
    answer_free(&a);

    /* A usable conflist appears: NetworkReady follows without a restart. */
    char *bridge = berth_asprintf("%s/bridge", plugdir);
    write_file(bridge, "#!/bin/sh\n", 0755);
    char *conf = berth_asprintf("%s/10-test.conflist", netdir);
    write_file(conf,
               "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"bridge\"}]}",
               0644);
    bool ready = false;
    for (int i = 0; i < 200 && !ready; i++) {
        s = status(&a);
        net = cond(s, "NetworkReady");
        ready = net && net->status;
        if (s)
            runtime__v1__status_response__free_unpacked(s, NULL);
        answer_free(&a);
        if (!ready)
            usleep(20000);
    }
    ok(ready, "Status: NetworkReady turns true once a usable conflist exists");

    Runtime__V1__RuntimeConfigRequest rcreq = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/RuntimeConfig", &rcreq.base, &a);
    Runtime__V1__RuntimeConfigResponse *rc =
            a.status == 0 ? runtime__v1__runtime_config_response__unpack(NULL, a.len, a.body)
                          : NULL;
    ok(rc && rc->linux && rc->linux->cgroup_driver == RUNTIME__V1__CGROUP_DRIVER__CGROUPFS,
       "RuntimeConfig: cgroupfs driver");
    if (rc)
        runtime__v1__runtime_config_response__free_unpacked(rc, NULL);
    answer_free(&a);

    Runtime__V1__NetworkConfig nc = RUNTIME__V1__NETWORK_CONFIG__INIT;
    nc.pod_cidr = (char *)"10.88.0.0/16";
    Runtime__V1__RuntimeConfig rcfg = RUNTIME__V1__RUNTIME_CONFIG__INIT;
    rcfg.network_config = &nc;
    Runtime__V1__UpdateRuntimeConfigRequest ureq = RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
    ureq.runtime_config = &rcfg;
    call("/runtime.v1.RuntimeService/UpdateRuntimeConfig", &ureq.base, &a);
    ok(a.status == 0, "UpdateRuntimeConfig: OK");
    answer_free(&a);
    s = status(&a);
    ok(s && s->n_info == 3 && strstr(s->info[0]->value, "10.88.0.0/16"),
       "UpdateRuntimeConfig: pod CIDR shown in verbose status");
    if (s)
        runtime__v1__status_response__free_unpacked(s, NULL);
    answer_free(&a);

    Runtime__V1__RunPodSandboxRequest rp = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/RunPodSandbox", &rp.base, &a);
    ok(a.status == 12 && a.msg && strstr(a.msg, "RunPodSandbox"),
       "unimplemented method: UNIMPLEMENTED naming it");
    answer_free(&a);
    call_raw("/runtime.v1.ImageService/PullImage", NULL, 0, &a);
    ok(a.status == 12 && a.msg && strstr(a.msg, "PullImage"), "image method: UNIMPLEMENTED");
    answer_free(&a);
    Runtime__V1__ListMetricDescriptorsRequest md =
            RUNTIME__V1__LIST_METRIC_DESCRIPTORS_REQUEST__INIT;
    call("/runtime.v1.RuntimeService/ListMetricDescriptors", &md.base, &a);
    Runtime__V1__ListMetricDescriptorsResponse *mr =
            a.status == 0
                    ? runtime__v1__list_metric_descriptors_response__unpack(NULL, a.len, a.body)
                    : NULL;
    check(mr && mr->n_descriptors == berth_cadvisor_n_descriptors() &&
                  strcmp(mr->descriptors[0]->name, "container_cpu_usage_seconds_total") == 0 &&
                  mr->descriptors[0]->n_label_keys == 7 && mr->descriptors[0]->help[0] != '\0',
          "ListMetricDescriptors: answered by the CRI actor, every descriptor (%zu)",
          mr ? mr->n_descriptors : 0);
    if (mr)
        runtime__v1__list_metric_descriptors_response__free_unpacked(mr, NULL);
    answer_free(&a);
    call_raw("/runtime.v1.RuntimeService/NoSuchThing", NULL, 0, &a);
    ok(a.status == 12 && a.msg && strstr(a.msg, "NoSuchThing"), "unknown method: UNIMPLEMENTED");
    answer_free(&a);
    /* field 1 (version, string) with a length running past the end */
    static const uint8_t garbage[] = {0x0a, 0x7f, 'x'};
    call_raw("/runtime.v1.RuntimeService/Version", garbage, sizeof(garbage), &a);
    ok(a.status == 3 && a.msg && strstr(a.msg, "Version"),
       "undecodable request: INVALID_ARGUMENT naming the method");
    answer_free(&a);
    call("/runtime.v1.RuntimeService/Version", &vreq.base, &a);
    ok(a.status == 0, "still serving after bad requests");
    answer_free(&a);

    struct stat st;
    ok(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0660, "socket mode 0660");

    /* The one table from kinds to what a client sees: the codes every
     * answer carried before errors had kinds. */
    static const int want[BERTH_ERR_KIND_COUNT] = {
            [BERTH_ERR_UNKNOWN] = 2,      [BERTH_ERR_CANCELLED] = 1,
            [BERTH_ERR_INVALID] = 3,      [BERTH_ERR_TIMEOUT] = 4,
            [BERTH_ERR_NOT_FOUND] = 5,    [BERTH_ERR_EXISTS] = 6,
            [BERTH_ERR_DENIED] = 7,       [BERTH_ERR_EXHAUSTED] = 8,
            [BERTH_ERR_PRECONDITION] = 9, [BERTH_ERR_ABORTED] = 10,
            [BERTH_ERR_RANGE] = 11,       [BERTH_ERR_UNSUPPORTED] = 12,
            [BERTH_ERR_INTERNAL] = 13,    [BERTH_ERR_UNAVAILABLE] = 14,
            [BERTH_ERR_DATA_LOSS] = 15,   [BERTH_ERR_UNAUTHENTICATED] = 16,
    };
    bool same = berth_cri_code(-1) == BERTH_GRPC_UNKNOWN &&
                berth_cri_code(BERTH_ERR_KIND_COUNT) == BERTH_GRPC_UNKNOWN;
    for (int k = 0; k < BERTH_ERR_KIND_COUNT; k++)
        same = same && berth_cri_code(k) == want[k];
    ok(same, "each error kind answers its gRPC code; a value that is no kind answers UNKNOWN");

    berth_grpc_client_free(cl);
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", base, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return nfail ? 1 : 0;
}
