/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for conf/toml.c: every value type, the redefinition rules,
 * error positions, document-order iteration and node source lines.
 */
#include <math.h>
#include <string.h>

#include "conf/toml.h"
#include "engine/alloc.h"
#include "tap.h"

static berth_toml_node_t *parse(const char *s, char **errmsg)
{
    berth_err_t err = NULL;
    berth_toml_node_t *r = berth_toml_parse(s, strlen(s), "t.toml", &err);
    if (errmsg)
        *errmsg = err ? berth_strdup(err->msg) : NULL;
    berth_err_free(&err);
    return r;
}

static bool valid(const char *s)
{
    berth_toml_node_t *r = parse(s, NULL);
    berth_toml_free(r);
    return r != NULL;
}

/* Parses an invalid document; checks the message starts with the position. */
static bool invalid_at(const char *s, const char *pos, const char *needle)
{
    char *msg = NULL;
    berth_toml_node_t *r = parse(s, &msg);
    bool good =
            !r && msg && strncmp(msg, pos, strlen(pos)) == 0 && (!needle || strstr(msg, needle));
    if (!good)
        printf("# got: %s\n", msg ? msg : "(parsed)");
    berth_toml_free(r);
    berth_free(msg);
    return good;
}

static void test_scalars(void)
{
    const char *doc = "s = \"a\\tb\\u00e9\\U0001F600\\\"\"\n"
                      "l = 'C:\\x'\n"
                      "ml = \"\"\"\nx \\\n    y\"\"\"\n"
                      "mll = '''\nraw\\n'''\n"
                      "q = \"\"\"\"\"x\"\"\"\"\"\n"
                      "nul = \"a\\u0000b\"\n"
                      "i = -1_000\nh = 0xDEAD_beef\no = 0o755\nb = 0b1010\n"
                      "max = 9223372036854775807\nmin = -9223372036854775808\n"
                      "f = 6.626e-34\ng = -0.5\ninf1 = -inf\nnan1 = nan\ne = 1E+2\n"
                      "t = true\nff = false\n"
                      "odt = 1979-05-27T07:32:00.999-07:00\n"
                      "ldt = 1979-05-27 07:32:00\n"
                      "ld = 2024-02-29\n"
                      "lt = 07:32:00.123456789999\n";
    char *msg = NULL;
    berth_toml_node_t *r = parse(doc, &msg);
    ok(r != NULL, "scalar document parses (%s)", msg ? msg : "ok");
    berth_free(msg);
    if (!r)
        return;
    size_t len;
    ok(strcmp(berth_toml_string(berth_toml_get(r, "s"), NULL), "a\tb\xc3\xa9\xf0\x9f\x98\x80\"") ==
               0,
       "basic string escapes incl. \\u and \\U");
    ok(strcmp(berth_toml_string(berth_toml_get(r, "l"), NULL), "C:\\x") == 0,
       "literal string keeps backslashes");
    ok(strcmp(berth_toml_string(berth_toml_get(r, "ml"), NULL), "x y") == 0,
       "multi-line: first newline trimmed, line-ending backslash joins");
    ok(strcmp(berth_toml_string(berth_toml_get(r, "mll"), NULL), "raw\\n") == 0,
       "multi-line literal keeps escapes and newlines");
    ok(strcmp(berth_toml_string(berth_toml_get(r, "q"), NULL), "\"\"x\"\"") == 0,
       "up to two quotes next to the delimiters");
    const char *nul = berth_toml_string(berth_toml_get(r, "nul"), &len);
    ok(len == 3 && memcmp(nul, "a\0b", 3) == 0, "\\u0000 kept with exact length");
    ok(berth_toml_int(berth_toml_get(r, "i")) == -1000, "decimal with underscores");
    ok(berth_toml_int(berth_toml_get(r, "h")) == 0xDEADBEEF, "hex");
    ok(berth_toml_int(berth_toml_get(r, "o")) == 0755, "octal");
    ok(berth_toml_int(berth_toml_get(r, "b")) == 10, "binary");
    ok(berth_toml_int(berth_toml_get(r, "max")) == INT64_MAX &&
               berth_toml_int(berth_toml_get(r, "min")) == INT64_MIN,
       "64-bit limits");
    ok(berth_toml_float(berth_toml_get(r, "f")) == 6.626e-34 &&
               berth_toml_float(berth_toml_get(r, "g")) == -0.5 &&
               berth_toml_float(berth_toml_get(r, "e")) == 100.0,
       "floats with fraction and exponent");
    ok(isinf(berth_toml_float(berth_toml_get(r, "inf1"))) &&
               berth_toml_float(berth_toml_get(r, "inf1")) < 0 &&
               isnan(berth_toml_float(berth_toml_get(r, "nan1"))),
       "inf and nan");
    ok(berth_toml_bool(berth_toml_get(r, "t")) && !berth_toml_bool(berth_toml_get(r, "ff")) &&
               berth_toml_type(berth_toml_get(r, "ff")) == BERTH_TOML_BOOL,
       "booleans");
    char buf[64];
    const berth_toml_node_t *n = berth_toml_get(r, "odt");
    berth_toml_datetime_format(n, buf, sizeof(buf));
    ok(berth_toml_type(n) == BERTH_TOML_DATETIME &&
               strcmp(buf, "1979-05-27T07:32:00.999-07:00") == 0 &&
               berth_toml_datetime(n)->offset_minutes == -420,
       "offset date-time (%s)", buf);
    n = berth_toml_get(r, "ldt");
    berth_toml_datetime_format(n, buf, sizeof(buf));
    ok(berth_toml_type(n) == BERTH_TOML_DATETIME_LOCAL && strcmp(buf, "1979-05-27T07:32:00") == 0,
       "local date-time with space delimiter (%s)", buf);
    n = berth_toml_get(r, "ld");
    berth_toml_datetime_format(n, buf, sizeof(buf));
    ok(berth_toml_type(n) == BERTH_TOML_DATE_LOCAL && strcmp(buf, "2024-02-29") == 0,
       "local date, leap day");
    n = berth_toml_get(r, "lt");
    berth_toml_datetime_format(n, buf, sizeof(buf));
    ok(berth_toml_type(n) == BERTH_TOML_TIME_LOCAL && strcmp(buf, "07:32:00.123456789") == 0,
       "local time, fraction truncated to ns (%s)", buf);
    berth_toml_free(r);
}

static void test_structure(void)
{
    const char *doc = "z = 1\n"
                      "a = [1, 'two', 3.0, [4], {five = 5},]\n"
                      "[t]\n"
                      "x.y.z = 1\n"
                      "x.y.w = 2\n"
                      "\"quoted key\".'lit' = 3\n"
                      "[[arr]]\n"
                      "n = 1\n"
                      "[arr.sub]\n"
                      "k = 1\n"
                      "[[arr]]\n"
                      "n = 2\n";
    berth_toml_node_t *r = parse(doc, NULL);
    ok(r != NULL, "structured document parses");
    if (!r)
        return;
    const berth_toml_node_t *c = berth_toml_first(r);
    const char *order[] = {"z", "a", "t", "arr"};
    bool inorder = true;
    for (size_t i = 0; i < 4; i++, c = berth_toml_next(c))
        inorder = inorder && c && strcmp(berth_toml_key(c, NULL), order[i]) == 0;
    ok(inorder && c == NULL, "iteration in document order");
    const berth_toml_node_t *a = berth_toml_get(r, "a");
    ok(berth_toml_count(a) == 5 && berth_toml_type(berth_toml_at(a, 1)) == BERTH_TOML_STRING &&
               berth_toml_type(berth_toml_at(a, 3)) == BERTH_TOML_ARRAY &&
               berth_toml_int(berth_toml_get(berth_toml_at(a, 4), "five")) == 5,
       "mixed-type array with trailing comma");
    ok(berth_toml_int(berth_toml_get_path(r, "t.x.y.w")) == 2, "dotted keys build tables");
    ok(berth_toml_int(
               berth_toml_get(berth_toml_get(berth_toml_get(r, "t"), "quoted key"), "lit")) == 3,
       "quoted keys");
    const berth_toml_node_t *arr = berth_toml_get(r, "arr");
    ok(berth_toml_count(arr) == 2 &&
               berth_toml_int(berth_toml_get_path(berth_toml_at(arr, 0), "sub.k")) == 1 &&
               berth_toml_int(berth_toml_get(berth_toml_at(arr, 1), "n")) == 2,
       "array of tables with sub-table on the last element");
    ok(berth_toml_line(berth_toml_get(r, "z")) == 1 && berth_toml_line(arr) == 7 &&
               berth_toml_line(berth_toml_get_path(r, "t.x.y.w")) == 5 &&
               berth_toml_line(berth_toml_get(r, "t")) == 3,
       "nodes keep their source line");
    ok(berth_toml_get(r, "missing") == NULL && berth_toml_get(a, "x") == NULL &&
               berth_toml_at(a, 9) == NULL && berth_toml_string(a, NULL) == NULL,
       "lookups fail cleanly");
    berth_toml_free(r);

    ok(valid("[a.b.c]\n[a]\n[a.b]\n"), "implicit tables may be defined later");
    ok(valid("[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true\n"),
       "sub-table under a dotted-key table");
    ok(valid(""), "empty document");
    ok(valid("\xEF\xBB\xBFk = 1\r\n# comment \xc3\xa9\r\n"), "BOM, CRLF, UTF-8 comment");
}

static void test_redefinition(void)
{
    ok(invalid_at("[a]\nb = 1\n[a]\n", "t.toml:3:1:", "already defined"), "defining a table twice");
    ok(invalid_at("a = 1\na = 2\n", "t.toml:2:1:", "duplicate key 'a'"), "duplicate key");
    ok(invalid_at("[fruit]\napple.color = 1\n[fruit.apple]\n", "t.toml:3:1:", "dotted"),
       "header over a dotted-key table");
    ok(invalid_at("[a.b]\n[a]\nb.c = 1\n", "t.toml:3:1:", "cannot add keys to 'b'"),
       "dotted keys into a header table");
    ok(invalid_at("a = {b = 1}\na.c = 2\n", "t.toml:2:1:", "inline"),
       "inline tables are immutable (dotted)");
    ok(invalid_at("a = {b = 1}\n[a.c]\n", "t.toml:2:2:", "inline"),
       "inline tables are immutable (header)");
    ok(invalid_at("a = [1]\n[[a]]\n", "t.toml:2:1:", "static"), "static arrays not appendable");
    ok(invalid_at("[[a]]\n[a]\n", "t.toml:2:1:", NULL), "table over an array of tables");
    ok(invalid_at("a = 1\n[a]\n", "t.toml:2:1:", "as a value"), "table over a value");
    ok(invalid_at("a.b = 1\na.b.c = 2\n", "t.toml:2:3:", "an integer"),
       "dotted key through a value");
    ok(invalid_at("a = {b = {c = 1}, b.d = 2}\n", "t.toml:1:19:", NULL),
       "inline table inside inline table sealed");
}

static void test_errors(void)
{
    ok(invalid_at("a = 1\nb = \"x\n", "t.toml:2:5:", "unterminated"), "unterminated string");
    ok(invalid_at("a = 1\n  b = \"\\q\"\n", "t.toml:2:8:", "escape"), "bad escape position");
    ok(invalid_at("k = \"\\x41\"\n", "t.toml:1:6:", "escape"), "\\x is TOML 1.1 only");
    ok(invalid_at("k = 'a\x01'\n", "t.toml:1:7:", "control"), "control character refused");
    ok(invalid_at("k = \"\xc3\xa9\xff\"\n", "t.toml:1:7:", "UTF-8"),
       "invalid UTF-8 (column counts code points)");
    ok(invalid_at("k = \"\xed\xa0\x80\"\n", "t.toml:1:6:", NULL), "surrogate refused");
    ok(invalid_at("a = 01\n", "t.toml:1:5:", "invalid number"), "leading zero");
    ok(invalid_at("a = 1__0\n", "t.toml:1:5:", NULL), "double underscore");
    ok(invalid_at("a = 9223372036854775808\n", "t.toml:1:5:", "64 bits"), "integer overflow");
    ok(invalid_at("a = +0x1\n", "t.toml:1:5:", NULL), "sign on hex");
    ok(invalid_at("a = 1.\n", "t.toml:1:5:", NULL), "float without fraction digits");
    ok(invalid_at("a = .5\n", "t.toml:1:5:", NULL), "float without int part");
    ok(invalid_at("d = 2023-02-29\n", "t.toml:1:5:", "out of range"), "no 29 Feb in 2023");
    ok(invalid_at("d = 12:30\n", "t.toml:1:5:", "seconds"), "seconds required in 1.0");
    ok(invalid_at("a = 1 b = 2\n", "t.toml:1:7:", "end of line"), "two pairs on one line");
    ok(invalid_at("a = {b = 1,}\n", "t.toml:1:12:", NULL), "no trailing comma in inline table");
    ok(invalid_at("a = {b = 1,\nc = 2}\n", "t.toml:1:12:", NULL), "no newline in inline table");
    ok(invalid_at("a = [1 2]\n", "t.toml:1:8:", "expected ','"), "array needs commas");
    ok(invalid_at("[a\n", "t.toml:1:3:", "close"), "unclosed header");
    ok(invalid_at("= 1\n", "t.toml:1:1:", "expected a key"), "missing key");
    ok(invalid_at("a =\n", "t.toml:1:4:", "expected a value"), "missing value");
    ok(invalid_at("a = \"\"\"x\"\"\"\"\"\"\n", "t.toml:1:9:", "quotes"), "six closing quotes");
    ok(invalid_at("a = 1\rb = 2\n", "t.toml:1:6:", "carriage return"), "bare CR");
    char deep[600];
    size_t n = 0;
    memcpy(deep, "a = ", 4), n = 4;
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    ok(invalid_at(deep, "t.toml:1:", "nested"), "nesting limit instead of stack overflow");
}

int main(void)
{
    test_scalars();
    test_structure();
    test_redefinition();
    test_errors();
    return tap_done();
}
