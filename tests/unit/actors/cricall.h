/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One CRI call from a test to the berthd actors under test, through berth's
 * own gRPC client on the test's socket: the answer's status, message and
 * body. Header-only and test-only; the test connects `cl` itself.
 */
#ifndef BERTH_TESTS_UNIT_ACTORS_CRICALL_H
#define BERTH_TESTS_UNIT_ACTORS_CRICALL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/grpc_client.h"

static berth_grpc_client_t *cl;

typedef struct answer {
    int status; /* gRPC status, -1 when the call itself failed */
    char *msg;
    uint8_t *body;
    size_t len;
} answer_t;

static inline void answer_free(answer_t *a)
{
    berth_free(a->msg);
    berth_free(a->body);
    memset(a, 0, sizeof(*a));
}

/* Calls method with req (NULL: an empty body); 30 s bound a hang. */
static inline void call(const char *method, const ProtobufCMessage *req, answer_t *a)
{
    size_t cap = req ? protobuf_c_message_get_packed_size(req) : 0;
    BERTH_AUTO_FREE uint8_t *buf = berth_malloc(cap ? cap : 1);
    size_t len = req ? protobuf_c_message_pack(req, buf) : 0;
    berth_err_t err = NULL;
    memset(a, 0, sizeof(*a));
    if (berth_grpc_client_call(cl, method, buf, len, 30000000000ull, &a->body, &a->len, &a->status,
                               &a->msg, &err) < 0) {
        printf("# call %s failed: %s\n", method, err->msg);
        a->status = -1;
        berth_err_free(&err);
    }
}

/* The answer has status code and, unless text is NULL, text in its message. */
static inline bool has(const answer_t *a, int code, const char *text)
{
    bool r = a->status == code && (text == NULL || (a->msg && strstr(a->msg, text) != NULL));
    if (!r)
        printf("# got status %d: %s\n", a->status, a->msg ? a->msg : "(none)");
    return r;
}

#endif
