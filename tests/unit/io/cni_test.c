/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/cni with the real plugins of /usr/lib/cni (root): conflist parsing; ADD
 * of bridge + host-local + tuning + a recording plugin into a pinned netns
 * (an IP of the test subnet, the veth on the host, the MTU tuning applied
 * after bridge through prevResult, runtimeConfig only for declared
 * capabilities, CNI_ARGS); loopback as a single .conf; CHECK; the results
 * cache round trip; DEL from the cache with a fresh network after a
 * "restart" (veth and IPAM address gone); a failing plugin's own message
 * with the rollback undoing bridge; a slow plugin killed by the budget; a
 * missing plugin. Every run uses its own bridges and subnets (10.213.1-3.0/24)
 * and removes them. Skips (77) when not root or the plugins are missing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <semaphore.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/cni.h"
#include "io/netns.h"
#include "tests/unit/check.h"

#ifndef BERTH_CNI_FIXTURES
#error "BERTH_CNI_FIXTURES must name tests/fixtures/cni"
#endif

extern char **environ;

/* ---- helpers ------------------------------------------------------------ */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = berth_malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0)
            buf = berth_realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Replaces every "@KEY@" of the template with its value (pairs, NULL-ended). */
static char *fill(const char *tmpl_name, ...)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", BERTH_CNI_FIXTURES, tmpl_name);
    char *text = read_file(path);
    if (text == NULL)
        return NULL;
    va_list ap;
    va_start(ap, tmpl_name);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        BERTH_AUTO_FREE char *pat = berth_asprintf("@%s@", key);
        char *at;
        while ((at = strstr(text, pat)) != NULL) {
            char *next = berth_asprintf("%.*s%s%s", (int)(at - text), text, val, at + strlen(pat));
            berth_free(text);
            text = next;
        }
    }
    va_end(ap);
    return text;
}

static berth_cni_net_t *load_net(char *text)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cni_net_t *n = text ? berth_cni_net_parse(text, strlen(text), "test", &err) : NULL;
    if (n == NULL)
        printf("# parse: %s\n", err ? err->msg : "no template");
    berth_free(text);
    return n;
}

/* Runs argv (PATH search), returns its exit status; stdout into out. */
static int run(char *out, size_t outlen, const char *arg0, ...)
{
    char *argv[16];
    int n = 0;
    va_list ap;
    va_start(ap, arg0);
    argv[n++] = (char *)arg0;
    const char *a;
    while (n < 15 && (a = va_arg(ap, const char *)) != NULL)
        argv[n++] = (char *)a;
    argv[n] = NULL;
    va_end(ap);
    int p[2];
    if (pipe(p) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, arg0, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    size_t got = 0;
    ssize_t r;
    char sink[512];
    while ((r = read(p[0], out && got + 1 < outlen ? out + got : sink,
                     out && got + 1 < outlen ? outlen - got - 1 : sizeof sink)) > 0)
        if (out && got + 1 < outlen)
            got += (size_t)r;
    close(p[0]);
    if (out)
        out[got] = '\0';
    if (rc != 0)
        return -1;
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool link_exists(const char *name)
{
    return run(NULL, 0, "ip", "link", "show", "dev", name, NULL) == 0;
}

/* The IP files host-local keeps for a network (addresses in use). */
static int ipam_entries(const char *dir, const char *net)
{
    BERTH_AUTO_FREE char *d = berth_asprintf("%s/%s", dir, net);
    DIR *dd = opendir(d);
    if (dd == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL)
        if (strncmp(e->d_name, "10.213.", 7) == 0 && strncmp(e->d_name, "last", 4) != 0)
            n++;
    closedir(dd);
    return n;
}

static int count_lines(const char *path)
{
    BERTH_AUTO_FREE char *t = read_file(path);
    int n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    return n;
}

/* ---- a caller actor: one berth_cni_run, reply handed to main ------------ */

enum { MSG_GO = 300 };

static sem_t done_sem;
static berth_cni_done_msg_t *reply;
static berth_err_t start_err;

typedef struct caller {
    const berth_cni_run_spec_t *spec;
} caller_t;

static void caller_receive(berth_actor_t *self, berth_msg_t *msg)
{
    caller_t *c = berth_actor_state(self);
    if (msg->type == MSG_GO) {
        berth_msg_free(msg);
        if (berth_cni_run(berth_actor_self(self), c->spec, 42, &start_err) < 0) {
            berth_actor_exit(self);
            sem_post(&done_sem);
        }
        return;
    }
    if (msg->type == BERTH_MSG_CNI_DONE) {
        reply = (berth_cni_done_msg_t *)msg;
        berth_actor_exit(self);
        sem_post(&done_sem);
        return;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t caller_class = {
        .name = "cni-test-caller", .receive = caller_receive, .fini = berth_free};

/* Runs one op through the engine; returns the reply (owned) or NULL with
 * start_err set. */
static berth_cni_done_msg_t *cni(const berth_cni_run_spec_t *spec)
{
    reply = NULL;
    berth_err_free(&start_err);
    caller_t *c = berth_calloc(1, sizeof *c);
    c->spec = spec;
    berth_send(berth_actor_spawn(&caller_class, c), berth_msg_new(MSG_GO, sizeof(berth_msg_t)));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    while (sem_timedwait(&done_sem, &ts) < 0)
        if (errno != EINTR)
            return NULL;
    berth_cni_done_msg_t *r = reply;
    reply = NULL;
    return r;
}

static const char *errmsg(const berth_cni_done_msg_t *d)
{
    if (d == NULL)
        return start_err ? start_err->msg : "no reply";
    return d->error ? d->error->msg : "ok";
}

static void done_free(berth_cni_done_msg_t **d)
{
    if (*d)
        berth_msg_free(&(*d)->hdr);
    *d = NULL;
}

/* The last JSON line of the recording plugin's file for one command. */
static json_t *recorded(const char *file)
{
    BERTH_AUTO_FREE char *t = read_file(file);
    if (t == NULL)
        return NULL;
    char *last = NULL;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
        last = line;
    return last ? json_loads(last, 0, NULL) : NULL;
}

int main(void)
{
    alarm(300);
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root (network namespaces, bridges)\n");
        return 77;
    }
    const char *need[] = {"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback",
                          "/usr/lib/cni/tuning"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(need); i++)
        if (access(need[i], X_OK) != 0) {
            printf("1..0 # SKIP CNI plugin %s missing (containernetworking-plugins)\n", need[i]);
            return 77;
        }
    if (run(NULL, 0, "jq", "--version", NULL) != 0 || run(NULL, 0, "ip", "-V", NULL) != 0) {
        printf("1..0 # SKIP jq and ip (iproute2) are needed by the fixture plugins and checks\n");
        return 77;
    }
    char tmpl[] = "/tmp/berth-cni-XXXXXX";
    char *base = mkdtemp(tmpl);
    if (base == NULL)
        return 1;
    BERTH_AUTO_FREE char *pins = berth_asprintf("%s/ns", base);
    BERTH_AUTO_FREE char *ipam = berth_asprintf("%s/ipam", base);
    BERTH_AUTO_FREE char *cache = berth_asprintf("%s/cache", base);
    BERTH_AUTO_FREE char *record = berth_asprintf("%s/record.jsonl", base);
    BERTH_AUTO_FREE char *counter = berth_asprintf("%s/slow-adds", base);
    BERTH_AUTO_FREE char *plugdir = berth_asprintf("%s/plugins", BERTH_CNI_FIXTURES);
    char br1[16], br2[16], br3[16];
    int tag = (int)(getpid() % 100000);
    snprintf(br1, sizeof br1, "bt%05da", tag);
    snprintf(br2, sizeof br2, "bt%05db", tag);
    snprintf(br3, sizeof br3, "bt%05dc", tag);
    const char *dirs[] = {"/usr/lib/cni", plugdir, NULL};

    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_netns_spec_t nss = {.pin_dir = pins, .pod_id = "cnipod", .kinds = BERTH_NETNS_NET};
    berth_netns_paths_t ns = {0};
    if (berth_netns_create(&nss, &ns, &err) < 0) {
        printf("1..0 # SKIP cannot create a network namespace: %s\n", err->msg);
        return 77;
    }
    printf("1..30\n");

    /* ---- parsing ---- */
    berth_cni_net_t *net =
            load_net(fill("berth-unit.conflist.in", "NAME", "berth-unit", "BRIDGE", br1, "SUBNET",
                          "10.213.1.0/24", "DATADIR", ipam, "RECORD", record, NULL));
    check(net && strcmp(berth_cni_net_name(net), "berth-unit") == 0 &&
                  strcmp(berth_cni_net_version(net), "1.0.0") == 0 &&
                  berth_cni_net_nplugins(net) == 3 &&
                  strcmp(berth_cni_net_plugin_type(net, 1), "tuning") == 0,
          "conflist parsed: name, cniVersion, 3 plugins");
    BERTH_AUTO_FREE char *lo_path = berth_asprintf("%s/99-loopback.conf", BERTH_CNI_FIXTURES);
    berth_cni_net_t *lo = berth_cni_net_load(lo_path, &err);
    check(lo && berth_cni_net_nplugins(lo) == 1 &&
                  strcmp(berth_cni_net_plugin_type(lo, 0), "loopback") == 0 &&
                  strcmp(berth_cni_net_name(lo), "berth-loopback") == 0,
          "a single .conf loads as a one-plugin list");
    const char *bad1 =
            "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"../b\"}]}";
    const char *bad2 = "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}";
    const char *bad3 = "{\"cniVersion\":\"1.0.0\",\"name\":\"a/b\",\"type\":\"bridge\"}";
    BERTH_AUTO_ERR berth_err_t pe1 = NULL, pe2 = NULL, pe3 = NULL;
    check(!berth_cni_net_parse(bad1, strlen(bad1), "bad1", &pe1) && pe1 &&
                  strstr(pe1->msg, "without '/'") &&
                  !berth_cni_net_parse(bad2, strlen(bad2), "bad2", &pe2) && pe2 &&
                  strstr(pe2->msg, "no plugins") &&
                  !berth_cni_net_parse(bad3, strlen(bad3), "bad3", &pe3) && pe3,
          "a plugin type with '/', an empty chain and a bad name are refused");

    sem_init(&done_sem, 0, 0);
    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return 1;
    }

    /* ---- ADD ---- */
    berth_cni_run_spec_t add = {
            .op = BERTH_CNI_ADD,
            .net = net,
            .container_id = "cnipod",
            .netns = ns.net,
            .pod_namespace = "default",
            .pod_name = "web-1",
            .pod_uid = "uid-123",
            .plugin_dirs = dirs,
            .port_mappings_json = "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}]",
            .capability_args_json = "{\"bandwidth\":{\"ingressRate\":1000},\"ipRanges\":[]}",
            .timeout_ns = 60ull * 1000000000ull,
    };
    berth_cni_done_msg_t *d = cni(&add);
    check(d && d->error == NULL && d->tag == 42 && d->op == BERTH_CNI_ADD && d->result_json,
          "ADD bridge+host-local+tuning+record-config (%s)", errmsg(d));
    bool in_subnet = d && d->ips && d->ips[0] && strncmp(d->ips[0], "10.213.1.", 9) == 0 &&
                     d->ips[1] == NULL;
    check(in_subnet, "one pod IP in 10.213.1.0/24 (%s)",
          d && d->ips && d->ips[0] ? d->ips[0] : "none");
    /* The host side of the veth is the interface without a sandbox. */
    char veth[64] = "";
    json_t *res = d && d->result_json ? json_loads(d->result_json, 0, NULL) : NULL;
    json_t *ifs = json_object_get(res, "interfaces");
    for (size_t i = 0; i < json_array_size(ifs); i++) {
        json_t *itf = json_array_get(ifs, i);
        const char *name = json_string_value(json_object_get(itf, "name"));
        if (name && !json_object_get(itf, "sandbox") && strcmp(name, br1) != 0)
            snprintf(veth, sizeof veth, "%s", name);
    }
    check(veth[0] && link_exists(veth) && link_exists(br1), "the veth %s and bridge %s exist", veth,
          br1);
    check(in_subnet && ipam_entries(ipam, "berth-unit") == 1, "host-local holds the address");
    char out[4096] = "";
    BERTH_AUTO_FREE char *nsarg = berth_asprintf("--net=%s", ns.net);
    run(out, sizeof out, "nsenter", nsarg, "ip", "link", "show", "eth0", NULL);
    check(strstr(out, "mtu 1400") != NULL,
          "tuning (after bridge, fed prevResult) set eth0's MTU in the pod netns");
    json_t *rec = recorded(record);
    json_t *rc = json_object_get(rec, "runtimeConfig");
    json_t *prev_ips = json_object_get(json_object_get(rec, "prevResult"), "ips");
    check(json_is_array(prev_ips) && json_array_size(prev_ips) == 1 &&
                  json_equal(json_object_get(json_array_get(prev_ips, 0), "address"),
                             json_object_get(json_array_get(json_object_get(res, "ips"), 0),
                                             "address")),
          "the third plugin got the chain's result as prevResult");
    check(json_integer_value(json_object_get(json_array_get(json_object_get(rc, "portMappings"), 0),
                                             "hostPort")) == 8080 &&
                  json_object_get(rc, "bandwidth") && !json_object_get(rc, "ipRanges"),
          "runtimeConfig carries the declared capabilities only");
    check(strcmp(json_string_value(json_object_get(rec, "name")) ?: "", "berth-unit") == 0 &&
                  strcmp(json_string_value(json_object_get(rec, "cniVersion")) ?: "", "1.0.0") == 0,
          "name and cniVersion are injected into each plugin config");
    json_decref(rec);
    BERTH_AUTO_FREE char *envf = berth_asprintf("%s.env", record);
    BERTH_AUTO_FREE char *env = read_file(envf);
    check(env && strstr(env, "CNI_COMMAND=ADD") && strstr(env, "CNI_IFNAME=eth0") &&
                  strstr(env, "CNI_CONTAINERID=cnipod") &&
                  strstr(env, "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;"
                              "K8S_POD_INFRA_CONTAINER_ID=cnipod;K8S_POD_UID=uid-123") &&
                  strstr(env, "IgnoreUnknown=1") && strstr(env, "CNI_PATH=/usr/lib/cni:"),
          "CNI_* environment");

    /* loopback: a separate single-plugin network on "lo". */
    berth_cni_run_spec_t lo_add = add;
    lo_add.net = lo;
    lo_add.ifname = "lo";
    berth_cni_done_msg_t *ld = cni(&lo_add);
    run(out, sizeof out, "nsenter", nsarg, "ip", "link", "show", "lo", NULL);
    check(ld && ld->error == NULL && strstr(out, "UP") != NULL, "loopback ADD brings lo up (%s)",
          errmsg(ld));

    /* ---- CHECK ---- */
    berth_cni_run_spec_t chk = add;
    chk.op = BERTH_CNI_CHECK;
    chk.prev_result_json = d ? d->result_json : NULL;
    berth_cni_done_msg_t *cd = cni(&chk);
    check(cd && cd->error == NULL && cd->result_json == NULL,
          "CHECK with the ADD result passes (%s)", errmsg(cd));
    done_free(&cd);

    /* ---- cache ---- */
    int wr = d ? berth_cni_cache_write(cache, "cnipod", net, d->result_json, &err) : -1;
    int wr2 = ld ? berth_cni_cache_write(cache, "cnipod", lo, ld->result_json, &err) : -1;
    berth_cni_net_t *cnet = NULL;
    BERTH_AUTO_FREE char *cres = NULL;
    int rd = berth_cni_cache_read(cache, "cnipod", "berth-unit", &cnet, &cres, &err);
    check(wr == 0 && wr2 == 0 && rd == 0 && cnet &&
                  strcmp(berth_cni_net_json(cnet), berth_cni_net_json(net)) == 0 && cres && d &&
                  strcmp(cres, d->result_json) == 0,
          "cache write/read round trip (%s)", err ? err->msg : "ok");
    char **names = berth_cni_cache_list(cache, "cnipod", &err);
    int nnames = 0;
    for (char **p = names; p && *p; p++)
        nnames++;
    check(nnames == 2, "the cache lists both networks of the pod");
    berth_cni_strv_free(names);
    BERTH_AUTO_ERR berth_err_t miss = NULL;
    check(berth_cni_cache_read(cache, "otherpod", "berth-unit", NULL, NULL, &miss) < 0 && miss &&
                  miss->errnum == ENOENT,
          "a missing cache entry is ENOENT");
    berth_cni_net_unref(cnet);
    cnet = NULL;

    /* ---- "restart": DEL from the cache with a fresh network ---- */
    berth_free(cres);
    cres = NULL;
    berth_cni_net_unref(net);
    net = NULL;
    rd = berth_cni_cache_read(cache, "cnipod", "berth-unit", &cnet, &cres, &err);
    berth_cni_run_spec_t del = {
            .op = BERTH_CNI_DEL,
            .net = cnet,
            .container_id = "cnipod",
            .netns = ns.net,
            .plugin_dirs = dirs,
            .prev_result_json = cres,
            .timeout_ns = 60ull * 1000000000ull,
    };
    berth_cni_done_msg_t *dd = rd == 0 ? cni(&del) : NULL;
    check(dd && dd->error == NULL, "DEL from the cached network and result (%s)", errmsg(dd));
    check(veth[0] && !link_exists(veth), "the veth is gone");
    check(ipam_entries(ipam, "berth-unit") == 0, "host-local released the address");
    rec = recorded(record);
    check(json_object_get(rec, "prevResult") != NULL &&
                  strstr(read_file(envf) ?: "", "CNI_COMMAND=DEL"),
          "DEL gave plugins the cached result as prevResult");
    json_decref(rec);
    done_free(&dd);
    berth_cni_run_spec_t lo_del = del;
    berth_cni_net_t *clo = NULL;
    BERTH_AUTO_FREE char *clo_res = NULL;
    berth_cni_cache_read(cache, "cnipod", "berth-loopback", &clo, &clo_res, &err);
    lo_del.net = clo;
    lo_del.ifname = "lo";
    lo_del.prev_result_json = clo_res;
    berth_cni_done_msg_t *lod = clo ? cni(&lo_del) : NULL;
    BERTH_AUTO_FREE char *podcache = berth_asprintf("%s/cnipod", cache);
    /* what a crash during a cache write leaves: removed with the pod */
    BERTH_AUTO_FREE char *crashtmp = berth_asprintf("%s/berth-unit.json.tmp.Ab12Cd", podcache);
    FILE *tf = fopen(crashtmp, "w");
    if (tf)
        fclose(tf);
    struct stat st;
    check(lod && lod->error == NULL && berth_cni_cache_remove(cache, "cnipod", NULL, &err) == 0 &&
                  stat(podcache, &st) < 0 &&
                  berth_cni_cache_remove(cache, "cnipod", NULL, &err) == 0,
          "loopback DEL, then the pod's cache is removed with a crash's temp file (idempotent)");
    done_free(&lod);
    berth_cni_net_unref(clo);
    berth_cni_net_unref(cnet);
    berth_cni_net_unref(lo);
    done_free(&d);
    done_free(&ld);
    json_decref(res);

    /* ---- a failing plugin: its message, and bridge rolled back ---- */
    berth_cni_net_t *fnet = load_net(fill("fail-bridge.conflist.in", "NAME", "berth-fail", "BRIDGE",
                                          br2, "SUBNET", "10.213.2.0/24", "DATADIR", ipam,
                                          "MESSAGE", "no room on the bridge", NULL));
    berth_cni_run_spec_t fadd = add;
    fadd.net = fnet;
    d = fnet ? cni(&fadd) : NULL;
    check(d && d->error && d->result_json == NULL &&
                  strstr(d->error->msg, "plugin fail-bridge (ADD) failed: no room on the bridge: "
                                        "injected by the test"),
          "a plugin's CNI error reaches the owner (%s)", errmsg(d));
    out[0] = '\0';
    run(out, sizeof out, "ip", "-o", "link", "show", "master", br2, NULL);
    check(d && out[0] == '\0' && ipam_entries(ipam, "berth-fail") == 0,
          "the ADD was rolled back: no veth on %s, no address held", br2);
    done_free(&d);
    berth_cni_net_unref(fnet);

    /* ---- the budget kills a slow plugin ---- */
    berth_cni_net_t *snet = load_net(fill("slow-bridge.conflist.in", "NAME", "berth-slow",
                                          "SECONDS", "30", "COUNTFILE", counter, "BRIDGE", br3,
                                          "SUBNET", "10.213.3.0/24", "DATADIR", ipam, NULL));
    berth_cni_run_spec_t sadd = add;
    sadd.net = snet;
    sadd.timeout_ns = 1000000000ull;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    d = snet ? cni(&sadd) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    check(d && d->error && d->error->kind == BERTH_ERR_TIMEOUT &&
                  strstr(d->error->msg, "plugin slow-bridge (ADD) timed out after 1.0 s"),
          "the budget kills the slow plugin (%s)", errmsg(d));
    /* Not a timing assertion on the work: only that the 30 s sleep was cut. */
    check(d && secs < 25.0 && count_lines(counter) == 1,
          "the op ended before the plugin's 30 s sleep, after one ADD attempt");
    done_free(&d);
    berth_cni_net_unref(snet);

    /* ---- a missing plugin, and a bad spec ---- */
    const char *nos = "{\"cniVersion\":\"1.0.0\",\"name\":\"nos\",\"type\":\"no-such-plugin\"}";
    berth_cni_net_t *nnet = berth_cni_net_parse(nos, strlen(nos), "nos", &err);
    berth_cni_run_spec_t nadd = add;
    nadd.net = nnet;
    d = cni(&nadd);
    check(d && d->error && strstr(d->error->msg, "no executable no-such-plugin"),
          "a missing plugin binary is reported (%s)", errmsg(d));
    done_free(&d);
    nadd.netns = NULL;
    d = cni(&nadd);
    check(d == NULL && start_err && start_err->errnum == EINVAL,
          "ADD without a netns is refused at once (%s)", errmsg(d));
    berth_cni_net_unref(nnet);

    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();

    /* ---- leave nothing behind ---- */
    run(NULL, 0, "ip", "link", "del", br1, NULL);
    run(NULL, 0, "ip", "link", "del", br2, NULL);
    run(NULL, 0, "ip", "link", "del", br3, NULL);
    berth_netns_remove(&ns, NULL);
    berth_netns_paths_fini(&ns);
    berth_netns_dir_release(pins, NULL);
    check(!link_exists(br1) && !link_exists(br2) && !link_exists(br3) &&
                  ipam_entries(ipam, "berth-unit") + ipam_entries(ipam, "berth-fail") +
                                  ipam_entries(ipam, "berth-slow") ==
                          0,
          "bridges deleted and no address held");
    run(NULL, 0, "rm", "-rf", base, NULL);
    check(access(base, F_OK) != 0, "temporary directory removed");
    return nfail ? 1 : 0;
}
