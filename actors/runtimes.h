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
 * Also decides which of a container's LinuxContainerResources the node can
 * apply, and refuses invalid ones: the result is io/ocispec's plain
 * berth_ocispec_resources_t, which io/ocispec turns into JSON for both
 * config.json (CreateContainer) and the runtimes' `update --resources`
 * (UpdateContainerResources).
 */
#ifndef BERTH_ACTORS_RUNTIMES_H
#define BERTH_ACTORS_RUNTIMES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "io/cgroups.h"
#include "io/ocispec.h"
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

/* The handler names Status reports in runtime_handlers: each configured
 * handler (handlers: NULL-terminated, borrowed; NULL for none), then "",
 * the CRI's name for the default handler, so the default is listed under
 * both (critest asks for the features of handler "" unless told a name).
 * Returns an owned NULL-terminated array (berth_free) of pointers borrowed
 * from handlers or static; *n is their count. Pure: any thread. */
const char **berth_runtimes_status_names(char *const *handlers, size_t *n);

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

/* The same as berth_ocispec_resources_json (the update file's text), kept
 * for the callers that have it (tests/fuzz). Returned owned (berth_free). */
char *berth_runtimes_update_json(const berth_ocispec_resources_t *res);

/* A LinuxContainerResources fitted to the node's controllers, as the OCI
 * limits. res's strings stay borrowed from the request; its hugepages and
 * unified arrays are owned (fini frees them). CRI zero values ("leave as
 * is" for an update) stay zero, which the JSON leaves out. res.pids_limit
 * stays 0: the CRI has no pids field (CreateContainer sets berth's own when
 * `pids`). The request's oom_score_adj is a process setting, not a limit:
 * the caller reads it from the request. */
typedef struct berth_resources_fit {
    berth_ocispec_resources_t res;
    bool devices;      /* device rules (linux.resources.devices) can be applied */
    bool pids;         /* a pids limit can be applied */
    unsigned ndropped; /* limits left out because the node lacks their controller */
    char dropped[400]; /* which and why, "" when none: "hugepage_limits[2MB] (no hugetlb ...)" */
} berth_resources_fit_t;

/* Checks the limits in `in` (borrowed, NULL for none) and fits them to the
 * node described by cg (borrowed; NULL: nothing is known of the node and
 * every limit is kept). A limit whose controller the node lacks is left out
 * (counted in ndropped and berth_runtimes_dropped_limits): runc and crun
 * fail the whole container on a limit they cannot apply ("cannot set hugetlb
 * limit"), the kubelet sends hugepage limits to every node, and on v1 or
 * hybrid nodes the cgroup2-only `unified` map never applies. An invalid
 * limit (a negative memory limit, a CPU quota under 1 ms, a cpuset that does
 * not parse, a huge page size the kernel does not have while the node has
 * hugetlb) fails with -1 and *err (INVALID_ARGUMENT naming the field); *out
 * is then left empty. Pure: any thread. */
int berth_runtimes_fit_resources(const berth_cgroups_info_t *cg,
                                 const Runtime__V1__LinuxContainerResources *in,
                                 berth_resources_fit_t *out, berth_err_t *err);
void berth_resources_fit_fini(berth_resources_fit_t *f);

/* Only the checks of berth_runtimes_fit_resources (same errors), for a
 * request's arrival: counts nothing. Pure: any thread. */
int berth_runtimes_check_resources(const berth_cgroups_info_t *cg,
                                   const Runtime__V1__LinuxContainerResources *in,
                                   berth_err_t *err);

/* How many limits berth_runtimes_fit_resources left out since start (a
 * counter for Status; relaxed, approximate under concurrency). Any thread. */
uint64_t berth_runtimes_dropped_limits(void);

#endif
