/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI service actor: receives every decoded gRPC request from io/, routes
 * it by method to the actor that owns the rule (or answers it itself for the
 * runtime-information methods), and answers UNIMPLEMENTED, naming the method,
 * for what berth does not implement yet. It never blocks: everything it
 * answers from is state published to it by messages.
 */
#ifndef BERTH_ACTORS_CRI_H
#define BERTH_ACTORS_CRI_H

#include <stdbool.h>
#include <jansson.h>
#include <stddef.h>

#include "actors/crierr.h"
#include "engine/actor.h"
#include "engine/alloc.h"
#include "io/grpc.h"
#include "proto/cri.h"

/* A decoded CRI request, routed by the CRI actor to the actor owning the
 * rule. The receiver owns the message, the call reference and the request. */
typedef struct berth_cri_req_msg {
    berth_msg_t hdr;         /* BERTH_MSG_CRI_REQUEST */
    berth_grpc_call_t *call; /* one reference */
    const berth_cri_method_t *method;
    ProtobufCMessage *req; /* unpacked with berth's protobuf allocator */
    uint64_t deadline_ns;  /* 0: none */
} berth_cri_req_msg_t;

/* An internal request with no client (call NULL): a copy of req for the
 * method at `path`, to send to the actor that owns the method. Its answer is
 * dropped (io/grpc.h accepts NULL calls). NULL when path names no method. */
berth_cri_req_msg_t *berth_cri_req_new(const char *path, const ProtobufCMessage *req);

/* Entries for a CRI map field (labels, annotations: protobuf-c generates one
 * entry message type per map, each with string fields `key` and `value`).
 * Returns n entry pointers in one owned block (berth_free); the strings are
 * borrowed from keys/values, or from src, another map's entries. */
void *berth_cri_map(const ProtobufCMessageDescriptor *entry, size_t n, char *const *keys,
                    char *const *values);
void *berth_cri_map_copy(const ProtobufCMessageDescriptor *entry, size_t n,
                         ProtobufCMessage *const *src);

/* Kubernetes' own bounds on what a client names and attaches (a DNS
 * subdomain for names, a DNS label for namespaces, 256 KiB of annotations),
 * so an absurd request fails at once instead of deep in a creation (a 1 MB
 * pod name failed only when CNI could not be spawned). Container names get
 * the subdomain length too: CRI clients other than the kubelet use longer
 * ones than a label allows. */
#define BERTH_CRI_MAX_NAME 253
#define BERTH_CRI_MAX_NAMESPACE 63
#define BERTH_CRI_MAX_PATH 4096 /* PATH_MAX: paths and image names */
#define BERTH_CRI_MAX_MAP_ENTRIES 1024
#define BERTH_CRI_MAX_MAP_BYTES (256u << 10)

/* The key and value of one map entry of any *Entry type (borrowed). */
void berth_cri_map_entry(const ProtobufCMessage *entry, const char **key, const char **value);

/* The verbose `info` map of a status response, {"info": o as JSON} (o
 * taken): the entries (owned block, as berth_cri_map) with *n set, and the
 * JSON text in *json (owned), both freed after the reply is sent. */
void *berth_cri_info(const ProtobufCMessageDescriptor *entry, json_t *o, char **json, size_t *n);

/* Checks a labels or annotations map (n map entries of any *Entry type):
 * at most BERTH_CRI_MAX_MAP_ENTRIES entries and BERTH_CRI_MAX_MAP_BYTES of
 * keys and values together, no empty key. -1 with INVALID_ARGUMENT naming
 * `what` ("RunPodSandbox: config.annotations"). Pure: any thread. */
int berth_cri_check_map(const char *what, size_t n, ProtobufCMessage *const *entries,
                        berth_err_t *err);
/* Checks a name's length against max: -1 with INVALID_ARGUMENT naming
 * `what` and the limit. */
int berth_cri_check_len(const char *what, const char *value, size_t max, berth_err_t *err);

/* A dispatch table by method index over an array of entries whose first
 * member is the CRI method's name (const char *): an actor's handlers,
 * looked up per request without comparing strings. Built on first use;
 * any thread. Declare one with BERTH_CRI_ROUTES(array). */
typedef struct berth_cri_routes {
    const void *entries;
    size_t size, n;
    const void **by_index; /* built on first use, then immutable */
} berth_cri_routes_t;
#define BERTH_CRI_ROUTES(arr)                                                                      \
    {                                                                                              \
        .entries = (arr), .size = sizeof((arr)[0]), .n = BERTH_ARRAY_LEN(arr)                      \
    }
/* The entry for m, or NULL when the table has none. */
const void *berth_cri_route(berth_cri_routes_t *r, const berth_cri_method_t *m);

/* Answers rm's call with an error (kind, formatted message) and frees rm. */
void berth_cri_fail(berth_cri_req_msg_t *rm, int kind, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A deep copy of msg on the protobuf allocator (free it with
 * protobuf_c_message_free_unpacked and berth_alloc_protobuf_allocator()). */
ProtobufCMessage *berth_cri_copy(const ProtobufCMessage *msg);
/* Frees a message unpacked or copied on berth's protobuf allocator. NULL-safe. */
void berth_cri_free(ProtobufCMessage *msg);
/* A response whose first field is a string (RunPodSandboxResponse's
 * pod_sandbox_id, CreateContainerResponse's container_id), packed (owned). */
uint8_t *berth_cri_pack_string(const ProtobufCMessageDescriptor *desc, const char *value,
                               size_t *len);
/* msg's protobuf bytes as hex (owned): how records keep the kubelet's config,
 * so a restart rebuilds exactly what was sent. */
char *berth_cri_to_hex(const ProtobufCMessage *msg);
/* The inverse (protobuf allocator); NULL when hex is not a `desc` message. */
ProtobufCMessage *berth_cri_from_hex(const ProtobufCMessageDescriptor *desc, const char *hex);

typedef struct berth_stream_req berth_stream_req_t;
/* Exec, Attach and PortForward: registers q (taken) with the streaming
 * server (io/stream.h) and answers rm with the URL in a `resp_desc`
 * response (each of the three holds only it), or with the server's error.
 * Consumes rm. Any actor turn. */
void berth_cri_answer_stream(berth_cri_req_msg_t *rm, berth_stream_req_t *q,
                             const ProtobufCMessageDescriptor *resp_desc);

/* Packs resp and answers the call with it (unary success). Any actor turn. */
void berth_cri_reply(berth_grpc_call_t *call, const ProtobufCMessage *resp);
/* Packs resp into an owned buffer; returns it and sets *len. */
uint8_t *berth_cri_pack(const ProtobufCMessage *resp, size_t *len);
/* Answers a List call with all n items in one `list` response, or a Stream
 * call (`stream`) with one `stream_resp` per item, which keeps each message
 * under the size limit however many items the node has. Both responses are
 * initialised by the caller and hold the items in their only field, a
 * repeated message; items stay the caller's. */
void berth_cri_reply_items(berth_grpc_call_t *call, bool stream, ProtobufCMessage *list_resp,
                           ProtobufCMessage *stream_resp, void **items, size_t n);

/* A message already packed: its bytes (borrowed) and their count. */
typedef struct berth_cri_packed {
    const uint8_t *data;
    size_t len;
} berth_cri_packed_t;

/* Packs a response whose only field (a message field, repeated or not) holds
 * these items, without unpacking them: each is written as the field's key,
 * its length and its bytes, which is how protobuf encodes a message field,
 * so the bytes are those berth_cri_pack gives the response with the items
 * in it. Returns them (owned) and sets *len. */
uint8_t *berth_cri_pack_items(const ProtobufCMessageDescriptor *resp,
                              const berth_cri_packed_t *items, size_t n, size_t *len);
/* berth_cri_reply_items for items already packed: one `list_resp` answer,
 * or (stream) one `stream_resp` message per item and then OK. Items stay
 * the caller's. */
void berth_cri_reply_packed(berth_grpc_call_t *call, bool stream,
                            const ProtobufCMessageDescriptor *list_resp,
                            const ProtobufCMessageDescriptor *stream_resp,
                            const berth_cri_packed_t *items, size_t n);

typedef struct berth_cri_config {
    const char *runtime_version; /* berth's version */
    const char *const *handlers; /* runtime handler names, NULL-terminated; copied */
    const char *default_handler; /* copied */
    berth_handle_t netstatus;    /* subscribed to at spawn */
    berth_handle_t pods;         /* receives the *PodSandbox* methods; may be NONE */
    berth_handle_t images;       /* receives the ImageService methods; may be NONE */
    berth_handle_t containers;   /* receives the container methods; may be NONE */
    berth_handle_t events;       /* receives GetContainerEvents; may be NONE */
} berth_cri_config_t;

berth_handle_t berth_cri_spawn(const berth_cri_config_t *cfg);

#endif
