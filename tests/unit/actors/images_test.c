// SPDX-License-Identifier: Apache-2.0
/*
 * The images actor behind the real gRPC server, driven by the project's gRPC
 * client, against a real docker-registry started here (a busybox-static image
 * built with umoci, pushed with skopeo) and a tiny fake registry on loopback
 * that serves the same OCI layout slowly (to join concurrent pulls and to
 * cancel a requester mid-pull) or with truncated blobs. registries.conf and a
 * registries.conf.d drop-in are private to the test: two search registries in
 * enforcing mode, an alias only in the drop-in, a mirror with a path, a
 * blocked registry; and a second images actor whose registries.conf does
 * not parse. Image volumes: claims answered with one mount, RemoveImage
 * refused naming the claimers, the claims released (one during an
 * unmount). Skips (77) when a tool is missing; every process it
 * starts is stopped by its PID.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/cri.h"
#include "actors/imagelookup.h"
#include "actors/images.h"
#include "conf/config.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/grpc_client.h"
#include "proto/cri.h"
#include "tests/unit/actors/cricall.h"
#include "tests/unit/check.h"

static char *base;
static pid_t registry_pid = -1;

static void cleanup(void)
{
    if (registry_pid > 0) {
        kill(registry_pid, SIGTERM);
        waitpid(registry_pid, NULL, 0);
        registry_pid = -1;
    }
    if (base == NULL)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", base, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void skip(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    cleanup();
    exit(77);
}

static bool have(const char *prog)
{
    const char *path = getenv("PATH");
    BERTH_AUTO_FREE char *p = berth_strdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(p, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        BERTH_AUTO_FREE char *f = berth_asprintf("%s/%s", d, prog);
        if (access(f, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs /bin/sh -c script with $1.. = args, output into log; exit status. */
static int run_sh(const char *script, const char *log, const char *a1, const char *a2)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/bin/sh", "sh", "-c", script, "sh", a1, a2, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        printf("Bail out! cannot write %s\n", path);
        cleanup();
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static bool port_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    bool r = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return r;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the fake registry: serves base/oci, slowly or truncated ---------------- */

static int fake_fd = -1;
static char *oci_dir;
static int slow_manifest_gets; /* written by the fake's thread, read after joins */
static int slow2_manifest_gets;

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t l = 0, r;
    char chunk[16384];
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf = berth_realloc(buf, l + r + 1);
        memcpy(buf + l, chunk, r);
        l += r;
    }
    fclose(f);
    if (buf == NULL)
        buf = berth_calloc(1, 1);
    buf[l] = '\0';
    *len = l;
    return buf;
}

/* The manifest digest of a tag of the layout's index.json. Owned or NULL. */
static char *layout_tag(const char *tag)
{
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/index.json", oci_dir);
    json_t *idx = json_load_file(p, 0, NULL);
    char *r = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(idx, "manifests"), i, m)
    {
        const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                             "org.opencontainers.image.ref.name"));
        if (name && strcmp(name, tag) == 0 && r == NULL)
            r = berth_strdup(json_string_value(json_object_get(m, "digest")));
    }
    json_decref(idx);
    return r;
}

static void respond(int fd, int code, const char *ctype, const char *body, size_t len,
                    size_t send_len, bool head)
{
    char hdr[512];
    int hl = snprintf(hdr, sizeof(hdr),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      code, code == 200 ? "OK" : "Not Found", ctype, len);
    write_all(fd, hdr, (size_t)hl);
    if (!head && body)
        write_all(fd, body, send_len);
}

/* /v2/<repo>/manifests/<ref> and /v2/<repo>/blobs/<digest> of one layout:
 * repos slow/... and slow2/... answer manifests after 600 ms (and count
 * them); repos trunc/... send half of every blob and hang up. */
static void serve_one(int c)
{
    char req[8192];
    size_t got = 0;
    while (got < sizeof(req) - 1) {
        ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[got] = '\0';
    char method[8] = "", path[1024] = "";
    if (sscanf(req, "%7s %1023s", method, path) != 2)
        return;
    bool head = strcmp(method, "HEAD") == 0;
    if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
        respond(c, 200, "application/json", "{}", 2, 2, head);
        return;
    }
    char *mf = strstr(path, "/manifests/");
    char *bl = strstr(path, "/blobs/");
    bool trunc = strncmp(path, "/v2/trunc/", 10) == 0;
    if (mf) {
        if (strncmp(path, "/v2/slow/", 9) == 0) {
            /* Relaxed: a plain counter read by the main thread after the pulls end. */
            __atomic_add_fetch(&slow_manifest_gets, 1, __ATOMIC_RELAXED);
            sleep_ms(600);
        } else if (strncmp(path, "/v2/slow2/", 10) == 0) {
            /* Relaxed: as above. */
            __atomic_add_fetch(&slow2_manifest_gets, 1, __ATOMIC_RELAXED);
            sleep_ms(600);
        }
        const char *ref = mf + strlen("/manifests/");
        BERTH_AUTO_FREE char *dg =
                strncmp(ref, "sha256:", 7) == 0 ? berth_strdup(ref) : layout_tag(ref);
        BERTH_AUTO_FREE char *file =
                dg ? berth_asprintf("%s/blobs/sha256/%s", oci_dir, dg + 7) : NULL;
        size_t len = 0;
        BERTH_AUTO_FREE char *body = file && !strchr(dg + 7, '/') ? read_whole(file, &len) : NULL;
        if (body == NULL) {
            respond(c, 404, "application/json", "{}", 2, 2, head);
            return;
        }
        respond(c, 200, "application/vnd.oci.image.manifest.v1+json", body, len, len, head);
        return;
    }
    if (bl) {
        const char *dg = bl + strlen("/blobs/");
        size_t len = 0;
        BERTH_AUTO_FREE char *file = berth_asprintf("%s/blobs/sha256/%s", oci_dir, dg + 7);
        BERTH_AUTO_FREE char *body =
                strncmp(dg, "sha256:", 7) == 0 && !strchr(dg, '/') ? read_whole(file, &len) : NULL;
        if (body == NULL) {
            respond(c, 404, "application/json", "{}", 2, 2, head);
            return;
        }
        respond(c, 200, "application/octet-stream", body, len, trunc ? len / 2 : len, head);
        return;
    }
    respond(c, 404, "application/json", "{}", 2, 2, head);
}

static void *fake_main(void *arg)
{
    for (;;) {
        int c = accept4(fake_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return NULL; /* shut down */
        }
        serve_one(c);
        close(c);
    }
}

/* ---- the gRPC side ---------------------------------------------------------- */

static berth_grpc_client_call_t *start_pull(const char *image)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    spec.image = (char *)image;
    Runtime__V1__PullImageRequest r = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    r.image = &spec;
    uint8_t buf[1024];
    size_t len = protobuf_c_message_pack(&r.base, buf);
    berth_err_t err = NULL;
    berth_grpc_client_call_t *c = berth_grpc_client_start_call(
            cl, "/runtime.v1.ImageService/PullImage", buf, len, 30000000000ull, &err);
    if (c == NULL) {
        printf("# start PullImage failed: %s\n", err->msg);
        berth_err_free(&err);
    }
    return c;
}

/* Waits for a started pull; returns the image_ref (owned) or NULL. */
static char *wait_pull(berth_grpc_client_call_t *c, answer_t *a)
{
    berth_err_t err = NULL;
    memset(a, 0, sizeof(*a));
    if (c == NULL ||
        berth_grpc_client_wait(cl, c, &a->body, &a->len, &a->status, &a->msg, &err) < 0) {
        a->status = -1;
        berth_err_free(&err);
        return NULL;
    }
    if (a->status != 0)
        return NULL;
    Runtime__V1__PullImageResponse *r =
            runtime__v1__pull_image_response__unpack(NULL, a->len, a->body);
    char *ref = r && r->image_ref ? berth_strdup(r->image_ref) : NULL;
    if (r)
        runtime__v1__pull_image_response__free_unpacked(r, NULL);
    return ref;
}

/* PullImage, answer in *a; returns image_ref (owned) or NULL. */
static char *pull(const char *image, answer_t *a)
{
    return wait_pull(start_pull(image), a);
}

/* ImageStatus: the response (free with free_unpacked), or NULL on a call error. */
static Runtime__V1__ImageStatusResponse *status_of(const char *image, bool verbose)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    spec.image = (char *)image;
    Runtime__V1__ImageStatusRequest r = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
    r.image = &spec;
    r.verbose = verbose;
    answer_t a;
    call("/runtime.v1.ImageService/ImageStatus", &r.base, &a);
    Runtime__V1__ImageStatusResponse *s =
            a.status == 0 ? runtime__v1__image_status_response__unpack(NULL, a.len, a.body) : NULL;
    if (a.status != 0)
        printf("# ImageStatus %s: status %d %s\n", image, a.status, a.msg ? a.msg : "");
    answer_free(&a);
    return s;
}

static bool present(const char *image)
{
    Runtime__V1__ImageStatusResponse *s = status_of(image, false);
    bool r = s && s->image != NULL;
    if (s)
        runtime__v1__image_status_response__free_unpacked(s, NULL);
    return r;
}

typedef struct stream_count {
    size_t msgs, items, bad;
} stream_count_t;

static int count_streamed(void *ctx, const uint8_t *msg, size_t len)
{
    stream_count_t *sc = ctx;
    Runtime__V1__StreamImagesResponse *r =
            runtime__v1__stream_images_response__unpack(NULL, len, msg);
    if (r == NULL) {
        sc->bad++;
        return 0;
    }
    sc->msgs++;
    sc->items += r->n_images;
    runtime__v1__stream_images_response__free_unpacked(r, NULL);
    return 0;
}

/* StreamImages: messages and images received, or bad = 1 on a failed call. */
static stream_count_t stream_images(void)
{
    stream_count_t sc = {0};
    Runtime__V1__StreamImagesRequest r = RUNTIME__V1__STREAM_IMAGES_REQUEST__INIT;
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(&r.base, buf);
    int status = -1;
    char *msg = NULL;
    berth_err_t err = NULL;
    if (berth_grpc_client_call_stream(cl, "/runtime.v1.ImageService/StreamImages", buf, len,
                                      30000000000ull, count_streamed, &sc, &status, &msg,
                                      &err) < 0 ||
        status != 0) {
        printf("# StreamImages: %s\n", err ? err->msg : msg ? msg : "?");
        sc.bad = 1;
    }
    berth_err_free(&err);
    berth_free(msg);
    return sc;
}

static Runtime__V1__ListImagesResponse *list(void)
{
    Runtime__V1__ListImagesRequest r = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
    answer_t a;
    call("/runtime.v1.ImageService/ListImages", &r.base, &a);
    Runtime__V1__ListImagesResponse *l =
            a.status == 0 ? runtime__v1__list_images_response__unpack(NULL, a.len, a.body) : NULL;
    answer_free(&a);
    return l;
}

/* Is any repo tag or digest of a listed image a string containing text? */
static bool listed(const char *text)
{
    Runtime__V1__ListImagesResponse *l = list();
    bool r = false;
    for (size_t i = 0; l && i < l->n_images; i++) {
        for (size_t t = 0; t < l->images[i]->n_repo_tags; t++)
            r |= strstr(l->images[i]->repo_tags[t], text) != NULL;
        for (size_t t = 0; t < l->images[i]->n_repo_digests; t++)
            r |= strstr(l->images[i]->repo_digests[t], text) != NULL;
        r |= strcmp(l->images[i]->id, text) == 0;
    }
    if (l)
        runtime__v1__list_images_response__free_unpacked(l, NULL);
    return r;
}

static int remove_image(const char *image)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    spec.image = (char *)image;
    Runtime__V1__RemoveImageRequest r = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
    r.image = &spec;
    answer_t a;
    call("/runtime.v1.ImageService/RemoveImage", &r.base, &a);
    int st = a.status;
    if (st != 0)
        printf("# RemoveImage %s: %d %s\n", image, st, a.msg ? a.msg : "");
    answer_free(&a);
    return st;
}

/* ---- image volume replies -------------------------------------------------------- */

/* A probe actor: every message it gets is a volume reply, queued for the
 * test thread (which frees it). */
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cv = PTHREAD_COND_INITIALIZER;
static berth_msg_t *probe_q[8];
static size_t probe_n;

static void probe_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    pthread_mutex_lock(&probe_mu);
    if (probe_n < BERTH_ARRAY_LEN(probe_q))
        probe_q[probe_n++] = msg;
    else
        berth_msg_free(msg);
    pthread_cond_signal(&probe_cv);
    pthread_mutex_unlock(&probe_mu);
}

static const berth_actor_class_t probe_class = {.name = "probe", .receive = probe_receive};

/* The next reply (owned), or NULL after 10 s. */
static berth_image_vol_msg_t *probe_wait(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&probe_mu);
    while (probe_n == 0 && pthread_cond_timedwait(&probe_cv, &probe_mu, &until) == 0)
        ;
    berth_msg_t *m = NULL;
    if (probe_n > 0) {
        m = probe_q[0];
        memmove(probe_q, probe_q + 1, --probe_n * sizeof(*probe_q));
    }
    pthread_mutex_unlock(&probe_mu);
    return (berth_image_vol_msg_t *)m;
}

/* True when no reply is queued (after a short wait for a stray one). */
static bool probe_wait_empty(void)
{
    sleep_ms(100);
    pthread_mutex_lock(&probe_mu);
    bool empty = probe_n == 0;
    pthread_mutex_unlock(&probe_mu);
    return empty;
}

static void vol_free(berth_image_vol_msg_t *m)
{
    if (m)
        berth_msg_free(&m->hdr);
}

/* RemoveImage's full answer. */
static void remove_answer(const char *image, answer_t *a)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    spec.image = (char *)image;
    Runtime__V1__RemoveImageRequest r = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
    r.image = &spec;
    call("/runtime.v1.ImageService/RemoveImage", &r.base, a);
}

static const char build_script[] =
        "set -e\n"
        "cd \"$1\"\n"
        "umoci init --layout oci\n"
        "umoci new --image oci:base\n"
        "umoci unpack --image oci:base bundle >/dev/null\n"
        "mkdir -p bundle/rootfs/bin\n"
        "cp \"$2\" bundle/rootfs/bin/busybox\n"
        "umoci repack --image oci:base bundle\n"
        "umoci config --image oci:base --config.user 1002 --config.cmd /bin/busybox "
        "--config.cmd true --os linux --architecture \"$(uname -m | sed "
        "'s/x86_64/amd64/;s/aarch64/arm64/')\"\n"
        "echo 'only in the truncated image' >trunc.txt\n"
        "umoci insert --image oci:base --tag trunc trunc.txt /trunc.txt\n";

static const char push_script[] = "set -e\n"
                                  "skopeo copy --dest-tls-verify=false \"oci:$1/oci:base\" "
                                  "\"docker://$2/berth/busybox:1.0\"\n"
                                  "skopeo copy --dest-tls-verify=false \"oci:$1/oci:base\" "
                                  "\"docker://$2/registry.k8s.io/pause:3.9\"\n";

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/berth-images-XXXXXX";
    base = mkdtemp(tmpl);
    if (base == NULL)
        skip("mkdtemp failed");
    const char *tools[] = {"docker-registry", "skopeo", "umoci"};
    for (size_t i = 0; i < 3; i++) {
        if (!have(tools[i])) {
            BERTH_AUTO_FREE char *why = berth_asprintf("%s not installed", tools[i]);
            skip(why);
        }
    }
    const char *bb = access("/bin/busybox", X_OK) == 0 ? "/bin/busybox" : NULL;
    if (bb == NULL)
        skip("busybox-static not installed");
    BERTH_AUTO_FREE char *tool_log = berth_asprintf("%s/tools.log", base);
    if (run_sh(build_script, tool_log, base, bb) != 0)
        skip("umoci could not build the test image (see tools.log)");
    oci_dir = berth_asprintf("%s/oci", base);

    /* The real registry, on a free loopback port. */
    int reg_port = 0;
    int probe = listen_loopback(&reg_port);
    if (probe < 0)
        skip("no loopback TCP");
    close(probe);
    BERTH_AUTO_FREE char *reg_yml = berth_asprintf("%s/registry.yml", base);
    BERTH_AUTO_FREE char *reg_cfg = berth_asprintf(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: "
            "%s/registry-data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n",
            base, reg_port);
    write_file(reg_yml, reg_cfg);
    BERTH_AUTO_FREE char *reg_log = berth_asprintf("%s/registry.log", base);
    registry_pid = fork();
    if (registry_pid == 0) {
        int fd = open(reg_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("docker-registry", "docker-registry", "serve", reg_yml, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port_answers(reg_port); i++)
        sleep_ms(50);
    if (!port_answers(reg_port))
        skip("docker-registry did not start");
    BERTH_AUTO_FREE char *reg = berth_asprintf("127.0.0.1:%d", reg_port);
    if (run_sh(push_script, tool_log, base, reg) != 0)
        skip("skopeo could not push the test image (see tools.log)");

    /* The fake registry. */
    int fake_port = 0;
    fake_fd = listen_loopback(&fake_port);
    if (fake_fd < 0)
        skip("no loopback TCP");
    pthread_t fake_thread;
    pthread_create(&fake_thread, NULL, fake_main, NULL);
    BERTH_AUTO_FREE char *fake = berth_asprintf("127.0.0.1:%d", fake_port);

    /* registries.conf: two search registries, enforcing; the alias only in a
     * drop-in; a mirror with a path; a blocked registry. */
    BERTH_AUTO_FREE char *rconf = berth_asprintf("%s/registries.conf", base);
    BERTH_AUTO_FREE char *rdir = berth_asprintf("%s/registries.conf.d", base);
    mkdir(rdir, 0700);
    BERTH_AUTO_FREE char *rtext = berth_asprintf(
            "unqualified-search-registries = [\"%s\", \"%s\"]\n"
            "short-name-mode = \"enforcing\"\n\n"
            "[[registry]]\nlocation = \"%s\"\ninsecure = true\n\n"
            "[[registry]]\nlocation = \"%s\"\ninsecure = true\n\n"
            "[[registry]]\nprefix = \"registry.k8s.io\"\nlocation = \"registry.k8s.io\"\n\n"
            "[[registry.mirror]]\nlocation = \"%s/registry.k8s.io\"\ninsecure = true\n\n"
            "[[registry]]\nprefix = \"blocked.example.com\"\nlocation = "
            "\"blocked.example.com\"\nblocked = true\n",
            reg, fake, reg, fake, reg);
    write_file(rconf, rtext);
    BERTH_AUTO_FREE char *dropin = berth_asprintf("%s/10-alias.conf", rdir);
    BERTH_AUTO_FREE char *dtext =
            berth_asprintf("[aliases]\n\"tiny\" = \"%s/berth/busybox\"\n", reg);
    write_file(dropin, dtext);

    char *root = berth_asprintf("%s/root", base);
    char *runroot = berth_asprintf("%s/run", base);
    char *sock = berth_asprintf("%s/berth.sock", base);
    mkdir(root, 0700);
    mkdir(runroot, 0700);

    berth_err_t err = NULL;
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, NULL);
    berth_config_builder_set_dir(b, NULL);
    berth_config_set(b, "crio.root", root, &err);
    berth_config_set(b, "crio.runroot", runroot, &err);
    berth_config_set(b, "crio.image.registries_conf", rconf, &err);
    berth_config_set(b, "crio.image.registries_conf_dir", rdir, &err);
    berth_config_t *cfg = err ? NULL : berth_config_build(b, &err);
    berth_config_builder_free(b);
    if (cfg == NULL) {
        printf("Bail out! config: %s\n", err->msg);
        cleanup();
        return 1;
    }
    berth_engine_config_t ecfg = {.workers = 2};
    if (berth_engine_start(&ecfg, &err) < 0) {
        BERTH_AUTO_FREE char *why = berth_asprintf("engine: %s", err->msg);
        skip(why);
    }
    berth_blocking_start(2, &err);
    const char *handlers[] = {"runc", NULL};
    berth_cri_config_t ccfg = {.runtime_version = "t",
                               .handlers = handlers,
                               .default_handler = "runc",
                               .images = berth_images_spawn(cfg)};
    berth_handle_t cri = berth_cri_spawn(&ccfg);
    berth_grpc_server_config_t scfg = {.path = sock, .mode = 0660, .dispatch = cri};
    berth_handle_t listener;
    if (berth_grpc_server_start(&scfg, &listener, &err) < 0) {
        printf("Bail out! server: %s\n", err->msg);
        cleanup();
        return 1;
    }
    cl = berth_grpc_client_new(sock, &err);
    if (cl == NULL) {
        printf("Bail out! client: %s\n", err->msg);
        cleanup();
        return 1;
    }

    printf("1..35\n");
    answer_t a;
    /* 1-2: pull by tag, then listed. */
    BERTH_AUTO_FREE char *by_tag = berth_asprintf("%s/berth/busybox:1.0", reg);
    BERTH_AUTO_FREE char *id = pull(by_tag, &a);
    ok(a.status == 0 && id && strncmp(id, "sha256:", 7) == 0,
       "PullImage by tag: image_ref is an ID");
    if (a.status != 0)
        printf("# %d %s\n", a.status, a.msg ? a.msg : "");
    answer_free(&a);
    ok(id && listed(id) && listed(by_tag), "ListImages shows the image with its tag");

    /* 3: missing image status. */
    Runtime__V1__ImageStatusResponse *st = status_of("127.0.0.1:1/none/such:1", false);
    ok(st && st->image == NULL && st->n_info == 0,
       "ImageStatus of a missing image: empty response, not an error");
    if (st)
        runtime__v1__image_status_response__free_unpacked(st, NULL);

    /* 4-5: verbose status carries the config; uid from config.User. */
    st = status_of(by_tag, true);
    bool has_cfg = false;
    if (st && st->n_info == 1 && strcmp(st->info[0]->key, "info") == 0) {
        json_t *j = json_loads(st->info[0]->value, 0, NULL);
        json_t *spec = json_object_get(j, "imageSpec");
        has_cfg =
                json_is_object(json_object_get(spec, "rootfs")) &&
                json_string_value(json_object_get(json_object_get(spec, "config"), "User")) &&
                strcmp(json_string_value(json_object_get(json_object_get(spec, "config"), "User")),
                       "1002") == 0;
        json_decref(j);
    }
    ok(has_cfg, "ImageStatus verbose: info carries the image config (imageSpec)");
    ok(st && st->image && id && strcmp(st->image->id, id) == 0 && st->image->uid &&
               st->image->uid->value == 1002,
       "ImageStatus: ID and uid 1002 from config.User");
    if (st)
        runtime__v1__image_status_response__free_unpacked(st, NULL);

    /* 6: ImageFsInfo after a pull. */
    Runtime__V1__ImageFsInfoRequest fr = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
    call("/runtime.v1.ImageService/ImageFsInfo", &fr.base, &a);
    Runtime__V1__ImageFsInfoResponse *fi =
            a.status == 0 ? runtime__v1__image_fs_info_response__unpack(NULL, a.len, a.body) : NULL;
    ok(fi && fi->n_image_filesystems == 1 && fi->image_filesystems[0]->used_bytes &&
               fi->image_filesystems[0]->used_bytes->value > 0 &&
               fi->image_filesystems[0]->inodes_used &&
               fi->image_filesystems[0]->inodes_used->value > 0,
       "ImageFsInfo: used bytes and inodes > 0 after a pull");
    if (fi)
        runtime__v1__image_fs_info_response__free_unpacked(fi, NULL);
    answer_free(&a);

    /* 7-8: an alias that only a registries.conf.d drop-in defines. */
    BERTH_AUTO_FREE char *via_alias = pull("tiny:1.0", &a);
    ok(a.status == 0 && via_alias && id && strcmp(via_alias, id) == 0,
       "PullImage of a short name aliased in a drop-in: the same image");
    if (a.status != 0)
        printf("# %d %s\n", a.status, a.msg ? a.msg : "");
    answer_free(&a);
    ok(present("tiny:1.0"), "ImageStatus finds the image by its aliased short name");

    /* 9-10: a mirror whose location has a path. */
    BERTH_AUTO_FREE char *via_mirror = pull("registry.k8s.io/pause:3.9", &a);
    ok(a.status == 0 && via_mirror && id && strcmp(via_mirror, id) == 0,
       "PullImage through a mirror with a path (REG/registry.k8s.io)");
    if (a.status != 0)
        printf("# %d %s\n", a.status, a.msg ? a.msg : "");
    answer_free(&a);
    ok(listed("registry.k8s.io/pause:3.9"), "the upstream name is listed, not the mirror's");

    /* StreamImages gives the listed images, one message each. */
    Runtime__V1__ListImagesResponse *before = list();
    stream_count_t sc = stream_images();
    ok(before && before->n_images > 0 && sc.bad == 0 && sc.msgs == before->n_images &&
               sc.items == before->n_images,
       "StreamImages sends every listed image, one message each");
    if (before)
        runtime__v1__list_images_response__free_unpacked(before, NULL);

    /* image volumes: two claims share one mount; RemoveImage refuses while
     * any claim holds and names the claimers; a claim made while the last
     * one's unmount runs waits and remounts; a missing image is NOT_FOUND. */
    berth_handle_t probe_h = berth_actor_spawn(&probe_class, NULL);
    berth_image_vol_acquire(ccfg.images, "ctr-a", by_tag, probe_h, 1);
    berth_image_vol_msg_t *va = probe_wait();
    BERTH_AUTO_FREE char *bb_in_vol =
            va && va->path ? berth_asprintf("%s/bin/busybox", va->path) : NULL;
    check(va && va->hdr.type == BERTH_MSG_IMAGES_VOL_ACQUIRED && va->tag == 1 && !va->error &&
                  va->image_id && id && strcmp(va->image_id, id) == 0 && bb_in_vol &&
                  access(bb_in_vol, F_OK) == 0,
          "an image volume claim answers the mount, which shows the image (%s)",
          va && va->error ? va->error->msg : "ok");
    berth_image_vol_acquire(ccfg.images, "ctr-b", id, probe_h, 2);
    berth_image_vol_msg_t *vb = probe_wait();
    check(vb && !vb->error && va && va->path && vb->path && strcmp(va->path, vb->path) == 0,
          "a second claim of the image (by ID) shares the mount");
    remove_answer(id, &a);
    check(a.status == BERTH_GRPC_FAILED_PRECONDITION && a.msg && strstr(a.msg, "ctr-a") &&
                  strstr(a.msg, "ctr-b") && strstr(a.msg, "image volume"),
          "RemoveImage of an image in use as a volume: FAILED_PRECONDITION naming both (%s)",
          a.msg ? a.msg : "");
    answer_free(&a);
    berth_image_vol_release(ccfg.images, "ctr-a");
    remove_answer(id, &a);
    check(a.status == BERTH_GRPC_FAILED_PRECONDITION && a.msg && !strstr(a.msg, "ctr-a") &&
                  strstr(a.msg, "ctr-b"),
          "... still refused once one is released, naming the other");
    answer_free(&a);
    /* the last release starts the unmount; the claim right after it waits
     * for the unmount and mounts the volume again */
    berth_image_vol_release(ccfg.images, "ctr-b");
    berth_image_vol_acquire(ccfg.images, "ctr-c", by_tag, probe_h, 3);
    berth_image_vol_msg_t *vc = probe_wait();
    BERTH_AUTO_FREE char *bb_c = vc && vc->path ? berth_asprintf("%s/bin/busybox", vc->path) : NULL;
    check(vc && !vc->error && bb_c && access(bb_c, F_OK) == 0,
          "a claim right after the last release is answered with a mounted volume");
    berth_image_vol_acquire(ccfg.images, "ctr-d", "127.0.0.1:1/none/such:1", probe_h, 4);
    berth_image_vol_msg_t *vd = probe_wait();
    check(vd && vd->error && vd->error->kind == BERTH_ERR_NOT_FOUND &&
                  strstr(vd->error->msg, "none/such:1") && !vd->path,
          "a claim of a missing image: NOT_FOUND naming it");
    berth_image_vol_release(ccfg.images, "ctr-c");
    berth_image_vol_release(ccfg.images, "ctr-d");
    BERTH_AUTO_FREE char *vdir = berth_asprintf("%s/image-volumes/%s", runroot, id ? id + 7 : "");
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = access(vdir, F_OK) != 0;
        if (!gone)
            sleep_ms(50);
    }
    ok(gone, "the last release unmounts the volume and removes its directory");
    vol_free(va);
    vol_free(vb);
    vol_free(vc);
    vol_free(vd);
    ok(probe_wait_empty(), "no reply more than one per claim");

    /* 11-14: remove by tag, then by ID; a missing image. */
    ok(remove_image(by_tag) == 0 && !present(by_tag) && id && present(id),
       "RemoveImage by tag untags; the image keeps its other tags");
    ok(id && remove_image(id) == 0 && !present(id) && !present("registry.k8s.io/pause:3.9"),
       "RemoveImage by ID removes the image");
    Runtime__V1__ListImagesResponse *l = list();
    ok(l && l->n_images == 0, "nothing listed after the removals");
    if (l)
        runtime__v1__list_images_response__free_unpacked(l, NULL);
    ok(remove_image("127.0.0.1:1/none/such:1") == 0, "RemoveImage of a missing image: OK");

    /* 15: ambiguous short name. */
    pull("berth/nothing:1", &a);
    BERTH_AUTO_FREE char *c1 = berth_asprintf("%s/berth/nothing:1", reg);
    BERTH_AUTO_FREE char *c2 = berth_asprintf("%s/berth/nothing:1", fake);
    ok(has(&a, BERTH_GRPC_INVALID_ARGUMENT, "ambiguous") && strstr(a.msg, c1) && strstr(a.msg, c2),
       "an ambiguous short name (enforcing): INVALID_ARGUMENT listing both candidates");
    answer_free(&a);

    /* 16: blocked registry. */
    pull("blocked.example.com/x/y:1", &a);
    ok(has(&a, BERTH_GRPC_PERMISSION_DENIED, "blocked.example.com"),
       "a blocked registry: PERMISSION_DENIED naming it");
    answer_free(&a);

    /* 17-19: two concurrent pulls of one reference are one pull. */
    BERTH_AUTO_FREE char *slow = berth_asprintf("%s/slow/busybox:base", fake);
    berth_grpc_client_call_t *p1 = start_pull(slow);
    berth_grpc_client_call_t *p2 = start_pull(slow);
    answer_t a1, a2;
    BERTH_AUTO_FREE char *r1 = wait_pull(p1, &a1);
    BERTH_AUTO_FREE char *r2 = wait_pull(p2, &a2);
    ok(a1.status == 0 && a2.status == 0 && r1 && r2 && strcmp(r1, r2) == 0,
       "two concurrent PullImage: both OK with the same image_ref");
    if (a1.status != 0 || a2.status != 0)
        printf("# %d %s / %d %s\n", a1.status, a1.msg ? a1.msg : "", a2.status,
               a2.msg ? a2.msg : "");
    answer_free(&a1);
    answer_free(&a2);
    /* Relaxed: the fake answered both manifests before the pulls returned. */
    int gets = __atomic_load_n(&slow_manifest_gets, __ATOMIC_RELAXED);
    ok(gets == 1, "... and the registry saw one manifest request (one pull)");
    if (gets != 1)
        printf("# manifest requests: %d\n", gets);
    ok(listed(slow), "the joined pull's image is listed");

    /* 20-21: a requester that cancels does not stop the pull. */
    BERTH_AUTO_FREE char *slow2 = berth_asprintf("%s/slow2/busybox:base", fake);
    berth_grpc_client_call_t *p3 = start_pull(slow2);
    sleep_ms(150);
    err = NULL;
    if (p3)
        berth_grpc_client_cancel(cl, p3, &err);
    berth_err_free(&err);
    wait_pull(p3, &a);
    ok(a.status == BERTH_GRPC_CANCELLED, "a cancelled PullImage answers CANCELLED");
    answer_free(&a);
    bool landed = false;
    for (int i = 0; i < 100 && !landed; i++) {
        landed = present(slow2);
        if (!landed)
            sleep_ms(50);
    }
    ok(landed, "... and the pull goes on: the image appears without a retry");

    /* 22-24: a truncated blob. */
    BERTH_AUTO_FREE char *trunc = berth_asprintf("%s/trunc/busybox:trunc", fake);
    pull(trunc, &a);
    ok(a.status == BERTH_GRPC_DATA_LOSS && a.msg && strstr(a.msg, "trunc/busybox"),
       "a pull whose registry truncates a blob: DATA_LOSS naming the source");
    printf("# truncated: %d %s\n", a.status, a.msg ? a.msg : "");
    answer_free(&a);
    ok(!present(trunc) && !listed("trunc/busybox"), "... and nothing of it is listed");
    ok(remove_image(trunc) == 0, "RemoveImage of the failed pull's name: OK");

    /* 25-26: a second images actor whose registries.conf does not parse:
     * berth still serves, pulls say why they cannot resolve. */
    BERTH_AUTO_FREE char *bconf = berth_asprintf("%s/broken.conf", base);
    write_file(bconf, "unqualified-search-registries = [\"a.example\"\n");
    BERTH_AUTO_FREE char *broot = berth_asprintf("%s/root2", base);
    BERTH_AUTO_FREE char *bsock = berth_asprintf("%s/berth2.sock", base);
    mkdir(broot, 0700);
    b = berth_config_builder_new();
    berth_config_builder_set_file(b, NULL);
    berth_config_builder_set_dir(b, NULL);
    berth_config_set(b, "crio.root", broot, &err);
    berth_config_set(b, "crio.runroot", runroot, &err);
    berth_config_set(b, "crio.image.registries_conf", bconf, &err);
    berth_config_set(b, "crio.image.registries_conf_dir", "", &err);
    berth_config_t *bcfg = err ? NULL : berth_config_build(b, &err);
    berth_config_builder_free(b);
    berth_grpc_client_t *cl2 = NULL;
    if (bcfg) {
        berth_cri_config_t c2 = ccfg;
        c2.images = berth_images_spawn(bcfg);
        berth_grpc_server_config_t s2 = {
                .path = bsock, .mode = 0660, .dispatch = berth_cri_spawn(&c2)};
        berth_handle_t l2;
        if (berth_grpc_server_start(&s2, &l2, &err) == 0)
            cl2 = berth_grpc_client_new(bsock, &err);
    }
    if (err)
        printf("# second actor: %s\n", err->msg);
    berth_err_free(&err);
    berth_grpc_client_t *cl1 = cl;
    cl = cl2;
    if (cl2)
        pull(by_tag, &a);
    ok(cl2 && has(&a, BERTH_GRPC_FAILED_PRECONDITION, "broken.conf:"),
       "registries.conf that does not parse: PullImage FAILED_PRECONDITION naming file:line");
    answer_free(&a);
    st = cl2 ? status_of(by_tag, false) : NULL;
    ok(st && st->image == NULL, "... while ImageStatus still answers (empty, not an error)");
    if (st)
        runtime__v1__image_status_response__free_unpacked(st, NULL);
    cl = cl1;
    berth_grpc_client_free(cl2);

    berth_grpc_client_free(cl);
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    berth_config_unref(cfg);
    berth_config_unref(bcfg);
    shutdown(fake_fd, SHUT_RDWR);
    pthread_join(fake_thread, NULL);
    close(fake_fd);
    berth_free(oci_dir);
    berth_free(root);
    berth_free(runroot);
    berth_free(sock);
    if (nfail) {
        printf("# registry log, tools log and state left in %s\n", base);
        if (registry_pid > 0) {
            kill(registry_pid, SIGTERM);
            waitpid(registry_pid, NULL, 0);
        }
        return 1;
    }
    cleanup();
    return 0;
}
