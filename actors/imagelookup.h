/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asking the images actor for an image by any of its names (ID, tag,
 * digest, short name as pulled), for container creation. The answer carries
 * a copy of the record and the layer directories, top layer first, so the
 * container's root filesystem can be mounted without touching the index.
 */
#ifndef BERTH_ACTORS_IMAGELOOKUP_H
#define BERTH_ACTORS_IMAGELOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"
#include "io/store.h"

enum {
    BERTH_MSG_IMAGES_LOOKUP = 0x2080, /* request, to the images actor */
    BERTH_MSG_IMAGES_LOOKUP_REPLY,    /* the same message, sent back */
};

typedef struct berth_image_lookup_msg {
    berth_msg_t hdr;
    berth_handle_t reply_to;
    uint64_t tag;
    char *ref;                  /* request: the image as the CRI names it */
    berth_store_image_t *image; /* reply: owned copy; NULL when not found */
    char **layer_dirs;          /* reply: top layer first, NULL-terminated, owned */
    size_t n_layer_dirs;
    berth_err_t error; /* reply: NOT_FOUND with the name, or another cause */
} berth_image_lookup_msg_t;

/* Sends a lookup; the reply (type BERTH_MSG_IMAGES_LOOKUP_REPLY) always comes. */
void berth_image_lookup(berth_handle_t images, const char *ref, berth_handle_t reply_to,
                        uint64_t tag);

#endif
