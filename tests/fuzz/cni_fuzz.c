/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what CNI gives berth: a plugin's result (the pod IPs
 * of any result version) and a network configuration (conflist or single
 * conf) as found in the network directory.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = berth_strndup((const char *)data, size);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    char **ips = berth_cni_result_ips(s, &err);
    berth_cni_strv_free(ips);
    berth_err_free(&err);
    berth_cni_net_t *net = berth_cni_net_parse(s, size, "fuzz.conflist", &err);
    if (net)
        berth_cni_net_unref(net);
    berth_free(s);
    return 0;
}
