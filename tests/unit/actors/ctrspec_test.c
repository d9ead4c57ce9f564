/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/ctrspec: the CRI -> OCI translation of a container, table by table:
 * the kubelet's argv rule, the environment, stop signal names, and
 * berth_ctrspec_write end to end into a temp bundle (a rootfs with its own
 * etc/passwd and etc/group), each row probing config.json by JSON pointer,
 * and the kubelet's resource sets on several nodes: config.json's
 * linux.resources and the UpdateContainerResources file, compared as text.
 * Pure apart from the temp dir: no daemon, no runtime, no cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/ctrspec.h"
#include "actors/runtimes.h"
#include "engine/alloc.h"
#include "io/fs.h"
#include "tests/unit/check.h"

#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* "a b c" for messages; owned. */
static char *strv_join(char *const *v, size_t n)
{
    char *s = berth_strdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = berth_asprintf("%s%s\"%s\"", s, i ? " " : "", v[i] ? v[i] : "(null)");
        berth_free(s);
        s = t;
    }
    return s;
}

static bool strv_eq(char *const *got, size_t n, const char *const *want)
{
    if (n != strv_len(want) || got[n] != NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (got[i] == NULL || strcmp(got[i], want[i]) != 0)
            return false;
    return true;
}

/* The image config's "config" object from JSON text; NULL stays NULL. */
static json_t *icfg_of(const char *text)
{
    if (text == NULL)
        return NULL;
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL) {
        fprintf(stderr, "# bad table JSON %s: %s\n", text, je.text);
        abort();
    }
    return j;
}

/* ---- berth_ctrspec_args ------------------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *const *command, *const *args;
    const char *icfg; /* the image's "config" object; NULL: none */
    const char *const *want;
} args_case_t;

static const args_case_t args_cases[] = {
        {"command and args replace entrypoint and cmd", STRV("/bin/echo"), STRV("hi", "there"),
         "{\"Entrypoint\":[\"/ep\",\"-x\"],\"Cmd\":[\"c1\"]}", STRV("/bin/echo", "hi", "there")},
        {"command alone drops the image's cmd too", STRV("/bin/sh", "-c"), NULL,
         "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\",\"c2\"]}", STRV("/bin/sh", "-c")},
        {"command with no image config", STRV("/pause"), NULL, NULL, STRV("/pause")},
        {"neither: entrypoint then cmd", NULL, NULL,
         "{\"Entrypoint\":[\"/ep\",\"-x\"],\"Cmd\":[\"c1\",\"c2\"]}",
         STRV("/ep", "-x", "c1", "c2")},
        {"only args with an entrypoint: args replace cmd", NULL, STRV("a1", "a2"),
         "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}", STRV("/ep", "a1", "a2")},
        {"only args, image has no entrypoint: args alone", NULL, STRV("/bin/true"),
         "{\"Cmd\":[\"c1\"]}", STRV("/bin/true")},
        {"neither, image has only cmd", NULL, NULL, "{\"Cmd\":[\"/bin/sh\",\"-c\",\"x=1 y\"]}",
         STRV("/bin/sh", "-c", "x=1 y")},
        {"neither, image has only entrypoint", NULL, NULL, "{\"Entrypoint\":[\"/ep\"]}",
         STRV("/ep")},
        {"neither, null Entrypoint and Cmd", NULL, NULL, "{\"Entrypoint\":null,\"Cmd\":null}",
         (const char *const[]){NULL}},
        {"neither, empty image config", NULL, NULL, "{}", (const char *const[]){NULL}},
        {"neither, no image config at all", NULL, NULL, NULL, (const char *const[]){NULL}},
        {"non-string entrypoint items become \"\"", NULL, NULL,
         "{\"Entrypoint\":[\"/ep\",7],\"Cmd\":[null]}", STRV("/ep", "", "")},
};

static void test_args(void)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(args_cases); i++) {
        const args_case_t *t = &args_cases[i];
        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        cc.n_command = strv_len(t->command);
        cc.command = (char **)t->command;
        cc.n_args = strv_len(t->args);
        cc.args = (char **)t->args;
        json_t *icfg = icfg_of(t->icfg);
        size_t n = 99;
        char **v = berth_ctrspec_args(&cc, icfg, &n);
        BERTH_AUTO_FREE char *got = strv_join(v, n);
        check(strv_eq(v, n, t->want), "args: %s -> [%s]", t->what, got);
        berth_strv_free(v);
        if (icfg)
            json_decref(icfg);
    }
}

/* ---- berth_ctrspec_env -------------------------------------------------------------------- */

#define DEFPATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct {
    const char *what;
    const char *icfg;        /* the image's "config" object; NULL: none */
    const char *const *envs; /* the config's envs: key, value, key, value, ... */
    const char *hostname;
    const char *const *want;
} env_case_t;

static const env_case_t env_cases[] = {
        {"no image config: PATH and HOSTNAME", NULL, NULL, "web-0",
         STRV(DEFPATH, "HOSTNAME=web-0")},
        {"image env without PATH gets it", "{\"Env\":[\"A=1\"]}", NULL, "h",
         STRV("A=1", DEFPATH, "HOSTNAME=h")},
        {"image PATH is kept, no default", "{\"Env\":[\"PATH=/opt/bin\",\"A=1\"]}", NULL, "h",
         STRV("PATH=/opt/bin", "A=1", "HOSTNAME=h")},
        {"PATHX= is not PATH", "{\"Env\":[\"PATHX=1\"]}", NULL, "h",
         STRV("PATHX=1", DEFPATH, "HOSTNAME=h")},
        {"config env overrides the image's in place", "{\"Env\":[\"A=1\",\"B=2\"]}", STRV("A", "9"),
         "h", STRV("A=9", "B=2", DEFPATH, "HOSTNAME=h")},
        {"config env appended after HOSTNAME", "{\"Env\":[\"A=1\"]}", STRV("C", "3", "D", "4"), "h",
         STRV("A=1", DEFPATH, "HOSTNAME=h", "C=3", "D=4")},
        {"values with '=' are kept whole", "{\"Env\":[\"J=x=y\"]}", STRV("OPTS", "a=b=c"), "h",
         STRV("J=x=y", DEFPATH, "HOSTNAME=h", "OPTS=a=b=c")},
        {"an image value with '=' is replaced by key", "{\"Env\":[\"J=x=y\"]}", STRV("J", "z"), "h",
         STRV("J=z", DEFPATH, "HOSTNAME=h")},
        {"key prefix is not the same key", "{\"Env\":[\"AB=1\"]}", STRV("A", "2"), "h",
         STRV("AB=1", DEFPATH, "HOSTNAME=h", "A=2")},
        {"config HOSTNAME overrides ours", NULL, STRV("HOSTNAME", "mine"), "h",
         STRV(DEFPATH, "HOSTNAME=mine")},
        {"config PATH overrides the default", NULL, STRV("PATH", "/x"), "h",
         STRV("PATH=/x", "HOSTNAME=h")},
        {"a repeated config key: the last wins, once", NULL, STRV("A", "1", "A", "2"), "h",
         STRV(DEFPATH, "HOSTNAME=h", "A=2")},
        {"empty value", NULL, STRV("E", ""), "h", STRV(DEFPATH, "HOSTNAME=h", "E=")},
        {"non-string image env entries are skipped", "{\"Env\":[1,null,\"A=1\"]}", NULL, "h",
         STRV("A=1", DEFPATH, "HOSTNAME=h")},
        {"empty hostname", "{}", NULL, "", STRV(DEFPATH, "HOSTNAME=")},
};

static void test_env(void)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(env_cases); i++) {
        const env_case_t *t = &env_cases[i];
        size_t nkv = strv_len(t->envs) / 2;
        Runtime__V1__KeyValue kv[8];
        Runtime__V1__KeyValue *kvp[8];
        for (size_t j = 0; j < nkv && j < 8; j++) {
            Runtime__V1__KeyValue init = RUNTIME__V1__KEY_VALUE__INIT;
            kv[j] = init;
            kv[j].key = (char *)t->envs[2 * j];
            kv[j].value.data = (uint8_t *)t->envs[2 * j + 1];
            kv[j].value.len = strlen(t->envs[2 * j + 1]);
            kvp[j] = &kv[j];
        }
        Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
        cc.n_envs = nkv;
        cc.envs = kvp;
        json_t *icfg = icfg_of(t->icfg);
        size_t n = 99;
        char **v = berth_ctrspec_env(&cc, icfg, t->hostname, &n);
        BERTH_AUTO_FREE char *got = strv_join(v, n);
        check(strv_eq(v, n, t->want), "env: %s -> [%s]", t->what, got);
        berth_strv_free(v);
        if (icfg)
            json_decref(icfg);
    }
}

/* ---- berth_ctrspec_signal ----------------------------------------------------------------- */

static const struct {
    const char *name;
    int want;
} signal_cases[] = {
        {"SIGTERM", SIGTERM},
        {"TERM", SIGTERM},
        {"9", 9},
        {"15", 15},
        {"SIGKILL", SIGKILL},
        {"KILL", SIGKILL},
        {"", SIGTERM},
        {NULL, SIGTERM},
        {"BOGUS", SIGTERM},
        {"SIG", SIGTERM},
        {"SIGUSR1", SIGUSR1},
        {"USR2", SIGUSR2},
        {"SIGINT", SIGINT},
        {"SIGQUIT", SIGQUIT},
        {"SIGHUP", SIGHUP},
        {"SIGWINCH", SIGWINCH},
        {"SIGSTOP", SIGSTOP},
        {"SIGPWR", SIGPWR},
        {"0", SIGTERM},    /* signal 0 stops nothing */
        {"9abc", SIGTERM}, /* not a number */
        {"999", SIGTERM},  /* out of range */
        {"sigquit", SIGQUIT},
        {"Term", SIGTERM},
        {"SIGABRT", SIGABRT},
        {"SIGRTMIN+99", SIGTERM},
};

static void test_signal(void)
{
    for (size_t i = 0; i < BERTH_ARRAY_LEN(signal_cases); i++) {
        const char *name = signal_cases[i].name;
        int got = berth_ctrspec_signal(name);
        check(got == signal_cases[i].want, "signal: %s%s%s -> %d (want %d)", name ? "\"" : "",
              name ? name : "NULL", name ? "\"" : "", got, signal_cases[i].want);
    }
    /* systemd images stop with SIGRTMIN+3 (SIGRTMIN is not a constant) */
    check(berth_ctrspec_signal("SIGRTMIN+3") == SIGRTMIN + 3, "signal: SIGRTMIN+3");
    check(berth_ctrspec_signal("RTMAX-1") == SIGRTMAX - 1, "signal: RTMAX-1");
    check(berth_ctrspec_signal("SIGRTMIN") == SIGRTMIN, "signal: SIGRTMIN");
}

/* ---- berth_ctrspec_write ------------------------------------------------------------------ */

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                             "app:x:1000:1001:app:/home/app:/bin/sh\n";
static const char group[] = "root:x:0:\n"
                            "daemon:x:1:\n"
                            "wheel:x:10:app,root\n"
                            "audio:x:29:app\n"
                            "app:x:1001:\n";

typedef struct {
    const char *ptr;  /* RFC 6901 pointer into config.json */
    const char *want; /* JSON text; NULL: nothing there */
} probe_t;

typedef struct {
    const char *what;
    const char *const *command, *const *args;
    const char *icfg;       /* the image's "config" object; NULL: the image has no config */
    const char *image_user; /* the record's user ("" when unset) */
    const int64_t *run_as_user, *run_as_group;
    const char *run_as_username;
    const int64_t *supp;
    size_t nsupp;
    bool strict;
    int stop; /* ContainerConfig.stop_signal (a CRI Signal value) */
    bool readonly;
    bool uts;      /* the pod has a UTS namespace path */
    int want_kind; /* enum berth_err_kind; 0 (UNKNOWN, never wanted): success */
    int want_stop;
    probe_t probes[6];
} write_case_t;

#define I64(x) (&(const int64_t){x})

static const write_case_t write_cases[] = {
        {"command and args replace the image's", .command = STRV("/bin/echo"), .args = STRV("hi"),
         .icfg = "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c\"]}", .want_stop = SIGTERM,
         .probes = {{"/process/args", "[\"/bin/echo\",\"hi\"]"},
                    {"/process/env/1", "\"HOSTNAME=web-0\""},
                    {"/process/user/uid", "0"},
                    {"/process/user/gid", "0"},
                    {"/process/user/additionalGids", "[0,10]"},
                    {"/root/readonly", "false"}}},
        {"image entrypoint, cmd and env",
         .icfg = "{\"Entrypoint\":[\"/ep\",\"-x\"],\"Cmd\":[\"serve\"],"
                 "\"Env\":[\"PATH=/bin\",\"A=1\"]}",
         .want_stop = SIGTERM,
         .probes = {{"/process/args", "[\"/ep\",\"-x\",\"serve\"]"},
                    {"/process/env", "[\"PATH=/bin\",\"A=1\",\"HOSTNAME=web-0\"]"}}},
        {"args only, with the image's entrypoint", .args = STRV("a1"),
         .icfg = "{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c\"]}", .want_stop = SIGTERM,
         .probes = {{"/process/args", "[\"/ep\",\"a1\"]"}}},
        {"run_as_user 1000 resolves gid and groups from the image", .command = STRV("/bin/true"),
         .run_as_user = I64(1000), .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "1000"},
                    {"/process/user/gid", "1001"},
                    {"/process/user/additionalGids", "[10,29,1001]"}}},
        {"run_as_user and run_as_group", .command = STRV("/bin/true"), .run_as_user = I64(1000),
         .run_as_group = I64(10), .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "1000"}, {"/process/user/gid", "10"}}},
        {"run_as_user not in the image's passwd", .command = STRV("/bin/true"),
         .run_as_user = I64(4242), .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "4242"},
                    {"/process/user/gid", "0"},
                    {"/process/user/additionalGids", "[0]"}}},
        {"run_as_username", .command = STRV("/bin/true"), .run_as_username = "daemon",
         .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "1"},
                    {"/process/user/gid", "1"},
                    {"/process/user/additionalGids", "[1]"}}},
        {"the image's User name via etc/passwd", .command = STRV("/bin/true"),
         .icfg = "{\"User\":\"app\"}", .image_user = "app", .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "1000"},
                    {"/process/user/gid", "1001"},
                    {"/process/user/additionalGids", "[10,29,1001]"}}},
        {"the image's User name:group", .command = STRV("/bin/true"),
         .icfg = "{\"User\":\"app:audio\"}", .image_user = "app:audio", .want_stop = SIGTERM,
         .probes = {{"/process/user/uid", "1000"}, {"/process/user/gid", "29"}}},
        {"run_as_user wins over the image's User", .command = STRV("/bin/true"),
         .icfg = "{\"User\":\"app\"}", .image_user = "app", .run_as_user = I64(0),
         .want_stop = SIGTERM, .probes = {{"/process/user/uid", "0"}, {"/process/user/gid", "0"}}},
        {"an image User not in etc/passwd", .command = STRV("/bin/true"),
         .icfg = "{\"User\":\"nosuch\"}", .image_user = "nosuch", .want_kind = BERTH_ERR_NOT_FOUND,
         .want_stop = SIGTERM},
        {"supplemental groups merge with etc/group", .command = STRV("/bin/true"),
         .run_as_user = I64(1000), .supp = (const int64_t[]){500, 10}, .nsupp = 2,
         .want_stop = SIGTERM, .probes = {{"/process/user/additionalGids", "[10,29,500,1001]"}}},
        {"supplemental groups, Strict policy", .command = STRV("/bin/true"),
         .run_as_user = I64(1000), .supp = (const int64_t[]){500}, .nsupp = 1, .strict = true,
         .want_stop = SIGTERM,
         .probes = {{"/process/user/gid", "1001"}, {"/process/user/additionalGids", "[500,1001]"}}},
        {"readonly root", .command = STRV("/bin/true"), .readonly = true, .want_stop = SIGTERM,
         .probes = {{"/root/readonly", "true"}}},
        {"the image's StopSignal", .command = STRV("/bin/true"),
         .icfg = "{\"StopSignal\":\"SIGQUIT\"}", .want_stop = SIGQUIT,
         .probes = {{"/process/args", "[\"/bin/true\"]"}}},
        {"the config's stop_signal wins over the image's", .command = STRV("/bin/true"),
         .icfg = "{\"StopSignal\":\"SIGQUIT\"}", .stop = RUNTIME__V1__SIGNAL__SIGNAL_SIGUSR1,
         .want_stop = SIGUSR1},
        {"the config's stop_signal without an image one", .command = STRV("/bin/true"),
         .stop = RUNTIME__V1__SIGNAL__SIGNAL_SIGHUP, .want_stop = SIGHUP},
        {"the image's numeric StopSignal", .command = STRV("/bin/true"),
         .icfg = "{\"StopSignal\":\"9\"}", .want_stop = SIGKILL},
        {"no command and no image entrypoint/cmd", .icfg = "{\"Env\":[\"A=1\"]}",
         .want_kind = BERTH_ERR_INVALID, .want_stop = SIGTERM},
        {"no command and an image without config", .want_kind = BERTH_ERR_INVALID,
         .want_stop = SIGTERM},
        {"an empty command", .command = STRV(""), .want_kind = BERTH_ERR_INVALID,
         .want_stop = SIGTERM},
        {"no UTS namespace: no hostname", .command = STRV("/bin/true"), .want_stop = SIGTERM,
         .probes = {{"/hostname", NULL}, {"/process/env/1", "\"HOSTNAME=web-0\""}}},
        {"the pod's UTS namespace: hostname", .command = STRV("/bin/true"), .uts = true,
         .want_stop = SIGTERM, .probes = {{"/hostname", "\"web-0\""}}},
};

/* RFC 6901 (without ~ escapes, which no probe needs). Borrowed or NULL. */
static json_t *pointer_get(json_t *doc, const char *ptr)
{
    json_t *at = doc;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", ptr);
    char *save = NULL;
    for (char *tok = strtok_r(buf, "/", &save); at && tok; tok = strtok_r(NULL, "/", &save)) {
        if (json_is_array(at)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            at = *end == '\0' ? json_array_get(at, i) : NULL;
        } else {
            at = json_object_get(at, tok);
        }
    }
    return at;
}

static char *base;

static int put_file(const char *dir, const char *rel, const char *text)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void run_write_case(const write_case_t *t, const char *rootfs, const char *bundle,
                           const char *uts_path)
{
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    /* (its __INIT macro names deprecated fields: clang -Werror refuses it) */
    Runtime__V1__LinuxContainerSecurityContext sc;
    runtime__v1__linux_container_security_context__init(&sc);
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT,
                            gid = RUNTIME__V1__INT64_VALUE__INIT;
    cc.n_command = strv_len(t->command);
    cc.command = (char **)t->command;
    cc.n_args = strv_len(t->args);
    cc.args = (char **)t->args;
    cc.linux = &lx;
    lx.security_context = &sc;
    if (t->run_as_user) {
        uid.value = *t->run_as_user;
        sc.run_as_user = &uid;
    }
    if (t->run_as_group) {
        gid.value = *t->run_as_group;
        sc.run_as_group = &gid;
    }
    if (t->run_as_username)
        sc.run_as_username = (char *)t->run_as_username;
    sc.n_supplemental_groups = t->nsupp;
    sc.supplemental_groups = (int64_t *)t->supp;
    if (t->strict)
        sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    sc.readonly_rootfs = t->readonly;
    cc.stop_signal = t->stop;

    BERTH_AUTO_FREE char *hosts = berth_asprintf("%s/hosts", base);
    BERTH_AUTO_FREE char *resolv = berth_asprintf("%s/resolv.conf", base);
    BERTH_AUTO_FREE char *hostname = berth_asprintf("%s/hostname", base);
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", base);
    berth_pod_info_t pod = {
            .id = (char *)"0123456789abcdef",
            .name = (char *)"k8s_web-0_default_uid_0",
            .handler = (char *)"",
            .pod_name = (char *)"web-0",
            .pod_namespace = (char *)"default",
            .pod_uid = (char *)"uid",
            .hostname = (char *)"web-0",
            .log_directory = (char *)"",
            .cgroup_parent = (char *)"",
            .hosts_path = hosts,
            .resolv_path = resolv,
            .hostname_path = hostname,
            .shm_path = shm,
            .uts_ns = t->uts ? (char *)uts_path : NULL,
            .pid_mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER,
    };
    BERTH_AUTO_FREE char *doc =
            t->icfg ? berth_asprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":%s}",
                                     t->icfg)
                    : NULL;
    berth_store_image_t img = {
            .id = (char *)"sha256:0000000000000000000000000000000000000000000000000000000000000000",
            .config = doc,
            .user = (char *)(t->image_user ? t->image_user : ""),
    };
    berth_ctrspec_in_t in = {
            .config = &cc,
            .pod = &pod,
            .image = &img,
            .id = "c0ffee",
            .image_name = "docker.io/library/test:latest",
            .rootfs = rootfs,
            .bundle = bundle,
    };

    BERTH_AUTO_FREE char *cfg_path = berth_asprintf("%s/config.json", bundle);
    unlink(cfg_path);
    int stop = -1;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int rc = berth_ctrspec_write(&in, &stop, &err);
    if (t->want_kind) {
        check(rc < 0 && err && err->kind == t->want_kind, "write: %s -> %s (%s)", t->what,
              rc < 0 && err ? berth_err_kind_name(err->kind) : "success",
              err ? err->msg : "no error");
        check(access(cfg_path, F_OK) < 0 && errno == ENOENT, "write: %s: no config.json", t->what);
    } else {
        check(rc == 0 && err == NULL, "write: %s -> success (%s)", t->what,
              err ? err->msg : "no error");
    }
    check(stop == t->want_stop, "write: %s: stop signal %d (want %d)", t->what, stop, t->want_stop);
    if (t->want_kind)
        return;

    json_error_t je;
    json_t *spec = json_load_file(cfg_path, 0, &je);
    if (!check(spec != NULL, "write: %s: config.json parses (%s)", t->what, spec ? "ok" : je.text))
        return;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(t->probes) && t->probes[i].ptr; i++) {
        const probe_t *p = &t->probes[i];
        json_t *got = pointer_get(spec, p->ptr);
        BERTH_AUTO_FREE char *got_text =
                got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        bool same;
        if (p->want == NULL) {
            same = got == NULL;
        } else {
            json_t *want = json_loads(p->want, JSON_DECODE_ANY, NULL);
            same = want && got && json_equal(want, got);
            if (want)
                json_decref(want);
        }
        check(same, "write: %s: %s = %s (want %s)", t->what, p->ptr,
              got_text ? got_text : "(absent)", p->want ? p->want : "(absent)");
    }
    json_decref(spec);
}

static void test_write(void)
{
    BERTH_AUTO_FREE char *rootfs = berth_asprintf("%s/rootfs", base);
    BERTH_AUTO_FREE char *etc = berth_asprintf("%s/rootfs/etc", base);
    BERTH_AUTO_FREE char *bundle = berth_asprintf("%s/bundle", base);
    BERTH_AUTO_FREE char *uts = berth_asprintf("%s/uts", base);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    bool ready = berth_fs_mkdir_p(etc, 0755, &err) == 0 &&
                 berth_fs_mkdir_p(bundle, 0700, &err) == 0 &&
                 put_file(etc, "passwd", passwd) == 0 && put_file(etc, "group", group) == 0 &&
                 put_file(base, "uts", "") == 0;
    if (!check(ready, "write: temp rootfs and bundle in %s (%s)", base, err ? err->msg : "ok"))
        return;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(write_cases); i++)
        run_write_case(&write_cases[i], rootfs, bundle, uts);
}

/* ---- linux.resources: config.json and the update file from one builder ---------------------- */

/* Nodes the rows run on (what io/cgroups probes). */
enum { NODE_NONE, NODE_HYBRID, NODE_V1_HUGETLB, NODE_V2, NODE_BARE };

static berth_cgroups_info_t node_of(int node)
{
    berth_cgroups_info_t cg = {.memory_swap = true, .cpu_quota = true};
    unsigned v1 = BERTH_CG_CPU | BERTH_CG_CPUACCT | BERTH_CG_CPUSET | BERTH_CG_MEMORY |
                  BERTH_CG_DEVICES | BERTH_CG_FREEZER | BERTH_CG_BLKIO | BERTH_CG_PIDS;
    snprintf(cg.hugepage_sizes, sizeof(cg.hugepage_sizes), "2MB 1GB");
    switch (node) {
    case NODE_HYBRID: /* this VM before crun's preparation: hugetlb only in cgroup2 */
        cg.mode = BERTH_CGROUPS_HYBRID;
        cg.controllers = v1;
        break;
    case NODE_V1_HUGETLB:
        cg.mode = BERTH_CGROUPS_V1;
        cg.controllers = v1 | BERTH_CG_HUGETLB;
        break;
    case NODE_V2:
        cg.mode = BERTH_CGROUPS_V2;
        cg.controllers = BERTH_CG_CPU | BERTH_CG_CPUSET | BERTH_CG_MEMORY | BERTH_CG_PIDS |
                         BERTH_CG_HUGETLB | BERTH_CG_BLKIO | BERTH_CG_DEVICES;
        break;
    case NODE_BARE: /* cpu without CFS quota, memory without swap accounting, nothing else */
        cg.mode = BERTH_CGROUPS_V1;
        cg.controllers = BERTH_CG_CPU | BERTH_CG_MEMORY;
        cg.memory_swap = cg.cpu_quota = false;
        break;
    }
    return cg;
}

typedef struct {
    const char *what;
    int node;  /* NODE_NONE: no table installed, every limit kept */
    bool none; /* the request has no resources at all */
    int64_t shares, quota, period, mem, swap, oom;
    const char *cpus, *mems;
    const char *hp[3];  /* page sizes, limit 0 as the kubelet sends them */
    const char *uni[4]; /* key, value pairs */
    int64_t pids_limit; /* [crio.runtime] pids_limit */
    /* compact, sorted-key JSON; both taken from berth before the three
     * mappings became one builder (io/ocispec), so a row proves nothing moved */
    const char *want_spec;   /* config.json's linux.resources without "devices" */
    bool want_devices;       /* config.json has device rules */
    const char *want_update; /* the `runtime update --resources` file */
} res_case_t;

static const res_case_t res_cases[] = {
        {"Burstable (kubelet: cpu 250m/500m, memory 128Mi, hugepage sizes) on the hybrid VM",
         .node = NODE_HYBRID, .shares = 256, .quota = 50000, .period = 100000, .mem = 128 << 20,
         .swap = 128 << 20, .oom = 968, .hp = {"2MB", "1GB"}, .pids_limit = 1024,
         .want_devices = true,
         .want_spec = "{\"cpu\":{\"period\":100000,\"quota\":50000,\"shares\":256},\"memory\":{"
                      "\"limit\":134217728,\"swap\":134217728},\"pids\":{\"limit\":1024}}",
         .want_update = "{\"cpu\":{\"period\":100000,\"quota\":50000,\"shares\":256},\"memory\":{"
                        "\"limit\":134217728,\"swap\":134217728}}"},
        {"Guaranteed (cpu 1, memory 256Mi) on v1 with hugetlb: hugepage limits kept",
         .node = NODE_V1_HUGETLB, .shares = 1024, .quota = 100000, .period = 100000,
         .mem = 256 << 20, .swap = 256 << 20, .oom = -997, .hp = {"2MB", "1GB"},
         .want_devices = true,
         .want_spec = "{\"cpu\":{\"period\":100000,\"quota\":100000,\"shares\":1024},"
                      "\"hugepageLimits\":[{\"limit\":0,\"pageSize\":\"2MB\"},{\"limit\":0,"
                      "\"pageSize\":\"1GB\"}],\"memory\":{\"limit\":268435456,\"swap\":268435456}}",
         .want_update =
                 "{\"cpu\":{\"period\":100000,\"quota\":100000,\"shares\":1024},\"hugepageLimits\":"
                 "[{\"limit\":0,\"pageSize\":\"2MB\"},{\"limit\":0,\"pageSize\":\"1GB\"}],"
                 "\"memory\":{\"limit\":268435456,\"swap\":268435456}}"},
        {"BestEffort on v2", .node = NODE_V2, .want_devices = true, .shares = 2, .oom = 1000,
         .hp = {"2MB", "1GB"}, .pids_limit = 1024,
         .want_spec = "{\"cpu\":{\"shares\":2},\"hugepageLimits\":[{\"limit\":0,\"pageSize\":"
                      "\"2MB\"},{\"limit\":0,\"pageSize\":\"1GB\"}],\"pids\":{\"limit\":1024}}",
         .want_update = "{\"cpu\":{\"shares\":2},\"hugepageLimits\":[{\"limit\":0,\"pageSize\":"
                        "\"2MB\"},{\"limit\":0,\"pageSize\":\"1GB\"}]}"},
        {"unified on v2: kept", .node = NODE_V2, .want_devices = true, .shares = 102,
         .mem = 64 << 20, .swap = -1, .uni = {"memory.high", "50331648", "memory.swap.max", "0"},
         .want_spec = "{\"cpu\":{\"shares\":102},\"memory\":{\"limit\":67108864,\"swap\":-1},"
                      "\"unified\":{\"memory.high\":\"50331648\",\"memory.swap.max\":\"0\"}}",
         .want_update = "{\"cpu\":{\"shares\":102},\"memory\":{\"limit\":67108864,\"swap\":-1},"
                        "\"unified\":{\"memory.high\":\"50331648\",\"memory.swap.max\":\"0\"}}"},
        {"unified on hybrid: left out", .node = NODE_HYBRID, .shares = 102, .mem = 64 << 20,
         .swap = -1, .uni = {"memory.high", "50331648", "memory.swap.max", "0"},
         .want_devices = true,
         .want_spec = "{\"cpu\":{\"shares\":102},\"memory\":{\"limit\":67108864,\"swap\":-1}}",
         .want_update = "{\"cpu\":{\"shares\":102},\"memory\":{\"limit\":67108864,\"swap\":-1}}"},
        {"cpuset and quota on a node without cpuset, CFS quota or swap accounting",
         .node = NODE_BARE, .shares = 512, .quota = 20000, .period = 50000, .mem = 32 << 20,
         .swap = 64 << 20, .cpus = "0-1", .mems = "0", .pids_limit = 64,
         .want_spec = "{\"cpu\":{\"shares\":512},\"memory\":{\"limit\":33554432}}",
         .want_update = "{\"cpu\":{\"shares\":512},\"memory\":{\"limit\":33554432}}"},
        {"cpuset kept where there is a cpuset controller", .node = NODE_V1_HUGETLB, .shares = 512,
         .cpus = "0-1,3", .mems = "0", .want_devices = true,
         .want_spec = "{\"cpu\":{\"cpus\":\"0-1,3\",\"mems\":\"0\",\"shares\":512}}",
         .want_update = "{\"cpu\":{\"cpus\":\"0-1,3\",\"mems\":\"0\",\"shares\":512}}"},
        {"no node table: every limit kept", .shares = 512, .quota = 50000, .period = 100000,
         .mem = 64 << 20, .swap = 128 << 20, .cpus = "0", .hp = {"2MB"},
         .uni = {"memory.high", "1000000"}, .pids_limit = 100, .want_devices = true,
         .want_spec = "{\"cpu\":{\"cpus\":\"0\",\"period\":100000,\"quota\":50000,\"shares\":512},"
                      "\"hugepageLimits\":[{\"limit\":0,\"pageSize\":\"2MB\"}],\"memory\":{"
                      "\"limit\":67108864,\"swap\":134217728},\"pids\":{\"limit\":100},\"unified\":"
                      "{\"memory.high\":\"1000000\"}}",
         .want_update =
                 "{\"cpu\":{\"cpus\":\"0\",\"period\":100000,\"quota\":50000,\"shares\":512},"
                 "\"hugepageLimits\":[{\"limit\":0,\"pageSize\":\"2MB\"}],\"memory\":{\"limit\":"
                 "67108864,\"swap\":134217728},\"unified\":{\"memory.high\":\"1000000\"}}"},
        {"no resources in the request", .node = NODE_HYBRID, .none = true, .pids_limit = 1024,
         .want_devices = true, .want_spec = "{\"pids\":{\"limit\":1024}}"},
};

static void run_res_case(const res_case_t *t, const char *rootfs, const char *bundle)
{
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__HugepageLimit hp[3], *hpp[3];
    Runtime__V1__LinuxContainerResources__UnifiedEntry ue[2], *uep[2];
    r.cpu_shares = t->shares;
    r.cpu_quota = t->quota;
    r.cpu_period = t->period;
    r.memory_limit_in_bytes = t->mem;
    r.memory_swap_limit_in_bytes = t->swap;
    r.oom_score_adj = t->oom;
    r.cpuset_cpus = (char *)(t->cpus ? t->cpus : "");
    r.cpuset_mems = (char *)(t->mems ? t->mems : "");
    for (size_t i = 0; i < 3 && t->hp[i]; i++) {
        runtime__v1__hugepage_limit__init(&hp[i]);
        hp[i].page_size = (char *)t->hp[i];
        hpp[r.n_hugepage_limits++] = &hp[i];
    }
    r.hugepage_limits = hpp;
    for (size_t i = 0; i < 2 && t->uni[2 * i]; i++) {
        runtime__v1__linux_container_resources__unified_entry__init(&ue[i]);
        ue[i].key = (char *)t->uni[2 * i];
        ue[i].value = (char *)t->uni[2 * i + 1];
        uep[r.n_unified++] = &ue[i];
    }
    r.unified = uep;

    berth_runtimes_t table = {.cgroups = node_of(t->node)};
    berth_runtimes_install(t->node == NODE_NONE ? NULL : &table);
    const berth_cgroups_info_t *cg = t->node == NODE_NONE ? NULL : &table.cgroups;

    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    cc.n_command = 1;
    cc.command = (char *[]){(char *)"/bin/true"};
    cc.linux = &lx;
    lx.resources = t->none ? NULL : &r;
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", base);
    berth_pod_info_t pod = {
            .id = (char *)"0123456789abcdef",
            .hostname = (char *)"web-0",
            .cgroup_parent = (char *)"",
            .shm_path = shm,
            .pid_mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER,
    };
    berth_ctrspec_in_t in = {.config = &cc,
                             .pod = &pod,
                             .id = "c0ffee",
                             .image_name = "test",
                             .rootfs = rootfs,
                             .bundle = bundle,
                             .pids_limit = t->pids_limit};
    BERTH_AUTO_FREE char *cfg_path = berth_asprintf("%s/config.json", bundle);
    unlink(cfg_path);
    int stop;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int rc = berth_ctrspec_write(&in, &stop, &err);
    berth_runtimes_install(NULL);
    if (!check(rc == 0, "resources: %s: config.json written (%s)", t->what, err ? err->msg : "ok"))
        return;
    json_t *spec = json_load_file(cfg_path, 0, NULL);
    json_t *res = pointer_get(spec, "/linux/resources");
    bool devices = json_object_get(res, "devices") != NULL;
    json_object_del(res, "devices");
    BERTH_AUTO_FREE char *got_spec = res ? json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    /* the CRI has no pids limit: what is left is what an update writes */
    json_object_del(res, "pids");
    BERTH_AUTO_FREE char *spec_limits = res ? json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    check(got_spec && strcmp(got_spec, t->want_spec) == 0,
          "resources: %s: config.json linux.resources %s (want %s)", t->what,
          got_spec ? got_spec : "(absent)", t->want_spec);
    check(devices == t->want_devices, "resources: %s: device rules %s", t->what,
          devices ? "present" : "absent");
    int oom = (int)json_integer_value(pointer_get(spec, "/process/oomScoreAdj"));
    check(t->none || t->oom == 0 || oom >= t->oom, "resources: %s: oomScoreAdj %d (asked %lld)",
          t->what, oom, (long long)t->oom);
    if (spec)
        json_decref(spec);

    /* the update path (container_life.c's ctr_on_update): the same fit,
     * then the update file's text */
    if (t->none)
        return;
    berth_resources_fit_t f;
    rc = berth_runtimes_fit_resources(cg, &r, &f, &err);
    BERTH_AUTO_FREE char *got_update = rc == 0 ? berth_ocispec_resources_json(&f.res) : NULL;
    berth_resources_fit_fini(&f);
    check(got_update && strcmp(got_update, t->want_update) == 0,
          "resources: %s: update file %s (want %s)", t->what, got_update ? got_update : "(none)",
          t->want_update);
    check(got_update && spec_limits && strcmp(got_update, spec_limits) == 0,
          "resources: %s: the update file says what config.json says (less pids)", t->what);
}

static void test_resources(void)
{
    BERTH_AUTO_FREE char *rootfs = berth_asprintf("%s/rootfs", base);
    BERTH_AUTO_FREE char *bundle = berth_asprintf("%s/bundle", base);
    for (size_t i = 0; i < BERTH_ARRAY_LEN(res_cases); i++)
        run_res_case(&res_cases[i], rootfs, bundle);
}

int main(void)
{
    char tmpl[] = "/tmp/berth-ctrspec-XXXXXX";
    base = mkdtemp(tmpl);
    if (base == NULL) {
        printf("1..0 # skip mkdtemp failed: %s\n", strerror(errno));
        return 77;
    }
    test_args();
    test_env();
    test_signal();
    test_write();
    test_resources();
    berth_fs_remove_tree(base);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
