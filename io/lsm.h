/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the node's Linux security modules offer containers: only whether
 * AppArmor is there, which decides how a container's AppArmor profile is
 * handled (docs/security-contexts.md). Reads sysfs once and caches the
 * answer; never loads or changes a profile.
 */
#ifndef BERTH_IO_LSM_H
#define BERTH_IO_LSM_H

#include <stdbool.h>

/* Whether the kernel runs AppArmor: /sys/module/apparmor/parameters/enabled
 * says "Y" (the test runc and CRI-O make). Read on the first call, then
 * cached: a sysfs read that never waits on a disk, so any thread or actor
 * turn may ask. */
bool berth_lsm_apparmor_enabled(void);

/* The same test on a file of that content (for tests): true when it starts
 * with 'Y'; false when missing or unreadable. */
bool berth_lsm_apparmor_enabled_at(const char *path);

#endif
