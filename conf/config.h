/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth's configuration: an immutable, reference-counted snapshot built from
 * /etc/berth/berth.conf, then /etc/berth/berth.conf.d/\*.conf in lexical order,
 * then command-line overrides, each layer overriding the one before key by
 * key. Tables and keys follow CRI-O's crio.conf; `[berth.X]` is accepted as
 * `[crio.X]`. A snapshot is never modified once built, so any thread (actor
 * turns included) reads it without locks; hold a reference while you do.
 * Building reads files and so must never run inside an actor turn.
 */
#ifndef BERTH_CONF_CONFIG_H
#define BERTH_CONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/err.h"
#include "engine/refcount.h"

struct berth_hooks;

#define BERTH_CONFIG_DEFAULT_FILE "/etc/berth/berth.conf"
#define BERTH_CONFIG_DEFAULT_DIR "/etc/berth/berth.conf.d"

/* A NULL-terminated list of owned strings with its length. */
typedef struct berth_strv {
    char **v;
    size_t n;
} berth_strv_t;

/* [crio.runtime.runtimes.NAME] */
typedef struct berth_config_runtime {
    char *name;
    char *runtime_path; /* "" = look NAME up in PATH */
    char *runtime_root;
    char *runtime_type; /* "oci" | "vm" | "pod" */
    char *monitor_path; /* "" = use [crio.runtime] conmon */
    berth_strv_t allowed_annotations;
} berth_config_runtime_t;

typedef struct berth_config {
    /* [crio] */
    char *root;
    char *runroot;
    char *log_dir;
    /* [crio.api] */
    char *listen;
    int64_t grpc_max_send_msg_size;
    int64_t grpc_max_recv_msg_size;
    int64_t grpc_max_conn_buffered;  /* partial request bytes per connection */
    int64_t grpc_max_total_buffered; /* the same over every connection */
    int64_t grpc_max_connections;    /* open client connections */
    int64_t grpc_max_streams;        /* concurrent streams per connection */
    /* the streaming server (io/stream.h, docs/streaming.md) */
    char *stream_address;
    char *stream_port; /* a string, as CRI-O has it: "0" = ephemeral */
    bool stream_enable_tls;
    char *stream_tls_cert;
    char *stream_tls_key;
    char *stream_tls_ca;
    int64_t stream_idle_timeout_ns; /* "" or 0: none */
    int64_t stream_token_ttl_ns;    /* berth: a URL unused this long is gone */
    int64_t stream_max_sessions;    /* berth: streaming connections at once */
    int64_t stream_max_streams;     /* berth: streams (ports) per connection */
    int64_t stream_max_buffered;    /* berth: bytes queued per direction */
    /* berth: the debug endpoint's unix socket (actors/debug.h); "": off */
    char *debug_socket;
    /* [crio.runtime] */
    char *default_runtime;
    char *log_level;
    bool drop_infra_ctr;
    char *conmon;
    char *conmon_cgroup;
    char *container_monitor; /* "berth" (berth-monitor, docs/monitor.md) | "conmon" */
    char *berth_monitor;     /* the berth-monitor program; "" = next to berthd */
    char *cgroup_manager;
    int64_t pids_limit;
    int64_t log_size_max;
    berth_strv_t default_capabilities;
    berth_strv_t default_sysctls;
    berth_strv_t allowed_devices;
    char *seccomp_profile;               /* "" = berth's built-in RuntimeDefault profile */
    bool seccomp_use_default_when_empty; /* no seccomp field: RuntimeDefault */
    char *seccomp_localhost_root;        /* berth: Localhost profiles only under it */
    char *subuid_file;                   /* berth: userns-mode's "containers" uid ranges */
    char *subgid_file;                   /* berth: the same for gids */
    int64_t seccomp_notifier_wait_ns;    /* berth: "stop" waits this long after a refusal */
    berth_strv_t hooks_dir;              /* oci-hooks(5) directories, later wins */
    berth_strv_t cdi_spec_dirs;          /* CDI spec directories, later wins */
    int64_t workers;                     /* 0 = online CPUs */
    /* berth: the oldest container stats figures a stats call is answered
     * with, ns; older ones are read again in the background from half of
     * it (actors/containers.c). 0: read on every call. */
    int64_t stats_refresh_interval_ns;
    /* [crio.runtime.runtimes.*], in the order they were first named */
    berth_config_runtime_t *runtimes;
    size_t n_runtimes;
    /* [crio.image] */
    char *default_transport;
    char *pause_image;
    char *registries_conf;
    char *registries_conf_dir;
    char *signature_policy;
    berth_strv_t insecure_registries;
    int64_t max_image_layers;     /* berth: layers one image may have */
    int64_t max_image_bytes;      /* berth: uncompressed bytes a pull may unpack */
    int64_t max_concurrent_pulls; /* berth: distinct images pulled at once */
    int64_t max_manifest_bytes;   /* berth: a manifest or index */
    int64_t max_config_bytes;     /* berth: an image config */
    int64_t max_layer_entries;    /* berth: entries in one layer */
    /* [crio.network] */
    char *network_dir;
    berth_strv_t plugin_dirs;
    char *cni_default_network;
    /* [crio.metrics] */
    bool enable_metrics;
    int64_t metrics_port;
    char *metrics_host;
    char *metrics_socket;
    char *metrics_cert; /* PEM; with metrics_key: the TCP endpoint speaks TLS */
    char *metrics_key;
    /* [crio.nri]: the Node Resource Interface (docs/nri.md) */
    bool enable_nri;
    char *nri_listen;            /* the socket external plugins connect to */
    char *nri_plugin_dir;        /* pre-installed plugins, started by berth */
    char *nri_plugin_config_dir; /* their configuration, <index>-<name>.conf or <name>.conf */
    int64_t nri_plugin_registration_timeout_ns;
    int64_t nri_plugin_request_timeout_ns;
    bool nri_disable_connections; /* true: no socket, pre-installed plugins only */
    /* [crio.nri.default_validator]: NRI's default validator, run over
     * every container's merged adjustments (docs/nri.md) */
    bool nri_validator_enable;
    bool nri_reject_oci_hook_adjustment;
    bool nri_reject_runtime_default_seccomp_adjustment;
    bool nri_reject_unconfined_seccomp_adjustment;
    bool nri_reject_custom_seccomp_adjustment;
    bool nri_reject_namespace_adjustment;
    bool nri_reject_sysctl_adjustment;
    berth_strv_t nri_required_plugins;
    char *nri_tolerate_missing_plugins_annotation; /* "": none */
    /* [crio.names] ([berth.names]) or [crio.runtime]: name-actor timings, ns */
    int64_t creation_budget_ns;
    int64_t cni_budget_ns;
    int64_t stall_margin_ns;
    int64_t stash_window_ns;

    /* the hooks of hooks_dir, loaded with the snapshot (conf/hooks.h) */
    struct berth_hooks *hooks;

    /* "file:line: unknown key 'crio.api.x'" for each key berth ignored; the
     * caller may log them again (berth_log_warn already did once). */
    berth_strv_t warnings;

    /* private */
    berth_ref_t refs_;
} berth_config_t;

typedef struct berth_config_builder berth_config_builder_t;

/* A builder with the default paths and no overrides. Never fails. */
berth_config_builder_t *berth_config_builder_new(void);
void berth_config_builder_free(berth_config_builder_t *b);
/* Replaces the main file (NULL: skip it) or the drop-in directory (NULL: skip
 * it). A missing file or directory is not an error; an unreadable one is. */
void berth_config_builder_set_file(berth_config_builder_t *b, const char *path);
void berth_config_builder_set_dir(berth_config_builder_t *b, const char *path);
/* Records a command-line override applied after all files, e.g.
 * ("crio.api.listen", "/run/x.sock"); "berth." works like "crio.". The value
 * is checked against the key's type now: strings as is, integers, booleans
 * (true/false), string lists comma-separated, durations ("1m30s", "500ms" or
 * integer seconds). Returns 0, or -1 with *err naming the key. */
int berth_config_set(berth_config_builder_t *b, const char *key, const char *value,
                     berth_err_t *err);
/* Loads defaults, the file, the drop-ins and the overrides into a new snapshot
 * (refcount 1). Errors name file:line:key. Reads the filesystem: call it from
 * main() or a blocking-pool job, never an actor turn. */
berth_config_t *berth_config_build(berth_config_builder_t *b, berth_err_t *err);

/* Any thread. ref returns its argument; unref frees at zero (NULL-safe). */
berth_config_t *berth_config_ref(berth_config_t *cfg);
void berth_config_unref(berth_config_t *cfg);

/* Looks up a runtime handler by name; NULL when absent. */
const berth_config_runtime_t *berth_config_runtime(const berth_config_t *cfg, const char *name);

/* Writes the effective configuration as TOML (`berthd config`); parsing the
 * output yields the same snapshot. */
void berth_config_print(const berth_config_t *cfg, FILE *out);

/* Parses a Go-style duration ("1h2m3.5s", "500ms", "90s") or a plain integer
 * (seconds) into nanoseconds. Returns 0, or -1 with *err set. */
int berth_config_parse_duration(const char *s, int64_t *ns, berth_err_t *err);

#endif
