/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/nrimux: NRI's trunk framing (io/nrimux.h). Frame sizes come from the
 * plugin, so each is checked against NRI's own limit before any byte of
 * it is buffered.
 */
#include "io/nrimux.h"

#include <errno.h>

void berth_nrimux_put(berth_bytebuf_t *out, uint32_t conn, const uint8_t *p, size_t n)
{
    size_t max = BERTH_NRIMUX_FIRST_MAX;
    do {
        size_t chunk = n < max ? n : max;
        max = BERTH_NRIMUX_MAX_PAYLOAD;
        berth_bytebuf_put_be32(out, conn);
        berth_bytebuf_put_be32(out, (uint32_t)chunk);
        berth_bytebuf_put(out, p, chunk);
        p += chunk;
        n -= chunk;
    } while (n > 0);
}

int berth_nrimux_rx_feed(berth_nrimux_rx_t *rx, berth_bytebuf_t *trunk, berth_err_t *err)
{
    int frames = 0;
    for (;;) {
        size_t have = berth_bytebuf_pending(trunk);
        const uint8_t *h = trunk->data + trunk->off;
        if (have < BERTH_NRIMUX_HEADER_LEN)
            return frames;
        uint32_t conn = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        uint32_t n = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
        if (conn == 0 || conn >= BERTH_NRIMUX_NCONN)
            return berth_err_make(err, EPROTO, BERTH_ERR_INVALID,
                                  "NRI multiplexer frame for connection %u (only %d and %d exist)",
                                  conn, BERTH_NRIMUX_PLUGIN_CONN, BERTH_NRIMUX_RUNTIME_CONN);
        if (n > BERTH_NRIMUX_MAX_PAYLOAD)
            return berth_err_make(err, EMSGSIZE, BERTH_ERR_EXHAUSTED,
                                  "NRI multiplexer frame of %u bytes exceeds the %u-byte limit", n,
                                  BERTH_NRIMUX_MAX_PAYLOAD);
        if (have - BERTH_NRIMUX_HEADER_LEN < n)
            return frames;
        berth_bytebuf_put(&rx->conn[conn], h + BERTH_NRIMUX_HEADER_LEN, n);
        berth_bytebuf_consume(trunk, BERTH_NRIMUX_HEADER_LEN + n);
        frames++;
    }
}

void berth_nrimux_rx_fini(berth_nrimux_rx_t *rx)
{
    for (int i = 0; i < BERTH_NRIMUX_NCONN; i++)
        berth_bytebuf_free(&rx->conn[i]);
}
