// SPDX-License-Identifier: Apache-2.0
/*
 * The name/ID index of a manager actor. A flat array: managers hold at most
 * a node's pods and containers (hundreds), and a list walks them all
 * anyway; removal swaps the last entry in.
 */
#include "actors/index.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "actors/cri.h"
#include "engine/alloc.h"
#include "io/grpc.h"

void berth_index_init(berth_index_t *ix, void (*free_summary)(void *summary))
{
    memset(ix, 0, sizeof(*ix));
    ix->free_summary = free_summary;
    ix->held_tail = &ix->held;
}

struct berth_index_held {
    berth_index_held_t *next;
    berth_cri_req_msg_t *rm;
};

void berth_index_fini(berth_index_t *ix)
{
    while (ix->n)
        berth_index_remove(ix, &ix->v[ix->n - 1]);
    berth_free(ix->v);
    ix->v = NULL;
    ix->cap = 0;
    while (ix->held) {
        berth_index_held_t *h = ix->held;
        ix->held = h->next;
        berth_msg_free(&h->rm->hdr);
        berth_free(h);
    }
    ix->held_tail = &ix->held;
}

berth_index_entry_t *berth_index_by_name(berth_index_t *ix, const char *name)
{
    for (size_t i = 0; i < ix->n; i++) {
        if (strcmp(ix->v[i].name, name) == 0)
            return &ix->v[i];
    }
    return NULL;
}

berth_index_entry_t *berth_index_by_id(berth_index_t *ix, const char *id, bool *ambiguous)
{
    *ambiguous = false;
    if (id == NULL || id[0] == '\0')
        return NULL;
    berth_index_entry_t *match = NULL;
    size_t len = strlen(id);
    for (size_t i = 0; i < ix->n; i++) {
        if (strcmp(ix->v[i].id, id) == 0)
            return &ix->v[i];
        if (strncmp(ix->v[i].id, id, len) == 0) {
            if (match) {
                *ambiguous = true;
                return NULL;
            }
            match = &ix->v[i];
        }
    }
    return match;
}

berth_index_entry_t *berth_index_by_exact_id(berth_index_t *ix, const char *id)
{
    bool ambiguous;
    berth_index_entry_t *e = berth_index_by_id(ix, id, &ambiguous);
    return e && strcmp(e->id, id) == 0 ? e : NULL;
}

berth_index_entry_t *berth_index_add(berth_index_t *ix, const char *id, const char *name,
                                     berth_handle_t handle)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->v = berth_realloc(ix->v, ix->cap * sizeof(*ix->v));
    }
    berth_index_entry_t *e = &ix->v[ix->n++];
    e->id = berth_strdup(id);
    e->name = berth_strdup(name);
    e->handle = handle;
    e->summary = NULL;
    e->item = NULL;
    e->item_len = 0;
    return e;
}

void berth_index_remove(berth_index_t *ix, berth_index_entry_t *e)
{
    berth_free(e->id);
    berth_free(e->name);
    if (e->summary && ix->free_summary)
        ix->free_summary(e->summary);
    berth_free(e->item);
    *e = ix->v[ix->n - 1];
    ix->n--;
}

void berth_index_set_summary(berth_index_t *ix, berth_index_entry_t *e, void *summary)
{
    if (e->summary && ix->free_summary)
        ix->free_summary(e->summary);
    e->summary = summary;
    berth_free(e->item);
    e->item = NULL;
    e->item_len = 0;
}

char *berth_index_new_id(void)
{
    uint8_t raw[32];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    char *hex = berth_malloc(65);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return hex;
}

void berth_kv_copy(berth_kv_t *kv, size_t n, ProtobufCMessage *const *entries)
{
    kv->n = n;
    kv->keys = berth_calloc(n + 1, sizeof(char *));
    kv->values = berth_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        berth_cri_map_entry(entries[i], &k, &v);
        kv->keys[i] = berth_strdup(k ? k : "");
        kv->values[i] = berth_strdup(v ? v : "");
    }
}

void berth_kv_dup(berth_kv_t *dst, const berth_kv_t *src)
{
    dst->n = src->n;
    dst->keys = berth_strv_dup(src->keys, (ssize_t)src->n);
    dst->values = berth_strv_dup(src->values, (ssize_t)src->n);
}

void berth_kv_fini(berth_kv_t *kv)
{
    berth_strv_free(kv->keys);
    berth_strv_free(kv->values);
    kv->keys = kv->values = NULL;
    kv->n = 0;
}

bool berth_kv_selects(const berth_kv_t *kv, size_t n, ProtobufCMessage *const *selector)
{
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        berth_cri_map_entry(selector[i], &k, &v);
        bool found = false;
        for (size_t j = 0; j < kv->n && !found; j++)
            found = strcmp(kv->keys[j], k ? k : "") == 0 && strcmp(kv->values[j], v ? v : "") == 0;
        if (!found)
            return false;
    }
    return true;
}

void *berth_kv_map(const berth_kv_t *kv, const ProtobufCMessageDescriptor *desc)
{
    return berth_cri_map(desc, kv->n, kv->keys, kv->values);
}

/* The id prefix, state and label selector every CRI list filter has,
 * found by name in the filter's descriptor. */
static const void *field_at(const ProtobufCMessage *m, const char *name, int type)
{
    const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return fd && (int)fd->type == type ? (const char *)m + fd->offset : NULL;
}

/* A filter's conditions, found once per list rather than per summary. */
typedef struct conds {
    const char *id; /* NULL: any */
    size_t id_len;
    const int *state; /* NULL: any */
    size_t n_sel;
    ProtobufCMessage *const *sel;
} conds_t;

static void conds_of(const ProtobufCMessage *f, conds_t *c)
{
    memset(c, 0, sizeof(*c));
    const char *const *id = field_at(f, "id", PROTOBUF_C_TYPE_STRING);
    if (id && *id && (*id)[0]) {
        c->id = *id;
        c->id_len = strlen(*id);
    }
    const ProtobufCMessage *const *sv = field_at(f, "state", PROTOBUF_C_TYPE_MESSAGE);
    c->state = sv && *sv ? field_at(*sv, "state", PROTOBUF_C_TYPE_ENUM) : NULL;
    const ProtobufCFieldDescriptor *ls =
            protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "label_selector");
    if (ls != NULL && ls->label == PROTOBUF_C_LABEL_REPEATED) {
        c->n_sel = *(const size_t *)((const char *)f + ls->quantifier_offset);
        c->sel = *(ProtobufCMessage *const *const *)((const char *)f + ls->offset);
    }
}

static bool conds_keep(const conds_t *c, const berth_summary_view_t *v)
{
    if (c->id && strncmp(v->id, c->id, c->id_len) != 0)
        return false;
    if (c->state && *c->state != v->state)
        return false;
    return berth_kv_selects(v->labels, c->n_sel, c->sel);
}

bool berth_index_filter_keeps(const ProtobufCMessage *f, const berth_summary_view_t *v)
{
    conds_t c;
    conds_of(f, &c);
    return conds_keep(&c, v);
}

/* e's packed list item, packed into e now if it has none yet; `slot` is
 * scratch of l->slot_size bytes. */
static berth_cri_packed_t entry_item(berth_index_entry_t *e, const berth_index_lister_t *l,
                                     void *slot)
{
    if (e->item == NULL) {
        memset(slot, 0, l->slot_size);
        l->fill(slot, e->summary);
        e->item = berth_cri_pack(slot, &e->item_len);
        l->fini(slot);
    }
    return (berth_cri_packed_t){e->item, e->item_len};
}

/* The packed items of the listed summaries filter keeps, in index order, in
 * a new array (owned; borrowing the entries' items); *n their count. */
static berth_cri_packed_t *kept_items(berth_index_t *ix, const berth_index_lister_t *l,
                                      const void *filter, size_t *n)
{
    conds_t c;
    if (filter)
        conds_of(filter, &c);
    BERTH_AUTO_FREE void *slot = berth_malloc(l->slot_size);
    berth_cri_packed_t *items = berth_calloc(ix->n + 1, sizeof(*items));
    size_t k = 0;
    for (size_t i = 0; i < ix->n; i++) {
        berth_index_entry_t *e = &ix->v[i];
        if (e->summary == NULL)
            continue;
        berth_summary_view_t v = l->view(e->summary);
        if (!v.listed || (filter && !conds_keep(&c, &v)) ||
            (filter && l->keep && !l->keep(e->summary, filter)))
            continue;
        items[k++] = entry_item(e, l, slot);
    }
    *n = k;
    return items;
}

uint8_t *berth_index_pack_list(berth_index_t *ix, const berth_index_lister_t *l, const void *filter,
                               const ProtobufCMessageDescriptor *resp, size_t *len)
{
    size_t n;
    BERTH_AUTO_FREE berth_cri_packed_t *items = kept_items(ix, l, filter, &n);
    return berth_cri_pack_items(resp, items, n, len);
}

void berth_index_list(berth_index_t *ix, const berth_index_lister_t *l, const void *filter,
                      struct berth_grpc_call *call, bool stream,
                      const ProtobufCMessageDescriptor *list_resp,
                      const ProtobufCMessageDescriptor *stream_resp)
{
    size_t n;
    BERTH_AUTO_FREE berth_cri_packed_t *items = kept_items(ix, l, filter, &n);
    berth_cri_reply_packed(call, stream, list_resp, stream_resp, items, n);
}

void berth_index_route_by_id(const berth_index_t *ix, berth_cri_req_msg_t *rm, const char *field,
                             const char *what, bool gone_ok)
{
    const char *method = rm->method->name;
    const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(rm->req->descriptor, field);
    const char *id = f && f->type == PROTOBUF_C_TYPE_STRING
                             ? *(const char *const *)((const char *)rm->req + f->offset)
                             : NULL;
    if (id == NULL || id[0] == '\0')
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "%s: %s is empty", method, field);
    bool ambiguous;
    berth_index_entry_t *e = berth_index_by_id((berth_index_t *)ix, id, &ambiguous);
    if (ambiguous)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "%s: %s ID prefix %s matches more than one",
                              method, what, id);
    if (e == NULL && gone_ok) {
        /* the responses of stop and remove are empty messages: an empty body
         * encodes both */
        berth_grpc_reply(rm->call, "", 0);
        berth_msg_free(&rm->hdr);
        return;
    }
    if (e == NULL)
        return berth_cri_fail(rm, BERTH_ERR_NOT_FOUND, "%s: %s %s not found", method, what, id);
    berth_grpc_call_set_owner(rm->call, e->handle);
    berth_send(e->handle, &rm->hdr);
}

bool berth_index_hold(berth_index_t *ix, berth_cri_req_msg_t *rm)
{
    if (ix->ready)
        return false;
    berth_index_held_t *h = berth_calloc(1, sizeof(*h));
    h->rm = rm;
    *ix->held_tail = h;
    ix->held_tail = &h->next;
    return true;
}

void berth_index_ready(berth_index_t *ix, void (*dispatch)(void *ctx, berth_cri_req_msg_t *rm),
                       void *ctx)
{
    ix->ready = true;
    while (ix->held) {
        berth_index_held_t *h = ix->held;
        ix->held = h->next;
        dispatch(ctx, h->rm);
        berth_free(h);
    }
    ix->held_tail = &ix->held;
}

void berth_index_dispatch(berth_actor_t *self, void *mgr, const berth_index_t *ix,
                          berth_cri_routes_t *routes, berth_cri_req_msg_t *rm, const char *id_field,
                          const char *what)
{
    const berth_index_route_t *r = berth_cri_route(routes, rm->method);
    if (r == NULL)
        return berth_cri_fail(rm, BERTH_ERR_UNSUPPORTED, "%s is not a %s method", rm->method->name,
                              what);
    if (r->fn)
        return r->fn(self, mgr, rm, r->arg);
    berth_index_route_by_id(ix, rm, id_field, what, r->gone_ok);
}
