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

#endif
