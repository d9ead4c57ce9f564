/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/nrimux: frames byte for byte, both connections reassembled from a
 * trunk fed a byte at a time, a ttrpc message split across frames, an
 * empty frame, a write larger than one frame split in two, and the frames
 * that close the trunk (connection 0, an unknown one, an oversize frame).
 * Pure functions, no engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/nrimux.h"
#include "tests/unit/check.h"

static bool buf_is(const berth_bytebuf_t *b, const void *want, size_t n)
{
    return berth_bytebuf_pending(b) == n && memcmp(b->data + b->off, want, n) == 0;
}

static void test_frames(void)
{
    berth_bytebuf_t out = {0};
    berth_nrimux_put(&out, BERTH_NRIMUX_RUNTIME_CONN, (const uint8_t *)"hi", 2);
    berth_nrimux_put(&out, BERTH_NRIMUX_PLUGIN_CONN, NULL, 0);
    static const uint8_t want[] = {0, 0, 0, 2, 0, 0, 0, 2, 'h', 'i', 0, 0, 0, 1, 0, 0, 0, 0};
    ok(buf_is(&out, want, sizeof(want)), "put: id and length big-endian, an empty frame");

    berth_nrimux_rx_t rx = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ok(berth_nrimux_rx_feed(&rx, &out, &err) == 2 && berth_bytebuf_pending(&out) == 0 &&
               buf_is(&rx.conn[2], "hi", 2) && berth_bytebuf_pending(&rx.conn[1]) == 0,
       "feed: both frames moved");
    berth_nrimux_rx_fini(&rx);
    berth_bytebuf_free(&out);
}

static void test_split_message(void)
{
    berth_bytebuf_t msg = {0}, wire = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_ttrpc_request_encode(&msg, 1, "nri.pkg.api.v1alpha1.Runtime", "RegisterPlugin",
                               (const uint8_t *)"\x0a\x01x", 3, 0, &err);
    size_t half = msg.len / 2;
    berth_nrimux_put(&wire, BERTH_NRIMUX_RUNTIME_CONN, msg.data, half);
    berth_nrimux_put(&wire, BERTH_NRIMUX_PLUGIN_CONN, (const uint8_t *)"p", 1);
    berth_nrimux_put(&wire, BERTH_NRIMUX_RUNTIME_CONN, msg.data + half, msg.len - half);

    /* feed the trunk a byte at a time, as short reads would */
    berth_nrimux_rx_t rx = {0};
    berth_bytebuf_t trunk = {0};
    int frames = 0;
    bool bad = false;
    for (size_t i = 0; i < wire.len; i++) {
        berth_bytebuf_put(&trunk, wire.data + i, 1);
        int r = berth_nrimux_rx_feed(&rx, &trunk, &err);
        if (r < 0)
            bad = true;
        else
            frames += r;
    }
    ok(!bad && frames == 3 && berth_bytebuf_pending(&trunk) == 0, "feed: three frames, bytewise");
    ok(buf_is(&rx.conn[1], "p", 1), "feed: the plugin connection sees its byte");
    berth_ttrpc_msg_t m;
    berth_ttrpc_request_t req;
    berth_bytebuf_t *c = &rx.conn[2];
    ssize_t n = berth_ttrpc_parse(c->data + c->off, berth_bytebuf_pending(c), &m, &err);
    ok(n == (ssize_t)msg.len && berth_ttrpc_request_decode(m.body, m.hdr.length, &req, &err) == 0 &&
               berth_ttrpc_str_eq(req.method, "RegisterPlugin"),
       "feed: the ttrpc message reassembled across frames");
    berth_nrimux_rx_fini(&rx);
    berth_bytebuf_free(&trunk);
    berth_bytebuf_free(&wire);
    berth_bytebuf_free(&msg);
}

static void test_big_write(void)
{
    size_t n = BERTH_NRIMUX_MAX_PAYLOAD + 5000;
    uint8_t *p = berth_malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)i;
    berth_bytebuf_t out = {0};
    berth_nrimux_put(&out, BERTH_NRIMUX_PLUGIN_CONN, p, n);
    size_t frames = 3; /* 4096 bytes, the frame limit, the rest */
    const uint8_t *h2 = out.data + BERTH_NRIMUX_HEADER_LEN + BERTH_NRIMUX_FIRST_MAX;
    ok(out.len == n + frames * BERTH_NRIMUX_HEADER_LEN && out.data[6] == 0x10 && out.data[7] == 0 &&
               ((size_t)h2[4] << 24 | (size_t)h2[5] << 16 | (size_t)h2[6] << 8 | h2[7]) ==
                       BERTH_NRIMUX_MAX_PAYLOAD,
       "put: a large message: 4096 bytes first (what NRI's Go reader takes), then the rest "
       "in frames of the limit");
    berth_nrimux_rx_t rx = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ok(berth_nrimux_rx_feed(&rx, &out, &err) == (int)frames && buf_is(&rx.conn[1], p, n),
       "feed: and reads back whole");
    berth_nrimux_rx_fini(&rx);
    berth_bytebuf_free(&out);
    berth_free(p);
}

static void test_refused(void)
{
    static const struct {
        uint8_t hdr[8];
        int kind;
        const char *what;
    } cases[] = {
            {{0, 0, 0, 0, 0, 0, 0, 1}, BERTH_ERR_INVALID, "connection 0 is reserved"},
            {{0, 0, 0, 3, 0, 0, 0, 1}, BERTH_ERR_INVALID, "connection 3 is not NRI's"},
            {{0, 0, 0, 1, 0, 0x40, 0, 0x0b},
             BERTH_ERR_EXHAUSTED,
             "a frame one byte over the limit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        berth_nrimux_rx_t rx = {0};
        berth_bytebuf_t trunk = {0};
        berth_bytebuf_put(&trunk, cases[i].hdr, 8);
        BERTH_AUTO_ERR berth_err_t err = NULL;
        check(berth_nrimux_rx_feed(&rx, &trunk, &err) < 0 && err && err->kind == cases[i].kind,
              "feed refuses: %s", cases[i].what);
        berth_nrimux_rx_fini(&rx);
        berth_bytebuf_free(&trunk);
    }
    /* exactly at the limit, only the header present: waits for the body */
    berth_nrimux_rx_t rx = {0};
    berth_bytebuf_t trunk = {0};
    static const uint8_t at[] = {0, 0, 0, 1, 0, 0x40, 0, 0x0a};
    berth_bytebuf_put(&trunk, at, 8);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ok(berth_nrimux_rx_feed(&rx, &trunk, &err) == 0 && !err, "feed: a frame at the limit waits");
    berth_nrimux_rx_fini(&rx);
    berth_bytebuf_free(&trunk);
}

int main(void)
{
    test_frames();
    test_split_message();
    test_big_write();
    test_refused();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
