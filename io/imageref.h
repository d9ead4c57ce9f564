/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references as pulling needs them: engine/refname.h's grammar plus
 * docker.io and library/ for short names, sha256-only digests and the
 * default tag. Pure: any thread.
 */
#ifndef BERTH_IO_IMAGEREF_H
#define BERTH_IO_IMAGEREF_H

#include <stdbool.h>

#include "engine/err.h"

typedef struct berth_image_ref {
    char *domain;       /* "registry.k8s.io", "127.0.0.1:5000"; "docker.io" for short names */
    char *repository;   /* "pause", "library/busybox" (docker.io's library/ added) */
    char *tag;          /* NULL when only a digest was given */
    char *digest;       /* NULL or a valid "sha256:<hex>" */
    char *path;         /* the repository as written, without domain ("busybox") */
    bool short_name;    /* the input named no registry: resolve per registries.conf */
    bool tag_defaulted; /* neither tag nor digest given: tag is "latest" */
} berth_image_ref_t;

/* Parses "registry.k8s.io/pause:3.10", "busybox", "foo/bar@sha256:...",
 * "host:5000/a/b:t@sha256:...". The first component is a registry domain
 * when it has a '.' or ':' or is "localhost"; otherwise the name is short
 * and domain is "docker.io". docker.io names with one component gain
 * "library/". Returns 0 with *out filled (owned; free with _fini), or -1
 * with *err (INVALID) for a malformed reference. Any thread. */
int berth_image_ref_parse(const char *s, berth_image_ref_t *out, berth_err_t *err);
void berth_image_ref_fini(berth_image_ref_t *ref);
/* "domain/repository[:tag][@digest]"; returned owned. */
char *berth_image_ref_string(const berth_image_ref_t *ref);

#endif
