/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's security-context rules that stand apart from the CRI -> OCI
 * translation (actors/ctrspec.h), in two files:
 * - ctrsec.c: the checks of recursive read-only mounts, AppArmor profiles
 *   and the stop signal on a request's arrival, the CRI Signal enum, and the
 *   recursive read-only mounts berth makes for the spec (io/rromount.h) and
 *   removes with the bundle;
 * - ctrsec_node.c: the parts that come from the node's configuration rather
 *   than from the request alone: OCI hooks (hooks_dir), CDI devices
 *   (cdi_spec_dirs, ContainerConfig.cdi_devices and the cdi.k8s.io/
 *   annotations), plain devices (a directory stands for the device nodes
 *   under it), the seccomp rules (seccomp_profile,
 *   seccomp_use_default_when_empty, the Localhost root, the notifier
 *   annotation), the umask and unified-cgroup annotations and
 *   allowed_annotations.
 * Kept apart from ctrspec.c so the CRI -> OCI mapping there stays one
 * readable function. docs/security-contexts.md says what each does.
 */
#ifndef BERTH_ACTORS_CTRSEC_H
#define BERTH_ACTORS_CTRSEC_H

#include <jansson.h>
#include <stdbool.h>

#include "actors/ctrspec.h"
#include "api.pb-c.h"
#include "conf/config.h"
#include "engine/err.h"
#include "io/cdi.h"
#include "io/ocispec.h"
#include "io/seccompnotify.h"

/* ---- ctrsec.c: checks on arrival, signals, recursive read-only mounts ---- */

/* The checks a CreateContainer passes before anything is made: a
 * recursive_read_only mount must be readonly with private propagation
 * (INVALID_ARGUMENT, as the CRI says) on a kernel that can make it
 * (FAILED_PRECONDITION otherwise); an AppArmor profile must be RuntimeDefault
 * or Unconfined on a node without AppArmor (FAILED_PRECONDITION for a named
 * one) and a named one is refused where AppArmor runs too (berth loads no
 * profiles: UNSUPPORTED); stop_signal must be a value of the CRI's Signal
 * enum. 0, or -1 with *err (the message names the field). Reads cached
 * probes only: an actor turn may call it. */
int berth_ctrsec_check(const Runtime__V1__ContainerConfig *cc, berth_err_t *err);

/* The pod's own AppArmor profile (LinuxSandboxSecurityContext.apparmor),
 * by the same rule. */
int berth_ctrsec_check_pod(const Runtime__V1__PodSandboxConfig *pc, berth_err_t *err);

/* The signal number for a CRI Signal value; 0 for SIGNAL_RUNTIME_DEFAULT
 * and values the enum does not have. Pure. */
int berth_ctrsec_signal(int cri_signal);

/* The CRI Signal value for a signal number (the first name the enum gives
 * it: SIGCHLD, not SIGCLD); SIGNAL_RUNTIME_DEFAULT (0) for none. Pure. */
int berth_ctrsec_cri_signal(int signo);

/* For each of cc's mounts with recursive_read_only, a read-only clone of
 * its host path at <bundle>/rro/<index>: an owned array of cc->n_mounts
 * owned paths, NULL where a mount is not recursive read-only (the array is
 * NULL when none is), freed with berth_ctrsec_rro_free. On failure -1 with *err and every clone
 * made so far removed again. Blocks: the pool only. */
int berth_ctrsec_rro_make(const Runtime__V1__ContainerConfig *cc, const char *bundle, char ***out,
                          berth_err_t *err);
void berth_ctrsec_rro_free(char **v, size_t n);

/* Whether any of cc's mounts is recursive read-only. Pure. */
bool berth_ctrsec_wants_rro(const Runtime__V1__ContainerConfig *cc);

/* Detaches and removes every clone under <bundle>/rro (before the bundle
 * is removed: a mounted clone would stop the removal). Missing is fine.
 * Blocks: the pool only. */
int berth_ctrsec_rro_release(const char *bundle, berth_err_t *err);

/* ---- ctrsec_node.c: hooks, devices, CDI, seccomp, annotations ----------- */

/* CRI-O's annotation for the seccomp notifier ("" records, "stop" stops). */
#define BERTH_SECCOMP_NOTIFIER_ANNOTATION "io.kubernetes.cri-o.seccompNotifierAction"

/* What spec borrows after berth_ctrsec_apply: keep it until the spec is
 * written, then berth_ctrsec_fini. */
typedef struct berth_ctrsec {
    json_t *hooks;
    char **env;
    berth_ocispec_device_t *devices;
    char **device_paths;
    berth_ocispec_mount_t *mounts;
    char **mount_strs;
    const char **mount_opts;
    berth_cdi_edits_t cdi;
    char *seccomp_path;
} berth_ctrsec_t;

/* Adds to spec (already holding the CRI mapping) the hooks, CDI edits and
 * devices, and decides its seccomp profile. in->cfg may be NULL (no node
 * configuration: nothing added, CRI defaults). -1 with *err: an unknown or
 * malformed CDI device (NOT_FOUND / INVALID_ARGUMENT naming it), a device
 * path that is not a device, a Localhost profile outside the configured
 * root (INVALID_ARGUMENT). Blocks (stat, spec files): the pool only. */
int berth_ctrsec_apply(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_ctrsec_t *keep,
                       berth_err_t *err);
void berth_ctrsec_fini(berth_ctrsec_t *keep);

/* CRI-O's annotations for a container's umask ("0022") and its cgroup v2
 * files (".<container name>": "memory.high=1G;pids.max=20"). Read from the
 * container's annotations, where CreateContainer copies them from the pod's
 * (berth_ctrsec_pod_annotations). */
#define BERTH_UMASK_ANNOTATION "io.kubernetes.cri-o.umask"
#define BERTH_UNIFIED_ANNOTATION "io.kubernetes.cri-o.UnifiedCgroup"

/* Sets spec's umask from the umask annotation where the handler allows it:
 * an octal number of one to four digits up to 0777, else INVALID_ARGUMENT
 * naming the annotation. Pure. */
int berth_ctrsec_umask(const berth_ctrspec_in_t *in, berth_ocispec_t *spec, berth_err_t *err);

/* The container's resources with the unified-cgroup annotation's entries
 * added (an entry replaces the request's same key), where the handler
 * allows it: 1 with *out (its unified array owned by *keep, freed with
 * berth_ctrsec_unified_fini), 0 without the annotation (*out untouched),
 * -1 with *err (INVALID_ARGUMENT) for an entry that is not key=value with a
 * cgroup2 file name as key. Whether the node can apply them is decided
 * like the request's own unified map (io/ocispec, actors/runtimes.c). Pure. */
int berth_ctrsec_unified(const berth_ctrspec_in_t *in,
                         const Runtime__V1__LinuxContainerResources *res,
                         Runtime__V1__LinuxContainerResources *out, void **keep, berth_err_t *err);
void berth_ctrsec_unified_fini(void *keep);

/* Copies into cc (owned by the protobuf allocator) the pod annotations a
 * container reads (umask, the seccomp notifier, devices, the unified-cgroup
 * one for cc's name, NRI's required plugins and cfg's tolerate-missing
 * one) that cc does not carry itself: the kubelet puts a pod's annotations
 * on RunPodSandbox only, so under a kubelet the pod is where they are
 * (CRI-O and containerd read them there too). pod and cfg may be NULL.
 * Any context. */
void berth_ctrsec_pod_annotations(Runtime__V1__ContainerConfig *cc,
                                  const Runtime__V1__PodSandboxConfig *pod,
                                  const berth_config_t *cfg);

/* Whether the handler allows annotation key (allowed_annotations; a key
 * ending in "*" allows a prefix). Logs a debug line when present but not
 * allowed. */
bool berth_ctrsec_annotation_allowed(const berth_config_t *cfg, const char *handler,
                                     const char *key);

/* ---- the seccomp notifier, per container ---------------------------------------------------- */

/* The timer that stops a container after a refused syscall ("stop"). */
#define BERTH_MSG_CTR_SECCOMP_STOP 225

typedef struct berth_ctrsec_call {
    char name[40];
    uint64_t count;
} berth_ctrsec_call_t;

/* A container's notifier and what it recorded; embedded in the container
 * actor's state (zero: no notifier). */
typedef struct berth_ctrsec_notify {
    berth_seccomp_notifier_t *notifier; /* set by the prepare job */
    bool enabled;                       /* the annotation asked for one */
    bool stop;                          /* its action is "stop" */
    bool stopping;                      /* the container was killed for a refusal */
    void *timer;                        /* berth_timer_t: the stop wait */
    berth_ctrsec_call_t *calls;
    size_t ncalls;
    uint64_t total;
} berth_ctrsec_notify_t;

/* Reads the notifier annotation of cc for handler into *sn (enabled, stop).
 * Not allowed by allowed_annotations: ignored (a debug line). -1 with *err
 * (INVALID_ARGUMENT) for a value other than "" and "stop". Pure. */
int berth_ctrsec_notify_config(const berth_config_t *cfg, const char *handler,
                               const Runtime__V1__ContainerConfig *cc, berth_ctrsec_notify_t *sn,
                               berth_err_t *err);
/* Counts one refused syscall. */
void berth_ctrsec_notify_record(berth_ctrsec_notify_t *sn, const char *syscall);
/* "mkdir (2x), chmod (1x)": the refused syscalls so far (owned). */
char *berth_ctrsec_notify_text(const berth_ctrsec_notify_t *sn);
/* Stops the notifier and frees the records. */
void berth_ctrsec_notify_fini(berth_ctrsec_notify_t *sn);

#endif
