/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for containers-registries.conf(5) as berth loads it: the
 * input is written as the main file (no drop-ins) and loaded; a snapshot that
 * loads is used for a short-name resolution and an endpoint list.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf/registries.h"
#include "engine/alloc.h"
#include "engine/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/berth-registries-fuzz-XXXXXX";
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        if (mkdtemp(dir) == NULL)
            abort();
        ready = 1;
    }
    char path[80], dropins[80];
    snprintf(path, sizeof(path), "%s/registries.conf", dir);
    snprintf(dropins, sizeof(dropins), "%s/none.d", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_registries_t *r = berth_registries_load(path, dropins, &err);
    if (r == NULL)
        return 0;
    char **c = NULL;
    size_t n = 0;
    char *note = NULL;
    BERTH_AUTO_ERR berth_err_t e2 = NULL;
    if (berth_registries_resolve_short(r, "busybox:1", &c, &n, &note, &e2) == 0)
        berth_registries_strv_free(c);
    berth_free(note);
    berth_registry_endpoint_t *eps = NULL;
    size_t ne = 0;
    BERTH_AUTO_ERR berth_err_t e3 = NULL;
    if (berth_registries_endpoints(r, "docker.io/library/busybox:1", false, &eps, &ne, &e3) == 0)
        berth_registries_endpoints_free(eps, ne);
    berth_registries_unref(r);
    return 0;
}
