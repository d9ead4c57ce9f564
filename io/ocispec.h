/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime spec generator: berth_ocispec_t is a plain C description of
 * one container (the caller maps the CRI config and the image config into
 * it); this module turns it into config.json with berth's defaults (CRI-O's
 * capability set, the RuntimeDefault seccomp profile, masked and read-only
 * paths, the standard mounts, cgroupfs paths) and the node's limits
 * (oom_score_adj clamp); also the linux.resources limits alone, for a
 * runtime's `update --resources`. And the user and group resolution from
 * the image's own /etc/passwd and /etc/group, which are untrusted input.
 *
 * Holds no domain rules beyond those defaults and never talks to a runtime.
 */
#ifndef BERTH_IO_OCISPEC_H
#define BERTH_IO_OCISPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "io/userns.h"

enum berth_ocispec_seccomp {
    BERTH_SECCOMP_RUNTIME_DEFAULT = 0, /* berth's profile (seccomp_default.h) */
    BERTH_SECCOMP_UNCONFINED,
    BERTH_SECCOMP_LOCALHOST, /* a JSON profile file (OCI/Docker format) */
};

enum berth_ocispec_propagation {
    BERTH_PROPAGATION_PRIVATE = 0, /* rprivate */
    BERTH_PROPAGATION_RSLAVE,
    BERTH_PROPAGATION_RSHARED,
};

enum berth_ocispec_ns_mode {
    BERTH_NS_NEW = 0, /* a namespace of the container's own */
    BERTH_NS_HOST,    /* the node's namespace (entry left out) */
    BERTH_NS_PATH,    /* join the namespace pinned at `path` */
};

typedef struct berth_ocispec_kv {
    const char *key;
    const char *value;
} berth_ocispec_kv_t;

typedef struct berth_ocispec_mount {
    const char *destination; /* absolute path in the container */
    const char *source;
    const char *type;           /* NULL: a bind mount ("bind", options rbind) */
    const char *const *options; /* extra options for non-bind mounts */
    size_t noptions;
    bool readonly;
    int propagation; /* enum berth_ocispec_propagation (bind mounts) */
} berth_ocispec_mount_t;

typedef struct berth_ocispec_device {
    const char *path; /* in the container */
    char type;        /* 'c', 'b', 'p' */
    int64_t major, minor;
    uint32_t file_mode;      /* 0: 0666 */
    const char *permissions; /* cgroup access "rwm" (NULL: "rwm") */
} berth_ocispec_device_t;

typedef struct berth_ocispec_rlimit {
    const char *type; /* "RLIMIT_NOFILE" */
    uint64_t hard, soft;
} berth_ocispec_rlimit_t;

typedef struct berth_ocispec_hugepage {
    const char *page_size; /* "2MB" */
    uint64_t limit;
} berth_ocispec_hugepage_t;

/* The limits of linux.resources (runtime-spec config-linux.md) in plain C:
 * what config.json carries and what `<runtime> update --resources FILE`
 * reads, built by one function (berth_ocispec_resources_build) for both.
 * The caller decides which limits the node can apply and leaves the others
 * at zero. Everything is borrowed; zero (NULL, "", no entries) means "not
 * set" and is left out of the JSON. */
typedef struct berth_ocispec_resources {
    uint64_t cpu_shares;
    int64_t cpu_quota; /* microseconds per period, -1: no limit */
    uint64_t cpu_period;
    const char *cpuset_cpus; /* "0-3,6" */
    const char *cpuset_mems;
    int64_t memory_limit; /* bytes; <= 0: not set */
    int64_t memory_swap;  /* memory+swap bytes, -1: no limit */
    int64_t pids_limit;
    const berth_ocispec_hugepage_t *hugepages;
    size_t nhugepages;
    const berth_ocispec_kv_t *unified; /* cgroup v2 files */
    size_t nunified;
} berth_ocispec_resources_t;

/* Everything is borrowed. Zero means "not set" for every number below
 * unless said otherwise. */
typedef struct berth_ocispec {
    const char *id; /* container id: hostname default, cgroup leaf "berth-<id>" */

    /* process */
    const char *const *args;
    size_t nargs;
    const char *const *env; /* "K=V" */
    size_t nenv;
    const char *cwd; /* NULL: "/" */
    bool terminal;
    uint32_t uid, gid;
    const uint32_t *additional_gids;
    size_t nadditional_gids;
    bool umask_set; /* process.user.umask; unset: the runtime's (0022) */
    uint32_t umask;
    const berth_ocispec_rlimit_t *rlimits;
    size_t nrlimits;
    bool no_new_privs;
    const char *const *cap_add; /* "CAP_SYS_ADMIN", "SYS_ADMIN", "ALL" */
    size_t ncap_add;
    const char *const *cap_drop;
    size_t ncap_drop;
    bool privileged;                  /* all caps, no seccomp, no masked/ro paths, all devices */
    int seccomp;                      /* enum berth_ocispec_seccomp */
    const char *seccomp_profile_path; /* BERTH_SECCOMP_LOCALHOST */
    /* a JSON profile replacing berth's built-in RuntimeDefault one
     * ([crio.runtime] seccomp_profile); NULL or "": the built-in */
    const char *seccomp_default_path;
    /* linux.seccomp.listenerPath: the runtime hands the seccomp notify fd
     * to this unix socket, and the profile's denying rules become
     * SCMP_ACT_NOTIFY so each denial reaches the listener (the notifier) */
    const char *seccomp_listener_path;
    json_t *hooks; /* borrowed: the spec's "hooks" object; NULL: none */
    bool oom_score_adj_set;
    int oom_score_adj; /* clamped up to berthd's own value (see below) */

    /* NULL lists mean the defaults; set *_set with an empty list for none */
    bool masked_paths_set;
    const char *const *masked_paths;
    size_t nmasked_paths;
    bool readonly_paths_set;
    const char *const *readonly_paths;
    size_t nreadonly_paths;

    /* root */
    const char *root_path; /* rootfs, absolute or relative to the bundle */
    bool readonly_rootfs;
    const char *hostname; /* NULL: none set */

    /* mounts: the defaults, then the pod's files, then these (a mount here
     * replaces a default with the same destination) */
    const char *hosts_path;         /* /etc/hosts source, NULL: none */
    const char *resolv_path;        /* /etc/resolv.conf */
    const char *hostname_path;      /* /etc/hostname */
    const char *shm_path;           /* /dev/shm source; NULL: a private 64 MiB tmpfs */
    const char *termination_source; /* host file for the termination message */
    const char *termination_path;   /* its path in the container */
    const berth_ocispec_mount_t *mounts;
    size_t nmounts;

    const berth_ocispec_device_t *devices;
    size_t ndevices;
    const berth_ocispec_kv_t *sysctls;
    size_t nsysctls;
    const berth_ocispec_kv_t *annotations;
    size_t nannotations;

    /* namespaces */
    int net_mode; /* enum berth_ocispec_ns_mode, *_path for BERTH_NS_PATH */
    const char *net_path;
    int ipc_mode;
    const char *ipc_path;
    int uts_mode;
    const char *uts_path;
    int pid_mode;
    const char *pid_path;
    /* A pod's own user namespace (NULL: the node's): joined by path, with
     * its mappings in linux.uidMappings/gidMappings as runtimes expect
     * alongside (runc checks its file ownership against them). */
    const char *user_path;
    const berth_idmaps_t *uid_map, *gid_map;

    /* cgroups (cgroupfs): cgroupsPath = cgroup_parent + "/berth-" + id */
    const char *cgroup_parent; /* NULL: "/berth" */
    bool no_device_rules;      /* the node has no devices controller: no resources.devices */
    /* The limits: `res` as a whole (spec.res = fit.res). The anonymous
     * struct is the same storage under the member names some callers set
     * one by one (spec.memory_limit = ...); both lists must stay identical,
     * which ocispec.c asserts at compile time. */
    union {
        berth_ocispec_resources_t res;
        struct {
            uint64_t cpu_shares;
            int64_t cpu_quota;
            uint64_t cpu_period;
            const char *cpuset_cpus;
            const char *cpuset_mems;
            int64_t memory_limit;
            int64_t memory_swap;
            int64_t pids_limit;
            const berth_ocispec_hugepage_t *hugepages;
            size_t nhugepages;
            const berth_ocispec_kv_t *unified;
            size_t nunified;
        };
    };
} berth_ocispec_t;

/* The default capabilities (CRI-O's), NULL-terminated. */
extern const char *const berth_ocispec_default_caps[];

/* Builds the whole spec. Returns an owned json_t, or NULL with *err (an
 * unknown capability name, a Localhost profile that is missing or not a
 * profile, a relative mount destination...). Blocks only to read a Localhost
 * seccomp profile and /proc/self/oom_score_adj (once, cached): with
 * BERTH_SECCOMP_LOCALHOST call it from the blocking pool. Any thread. */
json_t *berth_ocispec_build(const berth_ocispec_t *spec, berth_err_t *err);

/* The linux.resources object for res alone: cpu, memory, pids,
 * hugepageLimits, unified (device rules are the spec's, not limits). The
 * one mapping of limits to OCI JSON: berth_ocispec_build puts it in
 * config.json, berth_ocispec_resources_json in the update file. Returned
 * owned. Pure: any thread. */
json_t *berth_ocispec_resources_build(const berth_ocispec_resources_t *res);

/* berth_ocispec_resources_build as compact text with sorted keys: the file
 * given to `<runtime> update --resources` ("{}" when nothing is set).
 * Returned owned (berth_free). Pure: any thread. */
char *berth_ocispec_resources_json(const berth_ocispec_resources_t *res);

/* berth_ocispec_build serialised (owned string). */
char *berth_ocispec_to_json(const berth_ocispec_t *spec, berth_err_t *err);

/* The `process` object alone, serialised: exec-sync's --process file. */
char *berth_ocispec_process_json(const berth_ocispec_t *spec, berth_err_t *err);

/* Writes to `path` (0600) the process JSON of an exec in the container whose
 * bundle is `bundle`: its config.json's process (user and supplementary
 * groups, environment, working directory, capabilities, no_new_privileges,
 * rlimits, labels, umask) with argv as the arguments, and a terminal of
 * rows x cols when tty (consoleSize: sized before the command runs). The
 * runtimes differ without it: runc's `exec` starts from the container's
 * process, crun's from scratch (root, no supplementary groups, cwd "/").
 * Blocks: call it from the blocking pool. 0, or -1 with *err. */
int berth_ocispec_exec_process_write(const char *bundle, const char *const *argv, bool tty,
                                     unsigned rows, unsigned cols, const char *path,
                                     berth_err_t *err);

/* Builds the spec and writes <bundle>/config.json atomically. Blocks: call
 * it from the blocking pool (berth_blocking_run) or before the engine runs. */
int berth_ocispec_write(const char *bundle, const berth_ocispec_t *spec, berth_err_t *err);

/* The resolved capability set (bounding = effective = permitted) for spec:
 * an owned, NULL-terminated array of owned "CAP_*" names in capability order.
 * Fails on an unknown name. Free with berth_ocispec_strv_free. */
char **berth_ocispec_caps(const berth_ocispec_t *spec, berth_err_t *err);
void berth_ocispec_strv_free(char **v);

/* The value berthd may give a child: its own oom_score_adj (without
 * CAP_SYS_RESOURCE a process can only raise it). Read once. */
int berth_ocispec_min_oom_score_adj(void);

/* ---- users and groups from the image ------------------------------------ */

/* The supplementary groups: the primary gid always, the requested ones,
 * and under Merge the user's memberships in the image's /etc/group. */
enum berth_groups_policy {
    BERTH_GROUPS_MERGE = 0, /* /etc/group memberships + the requested groups */
    BERTH_GROUPS_STRICT,    /* only the primary gid and the requested groups */
};

/* Looks up `user` (a name or a decimal uid) in <rootfs>/etc/passwd. The file
 * is opened with openat2(RESOLVE_IN_ROOT), so symlinks resolve inside rootfs
 * and never reach the node's files. A numeric uid absent from the file gives
 * gid 0 and home "/" (as runc does); a name absent is an error. *home
 * (optional, owned) gets the home directory. Blocks (file I/O). */
int berth_passwd_lookup(const char *rootfs, const char *user, uint32_t *uid, uint32_t *gid,
                        char **home, berth_err_t *err);

/* Looks up a group name or decimal gid in <rootfs>/etc/group. Blocks. */
int berth_group_lookup(const char *rootfs, const char *group, uint32_t *gid, berth_err_t *err);

typedef struct berth_user {
    uint32_t uid, gid;
    char *home;     /* owned */
    uint32_t *gids; /* owned: supplementary groups, sorted, no duplicates */
    size_t ngids;
} berth_user_t;

/* Resolves a CRI/image user spec: "name", "uid", "name:group", "uid:gid"
 * (group by name or gid), with the supplementary groups `extra` (CRI
 * SupplementalGroups) under `policy`. Blocks (file I/O). */
int berth_user_resolve(const char *rootfs, const char *user_spec, const uint32_t *extra,
                       size_t nextra, int policy, berth_user_t *out, berth_err_t *err);
void berth_user_fini(berth_user_t *u);

#endif
