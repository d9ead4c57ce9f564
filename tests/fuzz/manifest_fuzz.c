/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what a registry sends as JSON: manifests, indexes
 * and manifest lists (the first byte picks the media type the registry
 * claimed, or none), then platform selection; and the same bytes as an image
 * config (config.User, rootfs.diff_ids for a layer count from the second
 * byte).
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {
            NULL,
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "text/plain",
    };
    if (size < 2)
        return 0;
    const char *mt = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    size_t nl = data[1] % 8;
    data += 2;
    size -= 2;
    berth_registry_manifest_t m;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_registry_manifest_parse(mt, data, size, &m, &err) == 0) {
        if (m.n_manifests > 0) {
            BERTH_AUTO_ERR berth_err_t e2 = NULL;
            (void)berth_registry_index_select(&m, NULL, NULL, NULL, &e2);
            berth_err_free(&e2);
            (void)berth_registry_index_select(&m, "linux", "arm64", "v8", &e2);
        }
        berth_registry_manifest_fini(&m);
    }
    berth_err_free(&err);
    berth_registry_config_t c;
    if (berth_registry_config_parse((const char *)data, size, nl, &c, &err) == 0)
        berth_registry_config_fini(&c);
    return 0;
}
