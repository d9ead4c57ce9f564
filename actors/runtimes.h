/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which runtime handlers can run containers on this node, and why not. Built
 * once at start from the configuration and the cgroup layout probe
 * (io/cgroups.h), then installed as an immutable table that the CRI, pods
 * and container actors read without locks: RunPodSandbox and CreateContainer
 * refuse an unusable handler with FAILED_PRECONDITION and the fix, Status
 * reports it. berth never switches handlers behind the operator's back: a
 * default handler that cannot work makes RuntimeReady false instead.
 *
 * Also holds the CRI -> OCI mapping of LinuxContainerResources for the
 * runtimes' `update --resources` (UpdateContainerResources).
 */
#ifndef BERTH_ACTORS_RUNTIMES_H
#define BERTH_ACTORS_RUNTIMES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "io/cgroups.h"
#include "proto/cri.h"

typedef struct berth_runtime_status {
    char *name;    /* the handler name ([crio.runtime.runtimes.NAME]) */
    char *path;    /* the runtime binary as resolved at start; "" when not found */
    bool usable;   /* it can run containers on this node */
    char *reason;  /* CamelCase, "" when usable: "CrunHybridCgroups", "RuntimeNotFound",
                      "NoCgroups" */
    char *message; /* what is wrong and how to fix it, "" when usable */
} berth_runtime_status_t;

typedef struct berth_runtimes {
    berth_cgroups_info_t cgroups; /* the probe the table was built from */
    char *default_handler;
    berth_runtime_status_t *v;
    size_t n;
} berth_runtimes_t;

/* Builds the table for every configured handler from cfg (borrowed) and the
 * probe cg (copied). Looks the binaries up on disk (access(2)): call it on
 * the main thread at start or on the blocking pool. Never fails. */
berth_runtimes_t *berth_runtimes_new(const berth_config_t *cfg, const berth_cgroups_info_t *cg);
void berth_runtimes_free(berth_runtimes_t *r);

/* The status of handler `name`, NULL when it is not configured. */
const berth_runtime_status_t *berth_runtimes_find(const berth_runtimes_t *r, const char *name);

/* Installs r (taken) as the node's table. Call once on the main thread before
 * the actors that read it are spawned; it is never changed or freed after
 * (a restart of berthd re-probes). */
void berth_runtimes_install(berth_runtimes_t *r);
/* The installed table, or NULL (unit tests, tools): then every handler is
 * taken as usable. Any thread. */
const berth_runtimes_t *berth_runtimes_current(void);
/* The installed status of `handler` when it is known to be unusable, else
 * NULL. Any thread. */
const berth_runtime_status_t *berth_runtimes_unusable(const char *handler);

/* {"cgroups": {...}, "handlers": {"NAME": {"usable":..., "path":...,
 * "reason":..., "message":...}}}, for verbose Status. Returned owned. */
json_t *berth_runtimes_json(const berth_runtimes_t *r);

/* The OCI LinuxResources document (runtime-spec config-linux.md) for
 * `<runtime> update --resources FILE`: cpu, memory, hugepageLimits and
 * unified from res; CRI zero values mean "leave as is" and are left out.
 * Returned owned (berth_free). Pure: any thread. */
char *berth_runtimes_update_json(const Runtime__V1__LinuxContainerResources *res);

#endif
