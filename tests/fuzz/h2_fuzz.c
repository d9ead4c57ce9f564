/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the HTTP/2 + gRPC framing as berthd receives it
 * (io/h2conn): the client preface, then the input as frames, fed in pieces
 * of varying size; every request that completes is answered, so the reply
 * path runs too. Small caps on messages and buffered bytes make the limit
 * paths reachable. Must never crash, leak or hang.
 */
#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/grpc-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *on_request(void *ctx, int32_t stream_id, const char *method, uint8_t *body, size_t len,
                        int64_t timeout_ns)
{
    berth_h2_t *h = *(berth_h2_t **)ctx;
    berth_free(body);
    /* answer at once: one message and a status, as a CRI handler would */
    berth_h2_send_msg(h, stream_id, "ok", 2);
    berth_h2_finish(h, stream_id, len % 2 ? BERTH_GRPC_OK : BERTH_GRPC_NOT_FOUND, "x");
    return NULL;
}

static void on_close(void *ctx, int32_t stream_id, void *user, bool finished, uint32_t code)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    berth_h2_t *h = NULL;
    berth_h2_callbacks_t cb = {.on_request = on_request, .on_close = on_close};
    berth_grpc_limits_t lim = {
            .max_msg_size = 4096, .max_conn_buffered = 8192, .max_total_buffered = 16384};
    h = berth_h2_new(&cb, &h, &lim);
    const uint8_t *out;
    if (berth_h2_recv(h, (const uint8_t *)NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) >= 0) {
        /* the first byte picks the piece size: frames split anywhere */
        size_t piece = size ? (size_t)data[0] % 64 + 1 : 1;
        for (size_t off = size ? 1 : 0; off < size; off += piece) {
            size_t n = size - off < piece ? size - off : piece;
            if (berth_h2_recv(h, data + off, n) < 0)
                break;
            while (berth_h2_pull(h, &out) > 0) {
            }
        }
    }
    while (berth_h2_pull(h, &out) > 0) {
    }
    berth_h2_free(h);
    return 0;
}
