/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container Device Interface (CDI) specs: the JSON or YAML files vendors
 * drop in /etc/cdi and /var/run/cdi that name devices ("vendor.com/class=
 * name") and say what a container using one gets (containerEdits: env,
 * deviceNodes, mounts, hooks). This module parses and checks a spec, finds
 * the specs of the requested devices in the spec directories and gathers
 * their edits; applying them to a container's OCI spec is the caller's.
 *
 * A YAML spec (*.yaml, *.yml) becomes the same JSON as its JSON twin
 * (io/yamljson.h: plain numbers are numbers, `fileMode: 0644` is octal) and
 * goes through the same checks.
 */
#ifndef BERTH_IO_CDI_H
#define BERTH_IO_CDI_H

#include <jansson.h>
#include <stddef.h>

#include "engine/err.h"

/* The gathered edits of some devices: arrays in the CDI spec's own JSON
 * form, checked (every entry has the fields its kind needs, strings where
 * strings belong). Owned by the struct. */
typedef struct berth_cdi_edits {
    json_t *env;          /* "K=V" strings */
    json_t *device_nodes; /* {path, hostPath?, type?, major?, minor?, fileMode?, permissions?} */
    json_t *mounts;       /* {hostPath, containerPath, type?, options?} */
    json_t *hooks;        /* {hookName, path, args?, env?, timeout?} */
} berth_cdi_edits_t;

void berth_cdi_edits_init(berth_cdi_edits_t *e);
void berth_cdi_edits_fini(berth_cdi_edits_t *e);

/* Parses and checks one spec's text (name: the file, for messages).
 * Returns the spec as owned JSON, or NULL with *err (INVALID_ARGUMENT).
 * Pure: any thread. */
json_t *berth_cdi_spec_parse(const char *name, const char *text, size_t len, berth_err_t *err);

/* The same for a YAML spec: one document, converted by io/yamljson.h (its
 * limits; a duplicate key is refused, as in JSON). Messages carry
 * name:line:column. */
json_t *berth_cdi_spec_parse_yaml(const char *name, const char *text, size_t len, berth_err_t *err);

/* Splits a fully qualified name "vendor.com/class=device" into *kind
 * ("vendor.com/class") and *dev, both owned. -1 with *err otherwise. */
int berth_cdi_parse_name(const char *qualified, char **kind, char **dev, berth_err_t *err);

/* Finds each of names (fully qualified) in the specs of dirs (*.json,
 * *.yaml, *.yml) and appends the spec-wide and the device's edits to *out,
 * in the order of names. The CDI spec's precedence: a later directory's
 * spec of a device wins over an earlier one's; two specs of the directory
 * that wins both defining it are a conflict, FAILED_PRECONDITION naming both
 * files. A name found nowhere fails with NOT_FOUND naming it; a malformed
 * name with INVALID_ARGUMENT. Invalid spec files are skipped with a warning
 * naming them. Reads files: the blocking pool only. */
int berth_cdi_resolve(const char *const *dirs, size_t ndirs, const char *const *names,
                      size_t nnames, berth_cdi_edits_t *out, berth_err_t *err);

#endif
