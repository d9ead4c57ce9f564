/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what an NRI plugin sends the runtime (io/nrimux,
 * io/ttrpc): the input is the trunk, fed in pieces whose size the first
 * byte picks, demultiplexed into NRI's two connections; every whole ttrpc
 * message on either is decoded as a Request and as a Response, and each
 * that decodes is encoded again and must decode to the same fields. Must
 * never crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/nrimux.h"
#include "io/ttrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(berth_ttrpc_str_t a, berth_ttrpc_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* A C string of a view (the encoder takes NUL-terminated names). */
static char *cstr(berth_ttrpc_str_t v)
{
    char *s = berth_malloc(v.len + 1);
    if (v.len)
        memcpy(s, v.p, v.len);
    s[v.len] = '\0';
    return s;
}

static void check_request(const berth_ttrpc_msg_t *m)
{
    berth_ttrpc_request_t req, again;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_request_decode(m->body, m->hdr.length, &req, &err) < 0)
        return;
    /* names with a NUL inside cannot round-trip through a C string */
    if (memchr(req.service.p, 0, req.service.len) || memchr(req.method.p, 0, req.method.len))
        return;
    char *service = cstr(req.service), *method = cstr(req.method);
    berth_bytebuf_t b = {0};
    berth_ttrpc_msg_t m2;
    if (berth_ttrpc_request_encode(&b, m->hdr.stream_id, service, method, req.payload.p,
                                   req.payload.len, req.timeout_nano, &err) < 0 ||
        berth_ttrpc_parse(b.data, b.len, &m2, &err) != (ssize_t)b.len ||
        berth_ttrpc_request_decode(m2.body, m2.hdr.length, &again, &err) < 0 ||
        !same(req.service, again.service) || !same(req.method, again.method) ||
        !same(req.payload, again.payload) || req.timeout_nano != again.timeout_nano)
        abort();
    berth_bytebuf_free(&b);
    berth_free(service);
    berth_free(method);
}

static void check_response(const berth_ttrpc_msg_t *m)
{
    berth_ttrpc_response_t resp, again;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (berth_ttrpc_response_decode(m->body, m->hdr.length, &resp, &err) < 0)
        return;
    if (memchr(resp.message.p, 0, resp.message.len))
        return;
    char *message = cstr(resp.message);
    berth_bytebuf_t b = {0};
    berth_ttrpc_msg_t m2;
    if (berth_ttrpc_response_encode(&b, m->hdr.stream_id, resp.code, message, resp.payload.p,
                                    resp.payload.len, &err) < 0 ||
        berth_ttrpc_parse(b.data, b.len, &m2, &err) != (ssize_t)b.len ||
        berth_ttrpc_response_decode(m2.body, m2.hdr.length, &again, &err) < 0 ||
        resp.code != again.code || !same(resp.message, again.message) ||
        !same(resp.payload, again.payload))
        abort();
    berth_bytebuf_free(&b);
    berth_free(message);
}

/* Parses and checks every whole message in c; false once the stream is bad. */
static bool drain(berth_bytebuf_t *c)
{
    for (;;) {
        berth_ttrpc_msg_t m;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t n = berth_ttrpc_parse(c->data + c->off, berth_bytebuf_pending(c), &m, &err);
        if (n < 0)
            return false;
        if (n == 0)
            return true;
        check_request(&m);
        check_response(&m);
        berth_bytebuf_consume(c, (size_t)n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 16 + 1;
    data++;
    size--;
    berth_nrimux_rx_t rx = {0};
    berth_bytebuf_t trunk = {0};
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        berth_bytebuf_put(&trunk, data + off, n);
        BERTH_AUTO_ERR berth_err_t err = NULL;
        if (berth_nrimux_rx_feed(&rx, &trunk, &err) < 0)
            break;
        if (!drain(&rx.conn[BERTH_NRIMUX_PLUGIN_CONN]) ||
            !drain(&rx.conn[BERTH_NRIMUX_RUNTIME_CONN]))
            break;
    }
    berth_nrimux_rx_fini(&rx);
    berth_bytebuf_free(&trunk);
    return 0;
}
