/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for layer unpacking with the real path's checks: the
 * input is a layer blob (plain tar, gzip or zstd) unpacked into a scratch
 * directory under a parent that holds a sentinel; whatever the input, the
 * sentinel's directory holds nothing else afterwards (no entry escaped) and
 * the scratch tree is removed. Small limits keep a run fast.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[] = "/tmp/berth-unpack-fuzz-XXXXXX";
static int ready;

/* The names in base other than the blob, the layer and the sentinel. */
static int strangers(void)
{
    DIR *d = opendir(base);
    if (d == NULL)
        return 1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strcmp(s, ".") && strcmp(s, "..") && strcmp(s, "blob") && strcmp(s, "layer") &&
            strcmp(s, "sentinel"))
            n++;
    }
    closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        if (mkdtemp(base) == NULL)
            abort();
        char s[64];
        snprintf(s, sizeof(s), "%s/sentinel", base);
        mkdir(s, 0755);
        ready = 1;
    }
    char blob[64], layer[64];
    snprintf(blob, sizeof(blob), "%s/blob", base);
    snprintf(layer, sizeof(layer), "%s/layer", base);
    FILE *f = fopen(blob, "wb");
    if (f == NULL)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    berth_unpack_limits_t lim = {
            .max_total_bytes = 8u << 20, .max_entries = 4096, .max_file_bytes = 4u << 20};
    berth_unpack_stats_t st;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_unpack_layer(blob, layer, &lim, &st, &err);
    berth_unpack_remove_tree(layer, NULL);
    if (strangers() != 0)
        abort(); /* an entry escaped the layer directory */
    char s[64];
    snprintf(s, sizeof(s), "%s/sentinel", base);
    DIR *d = opendir(s);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    if (n != 0)
        abort(); /* something was written next to the layer */
    return 0;
}
