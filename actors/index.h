/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The index a manager actor (pods, containers) keeps of the actors it owns:
 * reserved name and ID to actor handle, plus the last listing summary each
 * one published. Owned by one actor and used only in its turns: no locks.
 * Lookups by ID accept a unique prefix, as crictl users type them.
 */
#ifndef BERTH_ACTORS_INDEX_H
#define BERTH_ACTORS_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "engine/actor.h"

typedef struct berth_index_entry {
    char *id, *name;       /* owned */
    berth_handle_t handle; /* the actor holding the name */
    void *summary;         /* owned, freed with the index's free_summary; may be NULL */
    /* The summary's list item, packed by the first list that showed it and
     * reused by the next ones (owned; NULL: not packed yet). It goes with
     * the summary it was packed from (berth_index_set_summary, remove), so
     * a list never shows an item older than the summary: whatever a list
     * item shows must come from the summary and change only with it. */
    uint8_t *item;
    size_t item_len;
} berth_index_entry_t;

struct berth_cri_req_msg;
typedef struct berth_index_held berth_index_held_t;

typedef struct berth_index {
    berth_index_entry_t *v;
    size_t n, cap;
    void (*free_summary)(void *summary);
    /* Until the manager has read its records, requests wait here in order. */
    bool ready;
    berth_index_held_t *held, **held_tail;
} berth_index_t;

void berth_index_init(berth_index_t *ix, void (*free_summary)(void *summary));
void berth_index_fini(berth_index_t *ix);

berth_index_entry_t *berth_index_by_name(berth_index_t *ix, const char *name);
/* The exact ID, else the one entry whose ID starts with `id`; NULL (with
 * *ambiguous set when more than one matched) otherwise. */
berth_index_entry_t *berth_index_by_id(berth_index_t *ix, const char *id, bool *ambiguous);
/* Only an exact ID. */
berth_index_entry_t *berth_index_by_exact_id(berth_index_t *ix, const char *id);
/* Adds an entry (id and name copied); the pointer is valid until the next
 * add or remove. */
berth_index_entry_t *berth_index_add(berth_index_t *ix, const char *id, const char *name,
                                     berth_handle_t handle);
void berth_index_remove(berth_index_t *ix, berth_index_entry_t *e);
/* Replaces an entry's summary (taken), dropping the item packed from the
 * old one. */
void berth_index_set_summary(berth_index_t *ix, berth_index_entry_t *e, void *summary);

/* Labels or annotations as a listing summary keeps them (all owned). */
typedef struct berth_kv {
    size_t n;
    char **keys, **values;
} berth_kv_t;

/* Copies n CRI map entries (any *Entry type). */
void berth_kv_copy(berth_kv_t *kv, size_t n, ProtobufCMessage *const *entries);
void berth_kv_dup(berth_kv_t *dst, const berth_kv_t *src);
void berth_kv_fini(berth_kv_t *kv);
/* Whether kv holds every (key, value) of the n selector entries. */
bool berth_kv_selects(const berth_kv_t *kv, size_t n, ProtobufCMessage *const *selector);
/* A CRI map (entry type `desc`) over kv's strings: see berth_cri_map. */
void *berth_kv_map(const berth_kv_t *kv, const ProtobufCMessageDescriptor *desc);

/* Answers a List or Stream call from the summaries: `keep` picks (filter may
 * be NULL), `fill` builds one item in `slot` (slot_size bytes, the item
 * message first) borrowing the summary's strings, `fini` frees what fill
 * allocated. An index is listed with one lister only: the items it packs
 * are kept in its entries (berth_index_entry_t.item) for the next lists. */
typedef struct berth_summary_view {
    const char *id;
    int state;
    bool listed; /* delivered (DESIGN.md §3 rule 7) */
    const berth_kv_t *labels;
} berth_summary_view_t;

typedef struct berth_index_lister {
    size_t slot_size;
    /* What every list filter looks at: the CRI filters' id (a prefix),
     * state and label_selector are read from the filter by name. */
    berth_summary_view_t (*view)(const void *summary);
    /* Optional: what else this filter asks (a container's pod ID). */
    bool (*keep)(const void *summary, const void *filter);
    void (*fill)(void *slot, const void *summary);
    void (*fini)(void *slot);
} berth_index_lister_t;

/* Whether a summary passes a CRI list filter's id prefix, state and label
 * selector (any of the *Filter messages; fields found by name). */
bool berth_index_filter_keeps(const ProtobufCMessage *filter, const berth_summary_view_t *v);

/* The List answer (a `resp` message, whose only field is the repeated
 * item) for the summaries `filter` keeps (NULL or empty: all listed ones),
 * packed: returned owned, *len its size. Items come from the entries' packed
 * ones, packed now where missing. */
uint8_t *berth_index_pack_list(berth_index_t *ix, const berth_index_lister_t *l, const void *filter,
                               const ProtobufCMessageDescriptor *resp, size_t *len);

/* Answers the call with that list: one `list_resp`, or (stream) one
 * `stream_resp` per item, as berth_cri_reply_packed. */
struct berth_grpc_call;
void berth_index_list(berth_index_t *ix, const berth_index_lister_t *l, const void *filter,
                      struct berth_grpc_call *call, bool stream,
                      const ProtobufCMessageDescriptor *list_resp,
                      const ProtobufCMessageDescriptor *stream_resp);

/* A manager's handler for one CRI method (rm taken, arg from the table), or
 * none: the method goes to the actor whose ID the request names, and
 * `gone_ok` marks those the CRI wants idempotent (stop, remove). */
typedef struct berth_index_route {
    const char *method; /* first member: see berth_cri_routes_t */
    void (*fn)(berth_actor_t *self, void *mgr, struct berth_cri_req_msg *rm, int arg);
    int arg;
    bool gone_ok;
} berth_index_route_t;

/* Before the records are read (berth_index_ready), keeps rm and returns
 * true; after, returns false and the caller dispatches it. */
bool berth_index_hold(berth_index_t *ix, struct berth_cri_req_msg *rm);
/* The records are read: every held request goes to dispatch, in order. */
void berth_index_ready(berth_index_t *ix, void (*dispatch)(void *ctx, struct berth_cri_req_msg *rm),
                       void *ctx);
/* Routes rm by the manager's table: its own handler, else to the actor named
 * by the request's `id_field`; a method the table lacks is UNIMPLEMENTED. */
struct berth_cri_routes;
void berth_index_dispatch(berth_actor_t *self, void *mgr, const berth_index_t *ix,
                          struct berth_cri_routes *routes, struct berth_cri_req_msg *rm,
                          const char *id_field, const char *what);

/* Routes rm to the actor whose ID (a unique prefix is enough) is the
 * request's string field `field` ("pod_sandbox_id"); `what` ("pod sandbox")
 * names it in errors. An ID nobody holds is NOT_FOUND, or an empty success
 * with gone_ok: a sandbox or container that is gone is stopped and removed. */
void berth_index_route_by_id(const berth_index_t *ix, struct berth_cri_req_msg *rm,
                             const char *field, const char *what, bool gone_ok);

/* A new 64-hex-digit ID from the kernel's random pool (owned). */
char *berth_index_new_id(void);

#endif
