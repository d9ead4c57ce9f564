/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed CRI client: packs a protobuf-c request, makes one blocking gRPC
 * call and decodes the reply with the output descriptor from proto/cri.h's
 * method table, so a method's reply type is never named by hand twice. It
 * also builds kubelet-shaped configs in an arena so a request can be sent
 * again byte for byte (the kubelet retries the same request). It must never
 * be linked into berthd: every call blocks the calling thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/grpc_client.h"
#include "perf/cri_client.h"
#include "cri.h"

struct berth_cri_client {
    berth_grpc_client_t *grpc;
    char *path;
};

void berth_cri_status_fini(berth_cri_status_t *st)
{
    if (st == NULL)
        return;
    berth_free(st->msg);
    st->msg = NULL;
    st->code = BERTH_GRPC_OK;
}

berth_cri_client_t *berth_cri_client_new(const char *path, berth_err_t *err)
{
    berth_grpc_client_t *g = berth_grpc_client_new(path, err);
    if (g == NULL)
        return NULL;
    berth_cri_client_t *c = berth_calloc(1, sizeof(*c));
    c->grpc = g;
    c->path = berth_strdup(path);
    return c;
}

void berth_cri_client_free(berth_cri_client_t *c)
{
    if (c == NULL)
        return;
    berth_grpc_client_free(c->grpc);
    berth_free(c->path);
    berth_free(c);
}

const char *berth_cri_client_path(const berth_cri_client_t *c)
{
    return c->path;
}

void berth_cri_msg_free(void *msg)
{
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, berth_alloc_protobuf_allocator());
}

int berth_cri_client_invoke(berth_cri_client_t *c, const char *path, const ProtobufCMessage *req,
                            uint64_t timeout_ns, ProtobufCMessage **resp, berth_cri_status_t *st,
                            berth_err_t *err)
{
    *resp = NULL;
    st->code = BERTH_GRPC_OK;
    st->msg = NULL;
    const berth_cri_method_t *m = berth_cri_method_lookup(path);
    if (m == NULL || m->server_streaming)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s is not a unary CRI v1 method",
                              path);
    if (req->descriptor != m->input)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s takes %s, not %s", path,
                              m->input->name, req->descriptor->name);

    size_t len = protobuf_c_message_get_packed_size(req);
    BERTH_AUTO_FREE uint8_t *buf = berth_malloc(len ? len : 1);
    protobuf_c_message_pack(req, buf);

    BERTH_AUTO_FREE uint8_t *out = NULL;
    size_t out_len = 0;
    int code = BERTH_GRPC_OK;
    char *msg = NULL;
    if (berth_grpc_client_call(c->grpc, path, buf, len, timeout_ns, &out, &out_len, &code, &msg,
                               err) < 0)
        return berth_err_prefix(err, "%s on %s", m->name, c->path);
    st->code = code;
    st->msg = msg;
    if (code != BERTH_GRPC_OK)
        return 0;
    /* An OK reply without a message is an empty message: proto3 packs an
     * all-default message to zero bytes, and some servers send no frame. */
    ProtobufCMessage *r = protobuf_c_message_unpack(m->output, berth_alloc_protobuf_allocator(),
                                                    out_len, out ? out : (const uint8_t *)"");
    if (r == NULL)
        return berth_err_make(err, EPROTO, BERTH_ERR_INTERNAL,
                              "%s on %s: reply of %zu bytes does not decode as %s", m->name,
                              c->path, out_len, m->output->name);
    *resp = r;
    return 0;
}

#define CRI_RUNTIME "/runtime.v1.RuntimeService/"
#define CRI_IMAGE "/runtime.v1.ImageService/"

#define CRI_TYPED(fn, svc, method, Msg)                                                            \
    int fn(berth_cri_client_t *c, const Runtime__V1__##Msg##Request *req, uint64_t timeout_ns,     \
           Runtime__V1__##Msg##Response **resp, berth_cri_status_t *st, berth_err_t *err)          \
    {                                                                                              \
        ProtobufCMessage *r = NULL;                                                                \
        int ret = berth_cri_client_invoke(c, svc method, &req->base, timeout_ns, &r, st, err);     \
        *resp = (Runtime__V1__##Msg##Response *)r;                                                 \
        return ret;                                                                                \
    }

CRI_TYPED(berth_cri_version, CRI_RUNTIME, "Version", Version)
CRI_TYPED(berth_cri_status, CRI_RUNTIME, "Status", Status)
CRI_TYPED(berth_cri_run_pod_sandbox, CRI_RUNTIME, "RunPodSandbox", RunPodSandbox)
CRI_TYPED(berth_cri_stop_pod_sandbox, CRI_RUNTIME, "StopPodSandbox", StopPodSandbox)
CRI_TYPED(berth_cri_remove_pod_sandbox, CRI_RUNTIME, "RemovePodSandbox", RemovePodSandbox)
CRI_TYPED(berth_cri_pod_sandbox_status, CRI_RUNTIME, "PodSandboxStatus", PodSandboxStatus)
CRI_TYPED(berth_cri_list_pod_sandbox, CRI_RUNTIME, "ListPodSandbox", ListPodSandbox)
CRI_TYPED(berth_cri_create_container, CRI_RUNTIME, "CreateContainer", CreateContainer)
CRI_TYPED(berth_cri_start_container, CRI_RUNTIME, "StartContainer", StartContainer)
CRI_TYPED(berth_cri_stop_container, CRI_RUNTIME, "StopContainer", StopContainer)
CRI_TYPED(berth_cri_remove_container, CRI_RUNTIME, "RemoveContainer", RemoveContainer)
CRI_TYPED(berth_cri_list_containers, CRI_RUNTIME, "ListContainers", ListContainers)
CRI_TYPED(berth_cri_container_status, CRI_RUNTIME, "ContainerStatus", ContainerStatus)
CRI_TYPED(berth_cri_list_container_stats, CRI_RUNTIME, "ListContainerStats", ListContainerStats)
CRI_TYPED(berth_cri_list_pod_sandbox_stats, CRI_RUNTIME, "ListPodSandboxStats", ListPodSandboxStats)
CRI_TYPED(berth_cri_list_pod_sandbox_metrics, CRI_RUNTIME, "ListPodSandboxMetrics",
          ListPodSandboxMetrics)
CRI_TYPED(berth_cri_pull_image, CRI_IMAGE, "PullImage", PullImage)
CRI_TYPED(berth_cri_image_status, CRI_IMAGE, "ImageStatus", ImageStatus)

CRI_TYPED(berth_cri_exec_call, CRI_RUNTIME, "Exec", Exec)
CRI_TYPED(berth_cri_attach_call, CRI_RUNTIME, "Attach", Attach)
CRI_TYPED(berth_cri_port_forward_call, CRI_RUNTIME, "PortForward", PortForward)

/* The URL of a streaming reply; an OK reply without one is an error of the
 * server's, reported as a status so the caller handles both alike. */
static void take_url(char **src, char **url, berth_cri_status_t *st, const char *what)
{
    if (*src != NULL && (*src)[0] != '\0') {
        *url = *src;
        *src = NULL;
        return;
    }
    st->code = BERTH_GRPC_INTERNAL;
    st->msg = berth_asprintf("%s answered OK without a URL", what);
}

int berth_cri_exec_url(berth_cri_client_t *c, const char *ctr_id, const char *const *argv,
                       const berth_cri_stdio_t *io, uint64_t timeout_ns, char **url,
                       berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
    Runtime__V1__ExecResponse *resp = NULL;
    *url = NULL;
    req.container_id = (char *)ctr_id;
    while (argv[req.n_cmd] != NULL)
        req.n_cmd++;
    req.cmd = (char **)argv;
    req.stdin = io->in;
    req.stdout = io->out;
    req.stderr = io->err;
    req.tty = io->tty;
    int r = berth_cri_exec_call(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp)
        take_url(&resp->url, url, st, "Exec");
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_attach_url(berth_cri_client_t *c, const char *ctr_id, const berth_cri_stdio_t *io,
                         uint64_t timeout_ns, char **url, berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
    Runtime__V1__AttachResponse *resp = NULL;
    *url = NULL;
    req.container_id = (char *)ctr_id;
    req.stdin = io->in;
    req.stdout = io->out;
    req.stderr = io->err;
    req.tty = io->tty;
    int r = berth_cri_attach_call(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp)
        take_url(&resp->url, url, st, "Attach");
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_port_forward_url(berth_cri_client_t *c, const char *pod_id, const int32_t *ports,
                               size_t nports, uint64_t timeout_ns, char **url,
                               berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
    Runtime__V1__PortForwardResponse *resp = NULL;
    *url = NULL;
    req.pod_sandbox_id = (char *)pod_id;
    req.n_port = nports;
    req.port = (int32_t *)ports;
    int r = berth_cri_port_forward_call(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp)
        take_url(&resp->url, url, st, "PortForward");
    berth_cri_msg_free(resp);
    return r;
}

/* The id-only shortcuts: the strings are only borrowed for the call, so the
 * const casts never let protobuf-c write or free them. */
int berth_cri_stop_pod(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                       berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__StopPodSandboxResponse *resp = NULL;
    req.pod_sandbox_id = (char *)pod_id;
    int r = berth_cri_stop_pod_sandbox(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_remove_pod(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                         berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RemovePodSandboxResponse *resp = NULL;
    req.pod_sandbox_id = (char *)pod_id;
    int r = berth_cri_remove_pod_sandbox(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_start_ctr(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                        berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
    Runtime__V1__StartContainerResponse *resp = NULL;
    req.container_id = (char *)ctr_id;
    int r = berth_cri_start_container(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_stop_ctr(berth_cri_client_t *c, const char *ctr_id, int64_t grace_s,
                       uint64_t timeout_ns, berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
    Runtime__V1__StopContainerResponse *resp = NULL;
    req.container_id = (char *)ctr_id;
    req.timeout = grace_s;
    int r = berth_cri_stop_container(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_remove_ctr(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                         berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
    Runtime__V1__RemoveContainerResponse *resp = NULL;
    req.container_id = (char *)ctr_id;
    int r = berth_cri_remove_container(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_image_present(berth_cri_client_t *c, const char *image, uint64_t timeout_ns,
                            bool *present, berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
    Runtime__V1__ImageStatusResponse *resp = NULL;
    spec.image = (char *)image;
    req.image = &spec;
    *present = false;
    int r = berth_cri_image_status(c, &req, timeout_ns, &resp, st, err);
    /* A missing image is status OK with no image in the reply (CRI). */
    if (r == 0 && resp != NULL)
        *present = resp->image != NULL;
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_pod_status_id(berth_cri_client_t *c, const char *pod_id, uint64_t timeout_ns,
                            berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
    Runtime__V1__PodSandboxStatusResponse *resp = NULL;
    req.pod_sandbox_id = (char *)pod_id;
    int r = berth_cri_pod_sandbox_status(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_ctr_status_id(berth_cri_client_t *c, const char *ctr_id, uint64_t timeout_ns,
                            berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    req.container_id = (char *)ctr_id;
    int r = berth_cri_container_status(c, &req, timeout_ns, &resp, st, err);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_pull(berth_cri_client_t *c, const char *image, uint64_t timeout_ns, char **image_ref,
                   berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__PullImageResponse *resp = NULL;
    spec.image = (char *)image;
    req.image = &spec;
    if (image_ref)
        *image_ref = NULL;
    int r = berth_cri_pull_image(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp != NULL && image_ref)
        *image_ref = berth_strdup(resp->image_ref);
    berth_cri_msg_free(resp);
    return r;
}

/* ---- kubelet-shaped configs ---------------------------------------------- */

/* Every allocation of a built config hangs on one list, so the message tree
 * needs no knowledge of which fields hold protobuf-c's static defaults. */
typedef struct arena_block {
    struct arena_block *next;
    max_align_t data[];
} arena_block_t;

typedef struct arena {
    arena_block_t *head;
} arena_t;

static void *arena_alloc(arena_t *a, size_t n)
{
    arena_block_t *b = berth_calloc(1, sizeof(*b) + n);
    b->next = a->head;
    a->head = b;
    return b->data;
}

static char *arena_strdup(arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);
    memcpy(p, s, n);
    return p;
}

static char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *s = berth_vasprintf(fmt, ap);
    va_end(ap);
    return arena_strdup(a, s);
}

static void arena_fini(arena_t *a)
{
    while (a->head) {
        arena_block_t *b = a->head;
        a->head = b->next;
        berth_free(b);
    }
}

static char **arena_strv(arena_t *a, const char *const *v, size_t *n)
{
    *n = 0;
    if (v == NULL)
        return NULL;
    while (v[*n])
        (*n)++;
    char **out = arena_alloc(a, (*n + 1) * sizeof(char *));
    for (size_t i = 0; i < *n; i++)
        out[i] = arena_strdup(a, v[i]);
    return out;
}

struct berth_cri_pod_config {
    arena_t arena;
    Runtime__V1__PodSandboxConfig msg;
    char *handler;
};

struct berth_cri_ctr_config {
    arena_t arena;
    Runtime__V1__ContainerConfig msg;
};

static const char *pod_ns(const berth_cri_pod_spec_t *s)
{
    return s->namespace_ && *s->namespace_ ? s->namespace_ : "default";
}

/* The labels the kubelet sets on every sandbox and, repeated, container. */
#define POD_LABELS 3

berth_cri_pod_config_t *berth_cri_pod_config_new(const berth_cri_pod_spec_t *spec)
{
    berth_cri_pod_config_t *cfg = berth_calloc(1, sizeof(*cfg));
    arena_t *a = &cfg->arena;
    Runtime__V1__PodSandboxConfig *m = &cfg->msg;
    runtime__v1__pod_sandbox_config__init(m);
    const char *ns = pod_ns(spec);

    Runtime__V1__PodSandboxMetadata *md = arena_alloc(a, sizeof(*md));
    runtime__v1__pod_sandbox_metadata__init(md);
    md->name = arena_strdup(a, spec->name);
    md->uid = arena_strdup(a, spec->uid);
    md->namespace_ = arena_strdup(a, ns);
    md->attempt = spec->attempt;
    m->metadata = md;
    m->hostname = spec->host_network ? arena_strdup(a, "") : arena_strdup(a, spec->name);
    m->log_directory =
            arena_printf(a, "%s/%s_%s_%s", spec->log_root ? spec->log_root : "/var/log/pods", ns,
                         spec->name, spec->uid);

    const char *kv[POD_LABELS][2] = {
            {"io.kubernetes.pod.name", spec->name},
            {"io.kubernetes.pod.namespace", ns},
            {"io.kubernetes.pod.uid", spec->uid},
    };
    m->n_labels = POD_LABELS;
    m->labels = arena_alloc(a, POD_LABELS * sizeof(*m->labels));
    for (size_t i = 0; i < POD_LABELS; i++) {
        Runtime__V1__PodSandboxConfig__LabelsEntry *e = arena_alloc(a, sizeof(*e));
        runtime__v1__pod_sandbox_config__labels_entry__init(e);
        e->key = arena_strdup(a, kv[i][0]);
        e->value = arena_strdup(a, kv[i][1]);
        m->labels[i] = e;
    }
    m->n_annotations = 1;
    m->annotations = arena_alloc(a, sizeof(*m->annotations));
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *an = arena_alloc(a, sizeof(*an));
    runtime__v1__pod_sandbox_config__annotations_entry__init(an);
    an->key = arena_strdup(a, "kubernetes.io/config.source");
    an->value = arena_strdup(a, "api");
    m->annotations[0] = an;

    Runtime__V1__NamespaceOption *nso = arena_alloc(a, sizeof(*nso));
    runtime__v1__namespace_option__init(nso);
    nso->network = spec->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
                                      : RUNTIME__V1__NAMESPACE_MODE__POD;
    /* v1 pods share no PID namespace unless shareProcessNamespace is set. */
    nso->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    nso->ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
    Runtime__V1__LinuxSandboxSecurityContext *sc = arena_alloc(a, sizeof(*sc));
    runtime__v1__linux_sandbox_security_context__init(sc);
    sc->namespace_options = nso;
    Runtime__V1__SecurityProfile *seccomp = arena_alloc(a, sizeof(*seccomp));
    runtime__v1__security_profile__init(seccomp);
    seccomp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    sc->seccomp = seccomp;
    Runtime__V1__LinuxPodSandboxConfig *lx = arena_alloc(a, sizeof(*lx));
    runtime__v1__linux_pod_sandbox_config__init(lx);
    lx->security_context = sc;
    lx->cgroup_parent = spec->cgroup_parent
                                ? arena_strdup(a, spec->cgroup_parent)
                                : arena_printf(a, "/kubepods/besteffort/pod%s", spec->uid);
    m->linux = lx;
    cfg->handler = arena_strdup(a, spec->runtime_handler ? spec->runtime_handler : "");
    return cfg;
}

void berth_cri_pod_config_free(berth_cri_pod_config_t *cfg)
{
    if (cfg == NULL)
        return;
    arena_fini(&cfg->arena);
    berth_free(cfg);
}

Runtime__V1__PodSandboxConfig *berth_cri_pod_config_msg(berth_cri_pod_config_t *cfg)
{
    return &cfg->msg;
}

const char *berth_cri_pod_config_handler(const berth_cri_pod_config_t *cfg)
{
    return cfg->handler;
}

berth_cri_ctr_config_t *berth_cri_ctr_config_new(const berth_cri_ctr_spec_t *spec,
                                                 const berth_cri_pod_spec_t *pod)
{
    berth_cri_ctr_config_t *cfg = berth_calloc(1, sizeof(*cfg));
    arena_t *a = &cfg->arena;
    Runtime__V1__ContainerConfig *m = &cfg->msg;
    runtime__v1__container_config__init(m);

    Runtime__V1__ContainerMetadata *md = arena_alloc(a, sizeof(*md));
    runtime__v1__container_metadata__init(md);
    md->name = arena_strdup(a, spec->name);
    md->attempt = spec->attempt;
    m->metadata = md;
    Runtime__V1__ImageSpec *img = arena_alloc(a, sizeof(*img));
    runtime__v1__image_spec__init(img);
    img->image = arena_strdup(a, spec->image);
    img->user_specified_image = arena_strdup(a, spec->image);
    m->image = img;
    m->command = arena_strv(a, spec->command, &m->n_command);
    m->args = arena_strv(a, spec->args, &m->n_args);
    m->log_path = arena_printf(a, "%s/%u.log", spec->name, spec->attempt);

    const char *kv[4][2] = {
            {"io.kubernetes.container.name", spec->name},
            {"io.kubernetes.pod.name", pod->name},
            {"io.kubernetes.pod.namespace", pod_ns(pod)},
            {"io.kubernetes.pod.uid", pod->uid},
    };
    m->n_labels = BERTH_ARRAY_LEN(kv);
    m->labels = arena_alloc(a, m->n_labels * sizeof(*m->labels));
    for (size_t i = 0; i < m->n_labels; i++) {
        Runtime__V1__ContainerConfig__LabelsEntry *e = arena_alloc(a, sizeof(*e));
        runtime__v1__container_config__labels_entry__init(e);
        e->key = arena_strdup(a, kv[i][0]);
        e->value = arena_strdup(a, kv[i][1]);
        m->labels[i] = e;
    }

    Runtime__V1__NamespaceOption *nso = arena_alloc(a, sizeof(*nso));
    runtime__v1__namespace_option__init(nso);
    nso->network = pod->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
                                     : RUNTIME__V1__NAMESPACE_MODE__POD;
    nso->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    nso->ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
    Runtime__V1__LinuxContainerSecurityContext *sc = arena_alloc(a, sizeof(*sc));
    runtime__v1__linux_container_security_context__init(sc);
    sc->namespace_options = nso;
    /* What the kubelet sends for the default masked/readonly paths. */
    static const char *const masked[] = {"/proc/acpi",       "/proc/kcore",   "/proc/keys",
                                         "/proc/timer_list", "/sys/firmware", NULL};
    static const char *const ro[] = {"/proc/bus",           "/proc/fs", "/proc/irq", "/proc/sys",
                                     "/proc/sysrq-trigger", NULL};
    sc->masked_paths = arena_strv(a, masked, &sc->n_masked_paths);
    sc->readonly_paths = arena_strv(a, ro, &sc->n_readonly_paths);
    Runtime__V1__SecurityProfile *seccomp = arena_alloc(a, sizeof(*seccomp));
    runtime__v1__security_profile__init(seccomp);
    seccomp->profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    sc->seccomp = seccomp;
    Runtime__V1__LinuxContainerResources *res = arena_alloc(a, sizeof(*res));
    runtime__v1__linux_container_resources__init(res);
    res->cpu_shares = 2; /* best-effort, as the kubelet sets it */
    res->oom_score_adj = 1000;
    Runtime__V1__LinuxContainerConfig *lx = arena_alloc(a, sizeof(*lx));
    runtime__v1__linux_container_config__init(lx);
    lx->security_context = sc;
    lx->resources = res;
    m->linux = lx;
    return cfg;
}

void berth_cri_ctr_config_free(berth_cri_ctr_config_t *cfg)
{
    if (cfg == NULL)
        return;
    arena_fini(&cfg->arena);
    berth_free(cfg);
}

Runtime__V1__ContainerConfig *berth_cri_ctr_config_msg(berth_cri_ctr_config_t *cfg)
{
    return &cfg->msg;
}

int berth_cri_run_pod(berth_cri_client_t *c, berth_cri_pod_config_t *cfg, uint64_t timeout_ns,
                      char **pod_id, berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RunPodSandboxResponse *resp = NULL;
    req.config = &cfg->msg;
    req.runtime_handler = cfg->handler;
    *pod_id = NULL;
    int r = berth_cri_run_pod_sandbox(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp != NULL)
        *pod_id = berth_strdup(resp->pod_sandbox_id);
    berth_cri_msg_free(resp);
    return r;
}

int berth_cri_create_ctr(berth_cri_client_t *c, const char *pod_id, berth_cri_ctr_config_t *cfg,
                         berth_cri_pod_config_t *pod, uint64_t timeout_ns, char **ctr_id,
                         berth_cri_status_t *st, berth_err_t *err)
{
    Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    Runtime__V1__CreateContainerResponse *resp = NULL;
    req.pod_sandbox_id = (char *)pod_id;
    req.config = &cfg->msg;
    req.sandbox_config = &pod->msg;
    *ctr_id = NULL;
    int r = berth_cri_create_container(c, &req, timeout_ns, &resp, st, err);
    if (r == 0 && resp != NULL)
        *ctr_id = berth_strdup(resp->container_id);
    berth_cri_msg_free(resp);
    return r;
}
