/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 framing (draft 3.1, chromium.org/spdy) for the streaming server
 * (Exec, Attach, PortForward after an HTTP/1.1 upgrade): a pure codec. The
 * parser turns received bytes into one frame at a time; the encoders append
 * frames to a berth_bytebuf_t. It owns the session's two zlib streams (name/
 * value header blocks are compressed with one deflate stream per direction,
 * seeded with the spec's dictionary and synced after every block), so one
 * berth_spdy_t belongs to one connection, and every header block received
 * must go through berth_spdy_parse and every one sent through its encoders,
 * in wire order. It does no I/O, keeps no stream state and enforces no
 * flow-control window: that is the connection's job. Not thread-safe; any
 * thread, one at a time (an actor turn).
 *
 * What the peers do (github.com/moby/spdystream, read at v0.5.0-10-gf0be51f
 * and v0.5.1, under k8s.io/apimachinery/pkg/util/httpstream/spdy: client-go's
 * executor and port-forwarder, so kubectl, crictl, critest and the kubelet's
 * proxy). Checked against a v0.5.1 client talking to a throwaway server on
 * this codec: streams opened and answered, 300 KB echoed each way on each
 * stream with no WINDOW_UPDATE, PINGs both ways, SETTINGS and WINDOW_UPDATE
 * from the server ignored, an unknown control type ending the session, the
 * client's GOAWAY; its bytes are the fuzz seed corpus/spdy/spdystream-client.
 *
 * - Flow control: none. spdystream never sends SETTINGS (nothing at all
 *   when the session starts: its first frame is the client's first
 *   SYN_STREAM) and never sends WINDOW_UPDATE; it parses both and drops
 *   them unread. So its receive side grants no window: a server that held
 *   its sends to the 3.1 windows (64 KiB per stream and per session) would
 *   stall after the first 64 KiB for good. Treat the peer's windows as
 *   unbounded. Nor does it count what it sends against any window, so the
 *   server's WINDOW_UPDATEs are optional (harmless: dropped). The only
 *   backpressure, both ways, is TCP: spdystream's reader blocks until the
 *   application takes each DATA payload (up to 50 frames queued per worker,
 *   5 workers), and the server stops reading its socket while a consumer
 *   (a container's stdin, a forwarded port) is slow, which stalls every
 *   stream of the session alike.
 * - Strict reading: any frame spdystream cannot parse ends its session
 *   (it stops reading and closes). That includes a control type other than
 *   the eight of SPDY/3 (so never send CREDENTIAL, NOOP or anything new), a
 *   stream id 0 on SYN_STREAM/SYN_REPLY/HEADERS/RST_STREAM/DATA, a
 *   RST_STREAM status 0, a PING with id 0 or flags set, a GOAWAY or
 *   WINDOW_UPDATE whose flags are not 0 or length not 8, a header name with
 *   an upper-case letter or one repeated in a block, and a header block
 *   whose compressed bytes are not all consumed by its name/value pairs;
 *   v0.5.1 also refuses a block of more than 1000 pairs or a name or value
 *   above 1 MiB. It does not check the version field. Its users look
 *   headers up in Go's canonical case, so only the lower-case rule matters.
 * - PING: it echoes a PING whose id parity differs from its own (clients
 *   use odd ids, servers even), so a server ping (even, non-zero) comes
 *   back unchanged; client-go's connection may ping every PingPeriod (odd
 *   ids): the server answers each with the same frame.
 * - Opening: in the kubelet protocols the client opens every stream (odd
 *   ids from 1, each 2 above the last; spdystream itself, receiving, refuses
 *   an id not above the last with RST_STREAM PROTOCOL_ERROR, which berth
 *   may copy). SYN_STREAM carries priority 0, associated
 *   id 0, flags 0, and headers "streamtype" (remotecommand: error, stdin,
 *   stdout, stderr, resize; portforward: error, data, plus "port" and
 *   "requestid"). The client then waits (client-go: 30 s) for a SYN_REPLY.
 *   What servers built on spdystream answer, and what berth must answer:
 *   SYN_REPLY, same stream id, flags 0, an empty header block (0 pairs).
 *   A DATA frame that reaches spdystream before the SYN_REPLY of a stream
 *   it opened is dropped silently, so SYN_REPLY goes out before any DATA
 *   on that stream. To refuse a stream: RST_STREAM REFUSED_STREAM (the
 *   client's wait fails with "stream reset").
 * - Closing a stream: stream.Close() half-closes with an empty DATA frame
 *   flagged FIN (FIN is never set on SYN_STREAM by these clients);
 *   stream.Reset() sends RST_STREAM CANCEL unless it had sent its FIN
 *   already. The server half-closes the same way (FIN on the last DATA, or
 *   an empty DATA + FIN).
 * - Closing the session: client-go's Close() resets every stream it holds,
 *   then spdystream sends GOAWAY (status OK, last-good = the last stream id
 *   it received, 0 for a client), waits for its streams to end and closes
 *   TCP. On receiving a GOAWAY spdystream stops reading at once, hands its
 *   queued frames on, ends every stream's read side and closes the
 *   connection when its streams are gone: whatever the server sends after
 *   its GOAWAY is not read, so GOAWAY (OK, last-good = the last client
 *   stream id) is the server's last frame.
 */
#ifndef BERTH_IO_SPDY_H
#define BERTH_IO_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/err.h"
#include "io/bytebuf.h"

#define BERTH_SPDY_VERSION 3
#define BERTH_SPDY_FRAME_HEADER 8        /* bytes before every payload */
#define BERTH_SPDY_MAX_PAYLOAD 0xffffffu /* the 24-bit length field */
#define BERTH_SPDY_MAX_ID 0x7fffffffu    /* stream ids, window deltas: 31 bits */
#define BERTH_SPDY_INITIAL_WINDOW 65536  /* per stream and per session (3.1) */
#define BERTH_SPDY_DEFAULT_MAX_HEADER_BLOCK 65536
#define BERTH_SPDY_DEFAULT_MAX_HEADERS 128

/* Frame types: DATA is 0, control frames carry their wire type. */
enum berth_spdy_type {
    BERTH_SPDY_DATA = 0,
    BERTH_SPDY_SYN_STREAM = 1,
    BERTH_SPDY_SYN_REPLY = 2,
    BERTH_SPDY_RST_STREAM = 3,
    BERTH_SPDY_SETTINGS = 4,
    BERTH_SPDY_PING = 6,
    BERTH_SPDY_GOAWAY = 7,
    BERTH_SPDY_HEADERS = 8,
    BERTH_SPDY_WINDOW_UPDATE = 9,
    /* A control type SPDY/3.1 does not define (CREDENTIAL, 10, included: it
     * is deprecated): the spec says to ignore it. wire_type has its value. */
    BERTH_SPDY_UNKNOWN = 0x10000,
};

enum berth_spdy_flag {
    BERTH_SPDY_FLAG_FIN = 0x01,            /* DATA, SYN_STREAM, SYN_REPLY, HEADERS */
    BERTH_SPDY_FLAG_UNIDIRECTIONAL = 0x02, /* SYN_STREAM */
    BERTH_SPDY_FLAG_CLEAR_SETTINGS = 0x01, /* SETTINGS */
};

/* RST_STREAM status codes. */
enum berth_spdy_rst_status {
    BERTH_SPDY_PROTOCOL_ERROR = 1,
    BERTH_SPDY_INVALID_STREAM = 2,
    BERTH_SPDY_REFUSED_STREAM = 3,
    BERTH_SPDY_UNSUPPORTED_VERSION = 4,
    BERTH_SPDY_CANCEL = 5,
    BERTH_SPDY_INTERNAL_ERROR = 6,
    BERTH_SPDY_FLOW_CONTROL_ERROR = 7,
    BERTH_SPDY_STREAM_IN_USE = 8,
    BERTH_SPDY_STREAM_ALREADY_CLOSED = 9,
    BERTH_SPDY_FRAME_TOO_LARGE = 11,
};

/* GOAWAY status codes (a different numbering from RST_STREAM's). */
enum berth_spdy_goaway_status {
    BERTH_SPDY_GOAWAY_OK = 0,
    BERTH_SPDY_GOAWAY_PROTOCOL_ERROR = 1,
    BERTH_SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

/* SETTINGS ids and per-entry flags. */
enum berth_spdy_setting_id {
    BERTH_SPDY_SETTINGS_UPLOAD_BANDWIDTH = 1,
    BERTH_SPDY_SETTINGS_DOWNLOAD_BANDWIDTH = 2,
    BERTH_SPDY_SETTINGS_ROUND_TRIP_TIME = 3,
    BERTH_SPDY_SETTINGS_MAX_CONCURRENT_STREAMS = 4,
    BERTH_SPDY_SETTINGS_CURRENT_CWND = 5,
    BERTH_SPDY_SETTINGS_DOWNLOAD_RETRANS_RATE = 6,
    BERTH_SPDY_SETTINGS_INITIAL_WINDOW_SIZE = 7,
    BERTH_SPDY_SETTINGS_CLIENT_CERTIFICATE_VECTOR_SIZE = 8,
};
enum {
    BERTH_SPDY_SETTINGS_PERSIST_VALUE = 0x01,
    BERTH_SPDY_SETTINGS_PERSISTED = 0x02,
};

typedef struct berth_spdy_setting {
    uint32_t id; /* 24 bits */
    uint8_t flags;
    uint32_t value;
} berth_spdy_setting_t;

/* One name/value pair, both for the encoders (borrowed) and in a parsed
 * frame (owned by the frame). Names are lower-case and never empty; a value
 * may hold several values separated by single NUL bytes. In a parsed frame
 * both are also NUL-terminated (name[name_len] == value[value_len] == 0), so
 * `value` read as a C string is the first value. */
typedef struct berth_spdy_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} berth_spdy_header_t;

/* A pair from two string literals, for encoder arrays. */
#define BERTH_SPDY_NV(n, v)                                                                        \
    {                                                                                              \
        .name = (n), .name_len = sizeof(n) - 1, .value = (v), .value_len = sizeof(v) - 1           \
    }

/* A parsed frame. Which fields mean something depends on type; the others
 * are 0. Release with berth_spdy_frame_clear (before it is reused, too). */
typedef struct berth_spdy_frame {
    int type;                       /* enum berth_spdy_type */
    uint16_t wire_type;             /* the control type as sent; 0 for DATA */
    uint8_t flags;                  /* enum berth_spdy_flag */
    uint32_t stream_id;             /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS,
                                       WINDOW_UPDATE (0 there: the session window) */
    uint32_t assoc_id;              /* SYN_STREAM: Associated-To-Stream-ID */
    uint8_t priority;               /* SYN_STREAM: 0 (highest) to 7 */
    uint8_t slot;                   /* SYN_STREAM: credential slot, unused in 3.1 */
    uint32_t status;                /* RST_STREAM (enum berth_spdy_rst_status) and GOAWAY
                                       (enum berth_spdy_goaway_status) */
    uint32_t last_good_id;          /* GOAWAY */
    uint32_t delta;                 /* WINDOW_UPDATE: 1 .. 2^31-1 */
    uint32_t ping_id;               /* PING */
    berth_spdy_setting_t *settings; /* SETTINGS, owned */
    size_t nsettings;
    berth_spdy_header_t *headers; /* SYN_STREAM, SYN_REPLY, HEADERS, owned */
    size_t nheaders;
    /* DATA: the payload; an unknown control frame: its payload. Points into
     * the buffer given to berth_spdy_parse: valid while those bytes are. */
    const uint8_t *data;
    size_t len;
    char *block_; /* private: the decompressed block the headers point into */
} berth_spdy_frame_t;

typedef struct berth_spdy berth_spdy_t;

/* Limits on what the parser accepts. A peer's frame above one is an error
 * before any byte of its payload is buffered or decompressed. */
typedef struct berth_spdy_limits {
    uint32_t max_payload;      /* bytes after the 8-byte header; default and
                                  ceiling BERTH_SPDY_MAX_PAYLOAD (16 MiB - 1) */
    uint32_t max_header_block; /* decompressed bytes of one name/value block;
                                  default BERTH_SPDY_DEFAULT_MAX_HEADER_BLOCK */
    uint32_t max_headers;      /* pairs in one block; default
                                  BERTH_SPDY_DEFAULT_MAX_HEADERS */
} berth_spdy_limits_t;

/* A session codec with the default limits: one inflate stream for what the
 * peer sends, one deflate stream for what we send. Never fails (allocation
 * aborts on exhaustion; zlib allocates through berth's allocator). */
berth_spdy_t *berth_spdy_new(void);
/* NULL-safe. */
void berth_spdy_free(berth_spdy_t *s);
/* Sets the limits; a field of 0 keeps its current value, max_payload is
 * capped at BERTH_SPDY_MAX_PAYLOAD. */
void berth_spdy_set_limits(berth_spdy_t *s, const berth_spdy_limits_t *lim);

/* Parses the first frame of buf[0..len) (the bytes received and not yet
 * consumed) into *f, which the caller has zeroed or cleared. Returns the
 * frame's size in bytes (> 0; the caller discards that many), 0 when buf
 * does not hold a whole frame yet (nothing is changed: call again with more
 * bytes, the same prefix included), or -1 with *err set when the frame
 * breaks the protocol or a limit: a control frame of another version than
 * 3, a payload above max_payload, a length wrong for its type, a stream id
 * 0 where the spec forbids it, a RST_STREAM status or WINDOW_UPDATE delta
 * of 0, a header block that does not decompress (or was compressed without
 * SPDY's dictionary), is larger than max_header_block, has more than
 * max_headers pairs, an empty or repeated name, or lengths that do not add
 * up. After -1 the session is over (the decompressor may be out of step
 * with the peer's compressor): send GOAWAY PROTOCOL_ERROR and close; every
 * later call fails too. Header names are folded to lower case. Frames of an
 * unknown control type come back as BERTH_SPDY_UNKNOWN, to be skipped. */
ssize_t berth_spdy_parse(berth_spdy_t *s, const uint8_t *buf, size_t len, berth_spdy_frame_t *f,
                         berth_err_t *err);

/* The size of the frame that starts buf (header + payload) once its 8-byte
 * header is there, else BERTH_SPDY_FRAME_HEADER: how much to have buffered
 * before berth_spdy_parse can return it. */
size_t berth_spdy_frame_size(const uint8_t *buf, size_t len);

/* Frees what a parsed frame owns and zeroes it. NULL-safe. */
void berth_spdy_frame_clear(berth_spdy_frame_t *f);

/* The first value of header `name` (compared without regard to case) in a
 * parsed frame, NUL-terminated, with its length in *len if len is not NULL;
 * NULL when the frame has no such header. Owned by the frame. */
const char *berth_spdy_header_get(const berth_spdy_frame_t *f, const char *name, size_t *len);

/* Encoders: each appends one frame (or several for _data_split) to out.
 * Stream ids are 1 .. BERTH_SPDY_MAX_ID where the spec requires a stream,
 * which the caller guarantees (asserted). The header encoders compress with
 * the session's deflate stream, so frames must go on the wire in the order
 * they were encoded; they lower-case names and fail (-1, *err set, nothing
 * appended, the compressor untouched) on an empty name or one with a NUL,
 * or a block too large for one frame. The caller sends no name twice (put
 * repeated values into one, NUL-separated). */
int berth_spdy_put_syn_stream(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id,
                              uint32_t assoc_id, uint8_t priority, uint8_t flags,
                              const berth_spdy_header_t *h, size_t n, berth_err_t *err);
int berth_spdy_put_syn_reply(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id,
                             uint8_t flags, const berth_spdy_header_t *h, size_t n,
                             berth_err_t *err);
int berth_spdy_put_headers(berth_spdy_t *s, berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags,
                           const berth_spdy_header_t *h, size_t n, berth_err_t *err);
/* status: enum berth_spdy_rst_status (not 0). */
void berth_spdy_put_rst_stream(berth_bytebuf_t *out, uint32_t stream_id, uint32_t status);
/* flags: BERTH_SPDY_FLAG_CLEAR_SETTINGS or 0; n entries (ids < 2^24). */
void berth_spdy_put_settings(berth_bytebuf_t *out, uint8_t flags, const berth_spdy_setting_t *v,
                             size_t n);
void berth_spdy_put_ping(berth_bytebuf_t *out, uint32_t id);
/* status: enum berth_spdy_goaway_status. */
void berth_spdy_put_goaway(berth_bytebuf_t *out, uint32_t last_good_id, uint32_t status);
/* stream_id 0: the session window. delta: 1 .. BERTH_SPDY_MAX_ID. */
void berth_spdy_put_window_update(berth_bytebuf_t *out, uint32_t stream_id, uint32_t delta);
/* One DATA frame, len <= BERTH_SPDY_MAX_PAYLOAD; flags 0 or FIN. */
void berth_spdy_put_data(berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags, const void *p,
                         size_t len);
/* Only the 8-byte header of a DATA frame whose len payload bytes the caller
 * sends next from elsewhere (a second iovec, a splice). */
void berth_spdy_put_data_header(berth_bytebuf_t *out, uint32_t stream_id, uint8_t flags,
                                size_t len);
/* p[0..len) as DATA frames of at most max_chunk bytes each (1 ..
 * BERTH_SPDY_MAX_PAYLOAD), FIN on the last when fin; len 0 with fin is one
 * empty FIN frame, len 0 without it appends nothing. */
void berth_spdy_put_data_split(berth_bytebuf_t *out, uint32_t stream_id, const void *p, size_t len,
                               size_t max_chunk, bool fin);

/* Names for log and error messages: "SYN_STREAM", "UNKNOWN" for others. */
const char *berth_spdy_type_name(int type);
/* "REFUSED_STREAM", "UNKNOWN" for others. */
const char *berth_spdy_rst_status_name(uint32_t status);
/* "OK", "PROTOCOL_ERROR", "INTERNAL_ERROR", "UNKNOWN" for others. */
const char *berth_spdy_goaway_status_name(uint32_t status);

/* The zlib dictionary of SPDY/3 (section 2.6.10.1), 1423 bytes; for tests. */
const uint8_t *berth_spdy_dictionary(size_t *len);

#endif
