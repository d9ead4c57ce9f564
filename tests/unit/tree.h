/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A scratch tree for unit tests that lay files out on disk: text written at
 * root/rel, the directories on the way made.
 */
#ifndef BERTH_TESTS_UNIT_TREE_H
#define BERTH_TESTS_UNIT_TREE_H

#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/fs.h"

/* root/rel, freed by the caller with berth_free. */
static inline char *tree_at(const char *root, const char *rel)
{
    return berth_asprintf("%s/%s", root, rel);
}

/* Writes text to root/rel, making its parent directories. */
static inline void tree_put(const char *root, const char *rel, const char *text)
{
    BERTH_AUTO_FREE char *p = tree_at(root, rel);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    BERTH_AUTO_FREE char *parent = berth_strdup(p);
    *strrchr(parent, '/') = '\0';
    berth_fs_mkdir_p(parent, 0755, &err);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#endif
