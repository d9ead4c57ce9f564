/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The security and device parts of a container's OCI spec that come from
 * the node's configuration rather than from the CRI request alone: OCI
 * hooks (hooks_dir), CDI devices (cdi_spec_dirs, ContainerConfig.cdi_devices
 * and the cdi.k8s.io/ annotations), plain devices, and the seccomp rules
 * (seccomp_profile, seccomp_use_default_when_empty, the Localhost root, the
 * notifier annotation). Kept apart from ctrspec.c so the CRI -> OCI mapping
 * there stays one readable function.
 */
#ifndef BERTH_ACTORS_CTRSEC_H
#define BERTH_ACTORS_CTRSEC_H

#include <jansson.h>
#include <stdbool.h>

#include "actors/ctrspec.h"
#include "conf/config.h"
#include "engine/err.h"
#include "io/cdi.h"
#include "io/ocispec.h"
#include "io/seccompnotify.h"

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
