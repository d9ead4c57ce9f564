/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standalone driver for fuzz targets when libFuzzer is not available: feeds
 * every file of the corpus directory given as argv[1] to
 * LLVMFuzzerTestOneInput and reports one TAP line per file. A crash fails
 * the test run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        printf("1..0 # SKIP no corpus at %s\n", argv[1]);
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        names = berth_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = berth_strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp);
    printf("1..%zu\n", n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = berth_asprintf("%s/%s", argv[1], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("not ok %zu - %s (cannot open)\n", i + 1, names[i]);
            failed = 1;
        } else {
            size_t cap = 4096, len = 0, r;
            char *buf = berth_malloc(cap);
            while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
                len += r;
                if (len == cap) {
                    cap *= 2;
                    buf = berth_realloc(buf, cap);
                }
            }
            fclose(f);
            LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
            berth_free(buf);
            printf("ok %zu - %s\n", i + 1, names[i]);
        }
        berth_free(path);
        berth_free(names[i]);
    }
    berth_free(names);
    return failed;
}
