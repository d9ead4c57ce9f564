/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOML 1.0 parser. One pass over the buffer after a validation pass that
 * refuses bad UTF-8 and control characters everywhere (TOML allows neither in
 * any context, so checking once up front is exact). The tree records how each
 * table came to exist, because TOML's redefinition rules depend on it: a table
 * made by a [header] cannot be defined again, one made by dotted keys cannot
 * be named by a header, inline tables and static arrays are sealed. This file
 * must never read files or keep global state: config.c owns I/O.
 */
#include "conf/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"

/* How a node came to exist; drives the redefinition rules. */
enum {
    F_IMPLICIT = 1u << 0, /* intermediate table of a [header] */
    F_EXPLICIT = 1u << 1, /* named by a [header] or [[header]] */
    F_DOTTED = 1u << 2,   /* intermediate table of a dotted key */
    F_INLINE = 1u << 3,   /* inside an inline table: sealed */
    F_AOT = 1u << 4,      /* array made by [[header]]: appendable */
};

/* Deepest nesting of arrays and inline tables; bounds the parser's recursion. */
#define MAX_DEPTH 128

struct berth_toml_node {
    berth_toml_type_t type;
    unsigned flags;
    unsigned line, column;
    char *key;
    size_t key_len;
    berth_toml_node_t *parent, *next;
    berth_toml_node_t *first, *last; /* table entries / array elements */
    size_t count;
    char *str;
    size_t str_len;
    int64_t i;
    double f;
    bool b;
    berth_toml_datetime_t dt;
};

struct parser {
    const char *src;
    size_t len, pos;
    const char *file;
    berth_err_t *err;
    int depth;
    /* Position cache so node line numbers cost amortised O(1): nodes are
     * made in (nearly) increasing source order. */
    size_t lc_pos;
    unsigned lc_line, lc_col;
};

struct sbuf {
    char *p;
    size_t n, cap;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = berth_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sbuf_addc(struct sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

static void sbuf_fini(struct sbuf *b)
{
    berth_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Computes line and column (in code points) of a byte offset. Moves a cached
 * cursor forward or back, so a document costs O(n) overall even though keys
 * are located after their values were parsed. */
static void locate(struct parser *p, size_t pos, unsigned *line, unsigned *col)
{
    const unsigned char *s = (const unsigned char *)p->src;
    if (pos > p->len)
        pos = p->len;
    while (p->lc_pos < pos) {
        unsigned char c = s[p->lc_pos++];
        if (c == '\n') {
            p->lc_line++;
            p->lc_col = 1;
        } else if ((c & 0xC0) != 0x80) {
            p->lc_col++;
        }
    }
    bool crossed = false;
    while (p->lc_pos > pos) {
        unsigned char c = s[--p->lc_pos];
        if (c == '\n') {
            p->lc_line--;
            crossed = true;
        } else if ((c & 0xC0) != 0x80) {
            p->lc_col--;
        }
    }
    if (crossed) {
        p->lc_col = 1;
        for (size_t i = pos; i > 0 && s[i - 1] != '\n'; i--) {
            if ((s[i - 1] & 0xC0) != 0x80)
                p->lc_col++;
        }
    }
    *line = p->lc_line;
    *col = p->lc_col;
}

__attribute__((format(printf, 3, 4))) static int perr(struct parser *p, size_t pos, const char *fmt,
                                                      ...)
{
    unsigned line, col;
    locate(p, pos, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *what = berth_vasprintf(fmt, ap);
    va_end(ap);
    return berth_err_make(p->err, EINVAL, BERTH_ERR_INVALID, "%s:%u:%u: %s",
                          p->file ? p->file : "<toml>", line, col, what);
}

/* Describes the character at pos for error messages. */
static const char *what_at(struct parser *p, size_t pos, char *buf, size_t size)
{
    if (pos >= p->len)
        return "end of file";
    unsigned char c = (unsigned char)p->src[pos];
    if (c == '\n' || c == '\r')
        return "end of line";
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static berth_toml_node_t *node_new(struct parser *p, berth_toml_type_t type, size_t pos)
{
    berth_toml_node_t *n = berth_calloc(1, sizeof(*n));
    n->type = type;
    locate(p, pos, &n->line, &n->column);
    return n;
}

static void node_append(berth_toml_node_t *parent, berth_toml_node_t *child)
{
    child->parent = parent;
    if (parent->last)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
    parent->count++;
}

void berth_toml_free(berth_toml_node_t *root)
{
    /* Iterative: a long dotted header makes a tree deeper than any stack. The
     * children of a node are spliced in front of the work list before it goes. */
    berth_toml_node_t *list = root;
    while (list) {
        berth_toml_node_t *n = list;
        list = n->next;
        if (n->first) {
            n->last->next = list;
            list = n->first;
        }
        berth_free(n->key);
        berth_free(n->str);
        berth_free(n);
    }
}

static berth_toml_node_t *find(const berth_toml_node_t *t, const char *key, size_t len)
{
    for (berth_toml_node_t *c = t->first; c; c = c->next) {
        if (c->key_len == len && memcmp(c->key, key, len) == 0)
            return c;
    }
    return NULL;
}

/* ---- validation pass ---- */

static int validate(struct parser *p)
{
    const unsigned char *s = (const unsigned char *)p->src;
    size_t n = p->len;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == '\r') {
                if (i + 1 >= n || s[i + 1] != '\n')
                    return perr(p, i, "carriage return not followed by a line feed");
            } else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                return perr(p, i, "control character U+%04X is not allowed", c);
            }
            i++;
            continue;
        }
        size_t need;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return perr(p, i, "invalid UTF-8 byte 0x%02x", c);
        }
        if (i + need >= n)
            return perr(p, i, "truncated UTF-8 sequence");
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return perr(p, i, "invalid UTF-8 sequence");
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min)
            return perr(p, i, "overlong UTF-8 sequence");
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr(p, i, "invalid code point U+%04X", cp);
        i += need + 1;
    }
    return 0;
}

/* ---- lexical helpers ---- */

static int cur(struct parser *p)
{
    return p->pos < p->len ? (unsigned char)p->src[p->pos] : -1;
}

static int peek(struct parser *p, size_t ahead)
{
    return p->pos + ahead < p->len ? (unsigned char)p->src[p->pos + ahead] : -1;
}

static bool starts(struct parser *p, const char *s)
{
    size_t n = strlen(s);
    return p->len - p->pos >= n && memcmp(p->src + p->pos, s, n) == 0;
}

static void skip_ws(struct parser *p)
{
    while (cur(p) == ' ' || cur(p) == '\t')
        p->pos++;
}

static bool at_newline(struct parser *p)
{
    return cur(p) == '\n' || (cur(p) == '\r' && peek(p, 1) == '\n');
}

static void skip_newline(struct parser *p)
{
    p->pos += cur(p) == '\r' ? 2 : 1;
}

static void skip_comment(struct parser *p)
{
    while (p->pos < p->len && !at_newline(p))
        p->pos++;
}

/* Whitespace, newlines and comments (inside arrays). */
static void skip_wscnl(struct parser *p)
{
    for (;;) {
        skip_ws(p);
        if (cur(p) == '#')
            skip_comment(p);
        if (at_newline(p))
            skip_newline(p);
        else
            return;
    }
}

static bool is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void utf8_put(struct sbuf *b, unsigned cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    sbuf_add(b, o, n);
}

/* ---- strings ---- */

/* At a backslash inside a basic string. */
static int parse_escape(struct parser *p, struct sbuf *b, bool multiline)
{
    size_t start = p->pos;
    p->pos++;
    int c = cur(p);
    switch (c) {
    case 'b':
        sbuf_addc(b, '\b');
        break;
    case 't':
        sbuf_addc(b, '\t');
        break;
    case 'n':
        sbuf_addc(b, '\n');
        break;
    case 'f':
        sbuf_addc(b, '\f');
        break;
    case 'r':
        sbuf_addc(b, '\r');
        break;
    case '"':
        sbuf_addc(b, '"');
        break;
    case '\\':
        sbuf_addc(b, '\\');
        break;
    case 'u':
    case 'U': {
        int digits = c == 'u' ? 4 : 8;
        unsigned cp = 0;
        for (int k = 1; k <= digits; k++) {
            int h = hexval(peek(p, (size_t)k));
            if (h < 0)
                return perr(p, start, "\\%c escape needs %d hex digits", c, digits);
            cp = (cp << 4) | (unsigned)h;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr(p, start, "escape \\%c names an invalid code point", c);
        utf8_put(b, cp);
        p->pos += (size_t)digits;
        break;
    }
    default:
        if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            /* Line-ending backslash: only whitespace may sit before the newline. */
            skip_ws(p);
            if (!at_newline(p))
                return perr(p, start, "a line-ending backslash must be followed by a newline");
            for (;;) {
                skip_ws(p);
                if (at_newline(p))
                    skip_newline(p);
                else
                    break;
            }
            return 0;
        }
        if (c < 0 || c == '\n' || c == '\r')
            return perr(p, start, "unfinished escape sequence");
        return perr(p, start, "invalid escape sequence \\%c", c > 0x20 && c < 0x7f ? c : '?');
    }
    p->pos++;
    return 0;
}

/* At the opening quote. Multi-line forms keep CRLF normalised to LF. */
static int parse_string(struct parser *p, struct sbuf *b, bool allow_multiline)
{
    size_t start = p->pos;
    char q = (char)cur(p);
    bool literal = q == '\'';
    bool ml = allow_multiline && starts(p, literal ? "'''" : "\"\"\"");
    if (!ml) {
        p->pos++;
        for (;;) {
            int c = cur(p);
            if (c < 0 || c == '\n' || c == '\r')
                return perr(p, start, "unterminated string");
            if (c == q) {
                p->pos++;
                break;
            }
            if (c == '\\' && !literal) {
                if (parse_escape(p, b, false) < 0)
                    return -1;
                continue;
            }
            sbuf_addc(b, (char)c);
            p->pos++;
        }
        if (!b->p)
            sbuf_add(b, "", 0);
        return 0;
    }
    p->pos += 3;
    if (at_newline(p))
        skip_newline(p);
    for (;;) {
        int c = cur(p);
        if (c < 0)
            return perr(p, start, "unterminated multi-line string");
        if (c == q && peek(p, 1) == q && peek(p, 2) == q) {
            size_t run = 3;
            while (peek(p, run) == q)
                run++;
            if (run > 5)
                return perr(p, p->pos, "too many quotes at the end of a multi-line string");
            for (size_t k = 3; k < run; k++)
                sbuf_addc(b, q);
            p->pos += run;
            break;
        }
        if (c == '\\' && !literal) {
            if (parse_escape(p, b, true) < 0)
                return -1;
            continue;
        }
        if (c == '\r') {
            sbuf_addc(b, '\n');
            p->pos += 2;
            continue;
        }
        sbuf_addc(b, (char)c);
        p->pos++;
    }
    if (!b->p)
        sbuf_add(b, "", 0);
    return 0;
}

/* ---- keys ---- */

struct keypart {
    char *s;
    size_t len;
    size_t pos;
};

struct keypath {
    struct keypart *v;
    size_t n, cap;
};

static void keypath_fini(struct keypath *k)
{
    for (size_t i = 0; i < k->n; i++)
        berth_free(k->v[i].s);
    berth_free(k->v);
    k->v = NULL;
    k->n = k->cap = 0;
}

static int parse_key(struct parser *p, struct keypath *k)
{
    for (;;) {
        skip_ws(p);
        size_t start = p->pos;
        struct sbuf b = {0};
        int c = cur(p);
        if (c == '"' || c == '\'') {
            if (parse_string(p, &b, false) < 0) {
                sbuf_fini(&b);
                return -1;
            }
        } else if (is_bare(c)) {
            while (is_bare(cur(p)))
                p->pos++;
            sbuf_add(&b, p->src + start, p->pos - start);
        } else {
            char wb[16];
            return perr(p, start, "expected a key, found %s", what_at(p, start, wb, sizeof(wb)));
        }
        if (k->n == k->cap) {
            k->cap = k->cap ? k->cap * 2 : 4;
            k->v = berth_realloc(k->v, k->cap * sizeof(*k->v));
        }
        k->v[k->n++] = (struct keypart){.s = b.p, .len = b.n, .pos = start};
        skip_ws(p);
        if (cur(p) != '.')
            return 0;
        p->pos++;
    }
}

static char *key_display(const struct keypath *k, size_t upto)
{
    struct sbuf b = {0};
    for (size_t i = 0; i <= upto && i < k->n; i++) {
        if (i)
            sbuf_addc(&b, '.');
        sbuf_add(&b, k->v[i].s, strlen(k->v[i].s));
    }
    if (!b.p)
        sbuf_add(&b, "", 0);
    return b.p;
}

/* ---- numbers and dates ---- */

/* Digits of base with '_' only between digits; appends the digits to b. */
static bool digits_ok(const char *s, size_t n, int base, struct sbuf *b)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '_') {
            if (i == 0 || i + 1 == n || s[i - 1] == '_' || s[i + 1] == '_')
                return false;
            continue;
        }
        int v = hexval(c);
        if (v < 0 || v >= base)
            return false;
        if (b)
            sbuf_addc(b, (char)c);
    }
    return true;
}

static int parse_number(struct parser *p, berth_toml_node_t **out)
{
    size_t start = p->pos;
    while (p->pos < p->len && (is_bare(cur(p)) || cur(p) == '+' || cur(p) == '.'))
        p->pos++;
    const char *s = p->src + start;
    size_t n = p->pos - start;
    size_t i = 0;
    bool neg = false, sign = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        sign = true;
        i = 1;
    }
    const char *r = s + i;
    size_t rn = n - i;
    if (rn == 3 && (memcmp(r, "inf", 3) == 0 || memcmp(r, "nan", 3) == 0)) {
        berth_toml_node_t *v = node_new(p, BERTH_TOML_FLOAT, start);
        v->f = r[0] == 'i' ? INFINITY : NAN;
        if (neg)
            v->f = -v->f;
        *out = v;
        return 0;
    }
    if (rn >= 2 && r[0] == '0' && (r[1] == 'x' || r[1] == 'o' || r[1] == 'b')) {
        int base = r[1] == 'x' ? 16 : r[1] == 'o' ? 8 : 2;
        struct sbuf b = {0};
        if (sign || !digits_ok(r + 2, rn - 2, base, &b)) {
            sbuf_fini(&b);
            return perr(p, start, "invalid integer '%.*s'", (int)n, s);
        }
        uint64_t acc = 0;
        for (size_t k = 0; k < b.n; k++) {
            unsigned d = (unsigned)hexval((unsigned char)b.p[k]);
            if (acc > (UINT64_C(0x7fffffffffffffff) - d) / (unsigned)base) {
                sbuf_fini(&b);
                return perr(p, start, "integer '%.*s' does not fit in 64 bits", (int)n, s);
            }
            acc = acc * (unsigned)base + d;
        }
        sbuf_fini(&b);
        berth_toml_node_t *v = node_new(p, BERTH_TOML_INTEGER, start);
        v->i = (int64_t)acc;
        *out = v;
        return 0;
    }
    /* Decimal integer or float: int part, optional fraction, optional exponent. */
    size_t ip = 0;
    while (ip < rn && (is_digit(r[ip]) || r[ip] == '_'))
        ip++;
    struct sbuf b = {0};
    if (neg)
        sbuf_addc(&b, '-');
    bool ok = digits_ok(r, ip, 10, &b);
    size_t intdigits = b.n - (neg ? 1 : 0);
    if (ok && intdigits > 1 && b.p[neg ? 1 : 0] == '0')
        ok = false; /* leading zero */
    size_t k = ip;
    bool isfloat = false;
    if (ok && k < rn && r[k] == '.') {
        isfloat = true;
        size_t fs = ++k;
        while (k < rn && (is_digit(r[k]) || r[k] == '_'))
            k++;
        sbuf_addc(&b, '.');
        ok = digits_ok(r + fs, k - fs, 10, &b);
    }
    if (ok && k < rn && (r[k] == 'e' || r[k] == 'E')) {
        isfloat = true;
        sbuf_addc(&b, 'e');
        k++;
        if (k < rn && (r[k] == '+' || r[k] == '-'))
            sbuf_addc(&b, r[k++]);
        size_t es = k;
        while (k < rn && (is_digit(r[k]) || r[k] == '_'))
            k++;
        ok = digits_ok(r + es, k - es, 10, &b);
    }
    if (!ok || k != rn) {
        sbuf_fini(&b);
        if (n == 0) {
            char wb[16];
            return perr(p, start, "expected a value, found %s", what_at(p, start, wb, sizeof(wb)));
        }
        return perr(p, start, "invalid number '%.*s'", (int)n, s);
    }
    berth_toml_node_t *v;
    errno = 0;
    if (isfloat) {
        double f = strtod(b.p, NULL);
        if (errno == ERANGE && isinf(f)) {
            sbuf_fini(&b);
            return perr(p, start, "float '%.*s' is out of range", (int)n, s);
        }
        v = node_new(p, BERTH_TOML_FLOAT, start);
        v->f = f;
    } else {
        long long x = strtoll(b.p, NULL, 10);
        if (errno == ERANGE) {
            sbuf_fini(&b);
            return perr(p, start, "integer '%.*s' does not fit in 64 bits", (int)n, s);
        }
        v = node_new(p, BERTH_TOML_INTEGER, start);
        v->i = x;
    }
    sbuf_fini(&b);
    *out = v;
    return 0;
}

static bool digits_at(struct parser *p, size_t at, size_t count, int *val)
{
    int v = 0;
    for (size_t k = 0; k < count; k++) {
        size_t i = at + k;
        if (i >= p->len || !is_digit((unsigned char)p->src[i]))
            return false;
        v = v * 10 + (p->src[i] - '0');
    }
    *val = v;
    return true;
}

static bool looks_like_date(struct parser *p)
{
    int v;
    return digits_at(p, p->pos, 4, &v) && peek(p, 4) == '-';
}

static bool looks_like_time(struct parser *p)
{
    int v;
    return digits_at(p, p->pos, 2, &v) && peek(p, 2) == ':';
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

static int parse_time(struct parser *p, berth_toml_datetime_t *dt, size_t start)
{
    size_t s = p->pos;
    if (!digits_at(p, s, 2, &dt->hour) || peek(p, 2) != ':' || !digits_at(p, s + 3, 2, &dt->minute))
        return perr(p, start, "invalid time: expected HH:MM:SS");
    if (peek(p, 5) != ':' || !digits_at(p, s + 6, 2, &dt->second))
        return perr(p, start, "invalid time: seconds are required (HH:MM:SS)");
    if (dt->hour > 23 || dt->minute > 59 || dt->second > 60)
        return perr(p, start, "invalid time: hour, minute or second out of range");
    p->pos += 8;
    if (cur(p) == '.') {
        p->pos++;
        if (!is_digit(cur(p)))
            return perr(p, start, "invalid time: fraction needs at least one digit");
        int digits = 0, ns = 0;
        while (is_digit(cur(p))) {
            if (digits < 9) {
                ns = ns * 10 + (cur(p) - '0');
                digits++;
            }
            p->pos++;
        }
        dt->frac_digits = digits;
        for (int k = digits; k < 9; k++)
            ns *= 10;
        dt->nanosecond = ns;
    }
    return 0;
}

static int parse_datetime(struct parser *p, berth_toml_node_t **out)
{
    size_t start = p->pos;
    berth_toml_datetime_t dt = {0};
    berth_toml_type_t type;
    if (looks_like_time(p)) {
        if (parse_time(p, &dt, start) < 0)
            return -1;
        type = BERTH_TOML_TIME_LOCAL;
    } else {
        size_t s = p->pos;
        if (!digits_at(p, s, 4, &dt.year) || peek(p, 4) != '-' ||
            !digits_at(p, s + 5, 2, &dt.month) || peek(p, 7) != '-' ||
            !digits_at(p, s + 8, 2, &dt.day))
            return perr(p, start, "invalid date: expected YYYY-MM-DD");
        if (dt.month < 1 || dt.month > 12 || dt.day < 1 ||
            dt.day > days_in_month(dt.year, dt.month))
            return perr(p, start, "invalid date: month or day out of range");
        p->pos += 10;
        type = BERTH_TOML_DATE_LOCAL;
        int c = cur(p);
        if (c == 'T' || c == 't' || (c == ' ' && is_digit(peek(p, 1)))) {
            p->pos++;
            if (parse_time(p, &dt, start) < 0)
                return -1;
            type = BERTH_TOML_DATETIME_LOCAL;
            c = cur(p);
            if (c == 'Z' || c == 'z') {
                p->pos++;
                type = BERTH_TOML_DATETIME;
            } else if (c == '+' || c == '-') {
                int oh, om;
                size_t o = p->pos + 1;
                if (!digits_at(p, o, 2, &oh) || peek(p, 3) != ':' || !digits_at(p, o + 3, 2, &om) ||
                    oh > 23 || om > 59)
                    return perr(p, start, "invalid date-time offset");
                dt.offset_minutes = (c == '-' ? -1 : 1) * (oh * 60 + om);
                p->pos += 6;
                type = BERTH_TOML_DATETIME;
            }
        }
    }
    if (is_bare(cur(p)) || cur(p) == '.' || cur(p) == ':' || cur(p) == '+')
        return perr(p, start, "invalid date or time");
    berth_toml_node_t *v = node_new(p, type, start);
    v->dt = dt;
    *out = v;
    return 0;
}

/* ---- values ---- */

static int parse_value(struct parser *p, berth_toml_node_t **out);
static int insert_kv(struct parser *p, berth_toml_node_t *table, struct keypath *k,
                     berth_toml_node_t *value);

/* Marks an inline table's subtree immutable (iterative: dotted keys inside an
 * inline table can nest deeper than the recursion limit). */
static void seal(berth_toml_node_t *root)
{
    size_t cap = 16, n = 0;
    berth_toml_node_t **stack = berth_malloc(cap * sizeof(*stack));
    stack[n++] = root;
    while (n) {
        berth_toml_node_t *t = stack[--n];
        t->flags |= F_INLINE;
        for (berth_toml_node_t *c = t->first; c; c = c->next) {
            if (c->type == BERTH_TOML_TABLE || c->type == BERTH_TOML_ARRAY) {
                if (n == cap) {
                    cap *= 2;
                    stack = berth_realloc(stack, cap * sizeof(*stack));
                }
                stack[n++] = c;
            }
        }
    }
    berth_free(stack);
}

static int parse_array(struct parser *p, berth_toml_node_t **out)
{
    size_t start = p->pos;
    p->pos++;
    berth_toml_node_t *arr = node_new(p, BERTH_TOML_ARRAY, start);
    skip_wscnl(p);
    while (cur(p) != ']') {
        berth_toml_node_t *v = NULL;
        if (parse_value(p, &v) < 0)
            goto fail;
        node_append(arr, v);
        skip_wscnl(p);
        if (cur(p) == ',') {
            p->pos++;
            skip_wscnl(p);
            continue;
        }
        if (cur(p) != ']') {
            char wb[16];
            perr(p, p->pos, "expected ',' or ']' in array, found %s",
                 what_at(p, p->pos, wb, sizeof(wb)));
            goto fail;
        }
    }
    p->pos++;
    *out = arr;
    return 0;
fail:
    berth_toml_free(arr);
    return -1;
}

static int parse_inline_table(struct parser *p, berth_toml_node_t **out)
{
    size_t start = p->pos;
    p->pos++;
    berth_toml_node_t *t = node_new(p, BERTH_TOML_TABLE, start);
    skip_ws(p);
    if (cur(p) == '}') {
        p->pos++;
        goto done;
    }
    for (;;) {
        struct keypath k = {0};
        if (parse_key(p, &k) < 0) {
            keypath_fini(&k);
            goto fail;
        }
        if (cur(p) != '=') {
            char wb[16];
            perr(p, p->pos, "expected '=' after key, found %s", what_at(p, p->pos, wb, sizeof(wb)));
            keypath_fini(&k);
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        berth_toml_node_t *v = NULL;
        if (parse_value(p, &v) < 0 || insert_kv(p, t, &k, v) < 0) {
            keypath_fini(&k);
            goto fail;
        }
        keypath_fini(&k);
        skip_ws(p);
        if (cur(p) == ',') {
            p->pos++;
            continue;
        }
        if (cur(p) == '}') {
            p->pos++;
            break;
        }
        char wb[16];
        perr(p, p->pos, "expected ',' or '}' in inline table, found %s",
             what_at(p, p->pos, wb, sizeof(wb)));
        goto fail;
    }
done:
    seal(t);
    *out = t;
    return 0;
fail:
    berth_toml_free(t);
    return -1;
}

static int parse_value(struct parser *p, berth_toml_node_t **out)
{
    int c = cur(p);
    size_t start = p->pos;
    if (c == '"' || c == '\'') {
        struct sbuf b = {0};
        if (parse_string(p, &b, true) < 0) {
            sbuf_fini(&b);
            return -1;
        }
        berth_toml_node_t *v = node_new(p, BERTH_TOML_STRING, start);
        v->str = b.p;
        v->str_len = b.n;
        *out = v;
        return 0;
    }
    if (c == '[' || c == '{') {
        if (p->depth >= MAX_DEPTH)
            return perr(p, start, "values nested more than %d deep", MAX_DEPTH);
        p->depth++;
        int r = c == '[' ? parse_array(p, out) : parse_inline_table(p, out);
        p->depth--;
        return r;
    }
    if (starts(p, "true") || starts(p, "false")) {
        bool t = c == 't';
        size_t after = p->pos + (t ? 4 : 5);
        if (after >= p->len || !is_bare((unsigned char)p->src[after])) {
            p->pos = after;
            berth_toml_node_t *v = node_new(p, BERTH_TOML_BOOL, start);
            v->b = t;
            *out = v;
            return 0;
        }
    }
    if (looks_like_date(p) || looks_like_time(p))
        return parse_datetime(p, out);
    if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n')
        return parse_number(p, out);
    char wb[16];
    return perr(p, start, "expected a value, found %s", what_at(p, start, wb, sizeof(wb)));
}

/* ---- tables ---- */

/* "an inline table", "a static array", "an integer", ... for messages. */
static const char *describe(const berth_toml_node_t *n)
{
    if (n->type == BERTH_TOML_TABLE)
        return n->flags & F_INLINE ? "an inline table" : "a table";
    if (n->type == BERTH_TOML_ARRAY)
        return n->flags & F_AOT ? "an array of tables" : "a static array";
    switch (n->type) {
    case BERTH_TOML_STRING:
        return "a string";
    case BERTH_TOML_INTEGER:
        return "an integer";
    case BERTH_TOML_FLOAT:
        return "a float";
    case BERTH_TOML_BOOL:
        return "a boolean";
    case BERTH_TOML_DATETIME:
        return "an offset date-time";
    case BERTH_TOML_DATETIME_LOCAL:
        return "a local date-time";
    case BERTH_TOML_DATE_LOCAL:
        return "a local date";
    default:
        return "a local time";
    }
}

static berth_toml_node_t *new_table(struct parser *p, berth_toml_node_t *parent,
                                    const struct keypart *kp, unsigned flags)
{
    berth_toml_node_t *t = node_new(p, BERTH_TOML_TABLE, kp->pos);
    t->key = berth_memdup(kp->s, kp->len + 1);
    t->key_len = kp->len;
    t->flags = flags;
    node_append(parent, t);
    return t;
}

/* Adds `k = value` to table (value taken, freed on failure). */
static int insert_kv(struct parser *p, berth_toml_node_t *table, struct keypath *k,
                     berth_toml_node_t *value)
{
    berth_toml_node_t *t = table;
    for (size_t i = 0; i + 1 < k->n; i++) {
        berth_toml_node_t *c = find(t, k->v[i].s, k->v[i].len);
        if (!c) {
            t = new_table(p, t, &k->v[i], F_DOTTED);
            continue;
        }
        if (c->type != BERTH_TOML_TABLE || !(c->flags & F_DOTTED) || (c->flags & F_INLINE)) {
            BERTH_AUTO_FREE char *name = key_display(k, i);
            berth_toml_free(value);
            return perr(p, k->v[i].pos, "cannot add keys to '%s': it is already defined as %s",
                        name, describe(c));
        }
        t = c;
    }
    struct keypart *last = &k->v[k->n - 1];
    if (find(t, last->s, last->len)) {
        BERTH_AUTO_FREE char *name = key_display(k, k->n - 1);
        berth_toml_free(value);
        return perr(p, last->pos, "duplicate key '%s'", name);
    }
    value->key = berth_memdup(last->s, last->len + 1);
    value->key_len = last->len;
    /* The node's position is where its key starts: that is the line a user
     * wants named in a diagnostic about this entry. */
    locate(p, k->v[0].pos, &value->line, &value->column);
    node_append(t, value);
    return 0;
}

static int parse_header(struct parser *p, berth_toml_node_t *root, berth_toml_node_t **current)
{
    size_t start = p->pos;
    bool aot = starts(p, "[[");
    p->pos += aot ? 2 : 1;
    struct keypath k = {0};
    BERTH_AUTO_FREE char *name = NULL;
    if (parse_key(p, &k) < 0)
        goto fail;
    if (aot ? !starts(p, "]]") : cur(p) != ']') {
        char wb[16];
        perr(p, p->pos, "expected '%s' to close the table header, found %s", aot ? "]]" : "]",
             what_at(p, p->pos, wb, sizeof(wb)));
        goto fail;
    }
    p->pos += aot ? 2 : 1;
    berth_toml_node_t *t = root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        berth_toml_node_t *c = find(t, k.v[i].s, k.v[i].len);
        if (!c) {
            t = new_table(p, t, &k.v[i], F_IMPLICIT);
            continue;
        }
        if (c->type == BERTH_TOML_TABLE && !(c->flags & F_INLINE)) {
            t = c;
        } else if (c->type == BERTH_TOML_ARRAY && (c->flags & F_AOT)) {
            t = c->last;
        } else {
            name = key_display(&k, i);
            perr(p, k.v[i].pos, "cannot define a table under '%s': it is %s", name, describe(c));
            goto fail;
        }
    }
    struct keypart *last = &k.v[k.n - 1];
    berth_toml_node_t *c = find(t, last->s, last->len);
    name = key_display(&k, k.n - 1);
    if (aot) {
        if (!c) {
            c = node_new(p, BERTH_TOML_ARRAY, start);
            c->key = berth_memdup(last->s, last->len + 1);
            c->key_len = last->len;
            c->flags = F_AOT;
            node_append(t, c);
        } else if (c->type != BERTH_TOML_ARRAY || !(c->flags & F_AOT)) {
            perr(p, start, "cannot define array of tables '%s': it is already defined as %s", name,
                 describe(c));
            goto fail;
        }
        berth_toml_node_t *e = node_new(p, BERTH_TOML_TABLE, start);
        e->flags = F_EXPLICIT;
        node_append(c, e);
        *current = e;
    } else {
        if (!c) {
            c = new_table(p, t, last, F_EXPLICIT);
            locate(p, start, &c->line, &c->column);
        } else if (c->type == BERTH_TOML_TABLE &&
                   !(c->flags & (F_EXPLICIT | F_DOTTED | F_INLINE))) {
            c->flags |= F_EXPLICIT;
            locate(p, start, &c->line, &c->column);
        } else {
            perr(p, start, "table '%s' is already defined%s", name,
                 c->type != BERTH_TOML_TABLE ? " as a value"
                 : c->flags & F_DOTTED       ? " by dotted keys"
                                             : "");
            goto fail;
        }
        *current = c;
    }
    keypath_fini(&k);
    return 0;
fail:
    keypath_fini(&k);
    return -1;
}

berth_toml_node_t *berth_toml_parse(const char *buf, size_t len, const char *filename,
                                    berth_err_t *err)
{
    struct parser p = {
            .src = buf, .len = len, .file = filename, .err = err, .lc_line = 1, .lc_col = 1};
    if (validate(&p) < 0)
        return NULL;
    /* A UTF-8 byte order mark is not content. */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        p.pos = 3;
    berth_toml_node_t *root = node_new(&p, BERTH_TOML_TABLE, 0);
    root->flags = F_EXPLICIT;
    berth_toml_node_t *current = root;
    while (p.pos < p.len) {
        skip_ws(&p);
        int c = cur(&p);
        if (c < 0)
            break;
        if (c == '[') {
            if (parse_header(&p, root, &current) < 0)
                goto fail;
        } else if (c != '#' && !at_newline(&p)) {
            struct keypath k = {0};
            if (parse_key(&p, &k) < 0) {
                keypath_fini(&k);
                goto fail;
            }
            if (cur(&p) != '=') {
                char wb[16];
                perr(&p, p.pos, "expected '=' after key, found %s",
                     what_at(&p, p.pos, wb, sizeof(wb)));
                keypath_fini(&k);
                goto fail;
            }
            p.pos++;
            skip_ws(&p);
            berth_toml_node_t *v = NULL;
            if (parse_value(&p, &v) < 0 || insert_kv(&p, current, &k, v) < 0) {
                keypath_fini(&k);
                goto fail;
            }
            keypath_fini(&k);
        }
        skip_ws(&p);
        if (cur(&p) == '#')
            skip_comment(&p);
        if (p.pos >= p.len)
            break;
        if (!at_newline(&p)) {
            char wb[16];
            perr(&p, p.pos, "expected end of line, found %s", what_at(&p, p.pos, wb, sizeof(wb)));
            goto fail;
        }
        skip_newline(&p);
    }
    return root;
fail:
    berth_toml_free(root);
    return NULL;
}

/* ---- accessors ---- */

berth_toml_type_t berth_toml_type(const berth_toml_node_t *n)
{
    return n->type;
}

const char *berth_toml_type_name(berth_toml_type_t t)
{
    switch (t) {
    case BERTH_TOML_TABLE:
        return "table";
    case BERTH_TOML_ARRAY:
        return "array";
    case BERTH_TOML_STRING:
        return "string";
    case BERTH_TOML_INTEGER:
        return "integer";
    case BERTH_TOML_FLOAT:
        return "float";
    case BERTH_TOML_BOOL:
        return "boolean";
    case BERTH_TOML_DATETIME:
        return "offset date-time";
    case BERTH_TOML_DATETIME_LOCAL:
        return "local date-time";
    case BERTH_TOML_DATE_LOCAL:
        return "local date";
    case BERTH_TOML_TIME_LOCAL:
        return "local time";
    }
    return "unknown";
}

unsigned berth_toml_line(const berth_toml_node_t *n)
{
    return n->line;
}

unsigned berth_toml_column(const berth_toml_node_t *n)
{
    return n->column;
}

const char *berth_toml_key(const berth_toml_node_t *n, size_t *len)
{
    if (len)
        *len = n->key_len;
    return n->key;
}

const berth_toml_node_t *berth_toml_parent(const berth_toml_node_t *n)
{
    return n->parent;
}

const berth_toml_node_t *berth_toml_first(const berth_toml_node_t *n)
{
    return n && (n->type == BERTH_TOML_TABLE || n->type == BERTH_TOML_ARRAY) ? n->first : NULL;
}

const berth_toml_node_t *berth_toml_next(const berth_toml_node_t *n)
{
    return n ? n->next : NULL;
}

size_t berth_toml_count(const berth_toml_node_t *n)
{
    return n && (n->type == BERTH_TOML_TABLE || n->type == BERTH_TOML_ARRAY) ? n->count : 0;
}

const berth_toml_node_t *berth_toml_getn(const berth_toml_node_t *table, const char *key,
                                         size_t len)
{
    if (!table || table->type != BERTH_TOML_TABLE)
        return NULL;
    return find(table, key, len);
}

const berth_toml_node_t *berth_toml_get(const berth_toml_node_t *table, const char *key)
{
    return berth_toml_getn(table, key, strlen(key));
}

const berth_toml_node_t *berth_toml_get_path(const berth_toml_node_t *table, const char *path)
{
    const berth_toml_node_t *n = table;
    while (n && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        n = berth_toml_getn(n, path, len);
        path += len + (dot ? 1 : 0);
    }
    return n;
}

const berth_toml_node_t *berth_toml_at(const berth_toml_node_t *array, size_t i)
{
    if (!array || array->type != BERTH_TOML_ARRAY || i >= array->count)
        return NULL;
    const berth_toml_node_t *n = array->first;
    while (i--)
        n = n->next;
    return n;
}

const char *berth_toml_string(const berth_toml_node_t *n, size_t *len)
{
    if (!n || n->type != BERTH_TOML_STRING)
        return NULL;
    if (len)
        *len = n->str_len;
    return n->str;
}

int64_t berth_toml_int(const berth_toml_node_t *n)
{
    return n && n->type == BERTH_TOML_INTEGER ? n->i : 0;
}

double berth_toml_float(const berth_toml_node_t *n)
{
    return n && n->type == BERTH_TOML_FLOAT ? n->f : 0.0;
}

bool berth_toml_bool(const berth_toml_node_t *n)
{
    return n && n->type == BERTH_TOML_BOOL ? n->b : false;
}

const berth_toml_datetime_t *berth_toml_datetime(const berth_toml_node_t *n)
{
    if (!n || n->type < BERTH_TOML_DATETIME)
        return NULL;
    return &n->dt;
}

int berth_toml_datetime_format(const berth_toml_node_t *n, char *buf, size_t size)
{
    const berth_toml_datetime_t *d = berth_toml_datetime(n);
    if (!d) {
        if (size)
            buf[0] = '\0';
        return 0;
    }
    char date[32] = "", time[48] = "", off[16] = "";
    if (n->type != BERTH_TOML_TIME_LOCAL)
        snprintf(date, sizeof(date), "%04d-%02d-%02d", d->year, d->month, d->day);
    if (n->type != BERTH_TOML_DATE_LOCAL) {
        int w = snprintf(time, sizeof(time), "%s%02d:%02d:%02d",
                         n->type == BERTH_TOML_TIME_LOCAL ? "" : "T", d->hour, d->minute,
                         d->second);
        if (d->frac_digits > 0) {
            int frac = d->nanosecond;
            for (int k = d->frac_digits; k < 9; k++)
                frac /= 10;
            snprintf(time + w, sizeof(time) - (size_t)w, ".%0*d", d->frac_digits, frac);
        }
    }
    if (n->type == BERTH_TOML_DATETIME) {
        if (d->offset_minutes == 0) {
            snprintf(off, sizeof(off), "Z");
        } else {
            int m = d->offset_minutes < 0 ? -d->offset_minutes : d->offset_minutes;
            snprintf(off, sizeof(off), "%c%02d:%02d", d->offset_minutes < 0 ? '-' : '+', m / 60,
                     m % 60);
        }
    }
    return snprintf(buf, size, "%s%s%s", date, time, off);
}
