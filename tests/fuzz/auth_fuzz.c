/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for a registry's WWW-Authenticate header (the challenge
 * parser) and for image references as clients and registries.conf give
 * them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/registry-internal.h"
#include "io/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = berth_strndup((const char *)data, size); /* a header value ends at NUL */
    berth_registry_challenge_t ch;
    berth_registry_challenge_parse(s, &ch);
    berth_registry_challenge_fini(&ch);
    berth_image_ref_t ref;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_image_ref_parse(s, &ref, &err) == 0) {
        char *back = berth_image_ref_string(&ref);
        berth_free(back);
        berth_image_ref_fini(&ref);
    }
    berth_free(s);
    return 0;
}
