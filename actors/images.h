/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ImageService actors. The images actor owns the image index (loaded
 * from the store at start) and answers ListImages, ImageStatus,
 * RemoveImage, ImageFsInfo and StreamImages from it; every PullImage goes to
 * one pull actor per in-flight image reference, so concurrent pulls of one
 * image are joined and a pull never delays a listing. The images actor
 * decides what a pull tries; the pull itself (io/pull: registry, blobs,
 * unpacking) and every disk write run on io/'s blocking pool; these actors
 * never block. The images actor also mounts the images used as image
 * volumes and counts their users (actors/imagelookup.h).
 */
#ifndef BERTH_ACTORS_IMAGES_H
#define BERTH_ACTORS_IMAGES_H

#include <stdbool.h>

#include "conf/config.h"
#include "engine/actor.h"

/* Message types of the images and pull actors (0x2000-0x20ff). */
enum {
    BERTH_MSG_IMAGES_LOADED = 0x2000, /* images: the store's records were read */
    BERTH_MSG_IMAGES_PULL_FINAL,      /* images -> pull: committed (id) or failed */
    BERTH_MSG_IMAGES_WRITTEN,         /* images: a record write/delete finished */
    BERTH_MSG_IMAGES_GC_DONE,         /* images: garbage collection finished */
    BERTH_MSG_IMAGES_FSINFO,          /* images: ImageFsInfo figures were computed */
    BERTH_MSG_IMAGES_VOL_DONE,        /* images: an image volume was (un)mounted */
    BERTH_MSG_IMAGES_VOL_RESTORED,    /* images: the restart's volume sweep finished */
};

/* Spawns the images actor for the store under cfg->root (cfg is referenced
 * while the actor lives). It then receives BERTH_MSG_CRI_REQUEST messages
 * (actors/cri.h) for the six ImageService methods: PullImage, ListImages,
 * ImageStatus, RemoveImage, ImageFsInfo, StreamImages. Requests arriving
 * before the store is loaded wait for it. Main thread or actor turn. */
berth_handle_t berth_images_spawn(berth_config_t *cfg);

#endif
