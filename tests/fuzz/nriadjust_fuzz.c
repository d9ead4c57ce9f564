/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for a plugin's CreateContainerResponse as berth takes
 * it (actors/nri.c, actors/nri_adjust.c): the input is merged as the
 * answer of two plugins in turn (so every field also meets a conflict),
 * the merge is validated with every rule of the default validator on and
 * a required plugin, and whatever merged is patched into a spec and
 * serialised. Must never crash, leak or hang, whatever the answer holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "actors/nri.h"
#include "conf/config.h"
#include "engine/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    berth_nri_adjust_t a = {0};
    berth_err_t err = NULL;
    if (berth_nri_adjust_add(&a, "10-one", data, size, &err) < 0)
        berth_err_free(&err);
    if (berth_nri_adjust_add(&a, "20-two", data, size, &err) < 0)
        berth_err_free(&err);
    char *req[] = {(char *)"one", (char *)"three", NULL};
    berth_config_t cfg = {.nri_validator_enable = true,
                          .nri_reject_oci_hook_adjustment = true,
                          .nri_reject_unconfined_seccomp_adjustment = true,
                          .nri_reject_namespace_adjustment = true,
                          .nri_reject_sysctl_adjustment = true,
                          .nri_required_plugins = {.v = req, .n = 2},
                          .nri_tolerate_missing_plugins_annotation = (char *)""};
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    berth_pod_info_t pod = {.user_ns = (char *)"/proc/1/ns/user"};
    const char *plugins[] = {"10-one", "20-two"};
    if (berth_nri_validate(&a, &cfg, &cc, &pod, plugins, 2, &err) < 0)
        berth_err_free(&err);
    json_t *spec = json_loads("{\"process\":{\"args\":[\"sh\"]},\"mounts\":[{\"destination\":"
                              "\"/proc\",\"source\":\"proc\"}],\"linux\":{\"namespaces\":[{"
                              "\"type\":\"pid\"}],\"resources\":{\"devices\":[{\"allow\":false,"
                              "\"access\":\"rwm\"}]}}}",
                              0, NULL);
    if (berth_nri_apply_spec(&a, spec, &err) < 0)
        berth_err_free(&err);
    char *s = json_dumps(spec, JSON_COMPACT);
    berth_free(s); /* jansson allocates through berth's allocator */
    json_decref(spec);
    size_t n = 0;
    const char *const *cdi = berth_nri_cdi_devices(&a, &n);
    berth_free((void *)cdi);
    berth_nri_adjust_fini(&a);
    return 0;
}
