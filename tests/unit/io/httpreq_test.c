/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/httpreq: request heads whole and a byte at a time, every error status
 * (400, 414, 431, 505) and where it shows, the limits at and past their
 * edge, header and query lookups, pipelined requests, and the response
 * writers byte for byte. Pure functions, no engine needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "io/httpreq.h"
#include "tests/unit/check.h"

/* Parses s whole with the given limits (NULL: defaults). */
static ssize_t parse_lim(const char *s, size_t len, const berth_http_parser_t *lim,
                         berth_http_req_t *req, int *status)
{
    berth_http_parser_t p = {0};
    if (lim)
        p = *lim;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r = berth_http_parse(&p, s, len, req, &err);
    *status = r < 0 ? berth_http_parser_status(&p) : 0;
    if (r < 0 && err == NULL)
        printf("# -1 without an error\n");
    if (r >= 0 && err != NULL)
        printf("# error set on success: %s\n", err->msg);
    return r;
}

static ssize_t parse(const char *s, berth_http_req_t *req, int *status)
{
    return parse_lim(s, strlen(s), NULL, req, status);
}

/* Feeds s one more byte per call; returns the result of the first call that
 * did not need more, and how many bytes had been given then in *at. */
static ssize_t parse_bytewise(const char *s, size_t len, const berth_http_parser_t *lim,
                              berth_http_req_t *req, int *status, size_t *at)
{
    berth_http_parser_t p = {0};
    if (lim)
        p = *lim;
    char *copy = berth_malloc(len + 1);
    for (size_t n = 0; n <= len; n++) {
        /* only the first n bytes exist: anything past them is poison */
        memcpy(copy, s, n);
        memset(copy + n, 'X', len + 1 - n);
        BERTH_AUTO_ERR berth_err_t err = NULL;
        ssize_t r = berth_http_parse(&p, copy, n, req, &err);
        if (r != 0) {
            *at = n;
            *status = r < 0 ? berth_http_parser_status(&p) : 0;
            berth_free(copy);
            return r;
        }
    }
    berth_free(copy);
    *at = len;
    *status = 0;
    return 0;
}

/* The tokens of header `name`, joined by '|'. */
static void tokens(const berth_http_req_t *req, const char *name, char *out, size_t cap)
{
    berth_http_iter_t it = {0};
    const char *t;
    size_t n;
    out[0] = '\0';
    while (berth_http_req_tokens(req, name, &it, &t, &n)) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%.*s", l ? "|" : "", (int)n, t);
    }
}

static void params(const berth_http_req_t *req, const char *key, bool split, char *out, size_t cap)
{
    berth_http_iter_t it = {0};
    const char *t;
    size_t n;
    out[0] = '\0';
    while (berth_http_req_params(req, key, split, &it, &t, &n)) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "[%.*s]", (int)n, t);
    }
}

static const char upgrade_req[] =
        "GET /exec/tok3n?command=sh&command=-c&command=echo%20a,b+c&input=1&ports=80,8080"
        "&ports=443&flag&empty=&bad=%zz&%41B=x HTTP/1.1\r\n"
        "Host: 127.0.0.1:10010\r\n"
        "connection: keep-alive, Upgrade\r\n"
        "UPGRADE: websocket\r\n"
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
        "x-stream-protocol-version:v3.channel.k8s.io ,  v2.channel.k8s.io,,\t\r\n"
        "Empty:\r\n"
        "Sec-WebSocket-Protocol: \t v5.channel.k8s.io, , v4.channel.k8s.io \t\r\n"
        "\r\n";

static void check_upgrade_req(const berth_http_req_t *req, const char *how)
{
    char buf[256];
    check(strcmp(req->method, "GET") == 0, "%s: method", how);
    check(strncmp(req->target, "/exec/tok3n?command=sh", 22) == 0 &&
                  strcmp(req->target + strlen(req->target) - 6, "%41B=x") == 0,
          "%s: target as sent", how);
    check(strcmp(req->path, "/exec/tok3n") == 0, "%s: path without the query", how);
    check(req->version_minor == 1, "%s: HTTP/1.1", how);
    check(req->nheaders == 7, "%s: 7 headers (%zu)", how, req->nheaders);
    const char *host = berth_http_req_header(req, "HOST");
    check(host && strcmp(host, "127.0.0.1:10010") == 0, "%s: header lookup ignores case", how);
    const char *up = berth_http_req_header(req, "upgrade");
    check(up && strcmp(up, "websocket") == 0, "%s: value as sent", how);
    const char *e = berth_http_req_header(req, "empty");
    check(e && e[0] == '\0', "%s: an empty value is \"\"", how);
    check(berth_http_req_header(req, "Missing") == NULL, "%s: a missing header is NULL", how);
    check(berth_http_req_header_count(req, "X-Stream-Protocol-Version") == 2,
          "%s: a header that appears twice counts 2", how);
    tokens(req, "x-stream-protocol-version", buf, sizeof(buf));
    check(strcmp(buf, "v4.channel.k8s.io|v3.channel.k8s.io|v2.channel.k8s.io") == 0,
          "%s: tokens of every instance, trimmed, empty ones skipped (%s)", how, buf);
    tokens(req, "Sec-WebSocket-Protocol", buf, sizeof(buf));
    check(strcmp(buf, "v5.channel.k8s.io|v4.channel.k8s.io") == 0, "%s: tabs trimmed (%s)", how,
          buf);
    tokens(req, "Empty", buf, sizeof(buf));
    check(buf[0] == '\0', "%s: an empty header has no tokens", how);
    check(berth_http_req_has_token(req, "Connection", "upgrade") &&
                  berth_http_req_has_token(req, "Connection", "KEEP-ALIVE") &&
                  !berth_http_req_has_token(req, "Connection", "close") &&
                  !berth_http_req_has_token(req, "Connection", "upgrad"),
          "%s: has_token matches whole tokens, any case", how);

    const char *cmd = berth_http_req_param(req, "command");
    check(cmd && strcmp(cmd, "sh") == 0, "%s: first value of a parameter", how);
    params(req, "command", false, buf, sizeof(buf));
    check(strcmp(buf, "[sh][-c][echo a,b c]") == 0,
          "%s: every value, percent-decoded, '+' a space, commas kept (%s)", how, buf);
    params(req, "ports", true, buf, sizeof(buf));
    check(strcmp(buf, "[80][8080][443]") == 0, "%s: ports=80,8080&ports=443 split (%s)", how, buf);
    params(req, "ports", false, buf, sizeof(buf));
    check(strcmp(buf, "[80,8080][443]") == 0, "%s: ports unsplit (%s)", how, buf);
    const char *flag = berth_http_req_param(req, "flag");
    const char *empty = berth_http_req_param(req, "empty");
    check(flag && !flag[0] && empty && !empty[0], "%s: \"flag\" and \"empty=\" give \"\"", how);
    params(req, "empty", true, buf, sizeof(buf));
    check(strcmp(buf, "[]") == 0, "%s: split of an empty value gives one empty element", how);
    check(berth_http_req_param(req, "bad") == NULL, "%s: a pair with a bad escape is dropped", how);
    const char *ab = berth_http_req_param(req, "AB");
    check(ab && strcmp(ab, "x") == 0, "%s: keys are decoded too", how);
    check(berth_http_req_param(req, "Command") == NULL, "%s: parameter keys are case-sensitive",
          how);
    check(req->nparams == 9, "%s: 9 parameters kept (%zu)", how, req->nparams);
}

static void test_whole_and_bytewise(void)
{
    size_t hlen = strlen(upgrade_req);
    /* frames after the head must not be taken */
    char withtail[sizeof(upgrade_req) + 4];
    memcpy(withtail, upgrade_req, hlen);
    memcpy(withtail + hlen, "\x82\x81\x00\x00", 4);
    berth_http_req_t req;
    int status;
    ssize_t r = parse_lim(withtail, hlen + 4, NULL, &req, &status);
    check(r == (ssize_t)hlen, "whole: consumed the head only (%zd of %zu)", r, hlen);
    if (r > 0) {
        /* the request owns its strings: the input may go */
        memset(withtail, 0, hlen + 4);
        check_upgrade_req(&req, "whole");
        berth_http_req_fini(&req);
    }

    size_t at;
    r = parse_bytewise(upgrade_req, hlen, NULL, &req, &status, &at);
    check(r == (ssize_t)hlen && at == hlen, "bytewise: 0 until the last byte, then the head");
    if (r > 0) {
        check_upgrade_req(&req, "bytewise");
        berth_http_req_fini(&req);
    }
}

static void test_forms(void)
{
    berth_http_req_t req;
    int st;
    const char *s = "\r\n\r\nPOST /attach/x HTTP/1.1\r\nHost: a\r\n\r\n";
    ssize_t r = parse(s, &req, &st);
    check(r == (ssize_t)strlen(s), "empty lines before the request line are skipped and consumed");
    if (r > 0) {
        check(strcmp(req.method, "POST") == 0 && strcmp(req.path, "/attach/x") == 0 &&
                      req.nparams == 0,
              "... and the request is read");
        berth_http_req_fini(&req);
    }

    r = parse("GET /p HTTP/1.0\r\n\r\n", &req, &st);
    check(r > 0 && req.version_minor == 0 && req.nheaders == 0,
          "HTTP/1.0 needs no Host and may have no headers");
    if (r > 0)
        berth_http_req_fini(&req);

    r = parse("GET /p HTTP/1.7\r\nHost: a\r\n\r\n", &req, &st);
    check(r > 0 && req.version_minor == 7, "a later HTTP/1.x is served");
    if (r > 0)
        berth_http_req_fini(&req);

    r = parse("GET http://node:10250/portforward/t?ports=22 HTTP/1.1\r\nHost: node\r\n\r\n", &req,
              &st);
    check(r > 0 && strcmp(req.path, "/portforward/t") == 0 &&
                  strcmp(berth_http_req_param(&req, "ports"), "22") == 0,
          "absolute-form: path and query from the URI");
    if (r > 0)
        berth_http_req_fini(&req);

    r = parse("GET https://node?x=1 HTTP/1.1\r\nHost: node\r\n\r\n", &req, &st);
    check(r > 0 && strcmp(req.path, "/") == 0 && strcmp(berth_http_req_param(&req, "x"), "1") == 0,
          "absolute-form without a path: \"/\"");
    if (r > 0)
        berth_http_req_fini(&req);

    r = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req, &st);
    check(r > 0 && strcmp(req.path, "*") == 0, "asterisk-form");
    if (r > 0)
        berth_http_req_fini(&req);

    r = parse("GET /a?b=1?c=%3D& HTTP/1.1\r\nHost: a\r\nX: \xc3\xa9\r\n\r\n", &req, &st);
    check(r > 0 && strcmp(berth_http_req_param(&req, "b"), "1?c==") == 0 && req.nparams == 1,
          "query: '?' and decoded '=' inside a value, a trailing '&'");
    check(r > 0 && strcmp(berth_http_req_header(&req, "x"), "\xc3\xa9") == 0,
          "obs-text in a header value is kept");
    if (r > 0)
        berth_http_req_fini(&req);

    /* two requests in one buffer (pipelining): the parser is reusable */
    const char *two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
    berth_http_parser_t p = {.max_headers = 5};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    ssize_t r1 = berth_http_parse(&p, two, strlen(two), &req, &err);
    bool first_ok = r1 > 0 && strcmp(req.path, "/1") == 0;
    if (r1 > 0)
        berth_http_req_fini(&req);
    ssize_t r2 = r1 > 0 ? berth_http_parse(&p, two + r1, strlen(two) - (size_t)r1, &req, &err) : -1;
    check(first_ok && r2 == (ssize_t)strlen(two) - r1 && strcmp(req.path, "/2") == 0 &&
                  p.max_headers == 5,
          "pipelined: the parser starts over after a request, limits kept");
    if (r2 > 0)
        berth_http_req_fini(&req);
}

struct bad {
    const char *in;
    int status;
    const char *what;
};

static void test_errors(void)
{
    static const struct bad bad[] = {
            {"GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF"},
            {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR"},
            {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF at the end"},
            {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad method character"},
            {" / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty method"},
            {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces"},
            {"GET /\r\nHost: a\r\n\r\n", 400, "no version"},
            {"GET / \r\nHost: a\r\n\r\n", 400, "empty version"},
            {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "space after the version"},
            {"GET / http/1.1\r\nHost: a\r\n\r\n", 400, "lower-case HTTP"},
            {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "three-digit version"},
            {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "version without minor"},
            {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0"},
            {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "HTTP/0.9"},
            {"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target neither path nor URI"},
            {"GET ://x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "URI without scheme"},
            {"GET 1http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "scheme starting with a digit"},
            {"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "tab in the target"},
            {"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment in the target"},
            {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "non-ASCII target"},
            {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "header without colon"},
            {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "space before the colon"},
            {"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400, "empty header name"},
            {"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400, "obs-fold"},
            {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400, "control character in a value"},
            {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400, "DEL in a value"},
            {"GET / HTTP/1.1\r\nX-A\x01: a\r\nHost: a\r\n\r\n", 400, "control in a name"},
            {"GET / HTTP/1.1\r\nX: a\r\n\r\n", 400, "HTTP/1.1 without Host"},
            {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "two Host headers"},
            {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "two Host headers in 1.0"},
    };
    for (size_t i = 0; i < BERTH_ARRAY_LEN(bad); i++) {
        berth_http_req_t req;
        int st;
        ssize_t r = parse(bad[i].in, &req, &st);
        check(r == -1 && st == bad[i].status, "%s: %d (got %zd, %d)", bad[i].what, bad[i].status, r,
              st);
        if (r > 0)
            berth_http_req_fini(&req);
        size_t at;
        r = parse_bytewise(bad[i].in, strlen(bad[i].in), NULL, &req, &st, &at);
        check(r == -1 && st == bad[i].status, "%s, a byte at a time: %d at byte %zu", bad[i].what,
              st, at);
        if (r > 0)
            berth_http_req_fini(&req);
    }

    /* A NUL anywhere in the head. */
    static const char nul_in_value[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    berth_http_req_t req;
    int st;
    check(parse_lim(nul_in_value, sizeof(nul_in_value) - 1, NULL, &req, &st) == -1 && st == 400,
          "NUL in a value: 400");
    static const char nul_in_target[] = "GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n";
    check(parse_lim(nul_in_target, sizeof(nul_in_target) - 1, NULL, &req, &st) == -1 && st == 400,
          "NUL in the target: 400");

    /* Errors show early: a bare LF as soon as it arrives. */
    size_t at;
    const char *early = "GET / HTTP/1.1\nHost: a\r\n\r\n";
    parse_bytewise(early, strlen(early), NULL, &req, &st, &at);
    check(at == 15 && st == 400, "bare LF seen at the byte it arrives (%zu)", at);
}

static void test_limits(void)
{
    berth_http_req_t req;
    int st;
    size_t at;
    /* static: GCC's warnings under the sanitizers take a heap buffer for
     * one that may be NULL */
    static char s[64 * 1024];

    /* target: max_target exactly is fine, one more is 414, seen before the
     * request line ends */
    berth_http_parser_t lim = {.max_target = 16};
    snprintf(s, 64 * 1024, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaa");
    ssize_t r = parse_lim(s, strlen(s), &lim, &req, &st);
    check(r > 0, "target of max_target bytes: accepted");
    if (r > 0)
        berth_http_req_fini(&req);
    snprintf(s, 64 * 1024, "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", "aaaaaaaaaaaaaaaa");
    r = parse_bytewise(s, strlen(s), &lim, &req, &st, &at);
    check(r == -1 && st == 414 && at == 4 + 17,
          "target of max_target + 1: 414 as soon as it is too long (byte %zu)", at);
    /* the first error in byte order wins, however the bytes arrive (found
     * by the fuzzer: whole, this was the bare LF's 400) */
    const char *both = "GET /aaaaaaaaaaaaaaaaaaaa\nHost: a\r\n\r\n";
    r = parse_lim(both, strlen(both), &lim, &req, &st);
    int st_whole = st;
    ssize_t r2 = parse_bytewise(both, strlen(both), &lim, &req, &st, &at);
    check(r == -1 && r2 == -1 && st_whole == 414 && st == 414,
          "a target too long, then a bare LF: 414 whole and a byte at a time");
    size_t n = (size_t)snprintf(s, 64 * 1024, "GET /");
    memset(s + n, 'a', BERTH_HTTP_MAX_TARGET_DEFAULT);
    n += BERTH_HTTP_MAX_TARGET_DEFAULT;
    n += (size_t)snprintf(s + n, 1024, " HTTP/1.1\r\nHost: a\r\n\r\n");
    r = parse_lim(s, n, NULL, &req, &st);
    check(r == -1 && st == 414, "default: a target of 8 KiB + 1 is 414");
    /* a target so long that the head limit passes first is still 414 */
    lim = (berth_http_parser_t){.max_head = 64, .max_target = 1000};
    r = parse_lim(s, 100, &lim, &req, &st);
    check(r == -1 && st == 431, "head limit before the target limit: 431");
    lim = (berth_http_parser_t){.max_head = 64, .max_target = 32};
    r = parse_lim(s, 100, &lim, &req, &st);
    check(r == -1 && st == 414, "a target over its limit when the head limit passes: 414");

    /* head: exactly max_head is fine, one more byte is 431 */
    const char *h = "GET / HTTP/1.1\r\nHost: a\r\nX: 12345\r\n\r\n";
    lim = (berth_http_parser_t){.max_head = strlen(h)};
    r = parse_lim(h, strlen(h), &lim, &req, &st);
    check(r == (ssize_t)strlen(h), "head of exactly max_head: accepted");
    if (r > 0)
        berth_http_req_fini(&req);
    lim.max_head--;
    r = parse_bytewise(h, strlen(h), &lim, &req, &st, &at);
    check(r == -1 && st == 431 && at == strlen(h), "head of max_head + 1: 431 at its last byte");
    /* a head that never ends: 431 at the first byte past the limit */
    memset(s, 'a', 64 * 1024);
    memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
    lim = (berth_http_parser_t){0};
    r = parse_bytewise(s, BERTH_HTTP_MAX_HEAD_DEFAULT + 100, &lim, &req, &st, &at);
    check(r == -1 && st == 431 && at == BERTH_HTTP_MAX_HEAD_DEFAULT + 1,
          "default: 431 at byte 16 KiB + 1 (%zu)", at);
    /* leading empty lines count */
    const char *lead = "\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    lim = (berth_http_parser_t){.max_head = strlen(lead) - 1};
    r = parse_lim(lead, strlen(lead), &lim, &req, &st);
    check(r == -1 && st == 431, "empty lines before the request count toward max_head");

    /* headers: max_headers exactly is fine, one more is 431 */
    n = (size_t)snprintf(s, 64 * 1024, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < BERTH_HTTP_MAX_HEADERS_DEFAULT; i++)
        n += (size_t)snprintf(s + n, 64, "X-%d: %d\r\n", i, i);
    memcpy(s + n, "\r\n", 3);
    r = parse_lim(s, n + 2, NULL, &req, &st);
    check(r == (ssize_t)(n + 2) && req.nheaders == 100, "100 headers: accepted");
    if (r > 0)
        berth_http_req_fini(&req);
    memcpy(s + n, "Y: 1\r\n\r\n", 9);
    r = parse_bytewise(s, n + 8, NULL, &req, &st, &at);
    check(r == -1 && st == 431 && at == n + 6, "101 headers: 431 when the 101st line ends");
    lim = (berth_http_parser_t){.max_headers = 2};
    r = parse_lim("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\n\r\n", 33, &lim, &req, &st);
    check(r > 0, "max_headers 2 takes 2");
    if (r > 0)
        berth_http_req_fini(&req);
    r = parse_lim("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 1\r\n\r\n", 39, &lim, &req, &st);
    check(r == -1 && st == 431, "max_headers 2 refuses 3");

    /* a head that stops at a CR waits for its LF */
    berth_http_parser_t p = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    const char *cr = "GET / HTTP/1.1\r\nHost: a\r\n\r";
    check(berth_http_parse(&p, cr, strlen(cr), &req, &err) == 0 && err == NULL,
          "ending at a CR: need more");
}

static void test_responses(void)
{
    berth_bytebuf_t b = {0};
    const char body[] = "token not found or expired\n";
    berth_http_put_response(&b, 404, NULL, NULL, 0, body, strlen(body));
    const char want404[] = "HTTP/1.1 404 Not Found\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: 27\r\n\r\n"
                           "token not found or expired\n";
    check(berth_bytebuf_pending(&b) == strlen(want404) &&
                  memcmp(b.data + b.off, want404, strlen(want404)) == 0,
          "404 with its body, byte for byte");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    berth_http_header_t h[] = {
            {.name = "Connection", .value = "close"},
            {.name = "content-type", .value = "application/json"},
            {.name = "X-Evil", .value = "a\r\nSet-Cookie: x"},
    };
    berth_http_put_response(&b, 500, "Oops\r\nX: y", h, 3, "{}", 2);
    const char want500[] = "HTTP/1.1 500 Oops  X: y\r\n"
                           "Connection: close\r\n"
                           "content-type: application/json\r\n"
                           "X-Evil: a  Set-Cookie: x\r\n"
                           "Content-Length: 2\r\n\r\n{}";
    check(berth_bytebuf_pending(&b) == strlen(want500) &&
                  memcmp(b.data + b.off, want500, strlen(want500)) == 0,
          "own reason and headers, their Content-Type kept, CR/LF neutralised");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    berth_http_put_response(&b, 403, NULL, NULL, 0, NULL, 0);
    const char want403[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    check(berth_bytebuf_pending(&b) == strlen(want403) &&
                  memcmp(b.data + b.off, want403, strlen(want403)) == 0,
          "no body: no Content-Type, Content-Length 0");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    berth_http_put_response(&b, 299, NULL, NULL, 0, NULL, 0);
    check(memcmp(b.data + b.off, "HTTP/1.1 299 \r\n", 15) == 0, "unknown status: empty reason");
    berth_bytebuf_consume(&b, berth_bytebuf_pending(&b));

    berth_http_header_t sw[] = {
            {.name = "Connection", .value = "Upgrade"},
            {.name = "Upgrade", .value = "SPDY/3.1"},
            {.name = "X-Stream-Protocol-Version", .value = "v4.channel.k8s.io"},
    };
    berth_http_put_switching(&b, sw, 3);
    const char want101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Connection: Upgrade\r\n"
                           "Upgrade: SPDY/3.1\r\n"
                           "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n";
    check(berth_bytebuf_pending(&b) == strlen(want101) &&
                  memcmp(b.data + b.off, want101, strlen(want101)) == 0,
          "101 Switching Protocols with its headers");
    berth_bytebuf_free(&b);

    check(strcmp(berth_http_reason(431), "Request Header Fields Too Large") == 0 &&
                  strcmp(berth_http_reason(505), "HTTP Version Not Supported") == 0 &&
                  strcmp(berth_http_reason(414), "URI Too Long") == 0,
          "reason phrases");
    char date[BERTH_HTTP_DATE_LEN + 1];
    check(strcmp(berth_http_date(784111777, date), "Sun, 06 Nov 1994 08:49:37 GMT") == 0,
          "IMF-fixdate of RFC 9110's example (%s)", date);
}

int main(void)
{
    test_whole_and_bytewise();
    test_forms();
    test_errors();
    test_limits();
    test_responses();
    printf("1..%d\n", ntest);
    return nfail != 0;
}
