/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the streaming server's HTTP/1.1 request heads
 * (io/httpreq) and the WebSocket handshake on top (io/websocket). The first
 * byte picks small or default limits and a feeding step; the rest is what a
 * peer sent: parsed whole and again in pieces (both must agree), up to four
 * pipelined requests. Every request that parses has all its headers and
 * parameters looked up and iterated, goes through the handshake checks and
 * the subprotocol choice, and has its values written back into responses,
 * which must stay well-formed. Must never crash, leak or hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "io/httpreq.h"
#include "io/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The response head in b must be CRLF lines only, `lines` of them before
 * the empty line. */
static void check_head(const berth_bytebuf_t *b, size_t lines)
{
    const uint8_t *s = b->data + b->off;
    size_t n = berth_bytebuf_pending(b), seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
            abort();
        if (s[i] == '\n') {
            if (i == 0 || s[i - 1] != '\r')
                abort();
            seen++;
            if (i >= 3 && s[i - 2] == '\n')
                break;
        }
    }
    if (seen != lines + 1)
        abort();
}

static void exercise(const berth_http_req_t *req)
{
    berth_http_iter_t it;
    const char *t;
    size_t n;
    for (size_t i = 0; i < req->nheaders; i++) {
        const berth_http_header_t *h = &req->headers[i];
        if (berth_http_req_header(req, h->name) == NULL ||
            berth_http_req_header_count(req, h->name) == 0 || strlen(h->value) != h->value_len)
            abort();
        it = (berth_http_iter_t){0};
        while (berth_http_req_tokens(req, h->name, &it, &t, &n))
            if (n == 0 || t[0] == ' ' || t[n - 1] == ' ' || memchr(t, ',', n))
                abort();
        berth_http_req_has_token(req, h->name, "upgrade");
    }
    for (size_t i = 0; i < req->nparams; i++) {
        const berth_http_param_t *p = &req->params[i];
        if (berth_http_req_param(req, p->key) == NULL)
            abort();
        for (int split = 0; split < 2; split++) {
            it = (berth_http_iter_t){0};
            size_t count = 0;
            while (berth_http_req_params(req, p->key, split, &it, &t, &n))
                if (++count > strlen(req->target) + req->nparams)
                    abort();
            if (count == 0)
                abort();
        }
    }

    char accept[BERTH_WS_ACCEPT_LEN + 1];
    int status = 0;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_bytebuf_t b = {0};
    if (berth_ws_handshake_check(req, accept, &status, &err) == 0) {
        int rc = berth_ws_select_protocol(req, berth_ws_remotecommand_protocols,
                                          berth_ws_remotecommand_nprotocols, true);
        int pf = berth_ws_select_protocol(req, berth_ws_portforward_protocols,
                                          berth_ws_portforward_nprotocols, false);
        if (rc >= (int)berth_ws_remotecommand_nprotocols ||
            pf >= (int)berth_ws_portforward_nprotocols)
            abort();
        berth_ws_put_accept(&b, accept, rc >= 0 ? berth_ws_remotecommand_protocols[rc] : NULL);
        check_head(&b, rc >= 0 ? 5 : 4);
    } else {
        if (status != 400 && status != 405 && status != 426)
            abort();
        berth_ws_put_reject(&b, status, err->msg);
        check_head(&b, status == 426 ? 5 : 4);
    }
    berth_bytebuf_free(&b);

    /* request text written back into a response must not split it */
    berth_http_header_t echo[2] = {
            {.name = "X-Path", .value = req->path},
            {.name = req->nheaders ? req->headers[0].name : "X",
             .value = req->nheaders ? req->headers[0].value : ""},
    };
    berth_http_put_response(&b, 400, req->target, echo, 2, req->method, strlen(req->method));
    check_head(&b, strcasecmp(echo[1].name, "Content-Type") == 0 ? 4 : 5);
    berth_bytebuf_free(&b);
    berth_http_put_switching(&b, echo, 2);
    check_head(&b, 3);
    berth_bytebuf_free(&b);
}

/* Parses from buf[0..size) feeding `step` more bytes per call (0: all at
 * once); returns the parse result and the status. */
static ssize_t parse(berth_http_parser_t *p, const uint8_t *buf, size_t size, size_t step,
                     berth_http_req_t *req, int *status)
{
    size_t given = step ? (step < size ? step : size) : size;
    for (;;) {
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t r = berth_http_parse(p, buf, given, req, &err);
        if (r > (ssize_t)given || (r < 0) != (err != NULL))
            abort();
        if (r < 0) {
            *status = berth_http_parser_status(p);
            if (*status != 400 && *status != 414 && *status != 431 && *status != 505)
                abort();
        }
        if (r != 0 || given == size)
            return r;
        given = size - given < step ? size : given + step;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    berth_http_parser_t lim = {0};
    if (ctl & 1)
        lim = (berth_http_parser_t){.max_head = 256, .max_headers = 4, .max_target = 64};
    size_t step = (size_t)(ctl >> 1) % 16 + 1;
    /* an exact copy on the heap, so a read past the end is caught */
    uint8_t *buf = berth_malloc(size ? size : 1);
    memcpy(buf, data, size);

    berth_http_parser_t whole = lim, piece = lim;
    size_t off = 0;
    for (int k = 0; k < 4 && off < size; k++) {
        berth_http_req_t a, b;
        int sa = 0, sb = 0;
        ssize_t ra = parse(&whole, buf + off, size - off, 0, &a, &sa);
        ssize_t rb = parse(&piece, buf + off, size - off, step, &b, &sb);
        if (ra != rb || sa != sb)
            abort();
        if (ra <= 0)
            break;
        if (strcmp(a.target, b.target) != 0 || a.nheaders != b.nheaders || a.nparams != b.nparams ||
            strcmp(a.path, b.path) != 0)
            abort();
        exercise(&a);
        berth_http_req_fini(&a);
        berth_http_req_fini(&b);
        off += (size_t)ra;
    }
    berth_free(buf);
    return 0;
}
