/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for io/yamljson (YAML documents as JSON) and the CDI
 * spec checks behind it (berth_cdi_spec_parse_yaml). Any byte string must
 * be converted or refused with a message naming the file; never a crash, a
 * leak, deep recursion or an out-of-bounds read. What is converted with
 * small limits must respect them: no deeper than max_depth collections and
 * no more than max_nodes nodes (keys included), aliases expanded; the
 * target aborts otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/err.h"
#include "io/cdi.h"
#include "io/yamljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Nodes of v counted as the converter does (a key is one), into *n; the
 * deepest nesting of collections into *depth. */
static void measure(json_t *v, unsigned level, size_t *n, unsigned *depth)
{
    (*n)++;
    if (!json_is_object(v) && !json_is_array(v))
        return;
    if (level + 1 > *depth)
        *depth = level + 1;
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) measure(x, level + 1, n, depth);
        return;
    }
    json_object_foreach(v, k, x)
    {
        (*n)++;
        measure(x, level + 1, n, depth);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    berth_err_t err = NULL;
    berth_yamljson_limits_t small = {.max_depth = 8, .max_nodes = 512};
    json_t *v = berth_yamljson_parse("fuzz.yaml", (const char *)data, size, &small, &err);
    if (v) {
        size_t n = 0;
        unsigned depth = 0;
        measure(v, 0, &n, &depth);
        if (n > small.max_nodes || depth > small.max_depth)
            abort();
        json_decref(v);
    } else if (err == NULL || strstr(err->msg, "fuzz.yaml") == NULL) {
        abort();
    }
    berth_err_free(&err);
    json_t *spec = berth_cdi_spec_parse_yaml("fuzz.yaml", (const char *)data, size, &err);
    if (spec)
        json_decref(spec);
    berth_err_free(&err);
    return 0;
}
