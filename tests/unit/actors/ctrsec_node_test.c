/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/ctrsec: the node-configured parts of a container's spec, applied to
 * a berth_ocispec_t: the seccomp decisions (Localhost root, seccomp_profile,
 * seccomp_use_default_when_empty, the listener), hooks from a scratch
 * hooks_dir, plain devices, CDI edits from a scratch spec dir, the
 * notifier's annotation and records; and io/ocispec's notifier form of a
 * profile. Pure apart from the temp dir: no daemon, no runtime.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/ctrsec.h"
#include "actors/nri.h"
#include "conf/config.h"
#include "conf/hooks.h"
#include "engine/alloc.h"
#include "io/fs.h"
#include "tests/unit/check.h"

static char root[] = "/tmp/berth-ctrsec-XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static berth_config_t *config(const char *const *kv)
{
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, NULL);
    berth_config_builder_set_dir(b, NULL);
    berth_err_t err = NULL;
    for (size_t i = 0; kv[i]; i += 2)
        if (berth_config_set(b, kv[i], kv[i + 1], &err) < 0)
            printf("# %s\n", err->msg);
    berth_config_t *c = berth_config_build(b, &err);
    if (c == NULL)
        printf("# config: %s\n", err->msg);
    berth_config_builder_free(b);
    return c;
}

typedef struct {
    Runtime__V1__ContainerConfig cc;
    Runtime__V1__LinuxContainerConfig lx;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__SecurityProfile prof;
    berth_pod_info_t pod;
    berth_ctrspec_in_t in;
    berth_ocispec_t spec;
} fixture_t;

static const char *const args[] = {"/bin/sleep", "1"};
static const char *const env[] = {"PATH=/bin", "A=old"};

static void fixture(fixture_t *f, const berth_config_t *cfg)
{
    memset(f, 0, sizeof(*f));
    runtime__v1__container_config__init(&f->cc);
    runtime__v1__linux_container_config__init(&f->lx);
    runtime__v1__linux_container_security_context__init(&f->sc);
    runtime__v1__security_profile__init(&f->prof);
    f->cc.linux = &f->lx;
    f->lx.security_context = &f->sc;
    f->pod.handler = (char *)"runc";
    f->in = (berth_ctrspec_in_t){.config = &f->cc, .pod = &f->pod, .id = "c1", .cfg = cfg};
    f->spec = (berth_ocispec_t){.args = args, .nargs = 2, .env = env, .nenv = 2};
}

static void set_profile(fixture_t *f, int type, const char *ref)
{
    f->prof.profile_type = type;
    f->prof.localhost_ref = (char *)ref;
    f->sc.seccomp = &f->prof;
    f->spec.seccomp = type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost
                              ? BERTH_SECCOMP_LOCALHOST
                      : type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined
                              ? BERTH_SECCOMP_UNCONFINED
                              : BERTH_SECCOMP_RUNTIME_DEFAULT;
    f->spec.seccomp_profile_path = ref;
}

/* Applies; returns the error message (owned) or NULL. */
static char *apply(fixture_t *f, berth_ctrsec_t *k, int *kind)
{
    berth_err_t err = NULL;
    int rc = berth_ctrsec_apply(&f->in, &f->spec, k, &err);
    char *m = rc < 0 ? berth_strdup(err->msg) : NULL;
    if (kind)
        *kind = rc < 0 ? err->kind : -1;
    berth_err_free(&err);
    return m;
}

static Runtime__V1__ContainerConfig__AnnotationsEntry *ann(const char *k, const char *v)
{
    Runtime__V1__ContainerConfig__AnnotationsEntry *e = berth_calloc(1, sizeof(*e));
    runtime__v1__container_config__annotations_entry__init(e);
    e->key = (char *)k;
    e->value = (char *)v;
    return e;
}

static void test_seccomp(void)
{
    BERTH_AUTO_FREE char *prof_root = berth_asprintf("%s/profiles", root);
    BERTH_AUTO_FREE char *inside = berth_asprintf("%s/p.json", prof_root);
    BERTH_AUTO_FREE char *outside = berth_asprintf("%s/p.json", root);
    BERTH_AUTO_FREE char *climb = berth_asprintf("%s/../p.json", prof_root);
    BERTH_AUTO_FREE char *link = berth_asprintf("%s/link.json", prof_root);
    mkdir(prof_root, 0700);
    write_file(inside, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
    write_file(outside, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
    symlink(outside, link);
    berth_config_t *cfg =
            config((const char *const[]){"crio.runtime.seccomp_localhost_root", prof_root, NULL});
    fixture_t f;
    berth_ctrsec_t k;
    int kind;
    char *m;

    fixture(&f, cfg);
    set_profile(&f, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, inside);
    m = apply(&f, &k, &kind);
    check(m == NULL && strcmp(f.spec.seccomp_profile_path, inside) == 0,
          "a Localhost profile under the root is used (%s)", m ? m : "ok");
    berth_free(m);
    berth_ctrsec_fini(&k);

    const char *bad[] = {outside, climb, link, "relative.json"};
    for (size_t i = 0; i < 4; i++) {
        fixture(&f, cfg);
        set_profile(&f, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, bad[i]);
        m = apply(&f, &k, &kind);
        check(m && kind == BERTH_ERR_INVALID && strstr(m, prof_root) != NULL,
              "Localhost %s is refused: %s", bad[i], m ? m : "(accepted)");
        berth_free(m);
        berth_ctrsec_fini(&k);
    }

    fixture(&f, cfg);
    set_profile(&f, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, outside);
    f.spec.privileged = true;
    m = apply(&f, &k, &kind);
    ok(m == NULL, "a privileged container's profile is not checked (it is not used)");
    berth_free(m);
    berth_ctrsec_fini(&k);

    /* no profile: Unconfined unless use_default_when_empty */
    fixture(&f, cfg);
    f.spec.seccomp = BERTH_SECCOMP_UNCONFINED;
    apply(&f, &k, NULL);
    ok(f.spec.seccomp == BERTH_SECCOMP_UNCONFINED, "no profile: Unconfined by default");
    berth_ctrsec_fini(&k);
    berth_config_unref(cfg);

    cfg = config((const char *const[]){"crio.runtime.seccomp_use_default_when_empty", "true",
                                       "crio.runtime.seccomp_profile", inside, NULL});
    fixture(&f, cfg);
    f.lx.security_context = NULL;
    f.spec.seccomp = BERTH_SECCOMP_UNCONFINED;
    apply(&f, &k, NULL);
    ok(f.spec.seccomp == BERTH_SECCOMP_RUNTIME_DEFAULT &&
               strcmp(f.spec.seccomp_default_path, inside) == 0,
       "no profile with use_default_when_empty: RuntimeDefault, from seccomp_profile");
    berth_ctrsec_fini(&k);
    fixture(&f, cfg);
    set_profile(&f, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined, NULL);
    f.in.seccomp_listener = "/run/x.sock";
    apply(&f, &k, NULL);
    ok(f.spec.seccomp == BERTH_SECCOMP_UNCONFINED && f.spec.seccomp_listener_path == NULL,
       "Unconfined stays so, and gets no listener");
    berth_ctrsec_fini(&k);
    fixture(&f, cfg);
    set_profile(&f, RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL);
    f.in.seccomp_listener = "/run/x.sock";
    apply(&f, &k, NULL);
    ok(f.spec.seccomp_listener_path && strcmp(f.spec.seccomp_listener_path, "/run/x.sock") == 0,
       "a confined container gets the listener");
    berth_ctrsec_fini(&k);
    berth_config_unref(cfg);
}

static void test_hooks_devices_cdi(void)
{
    BERTH_AUTO_FREE char *hooks = berth_asprintf("%s/hooks.d", root);
    BERTH_AUTO_FREE char *cdi = berth_asprintf("%s/cdi", root);
    mkdir(hooks, 0700);
    mkdir(cdi, 0700);
    BERTH_AUTO_FREE char *h = berth_asprintf("%s/a.json", hooks);
    write_file(h, "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/bin/true\"},\"when\":{\"commands\":"
                  "[\"sleep$\"]},\"stages\":[\"poststop\"]}");
    BERTH_AUTO_FREE char *c = berth_asprintf("%s/v.json", cdi);
    write_file(c, "{\"cdiVersion\":\"0.6.0\",\"kind\":\"example.com/x\",\"devices\":[{\"name\":"
                  "\"d\",\"containerEdits\":{\"env\":[\"A=new\",\"B=1\"],\"deviceNodes\":[{"
                  "\"path\":\"/dev/xnull\",\"hostPath\":\"/dev/null\",\"permissions\":\"rw\"}],"
                  "\"mounts\":[{\"hostPath\":\"/tmp\",\"containerPath\":\"/x\",\"options\":["
                  "\"ro\"]}],\"hooks\":[{\"hookName\":\"prestart\",\"path\":\"/bin/true\"}]}}]}");
    /* a 60 s budget: the two create-time hooks get 30 s each at most */
    BERTH_AUTO_FREE char *h2 = berth_asprintf("%s/b.json", hooks);
    write_file(h2, "{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/bin/true\",\"timeout\":3600},"
                   "\"when\":{\"always\":true},\"stages\":[\"createRuntime\"]}");
    berth_config_t *cfg = config(
            (const char *const[]){"crio.runtime.hooks_dir", hooks, "crio.runtime.cdi_spec_dirs",
                                  cdi, "crio.runtime.creation_budget", "60s", NULL});
    fixture_t f;
    berth_ctrsec_t k;
    int kind;
    fixture(&f, cfg);
    Runtime__V1__Device dev = RUNTIME__V1__DEVICE__INIT;
    dev.host_path = (char *)"/dev/null";
    dev.container_path = (char *)"/dev/mynull";
    dev.permissions = (char *)"r";
    Runtime__V1__Device *devs[] = {&dev};
    f.cc.devices = devs;
    f.cc.n_devices = 1;
    Runtime__V1__CDIDevice cd = RUNTIME__V1__CDIDEVICE__INIT;
    cd.name = (char *)"example.com/x=d";
    Runtime__V1__CDIDevice *cds[] = {&cd};
    f.cc.cdi_devices = cds;
    f.cc.n_cdi_devices = 1;
    char *m = apply(&f, &k, &kind);
    check(m == NULL, "hooks, a device and a CDI device apply (%s)", m ? m : "ok");
    berth_free(m);
    ok(json_array_size(json_object_get(f.spec.hooks, "poststop")) == 1 &&
               json_array_size(json_object_get(f.spec.hooks, "prestart")) == 1,
       "the hooks_dir hook and the CDI hook are in the spec's hooks");
    ok(json_integer_value(json_object_get(
               json_array_get(json_object_get(f.spec.hooks, "prestart"), 0), "timeout")) > 0,
       "the CDI hook got a timeout");
    json_int_t cut = json_integer_value(json_object_get(
            json_array_get(json_object_get(f.spec.hooks, "createRuntime"), 0), "timeout"));
    check(cut == 30, "create-time hook timeouts are cut to their share of the budget (%lld)",
          (long long)cut);
    ok(json_integer_value(json_object_get(
               json_array_get(json_object_get(f.spec.hooks, "poststop"), 0), "timeout")) ==
               BERTH_HOOK_DEFAULT_TIMEOUT,
       "a poststop hook is not cut");
    check(f.spec.ndevices == 2 && strcmp(f.spec.devices[0].path, "/dev/mynull") == 0 &&
                  f.spec.devices[0].type == 'c' && f.spec.devices[0].major == 1 &&
                  f.spec.devices[0].minor == 3 && strcmp(f.spec.devices[0].permissions, "r") == 0 &&
                  strcmp(f.spec.devices[1].path, "/dev/xnull") == 0 &&
                  strcmp(f.spec.devices[1].permissions, "rw") == 0,
          "the plain device then the CDI node, numbers from the host (%zu)", f.spec.ndevices);
    check(f.spec.nenv == 3 && strcmp(f.spec.env[1], "A=new") == 0 &&
                  strcmp(f.spec.env[2], "B=1") == 0,
          "CDI env replaces and adds (%zu)", f.spec.nenv);
    ok(f.spec.nmounts == 1 && strcmp(f.spec.mounts[0].destination, "/x") == 0 &&
               f.spec.mounts[0].readonly && f.spec.mounts[0].type == NULL,
       "the CDI mount, a read-only bind");
    berth_ctrsec_fini(&k);

    /* an unknown CDI device through the annotation; a non-device path */
    fixture(&f, cfg);
    Runtime__V1__ContainerConfig__AnnotationsEntry *a[] = {
            ann("cdi.k8s.io/x", "example.com/x=d,example.com/x=nope")};
    f.cc.annotations = a;
    f.cc.n_annotations = 1;
    m = apply(&f, &k, &kind);
    check(m && kind == BERTH_ERR_NOT_FOUND && strstr(m, "example.com/x=nope"),
          "an unknown CDI device from the annotation: NOT_FOUND naming it (%s)", m);
    berth_free(m);
    berth_ctrsec_fini(&k);
    berth_free(a[0]);
    fixture(&f, cfg);
    dev.host_path = (char *)"/etc/hostname";
    f.cc.devices = devs;
    f.cc.n_devices = 1;
    m = apply(&f, &k, &kind);
    check(m && kind == BERTH_ERR_INVALID && strstr(m, "not a device node"),
          "a host path that is not a device (%s)", m);
    berth_free(m);
    berth_ctrsec_fini(&k);
    dev.host_path = (char *)"/dev/null";
    dev.permissions = (char *)"rwx";
    fixture(&f, cfg);
    f.cc.devices = devs;
    f.cc.n_devices = 1;
    m = apply(&f, &k, &kind);
    check(m && kind == BERTH_ERR_INVALID, "bad device permissions (%s)", m);
    berth_free(m);
    berth_ctrsec_fini(&k);
    berth_config_unref(cfg);
}

static void test_notifier(void)
{
    berth_config_t *none = config((const char *const[]){NULL});
    berth_config_t *allow = config((const char *const[]){
            "crio.runtime.runtimes.runc.allowed_annotations", "io.kubernetes.cri-o.seccomp",
            "crio.runtime.default_runtime", "runc", NULL});
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__ContainerConfig__AnnotationsEntry *a[] = {
            ann(BERTH_SECCOMP_NOTIFIER_ANNOTATION, "stop")};
    cc.annotations = a;
    cc.n_annotations = 1;
    berth_ctrsec_notify_t sn = {0};
    berth_err_t err = NULL;
    ok(berth_ctrsec_notify_config(none, "runc", &cc, &sn, &err) == 0 && !sn.enabled,
       "not allowed: ignored");
    ok(berth_ctrsec_notify_config(allow, "runc", &cc, &sn, &err) == 0 && sn.enabled && sn.stop,
       "allowed (by prefix): stop");
    a[0]->value = (char *)"kill";
    memset(&sn, 0, sizeof(sn));
    ok(berth_ctrsec_notify_config(allow, "runc", &cc, &sn, &err) < 0 &&
               err->kind == BERTH_ERR_INVALID && strstr(err->msg, "kill"),
       "another action: INVALID_ARGUMENT");
    berth_err_free(&err);
    berth_ctrsec_notify_record(&sn, "mkdir");
    berth_ctrsec_notify_record(&sn, "chmod");
    berth_ctrsec_notify_record(&sn, "mkdir");
    BERTH_AUTO_FREE char *t = berth_ctrsec_notify_text(&sn);
    check(strcmp(t, "mkdir (2x), chmod (1x)") == 0 && sn.total == 3, "records: %s", t);
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        berth_ctrsec_notify_record(&sn, name);
    }
    check(sn.ncalls == 64 && sn.total == 203, "the list is bounded (%zu names)", sn.ncalls);
    berth_ctrsec_notify_fini(&sn);
    berth_free(a[0]);
    berth_config_unref(none);
    berth_config_unref(allow);

    /* io/ocispec's notifier form of a profile */
    BERTH_AUTO_FREE char *p = berth_asprintf("%s/n.json", root);
    write_file(p, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                  "{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"},"
                  "{\"names\":[\"clone3\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
                  "{\"names\":[\"reboot\"],\"action\":\"SCMP_ACT_KILL\"},"
                  "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"}]}");
    berth_ocispec_t spec = {.id = "n",
                            .args = args,
                            .nargs = 2,
                            .seccomp = BERTH_SECCOMP_LOCALHOST,
                            .seccomp_profile_path = p,
                            .seccomp_listener_path = "/run/n.sock"};
    json_t *j = berth_ocispec_build(&spec, &err);
    json_t *sc = json_object_get(json_object_get(j, "linux"), "seccomp");
    json_t *sys = json_object_get(sc, "syscalls");
#define ACTION(i) json_string_value(json_object_get(json_array_get(sys, i), "action"))
    ok(sc && strcmp(json_string_value(json_object_get(sc, "listenerPath")), "/run/n.sock") == 0,
       "listenerPath set");
    ok(strcmp(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO") == 0,
       "a refusing default action stays (the runtimes refuse NOTIFY there)");
    json_t *last = json_array_get(sys, json_array_size(sys) - 1);
    bool has_chmod = false, has_mkdir = false;
    size_t li;
    json_t *ln;
    json_array_foreach(json_object_get(last, "names"), li, ln)
    {
        has_chmod = has_chmod || strcmp(json_string_value(ln), "chmod") == 0;
        has_mkdir = has_mkdir || strcmp(json_string_value(ln), "mkdir") == 0;
    }
    ok(strcmp(json_string_value(json_object_get(last, "action")), "SCMP_ACT_NOTIFY") == 0 &&
               has_chmod && !has_mkdir,
       "the syscalls the profile does not name get a NOTIFY rule (chmod in, mkdir not again)");
    ok(strcmp(ACTION(0), "SCMP_ACT_NOTIFY") == 0 && strcmp(ACTION(2), "SCMP_ACT_NOTIFY") == 0,
       "EPERM and kill rules become NOTIFY");
    ok(strcmp(ACTION(1), "SCMP_ACT_ERRNO") == 0 &&
               json_integer_value(json_object_get(json_array_get(sys, 1), "errnoRet")) == 38,
       "an ENOSYS rule stays as it is");
    ok(strcmp(ACTION(3), "SCMP_ACT_ALLOW") == 0, "allow stays allow");
    if (j)
        json_decref(j);
    berth_err_free(&err);
}

/* A device directory: every node under it, at the same relative path. */
static void test_device_dir(void)
{
    char dir[512], sub[512], node[1100];
    snprintf(dir, sizeof(dir), "%s/devdir", root);
    snprintf(sub, sizeof(sub), "%s/devdir/sub", root);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    snprintf(node, sizeof(node), "%s/card0", dir);
    if (mknod(node, S_IFCHR | 0660, makedev(1, 3)) < 0) {
        printf("ok %d # skip mknod needs CAP_MKNOD\n", ++ntest);
        return;
    }
    snprintf(node, sizeof(node), "%s/render1", sub);
    mknod(node, S_IFBLK | 0600, makedev(7, 0));
    snprintf(node, sizeof(node), "%s/notadev", dir);
    FILE *fp = fopen(node, "w");
    fclose(fp);
    snprintf(node, sizeof(node), "%s/link", dir);
    ok(symlink("/dev/zero", node) == 0, "a symlink to a device (not followed)");

    berth_config_t *cfg = config((const char *const[]){NULL});
    fixture_t f;
    fixture(&f, cfg);
    Runtime__V1__Device dv = RUNTIME__V1__DEVICE__INIT;
    dv.host_path = dir;
    dv.container_path = (char *)"/dev/dri";
    dv.permissions = (char *)"rw";
    Runtime__V1__Device *dvs[] = {&dv};
    f.cc.devices = dvs;
    f.cc.n_devices = 1;
    berth_ctrsec_t k = {0};
    int kind;
    char *m = apply(&f, &k, &kind);
    check(m == NULL, "a device directory applies (%s)", m ? m : "ok");
    berth_free(m);
    bool card = false, render = false;
    for (size_t i = 0; i < f.spec.ndevices; i++) {
        const berth_ocispec_device_t *d = &f.spec.devices[i];
        card = card || (strcmp(d->path, "/dev/dri/card0") == 0 && d->type == 'c' && d->major == 1 &&
                        d->minor == 3 && strcmp(d->permissions, "rw") == 0);
        render = render || (strcmp(d->path, "/dev/dri/sub/render1") == 0 && d->type == 'b' &&
                            d->major == 7 && d->file_mode == 0600);
    }
    check(f.spec.ndevices == 2 && card && render,
          "both nodes, recursively, at their relative paths; no file, no symlink (%zu)",
          f.spec.ndevices);
    berth_ctrsec_fini(&k);

    /* a directory without a device node */
    fixture(&f, cfg);
    char empty[512];
    snprintf(empty, sizeof(empty), "%s/nodevs", root);
    mkdir(empty, 0755);
    dv.host_path = empty;
    f.cc.devices = dvs;
    f.cc.n_devices = 1;
    m = apply(&f, &k, &kind);
    check(m && kind == BERTH_ERR_INVALID && strstr(m, "no device node"),
          "a directory without devices is INVALID_ARGUMENT (%s)", m ? m : "none");
    berth_free(m);
    berth_ctrsec_fini(&k);
    berth_config_unref(cfg);
}

static void test_umask_unified(void)
{
    berth_config_t *allow = config((const char *const[]){
            "crio.runtime.runtimes.runc.allowed_annotations", "io.kubernetes.cri-o.",
            "crio.runtime.default_runtime", "runc", NULL});
    berth_config_t *none = config((const char *const[]){NULL});
    fixture_t f;
    fixture(&f, allow);
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    md.name = (char *)"app";
    f.cc.metadata = &md;
    Runtime__V1__ContainerConfig__AnnotationsEntry *a[2] = {ann(BERTH_UMASK_ANNOTATION, "077"),
                                                            NULL};
    f.cc.annotations = a;
    f.cc.n_annotations = 1;
    berth_err_t err = NULL;
    ok(berth_ctrsec_umask(&f.in, &f.spec, &err) == 0 && f.spec.umask_set && f.spec.umask == 077,
       "umask 077");
    static const char *const bad[] = {"", "8", "0778", "01000", "-1", "22a", "00000"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        a[0]->value = (char *)bad[i];
        check(berth_ctrsec_umask(&f.in, &f.spec, &err) < 0 && err->kind == BERTH_ERR_INVALID,
              "umask \"%s\" is INVALID_ARGUMENT", bad[i]);
        berth_err_free(&err);
    }
    f.in.cfg = none;
    f.spec.umask_set = false;
    ok(berth_ctrsec_umask(&f.in, &f.spec, &err) == 0 && !f.spec.umask_set,
       "umask not allowed: ignored, not checked");
    f.in.cfg = allow;
    berth_free(a[0]);

    /* unified: merged over the request's own map */
    a[0] = ann(BERTH_UNIFIED_ANNOTATION ".app", "memory.high=100;pids.max=5");
    a[1] = ann(BERTH_UNIFIED_ANNOTATION ".other", "memory.high=1");
    f.cc.n_annotations = 2;
    Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__LinuxContainerResources__UnifiedEntry e1 =
            RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
    Runtime__V1__LinuxContainerResources__UnifiedEntry e2 = e1;
    e1.key = (char *)"memory.high";
    e1.value = (char *)"7";
    e2.key = (char *)"cpu.weight";
    e2.value = (char *)"9";
    Runtime__V1__LinuxContainerResources__UnifiedEntry *ev[] = {&e1, &e2};
    res.unified = ev;
    res.n_unified = 2;
    res.memory_limit_in_bytes = 1 << 20;
    Runtime__V1__LinuxContainerResources out;
    void *keep = NULL;
    ok(berth_ctrsec_unified(&f.in, &res, &out, &keep, &err) == 1, "unified: merged");
    ok(out.n_unified == 3 && out.memory_limit_in_bytes == 1 << 20, "three files, the rest kept");
    bool high = false, weight = false;
    for (size_t i = 0; i < out.n_unified; i++) {
        high = high || (strcmp(out.unified[i]->key, "memory.high") == 0 &&
                        strcmp(out.unified[i]->value, "100") == 0);
        weight = weight || strcmp(out.unified[i]->key, "cpu.weight") == 0;
    }
    ok(high && weight, "the annotation's memory.high replaces the request's; cpu.weight kept");
    berth_ctrsec_unified_fini(keep);
    keep = NULL;
    ok(berth_ctrsec_unified(&f.in, NULL, &out, &keep, &err) == 1 && out.n_unified == 2,
       "unified without resources in the request");
    berth_ctrsec_unified_fini(keep);
    keep = NULL;
    static const char *const badu[] = {"nonsense", "memory.high", "memory.high=", "=1",
                                       "../x.y=1", ".x=1",        "memory.=1"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(badu); i++) {
        a[0]->value = (char *)badu[i];
        check(berth_ctrsec_unified(&f.in, &res, &out, &keep, &err) < 0 &&
                      err->kind == BERTH_ERR_INVALID && keep == NULL,
              "unified \"%s\" is INVALID_ARGUMENT", badu[i]);
        berth_err_free(&err);
    }
    md.name = (char *)"third";
    ok(berth_ctrsec_unified(&f.in, &res, &out, &keep, &err) == 0, "another container's: none");
    berth_free(a[0]);
    berth_free(a[1]);

    /* the pod's annotations copied to a container without its own */
    ProtobufCAllocator *pa = (ProtobufCAllocator *)berth_alloc_protobuf_allocator();
    Runtime__V1__PodSandboxConfig pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry pe[6], *pv[6];
    const char *pk[][2] = {{BERTH_UMASK_ANNOTATION, "0027"},
                           {BERTH_UNIFIED_ANNOTATION ".web", "pids.max=5"},
                           {BERTH_UNIFIED_ANNOTATION ".db", "pids.max=6"},
                           {BERTH_SECCOMP_NOTIFIER_ANNOTATION, "stop"},
                           {"io.kubernetes.cri-o.Devices", "/dev/null:/dev/n:rw"},
                           {BERTH_NRI_REQUIRED_PLUGINS_ANNOTATION "/container.web", "[a]"}};
    for (int i = 0; i < 6; i++) {
        runtime__v1__pod_sandbox_config__annotations_entry__init(&pe[i]);
        pe[i].key = (char *)pk[i][0];
        pe[i].value = (char *)pk[i][1];
        pv[i] = &pe[i];
    }
    pod.annotations = pv;
    pod.n_annotations = 6;
    Runtime__V1__ContainerConfig *cc = berth_calloc(1, sizeof(*cc));
    runtime__v1__container_config__init(cc);
    cc->metadata = berth_calloc(1, sizeof(*cc->metadata));
    runtime__v1__container_metadata__init(cc->metadata);
    cc->metadata->name = berth_strdup("web");
    berth_ctrsec_pod_annotations(cc, &pod, NULL);
    berth_ctrsec_pod_annotations(cc, NULL, NULL);
    ok(cc->n_annotations == 5 && strcmp(cc->annotations[0]->value, "0027") == 0 &&
               strcmp(cc->annotations[1]->key, BERTH_SECCOMP_NOTIFIER_ANNOTATION) == 0 &&
               strcmp(cc->annotations[1]->value, "stop") == 0 &&
               strcmp(cc->annotations[2]->value, "/dev/null:/dev/n:rw") == 0 &&
               strcmp(cc->annotations[3]->key, BERTH_UNIFIED_ANNOTATION ".web") == 0 &&
               strcmp(cc->annotations[4]->value, "[a]") == 0,
       "the pod's umask, notifier, devices, and this container's unified and NRI "
       "required-plugins annotations copied");
    pe[0].value = (char *)"0000";
    berth_ctrsec_pod_annotations(cc, &pod, NULL);
    ok(cc->n_annotations == 5 && strcmp(cc->annotations[0]->value, "0027") == 0,
       "a container's own annotation wins");
    protobuf_c_message_free_unpacked(&cc->base, pa);
    berth_config_unref(allow);
    berth_config_unref(none);
}

int main(void)
{
    if (mkdtemp(root) == NULL)
        return 1;
    test_seccomp();
    test_hooks_devices_cdi();
    test_notifier();
    test_umask_unified();
    test_device_dir();
    berth_fs_remove_tree(root);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
