/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One YAML document as jansson JSON, so that a file a vendor ships in YAML
 * (a CDI spec: nvidia-ctk writes /etc/cdi/nvidia.yaml) goes through the same
 * checks as its JSON twin. libyaml parses; this module only builds the tree
 * and bounds it. Mappings become objects, sequences arrays, scalars strings,
 * except plain (unquoted, untagged) scalars that YAML resolves to another
 * type:
 *
 *   null, Null, NULL, ~ and the empty scalar      -> null
 *   true, True, TRUE, false, False, FALSE         -> true, false
 *   [-+]? then 0x.. (hex), 0o.. or 0[0-7]+ (octal,
 *   as YAML 1.1 reads `fileMode: 0644`), 0b..,
 *   or decimal digits, fitting an int64           -> integer
 *   decimal floats (1.5, 2e3, -.5)                -> real
 *
 * Anything else (including .inf and .nan, which JSON cannot hold, and
 * YAML 1.1's yes/no/on/off) stays a string. The tags !!str, !!int, !!bool,
 * !!null, !!float, !!seq and !!map are honoured; other tags are refused.
 *
 * Refused, each with "NAME:LINE:COLUMN: why" (INVALID_ARGUMENT): syntax
 * errors; nesting deeper than max_depth; more than max_nodes nodes once
 * aliases are expanded (so a "billion laughs" document fails early, having
 * allocated at most max_nodes nodes); an alias to an unknown anchor (which
 * also rules out cycles: an anchor counts once its node is complete); a
 * duplicate key in a mapping (as the JSON path refuses one); a key that is
 * not a scalar or holds a NUL; merge keys (<<); a stream with no document or
 * with more than one.
 */
#ifndef BERTH_IO_YAMLJSON_H
#define BERTH_IO_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

#include "engine/err.h"

#define BERTH_YAMLJSON_MAX_DEPTH 64
#define BERTH_YAMLJSON_MAX_NODES (1u << 20)

typedef struct berth_yamljson_limits {
    unsigned max_depth; /* sequences and mappings nested; 0: BERTH_YAMLJSON_MAX_DEPTH */
    size_t max_nodes;   /* scalars and collections, aliases expanded; 0: ..._MAX_NODES */
} berth_yamljson_limits_t;

/* Parses the one YAML document of text (len bytes, UTF-8/16; need not be
 * NUL-terminated) into owned JSON. name is the file, for messages; limits
 * may be NULL (the defaults). NULL with *err (INVALID_ARGUMENT) on any of
 * the refusals above. Pure: any thread. */
json_t *berth_yamljson_parse(const char *name, const char *text, size_t len,
                             const berth_yamljson_limits_t *limits, berth_err_t *err);

#endif
