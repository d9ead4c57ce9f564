/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of the targets whose inputs are binary (run by
 * hand when a request type or the framing changes; the output is checked
 * in): corpus/cri/ (a method byte, then a packed request, one file per
 * interesting request) and corpus/h2/ (a piece-size byte, then the bytes an
 * nghttp2 client sends after the preface for the same requests) and
 * corpus/spdy/ (a piece-size byte, then what a remotecommand or portforward
 * client sends over SPDY/3.1, encoded by io/spdy; the seeds spdystream-client*
 * (bytes a spdystream v0.5.1 client sent) and stored-blocks (the unit test's
 * hand-assembled frames) are not written here).
 *
 *   fuzz_seedgen tests/fuzz/corpus
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actors/cri.h"
#include "engine/alloc.h"
#include "io/spdy.h"
#include "proto/cri.h"

static const char *out_dir;

static void write_seed(const char *target, const char *name, uint8_t first, const uint8_t *data,
                       size_t len)
{
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/%s", out_dir, target);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputc(first, f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static const berth_cri_method_t *method(const char *name, unsigned *index)
{
    for (unsigned i = 0; i < berth_cri_method_count(); i++) {
        if (strcmp(berth_cri_method_at(i)->name, name) == 0) {
            *index = i;
            return berth_cri_method_at(i);
        }
    }
    fprintf(stderr, "no method %s\n", name);
    exit(1);
}

typedef struct body {
    uint8_t bytes[65536];
    size_t off, len;
} body_t;

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    body_t *b = src->ptr;
    size_t n = b->len - b->off < length ? b->len - b->off : length;
    memcpy(buf, b->bytes + b->off, n);
    b->off += n;
    if (b->off == b->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

/* The client bytes (after the preface) of one unary gRPC call carrying msg. */
static size_t h2_call(const char *path, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session *s;
    nghttp2_session_client_new(&s, cbs, NULL);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    static body_t b;
    b.bytes[0] = 0;
    b.bytes[1] = (uint8_t)(len >> 24);
    b.bytes[2] = (uint8_t)(len >> 16);
    b.bytes[3] = (uint8_t)(len >> 8);
    b.bytes[4] = (uint8_t)len;
    memcpy(b.bytes + 5, msg, len);
    b.off = 0;
    b.len = len + 5;
    nghttp2_nv nv[] = {NV(":method", "POST"),
                       NV(":scheme", "http"),
                       NV(":path", path),
                       NV(":authority", "localhost"),
                       NV("content-type", "application/grpc"),
                       NV("te", "trailers"),
                       NV("grpc-timeout", "2S")};
    nghttp2_data_provider prd = {.source.ptr = &b, .read_callback = read_body};
    nghttp2_submit_request(s, NULL, nv, sizeof(nv) / sizeof(nv[0]), &prd, NULL);
    size_t n = 0;
    const uint8_t *data;
    ssize_t r;
    while ((r = nghttp2_session_mem_send(s, &data)) > 0) {
        if (n + (size_t)r > cap)
            break;
        memcpy(out + n, data, (size_t)r);
        n += (size_t)r;
    }
    nghttp2_session_del(s);
    /* the client sends the preface itself; the target adds its own */
    if (n >= NGHTTP2_CLIENT_MAGIC_LEN &&
        memcmp(out, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) == 0) {
        memmove(out, out + NGHTTP2_CLIENT_MAGIC_LEN, n - NGHTTP2_CLIENT_MAGIC_LEN);
        n -= NGHTTP2_CLIENT_MAGIC_LEN;
    }
    return n;
}

/* One request: its cri seed and its h2 seed. */
static void seed(const char *name, const char *mname, const ProtobufCMessage *msg)
{
    unsigned idx;
    const berth_cri_method_t *m = method(mname, &idx);
    size_t len;
    uint8_t *bytes = berth_cri_pack(msg, &len);
    write_seed("cri", name, (uint8_t)idx, bytes, len);
    static uint8_t frames[1 << 17];
    size_t n = h2_call(m->path, bytes, len, frames, sizeof(frames));
    write_seed("h2", name, 63, frames, n); /* pieces of 64 bytes */
    write_seed("h2", mname, 0, frames, n); /* and byte by byte */
    berth_free(bytes);
}

/* A client's streams, as client-go opens them: one SYN_STREAM per stream
 * type, odd ids from 1, each answered by the server; then traffic. */
static void spdy_open(berth_spdy_t *s, berth_bytebuf_t *b, const char *const *types, size_t n,
                      const char *port)
{
    berth_err_t err = NULL;
    for (size_t i = 0; i < n; i++) {
        berth_spdy_header_t h[3] = {
                {.name = "streamtype",
                 .name_len = 10,
                 .value = types[i],
                 .value_len = strlen(types[i])},
                BERTH_SPDY_NV("requestid", "0"),
        };
        size_t nh = 1;
        if (port) {
            h[1] = (berth_spdy_header_t){
                    .name = "port", .name_len = 4, .value = port, .value_len = strlen(port)};
            h[2] = (berth_spdy_header_t)BERTH_SPDY_NV("requestid", "0");
            nh = 3;
        }
        if (berth_spdy_put_syn_stream(s, b, (uint32_t)(2 * i + 1), 0, 0, 0, h, nh, &err) < 0)
            exit(1);
    }
}

static void spdy_seed(const char *name, const berth_bytebuf_t *b)
{
    char n[64];
    write_seed("spdy", name, 63, b->data, b->len); /* pieces of 64 bytes */
    snprintf(n, sizeof(n), "%s-bytewise", name);
    write_seed("spdy", n, 0, b->data, b->len);
}

static void spdy_seeds(void)
{
    static const char *const exec[] = {"error", "stdin", "stdout", "stderr", "resize"};
    berth_spdy_t *s = berth_spdy_new();
    berth_bytebuf_t b = {0};
    spdy_open(s, &b, exec, 5, NULL);
    berth_spdy_put_data(&b, 9, 0, "{\"Width\":80,\"Height\":24}", 25);
    berth_spdy_put_data(&b, 3, 0, "ls -l\n", 6);
    berth_spdy_put_ping(&b, 1);
    berth_spdy_put_data(&b, 3, BERTH_SPDY_FLAG_FIN, NULL, 0);
    berth_spdy_put_rst_stream(&b, 9, BERTH_SPDY_CANCEL);
    berth_spdy_put_goaway(&b, 0, BERTH_SPDY_GOAWAY_OK);
    spdy_seed("exec", &b);
    berth_bytebuf_free(&b);
    berth_spdy_free(s);

    static const char *const pf[] = {"error", "data"};
    s = berth_spdy_new();
    berth_spdy_setting_t set[] = {
            {.id = BERTH_SPDY_SETTINGS_INITIAL_WINDOW_SIZE, .value = 1 << 20}};
    berth_spdy_put_settings(&b, 0, set, 1);
    spdy_open(s, &b, pf, 2, "8080");
    berth_err_t err = NULL;
    berth_spdy_header_t more[] = {BERTH_SPDY_NV("x-more", "a\0b")};
    if (berth_spdy_put_headers(s, &b, 3, 0, more, 1, &err) < 0)
        exit(1);
    berth_spdy_put_data_split(&b, 3, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 29, 8, true);
    berth_spdy_put_window_update(&b, 0, 65536);
    berth_spdy_put_window_update(&b, 3, 65536);
    /* an unknown control type, to be skipped */
    berth_bytebuf_put_be16(&b, 0x8000 | BERTH_SPDY_VERSION);
    berth_bytebuf_put_be16(&b, 10);
    berth_bytebuf_put_be32(&b, 2);
    berth_bytebuf_put(&b, "xy", 2);
    berth_spdy_put_goaway(&b, 0, BERTH_SPDY_GOAWAY_OK);
    spdy_seed("portforward", &b);
    berth_bytebuf_free(&b);
    berth_spdy_free(s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];

    Runtime__V1__VersionRequest ver = RUNTIME__V1__VERSION_REQUEST__INIT;
    ver.version = (char *)"v1";
    seed("version", "Version", &ver.base);

    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    md.name = (char *)"web-0";
    md.namespace_ = (char *)"default";
    md.uid = (char *)"2b1f0c3e-0f4e-4c5e-9e55-0d1b7f0a1c2d";
    Runtime__V1__PodSandboxConfig__LabelsEntry l1 =
            RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
    l1.key = (char *)"io.kubernetes.pod.name";
    l1.value = (char *)"web-0";
    Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = {&l1};
    Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
    char *servers[] = {(char *)"10.96.0.10"};
    dns.n_servers = 1;
    dns.servers = servers;
    Runtime__V1__PortMapping pm = RUNTIME__V1__PORT_MAPPING__INIT;
    pm.container_port = 80;
    pm.host_port = 8080;
    Runtime__V1__PortMapping *pms[] = {&pm};
    Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    lx.cgroup_parent = (char *)"/kubepods/besteffort/pod2b1f";
    Runtime__V1__PodSandboxConfig pc = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    pc.metadata = &md;
    pc.hostname = (char *)"web-0";
    pc.log_directory = (char *)"/var/log/pods/default_web-0_2b1f";
    pc.dns_config = &dns;
    pc.n_port_mappings = 1;
    pc.port_mappings = pms;
    pc.n_labels = 1;
    pc.labels = labels;
    pc.linux = &lx;
    Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    run.config = &pc;
    seed("runpodsandbox", "RunPodSandbox", &run.base);

    Runtime__V1__ContainerMetadata cm = RUNTIME__V1__CONTAINER_METADATA__INIT;
    cm.name = (char *)"nginx";
    Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
    img.image = (char *)"registry.k8s.io/e2e-test-images/nginx:1.14-4";
    Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    hp.page_size = (char *)"2MB";
    Runtime__V1__HugepageLimit *hps[] = {&hp};
    Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    res.cpu_period = 100000;
    res.cpu_quota = 50000;
    res.cpu_shares = 512;
    res.memory_limit_in_bytes = 64 << 20;
    res.oom_score_adj = 983;
    res.n_hugepage_limits = 1;
    res.hugepage_limits = hps;
    Runtime__V1__LinuxContainerConfig clx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    clx.resources = &res;
    Runtime__V1__KeyValue env = RUNTIME__V1__KEY_VALUE__INIT;
    env.key = (char *)"POD_NAME";
    env.value.data = (uint8_t *)"web-0";
    env.value.len = 5;
    Runtime__V1__KeyValue *envs[] = {&env};
    Runtime__V1__Mount mnt = RUNTIME__V1__MOUNT__INIT;
    mnt.container_path = (char *)"/data";
    mnt.host_path = (char *)"/var/lib/kubelet/pods/2b1f/volumes/kubernetes.io~empty-dir/data";
    Runtime__V1__Mount *mnts[] = {&mnt};
    char *cmd[] = {(char *)"nginx", (char *)"-g", (char *)"daemon off;"};
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    cc.metadata = &cm;
    cc.image = &img;
    cc.n_command = 3;
    cc.command = cmd;
    cc.n_envs = 1;
    cc.envs = envs;
    cc.n_mounts = 1;
    cc.mounts = mnts;
    cc.log_path = (char *)"nginx/0.log";
    cc.linux = &clx;
    Runtime__V1__CreateContainerRequest cr = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    cr.pod_sandbox_id = (char *)"4f1c0e5e8a7b3d2c1b0a99887766554433221100ffeeddccbbaa998877665544";
    cr.config = &cc;
    cr.sandbox_config = &pc;
    seed("createcontainer", "CreateContainer", &cr.base);

    Runtime__V1__UpdateContainerResourcesRequest up =
            RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
    up.container_id = (char *)"4f1c";
    up.linux = &res;
    seed("updateresources", "UpdateContainerResources", &up.base);

    Runtime__V1__ExecSyncRequest ex = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
    char *ecmd[] = {(char *)"cat", (char *)"/tmp/healthy"};
    ex.container_id = (char *)"4f1c";
    ex.n_cmd = 2;
    ex.cmd = ecmd;
    ex.timeout = 1;
    seed("execsync", "ExecSync", &ex.base);

    Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
    Runtime__V1__ContainerFilter cf = RUNTIME__V1__CONTAINER_FILTER__INIT;
    cf.pod_sandbox_id = (char *)"4f1c";
    lc.filter = &cf;
    seed("listcontainers", "ListContainers", &lc.base);

    Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
    auth.username = (char *)"user";
    auth.password = (char *)"secret";
    pull.image = &img;
    pull.auth = &auth;
    seed("pullimage", "PullImage", &pull.base);

    spdy_seeds();
    return 0;
}
