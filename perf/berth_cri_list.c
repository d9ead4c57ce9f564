/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-cri-list: the CRI list calls crictl does not make, from the command
 * line, for tests: the stream forms (StreamContainerStats,
 * StreamPodSandboxStats, StreamPodSandboxMetrics, StreamContainers,
 * StreamPodSandboxes) with an empty request (no filter), against any CRI
 * socket.
 *
 *   berth-cri-list --socket S METHOD
 *
 * Prints one line per item, "message M item ID" (ID: the container or pod
 * sandbox ID), then "messages N" and "status CODE MESSAGE". Exit 0 when the
 * call ended OK, 1 when it ended with an error status, 255 when it could
 * not be made, 2 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/grpc_client.h"
#include "proto/cri.h"

typedef struct out {
    const char *method;
    int messages;
} out_t;

/* Prints the IDs of the items of one stream message. */
static int on_msg(void *ctx, const uint8_t *msg, size_t len)
{
    out_t *o = ctx;
    int m = ++o->messages;
    if (strcmp(o->method, "StreamContainerStats") == 0) {
        Runtime__V1__StreamContainerStatsResponse *r =
                runtime__v1__stream_container_stats_response__unpack(NULL, len, msg);
        for (size_t i = 0; r && i < r->n_container_stats; i++)
            printf("message %d item %s\n", m,
                   r->container_stats[i]->attributes ? r->container_stats[i]->attributes->id : "?");
        if (r)
            runtime__v1__stream_container_stats_response__free_unpacked(r, NULL);
    } else if (strcmp(o->method, "StreamPodSandboxStats") == 0) {
        Runtime__V1__StreamPodSandboxStatsResponse *r =
                runtime__v1__stream_pod_sandbox_stats_response__unpack(NULL, len, msg);
        for (size_t i = 0; r && i < r->n_pod_sandbox_stats; i++)
            printf("message %d item %s\n", m,
                   r->pod_sandbox_stats[i]->attributes ? r->pod_sandbox_stats[i]->attributes->id
                                                       : "?");
        if (r)
            runtime__v1__stream_pod_sandbox_stats_response__free_unpacked(r, NULL);
    } else if (strcmp(o->method, "StreamPodSandboxMetrics") == 0) {
        Runtime__V1__StreamPodSandboxMetricsResponse *r =
                runtime__v1__stream_pod_sandbox_metrics_response__unpack(NULL, len, msg);
        for (size_t i = 0; r && i < r->n_pod_sandbox_metrics; i++)
            printf("message %d item %s metrics %zu containers %zu\n", m,
                   r->pod_sandbox_metrics[i]->pod_sandbox_id, r->pod_sandbox_metrics[i]->n_metrics,
                   r->pod_sandbox_metrics[i]->n_container_metrics);
        if (r)
            runtime__v1__stream_pod_sandbox_metrics_response__free_unpacked(r, NULL);
    } else if (strcmp(o->method, "StreamContainers") == 0) {
        Runtime__V1__StreamContainersResponse *r =
                runtime__v1__stream_containers_response__unpack(NULL, len, msg);
        for (size_t i = 0; r && i < r->n_containers; i++)
            printf("message %d item %s\n", m, r->containers[i]->id);
        if (r)
            runtime__v1__stream_containers_response__free_unpacked(r, NULL);
    } else if (strcmp(o->method, "StreamPodSandboxes") == 0) {
        Runtime__V1__StreamPodSandboxesResponse *r =
                runtime__v1__stream_pod_sandboxes_response__unpack(NULL, len, msg);
        for (size_t i = 0; r && i < r->n_pod_sandboxes; i++)
            printf("message %d item %s\n", m, r->pod_sandboxes[i]->id);
        if (r)
            runtime__v1__stream_pod_sandboxes_response__free_unpacked(r, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "--socket") != 0) {
        fprintf(stderr, "usage: berth-cri-list --socket SOCKET METHOD\n");
        return 2;
    }
    berth_err_t err = NULL;
    berth_grpc_client_t *c = berth_grpc_client_new(argv[2], &err);
    if (c == NULL) {
        fprintf(stderr, "berth-cri-list: %s\n", err ? err->msg : "cannot connect");
        berth_err_free(&err);
        return 255;
    }
    BERTH_AUTO_FREE char *path = berth_asprintf("/runtime.v1.RuntimeService/%s", argv[3]);
    out_t o = {argv[3], 0};
    int status = -1;
    char *msg = NULL;
    if (berth_grpc_client_call_stream(c, path, "", 0, 60000000000ull, on_msg, &o, &status, &msg,
                                      &err) < 0) {
        fprintf(stderr, "berth-cri-list: %s\n", err ? err->msg : "call failed");
        berth_err_free(&err);
        berth_grpc_client_free(c);
        return 255;
    }
    printf("messages %d\nstatus %d %s\n", o.messages, status, msg ? msg : "");
    berth_free(msg);
    berth_grpc_client_free(c);
    return status == 0 ? 0 : 1;
}
