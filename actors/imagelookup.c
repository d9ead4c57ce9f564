// SPDX-License-Identifier: Apache-2.0
/*
 * The image lookup message (imagelookup.h): built by the asking actor,
 * answered by the images actor in place. A lookup that cannot reach the
 * images actor is answered here, so the reply always comes.
 */
#include "actors/imagelookup.h"

#include <errno.h>

#include "engine/alloc.h"
#include "io/store.h"

static void lookup_msg_free(berth_msg_t *m)
{
    berth_image_lookup_msg_t *lm = (berth_image_lookup_msg_t *)m;
    berth_free(lm->ref);
    berth_store_image_free(lm->image);
    for (size_t i = 0; lm->layer_dirs && i < lm->n_layer_dirs; i++)
        berth_free(lm->layer_dirs[i]);
    berth_free(lm->layer_dirs);
    berth_err_free(&lm->error);
    berth_free(lm);
}

void berth_image_lookup(berth_handle_t images, const char *ref, berth_handle_t reply_to,
                        uint64_t tag)
{
    berth_image_lookup_msg_t *m = berth_msg_new(BERTH_MSG_IMAGES_LOOKUP, sizeof(*m));
    m->hdr.free = lookup_msg_free;
    m->reply_to = reply_to;
    m->tag = tag;
    m->ref = berth_strdup(ref ? ref : "");
    if (berth_send(images, &m->hdr) < 0) {
        m = berth_msg_new(BERTH_MSG_IMAGES_LOOKUP_REPLY, sizeof(*m));
        m->hdr.free = lookup_msg_free;
        m->tag = tag;
        berth_err_make(&m->error, ESRCH, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
        berth_send(reply_to, &m->hdr);
    }
}
