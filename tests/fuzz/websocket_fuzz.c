/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for WebSocket frames as the streaming server receives
 * them (io/websocket). The first byte picks the side (a server parsing
 * masked client frames, or a client), the UTF-8 check, a small or default
 * message limit and a feeding step; the rest is the peer's bytes, parsed
 * frame by frame in pieces. Data frames are reassembled; each whole message
 * goes through the k8s channel decoder under every protocol and back
 * through the encoders, and every control frame and single-frame message
 * is re-encoded and parsed again, which must give the same payload. Must
 * never crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[4] = {0xa5, 0x01, 0x7f, 0xc3};

/* Parses the single frame in b with a fresh parser of the given side and
 * checks its payload is `want`. */
static void reparse(berth_bytebuf_t *b, bool server, uint8_t opcode, const uint8_t *want, size_t n)
{
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, server, 0);
    p.no_utf8_check = true;
    berth_ws_frame_t f;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r = berth_ws_parse(&p, b->data + b->off, berth_bytebuf_pending(b), &f, &err);
    if (r != (ssize_t)berth_bytebuf_pending(b) || f.opcode != opcode || f.len != n ||
        (n && memcmp(f.payload, want, n) != 0))
        abort();
    berth_bytebuf_free(b);
}

/* A whole message: decode under each channel protocol; a decoded one is
 * encoded again by a client and decoded by the server to the same data. */
static void on_message(const uint8_t *msg, size_t len)
{
    static const char *const names[] = {"", "base64.channel.k8s.io", "v4.channel.k8s.io",
                                        "v5.channel.k8s.io"};
    uint8_t *copy = berth_malloc(len ? len : 1);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const berth_ws_chan_proto_t *proto = berth_ws_chan_proto(names[i]);
        memcpy(copy, msg, len);
        berth_ws_chan_msg_t m;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        int r = berth_ws_chan_decode(proto, copy, len, &m, &err);
        if ((r < 0) != (err != NULL) || (r == 0 && len != 0) || (r > 0 && m.len >= len))
            abort();
        if (r <= 0)
            continue;
        if (m.close) {
            if (!proto->close_signal || m.len != 0)
                abort();
            continue;
        }
        uint8_t ch = proto->base64 ? m.channel % 80 : m.channel;
        berth_bytebuf_t b = {0};
        berth_ws_chan_put(&b, proto, ch, m.data, m.len, key);
        berth_ws_parser_t p;
        berth_ws_parser_init(&p, true, 0);
        p.max_message = 4 * len + 16;
        berth_ws_frame_t f;
        BERTH_AUTO_ERR berth_err_t e2 = NULL;
        ssize_t fr = berth_ws_parse(&p, b.data, b.len, &f, &e2);
        berth_ws_chan_msg_t back;
        if (fr != (ssize_t)b.len ||
            berth_ws_chan_decode(proto, f.payload, f.len, &back, &e2) != 1 || back.channel != ch ||
            back.len != m.len || (m.len && memcmp(back.data, m.data, m.len) != 0))
            abort();
        berth_bytebuf_free(&b);
    }
    berth_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    berth_ws_parser_t p;
    berth_ws_parser_init(&p, !(ctl & 1), (ctl & 4) ? 64 : 0);
    p.no_utf8_check = ctl & 2;
    size_t step = (size_t)(ctl >> 3) + 1;
    /* an exact copy on the heap: the parser writes to it, and a read past
     * the end is caught */
    uint8_t *buf = berth_malloc(size ? size : 1);
    memcpy(buf, data, size);

    berth_bytebuf_t msg = {0};
    size_t off = 0;
    while (off < size) {
        berth_ws_frame_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        size_t given = step < size - off ? step : size - off;
        ssize_t r;
        for (;;) {
            r = berth_ws_parse(&p, buf + off, given, &f, &err);
            if (r > (ssize_t)given || (r < 0) != (err != NULL))
                abort();
            if (r == 0 && berth_ws_parser_need(&p) <= given)
                abort();
            if (r != 0 || given == size - off)
                break;
            given = size - off - given < step ? size - off : given + step;
        }
        if (r <= 0) {
            uint16_t code = berth_ws_parser_close_code(&p);
            if (r < 0 && code != 1002 && code != 1007 && code != 1009)
                abort();
            break;
        }
        if (f.payload < buf + off || f.payload + f.len > buf + off + (size_t)r)
            abort();
        bool control = f.opcode & 8;
        if (control ? f.len > 125 || !f.fin : f.len > p.max_message)
            abort();
        if (f.opcode == BERTH_WS_OP_CLOSE && f.close_code != BERTH_WS_CLOSE_NO_STATUS &&
            (f.close_code < 1000 || f.close_code >= 5000))
            abort();

        berth_bytebuf_t b = {0};
        if (control || (f.opcode != BERTH_WS_OP_CONT && f.fin)) {
            /* the other side's encoder, then this side's parser again */
            berth_ws_put_frame(&b, f.opcode, true, f.payload, f.len, p.server ? key : NULL);
            reparse(&b, p.server, f.opcode, f.payload, f.len);
        }
        if (f.opcode == BERTH_WS_OP_PING) {
            berth_ws_put_pong(&b, f.payload, f.len);
            reparse(&b, false, BERTH_WS_OP_PONG, f.payload, f.len);
        }
        if (f.opcode == BERTH_WS_OP_CLOSE) {
            char reason[126];
            size_t rl = f.close_reason_len < 125 ? f.close_reason_len : 125;
            memcpy(reason, f.close_reason ? f.close_reason : "", rl);
            reason[rl] = '\0';
            berth_ws_put_close(&b, f.close_code == BERTH_WS_CLOSE_NO_STATUS ? 0 : f.close_code,
                               reason);
            if (berth_bytebuf_pending(&b) > 127)
                abort();
            berth_bytebuf_free(&b);
            break; /* nothing follows a close */
        }
        if (!control) {
            if (f.opcode != BERTH_WS_OP_CONT)
                msg.off = msg.len = 0;
            berth_bytebuf_put(&msg, f.payload, f.len);
            if (berth_bytebuf_pending(&msg) > p.max_message)
                abort();
            if (f.fin)
                on_message(msg.data + msg.off, berth_bytebuf_pending(&msg));
        }
        off += (size_t)r;
    }
    berth_bytebuf_free(&msg);
    berth_free(buf);
    return 0;
}
