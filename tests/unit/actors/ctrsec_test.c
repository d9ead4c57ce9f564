/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/ctrsec: the arrival checks (recursive read-only mounts with the
 * CRI's two rejections, AppArmor profiles on a node with or without
 * AppArmor, the stop signal's range), the CRI Signal enum both ways, and
 * the clones made for a config's rro mounts and released with the bundle
 * (root, in a private mount namespace; skipped without).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/ctrsec.h"
#include "engine/alloc.h"
#include "io/fs.h"
#include "io/lsm.h"
#include "io/rromount.h"
#include "tests/unit/check.h"

typedef struct {
    Runtime__V1__ContainerConfig cc;
    Runtime__V1__Mount m, *mp[1];
    Runtime__V1__LinuxContainerConfig lx;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__SecurityProfile aa;
} cfg_t;

static void cfg_init(cfg_t *c)
{
    runtime__v1__container_config__init(&c->cc);
    runtime__v1__mount__init(&c->m);
    runtime__v1__linux_container_config__init(&c->lx);
    runtime__v1__linux_container_security_context__init(&c->sc);
    runtime__v1__security_profile__init(&c->aa);
    c->m.container_path = (char *)"/mnt";
    c->m.host_path = (char *)"/tmp";
    c->mp[0] = &c->m;
    c->cc.n_mounts = 1;
    c->cc.mounts = c->mp;
    c->lx.security_context = &c->sc;
    c->cc.linux = &c->lx;
}

/* the kind of the check's error, -1 for none */
static int check_kind(cfg_t *c, char **msg)
{
    berth_err_t err = NULL;
    int kind = berth_ctrsec_check(&c->cc, &err) < 0 ? err->kind : -1;
    if (msg)
        *msg = err ? berth_strdup(err->msg) : NULL;
    berth_err_free(&err);
    return kind;
}

static void check_tests(void)
{
    cfg_t c;
    cfg_init(&c);
    ok(check_kind(&c, NULL) == -1, "a plain mount passes");
    c.m.recursive_read_only = true;
    BERTH_AUTO_FREE char *msg = NULL;
    int kind = check_kind(&c, &msg);
    check(kind == BERTH_ERR_INVALID && msg && strstr(msg, "readonly") && strstr(msg, "mounts[0]"),
          "rro without readonly is INVALID_ARGUMENT (%s)", msg ? msg : "");
    c.m.readonly = true;
    c.m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
    berth_free(msg);
    msg = NULL;
    kind = check_kind(&c, &msg);
    check(kind == BERTH_ERR_INVALID && msg && strstr(msg, "PROPAGATION_PRIVATE"),
          "rro with HOST_TO_CONTAINER is INVALID_ARGUMENT (%s)", msg ? msg : "");
    c.m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
    ok(check_kind(&c, NULL) == BERTH_ERR_INVALID, "rro with BIDIRECTIONAL is INVALID_ARGUMENT");
    c.m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
    c.m.selinux_relabel = true; /* critest sets it; no SELinux here, nothing to refuse */
    ok(check_kind(&c, NULL) == (berth_rro_supported() ? -1 : BERTH_ERR_PRECONDITION),
       "rro, readonly, private: accepted where the kernel has mount_setattr");

    cfg_init(&c);
    c.sc.apparmor = &c.aa;
    c.aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    ok(check_kind(&c, NULL) == -1, "AppArmor RuntimeDefault accepted");
    c.aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    ok(check_kind(&c, NULL) == -1, "AppArmor Unconfined accepted");
    c.aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    c.aa.localhost_ref = (char *)"my-profile";
    berth_free(msg);
    msg = NULL;
    int want = berth_lsm_apparmor_enabled() ? BERTH_ERR_UNSUPPORTED : BERTH_ERR_PRECONDITION;
    kind = check_kind(&c, &msg);
    check(kind == want && msg && strstr(msg, "my-profile") && strstr(msg, "AppArmor"),
          "AppArmor Localhost refused, naming the profile (%s)", msg ? msg : "");
    c.sc.apparmor = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    c.sc.apparmor_profile = (char *)"runtime/default";
    ok(check_kind(&c, NULL) == -1, "legacy apparmor_profile runtime/default accepted");
    c.sc.apparmor_profile = (char *)"localhost/other";
    ok(check_kind(&c, NULL) == want, "legacy localhost/<name> refused");
    c.sc.apparmor_profile = (char *)"bogus";
    ok(check_kind(&c, NULL) == BERTH_ERR_INVALID, "a legacy name of no known form is INVALID");
    c.sc.apparmor_profile = (char *)"";
#pragma GCC diagnostic pop

    Runtime__V1__PodSandboxConfig pc = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxPodSandboxConfig plx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxSandboxSecurityContext psc;
    runtime__v1__linux_sandbox_security_context__init(&psc);
    pc.linux = &plx;
    plx.security_context = &psc;
    psc.apparmor = &c.aa;
    berth_err_t err = NULL;
    ok(berth_ctrsec_check_pod(&pc, &err) < 0 && err->kind == want,
       "a pod's Localhost AppArmor profile is refused too");
    berth_err_free(&err);
    c.aa.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    ok(berth_ctrsec_check_pod(&pc, &err) == 0, "a pod's Unconfined is fine");

    c.cc.stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGUSR1;
    ok(check_kind(&c, NULL) == -1, "stop_signal SIGUSR1 accepted");
    c.cc.stop_signal = (Runtime__V1__Signal)66;
    ok(check_kind(&c, NULL) == BERTH_ERR_INVALID, "stop_signal out of the enum is INVALID");
}

static void signal_tests(void)
{
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT) == 0,
       "RUNTIME_DEFAULT is no signal");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGTERM) == SIGTERM, "SIGTERM");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGUSR1) == SIGUSR1, "SIGUSR1");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGKILL) == SIGKILL, "SIGKILL");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGXFSZ) == SIGXFSZ, "SIGXFSZ");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN) == SIGRTMIN, "SIGRTMIN");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMINPLUS3) == SIGRTMIN + 3,
       "SIGRTMIN+3 (systemd)");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMINPLUS15) == SIGRTMIN + 15,
       "SIGRTMIN+15");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAXMINUS14) == SIGRTMAX - 14,
       "SIGRTMAX-14");
    ok(berth_ctrsec_signal(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX) == SIGRTMAX, "SIGRTMAX");
    ok(berth_ctrsec_signal(66) == 0 && berth_ctrsec_signal(-1) == 0, "out of range: none");
    ok(berth_ctrsec_cri_signal(SIGCHLD) == RUNTIME__V1__SIGNAL__SIGNAL_SIGCHLD,
       "SIGCHLD maps back to SIGCHLD, not SIGCLD");
    ok(berth_ctrsec_cri_signal(SIGABRT) == RUNTIME__V1__SIGNAL__SIGNAL_SIGABRT,
       "SIGABRT maps back to SIGABRT, not SIGIOT");
    bool round = true;
    for (int s = 1; s <= SIGRTMAX; s++) {
        int v = berth_ctrsec_cri_signal(s);
        if (s < SIGRTMIN && s >= 32)
            continue; /* glibc's own real-time signals: not in the enum */
        if (v == 0 || berth_ctrsec_signal(v) != s)
            round = false;
    }
    ok(round, "every signal round-trips through the enum");
}

static void rro_tests(void)
{
    if (geteuid() != 0 || !berth_rro_supported() || unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        printf("# skip the clones: needs root, mount_setattr and a mount namespace\n");
        return;
    }
    char root[] = "/tmp/berth-ctrsec-test.XXXXXX";
    if (mkdtemp(root) == NULL)
        return;
    BERTH_AUTO_FREE char *src = berth_asprintf("%s/src", root),
                         *sub = berth_asprintf("%s/src/sub", root),
                         *bundle = berth_asprintf("%s/bundle", root);
    mkdir(src, 0755);
    mkdir(sub, 0755);
    mkdir(bundle, 0700);
    if (mount("tmpfs", sub, "tmpfs", 0, "size=1m") < 0) {
        printf("# skip the clones: mount tmpfs: %s\n", strerror(errno));
        return;
    }
    Runtime__V1__Mount m0 = RUNTIME__V1__MOUNT__INIT, m1 = RUNTIME__V1__MOUNT__INIT;
    m0.container_path = (char *)"/plain";
    m0.host_path = src;
    m1.container_path = (char *)"/rro";
    m1.host_path = src;
    m1.readonly = m1.recursive_read_only = true;
    Runtime__V1__Mount *ms[] = {&m0, &m1};
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    cc.n_mounts = 1;
    cc.mounts = ms;
    char **v = NULL;
    berth_err_t err = NULL;
    ok(berth_ctrsec_rro_make(&cc, bundle, &v, &err) == 0 && v == NULL,
       "no rro mount: no clones, no array");
    cc.n_mounts = 2;
    check(berth_ctrsec_rro_make(&cc, bundle, &v, &err) == 0 && v && v[0] == NULL && v[1] != NULL,
          "one rro mount: one clone, at its index (%s)", err ? err->msg : "ok");
    berth_err_free(&err);
    if (v && v[1]) {
        BERTH_AUTO_FREE char *f = berth_asprintf("%s/sub/x", v[1]);
        int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        check(fd < 0 && errno == EROFS, "the clone's submount is read-only");
        if (fd >= 0)
            close(fd);
    }
    berth_ctrsec_rro_free(v, cc.n_mounts);
    /* a retried creation: the old clones go, the new ones come */
    ok(berth_ctrsec_rro_make(&cc, bundle, &v, &err) == 0 && v && v[1], "made again over the old");
    berth_ctrsec_rro_free(v, cc.n_mounts);
    /* a failure midway leaves nothing */
    Runtime__V1__Mount m2 = m1;
    m2.host_path = (char *)"/nonexistent/berth-ctrsec";
    Runtime__V1__Mount *ms2[] = {&m1, &m2};
    cc.mounts = ms2;
    v = NULL;
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/rro", bundle);
    ok(berth_ctrsec_rro_make(&cc, bundle, &v, &err) < 0 && v == NULL && err &&
               err->kind == BERTH_ERR_NOT_FOUND && strstr(err->msg, "mounts[1]"),
       "a missing host path fails, naming the mount");
    berth_err_free(&err);
    ok(access(dir, F_OK) < 0, "and the clone made before it is gone");
    cc.mounts = ms;
    berth_ctrsec_rro_make(&cc, bundle, &v, &err);
    berth_ctrsec_rro_free(v, cc.n_mounts);
    ok(berth_ctrsec_rro_release(bundle, &err) == 0 && access(dir, F_OK) < 0,
       "released with the bundle");
    ok(berth_fs_remove_tree(bundle) == 0, "the bundle can then be removed");
    umount2(sub, MNT_DETACH);
    berth_fs_remove_tree(root);
}

int main(void)
{
    check_tests();
    signal_tests();
    rro_tests();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
