/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket (RFC 6455) for the streaming server: the upgrade handshake
 * checks, subprotocol choice, a frame parser, frame encoders appending to a
 * berth_bytebuf_t, and the k8s channel protocols on top. Pure codec: no
 * I/O, no actors, no globals written; any thread. No extensions
 * (permessage-deflate is never offered, so any RSV bit is an error).
 *
 * The k8s channel protocols
 * -------------------------
 * What kubelet's CRI streaming server speaks over WebSocket (read in
 * k8s.io/apimachinery util/httpstream/wsstream/conn.go and
 * util/remotecommand/constants.go, k8s.io/kubelet pkg/cri/streaming/
 * {remotecommand,portforward}/websocket.go, client-go tools/remotecommand/
 * websocket.go), and so what berth must speak:
 *
 * - Each data message carries one channel. Binary protocols: one byte, the
 *   channel number, then the payload, in binary frames. base64 protocols:
 *   one ASCII character '0' + channel, then the payload in standard padded
 *   base64, and the server sends text frames. An empty message is ignored;
 *   a message for a channel that does not exist is dropped.
 * - remotecommand (Exec, Attach): channel 0 stdin (client to server),
 *   1 stdout, 2 stderr, 3 error (server to client: how the command ended),
 *   4 resize (client to server, JSON {"Width":w,"Height":h}). All five
 *   exist whatever the request asked for; data for a stream the request did
 *   not ask for is dropped. Right after the 101 the server sends an empty
 *   message on stdout (stderr when there is no stdout, else the error
 *   channel) so the client knows the streams are up.
 *   Subprotocols, newest first:
 *     v5.channel.k8s.io: v4 plus CLOSE: the binary message {255, N}
 *       half-closes channel N (the client's stdin reached EOF). Any other
 *       length after 255, or an N out of range, is a protocol error and
 *       kubelet ends the connection. Binary only: no base64 variant.
 *     v4.channel.k8s.io, v4.base64.channel.k8s.io: the error channel
 *       carries a metav1.Status as JSON, also on success:
 *       {"metadata":{},"status":"Success"}, or "Failure" with reason
 *       "NonZeroExitCode" and details.causes [{"reason":"ExitCode",
 *       "message":"<code>"}].
 *     channel.k8s.io, base64.channel.k8s.io, and no subprotocol at all
 *       (binary): the error channel carries the error's text, nothing on
 *       success.
 *     v2.channel.k8s.io and v3.channel.k8s.io are SPDY-only names
 *       (X-Stream-Protocol-Version); kubelet never takes them over
 *       WebSocket, and neither does berth_ws_remotecommand_protocols.
 *   apimachinery's wsstream (the server side) closes the channel on CLOSE
 *   since v5; kubelet's CRI server (as read) still lists only "", channel,
 *   base64.channel and the two v4 names. Offering v5 as well costs nothing:
 *   a client that never sends CLOSE sees v4.
 * - portforward: v4.channel.k8s.io, v4.base64.channel.k8s.io, and no
 *   subprotocol (binary). The ports are the CRI PortForwardRequest's (kubelet
 *   fills them from the ?ports= query, which may repeat and hold comma
 *   lists). Port i has channel 2i for data (both ways) and 2i+1 for errors
 *   (server to client, the error's text). The first message the server sends
 *   on each of the two is the port as 2 bytes little-endian.
 *   "portforward.k8s.io" is the SPDY protocol; "SPDY/3.1+portforward.k8s.io"
 *   tunnels SPDY in binary messages between kubectl and the API server,
 *   which unwraps it; no "v4.portforward.k8s.io" exists.
 * - Clients on client-go's WebSocket executor (kubectl since 1.30, toward
 *   the API server) offer v5.channel.k8s.io alone, and its WebSocket
 *   port-forward offers "SPDY/3.1+portforward.k8s.io" alone: a client that
 *   dials the runtime the same way needs v5, and for port-forward the
 *   tunnel (message payloads fed to the SPDY codec), which is not in
 *   berth_ws_portforward_protocols.
 * - Choice: kubelet takes the first protocol in the client's list that it
 *   supports (clients list newest first) and answers 403 when none matches;
 *   with no Sec-WebSocket-Protocol at all it serves the unversioned binary
 *   protocol (berth then names none in its 101, as RFC 6455 asks).
 * - client-go pings every 5 s and gives up after 61 s without a pong, so
 *   the server must answer pings promptly, even while its sends queue up.
 */
#ifndef BERTH_IO_WEBSOCKET_H
#define BERTH_IO_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/err.h"
#include "io/bytebuf.h"
#include "io/httpreq.h"

/* Opcodes. */
#define BERTH_WS_OP_CONT 0x0
#define BERTH_WS_OP_TEXT 0x1
#define BERTH_WS_OP_BINARY 0x2
#define BERTH_WS_OP_CLOSE 0x8
#define BERTH_WS_OP_PING 0x9
#define BERTH_WS_OP_PONG 0xa

/* Close codes (RFC 6455 §7.4.1) berth sends or must recognise. */
#define BERTH_WS_CLOSE_NORMAL 1000
#define BERTH_WS_CLOSE_GOING_AWAY 1001
#define BERTH_WS_CLOSE_PROTOCOL 1002
#define BERTH_WS_CLOSE_UNSUPPORTED 1003
#define BERTH_WS_CLOSE_NO_STATUS 1005 /* never sent: a close frame without a code */
#define BERTH_WS_CLOSE_BAD_DATA 1007
#define BERTH_WS_CLOSE_POLICY 1008
#define BERTH_WS_CLOSE_TOO_BIG 1009
#define BERTH_WS_CLOSE_INTERNAL 1011

/* ---- Handshake ---- */

#define BERTH_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* Whether the request asks for WebSocket (its Upgrade header lists
 * "websocket", ASCII case-insensitive) rather than, say, SPDY/3.1. */
bool berth_ws_is_upgrade(const berth_http_req_t *req);

/* Checks a WebSocket upgrade request (RFC 6455 §4.2.1): GET, HTTP/1.1 or
 * later, Upgrade lists "websocket", Connection lists "upgrade", one
 * Sec-WebSocket-Version of "13", one Sec-WebSocket-Key that base64-decodes
 * to 16 bytes. Origin is not checked (no browser cookies authorise
 * anything here: the single-use token in the path does). Returns 0 with
 * the Sec-WebSocket-Accept value in `accept` (NUL-terminated), or -1 with
 * *err (INVALID) and the status to answer in *status: 405 not GET, 426
 * another version (answer with berth_ws_put_reject, which names version
 * 13), 400 the rest. */
int berth_ws_handshake_check(const berth_http_req_t *req, char accept[BERTH_WS_ACCEPT_LEN + 1],
                             int *status, berth_err_t *err);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + RFC 6455's GUID)).
 * Also what a client checks the server's answer against. */
void berth_ws_accept_key(const char *key, size_t len, char accept[BERTH_WS_ACCEPT_LEN + 1]);

/* Chooses a subprotocol from the request's Sec-WebSocket-Protocol list (all
 * instances, comma lists, names compared exactly) among the server's
 * `supported[0..n)`, listed most preferred first. client_first: take the
 * first of the client's names that the server supports (what kubelet,
 * gorilla and x/net do; clients list newest first); else the first of the
 * server's names that the client offers. Returns the index in `supported`,
 * BERTH_WS_PROTO_NONE when the client offered no subprotocol, or
 * BERTH_WS_PROTO_NO_MATCH when it offered only unsupported ones (kubelet
 * answers 403 then). */
#define BERTH_WS_PROTO_NONE (-1)
#define BERTH_WS_PROTO_NO_MATCH (-2)
int berth_ws_select_protocol(const berth_http_req_t *req, const char *const *supported, size_t n,
                             bool client_first);

/* Appends the 101 answer: Upgrade, Connection, Sec-WebSocket-Accept, and
 * Sec-WebSocket-Protocol when `protocol` is not NULL or "". */
void berth_ws_put_accept(berth_bytebuf_t *b, const char *accept, const char *protocol);
/* Appends a refusal of the upgrade: `status` with `msg` (plus a newline)
 * as a text body, "Connection: close", and "Sec-WebSocket-Version: 13"
 * when status is 426. */
void berth_ws_put_reject(berth_bytebuf_t *b, int status, const char *msg);

/* ---- Frames ---- */

#define BERTH_WS_MAX_MESSAGE_DEFAULT (1024 * 1024)
#define BERTH_WS_MAX_HEADER 14 /* 2 + 8 extended length + 4 mask key */

/* One frame, as berth_ws_parse found it. */
typedef struct berth_ws_frame {
    uint8_t opcode;     /* BERTH_WS_OP_*; CONT for the second and later frames of a message */
    uint8_t msg_opcode; /* data frames: the message's opcode (TEXT or BINARY), also on
                         * continuations; control frames: the opcode again */
    bool fin;           /* the message's last frame (always set on control frames) */
    uint8_t *payload;   /* inside the caller's buffer, unmasked in place */
    size_t len;
    /* CLOSE only: the peer's code (BERTH_WS_CLOSE_NO_STATUS when the payload
     * was empty) and reason (UTF-8, checked; not NUL-terminated). */
    uint16_t close_code;
    const char *close_reason;
    size_t close_reason_len;
} berth_ws_frame_t;

/* Frame parser state for one connection's receiving side. Set up with
 * berth_ws_parser_init. */
typedef struct berth_ws_parser {
    size_t max_message; /* payload bytes of one message, all its frames together: 1009 above */
    bool server;        /* parsing a client's frames (which must be masked);
                         * false: a server's (which must not be) */
    bool no_utf8_check; /* skip the check that text messages are UTF-8 */
    /* private */
    uint8_t msg_opcode; /* the fragmented message under way: TEXT, BINARY or 0 */
    size_t msg_len;     /* its payload bytes so far */
    uint32_t utf8;      /* UTF-8 check state across its frames */
    size_t need;        /* after 0: bytes the frame needs in all, when known */
    uint16_t close_code;
} berth_ws_parser_t;

/* server: true to parse what clients send. max_message 0: the default. */
void berth_ws_parser_init(berth_ws_parser_t *p, bool server, size_t max_message);

/* Parses one frame from the `len` bytes at `buf` (received and not yet
 * consumed; mutable: the payload is unmasked in place, once, when the whole
 * frame is there). Returns the frame's size in bytes with *f filled (its
 * payload points into buf: consume the bytes only after using it), 0 when
 * the frame is not complete (berth_ws_parser_need says how many bytes it
 * takes, as soon as its header is in: grow the receive buffer to that), or
 * -1 with *err and the close code to send in berth_ws_parser_close_code():
 * 1002 (INVALID) for a reserved opcode, an RSV bit, a client frame without
 * a mask (or a server frame with one), a control frame over 125 bytes or
 * fragmented, a 64-bit length with its top bit set, a continuation with no
 * message begun or a new message inside a fragmented one, a bad close
 * frame (1 byte, or a code that may not be sent); 1007 (INVALID) for a
 * text message or close reason that is not UTF-8; 1009 (EXHAUSTED) for a
 * message over max_message (found from the header, before its payload is
 * in). Header errors show as soon as the header bytes are in.
 *
 * Frames come one at a time, control frames possibly between the frames
 * of a fragmented message. The parser does not reassemble: a caller that
 * wants whole messages appends the payloads of data frames to a
 * berth_bytebuf_t until one has fin; the parser already bounds their sum by
 * max_message. After a CLOSE frame nothing should be parsed any more. Any
 * thread. */
ssize_t berth_ws_parse(berth_ws_parser_t *p, uint8_t *buf, size_t len, berth_ws_frame_t *f,
                       berth_err_t *err);
static inline size_t berth_ws_parser_need(const berth_ws_parser_t *p)
{
    return p->need;
}
static inline uint16_t berth_ws_parser_close_code(const berth_ws_parser_t *p)
{
    return p->close_code;
}

/* ---- Encoders ----
 * All append to b. `mask` is NULL for a server's frames (never masked) and a
 * 4-byte key for a client's (each frame needs a fresh unpredictable key;
 * tests may pass a fixed one). */

/* A frame header for a payload of `len` bytes the caller appends next,
 * already masked with the same key when mask is not NULL. */
void berth_ws_put_header(berth_bytebuf_t *b, uint8_t opcode, bool fin, uint64_t len,
                         const uint8_t *mask);
/* A whole frame; the payload is copied (and masked). */
void berth_ws_put_frame(berth_bytebuf_t *b, uint8_t opcode, bool fin, const void *payload,
                        size_t len, const uint8_t *mask);
/* A close frame's payload: the code (big-endian) and the reason cut to 123
 * bytes on a UTF-8 boundary; code 0 gives an empty payload. Returns its
 * length. */
size_t berth_ws_close_payload(uint16_t code, const char *reason, uint8_t out[125]);

/* A server's whole unfragmented frames. Ping and pong payloads are cut to
 * 125 bytes (a pong echoes the ping's payload, which the parser has already
 * bounded). A close reason may be NULL. */
void berth_ws_put_binary(berth_bytebuf_t *b, const void *data, size_t len);
void berth_ws_put_text(berth_bytebuf_t *b, const void *data, size_t len);
void berth_ws_put_ping(berth_bytebuf_t *b, const void *data, size_t len);
void berth_ws_put_pong(berth_bytebuf_t *b, const void *data, size_t len);
void berth_ws_put_close(berth_bytebuf_t *b, uint16_t code, const char *reason);

/* ---- The k8s channel protocols (see the top of this file) ---- */

typedef struct berth_ws_chan_proto {
    const char *name;  /* "" for the unversioned protocol (no subprotocol) */
    bool base64;       /* ASCII digit + base64, text frames from the server */
    bool close_signal; /* v5: {255, N} half-closes channel N */
    bool status_json;  /* v4+: the error channel carries a metav1.Status JSON */
} berth_ws_chan_proto_t;

#define BERTH_WS_CHAN_CLOSE 255

/* The server's lists, most preferred first, for berth_ws_select_protocol. */
extern const char *const berth_ws_remotecommand_protocols[];
extern const size_t berth_ws_remotecommand_nprotocols;
extern const char *const berth_ws_portforward_protocols[];
extern const size_t berth_ws_portforward_nprotocols;

/* The protocol a subprotocol name means; NULL or "" for the unversioned
 * binary one; NULL for a name that is not a channel protocol. */
const berth_ws_chan_proto_t *berth_ws_chan_proto(const char *name);

/* One message for `channel` as a single frame (binary, or text for a
 * base64 protocol). The channel is the server's own number: for a base64
 * protocol it must be below 80, so '0' + channel stays one ASCII byte. */
void berth_ws_chan_put(berth_bytebuf_t *b, const berth_ws_chan_proto_t *proto, uint8_t channel,
                       const void *data, size_t len, const uint8_t *mask);
/* v5's CLOSE signal for `channel`: the binary message {255, channel}. */
void berth_ws_chan_put_close(berth_bytebuf_t *b, uint8_t channel, const uint8_t *mask);

typedef struct berth_ws_chan_msg {
    uint8_t channel; /* the channel the data is for, or the one CLOSE closes */
    bool close;      /* a v5 CLOSE signal; no data */
    uint8_t *data;   /* inside the message (decoded in place for base64) */
    size_t len;
} berth_ws_chan_msg_t;

/* Decodes one whole message (the payloads of a data message's frames,
 * mutable) under `proto`. Returns 1 with *out filled, 0 for an empty
 * message (to be ignored), or -1 with *err (INVALID) for bad base64 or a
 * CLOSE signal that is not exactly 2 bytes (kubelet drops the first and
 * ends the connection on the second). Checking the channel against the
 * session's channels is the caller's job. */
int berth_ws_chan_decode(const berth_ws_chan_proto_t *proto, uint8_t *msg, size_t len,
                         berth_ws_chan_msg_t *out, berth_err_t *err);

#endif
