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

static void vol_msg_free(berth_msg_t *m)
{
    berth_image_vol_msg_t *v = (berth_image_vol_msg_t *)m;
    berth_free(v->ctr_id);
    berth_free(v->ref);
    berth_free(v->image_id);
    berth_free(v->path);
    berth_err_free(&v->error);
    berth_free(v);
}

static berth_image_vol_msg_t *vol_msg_new(uint32_t type, const char *ctr_id, const char *ref)
{
    berth_image_vol_msg_t *m = berth_msg_new(type, sizeof(*m));
    m->hdr.free = vol_msg_free;
    m->ctr_id = berth_strdup(ctr_id ? ctr_id : "");
    m->ref = berth_strdup(ref ? ref : "");
    return m;
}

void berth_image_vol_acquire(berth_handle_t images, const char *ctr_id, const char *ref,
                             berth_handle_t reply_to, uint64_t tag)
{
    berth_image_vol_msg_t *m = vol_msg_new(BERTH_MSG_IMAGES_VOL_ACQUIRE, ctr_id, ref);
    m->reply_to = reply_to;
    m->tag = tag;
    if (berth_send(images, &m->hdr) < 0) {
        m = vol_msg_new(BERTH_MSG_IMAGES_VOL_ACQUIRED, ctr_id, ref);
        m->tag = tag;
        berth_err_make(&m->error, ESRCH, BERTH_ERR_UNAVAILABLE, "berth is shutting down");
        berth_send(reply_to, &m->hdr);
    }
}

void berth_image_vol_release(berth_handle_t images, const char *ctr_id)
{
    berth_send(images, &vol_msg_new(BERTH_MSG_IMAGES_VOL_RELEASE, ctr_id, NULL)->hdr);
}

static void restore_msg_free(berth_msg_t *m)
{
    berth_image_vol_restore_msg_t *r = (berth_image_vol_restore_msg_t *)m;
    for (size_t i = 0; i < r->n; i++) {
        berth_free(r->ctr_ids[i]);
        berth_free(r->image_ids[i]);
    }
    berth_free(r->ctr_ids);
    berth_free(r->image_ids);
    berth_free(r);
}

berth_image_vol_restore_msg_t *berth_image_vol_restore_new(void)
{
    berth_image_vol_restore_msg_t *m = berth_msg_new(BERTH_MSG_IMAGES_VOL_RESTORE, sizeof(*m));
    m->hdr.free = restore_msg_free;
    return m;
}

void berth_image_vol_restore_add(berth_image_vol_restore_msg_t *m, const char *ctr_id,
                                 const char *image_id)
{
    m->ctr_ids = berth_realloc(m->ctr_ids, (m->n + 1) * sizeof(char *));
    m->image_ids = berth_realloc(m->image_ids, (m->n + 1) * sizeof(char *));
    m->ctr_ids[m->n] = berth_strdup(ctr_id);
    m->image_ids[m->n] = berth_strdup(image_id);
    m->n++;
}
