/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth's RuntimeDefault seccomp profile, built as the OCI `linux.seccomp`
 * JSON object. Default action: fail with EPERM; the common syscalls are
 * allowed; the dangerous ones (keyctl, add_key, request_key, bpf, kexec_load,
 * init_module, reboot, swapon, user namespaces, ...) stay blocked unless the
 * container holds the capability that would let it use them anyway.
 */
#ifndef BERTH_IO_SECCOMP_DEFAULT_H
#define BERTH_IO_SECCOMP_DEFAULT_H

#include <jansson.h>
#include <stddef.h>

/* Returns (owned) the profile for a container whose bounding set is `caps`
 * (names as in the OCI spec: "CAP_SYS_ADMIN"; borrowed). Names unknown to
 * libseccomp on this architecture are left out. Pure CPU: any thread. */
json_t *berth_seccomp_default_profile(const char *const *caps, size_t ncaps);

#endif
