/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's security modules (see lsm.h). A kernel without AppArmor has no
 * /sys/module/apparmor at all; one built with it but booted with
 * apparmor=0 says "N".
 */
#include "io/lsm.h"

#include <pthread.h>

#include "engine/alloc.h"
#include "io/fs.h"

#define APPARMOR_ENABLED "/sys/module/apparmor/parameters/enabled"

static bool apparmor;
static pthread_once_t apparmor_once = PTHREAD_ONCE_INIT;

bool berth_lsm_apparmor_enabled_at(const char *path)
{
    BERTH_AUTO_FREE char *v = NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_fs_read_small(path, 64, &v, &err) < 0)
        return false;
    return v[0] == 'Y';
}

static void probe(void)
{
    apparmor = berth_lsm_apparmor_enabled_at(APPARMOR_ENABLED);
}

bool berth_lsm_apparmor_enabled(void)
{
    pthread_once(&apparmor_once, probe);
    return apparmor;
}
