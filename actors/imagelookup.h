/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asking the images actor for an image by any of its names (ID, tag,
 * digest, short name as pulled), for container creation. The answer carries
 * a copy of the record and the layer directories, top layer first, so the
 * container's root filesystem can be mounted without touching the index.
 *
 * Image volumes (CRI Mount.image, docs/image-volumes.md) are claimed here
 * too: the images actor mounts each image used as a volume once, counts the
 * containers that claim it, refuses RemoveImage while any does, and
 * unmounts it when the last claim is released.
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
    BERTH_MSG_IMAGES_VOL_ACQUIRE,     /* berth_image_vol_msg_t, to the images actor */
    BERTH_MSG_IMAGES_VOL_ACQUIRED,    /* the same message, sent back */
    BERTH_MSG_IMAGES_VOL_RELEASE,     /* berth_image_vol_msg_t, no reply */
    BERTH_MSG_IMAGES_VOL_RESTORE,     /* berth_image_vol_restore_msg_t, no reply */
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

/* A claim of one image volume, or its release. */
typedef struct berth_image_vol_msg {
    berth_msg_t hdr;
    berth_handle_t reply_to;
    uint64_t tag;
    char *ctr_id;      /* the claiming container */
    char *ref;         /* acquire: the image as Mount.image.image names it */
    char *image_id;    /* reply: the image ID ("sha256:<hex>"), owned */
    char *path;        /* reply: the read-only mount on the host, owned */
    berth_err_t error; /* reply: NOT_FOUND naming the image, or why it cannot mount */
} berth_image_vol_msg_t;

/* Claims the volume of image `ref` for container ctr_id; the reply (type
 * BERTH_MSG_IMAGES_VOL_ACQUIRED, with `tag`) always comes, once the volume
 * is mounted or with the error. A container may claim one image several
 * times (one per mount). Any actor turn. */
void berth_image_vol_acquire(berth_handle_t images, const char *ctr_id, const char *ref,
                             berth_handle_t reply_to, uint64_t tag);
/* Drops every claim of ctr_id (none is fine); the last claim of a volume
 * unmounts it. One container's acquires and release arrive in the order it
 * sent them, so a release after an acquire whose reply has not come yet
 * still drops that claim. No reply. Any actor turn. */
void berth_image_vol_release(berth_handle_t images, const char *ctr_id);

/* The claims of the containers found on disk at a restart (the containers
 * manager sends it once, before any container can claim anew): the images
 * actor makes sure each claimed volume is mounted and removes the volumes
 * nobody claims. */
typedef struct berth_image_vol_restore_msg {
    berth_msg_t hdr;
    char **ctr_ids;   /* owned, n entries */
    char **image_ids; /* owned, n entries: "sha256:<hex>" */
    size_t n;
} berth_image_vol_restore_msg_t;

/* An empty restore message to fill with berth_image_vol_restore_add. */
berth_image_vol_restore_msg_t *berth_image_vol_restore_new(void);
void berth_image_vol_restore_add(berth_image_vol_restore_msg_t *m, const char *ctr_id,
                                 const char *image_id);

#endif
