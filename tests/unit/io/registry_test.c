/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/registry: the client against a real docker-registry started here on a
 * free loopback port (content pushed by this test with plain libcurl PUTs),
 * a second one with htpasswd basic auth, and a tiny fake HTTP server on
 * loopback for what a real registry will not do on demand: wrong, truncated
 * and stalled blob bodies, and a bearer-token challenge. Also the image
 * reference parser and the manifest parser. Skips (77) when docker-registry
 * is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#ifdef BERTH_HAVE_LIBCRYPT
#include <crypt.h>
#endif

#include "engine/alloc.h"
#include "io/registry.h"
#include "io/unpack.h"
#include "tests/unit/check.h"

extern char **environ;

static char base[] = "/tmp/berth-registry-XXXXXX";

static void skip(const char *what, const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++ntest, what, why);
}

/* ---- plain libcurl for pushing ------------------------------------------- */

struct buf {
    char *p;
    size_t n;
};

static size_t collect(char *d, size_t s, size_t n, void *ud)
{
    struct buf *b = ud;
    b->p = realloc(b->p, b->n + s * n + 1);
    memcpy(b->p + b->n, d, s * n);
    b->n += s * n;
    b->p[b->n] = 0;
    return s * n;
}

static size_t grab_location(char *d, size_t s, size_t n, void *ud)
{
    char **loc = ud;
    if (strncasecmp(d, "Location:", 9) == 0) {
        const char *v = d + 9;
        while (*v == ' ')
            v++;
        size_t l = strcspn(v, "\r\n");
        free(*loc);
        *loc = strndup(v, l);
    }
    return s * n;
}

static long http(const char *method, const char *url, const char *ctype, const void *body,
                 size_t len, char **location)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    char ct[200];
    if (ctype) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        hd = curl_slist_append(hd, ct);
    }
    struct buf b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (body || strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    char *loc = NULL;
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, grab_location);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &loc);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hd);
    free(b.p);
    if (location)
        *location = loc;
    else
        free(loc);
    return status;
}

static char reg_base[128];

static void digest_of(const void *d, size_t n, char out[72])
{
    char hex[65];
    berth_sha256_buf(d, n, hex);
    snprintf(out, 72, "sha256:%s", hex);
}

/* Monolithic upload: POST uploads/ then PUT <location>?digest=. */
static bool push_blob(const char *name, const void *d, size_t n, char digest[72])
{
    digest_of(d, n, digest);
    char url[512], *loc = NULL;
    snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", reg_base, name);
    if (http("POST", url, NULL, NULL, 0, &loc) != 202 || loc == NULL)
        return false;
    char put[1024];
    snprintf(put, sizeof(put), "%s%s%sdigest=%s", loc[0] == '/' ? reg_base : "", loc,
             strchr(loc, '?') ? "&" : "?", digest);
    free(loc);
    return http("PUT", put, "application/octet-stream", d, n, NULL) == 201;
}

static bool push_manifest(const char *name, const char *ref, const char *mt, const char *json)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", reg_base, name, ref);
    return http("PUT", url, mt, json, strlen(json), NULL) == 201;
}

/* ---- docker-registry ----------------------------------------------------- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static pid_t start_registry(const char *tag, int port, const char *htpasswd)
{
    char cfg[300], root[300], log[300];
    snprintf(cfg, sizeof(cfg), "%s/%s.yml", base, tag);
    snprintf(root, sizeof(root), "%s/%s-data", base, tag);
    snprintf(log, sizeof(log), "%s/%s.log", base, tag);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            "storage:\n  filesystem:\n    rootdirectory: %s\n"
            "http:\n  addr: 127.0.0.1:%d\n",
            root, port);
    if (htpasswd)
        fprintf(f, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", htpasswd);
    fclose(f);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {"docker-registry", "serve", cfg, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "docker-registry", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/", port);
    for (int i = 0; i < 200; i++) {
        long st = http("GET", url, NULL, NULL, 0, NULL);
        if (st == 200 || st == 401)
            return pid;
        usleep(50000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

static void stop_registry(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* ---- the fake server ----------------------------------------------------- */

static int fake_port;
static atomic_int token_hits; /* relaxed: read by main after the client call returned */
static const char *fake_manifest =
        "{\"schemaVersion\":2,\"mediaType\":\"" BERTH_MEDIA_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\","
        "\"size\":2},\"layers\":[]}";

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void *fake_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = 0;
    char path[2048] = "";
    sscanf(req, "%*s %2047s", path);
    char out[4096];
    if (strncmp(path, "/v2/bad/blobs/", 14) == 0) {
        const char *body = "this is not the content you asked for";
        int k = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(body), body);
        send_all(fd, out, (size_t)k);
    } else if (strncmp(path, "/v2/trunc/blobs/", 16) == 0) {
        int k = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        send_all(fd, out, (size_t)k);
        memset(out, 'x', 100);
        send_all(fd, out, 100);
    } else if (strncmp(path, "/v2/stall/blobs/", 16) == 0) {
        int k = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        send_all(fd, out, (size_t)k);
        send_all(fd, "xxxxxxxxxx", 10);
        sleep(6);
    } else if (strncmp(path, "/v2/tok/manifests/", 18) == 0) {
        if (strstr(req, "Authorization: Bearer tok-123")) {
            int k = snprintf(out, sizeof(out),
                             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                             BERTH_MEDIA_OCI_MANIFEST, strlen(fake_manifest), fake_manifest);
            send_all(fd, out, (size_t)k);
        } else {
            int k = snprintf(out, sizeof(out),
                             "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer "
                             "realm=\"http://127.0.0.1:%d/token\",service=\"fake\","
                             "scope=\"repository:tok:pull\"\r\nContent-Length: 0\r\n\r\n",
                             fake_port);
            send_all(fd, out, (size_t)k);
        }
    } else if (strncmp(path, "/token?", 7) == 0) {
        atomic_fetch_add_explicit(&token_hits, 1, memory_order_relaxed);
        /* alice:secret */
        bool ok = strstr(req, "Authorization: Basic YWxpY2U6c2VjcmV0") != NULL &&
                  strstr(path, "service=fake") && strstr(path, "scope=repository%3Atok%3Apull");
        const char *body = "{\"token\":\"tok-123\",\"expires_in\":300}";
        int k = ok ? snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                              strlen(body), body)
                   : snprintf(out, sizeof(out),
                              "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
        send_all(fd, out, (size_t)k);
    } else {
        int k = snprintf(out, sizeof(out), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        send_all(fd, out, (size_t)k);
    }
    close(fd);
    return NULL;
}

static void *fake_server(void *arg)
{
    int ls = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, fake_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void start_fake(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &l);
    fake_port = ntohs(a.sin_port);
    listen(s, 16);
    pthread_t t;
    pthread_create(&t, NULL, fake_server, (void *)(intptr_t)s);
    pthread_detach(t);
}

/* ---- pure parsers -------------------------------------------------------- */

static void test_refs(void)
{
    struct {
        const char *in, *domain, *repo, *tag, *digest;
        bool short_name;
    } cases[] = {
            {"busybox", "docker.io", "library/busybox", "latest", NULL, true},
            {"registry.k8s.io/pause:3.10", "registry.k8s.io", "pause", "3.10", NULL, false},
            {"foo/bar@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
             "docker.io", "foo/bar", NULL,
             "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", true},
            {"docker.io/nginx:1.25", "docker.io", "library/nginx", "1.25", NULL, false},
            {"index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", NULL, false},
            {"localhost/app:v1", "localhost", "app", "v1", NULL, false},
            {"127.0.0.1:5000/a/b/c:t_1.2-x", "127.0.0.1:5000", "a/b/c", "t_1.2-x", NULL, false},
            {"quay.io/x/"
             "y:v@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
             "quay.io", "x/y", "v",
             "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", false},
    };
    for (size_t i = 0; i < BERTH_ARRAY_LEN(cases); i++) {
        berth_image_ref_t r;
        berth_err_t err = NULL;
        int rc = berth_image_ref_parse(cases[i].in, &r, &err);
        bool ok = rc == 0 && strcmp(r.domain, cases[i].domain) == 0 &&
                  strcmp(r.repository, cases[i].repo) == 0 &&
                  ((!r.tag && !cases[i].tag) ||
                   (r.tag && cases[i].tag && strcmp(r.tag, cases[i].tag) == 0)) &&
                  ((!r.digest && !cases[i].digest) ||
                   (r.digest && cases[i].digest && strcmp(r.digest, cases[i].digest) == 0)) &&
                  r.short_name == cases[i].short_name;
        check(ok, "image ref \"%s\" -> %s/%s short=%d", cases[i].in, rc == 0 ? r.domain : "?",
              rc == 0 ? r.repository : (err ? err->msg : "?"), rc == 0 ? r.short_name : -1);
        if (rc == 0)
            berth_image_ref_fini(&r);
        berth_err_free(&err);
    }
    const char *bad[] = {"",     "UPPER/Case", "foo/../bar", "foo@sha256:abc", "foo:bad tag",
                         "a//b", "foo:",       "-x/y",       "foo@md5:0123"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        berth_image_ref_t r;
        berth_err_t err = NULL;
        int rc = berth_image_ref_parse(bad[i], &r, &err);
        check(rc < 0 && err && err->kind == BERTH_ERR_INVALID, "image ref \"%s\" refused (%s)",
              bad[i], err ? err->msg : "accepted");
        if (rc == 0)
            berth_image_ref_fini(&r);
        berth_err_free(&err);
    }
    berth_image_ref_t r;
    berth_err_t err = NULL;
    berth_image_ref_parse("busybox", &r, &err);
    char *s = berth_image_ref_string(&r);
    check(strcmp(s, "docker.io/library/busybox:latest") == 0 && r.tag_defaulted &&
                  strcmp(r.path, "busybox") == 0,
          "short name keeps its path and formats fully qualified (%s)", s);
    berth_free(s);
    berth_image_ref_fini(&r);
}

static void test_manifest_parse(void)
{
    berth_registry_manifest_t m;
    berth_err_t err = NULL;
    const char *bad_digest = "{\"schemaVersion\":2,\"mediaType\":\"" BERTH_MEDIA_OCI_MANIFEST
                             "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:../../etc\","
                             "\"size\":1},\"layers\":[]}";
    check(berth_registry_manifest_parse(NULL, bad_digest, strlen(bad_digest), &m, &err) < 0 &&
                  err && strstr(err->msg, "config"),
          "manifest with an invalid config digest refused");
    berth_err_free(&err);
    const char *v1 = "{\"schemaVersion\":1,\"name\":\"x\"}";
    check(berth_registry_manifest_parse(NULL, v1, strlen(v1), &m, &err) < 0 && err &&
                  err->kind == BERTH_ERR_UNSUPPORTED,
          "schema 1 refused as unimplemented");
    berth_err_free(&err);
    check(berth_registry_manifest_parse(NULL, "{not json", 9, &m, &err) < 0 && err,
          "malformed JSON refused");
    berth_err_free(&err);
    /* an artifact: its layers' titles are kept (io/pull names file layers by them) */
    const char *art =
            "{\"schemaVersion\":2,\"mediaType\":\"" BERTH_MEDIA_OCI_MANIFEST "\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":"
            "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
            "\"size\":2},\"layers\":[{\"mediaType\":\"application/x-model\",\"digest\":"
            "\"sha256:3100795e42b2eb175e3a53bf0787528bf2c1fef29b867b771abbd580ca4f7341\","
            "\"size\":14,\"annotations\":{\"org.opencontainers.image.title\":\"model.bin\"}},"
            "{\"mediaType\":\"text/csv\",\"digest\":"
            "\"sha256:5be08c9684a1d25efcee09318204824278b08bbfb4aef973ffefd0b9d7478313\","
            "\"size\":4}]}";
    int r = berth_registry_manifest_parse(NULL, art, strlen(art), &m, &err);
    check(r == 0 && m.n_layers == 2 && m.layers[0].title &&
                  strcmp(m.layers[0].title, "model.bin") == 0 && m.layers[1].title == NULL,
          "an artifact's layer titles are parsed (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (r == 0)
        berth_registry_manifest_fini(&m);
}

/* ---- content ------------------------------------------------------------- */

static unsigned char layer[1 << 16];
static size_t layer_len;

static void make_layer(void)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    archive_write_open_memory(a, layer, sizeof(layer), &layer_len);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "hello.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 6);
    archive_write_header(a, e);
    archive_write_data(a, "hello\n", 6);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
}

static char *manifest_json(const char *mt, const char *cfg_mt, const char *cfg_digest,
                           size_t cfg_size, const char *layer_mt, const char *layer_digest)
{
    return berth_asprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                          "\"%s\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
                          "\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                          mt, cfg_mt, cfg_digest, cfg_size, layer_mt, layer_digest, layer_len);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_refs();
    test_manifest_parse();
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    start_fake();

    berth_registry_opts_t fopts = {
            .low_speed_limit = 100, .low_speed_time = 1, .connect_timeout_ms = 2000};
    berth_registry_client_t *fc = berth_registry_client_new(&fopts);
    char fhost[64];
    snprintf(fhost, sizeof(fhost), "127.0.0.1:%d", fake_port);
    char dest[300];
    snprintf(dest, sizeof(dest), "%s/fake-blob", base);
    const char *want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    {
        berth_registry_target_t t = {.domain = fhost, .repository = "bad", .insecure = true};
        berth_err_t err = NULL;
        int rc = berth_registry_fetch_blob(fc, &t, want, -1, dest, NULL, &err);
        check(rc < 0 && err && strstr(err->msg, "mismatch") && strstr(err->msg, want) &&
                      strstr(err->msg, "content is sha256:") && access(dest, F_OK) < 0,
              "wrong blob body: digest mismatch names both digests, nothing at dest (%s)",
              err ? err->msg : "accepted");
        berth_err_free(&err);
    }
    {
        berth_registry_target_t t = {.domain = fhost, .repository = "trunc", .insecure = true};
        berth_err_t err = NULL;
        int rc = berth_registry_fetch_blob(fc, &t, want, 1000, dest, NULL, &err);
        check(rc < 0 && err && err->kind == BERTH_ERR_DATA_LOSS && strstr(err->msg, "truncated") &&
                      access(dest, F_OK) < 0,
              "truncated blob body is an error (%s)", err ? err->msg : "accepted");
        berth_err_free(&err);
    }
    {
        berth_registry_target_t t = {.domain = fhost, .repository = "stall", .insecure = true};
        berth_err_t err = NULL;
        time_t t0 = time(NULL);
        int rc = berth_registry_fetch_blob(fc, &t, want, 1000, dest, NULL, &err);
        check(rc < 0 && err && strstr(err->msg, "stalled") && time(NULL) - t0 < 6,
              "stalled blob hits the low-speed limit (%s)", err ? err->msg : "accepted");
        berth_err_free(&err);
    }
    {
        /* No insecure mark: the client must not speak plain HTTP. */
        berth_registry_target_t t = {.domain = fhost, .repository = "bad"};
        berth_err_t err = NULL;
        int rc = berth_registry_fetch_blob(fc, &t, want, -1, dest, NULL, &err);
        check(rc < 0 && err && strstr(err->msg, "https://"),
              "a host not marked insecure is spoken to over HTTPS only (%s)",
              err ? err->msg : "accepted");
        berth_err_free(&err);
    }
    {
        berth_registry_auth_t auth = {.username = "alice", .password = "secret"};
        berth_registry_target_t t = {
                .domain = fhost, .repository = "tok", .auth = &auth, .insecure = true};
        berth_registry_raw_t raw;
        berth_err_t err = NULL;
        int rc = berth_registry_fetch_manifest(fc, &t, "v1", &raw, &err);
        check(rc == 0 && atomic_load(&token_hits) == 1 &&
                      strcmp(raw.media_type, BERTH_MEDIA_OCI_MANIFEST) == 0,
              "bearer challenge: token fetched with basic credentials (%s)", err ? err->msg : "ok");
        if (rc == 0)
            berth_registry_raw_fini(&raw);
        berth_err_free(&err);
        rc = berth_registry_fetch_manifest(fc, &t, "v1", &raw, &err);
        check(rc == 0 && atomic_load(&token_hits) == 1, "token cached per scope: no second fetch");
        if (rc == 0)
            berth_registry_raw_fini(&raw);
        berth_err_free(&err);
        berth_registry_target_t anon = {.domain = fhost, .repository = "tok", .insecure = true};
        rc = berth_registry_fetch_manifest(fc, &anon, "v1", &raw, &err);
        check(rc < 0 && err && err->kind == BERTH_ERR_UNAUTHENTICATED,
              "bearer challenge without credentials: unauthenticated (%s)",
              err ? err->msg : "accepted");
        berth_err_free(&err);
        berth_registry_auth_t tokauth = {.registry_token = "tok-123"};
        berth_registry_target_t rt = {
                .domain = fhost, .repository = "tok", .auth = &tokauth, .insecure = true};
        int before = atomic_load(&token_hits);
        rc = berth_registry_fetch_manifest(fc, &rt, "v1", &raw, &err);
        check(rc == 0 && atomic_load(&token_hits) == before,
              "a registry token is sent as is, without the token endpoint");
        if (rc == 0)
            berth_registry_raw_fini(&raw);
        berth_err_free(&err);
    }
    berth_registry_client_free(fc);

    if (access("/usr/bin/docker-registry", X_OK) != 0) {
        skip("real registry cases", "docker-registry not installed");
        printf("1..%d\n", ntest);
        return nfail ? 1 : 0;
    }
    int port = free_port();
    pid_t reg = start_registry("plain", port, NULL);
    if (!check(reg > 0, "docker-registry started on 127.0.0.1:%d", port)) {
        printf("1..%d\n", ntest);
        return 1;
    }
    snprintf(reg_base, sizeof(reg_base), "http://127.0.0.1:%d", port);
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);

    make_layer();
    char layer_d[72], cfg_amd_d[72], cfg_arm_d[72];
    const char *cfg_amd = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                          "\"layers\",\"diff_ids\":[]}}";
    const char *cfg_arm = "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                          "\"layers\",\"diff_ids\":[]}}";
    bool pushed = push_blob("test/app", layer, layer_len, layer_d) &&
                  push_blob("test/app", cfg_amd, strlen(cfg_amd), cfg_amd_d) &&
                  push_blob("test/app", cfg_arm, strlen(cfg_arm), cfg_arm_d);
    char *m_amd = manifest_json(
            BERTH_MEDIA_OCI_MANIFEST, "application/vnd.oci.image.config.v1+json", cfg_amd_d,
            strlen(cfg_amd), "application/vnd.oci.image.layer.v1.tar+gzip", layer_d);
    char *m_arm = manifest_json(
            BERTH_MEDIA_OCI_MANIFEST, "application/vnd.oci.image.config.v1+json", cfg_arm_d,
            strlen(cfg_arm), "application/vnd.oci.image.layer.v1.tar+gzip", layer_d);
    char *m_dock = manifest_json(BERTH_MEDIA_DOCKER_MANIFEST,
                                 "application/vnd.docker.container.image.v1+json", cfg_amd_d,
                                 strlen(cfg_amd),
                                 "application/vnd.docker.image.rootfs.diff.tar.gzip", layer_d);
    char m_amd_d[72], m_arm_d[72];
    digest_of(m_amd, strlen(m_amd), m_amd_d);
    digest_of(m_arm, strlen(m_arm), m_arm_d);
    char *index = berth_asprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
            "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
            "\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
            "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\","
            "\"architecture\":\"amd64\"}}]}",
            BERTH_MEDIA_OCI_INDEX, BERTH_MEDIA_OCI_MANIFEST, m_arm_d, strlen(m_arm),
            BERTH_MEDIA_OCI_MANIFEST, m_amd_d, strlen(m_amd));
    pushed = pushed && push_manifest("test/app", "v1", BERTH_MEDIA_OCI_MANIFEST, m_amd) &&
             push_manifest("test/app", m_arm_d, BERTH_MEDIA_OCI_MANIFEST, m_arm) &&
             push_manifest("test/app", "docker", BERTH_MEDIA_DOCKER_MANIFEST, m_dock) &&
             push_manifest("test/app", "multi", BERTH_MEDIA_OCI_INDEX, index);
    check(pushed, "content pushed to the registry with plain PUTs");

    const char *insecure[] = {host, NULL};
    berth_registry_opts_t opts = {.insecure_hosts = insecure, .low_speed_time = 5};
    berth_registry_client_t *c = berth_registry_client_new(&opts);
    berth_registry_target_t t = {.domain = host, .repository = "test/app"};
    berth_err_t err = NULL;
    berth_registry_raw_t raw;
    int rc = berth_registry_fetch_manifest(c, &t, "v1", &raw, &err);
    check(rc == 0 && strcmp(raw.media_type, BERTH_MEDIA_OCI_MANIFEST) == 0 &&
                  strcmp(raw.digest, m_amd_d) == 0 && raw.len == strlen(m_amd) &&
                  memcmp(raw.data, m_amd, raw.len) == 0,
          "OCI manifest by tag: media type, digest, exact bytes (%s)", err ? err->msg : "ok");
    if (rc == 0)
        berth_registry_raw_fini(&raw);
    berth_err_free(&err);
    rc = berth_registry_fetch_manifest(c, &t, m_amd_d, &raw, &err);
    check(rc == 0 && strcmp(raw.digest, m_amd_d) == 0, "manifest by digest");
    if (rc == 0)
        berth_registry_raw_fini(&raw);
    berth_err_free(&err);
    rc = berth_registry_fetch_manifest(c, &t, "nope", &raw, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_NOT_FOUND, "unknown tag is NOT_FOUND (%s)",
          err ? err->msg : "accepted");
    berth_err_free(&err);

    berth_registry_image_t img;
    rc = berth_registry_resolve(c, &t, "docker", NULL, NULL, NULL, &img, &err);
    check(rc == 0 && strcmp(img.top.media_type, BERTH_MEDIA_DOCKER_MANIFEST) == 0 &&
                  !img.parsed.is_index && img.parsed.n_layers == 1 &&
                  strcmp(img.parsed.layers[0].media_type,
                         "application/vnd.docker.image.rootfs.diff.tar.gzip") == 0 &&
                  strcmp(img.parsed.config.digest, cfg_amd_d) == 0,
          "Docker schema 2 manifest resolved and parsed (%s)", err ? err->msg : "ok");
    if (rc == 0)
        berth_registry_image_fini(&img);
    berth_err_free(&err);

    rc = berth_registry_resolve(c, &t, "multi", NULL, NULL, NULL, &img, &err);
    check(rc == 0 && strcmp(img.top.media_type, BERTH_MEDIA_OCI_INDEX) == 0 &&
                  strcmp(img.manifest.digest, m_amd_d) == 0 &&
                  strcmp(img.parsed.config.digest, cfg_amd_d) == 0,
          "index: linux/amd64 picked by default (%s)", err ? err->msg : "ok");
    if (rc == 0)
        berth_registry_image_fini(&img);
    berth_err_free(&err);
    rc = berth_registry_resolve(c, &t, "multi", "linux", "arm64", "v8", &img, &err);
    check(rc == 0 && strcmp(img.manifest.digest, m_arm_d) == 0 &&
                  strcmp(img.parsed.config.digest, cfg_arm_d) == 0,
          "index: linux/arm64/v8 picked on request");
    if (rc == 0)
        berth_registry_image_fini(&img);
    berth_err_free(&err);
    rc = berth_registry_resolve(c, &t, "multi", "linux", "s390x", NULL, &img, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_NOT_FOUND && strstr(err->msg, "linux/arm64/v8"),
          "index: a missing platform lists those present (%s)", err ? err->msg : "accepted");
    berth_err_free(&err);

    char blob[300], unpacked[300];
    snprintf(blob, sizeof(blob), "%s/layer.blob", base);
    uint64_t got = 0;
    rc = berth_registry_fetch_blob(c, &t, layer_d, (int64_t)layer_len, blob, &got, &err);
    char hex[65];
    berth_err_t e2 = NULL;
    check(rc == 0 && got == layer_len && berth_sha256_file(blob, hex, &e2) == 0 &&
                  strcmp(hex, layer_d + 7) == 0,
          "blob fetched, verified and renamed into place (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    berth_err_free(&e2);
    snprintf(unpacked, sizeof(unpacked), "%s/layer", base);
    char hello[400];
    snprintf(hello, sizeof(hello), "%s/hello.txt", unpacked);
    check(berth_unpack_layer(blob, unpacked, NULL, NULL, &err) == 0 && access(hello, F_OK) == 0,
          "fetched layer unpacks");
    berth_err_free(&err);
    char blob2[300];
    snprintf(blob2, sizeof(blob2), "%s/missing.blob", base);
    rc = berth_registry_fetch_blob(
            c, &t, "sha256:1111111111111111111111111111111111111111111111111111111111111111", -1,
            blob2, NULL, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_NOT_FOUND && access(blob2, F_OK) < 0,
          "unknown blob is NOT_FOUND, nothing written (%s)", err ? err->msg : "accepted");
    berth_err_free(&err);
    rc = berth_registry_fetch_blob(c, &t, "sha256:../../etc/passwd", -1, blob2, NULL, &err);
    check(rc < 0 && err && err->kind == BERTH_ERR_INVALID,
          "an invalid digest never reaches a URL or path");
    berth_err_free(&err);
    berth_registry_client_free(c);
    stop_registry(reg);

    /* Basic auth: docker-registry with htpasswd (bcrypt). */
#ifdef BERTH_HAVE_LIBCRYPT
    char hp[300];
    snprintf(hp, sizeof(hp), "%s/htpasswd", base);
    const char *salt = crypt_gensalt("$2b$", 10, NULL, 0);
    const char *hash = salt ? crypt("s3cret", salt) : NULL;
    if (hash == NULL || strncmp(hash, "$2b$", 4) != 0) {
        skip("basic auth against docker-registry", "libcrypt has no bcrypt");
    } else {
        FILE *f = fopen(hp, "w");
        fprintf(f, "bob:%s\n", hash);
        fclose(f);
        int aport = free_port();
        pid_t areg = start_registry("auth", aport, hp);
        if (check(areg > 0, "docker-registry with htpasswd started")) {
            char ahost[64];
            snprintf(ahost, sizeof(ahost), "127.0.0.1:%d", aport);
            const char *ains[] = {ahost, NULL};
            berth_registry_opts_t ao = {.insecure_hosts = ains};
            berth_registry_client_t *ac = berth_registry_client_new(&ao);
            berth_registry_target_t at = {.domain = ahost, .repository = "test/app"};
            rc = berth_registry_fetch_manifest(ac, &at, "v1", &raw, &err);
            check(rc < 0 && err && err->kind == BERTH_ERR_UNAUTHENTICATED,
                  "basic auth registry: anonymous refused (%s)", err ? err->msg : "accepted");
            berth_err_free(&err);
            berth_registry_auth_t good = {.username = "bob", .password = "s3cret"};
            at.auth = &good;
            rc = berth_registry_fetch_manifest(ac, &at, "v1", &raw, &err);
            /* The registry is empty: getting past auth means NOT_FOUND. */
            check(rc < 0 && err && err->kind == BERTH_ERR_NOT_FOUND,
                  "basic auth with username/password passes (%s)", err ? err->msg : "?");
            berth_err_free(&err);
            berth_registry_auth_t b64 = {.auth = "Ym9iOnMzY3JldA=="}; /* bob:s3cret */
            at.auth = &b64;
            rc = berth_registry_fetch_manifest(ac, &at, "v1", &raw, &err);
            check(rc < 0 && err && err->kind == BERTH_ERR_NOT_FOUND,
                  "basic auth with a base64 auth string passes (%s)", err ? err->msg : "?");
            berth_err_free(&err);
            berth_registry_auth_t wrong = {.username = "bob", .password = "nope"};
            at.auth = &wrong;
            rc = berth_registry_fetch_manifest(ac, &at, "v1", &raw, &err);
            check(rc < 0 && err && err->kind == BERTH_ERR_UNAUTHENTICATED,
                  "basic auth with a wrong password refused (%s)", err ? err->msg : "?");
            berth_err_free(&err);
            berth_registry_client_free(ac);
            stop_registry(areg);
        }
    }
#else
    skip("basic auth against docker-registry", "built without libcrypt (bcrypt for htpasswd)");
#endif
    berth_free(m_amd);
    berth_free(m_arm);
    berth_free(m_dock);
    berth_free(index);
    berth_unpack_remove_tree(base, &err);
    berth_err_free(&err);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
