/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the parsers of node-provided JSON that berth checks
 * before it shapes a container: an OCI hook file (conf/hooks.c) and a CDI
 * spec (io/cdi.c). Any byte string must be accepted or refused with a
 * message; an accepted hook is matched and injected, so its regular
 * expressions run too. Never a crash, a leak or an out-of-bounds read.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/hooks.h"
#include "engine/alloc.h"
#include "engine/err.h"
#include "io/cdi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    berth_err_t err = NULL;
    berth_hook_t *h = berth_hook_parse("fuzz.json", (const char *)data, size, &err);
    if (h != NULL) {
        const char *keys[] = {"com.example.a", "io.kubernetes.pod.name"};
        const char *vals[] = {"value", "pod"};
        berth_hooks_ctx_t ctx = {.ann_keys = keys,
                                 .ann_values = vals,
                                 .nann = 2,
                                 .command = "/bin/sh",
                                 .has_bind_mounts = true};
        berth_hooks_t hs = {.v = &h, .n = 1};
        json_t *o = json_object();
        berth_hooks_inject(&hs, &ctx, o);
        json_decref(o);
        berth_hook_free(h);
    }
    berth_err_free(&err);
    json_t *spec = berth_cdi_spec_parse("fuzz.json", (const char *)data, size, &err);
    if (spec)
        json_decref(spec);
    berth_err_free(&err);
    /* a qualified device name from the same bytes (NUL-terminated copy) */
    char *name = berth_strndup((const char *)data, size > 256 ? 256 : size);
    char *kind = NULL, *dev = NULL;
    if (berth_cdi_parse_name(name, &kind, &dev, &err) == 0) {
        berth_free(kind);
        berth_free(dev);
    }
    berth_err_free(&err);
    berth_free(name);
    return 0;
}
