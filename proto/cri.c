// SPDX-License-Identifier: Apache-2.0
/*
 * Builds the CRI method table once from protoc-c's service descriptors. The
 * table is filled on first use under pthread_once and never changes after,
 * so readers need no synchronisation beyond the once barrier.
 */
#include "proto/cri.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sized for both services with room to grow; checked at fill time. */
#define MAX_METHODS 96

static berth_cri_method_t methods[MAX_METHODS];
static char paths[MAX_METHODS][96];
static unsigned n_methods;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The CRI declares its server-streaming RPCs with `returns (stream ...)`,
 * which protoc-c's descriptors do not record. They are exactly the Stream*
 * methods and GetContainerEvents. */
static bool is_server_streaming(const char *name)
{
    return strncmp(name, "Stream", 6) == 0 || strcmp(name, "GetContainerEvents") == 0;
}

static void add_service(const ProtobufCServiceDescriptor *svc)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        if (n_methods == MAX_METHODS) {
            fprintf(stderr, "berth: CRI method table full; raise MAX_METHODS\n");
            abort();
        }
        const ProtobufCMethodDescriptor *m = &svc->methods[i];
        berth_cri_method_t *e = &methods[n_methods];
        snprintf(paths[n_methods], sizeof(paths[n_methods]), "/%s/%s", svc->name, m->name);
        e->path = paths[n_methods];
        e->service = svc->short_name;
        e->name = m->name;
        e->index = n_methods;
        e->server_streaming = is_server_streaming(m->name);
        e->input = m->input;
        e->output = m->output;
        n_methods++;
    }
}

static void fill(void)
{
    add_service(&runtime__v1__runtime_service__descriptor);
    add_service(&runtime__v1__image_service__descriptor);
}

const berth_cri_method_t *berth_cri_method_lookup(const char *path)
{
    pthread_once(&once, fill);
    if (path == NULL)
        return NULL;
    for (unsigned i = 0; i < n_methods; i++) {
        if (strcmp(methods[i].path, path) == 0)
            return &methods[i];
    }
    return NULL;
}

const berth_cri_method_t *berth_cri_method_at(unsigned i)
{
    pthread_once(&once, fill);
    return i < n_methods ? &methods[i] : NULL;
}

unsigned berth_cri_method_count(void)
{
    pthread_once(&once, fill);
    return n_methods;
}
