// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon actor and berthd's start-up sequence. Start-up runs on the main
 * thread before any worker exists, so it may block (mkdir, flock); once the
 * engine runs, everything happens in actors and the main thread only joins.
 * The run lock (flock on <runroot>/berthd.lock) makes a second berthd on the
 * same run directory refuse to start even before it reaches the socket.
 */
#include "actors/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/cri.h"
#include "actors/events.h"
#include "actors/metrics.h"
#include "actors/images.h"
#include "actors/msgtypes.h"
#include "actors/netstatus.h"
#include "actors/pods.h"
#include "actors/runtimes.h"
#include "actors/containers.h"
#include "actors/debug.h"
#include "actors/nri_update.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "io/cgroups.h"
#include "io/criu.h"
#include "io/grpc.h"
#include "io/httpsrv.h"
#include "io/streamtls.h"
#include "io/stream.h"
#include "io/netns.h"
#include "io/nrisrv.h"
#include "io/pprof.h"
#include "io/userns.h"
#include "io/signal.h"

/* How long in-flight requests may run on after a stop signal. */
#define SHUTDOWN_GRACE_NS (5ull * 1000 * 1000 * 1000)

typedef struct daemon {
    berth_handle_t listener;
    berth_handle_t streams;
    berth_httpsrv_t metrics; /* actor invalid: no metrics endpoint */
    berth_handle_t signals;
    berth_httpsrv_t debug; /* the debug endpoint, when debug_on */
    bool debug_on;
    berth_handle_t nri; /* the NRI server; invalid when NRI is off */
    bool stopping;
} daemon_t;

static void daemon_receive(berth_actor_t *self, berth_msg_t *msg)
{
    daemon_t *d = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_SIGNAL: {
        berth_signal_msg_t *sm = (berth_signal_msg_t *)msg;
        if (sm->signo == SIGHUP) {
            berth_log_info("SIGHUP received; configuration reload is not supported yet",
                           "sender_pid=%d", (int)sm->sender_pid);
            break;
        }
        if (d->stopping) {
            berth_log_warn("second stop signal: stopping now", "signal=%d", sm->signo);
            berth_engine_stop();
            break;
        }
        d->stopping = true;
        berth_log_info("stopping", "signal=%s sender_pid=%d", strsignal(sm->signo),
                       (int)sm->sender_pid);
        berth_stream_server_stop(d->streams);
        if (d->debug_on) {
            berth_httpsrv_stop(&d->debug);
            berth_pprof_abort(); /* a profile being taken must not hold the pool */
        }
        if (berth_handle_valid(d->metrics.actor))
            berth_httpsrv_stop(&d->metrics);
        if (berth_handle_valid(d->nri))
            berth_nrisrv_stop(d->nri);
        berth_grpc_server_stop(d->listener, SHUTDOWN_GRACE_NS, berth_actor_self(self),
                               berth_msg_new(BERTH_MSG_DAEMON_STOPPED, sizeof(berth_msg_t)));
        break;
    }
    case BERTH_MSG_DAEMON_STOPPED:
        berth_log_info("server closed", NULL);
        berth_signal_stop(d->signals);
        berth_engine_stop();
        break;
    default:
        break;
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t daemon_class = {
        .name = "daemon",
        .receive = daemon_receive,
        .fini = berth_free,
};

static int dirname_mkdir(const char *file, berth_err_t *err)
{
    BERTH_AUTO_FREE char *d = berth_strdup(file);
    char *slash = strrchr(d, '/');
    if (slash == NULL || slash == d)
        return 0;
    *slash = '\0';
    return berth_fs_mkdir_p(d, 0755, err);
}

/* Takes the run lock; returns the fd (kept open for the daemon's life). */
static int take_run_lock(const berth_config_t *cfg, berth_err_t *err)
{
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/berthd.lock", cfg->runroot);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return berth_err_errno(err, errno, "cannot open the run lock %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        if (e == EWOULDBLOCK)
            return berth_err_make(err, EBUSY, BERTH_ERR_PRECONDITION,
                                  "another berthd (pid %s) is already running with run "
                                  "directory %s; it serves %s",
                                  n > 0 ? buf : "?", cfg->runroot, cfg->listen);
        return berth_err_errno(err, e, "cannot lock %s", path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* The pid in the lock file is informational; the lock is what counts. */
        berth_log_warn("cannot write pid to run lock", "path=%s", path);
    }
    return fd;
}

/* The namespace pin directory is a shared self-bind mount while pods exist.
 * With no pin left under it, the mount is released so a stopped berthd
 * leaves nothing mounted; with pins it must stay (they live under it). */
static void release_pin_dir(const berth_config_t *cfg)
{
    BERTH_AUTO_FREE char *pin_dir = berth_asprintf("%s/ns", cfg->runroot);
    berth_err_t err = NULL;
    if (berth_netns_dir_release_if_unused(pin_dir, &err) < 0) {
        berth_log_warn("cannot release the namespace pin directory", "error=\"%s\"", err->msg);
        berth_err_free(&err);
    }
}

/* Probes the cgroup layout once (it blocks: the main thread, before the
 * engine) and installs which handlers can run here. An unusable default is
 * not swapped for another handler: Status says RuntimeReady false and why. */
static void probe_runtimes(const berth_config_t *cfg)
{
    berth_cgroups_info_t cg;
    berth_err_t perr = NULL;
    if (berth_cgroups_probe(&cg, &perr) < 0) {
        berth_log_warn("cannot probe the cgroup layout", "error=\"%s\"", perr->msg);
        berth_err_free(&perr);
        return; /* no table: every handler is tried and fails in its own words */
    }
    berth_runtimes_t *rts = berth_runtimes_new(cfg, &cg);
    berth_log_info("cgroup layout", "mode=%s v2_controllers=\"%s\" crun_ok=%s",
                   berth_cgroups_mode_name(cg.mode), cg.v2_controllers,
                   cg.crun_ok ? "true" : "false");
    for (size_t i = 0; i < rts->n; i++) {
        const berth_runtime_status_t *s = &rts->v[i];
        if (s->usable)
            continue;
        bool dflt = strcmp(s->name, rts->default_handler) == 0;
        berth_log_warn(dflt ? "the default runtime handler cannot run containers here: "
                              "RuntimeReady is false"
                            : "runtime handler cannot run containers here",
                       "handler=%s reason=%s message=\"%s\"", s->name, s->reason, s->message);
    }
    berth_runtimes_install(rts);
}

/* The Prometheus endpoint ([crio.metrics]; docs/observability.md): on the
 * unix socket when metrics_socket is set, else on metrics_host:metrics_port. */
static int start_metrics(const berth_config_t *cfg, berth_httpsrv_t *out, berth_err_t *err)
{
    static const berth_httpsrv_route_t routes[] = {
            {"/metrics", berth_metrics_http, NULL},
    };
    bool unx = cfg->metrics_socket[0] != '\0';
    berth_stls_server_t *tls = NULL;
    if (cfg->metrics_cert[0] != '\0') {
        static const berth_stls_names_t names = {
                .section = "[crio.metrics]", .cert = "metrics_cert", .key = "metrics_key"};
        tls = berth_stls_server_new_named(cfg->metrics_cert, cfg->metrics_key, NULL, &names, err);
        if (tls == NULL)
            return -1;
    }
    berth_httpsrv_config_t hc = {
            .name = "metrics",
            .host = unx ? NULL : cfg->metrics_host,
            .port = unx ? -1 : (int)cfg->metrics_port,
            .socket_path = unx ? cfg->metrics_socket : NULL,
            .socket_mode = 0660,
            .routes = routes,
            .nroutes = BERTH_ARRAY_LEN(routes),
            .tls = tls,
    };
    if (berth_httpsrv_start(&hc, out, err) < 0)
        return berth_err_prefix(err, "[crio.metrics] endpoint");
    const char *scheme = tls ? "https" : "http";
    if (unx)
        berth_log_info("metrics served", "socket=%s scheme=%s path=/metrics", cfg->metrics_socket,
                       scheme);
    else
        berth_log_info("metrics served", "address=%s port=%d scheme=%s path=/metrics",
                       cfg->metrics_host, out->port, scheme);
    return 0;
}

int berth_daemon_run(berth_config_t *cfg, berth_err_t *err)
{
    if (berth_fs_mkdir_p(cfg->root, 0711, err) < 0 ||
        berth_fs_mkdir_p(cfg->runroot, 0711, err) < 0 || dirname_mkdir(cfg->listen, err) < 0)
        return -1;
    /* The directories the actors write into exist before any actor runs,
     * so their jobs never race to create them. */
    BERTH_AUTO_FREE char *pods_state = berth_asprintf("%s/pods", cfg->root);
    BERTH_AUTO_FREE char *pods_run = berth_asprintf("%s/pods", cfg->runroot);
    BERTH_AUTO_FREE char *ctrs_state = berth_asprintf("%s/containers", cfg->root);
    BERTH_AUTO_FREE char *ctrs_run = berth_asprintf("%s/containers", cfg->runroot);
    BERTH_AUTO_FREE char *exits = berth_asprintf("%s/exits", cfg->runroot);
    if (berth_fs_mkdir_p(pods_state, 0700, err) < 0 || berth_fs_mkdir_p(pods_run, 0755, err) < 0 ||
        berth_fs_mkdir_p(ctrs_state, 0700, err) < 0 || berth_fs_mkdir_p(ctrs_run, 0700, err) < 0 ||
        berth_fs_mkdir_p(exits, 0700, err) < 0)
        return -1;
    BERTH_AUTO_CLOSE int lock_fd = take_run_lock(cfg, err);
    if (lock_fd < 0)
        return -1;
    probe_runtimes(cfg);
    /* Before the actors exist: they read the answer without a lock. */
    berth_userns_probe(cfg->root);
    if (berth_userns_supported(NULL))
        berth_log_info("user namespaces available (idmapped mounts)", "root=%s", cfg->root);

    /* Block the stop signals in every thread before any worker exists, so
     * only the signal actor's signalfd sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (berth_signal_block(&set, err) < 0)
        return -1;
    /* A client that goes away mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);

    berth_engine_config_t ecfg = {.workers = (unsigned)cfg->workers};
    /* before any actor: every RPC, pull and exit counts from the start */
    berth_daemon_metrics_init();
    berth_metrics_default_runtime(cfg->default_runtime);
    if (berth_engine_start(&ecfg, err) < 0)
        return berth_err_prefix(err, "cannot start the engine");
    if (berth_blocking_start(0, err) < 0) {
        berth_engine_stop();
        berth_engine_join();
        return berth_err_prefix(err, "cannot start the blocking pool");
    }
    /* whether checkpoints can work here, for Status and the first
     * CheckpointContainer (docs/checkpoint.md) */
    berth_criu_probe_async();

    berth_netstatus_config_t ncfg = {
            .network_dir = cfg->network_dir,
            .plugin_dirs = (const char *const *)cfg->plugin_dirs.v,
            .default_network = cfg->cni_default_network,
    };
    berth_handle_t netstatus = berth_netstatus_spawn(&ncfg);

    const char **handlers = berth_calloc(cfg->n_runtimes + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->n_runtimes; i++)
        handlers[i] = cfg->runtimes[i].name;
    berth_handle_t images = berth_images_spawn(cfg);
    /* the two managers route to each other: each gets the other's handle
     * before either runs */
    berth_handle_t pods = berth_actor_reserve(), containers = berth_actor_reserve();
    berth_handle_t events = berth_events_spawn();
    /* before the managers read their records: what they restore is shown
     * to NRI plugins at Synchronize */
    if (cfg->enable_nri)
        berth_nrisrv_reserve();
    berth_pods_start(pods, cfg, containers, events);
    berth_containers_start(containers, cfg, pods, images, events);
    berth_cri_config_t ccfg = {
            .runtime_version = BERTH_VERSION,
            .handlers = handlers,
            .default_handler = cfg->default_runtime,
            .netstatus = netstatus,
            .pods = pods,
            .images = images,
            .containers = containers,
            .events = events,
    };
    berth_handle_t cri = berth_cri_spawn(&ccfg);
    berth_free(handlers);

    daemon_t *d = berth_calloc(1, sizeof(*d));
    berth_handle_t self = berth_actor_spawn(&daemon_class, d);

    size_t max_msg = (size_t)(cfg->grpc_max_recv_msg_size > cfg->grpc_max_send_msg_size
                                      ? cfg->grpc_max_recv_msg_size
                                      : cfg->grpc_max_send_msg_size);
    berth_grpc_server_config_t scfg = {
            .path = cfg->listen,
            .mode = 0660,
            .limits = {.max_msg_size = max_msg,
                       .max_conn_buffered = (size_t)cfg->grpc_max_conn_buffered,
                       .max_total_buffered = (size_t)cfg->grpc_max_total_buffered,
                       .max_connections = (size_t)cfg->grpc_max_connections,
                       .max_streams = (unsigned)cfg->grpc_max_streams},
            .dispatch = cri,
    };
    int ret = 0;
    /* before the CRI socket: an Exec answered needs a server for its URL */
    BERTH_AUTO_FREE char *exec_dir = berth_asprintf("%s/exec", cfg->runroot);
    berth_stream_config_t stcfg = {
            .address = cfg->stream_address,
            .port = atoi(cfg->stream_port), /* checked by conf/config.c */
            .token_ttl_ns = (uint64_t)cfg->stream_token_ttl_ns,
            .idle_timeout_ns = (uint64_t)cfg->stream_idle_timeout_ns,
            .max_sessions = (unsigned)cfg->stream_max_sessions,
            .max_streams = (unsigned)cfg->stream_max_streams,
            .max_buffered = (size_t)cfg->stream_max_buffered,
            .exec_dir = exec_dir,
            .tls = cfg->stream_enable_tls,
            .tls_cert = cfg->stream_tls_cert,
            .tls_key = cfg->stream_tls_key,
            .tls_ca = cfg->stream_tls_ca,
    };
    if (berth_stream_server_start(&stcfg, &d->streams, err) < 0) {
        ret = -1;
        goto stop;
    }
    if (cfg->enable_metrics && start_metrics(cfg, &d->metrics, err) < 0) {
        ret = -1;
        goto stop;
    }
    if (cfg->enable_nri) {
        berth_nrisrv_config_t ncfg = {
                .socket_path = cfg->nri_disable_connections ? NULL : cfg->nri_listen,
                .plugin_dir = cfg->nri_plugin_dir,
                .plugin_config_dir = cfg->nri_plugin_config_dir,
                .registration_timeout_ns = (uint64_t)cfg->nri_plugin_registration_timeout_ns,
                .request_timeout_ns = (uint64_t)cfg->nri_plugin_request_timeout_ns,
                .runtime_name = "berth",
                .runtime_version = BERTH_VERSION,
                .updates = berth_nri_plugin_updates,
        };
        berth_nri_update_setup(containers);
        if (berth_nrisrv_start(&ncfg, &d->nri, err) < 0) {
            ret = -1;
            goto stop;
        }
        berth_log_info("NRI serving", "socket=%s plugin_dir=%s",
                       cfg->nri_disable_connections ? "(none)" : cfg->nri_listen,
                       cfg->nri_plugin_dir);
    }
    if (berth_grpc_server_start(&scfg, &d->listener, err) < 0) {
        berth_err_prefix(err, "cannot serve on %s", cfg->listen);
        ret = -1;
        goto stop;
    }
    if (cfg->debug_socket[0] != '\0') {
        if (berth_debug_start(cfg, &d->debug, err) < 0) {
            ret = -1;
            goto stop;
        }
        d->debug_on = true;
        berth_log_info("debug endpoint serving", "socket=%s", cfg->debug_socket);
    }
    berth_signal_route_t routes[] = {
            {SIGTERM, self},
            {SIGINT, self},
            {SIGHUP, self},
    };
    if (berth_signal_start(routes, BERTH_ARRAY_LEN(routes), &d->signals, err) < 0) {
        ret = -1;
        goto stop;
    }
    berth_log_info("berthd serving",
                   "socket=%s streaming=%s root=%s runroot=%s workers=%u version=%s", cfg->listen,
                   berth_stream_base_url(), cfg->root, cfg->runroot, berth_engine_workers(),
                   BERTH_VERSION);
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    release_pin_dir(cfg);
    berth_log_info("berthd stopped", NULL);
    return 0;

stop:
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    return ret;
}
