/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI v1 method table, derived from the service descriptors protoc-c
 * generates from the pinned api.proto, so a new CRI method appears here by
 * regenerating, never by hand. Lookups are by gRPC path
 * ("/runtime.v1.RuntimeService/Version"). Immutable; safe from any thread.
 */
#ifndef BERTH_PROTO_CRI_H
#define BERTH_PROTO_CRI_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"

typedef struct berth_cri_method {
    const char *path;    /* "/runtime.v1.RuntimeService/Version" */
    const char *service; /* "RuntimeService" or "ImageService" */
    const char *name;    /* "Version" */
    unsigned index;      /* dense index over both services, < berth_cri_method_count() */
    bool server_streaming;
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
} berth_cri_method_t;

/* The method for a gRPC path, or NULL when the path names no CRI v1 method. */
const berth_cri_method_t *berth_cri_method_lookup(const char *path);
/* The i-th method (0 <= i < count). */
const berth_cri_method_t *berth_cri_method_at(unsigned i);
unsigned berth_cri_method_count(void);

#endif
