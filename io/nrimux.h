/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NRI's connection multiplexer (github.com/containerd/nri pkg/net/multiplex)
 * as a pure codec: one socket (the trunk) carries several logical byte
 * streams, each write framed as an 8-byte header (connection id, payload
 * length, both big-endian) and its payload. NRI uses two: connection 1
 * carries the plugin's ttrpc service (the runtime calls it), connection 2
 * the runtime's (the plugin calls RegisterPlugin and UpdateContainers).
 * Frames carry stream bytes, not messages: a ttrpc message may span
 * frames and a frame may end inside one, so each connection is reassembled
 * into its own buffer before ttrpc parses it. Pure: any thread, no engine.
 */
#ifndef BERTH_IO_NRIMUX_H
#define BERTH_IO_NRIMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/ttrpc.h"

#define BERTH_NRIMUX_HEADER_LEN 8
/* The largest frame payload NRI writes or accepts: one whole ttrpc message. */
#define BERTH_NRIMUX_MAX_PAYLOAD (BERTH_TTRPC_HEADER_LEN + BERTH_TTRPC_MAX_MSG)

enum berth_nrimux_conn {
    BERTH_NRIMUX_PLUGIN_CONN = 1,  /* the plugin's service; the runtime is the client */
    BERTH_NRIMUX_RUNTIME_CONN = 2, /* the runtime's service; the plugin is the client */
    BERTH_NRIMUX_NCONN = 3,
};

/* How berth frames a message, as NRI's Go side writes them and can read
 * them: ttrpc reads a connection through a 4096-byte bufio.Reader, and
 * NRI's mux refuses (ENOMEM) a frame larger than the buffer a read is
 * given, and tears the connection down when more than 256 frames wait. So
 * a message goes in a first frame of at most BERTH_NRIMUX_FIRST_MAX bytes
 * (read into that buffer with the message header) and the rest in one
 * frame (read straight into the message body, which is exactly its
 * size). */
#define BERTH_NRIMUX_FIRST_MAX 4096

/* Appends one message (n bytes) of connection conn to out, framed as
 * above (further frames only past BERTH_NRIMUX_MAX_PAYLOAD; one empty
 * frame for n == 0). */
void berth_nrimux_put(berth_bytebuf_t *out, uint32_t conn, const uint8_t *p, size_t n);

/* The receiving side: one reassembly buffer per connection. */
typedef struct berth_nrimux_rx {
    berth_bytebuf_t conn[BERTH_NRIMUX_NCONN]; /* [0] unused: id 0 is reserved */
} berth_nrimux_rx_t;

/* Moves every whole frame at the front of trunk into its connection's
 * buffer and consumes it from trunk; a partial frame stays. Returns the
 * number of frames moved, or -1 with *err (INVALID for connection 0 or one
 * NRI does not use, EXHAUSTED for a frame over BERTH_NRIMUX_MAX_PAYLOAD):
 * the trunk is unusable then and must be closed. */
int berth_nrimux_rx_feed(berth_nrimux_rx_t *rx, berth_bytebuf_t *trunk, berth_err_t *err);
void berth_nrimux_rx_fini(berth_nrimux_rx_t *rx);

#endif
