/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/lsm: the AppArmor test on files of each content ("Y", "N", missing)
 * and the node's own answer agreeing with its sysfs file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/lsm.h"
#include "tests/unit/check.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/berth-lsm-test.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        printf("1..0 # skip mkdtemp\n");
        return 77;
    }
    BERTH_AUTO_FREE char *y = berth_asprintf("%s/y", dir), *n = berth_asprintf("%s/n", dir),
                         *missing = berth_asprintf("%s/missing", dir);
    write_file(y, "Y\n");
    write_file(n, "N\n");
    ok(berth_lsm_apparmor_enabled_at(y), "\"Y\" is enabled");
    ok(!berth_lsm_apparmor_enabled_at(n), "\"N\" is not");
    ok(!berth_lsm_apparmor_enabled_at(missing), "no module file is not");
    bool node = access("/sys/module/apparmor/parameters/enabled", R_OK) == 0 &&
                berth_lsm_apparmor_enabled_at("/sys/module/apparmor/parameters/enabled");
    check(berth_lsm_apparmor_enabled() == node, "the node's answer (%s) matches its sysfs file",
          node ? "enabled" : "absent");
    check(berth_lsm_apparmor_enabled() == node, "and stays the same when asked again");
    unlink(y);
    unlink(n);
    rmdir(dir);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
