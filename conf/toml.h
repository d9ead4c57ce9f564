/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A complete TOML 1.0 parser: a buffer becomes an immutable tree of nodes
 * that keeps document order and the source line and column of every node, so
 * the configuration layer can name file:line in its diagnostics. It never
 * touches files or global state; any thread may parse, and a finished tree is
 * read-only and may be shared between threads.
 */
#ifndef BERTH_CONF_TOML_H
#define BERTH_CONF_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

typedef enum berth_toml_type {
    BERTH_TOML_TABLE = 0,
    BERTH_TOML_ARRAY,
    BERTH_TOML_STRING,
    BERTH_TOML_INTEGER,
    BERTH_TOML_FLOAT,
    BERTH_TOML_BOOL,
    BERTH_TOML_DATETIME,       /* offset date-time */
    BERTH_TOML_DATETIME_LOCAL, /* local date-time */
    BERTH_TOML_DATE_LOCAL,
    BERTH_TOML_TIME_LOCAL,
} berth_toml_type_t;

typedef struct berth_toml_datetime {
    int year, month, day;     /* unused for a local time */
    int hour, minute, second; /* unused for a local date */
    int nanosecond;           /* fraction truncated to nanoseconds */
    int frac_digits;          /* digits written in the source (0..9) */
    int offset_minutes;       /* offset date-time only; Z is 0 */
} berth_toml_datetime_t;

typedef struct berth_toml_node berth_toml_node_t;

/* Parses len bytes of TOML (need not be NUL-terminated). filename is used in
 * error messages only ("<file>:<line>:<col>: <what>"); it may be NULL. Returns
 * the owned root table, or NULL with *err set (INVALID). */
berth_toml_node_t *berth_toml_parse(const char *buf, size_t len, const char *filename,
                                    berth_err_t *err);
/* Frees a tree returned by berth_toml_parse; NULL-safe. */
void berth_toml_free(berth_toml_node_t *root);

berth_toml_type_t berth_toml_type(const berth_toml_node_t *n);
/* "table", "array", "string", "integer", "float", "boolean", "offset date-time",
 * "local date-time", "local date", "local time". */
const char *berth_toml_type_name(berth_toml_type_t t);
/* Source position of the node: where its key (or, for array elements and the
 * root, its value) starts. 1-based; columns count code points. */
unsigned berth_toml_line(const berth_toml_node_t *n);
unsigned berth_toml_column(const berth_toml_node_t *n);
/* The node's key inside its parent table; NULL for array elements and the
 * root. Keys may hold NUL (from \u0000): *len (if non-NULL) is exact. */
const char *berth_toml_key(const berth_toml_node_t *n, size_t *len);
const berth_toml_node_t *berth_toml_parent(const berth_toml_node_t *n);

/* Iteration in document order over a table's entries or an array's elements:
 * first child (NULL when empty or not a container), then next sibling. */
const berth_toml_node_t *berth_toml_first(const berth_toml_node_t *n);
const berth_toml_node_t *berth_toml_next(const berth_toml_node_t *n);
size_t berth_toml_count(const berth_toml_node_t *n);

/* Lookups; NULL when absent or when the container has another type. */
const berth_toml_node_t *berth_toml_get(const berth_toml_node_t *table, const char *key);
const berth_toml_node_t *berth_toml_getn(const berth_toml_node_t *table, const char *key,
                                         size_t len);
/* Follows "a.b.c" through tables (bare key segments only, no quoting). */
const berth_toml_node_t *berth_toml_get_path(const berth_toml_node_t *table, const char *path);
const berth_toml_node_t *berth_toml_at(const berth_toml_node_t *array, size_t i);

/* Typed reads. Each returns its zero value (NULL/0/false) on a type mismatch. */
const char *berth_toml_string(const berth_toml_node_t *n, size_t *len);
int64_t berth_toml_int(const berth_toml_node_t *n);
double berth_toml_float(const berth_toml_node_t *n);
bool berth_toml_bool(const berth_toml_node_t *n);
const berth_toml_datetime_t *berth_toml_datetime(const berth_toml_node_t *n);

/* Formats a date/time node's value in RFC 3339 form into buf (always NUL-
 * terminated); returns the length it needed, like snprintf. */
int berth_toml_datetime_format(const berth_toml_node_t *n, char *buf, size_t size);

#endif
