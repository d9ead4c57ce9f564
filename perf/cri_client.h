/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small typed CRI v1 client for perf/ tools and simulators, on the blocking
 * gRPC client of io/grpc_client.h. One client is one connection and is not
 * thread-safe: a tool with several workers opens one client per thread. It
 * talks to any CRI endpoint (berthd, containerd, CRI-O) by socket path and is
 * never linked into berthd.
 *
 * Every call takes a per-call timeout (sent as grpc-timeout) and reports the
 * server's verdict in a berth_cri_status_t. Return convention: < 0 (with
 * *err) only when the transport failed (connection refused or lost, a reply
 * that does not decode); 0 when the call completed, whatever its status. On
 * status OK *resp holds the decoded reply (owned; free it with
 * berth_cri_msg_free), otherwise *resp is NULL.
 *
 * The config builders make PodSandboxConfig and ContainerConfig messages
 * shaped like the kubelet's (metadata, labels, log directory, Linux security
 * context with namespace options, cgroup parent); each built message owns all
 * it points to through an arena freed with the config.
 */
#ifndef BERTH_PERF_CRI_CLIENT_H
#define BERTH_PERF_CRI_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "engine/err.h"
#include "io/grpc.h" /* enum berth_grpc_code: a call's status */

typedef struct berth_cri_client berth_cri_client_t;

/* The server's verdict for one call: code is an enum berth_grpc_code, msg
 * is owned (NULL when the server sent none). */
typedef struct berth_cri_status {
    int code;
    char *msg;
} berth_cri_status_t;

/* Frees st->msg and resets st to OK. NULL-safe. */
void berth_cri_status_fini(berth_cri_status_t *st);

/* Connects to the CRI unix socket at path. Returns owned, or NULL with *err. */
berth_cri_client_t *berth_cri_client_new(const char *path, berth_err_t *err);
/* Closes the connection. NULL-safe. */
void berth_cri_client_free(berth_cri_client_t *c);
/* The socket path the client was opened on (borrowed). */
const char *berth_cri_client_path(const berth_cri_client_t *c);

/* Frees a reply returned by any call below. NULL-safe. */
void berth_cri_msg_free(void *msg);

/* Calls the unary CRI method at path ("/runtime.v1.RuntimeService/Version")
 * with req; the reply is decoded with the method's output descriptor. */
int berth_cri_client_invoke(berth_cri_client_t *c, const char *path, const ProtobufCMessage *req,
                            uint64_t timeout_ns, ProtobufCMessage **resp, berth_cri_status_t *st,
                            berth_err_t *err);

/* Typed calls: req is borrowed, *resp returned owned on status OK. */
int berth_cri_version(berth_cri_client_t *c, const Runtime__V1__VersionRequest *req,
                      uint64_t timeout_ns, Runtime__V1__VersionResponse **resp,
                      berth_cri_status_t *st, berth_err_t *err);
int berth_cri_status(berth_cri_client_t *c, const Runtime__V1__StatusRequest *req,
                     uint64_t timeout_ns, Runtime__V1__StatusResponse **resp,
                     berth_cri_status_t *st, berth_err_t *err);
int berth_cri_run_pod_sandbox(berth_cri_client_t *c, const Runtime__V1__RunPodSandboxRequest *req,
                              uint64_t timeout_ns, Runtime__V1__RunPodSandboxResponse **resp,
                              berth_cri_status_t *st, berth_err_t *err);
int berth_cri_stop_pod_sandbox(berth_cri_client_t *c, const Runtime__V1__StopPodSandboxRequest *req,
                               uint64_t timeout_ns, Runtime__V1__StopPodSandboxResponse **resp,
                               berth_cri_status_t *st, berth_err_t *err);
int berth_cri_remove_pod_sandbox(berth_cri_client_t *c,
                                 const Runtime__V1__RemovePodSandboxRequest *req,
                                 uint64_t timeout_ns, Runtime__V1__RemovePodSandboxResponse **resp,
                                 berth_cri_status_t *st, berth_err_t *err);
int berth_cri_pod_sandbox_status(berth_cri_client_t *c,
                                 const Runtime__V1__PodSandboxStatusRequest *req,
                                 uint64_t timeout_ns, Runtime__V1__PodSandboxStatusResponse **resp,
                                 berth_cri_status_t *st, berth_err_t *err);
int berth_cri_list_pod_sandbox(berth_cri_client_t *c, const Runtime__V1__ListPodSandboxRequest *req,
                               uint64_t timeout_ns, Runtime__V1__ListPodSandboxResponse **resp,
                               berth_cri_status_t *st, berth_err_t *err);
int berth_cri_create_container(berth_cri_client_t *c,
                               const Runtime__V1__CreateContainerRequest *req, uint64_t timeout_ns,
                               Runtime__V1__CreateContainerResponse **resp, berth_cri_status_t *st,
                               berth_err_t *err);
int berth_cri_start_container(berth_cri_client_t *c, const Runtime__V1__StartContainerRequest *req,
                              uint64_t timeout_ns, Runtime__V1__StartContainerResponse **resp,
                              berth_cri_status_t *st, berth_err_t *err);
int berth_cri_stop_container(berth_cri_client_t *c, const Runtime__V1__StopContainerRequest *req,
                             uint64_t timeout_ns, Runtime__V1__StopContainerResponse **resp,
                             berth_cri_status_t *st, berth_err_t *err);
int berth_cri_remove_container(berth_cri_client_t *c,
                               const Runtime__V1__RemoveContainerRequest *req, uint64_t timeout_ns,
                               Runtime__V1__RemoveContainerResponse **resp, berth_cri_status_t *st,
                               berth_err_t *err);
int berth_cri_list_containers(berth_cri_client_t *c, const Runtime__V1__ListContainersRequest *req,
                              uint64_t timeout_ns, Runtime__V1__ListContainersResponse **resp,
                              berth_cri_status_t *st, berth_err_t *err);
int berth_cri_container_status(berth_cri_client_t *c,
                               const Runtime__V1__ContainerStatusRequest *req, uint64_t timeout_ns,
                               Runtime__V1__ContainerStatusResponse **resp, berth_cri_status_t *st,
                               berth_err_t *err);
int berth_cri_list_container_stats(berth_cri_client_t *c,
                                   const Runtime__V1__ListContainerStatsRequest *req,
                                   uint64_t timeout_ns,
                                   Runtime__V1__ListContainerStatsResponse **resp,
                                   berth_cri_status_t *st, berth_err_t *err);
int berth_cri_list_pod_sandbox_stats(berth_cri_client_t *c,
                                     const Runtime__V1__ListPodSandboxStatsRequest *req,
                                     uint64_t timeout_ns,
                                     Runtime__V1__ListPodSandboxStatsResponse **resp,
                                     berth_cri_status_t *st, berth_err_t *err);
int berth_cri_list_pod_sandbox_metrics(berth_cri_client_t *c,
                                       const Runtime__V1__ListPodSandboxMetricsRequest *req,
                                       uint64_t timeout_ns,
                                       Runtime__V1__ListPodSandboxMetricsResponse **resp,
                                       berth_cri_status_t *st, berth_err_t *err);
int berth_cri_pull_image(berth_cri_client_t *c, const Runtime__V1__PullImageRequest *req,
                         uint64_t timeout_ns, Runtime__V1__PullImageResponse **resp,
                         berth_cri_status_t *st, berth_err_t *err);
int berth_cri_image_status(berth_cri_client_t *c, const Runtime__V1__ImageStatusRequest *req,
                           uint64_t timeout_ns, Runtime__V1__ImageStatusResponse **resp,
                           berth_cri_status_t *st, berth_err_t *err);

int berth_cri_exec_call(berth_cri_client_t *c, const Runtime__V1__ExecRequest *req,
                        uint64_t timeout_ns, Runtime__V1__ExecResponse **resp,
                        berth_cri_status_t *st, berth_err_t *err);
int berth_cri_attach_call(berth_cri_client_t *c, const Runtime__V1__AttachRequest *req,
                          uint64_t timeout_ns, Runtime__V1__AttachResponse **resp,
                          berth_cri_status_t *st, berth_err_t *err);
int berth_cri_port_forward_call(berth_cri_client_t *c, const Runtime__V1__PortForwardRequest *req,
                                uint64_t timeout_ns, Runtime__V1__PortForwardResponse **resp,
                                berth_cri_status_t *st, berth_err_t *err);

/* The streaming calls' URLs (perf/stream_client.h opens them): Exec of
 * argv (NULL-terminated) in ctr_id, Attach to ctr_id, PortForward to ports
 * of pod_id; *url (owned) on status OK. */
typedef struct berth_cri_stdio {
    bool in, out, err, tty;
} berth_cri_stdio_t;
int berth_cri_exec_url(berth_cri_client_t *c, const char *ctr_id, const char *const *argv,
                       const berth_cri_stdio_t *io, uint64_t timeout_ns, char **url,
                       berth_cri_status_t *st, berth_err_t *err);
int berth_cri_attach_url(berth_cri_client_t *c, const char *ctr_id, const berth_cri_stdio_t *io,
                         uint64_t timeout_ns, char **url, berth_cri_status_t *st, berth_err_t *err);
int berth_cri_port_forward_url(berth_cri_client_t *c, const char *pod_id, const int32_t *ports,
                               size_t nports, uint64_t timeout_ns, char **url,
                               berth_cri_status_t *st, berth_err_t *err);

/* Shortcuts for the id-in, nothing-out calls tools make in bulk. */
int berth_cri_stop_pod(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                       berth_cri_status_t *st, berth_err_t *err);
int berth_cri_remove_pod(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                         berth_cri_status_t *st, berth_err_t *err);
int berth_cri_start_ctr(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                        berth_cri_status_t *st, berth_err_t *err);
int berth_cri_stop_ctr(berth_cri_client_t *c, const char *ctr_id, int64_t grace_s,
                       uint64_t timeout_ns, berth_cri_status_t *st, berth_err_t *err);
int berth_cri_remove_ctr(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                         berth_cri_status_t *st, berth_err_t *err);
/* ImageStatus of image: *present says whether the runtime has it (status OK
 * and an image in the reply), as the kubelet asks before it pulls. */
int berth_cri_image_present(berth_cri_client_t *c, const char *image, uint64_t timeout_ns,
                            bool *present, berth_cri_status_t *st, berth_err_t *err);
/* PodSandboxStatus / ContainerStatus of one id, the reply dropped: the
 * kubelet's status reads after RunPodSandbox and StartContainer. */
int berth_cri_pod_status_id(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                            berth_cri_status_t *st, berth_err_t *err);
int berth_cri_ctr_status_id(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                            berth_cri_status_t *st, berth_err_t *err);
/* PullImage of image (no auth); *image_ref (owned) gets the runtime's ref. */
int berth_cri_pull(berth_cri_client_t *c, const char *image, uint64_t timeout_ns, char **image_ref,
                   berth_cri_status_t *st, berth_err_t *err);

/* What a kubelet puts in a pod: every string is copied. */
typedef struct berth_cri_pod_spec {
    const char *name;       /* required */
    const char *uid;        /* required */
    const char *namespace_; /* default "default" */
    uint32_t attempt;
    const char *log_root;        /* log dir = <log_root>/<ns>_<name>_<uid>; default /var/log/pods */
    const char *cgroup_parent;   /* default "/kubepods/besteffort/pod<uid>" */
    const char *runtime_handler; /* "" for the default */
    int host_network;            /* NamespaceMode NODE for network */
} berth_cri_pod_spec_t;

typedef struct berth_cri_ctr_spec {
    const char *name; /* required */
    uint32_t attempt;
    const char *image;          /* required */
    const char *const *command; /* NULL-terminated; NULL keeps the image's */
    const char *const *args;    /* NULL-terminated; may be NULL */
} berth_cri_ctr_spec_t;

/* A built request config; msg points into memory the config owns. */
typedef struct berth_cri_pod_config berth_cri_pod_config_t;
typedef struct berth_cri_ctr_config berth_cri_ctr_config_t;

/* Build a PodSandboxConfig as the kubelet sends it. Returns owned. */
berth_cri_pod_config_t *berth_cri_pod_config_new(const berth_cri_pod_spec_t *spec);
void berth_cri_pod_config_free(berth_cri_pod_config_t *cfg);
/* The message (borrowed from cfg). */
Runtime__V1__PodSandboxConfig *berth_cri_pod_config_msg(berth_cri_pod_config_t *cfg);
/* The runtime handler given in the spec (borrowed). */
const char *berth_cri_pod_config_handler(const berth_cri_pod_config_t *cfg);

/* Build a ContainerConfig for a container of the pod described by pod (the
 * kubelet repeats the pod's labels and uses <name>/<attempt>.log). */
berth_cri_ctr_config_t *berth_cri_ctr_config_new(const berth_cri_ctr_spec_t *spec,
                                                 const berth_cri_pod_spec_t *pod);
void berth_cri_ctr_config_free(berth_cri_ctr_config_t *cfg);
Runtime__V1__ContainerConfig *berth_cri_ctr_config_msg(berth_cri_ctr_config_t *cfg);

/* RunPodSandbox with cfg; *pod_id (owned) on status OK. */
int berth_cri_run_pod(berth_cri_client_t *c, berth_cri_pod_config_t *cfg, uint64_t timeout_ns,
                      char **pod_id, berth_cri_status_t *st, berth_err_t *err);
/* CreateContainer in pod_id with cfg and the pod's config; *ctr_id on OK. */
int berth_cri_create_ctr(berth_cri_client_t *c, const char *pod_id, berth_cri_ctr_config_t *cfg,
                         berth_cri_pod_config_t *pod, uint64_t timeout_ns, char **ctr_id,
                         berth_cri_status_t *st, berth_err_t *err);

#endif
