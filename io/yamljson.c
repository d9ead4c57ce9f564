// SPDX-License-Identifier: Apache-2.0
/*
 * YAML to JSON (see yamljson.h). libyaml's event parser is iterative, so a
 * deep document costs heap, not stack; this module keeps its own stack of
 * open collections, max_depth frames, allocated once. The input is a file a
 * root-owned directory holds, but it is parsed as if hostile: every node is
 * counted before it is allocated, aliases included, so memory is bounded by
 * max_nodes whatever the document says. Never touches the file system.
 */
#include "io/yamljson.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "engine/alloc.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef struct frame {
    json_t *v;       /* the object or array being filled */
    char *key;       /* a mapping's key waiting for its value (owned) */
    char *anchor;    /* registered when the node ends (owned) */
    size_t nodes_at; /* ctx.nodes before this node */
} frame_t;

typedef struct ctx {
    const char *name;
    berth_err_t *err;
    unsigned max_depth;
    size_t max_nodes;
    frame_t *stack; /* max_depth frames */
    unsigned depth;
    size_t nodes;
    json_t *anchors; /* anchor name -> [node, its node count] */
    json_t *root;
    bool have_doc;
} ctx_t;

static int fail(ctx_t *c, yaml_mark_t m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int fail(ctx_t *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    BERTH_AUTO_FREE char *what = berth_vasprintf(fmt, ap);
    va_end(ap);
    return berth_err_make(c->err, EINVAL, BERTH_ERR_INVALID, "%s:%zu:%zu: %s", c->name, m.line + 1,
                          m.column + 1, what);
}

/* ---- scalars ------------------------------------------------------------------------------- */

static bool is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(s, word, n) == 0;
}

static int digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return 99;
}

/* YAML 1.2's core integers plus 1.1's leading-zero octal, which is how CDI
 * writers (Go's YAML 1.1 decoder) and readers of `fileMode: 0644` mean it. */
static bool parse_int(const char *s, size_t n, json_int_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    int base = 10;
    if (n - i > 2 && s[i] == '0' && strchr("xXoObB", s[i + 1])) {
        base = s[i + 1] == 'x' || s[i + 1] == 'X' ? 16 : s[i + 1] == 'b' || s[i + 1] == 'B' ? 2 : 8;
        i += 2;
    } else if (n - i > 1 && s[i] == '0') {
        base = 8;
        i++;
    }
    if (i == n)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        int d = digit(s[i]);
        if (d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return false;
    /* -(v - 1) - 1 reaches INT64_MIN without overflowing */
    *out = !neg ? (json_int_t)v : v == 0 ? 0 : -(json_int_t)(v - 1) - 1;
    return true;
}

/* [-+]? ( . digits | digits ( . digits? )? ) ( [eE] [-+]? digits )?, with
 * a dot or an exponent (what has neither is an integer or a string). */
static bool parse_float(const char *s, size_t n, double *out)
{
    size_t i = 0, d1 = 0, d2 = 0, de = 0;
    bool dot = false, exp = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        d1++;
    if (i < n && s[i] == '.') {
        dot = true;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            d2++;
    }
    if (d1 + d2 == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        exp = true;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            de++;
        if (de == 0)
            return false;
    }
    if (i != n || (!dot && !exp))
        return false;
    /* s is libyaml's NUL-terminated value and was checked to be all number */
    *out = strtod(s, NULL);
    return true;
}

/* A plain scalar's JSON type, or NULL when it is a string. */
static json_t *resolve_plain(const char *s, size_t n)
{
    json_int_t i;
    double d;
    if (n == 0 || is(s, n, "~") || is(s, n, "null") || is(s, n, "Null") || is(s, n, "NULL"))
        return json_null();
    if (is(s, n, "true") || is(s, n, "True") || is(s, n, "TRUE"))
        return json_true();
    if (is(s, n, "false") || is(s, n, "False") || is(s, n, "FALSE"))
        return json_false();
    if (parse_int(s, n, &i))
        return json_integer(i);
    if (parse_float(s, n, &d))
        return json_real(d); /* NULL for an overflow to inf: a string then */
    return NULL;
}

static json_t *scalar(ctx_t *c, const yaml_event_t *e)
{
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const char *tag = (const char *)e->data.scalar.tag;
    json_t *v = NULL;
    if (tag == NULL || strcmp(tag, "!") == 0) {
        /* "!" is the non-specific tag: a string even when plain */
        if (tag == NULL && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            v = resolve_plain(s, n);
    } else if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0 ||
               strcmp(tag + strlen(TAG_PREFIX), "str") != 0) {
        const char *t =
                strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 ? tag + strlen(TAG_PREFIX) : "";
        v = resolve_plain(s, n);
        bool fits = v && ((strcmp(t, "int") == 0 && json_is_integer(v)) ||
                          (strcmp(t, "float") == 0 && json_is_number(v)) ||
                          (strcmp(t, "bool") == 0 && json_is_boolean(v)) ||
                          (strcmp(t, "null") == 0 && json_is_null(v)));
        if (!fits) {
            if (v)
                json_decref(v);
            if (strcmp(t, "int") == 0 || strcmp(t, "float") == 0 || strcmp(t, "bool") == 0 ||
                strcmp(t, "null") == 0)
                fail(c, e->start_mark, "\"%.64s\" is not a valid !!%s", s, t);
            else
                fail(c, e->start_mark, "tag %.128s is not supported", tag);
            return NULL;
        }
        if (strcmp(t, "float") == 0 && json_is_integer(v)) {
            json_t *r = json_real((double)json_integer_value(v));
            json_decref(v);
            v = r;
        }
    }
    if (v == NULL && (v = json_stringn(s, n)) == NULL)
        fail(c, e->start_mark, "a string that is not valid UTF-8");
    return v;
}

/* ---- the tree ------------------------------------------------------------------------------ */

static int count(ctx_t *c, size_t n, yaml_mark_t m)
{
    if (n > c->max_nodes - c->nodes)
        return fail(c, m,
                    "more than %zu nodes once aliases are expanded (an alias to a big or "
                    "nested anchor repeats all of it)",
                    c->max_nodes);
    c->nodes += n;
    return 0;
}

static void remember(ctx_t *c, const char *anchor, json_t *v, size_t nodes)
{
    if (anchor)
        json_object_set_new(c->anchors, anchor, json_pack("[OI]", v, (json_int_t)nodes));
}

/* Hands v (taken) to the open collection, or makes it the document. */
static void place(ctx_t *c, json_t *v)
{
    if (c->depth == 0) {
        c->root = v;
        return;
    }
    frame_t *f = &c->stack[c->depth - 1];
    if (json_is_array(f->v)) {
        json_array_append_new(f->v, v);
        return;
    }
    json_object_set_new(f->v, f->key, v);
    berth_free(f->key);
    f->key = NULL;
}

static bool wants_key(const ctx_t *c)
{
    return c->depth > 0 && json_is_object(c->stack[c->depth - 1].v) &&
           c->stack[c->depth - 1].key == NULL;
}

static int on_key(ctx_t *c, const yaml_event_t *e)
{
    frame_t *f = &c->stack[c->depth - 1];
    if (e->type != YAML_SCALAR_EVENT)
        return fail(c, e->start_mark, "a mapping key must be a scalar (not a %s)",
                    e->type == YAML_ALIAS_EVENT ? "alias" : "sequence or mapping");
    const char *s = (const char *)e->data.scalar.value;
    size_t n = e->data.scalar.length;
    if (memchr(s, '\0', n))
        return fail(c, e->start_mark, "a mapping key holds a NUL character");
    if (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is(s, n, "<<"))
        return fail(c, e->start_mark, "merge keys (<<) are not supported: write the keys out");
    if (json_object_get(f->v, s))
        return fail(c, e->start_mark, "duplicate key \"%.128s\"", s);
    if (count(c, 1, e->start_mark) < 0)
        return -1;
    if (e->data.scalar.anchor) {
        json_t *k = json_string(s);
        if (k == NULL)
            return fail(c, e->start_mark, "a string that is not valid UTF-8");
        remember(c, (const char *)e->data.scalar.anchor, k, 1);
        json_decref(k);
    }
    f->key = berth_strndup(s, n);
    return 0;
}

static int open_collection(ctx_t *c, const yaml_event_t *e, bool map)
{
    const char *tag = (const char *)(map ? e->data.mapping_start.tag : e->data.sequence_start.tag);
    const char *anchor =
            (const char *)(map ? e->data.mapping_start.anchor : e->data.sequence_start.anchor);
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0)
        return fail(c, e->start_mark, "tag %.128s is not supported", tag);
    if (c->depth == c->max_depth)
        return fail(c, e->start_mark, "nested deeper than %u levels", c->max_depth);
    size_t at = c->nodes;
    if (count(c, 1, e->start_mark) < 0)
        return -1;
    /* An alias inside this node to its own anchor would be a cycle: until
     * the node ends, that name refers to nothing. */
    if (anchor)
        json_object_del(c->anchors, anchor);
    frame_t *f = &c->stack[c->depth++];
    *f = (frame_t){.v = map ? json_object() : json_array(),
                   .anchor = anchor ? berth_strdup(anchor) : NULL,
                   .nodes_at = at};
    return 0;
}

static int close_collection(ctx_t *c)
{
    frame_t *f = &c->stack[--c->depth];
    json_t *v = f->v;
    remember(c, f->anchor, v, c->nodes - f->nodes_at);
    berth_free(f->anchor);
    *f = (frame_t){0};
    place(c, v);
    return 0;
}

static int on_event(ctx_t *c, const yaml_event_t *e)
{
    if (wants_key(c) && e->type != YAML_MAPPING_END_EVENT)
        return on_key(c, e);
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (c->have_doc)
            return fail(c, e->start_mark, "a second YAML document (one is expected)");
        c->have_doc = true;
        return 0;
    case YAML_SCALAR_EVENT: {
        if (count(c, 1, e->start_mark) < 0)
            return -1;
        json_t *v = scalar(c, e);
        if (v == NULL)
            return -1;
        remember(c, (const char *)e->data.scalar.anchor, v, 1);
        place(c, v);
        return 0;
    }
    case YAML_ALIAS_EVENT: {
        const char *a = (const char *)e->data.alias.anchor;
        json_t *ent = json_object_get(c->anchors, a);
        if (ent == NULL)
            return fail(c, e->start_mark,
                        "alias *%.128s: no complete node has that anchor before it", a);
        if (count(c, (size_t)json_integer_value(json_array_get(ent, 1)), e->start_mark) < 0)
            return -1;
        place(c, json_deep_copy(json_array_get(ent, 0)));
        return 0;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return open_collection(c, e, e->type == YAML_MAPPING_START_EVENT);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(c);
    default:
        return 0;
    }
}

static void syntax_error(ctx_t *c, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_READER_ERROR) {
        /* the reader (encoding) knows only a byte offset */
        berth_err_make(c->err, EINVAL, BERTH_ERR_INVALID, "%s: byte %zu: %s", c->name,
                       p->problem_offset, problem);
    } else if (p->context) {
        fail(c, p->problem_mark, "%s (%s, at %zu:%zu)", problem, p->context,
             p->context_mark.line + 1, p->context_mark.column + 1);
    } else {
        fail(c, p->problem_mark, "%s", problem);
    }
}

json_t *berth_yamljson_parse(const char *name, const char *text, size_t len,
                             const berth_yamljson_limits_t *limits, berth_err_t *err)
{
    ctx_t c = {
            .name = name,
            .err = err,
            .max_depth = limits && limits->max_depth ? limits->max_depth : BERTH_YAMLJSON_MAX_DEPTH,
            .max_nodes = limits && limits->max_nodes ? limits->max_nodes : BERTH_YAMLJSON_MAX_NODES,
            .anchors = json_object(),
    };
    c.stack = berth_calloc(c.max_depth, sizeof(frame_t));
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        abort(); /* libyaml's allocation failed: berth's rule for exhaustion */
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = -1;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            syntax_error(&c, &p);
            break;
        }
        bool end = e.type == YAML_STREAM_END_EVENT;
        rc = on_event(&c, &e);
        yaml_event_delete(&e);
        if (rc < 0 || end)
            break;
    }
    if (rc == 0 && !c.have_doc)
        rc = berth_err_make(err, EINVAL, BERTH_ERR_INVALID, "%s: no YAML document", name);
    yaml_parser_delete(&p);
    for (unsigned i = 0; i < c.depth; i++) {
        json_decref(c.stack[i].v);
        berth_free(c.stack[i].key);
        berth_free(c.stack[i].anchor);
    }
    berth_free(c.stack);
    json_decref(c.anchors);
    if (rc < 0 && c.root) {
        json_decref(c.root);
        c.root = NULL;
    }
    return c.root;
}
