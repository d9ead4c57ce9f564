/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Between actors/nri.c (requests, env, annotations, mounts) and
 * actors/nri_adjust.c (everything else a plugin's ContainerAdjustment
 * carries, its validation and its application to the OCI spec). No other
 * folder includes it.
 */
#ifndef BERTH_ACTORS_NRI_INTERNAL_H
#define BERTH_ACTORS_NRI_INTERNAL_H

#include "actors/nri.h"
#include "nri.pb-c.h"

/* Merges the parts of adj that are not env, annotations or mounts (args,
 * rlimits, hooks, CDI devices, the Linux settings) into a->edits, each
 * claimed for plugin in a->owners. -1 with *err: an adjustment berth does
 * not apply (UNSUPPORTED, naming it and why), a malformed one (INVALID),
 * or a field another plugin already set (INVALID, naming both). */
int berth_nri_adjust_more(berth_nri_adjust_t *a, const char *plugin,
                          const Nri__Pkg__Api__V1alpha1__ContainerAdjustment *adj,
                          berth_err_t *err);

/* Records the removal of the mount at destination dst (absolute): the
 * spec's mounts there that no plugin added are dropped when it is patched
 * (berth_nri_apply_spec). */
void berth_nri_adjust_unmount(berth_nri_adjust_t *a, const char *dst);

#endif
