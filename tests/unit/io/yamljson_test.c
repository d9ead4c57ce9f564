/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for io/yamljson.c: the types plain scalars resolve to (octal
 * file modes, int64 edges, what stays a string), tags, anchors and aliases,
 * block and flow forms giving the same JSON, and every refusal with its
 * name:line:column: syntax errors, depth, an alias bomb, cycles, duplicate
 * and merge keys, several documents or none.
 */
#include <string.h>

#include "engine/alloc.h"
#include "io/yamljson.h"
#include "tests/unit/check.h"

/* text parses to the JSON expect names. */
static bool same(const char *text, const char *expect)
{
    berth_err_t err = NULL;
    json_t *got = berth_yamljson_parse("t.yaml", text, strlen(text), NULL, &err);
    json_t *want = json_loads(expect, JSON_DECODE_ANY, NULL);
    bool r = got && want && json_equal(got, want);
    if (!r) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        printf("# got: %s\n", g ? g : err ? err->msg : "(null)");
        berth_free(g);
    }
    if (got)
        json_decref(got);
    if (want)
        json_decref(want);
    berth_err_free(&err);
    return r;
}

/* text is refused with a message holding the file, the position "L:C:"
 * (when pos is not NULL) and needle. */
static bool refused_with(const char *text, size_t len, const berth_yamljson_limits_t *lim,
                         const char *pos, const char *needle)
{
    berth_err_t err = NULL;
    json_t *got = berth_yamljson_parse("t.yaml", text, len, lim, &err);
    BERTH_AUTO_FREE char *where = pos ? berth_asprintf("t.yaml:%s:", pos) : berth_strdup("t.yaml");
    bool r = got == NULL && err && err->kind == BERTH_ERR_INVALID && strstr(err->msg, where) &&
             strstr(err->msg, needle);
    if (!r)
        printf("# got: %s\n", err ? err->msg : "(accepted)");
    if (got)
        json_decref(got);
    berth_err_free(&err);
    return r;
}

static bool refused(const char *text, const char *pos, const char *needle)
{
    return refused_with(text, strlen(text), NULL, pos, needle);
}

int main(void)
{
    ok(same("a: 1\nb: '1'\nc: 0644\nd: 0x1F\ne: 0o17\nf: -0b101\ng: +12\n",
            "{\"a\":1,\"b\":\"1\",\"c\":420,\"d\":31,\"e\":15,\"f\":-5,\"g\":12}"),
       "integers: decimal, quoted stays a string, 1.1 octal 0644, 0x, 0o, 0b, signs");
    ok(same("- 9223372036854775807\n- -9223372036854775808\n- 9223372036854775808\n- 08\n",
            "[9223372036854775807,-9223372036854775808,\"9223372036854775808\",\"08\"]"),
       "int64 edges; past them a string, and 08 (no octal, no float) too");
    ok(same("[true, False, TRUE, yes, no, on, ~, null, NULL, nil, 1.5, -.5, 2e3, .inf, .nan, "
            "1.2.3, 0.6.0, '', \"x\"]",
            "[true,false,true,\"yes\",\"no\",\"on\",null,null,null,\"nil\",1.5,-0.5,2000.0,"
            "\".inf\",\".nan\",\"1.2.3\",\"0.6.0\",\"\",\"x\"]"),
       "booleans and null of YAML 1.2's core schema; yes/no/on, inf and nan stay strings");
    ok(same("k:\nl: \"\"\n", "{\"k\":null,\"l\":\"\"}"),
       "an empty value is null, an empty quoted one a string");
    ok(same("- !!str 12\n- !!int \"12\"\n- !!float 1\n- !!bool true\n- !!null ''\n- ! 12\n",
            "[\"12\",12,1.0,true,null,\"12\"]"),
       "the core tags; the non-specific ! keeps a string");
    ok(same("a: |\n  line1\n  line2\nb: >-\n  folded\n  text\nc: \"tab\\there\\u00e9\"\n",
            "{\"a\":\"line1\\nline2\\n\",\"b\":\"folded text\",\"c\":\"tab\\there\\u00e9\"}"),
       "block literals, folded scalars and escapes");
    ok(same("x: {a: [1, {b: c}], 'd e': f}", "{\"x\":{\"a\":[1,{\"b\":\"c\"}],\"d e\":\"f\"}}") &&
               same("x:\n  a:\n  - 1\n  - b: c\n  d e: f\n",
                    "{\"x\":{\"a\":[1,{\"b\":\"c\"}],\"d e\":\"f\"}}"),
       "flow and block forms give the same JSON");
    ok(same("d: &n {path: /dev/x, major: 1}\ne: [*n, *n]\nk: &s v\nl: *s\n",
            "{\"d\":{\"path\":\"/dev/x\",\"major\":1},\"e\":[{\"path\":\"/dev/x\",\"major\":1},"
            "{\"path\":\"/dev/x\",\"major\":1}],\"k\":\"v\",\"l\":\"v\"}"),
       "aliases repeat their anchor's node");
    ok(same("a: &x 1\nb: &x 2\nc: *x\n", "{\"a\":1,\"b\":2,\"c\":2}"),
       "an alias refers to the latest anchor of its name");
    ok(same("%YAML 1.1\n---\n- 1\n...\n", "[1]"), "a directive and explicit document markers");
    ok(same("just text", "\"just text\""), "a scalar document");
    ok(same("\xef\xbb\xbfk: v\n", "{\"k\":\"v\"}"), "a UTF-8 byte order mark");

    /* refusals, each with the file and where */
    ok(refused("a: [1, 2\nb: 3\n", NULL, "t.yaml:"), "a syntax error names the file");
    ok(refused("a: b\n  c: d\n", "2:4", "mapping values are not allowed"),
       "a syntax error says line and column");
    ok(refused("k: v\nk: w\n", "2:1", "duplicate key \"k\""), "a duplicate key");
    ok(refused("a: 1\n---\nb: 2\n", "2:1", "second YAML document"), "two documents");
    ok(refused("", NULL, "no YAML document"), "an empty stream");
    ok(refused("# only a comment\n", NULL, "no YAML document"), "a stream of comments");
    ok(refused("base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n", "3:3", "merge keys"),
       "a merge key is refused rather than kept as a key \"<<\"");
    ok(refused("? [a, b]\n: c\n", "1:3", "key must be a scalar"), "a sequence as a key");
    ok(refused("a: *nope\n", "1:4", "alias *nope"), "an alias to no anchor");
    ok(refused("a: &loop [1, *loop]\n", "1:14", "alias *loop"),
       "an alias inside its own anchor (a cycle)");
    ok(refused("a: !vendor/thing x\n", "1:4", "tag !vendor/thing is not supported"),
       "a custom tag");
    ok(refused("a: !!int twelve\n", "1:4", "not a valid !!int"), "!!int on a non-number");
    ok(refused("a: !!set {x}\n", "1:4", "not supported"), "a collection tag other than seq/map");
    ok(refused_with("\"a\\0b\": 1\n", 10, NULL, "1:1", "NUL"), "a key with a NUL");
    ok(refused_with("k: \xff\xfe\n", 6, NULL, NULL, "byte"),
       "invalid UTF-8: the reader's byte offset");

    /* depth: 64 levels pass, 65 do not */
    char deep[200];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    berth_err_t err = NULL;
    json_t *v = berth_yamljson_parse("t.yaml", deep, strlen(deep), NULL, &err);
    ok(v != NULL, "64 nested sequences");
    if (v)
        json_decref(v);
    berth_err_free(&err);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    ok(refused(deep, "1:65", "nested deeper than 64 levels"), "65 nested sequences");
    BERTH_AUTO_FREE char *very = berth_malloc(200001);
    memset(very, '[', 200000);
    very[200000] = '\0';
    ok(refused(very, "1:65", "nested deeper"), "200000 open brackets: refused at 65, no recursion");
    berth_yamljson_limits_t shallow = {.max_depth = 2};
    ok(refused_with("a: {b: {c: 1}}", 14, &shallow, "1:8", "deeper than 2"), "a smaller max_depth");

    /* a billion laughs: nine levels of ten aliases each */
    char bomb[2048];
    size_t n = (size_t)snprintf(bomb, sizeof(bomb), "a0: &a0 [lol]\n");
    for (int i = 1; i <= 9; i++) {
        n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "a%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "%s*a%d", j ? "," : "", i - 1);
        n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "]\n");
    }
    ok(refused(bomb, NULL, "more than 1048576 nodes once aliases are expanded"),
       "a billion laughs is refused at the node limit");
    berth_yamljson_limits_t few = {.max_nodes = 12};
    ok(refused_with("a: &x [1, 2, 3]\nb: *x\nc: *x\n", 27, &few, "3:4", "more than 12 nodes"),
       "a smaller max_nodes counts aliases expanded");
    ok(refused_with("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]", 39, &few, "1:37", "more than 12"),
       "and plain nodes too");

    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
