/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI runner (CNI spec 1.0.0, as containernetworking-plugins 1.1.1 does
 * it): networks loaded from a conflist (or a single .conf) into immutable,
 * reference-counted berth_cni_net_t values; one small actor per operation
 * that runs a network's plugin chain through io/spawn and answers its owner
 * with one message; and the results cache that lets DEL work after a restart
 * even if the conflist changed.
 *
 * io/ holds no pod rules here: which networks a pod gets, and when, is the
 * pod actor's business. The runner never blocks a worker; loading files and
 * the cache calls block and belong on the pool (or main).
 */
#ifndef BERTH_IO_CNI_H
#define BERTH_IO_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_CNI_DONE = 66,  /* berth_cni_done_msg_t, to the owner of a run */
    BERTH_MSG_CNI_CACHE = 67, /* berth_cni_cache_msg_t, reply of the cache _async calls */
    BERTH_MSG_CNI_START = 68, /* private to the runner actor */
};

enum berth_cni_op {
    BERTH_CNI_ADD = 0,
    BERTH_CNI_DEL,
    BERTH_CNI_CHECK,
};

/* ---- networks ---------------------------------------------------------- */

/* An immutable network: name, cniVersion and the plugins' raw JSON objects.
 * Shared across threads by reference count. */
typedef struct berth_cni_net berth_cni_net_t;

/* Parses a conflist ({"name","cniVersion","plugins":[...]}) or a single
 * plugin conf ({"name","cniVersion","type",...}, which becomes a one-plugin
 * list). `origin` names the source in errors (a path). Checks what a run
 * needs: a valid network name, a cniVersion, at least one plugin, every
 * plugin an object with a "type" that contains no '/'. Returns an owned
 * reference, or NULL with *err. Pure CPU: any context. */
berth_cni_net_t *berth_cni_net_parse(const char *json, size_t len, const char *origin,
                                     berth_err_t *err);
/* Reads and parses a file. Blocks (file read): pool or main. */
berth_cni_net_t *berth_cni_net_load(const char *path, berth_err_t *err);
/* Reference counting; any thread. unref is NULL-safe. */
berth_cni_net_t *berth_cni_net_ref(berth_cni_net_t *net);
void berth_cni_net_unref(berth_cni_net_t *net);
/* Accessors (borrowed from net, valid while a reference is held). */
const char *berth_cni_net_name(const berth_cni_net_t *net);
const char *berth_cni_net_version(const berth_cni_net_t *net);
size_t berth_cni_net_nplugins(const berth_cni_net_t *net);
const char *berth_cni_net_plugin_type(const berth_cni_net_t *net, size_t i);
/* The network as a conflist JSON text (compact; what the cache stores). */
const char *berth_cni_net_json(const berth_cni_net_t *net);

/* ---- running a chain --------------------------------------------------- */

/* Everything is borrowed and only read during berth_cni_run (copied or
 * referenced), so a spec may live on the caller's stack. */
typedef struct berth_cni_run_spec {
    int op;                   /* enum berth_cni_op */
    berth_cni_net_t *net;     /* the runner takes its own reference */
    const char *container_id; /* CNI_CONTAINERID: the pod sandbox id (required) */
    const char *netns;        /* CNI_NETNS: the net pin path (required for ADD
                                 and CHECK; may be NULL for DEL) */
    const char *ifname;       /* CNI_IFNAME; NULL: "eth0" ("lo" for loopback) */
    /* CNI_ARGS: IgnoreUnknown=1;K8S_POD_NAMESPACE;K8S_POD_NAME;
     * K8S_POD_INFRA_CONTAINER_ID (= container_id);K8S_POD_UID. Any may be NULL
     * (left out); none may contain ';' or '='. */
    const char *pod_namespace;
    const char *pod_name;
    const char *pod_uid;
    const char *const *plugin_dirs; /* NULL-terminated; CNI_PATH and the search path */
    /* runtimeConfig sources, for plugins that declare the capability:
     * port_mappings_json is a JSON array for "portMappings"; capability_args_json
     * is a JSON object {capability: value} for any others ("bandwidth",
     * "ipRanges", "dns", ...). NULL: none. */
    const char *port_mappings_json;
    const char *capability_args_json;
    /* DEL and CHECK: the cached ADD result, given to every plugin as
     * prevResult. NULL: none (DEL still runs, as libcni does). Ignored by ADD. */
    const char *prev_result_json;
    /* The op's budget (the caller's CNI budget): a plugin still running when
     * it passes is killed (SIGKILL) and the op fails naming the plugin. 0:
     * none. An ADD rollback after a failure gets a fresh budget of the same
     * length (60 s when 0). */
    uint64_t timeout_ns;
} berth_cni_run_spec_t;

/* The one reply of a run; berth_msg_free frees everything it owns. */
typedef struct berth_cni_done_msg {
    berth_msg_t hdr;
    uint64_t tag;
    int op;
    /* ADD: the final result (the last plugin's, compact JSON); CHECK/DEL:
     * NULL. Owned. NULL on failure. */
    char *result_json;
    /* ADD: the pod IPs of the result, without prefix length ("10.213.0.5",
     * "fd00::5"), NULL-terminated, owned. NULL on failure or for DEL/CHECK. */
    char **ips;
    /* NULL on success. A plugin failure reads
     * "plugin bridge (ADD) failed: <msg>: <details>"; a timeout
     * "plugin bridge (ADD) timed out after 2.0 s (CNI budget) and was killed".
     * Owned. */
    berth_err_t error;
    uint64_t elapsed_ns;
} berth_cni_done_msg_t;

/* Validates spec and starts a runner actor for one operation on spec->net:
 * ADD runs the plugins in order, each with name, cniVersion, prevResult (the
 * previous plugin's result) and runtimeConfig (its declared capabilities)
 * injected into its stdin config; DEL runs them in reverse order and CHECK in
 * order, both with prevResult = spec->prev_result_json. A plugin fails on a
 * non-zero exit or a CNI error object on stdout; an ADD that fails is rolled
 * back with DEL in reverse order (best effort, failures logged) before the
 * reply. DEL stops at the first failing plugin, as libcni does (DEL must be
 * idempotent, so the caller retries it whole).
 * Exactly one berth_cni_done_msg_t (tagged `tag`) goes to `owner` when the
 * run ends. Returns 0, or -1 with *err when the spec is invalid (nothing is
 * started and no message is sent). A missing plugin binary is reported by
 * message. Callable from an actor turn or main; never blocks. */
int berth_cni_run(berth_handle_t owner, const berth_cni_run_spec_t *spec, uint64_t tag,
                  berth_err_t *err);

/* Frees a NULL-terminated owned string vector (as in done messages). */
void berth_cni_strv_free(char **v);

/* Extracts the IPs (no prefix length) of a CNI result (1.0.0/0.4.0/0.3.x
 * "ips", or 0.2.0 "ip4"/"ip6"). Returns an owned NULL-terminated vector
 * (possibly empty), or NULL with *err when result_json is not a result. */
char **berth_cni_result_ips(const char *result_json, berth_err_t *err);

/* ---- results cache ------------------------------------------------------ */

/* The cache stores, per pod and network, the network's config and the ADD
 * result at <dir>/<pod_id>/<net-name>.json, written atomically. All three
 * block (file system): pool or main. */

/* Writes (replaces) the entry of (pod_id, net). Creates dir and the pod's
 * sub-directory. Returns 0 or -1 with *err. */
int berth_cni_cache_write(const char *dir, const char *pod_id, const berth_cni_net_t *net,
                          const char *result_json, berth_err_t *err);
/* Reads the entry of (pod_id, net_name): *net_out gets the cached network
 * (owned reference), *result_out the cached result (owned string; either
 * out pointer may be NULL). Returns 0, or -1 with *err (ENOENT when there is
 * no entry). */
int berth_cni_cache_read(const char *dir, const char *pod_id, const char *net_name,
                         berth_cni_net_t **net_out, char **result_out, berth_err_t *err);
/* Removes the entry of (pod_id, net_name), or every entry of the pod when
 * net_name is NULL, and the pod's directory once empty. Idempotent: a
 * missing entry is fine. Returns 0 or -1 with *err. */
int berth_cni_cache_remove(const char *dir, const char *pod_id, const char *net_name,
                           berth_err_t *err);
/* Lists the network names cached for a pod (owned NULL-terminated vector,
 * empty when none). Returns NULL with *err on a read error. */
char **berth_cni_cache_list(const char *dir, const char *pod_id, berth_err_t *err);

/* Reply of the cache _async calls; berth_msg_free frees everything. */
typedef struct berth_cni_cache_msg {
    berth_msg_t hdr;
    uint64_t tag;
    berth_cni_net_t *net; /* read: the cached network (owned reference); else NULL */
    char *result_json;    /* read: the cached result (owned); else NULL */
    berth_err_t error;
} berth_cni_cache_msg_t;

/* The cache calls on the blocking pool; arguments are copied (net is
 * referenced). Each replies with one BERTH_MSG_CNI_CACHE. Never block; any
 * thread or turn. */
void berth_cni_cache_write_async(const char *dir, const char *pod_id, berth_cni_net_t *net,
                                 const char *result_json, berth_handle_t reply_to, uint64_t tag);
void berth_cni_cache_read_async(const char *dir, const char *pod_id, const char *net_name,
                                berth_handle_t reply_to, uint64_t tag);
void berth_cni_cache_remove_async(const char *dir, const char *pod_id, const char *net_name,
                                  berth_handle_t reply_to, uint64_t tag);

#endif
