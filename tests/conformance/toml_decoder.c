/* SPDX-License-Identifier: Apache-2.0 */
/*
 * toml-test decoder: reads TOML on stdin, prints toml-test's tagged JSON
 * ({"type": ..., "value": ...} for every scalar) on stdout, and exits 1 with
 * the parser's message on stderr when the document is invalid. A test tool
 * only; berthd never links it.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/toml.h"
#include "engine/alloc.h"
#include "engine/err.h"

static json_t *tagged(const char *type, const char *value)
{
    return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static json_t *convert(const berth_toml_node_t *n)
{
    char buf[64];
    switch (berth_toml_type(n)) {
    case BERTH_TOML_TABLE: {
        json_t *o = json_object();
        for (const berth_toml_node_t *c = berth_toml_first(n); c; c = berth_toml_next(c)) {
            size_t len;
            const char *key = berth_toml_key(c, &len);
            json_object_setn_new_nocheck(o, key, len, convert(c));
        }
        return o;
    }
    case BERTH_TOML_ARRAY: {
        json_t *a = json_array();
        for (const berth_toml_node_t *c = berth_toml_first(n); c; c = berth_toml_next(c))
            json_array_append_new(a, convert(c));
        return a;
    }
    case BERTH_TOML_STRING: {
        size_t len;
        const char *s = berth_toml_string(n, &len);
        return json_pack("{s:s, s:s%}", "type", "string", "value", s, len);
    }
    case BERTH_TOML_INTEGER:
        snprintf(buf, sizeof(buf), "%lld", (long long)berth_toml_int(n));
        return tagged("integer", buf);
    case BERTH_TOML_FLOAT: {
        double f = berth_toml_float(n);
        if (isnan(f))
            snprintf(buf, sizeof(buf), "nan");
        else if (isinf(f))
            snprintf(buf, sizeof(buf), "%sinf", f < 0 ? "-" : "");
        else
            snprintf(buf, sizeof(buf), "%.17g", f);
        return tagged("float", buf);
    }
    case BERTH_TOML_BOOL:
        return tagged("bool", berth_toml_bool(n) ? "true" : "false");
    case BERTH_TOML_DATETIME:
    case BERTH_TOML_DATETIME_LOCAL:
    case BERTH_TOML_DATE_LOCAL:
    case BERTH_TOML_TIME_LOCAL: {
        static const char *names[] = {"datetime", "datetime-local", "date-local", "time-local"};
        berth_toml_datetime_format(n, buf, sizeof(buf));
        return tagged(names[berth_toml_type(n) - BERTH_TOML_DATETIME], buf);
    }
    }
    return json_null();
}

int main(void)
{
    size_t cap = 4096, len = 0;
    char *data = berth_malloc(cap);
    size_t r;
    while ((r = fread(data + len, 1, cap - len, stdin)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            data = berth_realloc(data, cap);
        }
    }
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_toml_node_t *root = berth_toml_parse(data, len, "<stdin>", &err);
    berth_free(data);
    if (!root) {
        fprintf(stderr, "%s\n", err->msg);
        return 1;
    }
    json_t *j = convert(root);
    berth_toml_free(root);
    json_dumpf(j, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(j);
    return 0;
}
