/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's security-context rules that stand apart from the CRI -> OCI
 * translation (actors/ctrspec.h): the checks of recursive read-only mounts,
 * AppArmor profiles and the stop signal on a request's arrival, the CRI
 * Signal enum, and the recursive read-only mounts berth makes for the spec
 * (io/rromount.h) and removes with the bundle. docs/security-contexts.md
 * says what each does.
 */
#ifndef BERTH_ACTORS_CTRSEC_H
#define BERTH_ACTORS_CTRSEC_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "engine/err.h"

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

#endif
