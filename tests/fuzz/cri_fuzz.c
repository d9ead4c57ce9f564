/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for CRI requests up to the actor boundary: the first
 * byte picks one of the CRI v1 methods (every request type), the rest is
 * decoded as its request message with berth's allocator, as actors/cri does;
 * a decoded message goes through the checks berth runs before any actor acts
 * (names, labels and annotations, container resources against this VM's
 * hybrid cgroup layout), is packed again and freed.
 */
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "actors/cri.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "proto/cri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pod(const Runtime__V1__PodSandboxConfig *c)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (c == NULL)
        return;
    if (c->metadata)
        berth_cri_check_len("name", c->metadata->name, BERTH_CRI_MAX_NAME, &err);
    berth_err_free(&err);
    berth_cri_check_map("labels", c->n_labels, (ProtobufCMessage *const *)c->labels, &err);
    berth_err_free(&err);
    berth_cri_check_map("annotations", c->n_annotations, (ProtobufCMessage *const *)c->annotations,
                        &err);
}

static void check_resources(const Runtime__V1__LinuxContainerResources *r)
{
    berth_cgroups_info_t cg = {
            .mode = BERTH_CGROUPS_HYBRID, .memory_swap = true, .cpu_quota = true};
    cg.controllers = BERTH_CG_CPU | BERTH_CG_CPUSET | BERTH_CG_MEMORY | BERTH_CG_PIDS;
    strcpy(cg.hugepage_sizes, "2MB 1GB");
    berth_resources_fit_t f;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_runtimes_fit_resources(&cg, r, &f, &err) == 0) {
        char *doc = berth_runtimes_update_json(&f.res);
        berth_free(doc);
        berth_resources_fit_fini(&f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const berth_cri_method_t *m = berth_cri_method_at(data[0] % berth_cri_method_count());
    ProtobufCAllocator *a = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    ProtobufCMessage *msg = protobuf_c_message_unpack(m->input, a, size - 1, data + 1);
    if (msg == NULL)
        return 0;
    if (m->input == &runtime__v1__run_pod_sandbox_request__descriptor) {
        check_pod(((Runtime__V1__RunPodSandboxRequest *)msg)->config);
    } else if (m->input == &runtime__v1__create_container_request__descriptor) {
        const Runtime__V1__CreateContainerRequest *r = (void *)msg;
        check_pod(r->sandbox_config);
        if (r->config && r->config->linux)
            check_resources(r->config->linux->resources);
    } else if (m->input == &runtime__v1__update_container_resources_request__descriptor) {
        check_resources(((Runtime__V1__UpdateContainerResourcesRequest *)msg)->linux);
    }
    size_t len;
    uint8_t *again = berth_cri_pack(msg, &len);
    berth_free(again);
    protobuf_c_message_free_unpacked(msg, a);
    return 0;
}
