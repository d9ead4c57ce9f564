/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The streaming server's codecs on one core (io/httpreq, io/websocket):
 * an upgrade request head parsed, client frames parsed and unmasked
 * (stdin-sized and 32 KiB), server frames encoded for the k8s channel
 * protocols (binary and base64), text checked as UTF-8. Prints one line per
 * case: operations per second and, for bulk cases, payload MB/s. About a
 * second in all; run by hand: build/perf/wscodec_bench [SECONDS_PER_CASE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/alloc.h"
#include "io/httpreq.h"
#include "io/websocket.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

static void report(const char *what, double secs, size_t ops, size_t bytes)
{
    printf("%-44s %12.0f ops/s", what, (double)ops / secs);
    if (bytes)
        printf(" %10.0f MB/s", (double)bytes / secs / 1e6);
    printf("\n");
}

static const char head[] = "GET /exec/Zx8kq2Vb?command=sh&command=-c&command=ls&input=1&output=1"
                           "&tty=1 HTTP/1.1\r\n"
                           "Host: 127.0.0.1:10010\r\n"
                           "User-Agent: kubelet/v1.37.2 (linux/amd64) kubernetes/abcdef\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"
                           "\r\n";

static void bench_head(double secs)
{
    size_t ops = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 1000; i++) {
            berth_http_parser_t p = {0};
            berth_http_req_t req;
            BERTH_AUTO_ERR berth_err_t err = NULL;
            if (berth_http_parse(&p, head, sizeof(head) - 1, &req, &err) <= 0)
                abort();
            char accept[BERTH_WS_ACCEPT_LEN + 1];
            int status;
            if (berth_ws_handshake_check(&req, accept, &status, &err) < 0)
                abort();
            sink += (size_t)berth_ws_select_protocol(&req, berth_ws_remotecommand_protocols,
                                                     berth_ws_remotecommand_nprotocols, true);
            berth_http_req_fini(&req);
        }
        ops += 1000;
    } while ((t = now()) - t0 < secs);
    report("upgrade head: parse + handshake + protocol", t - t0, ops, 0);
}

/* Parses a buffer of masked client frames again and again (each pass
 * re-masks it: the parser unmasks in place). */
static void bench_parse(double secs, size_t payload, const char *what)
{
    static const uint8_t key[4] = {1, 2, 3, 4};
    berth_bytebuf_t src = {0};
    uint8_t *data = berth_malloc(payload + 1);
    memset(data, 'a', payload + 1);
    size_t frames = payload >= 4096 ? 32 : 4096;
    for (size_t i = 0; i < frames; i++)
        berth_ws_put_frame(&src, BERTH_WS_OP_BINARY, true, data, payload, key);
    uint8_t *buf = berth_malloc(src.len);
    size_t ops = 0;
    double t0 = now(), t;
    do {
        memcpy(buf, src.data, src.len);
        berth_ws_parser_t p;
        berth_ws_parser_init(&p, true, 0);
        size_t off = 0;
        while (off < src.len) {
            berth_ws_frame_t f;
            BERTH_AUTO_ERR berth_err_t err = NULL;
            ssize_t r = berth_ws_parse(&p, buf + off, src.len - off, &f, &err);
            if (r <= 0)
                abort();
            sink += f.payload[0];
            off += (size_t)r;
        }
        ops += frames;
    } while ((t = now()) - t0 < secs);
    /* the memcpy is in the figure: it is what a receive costs anyway */
    report(what, t - t0, ops, ops * payload);
    berth_bytebuf_free(&src);
    berth_free(buf);
    berth_free(data);
}

static void bench_chan_put(double secs, const char *proto_name, const char *what)
{
    const berth_ws_chan_proto_t *proto = berth_ws_chan_proto(proto_name);
    size_t payload = 32 * 1024;
    uint8_t *data = berth_malloc(payload);
    memset(data, 'b', payload);
    berth_bytebuf_t b = {0};
    size_t ops = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 64; i++) {
            berth_ws_chan_put(&b, proto, 1, data, payload, NULL);
            berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));
        }
        ops += 64;
    } while ((t = now()) - t0 < secs);
    report(what, t - t0, ops, ops * payload);
    berth_bytebuf_free(&b);
    berth_free(data);
}

static void bench_utf8(double secs)
{
    static const uint8_t key[4] = {9, 8, 7, 6};
    size_t payload = 32 * 1024;
    char *text = berth_malloc(payload);
    /* mostly ASCII with a two-byte and a three-byte character per line */
    for (size_t i = 0; i < payload;) {
        static const char line[] = "total 12 drwxr-xr-x é 2 root root 4096 € Dec 6 13:27 .\n";
        size_t n = sizeof(line) - 1 < payload - i ? sizeof(line) - 1 : payload - i;
        memcpy(text + i, line, n);
        i += n;
    }
    /* end on a whole character */
    size_t e = payload;
    while (e > 0 && (text[e - 1] & 0x80))
        e--;
    memset(text + e, '.', payload - e);
    berth_bytebuf_t src = {0};
    berth_ws_put_frame(&src, BERTH_WS_OP_TEXT, true, text, payload, key);
    uint8_t *buf = berth_malloc(src.len);
    size_t ops = 0;
    double t0 = now(), t;
    do {
        memcpy(buf, src.data, src.len);
        berth_ws_parser_t p;
        berth_ws_parser_init(&p, true, 0);
        berth_ws_frame_t f;
        BERTH_AUTO_ERR berth_err_t err = NULL;
        if (berth_ws_parse(&p, buf, src.len, &f, &err) <= 0)
            abort();
        ops++;
    } while ((t = now()) - t0 < secs);
    report("client text 32 KiB: parse + unmask + UTF-8", t - t0, ops, ops * payload);
    berth_bytebuf_free(&src);
    berth_free(buf);
    berth_free(text);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.15;
    bench_head(secs);
    bench_parse(secs, 16, "client frames of 16 bytes: parse + unmask");
    bench_parse(secs, 32 * 1024, "client frames of 32 KiB: parse + unmask");
    bench_chan_put(secs, "v5.channel.k8s.io", "server v5 messages of 32 KiB: encode");
    bench_chan_put(secs, "v4.base64.channel.k8s.io", "server base64 messages of 32 KiB: encode");
    bench_utf8(secs);
    return 0;
}
