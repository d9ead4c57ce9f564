/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1 request-head parser and response writers of io/httpreq.h.
 * Two passes: an incremental scan that only finds the end of the head and
 * enforces the size limits (so a peer trickling bytes costs O(head) in all),
 * then one validating pass over a private copy of the complete head, which
 * is cut into NUL-terminated strings in place. Never reads past `len`, never
 * allocates before the limits have been checked.
 */
#include "io/httpreq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/alloc.h"

/* tchar of RFC 9110 §5.6.2: the characters of methods and header names. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP and HTAB (obs-text included, as RFC 9110 §5.5 allows). */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static ssize_t fail(berth_http_parser_t *p, int status, berth_err_t *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static ssize_t fail(berth_http_parser_t *p, int status, berth_err_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool limit = status == 414 || status == 431;
    berth_err_makev(err, limit ? E2BIG : EINVAL, limit ? BERTH_ERR_EXHAUSTED : BERTH_ERR_INVALID,
                    fmt, ap);
    va_end(ap);
    p->status = status;
    return -1;
}

static size_t limit_or(size_t v, size_t dflt)
{
    return v ? v : dflt;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) in place ('+' is a space) and NUL-terminates;
 * returns the decoded length or -1 for a bad escape or a decoded NUL. */
static ssize_t unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return (ssize_t)o;
}

/* Splits the query q[0..n) (a private copy) into req->params. */
static void parse_query(berth_http_req_t *req, char *q, size_t n)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += q[i] == '&';
    req->params = berth_calloc(cap, sizeof(*req->params));
    char *end = q + n;
    while (q < end) {
        char *amp = memchr(q, '&', (size_t)(end - q));
        char *pe = amp ? amp : end;
        if (pe > q) {
            char *eq = memchr(q, '=', (size_t)(pe - q));
            char *ke = eq ? eq : pe;
            char *v = eq ? eq + 1 : pe;
            size_t vn = (size_t)(pe - v);
            /* Decode the value first: the key's terminating NUL lands on
             * the '=' (or on pe, which the value no longer needs). */
            ssize_t vl = eq ? unescape(v, vn) : 0;
            ssize_t kl = unescape(q, (size_t)(ke - q));
            if (vl >= 0 && kl >= 0) {
                berth_http_param_t *pp = &req->params[req->nparams++];
                pp->key = q;
                pp->value = eq ? v : "";
                pp->value_len = (size_t)vl;
            }
        }
        q = amp ? amp + 1 : end;
    }
}

/* Validates the complete head mem[0..n) (request line, headers, the final
 * empty line; all lines end in CRLF, the scan made sure) and cuts it into
 * the strings of *req. */
static ssize_t parse_head(berth_http_parser_t *p, berth_http_req_t *req, char *mem, size_t n,
                          berth_err_t *err)
{
    /* Request line: method SP request-target SP HTTP-version. */
    char *eol = memchr(mem, '\r', n);
    size_t i = 0;
    while (i < (size_t)(eol - mem) && is_tchar((unsigned char)mem[i]))
        i++;
    if (i == 0 || mem[i] != ' ')
        return fail(p, 400, err, "HTTP request line: bad method");
    mem[i] = '\0';
    req->method = mem;
    char *target = mem + i + 1;
    char *t = target;
    while (t<eol && * t> 0x20 && *t < 0x7f && *t != '#')
        t++;
    size_t tlen = (size_t)(t - target);
    if (tlen > limit_or(p->max_target, BERTH_HTTP_MAX_TARGET_DEFAULT))
        return fail(p, 414, err, "HTTP request target longer than %zu bytes",
                    limit_or(p->max_target, BERTH_HTTP_MAX_TARGET_DEFAULT));
    if (tlen == 0 || t == eol || *t != ' ')
        return fail(p, 400, err, "HTTP request line: bad request target");
    *t = '\0';
    req->target = target;
    char *v = t + 1;
    if ((size_t)(eol - v) != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return fail(p, 400, err, "HTTP request line: bad version");
    if (v[5] != '1')
        return fail(p, 505, err, "HTTP version %.8s not supported (HTTP/1.x only)", v);
    req->version_minor = v[7] - '0';

    /* Path and query from the target: origin-form "/p?q", absolute-form
     * "http://host/p?q" (RFC 9112 §3.2.2 says a server must accept it),
     * asterisk-form "*". */
    char *path = target;
    if (target[0] != '/' && strcmp(target, "*") != 0) {
        char *sep = strstr(target, "://");
        if (sep == NULL || sep == target)
            return fail(p, 400, err, "HTTP request target: not a path or absolute URI");
        for (char *c = target; c < sep; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (c > target &&
                   ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))))
                return fail(p, 400, err, "HTTP request target: bad URI scheme");
        path = sep + 3 + strcspn(sep + 3, "/?");
    }
    char *qmark = strchr(path, '?');
    size_t plen = qmark ? (size_t)(qmark - path) : strlen(path);
    /* Private room after the head: the path, then the query to decode. */
    char *room = mem + n + 1;
    if (plen == 0) {
        req->path = "/";
    } else {
        memcpy(room, path, plen);
        room[plen] = '\0';
        req->path = room;
        room += plen + 1;
    }
    if (qmark) {
        size_t qlen = strlen(qmark + 1);
        memcpy(room, qmark + 1, qlen);
        room[qlen] = '\0';
        parse_query(req, room, qlen);
    }

    /* Header fields: name ":" OWS value OWS. */
    req->headers = berth_calloc(p->nlines ? p->nlines : 1, sizeof(*req->headers));
    size_t nhost = 0;
    char *line = eol + 2;
    for (;;) {
        char *le = memchr(line, '\r', (size_t)(mem + n - line));
        if (le == line)
            break; /* the empty line that ends the head */
        if (is_ows(*line))
            return fail(p, 400, err, "HTTP header: obsolete line folding");
        char *c = line;
        while (c < le && is_tchar((unsigned char)*c))
            c++;
        if (c == line || c == le || *c != ':')
            return fail(p, 400, err, "HTTP header: bad field name");
        *c = '\0';
        char *val = c + 1;
        while (val < le && is_ows(*val))
            val++;
        char *ve = le;
        while (ve > val && is_ows(ve[-1]))
            ve--;
        for (char *x = val; x < ve; x++)
            if (!is_value_char((unsigned char)*x))
                return fail(p, 400, err, "HTTP header %s: control character in value", line);
        *ve = '\0';
        berth_http_header_t *h = &req->headers[req->nheaders++];
        h->name = line;
        h->value = val;
        h->value_len = (size_t)(ve - val);
        if (strcasecmp(line, "Host") == 0)
            nhost++;
        line = le + 2;
    }
    if (nhost > 1 || (nhost == 0 && req->version_minor >= 1))
        return fail(p, 400, err, "HTTP/1.1 request needs exactly one Host header (has %zu)", nhost);
    return 0;
}

ssize_t berth_http_parse(berth_http_parser_t *p, const void *buf, size_t len, berth_http_req_t *req,
                         berth_err_t *err)
{
    const char *s = buf;
    size_t max_head = limit_or(p->max_head, BERTH_HTTP_MAX_HEAD_DEFAULT);
    size_t max_headers = limit_or(p->max_headers, BERTH_HTTP_MAX_HEADERS_DEFAULT);
    size_t max_target = limit_or(p->max_target, BERTH_HTTP_MAX_TARGET_DEFAULT);
    size_t i;
    for (i = p->scanned; i < len; i++) {
        char c = s[i];
        if (i >= max_head)
            return fail(p, 431, err, "HTTP request head larger than %zu bytes", max_head);
        if (c == '\r') {
            if (i + 1 == len)
                break; /* its LF is not here yet: look again next time */
            if (s[i + 1] != '\n')
                return fail(p, 400, err, "HTTP request: CR without LF");
            continue;
        }
        if (c == '\n') {
            if (i == 0 || s[i - 1] != '\r')
                return fail(p, 400, err, "HTTP request: LF without CR");
            bool empty = i - 1 == p->line_start;
            if (!p->reqline_done) {
                if (empty) {
                    /* an empty line before the request line: skip it */
                    p->line_start = p->head_start = i + 1;
                    continue;
                }
                p->reqline_done = true;
            } else if (empty) {
                break;
            } else if (++p->nlines > max_headers) {
                return fail(p, 431, err, "HTTP request has more than %zu headers", max_headers);
            }
            p->line_start = i + 1;
            continue;
        }
        if (!p->reqline_done) {
            if (c == ' ') {
                if (p->sp1 == 0)
                    p->sp1 = i + 1;
                else if (p->sp2 == 0)
                    p->sp2 = i + 1;
            } else if (p->sp1 != 0 && p->sp2 == 0 && i + 1 - p->sp1 > max_target) {
                /* at the byte that makes it too long, so the answer does
                 * not depend on how the bytes arrived */
                return fail(p, 414, err, "HTTP request target longer than %zu bytes", max_target);
            }
        }
    }
    if (i >= len) {
        p->scanned = i;
        return 0;
    }
    if (s[i] == '\r') { /* stopped at a CR whose LF is missing */
        p->scanned = i;
        return 0;
    }

    /* s[i] is the LF of the empty line: the head is s[head_start..i]. */
    size_t hlen = i + 1 - p->head_start;
    size_t tlen = p->sp2 ? p->sp2 - 1 - p->sp1 : hlen;
    *req = (berth_http_req_t){0};
    /* the head, its NUL, then room for the path and the query (each at
     * most the target's length, plus a NUL) */
    req->mem = berth_malloc(hlen + 1 + 2 * (tlen + 1));
    memcpy(req->mem, s + p->head_start, hlen);
    req->mem[hlen] = '\0';
    if (parse_head(p, req, req->mem, hlen, err) < 0) {
        berth_http_req_fini(req);
        return -1;
    }
    *p = (berth_http_parser_t){
            .max_head = p->max_head,
            .max_headers = p->max_headers,
            .max_target = p->max_target,
    };
    return (ssize_t)(i + 1);
}

void berth_http_req_fini(berth_http_req_t *req)
{
    berth_free(req->headers);
    berth_free(req->params);
    berth_free(req->mem);
    *req = (berth_http_req_t){0};
}

const char *berth_http_req_header(const berth_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

size_t berth_http_req_header_count(const berth_http_req_t *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        n += strcasecmp(req->headers[i].name, name) == 0;
    return n;
}

bool berth_http_req_tokens(const berth_http_req_t *req, const char *name, berth_http_iter_t *it,
                           const char **tok, size_t *len)
{
    for (; it->idx < req->nheaders; it->idx++, it->pos = NULL) {
        const berth_http_header_t *h = &req->headers[it->idx];
        if (it->pos == NULL) {
            if (strcasecmp(h->name, name) != 0)
                continue;
            it->pos = h->value;
        }
        const char *end = h->value + h->value_len;
        while (it->pos < end) {
            const char *b = it->pos;
            const char *comma = memchr(b, ',', (size_t)(end - b));
            const char *e = comma ? comma : end;
            it->pos = comma ? comma + 1 : end;
            while (b < e && is_ows(*b))
                b++;
            while (e > b && is_ows(e[-1]))
                e--;
            if (e > b) {
                *tok = b;
                *len = (size_t)(e - b);
                return true;
            }
        }
    }
    return false;
}

bool berth_http_req_has_token(const berth_http_req_t *req, const char *name, const char *token)
{
    berth_http_iter_t it = {0};
    const char *t;
    size_t n, tn = strlen(token);
    while (berth_http_req_tokens(req, name, &it, &t, &n))
        if (n == tn && strncasecmp(t, token, n) == 0)
            return true;
    return false;
}

const char *berth_http_req_param(const berth_http_req_t *req, const char *key)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, key) == 0)
            return req->params[i].value;
    return NULL;
}

bool berth_http_req_params(const berth_http_req_t *req, const char *key, bool split_commas,
                           berth_http_iter_t *it, const char **val, size_t *len)
{
    for (; it->idx < req->nparams; it->idx++, it->pos = NULL) {
        const berth_http_param_t *pp = &req->params[it->idx];
        if (it->pos == NULL && strcmp(pp->key, key) != 0)
            continue;
        const char *b = it->pos ? it->pos : pp->value;
        const char *end = pp->value + pp->value_len;
        const char *comma = split_commas ? memchr(b, ',', (size_t)(end - b)) : NULL;
        *val = b;
        *len = (size_t)((comma ? comma : end) - b);
        if (comma) {
            it->pos = comma + 1;
        } else {
            it->idx++;
            it->pos = NULL;
        }
        return true;
    }
    return false;
}

const char *berth_http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

static void put_str(berth_bytebuf_t *b, const char *s)
{
    berth_bytebuf_put(b, s, strlen(s));
}

/* A string that goes into the head: CR and LF become spaces. */
static void put_clean(berth_bytebuf_t *b, const char *s)
{
    size_t n = strlen(s);
    uint8_t *d = berth_bytebuf_reserve(b, n);
    for (size_t i = 0; i < n; i++)
        d[i] = (s[i] == '\r' || s[i] == '\n') ? ' ' : (uint8_t)s[i];
    b->len += n;
}

static void put_status_line(berth_bytebuf_t *b, int status, const char *reason)
{
    char line[32];
    snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status);
    put_str(b, line);
    put_clean(b, reason ? reason : berth_http_reason(status));
    put_str(b, "\r\n");
}

static void put_headers(berth_bytebuf_t *b, const berth_http_header_t *hdrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_clean(b, hdrs[i].name);
        put_str(b, ": ");
        put_clean(b, hdrs[i].value);
        put_str(b, "\r\n");
    }
}

void berth_http_put_head(berth_bytebuf_t *b, int status, const char *reason,
                         const berth_http_header_t *hdrs, size_t n, size_t body_len)
{
    put_status_line(b, status, reason);
    put_headers(b, hdrs, n);
    bool typed = false;
    for (size_t i = 0; i < n; i++)
        typed |= strcasecmp(hdrs[i].name, "Content-Type") == 0;
    if (body_len > 0 && !typed)
        put_str(b, "Content-Type: text/plain; charset=utf-8\r\n");
    char cl[48];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", body_len);
    put_str(b, cl);
}

void berth_http_put_response(berth_bytebuf_t *b, int status, const char *reason,
                             const berth_http_header_t *hdrs, size_t n, const void *body,
                             size_t body_len)
{
    berth_http_put_head(b, status, reason, hdrs, n, body_len);
    berth_bytebuf_put(b, body, body_len);
}

void berth_http_put_switching(berth_bytebuf_t *b, const berth_http_header_t *hdrs, size_t n)
{
    put_status_line(b, 101, NULL);
    put_headers(b, hdrs, n);
    put_str(b, "\r\n");
}

char *berth_http_date(time_t t, char out[BERTH_HTTP_DATE_LEN + 1])
{
    /* Not strftime: %a and %b follow the locale, the header must not. */
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm = {0};
    gmtime_r(&t, &tm);
    /* room for any int the compiler imagines; years past 9999 get cut */
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    size_t n = strnlen(tmp, BERTH_HTTP_DATE_LEN);
    memcpy(out, tmp, n);
    out[n] = '\0';
    return out;
}
