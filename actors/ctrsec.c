// SPDX-License-Identifier: Apache-2.0
/*
 * A container's security-context rules beside the spec translation (see
 * ctrsec.h). The checks run on arrival, before a name is reserved, so a
 * refused request leaves nothing behind; the clones run on the pool inside
 * the spec step and are undone with the bundle.
 */
#include "actors/ctrsec.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/alloc.h"
#include "io/lsm.h"
#include "io/rromount.h"

/* ---- AppArmor ------------------------------------------------------------------------------ */

/* A profile name or SecurityProfile: RuntimeDefault and Unconfined are
 * fine anywhere (without AppArmor every process is unconfined, which is
 * also what runtime/default amounts to); a named profile cannot be applied
 * here. */
static int check_apparmor(const char *what, const Runtime__V1__SecurityProfile *p,
                          const char *legacy, berth_err_t *err)
{
    const char *name = NULL;
    if (p != NULL && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
        name = p->localhost_ref && p->localhost_ref[0] ? p->localhost_ref : "";
    else if (p != NULL &&
             p->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault &&
             p->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "%s.apparmor: unknown profile_type %d", what, (int)p->profile_type);
    else if (p == NULL && legacy != NULL && legacy[0] != '\0' &&
             strcmp(legacy, "runtime/default") != 0 && strcmp(legacy, "unconfined") != 0) {
        if (strncmp(legacy, "localhost/", 10) != 0)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "%s.apparmor_profile \"%.200s\": not runtime/default, "
                                  "unconfined or localhost/<profile>",
                                  what, legacy);
        name = legacy + 10;
    }
    if (name == NULL)
        return 0;
    if (!berth_lsm_apparmor_enabled())
        return berth_err_make(err, ENOTSUP, BERTH_ERR_PRECONDITION,
                              "%s.apparmor: Localhost profile \"%.200s\" requested, but this "
                              "node's kernel has no AppArmor; use RuntimeDefault or Unconfined "
                              "(or schedule the pod on a node with AppArmor)",
                              what, name);
    return berth_err_make(err, ENOTSUP, BERTH_ERR_UNSUPPORTED,
                          "%s.apparmor: Localhost profile \"%.200s\": berth does not apply "
                          "AppArmor profiles; use RuntimeDefault or Unconfined",
                          what, name);
}

int berth_ctrsec_check_pod(const Runtime__V1__PodSandboxConfig *pc, berth_err_t *err)
{
    const Runtime__V1__LinuxSandboxSecurityContext *sc =
            pc && pc->linux ? pc->linux->security_context : NULL;
    if (sc == NULL)
        return 0;
    return check_apparmor("RunPodSandbox: config.linux.security_context", sc->apparmor, NULL, err);
}

/* ---- the checks ------------------------------------------------------------------------------ */

int berth_ctrsec_check(const Runtime__V1__ContainerConfig *cc, berth_err_t *err)
{
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const Runtime__V1__Mount *m = cc->mounts[i];
        /* an image volume is one read-only mount with nothing under it:
         * recursively read-only already, nothing to clone */
        if (!m->recursive_read_only || (m->image && m->image->image && m->image->image[0]))
            continue;
        const char *cp = m->container_path ? m->container_path : "";
        if (!m->readonly)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "CreateContainer: config.mounts[%zu] (%s): recursive_read_only "
                                  "needs readonly: true",
                                  i, cp);
        if (m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
            return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                                  "CreateContainer: config.mounts[%zu] (%s): recursive_read_only "
                                  "needs propagation PROPAGATION_PRIVATE (a propagated submount "
                                  "could not be kept read-only)",
                                  i, cp);
        if (!berth_rro_supported())
            return berth_err_make(err, ENOSYS, BERTH_ERR_PRECONDITION,
                                  "CreateContainer: config.mounts[%zu] (%s): recursive read-only "
                                  "mounts need mount_setattr(2) (Linux 5.12), which this node's "
                                  "kernel lacks",
                                  i, cp);
    }
    const Runtime__V1__LinuxContainerSecurityContext *sc =
            cc->linux ? cc->linux->security_context : NULL;
    /* The kubelet still fills the deprecated string beside the profile
     * (for runtimes older than the field); it is read only without one. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *legacy = sc ? sc->apparmor_profile : NULL;
#pragma GCC diagnostic pop
    if (sc != NULL && check_apparmor("CreateContainer: config.linux.security_context", sc->apparmor,
                                     legacy, err) < 0)
        return -1;
    if (cc->stop_signal != RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT &&
        berth_ctrsec_signal(cc->stop_signal) == 0)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "CreateContainer: config.stop_signal %d is not a CRI Signal value",
                              (int)cc->stop_signal);
    return 0;
}

/* ---- the stop signal --------------------------------------------------------------------------
 */

/* The CRI's Signal enum in value order up to SIGXFSZ (34); the real-time
 * ones after it are relative to glibc's SIGRTMIN and SIGRTMAX (not
 * constants), as their names say. */
static const int cri_signals[] = {
        0,       SIGABRT, SIGALRM,   SIGBUS,  SIGCHLD,   SIGCHLD,  SIGCONT, SIGFPE,  SIGHUP,
        SIGILL,  SIGINT,  SIGIO,     SIGABRT, SIGKILL,   SIGPIPE,  SIGIO,   SIGPROF, SIGPWR,
        SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSTOP, SIGSYS,    SIGTERM,  SIGTRAP, SIGTSTP, SIGTTIN,
        SIGTTOU, SIGURG,  SIGUSR1,   SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
};
_Static_assert(BERTH_ARRAY_LEN(cri_signals) == RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN,
               "one entry per Signal value below SIGNAL_SIGRTMIN");

int berth_ctrsec_signal(int cri)
{
    if (cri <= 0 || cri > RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX)
        return 0;
    if (cri < RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN)
        return cri_signals[cri];
    if (cri <= RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMINPLUS15)
        return SIGRTMIN + (cri - RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN);
    /* SIGRTMAXMINUS14 (51) .. SIGRTMAX (65) */
    return SIGRTMAX - (RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX - cri);
}

int berth_ctrsec_cri_signal(int signo)
{
    for (int v = 1; v <= RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX; v++)
        if (berth_ctrsec_signal(v) == signo)
            return v;
    return RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT;
}

/* ---- recursive read-only mounts ------------------------------------------------------------- */

void berth_ctrsec_rro_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        berth_free(v[i]);
    berth_free(v);
}

bool berth_ctrsec_wants_rro(const Runtime__V1__ContainerConfig *cc)
{
    for (size_t i = 0; i < cc->n_mounts; i++)
        if (cc->mounts[i]->recursive_read_only)
            return true;
    return false;
}

int berth_ctrsec_rro_release(const char *bundle, berth_err_t *err)
{
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/rro", bundle);
    return berth_rro_release_dir(dir, err);
}

int berth_ctrsec_rro_make(const Runtime__V1__ContainerConfig *cc, const char *bundle, char ***out,
                          berth_err_t *err)
{
    *out = NULL;
    if (!berth_ctrsec_wants_rro(cc))
        return 0;
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/rro", bundle);
    /* a retried creation finds the clones of the failed attempt: start clean */
    if (berth_rro_release_dir(dir, err) < 0)
        return -1;
    if (mkdir(dir, 0700) < 0)
        return berth_err_errno(err, errno, "CreateContainer: mkdir %s", dir);
    char **v = berth_calloc(cc->n_mounts, sizeof(char *));
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const Runtime__V1__Mount *m = cc->mounts[i];
        /* an image volume is one read-only mount with nothing under it:
         * recursively read-only already, nothing to clone */
        if (!m->recursive_read_only || (m->image && m->image->image && m->image->image[0]))
            continue;
        v[i] = berth_asprintf("%s/%zu", dir, i);
        if (berth_rro_make(m->host_path, v[i], err) < 0) {
            berth_err_prefix(err, "CreateContainer: config.mounts[%zu] (%s)", i, m->container_path);
            berth_rro_release_dir(dir, NULL);
            berth_ctrsec_rro_free(v, cc->n_mounts);
            return -1;
        }
    }
    *out = v;
    return 0;
}
