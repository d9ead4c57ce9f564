/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inside of one streaming connection actor, split over three files that
 * all run in the same actor's turns:
 *   io/streamconn.c  the actor, the socket, the session's fds (endpoints);
 *   io/streamwire.c  HTTP/1.1, the upgrade, SPDY/3.1 and WebSocket framing,
 *                    mapping the client's streams or channels to `schan_t`;
 *   io/streamsess.c  the session: exec (a runtime exec with pipes or a pty),
 *                    attach (the monitor's attach channel) and port-forward
 *                    (sockets in the pod's network namespace).
 */
#ifndef BERTH_IO_STREAMCONN_H
#define BERTH_IO_STREAMCONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "engine/ring.h"
#include "engine/timer.h"
#include "io/bytebuf.h"
#include "io/stream-internal.h"

enum sconn_phase { PH_HEAD, PH_TAKING, PH_UPGRADED };
enum sconn_wire { W_NONE, W_SPDY, W_WS };

/* What a channel carries. Remote command channels have the numbers of the
 * WebSocket channel protocol (stdin 0 ... resize 4). */
enum schan_kind {
    CH_STDIN = 0,
    CH_STDOUT = 1,
    CH_STDERR = 2,
    CH_ERROR = 3,
    CH_RESIZE = 4,
    CH_PF_DATA = 16,
    CH_PF_ERROR = 17,
};

/* DATA frames one direct send carries at most (sconn_chan_direct_iov). */
#define SCONN_DIRECT_FRAMES 32

/* An fd of the session, read and/or written by the connection. */
typedef struct sep {
    struct sep *next;
    int fd;
    int role;         /* the session's own meaning */
    bool readable;    /* read it and hand the bytes to the session */
    bool is_socket;   /* send/recv instead of write/read */
    bool rpaused;     /* the session holds reads back */
    bool never_pause; /* read even when the socket's queue is full (the
                         session bounds it itself: an attach channel, whose
                         monitor must never block on us) */
    bool rbusy, wbusy, xbusy, reof, closed, wshut, wshut_wanted;
    berth_op_t rop, wop, xop; /* xop: one extra op of the session's own */
    uint8_t *rbuf;
    size_t rcap;
    bool rfull;                /* the last read filled rbuf: the next gets a larger one */
    size_t zlen;               /* bytes of rbuf that go to the client straight from it
                                  (sconn_chan_direct): waiting for the socket, or in the
                                  send in flight (sconn.zep); no read until they are out */
    berth_bytebuf_t wq, wsend; /* queued, and in flight */
    void *owner;               /* the session's own pointer (a forward) */
} sep_t;

/* One logical stream: a SPDY stream, or a WebSocket channel. */
typedef struct schan {
    int kind;
    uint32_t sid; /* SPDY stream id; 0 over WebSocket */
    int wsch;     /* WebSocket channel number; -1 over SPDY */
    bool local_fin, remote_fin, reset;
    bool ws_port_sent; /* v4 port-forward: the port prefix went out */
    int port;
    char reqid[40];
    void *owner; /* the session's own pointer (a forward) */
} schan_t;

typedef struct sconn {
    int fd;
    berth_stream_config_t cfg;
    berth_handle_t server, me;
    uint64_t serial;
    uint64_t born_ns, last_io_ns;
    uint64_t close_ns; /* when closing began */
    berth_timer_t *timer;
    berth_op_t recv_op, send_op;
    size_t rchunk; /* the next recv's size: grows while recvs fill it */
    bool recv_busy, send_busy, peer_eof, peer_gone, closing, shut_done, exited;
    berth_bytebuf_t in, out, oq; /* received; in flight; queued (plaintext with TLS) */
    /* With TLS: the wire above sees only plaintext (in, oq); tin holds
     * ciphertext received and tq ciphertext queued, which send_more swaps
     * into out as oq is without TLS. */
    struct berth_stls *tls;
    berth_bytebuf_t tin, tq;
    /* A send straight from an endpoint's rbuf (no copy into oq): the
     * endpoint, the frame headers and the iovec the kernel reads. */
    sep_t *zep;
    size_t ztotal;
    struct msghdr zmsg;
    uint8_t zhdr[8 * SCONN_DIRECT_FRAMES];
    struct iovec ziov[2 * SCONN_DIRECT_FRAMES];
    int phase;
    /* the request */
    char kindpath[16];
    char token[STREAM_TOKEN_LEN + 1];
    char *upgrade_protos; /* the offered subprotocols, comma-separated */
    int wire;
    int version;       /* remote command 1..5; port-forward 1 or 4 (WebSocket v4) */
    bool ws_base64;    /* WebSocket base64.channel.k8s.io */
    int32_t *ws_ports; /* WebSocket port-forward: ?port= values */
    size_t nws_ports;
    void *wire_state;    /* berth_spdy_t * over SPDY */
    berth_bytebuf_t msg; /* WebSocket: a message being reassembled */
    int msg_opcode;
    berth_stream_req_t *req;
    bool session_started;
    sep_t *eps;
    schan_t **chans;
    size_t nchans, cap_chans;
    void *sess; /* the session's state */
} sconn_t;

/* streamconn.c */
size_t sconn_out_pending(const sconn_t *c);
sep_t *sconn_ep_add(sconn_t *c, int fd, int role);
void sconn_ep_close(berth_actor_t *self, sconn_t *c, sep_t *e);
void sconn_ep_write(sconn_t *c, sep_t *e, const void *p, size_t n);
void sconn_ep_shut_write(sconn_t *c, sep_t *e);
void sconn_close(berth_actor_t *self, sconn_t *c);

/* streamwire.c */
void sconn_on_head_bytes(berth_actor_t *self, sconn_t *c);
void sconn_on_taken(berth_actor_t *self, sconn_t *c, stream_taken_msg_t *m);
void sconn_wire_input(berth_actor_t *self, sconn_t *c);
void sconn_on_peer_eof(berth_actor_t *self, sconn_t *c);
void sconn_wire_fini(sconn_t *c);
/* The session's last frame (GOAWAY, or a WebSocket close), once. */
void sconn_wire_goodbye(sconn_t *c);
/* Sends bytes on a channel (framed for the transport). */
void sconn_chan_send(sconn_t *c, schan_t *ch, const void *p, size_t n);
/* Whether bytes on the channel may go out straight from the caller's
 * buffer (plain SPDY: no TLS, no WebSocket tunnel) rather than be copied
 * into the socket's queue by sconn_chan_send. */
bool sconn_chan_direct(sconn_t *c, const schan_t *ch);
/* p[0..n) as DATA frames of ch: their headers written into hdr (8 bytes a
 * frame), header and payload iovecs into iov (2 a frame, at most
 * SCONN_DIRECT_FRAMES frames: n must fit). Returns the iovecs used. */
size_t sconn_chan_direct_iov(sconn_t *c, const schan_t *ch, const uint8_t *p, size_t n,
                             uint8_t *hdr, struct iovec *iov);
/* No more bytes on the channel from this side. */
void sconn_chan_fin(sconn_t *c, schan_t *ch);
/* Forgets a channel (removed and freed): the session holds no pointer to it
 * any more. */
void sconn_chan_del(sconn_t *c, schan_t *ch);
/* The channel of a kind (the first one), or NULL. */
schan_t *sconn_chan_find(sconn_t *c, int kind);
/* Over WebSocket: the remote command channels the session needs exist from
 * the upgrade on. Adds one (used by the session at its start). */
schan_t *sconn_chan_add(sconn_t *c, int kind, uint32_t sid, int wsch);
/* A plain HTTP answer before any upgrade, then the connection closes. */
void sconn_http_error(berth_actor_t *self, sconn_t *c, int status, const char *reason,
                      const char *body);

/* streamsess.c */
const char *sess_kind_name(int kind);
/* The upgrade is done: a WebSocket session starts now, a SPDY one when its
 * streams are there (sess_on_chan_open decides). */
void sess_on_upgraded(berth_actor_t *self, sconn_t *c);
/* A client stream opened (SPDY); false: refuse it (reset). */
bool sess_on_chan_open(berth_actor_t *self, sconn_t *c, schan_t *ch);
void sess_on_chan_data(berth_actor_t *self, sconn_t *c, schan_t *ch, const uint8_t *p, size_t n);
void sess_on_chan_fin(berth_actor_t *self, sconn_t *c, schan_t *ch);
void sess_on_peer_gone(berth_actor_t *self, sconn_t *c);
void sess_on_ep_data(berth_actor_t *self, sconn_t *c, sep_t *e, const uint8_t *p, size_t n);
/* The channel an endpoint's bytes may be sent on directly from its rbuf
 * (a forwarded socket's data stream over plain SPDY), or NULL: through
 * sess_on_ep_data. */
schan_t *sess_ep_direct_chan(sconn_t *c, sep_t *e);
void sess_on_ep_eof(berth_actor_t *self, sconn_t *c, sep_t *e, int res);
void sess_on_ep_write_shut(berth_actor_t *self, sconn_t *c, sep_t *e);
void sess_on_ep_write_error(berth_actor_t *self, sconn_t *c, sep_t *e, int res);
void sess_on_ep_extra(berth_actor_t *self, sconn_t *c, sep_t *e, berth_cqe_msg_t *m);
void sess_on_cqe(berth_actor_t *self, sconn_t *c, berth_cqe_msg_t *m);
void sess_on_msg(berth_actor_t *self, sconn_t *c, berth_msg_t *msg);
void sess_on_tick(berth_actor_t *self, sconn_t *c);
/* Ends the session with an error the client is told (error channel). */
void sess_fail(berth_actor_t *self, sconn_t *c, const char *msg);
void sess_on_close(berth_actor_t *self, sconn_t *c);
bool sess_quiet(const sconn_t *c);
/* End of a turn: forwards that are over, with their streams ended both
 * ways, are forgotten (a SPDY port-forward session opens a pair per
 * connection for as long as it lasts: this keeps it bounded). */
void sess_reap(sconn_t *c);
/* The session holds as much of the client's input as it may: stop reading. */
bool sess_input_full(const sconn_t *c);
void sess_fini(sconn_t *c);

#endif
