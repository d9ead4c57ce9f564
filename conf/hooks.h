/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI hooks from hooks.d directories (the oci-hooks(5) format, version
 * 1.0.0, as CRI-O and Podman read it): each *.json file names one hook, the
 * stages it runs at and the conditions (`when`) under which a container gets
 * it. The set is loaded with a config snapshot and never changes after; a
 * container's matching hooks are added to its OCI spec's `hooks` object.
 * Every hook berth injects carries a timeout, so the runtime kills a hook
 * that hangs instead of hanging the creation with it.
 */
#ifndef BERTH_CONF_HOOKS_H
#define BERTH_CONF_HOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

/* The timeout (seconds) given to a hook whose file sets none. */
#define BERTH_HOOK_DEFAULT_TIMEOUT 30

typedef struct berth_hook berth_hook_t;

typedef struct berth_hooks {
    berth_hook_t **v; /* in injection order: by file name */
    size_t n;
} berth_hooks_t;

/* What a container offers the `when` conditions. All borrowed. */
typedef struct berth_hooks_ctx {
    const char *const *ann_keys; /* the container's annotations */
    const char *const *ann_values;
    size_t nann;
    const char *command;  /* process.args[0] */
    bool has_bind_mounts; /* the container asked for host mounts */
} berth_hooks_ctx_t;

/* Parses one hook file's text; name is the file name for messages. Returns
 * an owned hook, or NULL with *err (INVALID_ARGUMENT) naming what is wrong.
 * Pure: any thread. */
berth_hook_t *berth_hook_parse(const char *name, const char *text, size_t len, berth_err_t *err);
void berth_hook_free(berth_hook_t *h);

/* Loads every *.json of dirs; a file in a later directory replaces one of
 * the same name in an earlier one (CRI-O's order: /usr/share, then /etc). A
 * missing directory is skipped; an invalid file is skipped with a warning
 * naming it. Never fails. Reads files: not from an actor turn. */
berth_hooks_t *berth_hooks_load(const char *const *dirs, size_t ndirs);
void berth_hooks_free(berth_hooks_t *hs);

/* Adds the hooks matching ctx to `hooks` (the OCI spec's hooks object,
 * stage name -> array), each with a timeout. Returns how many hook entries
 * were added. Pure: any thread. */
size_t berth_hooks_inject(const berth_hooks_t *hs, const berth_hooks_ctx_t *ctx, json_t *hooks);

#endif
