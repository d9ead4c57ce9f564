/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench floor: the container lifecycle straight through conmon + the
 * OCI runtime, no CRI daemon: `conmon --api-version 1` (sync pipe fd 3)
 * until the pid, then `RUNTIME start`; teardown `RUNTIME kill KILL`, the
 * exit file, `RUNTIME delete`. By default on the OCI spec berthd writes for
 * the same container (io/ocispec), in a pod's namespaces pinned once for the
 * run (io/netns), on an overlay of its own per container. It runs for the
 * floor scenario and for any endpoint without a socket (--compare
 * floor=floor). It only signals the containers it started, through the
 * runtime, and its conmon children by PID.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "io/fs.h"
#include "io/netns.h"
#include "io/ocispec.h"
#include "perf/bench_core.h"

extern char **environ;

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    if (n < 0)
        rc = -1;
    close(in);
    if (close(out) < 0)
        rc = -1;
    return rc;
}

/* The floor's spec by default: the one berthd generates (io/ocispec) for
 * the container berth-bench asks for (perf/cri_client.c: RuntimeDefault
 * seccomp, the kubelet's masked and read-only paths, berth's default
 * capabilities and mounts, the pod's /etc files and /dev/shm as bind
 * mounts, a PID namespace of its own, cpu shares 2, oom_score_adj 1000), so
 * that floor vs berth is the daemon's cost alone. Like berthd's containers
 * it joins a pod's network, IPC and UTS namespaces, pinned once for the
 * whole run (ns), and sets the pod's hostname; each container gets an
 * overlay of its own on the busybox directory (floor_up), mounted before
 * its clock starts. */
static json_t *floor_berth_spec(const berth_bench_opts_t *o, const char *rootfs,
                                const berth_netns_paths_t *ns)
{
    static const char *const files[] = {"hosts", "resolv.conf", "hostname"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(files); i++) {
        BERTH_AUTO_FREE char *f = berth_asprintf("%s/%s", o->floor_dir, files[i]);
        FILE *fp = fopen(f, "w");
        if (fp == NULL) {
            fprintf(stderr, "berth-bench: floor: cannot write %s: %s\n", f, strerror(errno));
            return NULL;
        }
        fputs(i == 0 ? "127.0.0.1 localhost\n" : i == 1 ? "nameserver 127.0.0.1\n" : "floor\n", fp);
        fclose(fp);
    }
    BERTH_AUTO_FREE char *hosts = berth_asprintf("%s/hosts", o->floor_dir);
    BERTH_AUTO_FREE char *resolv = berth_asprintf("%s/resolv.conf", o->floor_dir);
    BERTH_AUTO_FREE char *hostname = berth_asprintf("%s/hostname", o->floor_dir);
    BERTH_AUTO_FREE char *shm = berth_asprintf("%s/shm", o->floor_dir);
    mkdir(shm, 01777);
    static const char *const args[] = {"/bin/busybox", "sleep", "3600"};
    static const char *const env[] = {
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    static const char *const masked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys",
                                         "/proc/timer_list", "/sys/firmware"};
    static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                     "/proc/sysrq-trigger"};
    berth_ocispec_t spec = {
            .id = "floor",
            .args = args,
            .nargs = BERTH_ARRAY_LEN(args),
            .env = env,
            .nenv = BERTH_ARRAY_LEN(env),
            .seccomp = BERTH_SECCOMP_RUNTIME_DEFAULT,
            .masked_paths_set = true,
            .masked_paths = masked,
            .nmasked_paths = BERTH_ARRAY_LEN(masked),
            .readonly_paths_set = true,
            .readonly_paths = ro,
            .nreadonly_paths = BERTH_ARRAY_LEN(ro),
            .oom_score_adj_set = true,
            .oom_score_adj = 1000,
            .cpu_shares = 2,
            .root_path = rootfs,
            .hosts_path = hosts,
            .resolv_path = resolv,
            .hostname_path = hostname,
            .shm_path = shm,
            .hostname = "floor",
            .net_mode = BERTH_NS_PATH,
            .net_path = ns->net,
            .ipc_mode = BERTH_NS_PATH,
            .ipc_path = ns->ipc,
            .uts_mode = BERTH_NS_PATH,
            .uts_path = ns->uts,
            .pid_mode = BERTH_NS_NEW,
            .cgroup_parent = "/kubepods/besteffort",
    };
    BERTH_AUTO_ERR berth_err_t err = NULL;
    json_t *t = berth_ocispec_build(&spec, &err);
    if (t == NULL)
        fprintf(stderr, "berth-bench: floor: berth's OCI spec: %s\n", err->msg);
    return t;
}

/* The bundle template: berth's spec (above), or with --floor-spec runtime
 * the runtime's `spec` default on a read-only busybox rootfs; shared by
 * every container, running a sleep. Returns a new reference. */
static json_t *floor_prepare(const berth_bench_opts_t *o, const berth_netns_paths_t *ns)
{
    BERTH_AUTO_FREE char *rootfs = berth_asprintf("%s/rootfs", o->floor_dir);
    BERTH_AUTO_FREE char *tdir = berth_asprintf("%s/template", o->floor_dir);
    static const char *const dirs[] = {"bin", "proc", "dev", "sys", "tmp", "etc"};
    mkdir(o->floor_dir, 0755);
    mkdir(rootfs, 0755);
    mkdir(tdir, 0755);
    for (size_t i = 0; i < BERTH_ARRAY_LEN(dirs); i++) {
        BERTH_AUTO_FREE char *d = berth_asprintf("%s/%s", rootfs, dirs[i]);
        mkdir(d, 0755);
    }
    BERTH_AUTO_FREE char *bb = berth_asprintf("%s/bin/busybox", rootfs);
    if (access(bb, X_OK) < 0 && copy_file("/bin/busybox", bb, 0755) < 0) {
        fprintf(stderr, "berth-bench: floor: cannot copy /bin/busybox (busybox-static)\n");
        return NULL;
    }
    if (!o->floor_runtime_spec)
        return floor_berth_spec(o, rootfs, ns);
    BERTH_AUTO_FREE char *cfg = berth_asprintf("%s/config.json", tdir);
    unlink(cfg);
    char *spec_argv[] = {(char *)o->oci_runtime, "spec", "--bundle", tdir, NULL};
    if (berth_bench_spawn_wait_quiet(spec_argv) != 0) {
        fprintf(stderr, "berth-bench: floor: %s spec failed\n", o->oci_runtime);
        return NULL;
    }
    json_error_t je;
    json_t *t = json_load_file(cfg, 0, &je);
    if (t == NULL) {
        fprintf(stderr, "berth-bench: floor: %s: %s\n", cfg, je.text);
        return NULL;
    }
    json_t *proc = json_object_get(t, "process");
    json_object_set_new(proc, "terminal", json_false());
    json_object_set_new(proc, "args", json_pack("[s,s,s]", "/bin/busybox", "sleep", "3600"));
    json_object_set_new(t, "root", json_pack("{s:s,s:b}", "path", rootfs, "readonly", 1));
    return t;
}

typedef struct floor_ctx {
    const berth_bench_opts_t *o;
    json_t *tmpl;
    char *runc_root, *exits, *socks;
} floor_ctx_t;

static char **env_with(const char *extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = berth_calloc(n + 2, sizeof(char *));
    memcpy(env, environ, n * sizeof(char *));
    env[n] = (char *)extra;
    return env;
}

/* conmon (+ runc create) until the container's pid arrives on the sync
 * pipe, then runc start. */
static void floor_up(floor_ctx_t *fc, berth_bench_pod_t *p, double t0)
{
    const berth_bench_opts_t *o = fc->o;
    BERTH_AUTO_FREE char *bundle = berth_asprintf("%s/run/c/%s", o->floor_dir, p->name);
    BERTH_AUTO_FREE char *cfgp = berth_asprintf("%s/config.json", bundle);
    /* The container's log on the disk, in a directory of its own made
     * before the clock starts, as the kubelet's pod log directory is for
     * berthd's containers (conmon creates the file itself, timed in both). */
    BERTH_AUTO_FREE char *logdir = berth_asprintf("%s/ovl/%s/log", o->floor_dir, p->name);
    BERTH_AUTO_FREE char *log = berth_asprintf("k8s-file:%s/0.log", logdir);
    BERTH_AUTO_FREE char *pidf = berth_asprintf("%s/pidfile", bundle);
    BERTH_AUTO_FREE char *cpidf = berth_asprintf("%s/conmon.pid", bundle);
    BERTH_AUTO_FREE char *rarg = berth_asprintf("--root=%s", fc->runc_root);
    /* The pod cgroup the kubelet would have made (untimed), the leaf as
     * berthd names it. */
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    berth_bench_pod_cgroup(cgp, true);
    BERTH_AUTO_FREE char *cg = berth_asprintf("%s/berth-%s", cgp, p->name);
    /* Declared before the first goto: cleanup must never see it unset. */
    BERTH_AUTO_FREE char **env = NULL;
    mkdir(bundle, 0755);
    berth_fs_mkdir_p(logdir, 0755, NULL);
    json_t *cfg = json_deep_copy(fc->tmpl);
    json_object_set_new(json_object_get(cfg, "linux"), "cgroupsPath", json_string(cg));
    if (!o->floor_runtime_spec) {
        /* A writable layer of its own, as berthd gives every container (its
         * mount is not timed here; berthd's is, in CreateContainer). */
        BERTH_AUTO_FREE char *ovl = berth_asprintf("%s/ovl/%s", o->floor_dir, p->name);
        BERTH_AUTO_FREE char *upper = berth_asprintf("%s/upper", ovl);
        BERTH_AUTO_FREE char *work = berth_asprintf("%s/work", ovl);
        BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", ovl);
        BERTH_AUTO_FREE char *opts = berth_asprintf("lowerdir=%s/rootfs,upperdir=%s,workdir=%s",
                                                    o->floor_dir, upper, work);
        if (berth_fs_mkdir_p(upper, 0755, NULL) < 0 || berth_fs_mkdir_p(work, 0755, NULL) < 0 ||
            berth_fs_mkdir_p(merged, 0755, NULL) < 0 ||
            mount("overlay", merged, "overlay", 0, opts) < 0) {
            p->error = berth_asprintf("overlay rootfs %s: %s", merged, strerror(errno));
            json_decref(cfg);
            p->t_end = berth_bench_mono_s() - t0;
            return;
        }
        json_object_set_new(json_object_get(cfg, "root"), "path", json_string(merged));
    }
    int jr = json_dump_file(cfg, cfgp, 0);
    json_decref(cfg);
    double t = berth_bench_mono_s();
    p->t_start = t - t0;
    if (jr < 0) {
        p->error = berth_asprintf("cannot write %s", cfgp);
        goto out;
    }
    int sp[2];
    if (pipe2(sp, O_CLOEXEC) < 0) {
        p->error = berth_asprintf("pipe: %s", strerror(errno));
        goto out;
    }
    char *argv[] = {"/usr/bin/conmon",
                    "--api-version",
                    "1",
                    "-c",
                    p->name,
                    "-u",
                    p->name,
                    "-n",
                    p->name,
                    "-r",
                    (char *)o->oci_runtime,
                    "-b",
                    bundle,
                    "-p",
                    pidf,
                    "-P",
                    cpidf,
                    "-l",
                    log,
                    "--exit-dir",
                    fc->exits,
                    "--persist-dir",
                    bundle,
                    "--socket-dir-path",
                    fc->socks,
                    "--log-level",
                    "error",
                    "--runtime-arg",
                    rarg,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sp[1], 3);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    env = env_with("_OCI_SYNCPIPE=3");
    int rc = berth_bench_spawn_wait(argv, &fa, env);
    posix_spawn_file_actions_destroy(&fa);
    close(sp[1]);
    char buf[512];
    size_t len = 0;
    ssize_t n;
    /* The daemonised conmon keeps the pipe open: stop at the end of the
     * first JSON object instead of waiting for EOF. */
    while (len < sizeof(buf) - 1 && (n = read(sp[0], buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        if (strchr(buf, '}'))
            break;
    }
    buf[len] = '\0';
    close(sp[0]);
    json_t *j = json_loads(buf, 0, NULL);
    json_int_t pid = j ? json_integer_value(json_object_get(j, "data")) : -1;
    if (rc != 0 || pid <= 0) {
        p->error = berth_asprintf("conmon (exit %d): %s", rc, len ? buf : "no sync message");
        json_decref(j);
        goto out;
    }
    json_decref(j);
    double ts = berth_bench_mono_s();
    p->create = ts - t;
    char *start_argv[] = {(char *)o->oci_runtime, rarg, "start", p->name, NULL};
    rc = berth_bench_spawn_wait_quiet(start_argv);
    if (rc != 0) {
        p->error = berth_asprintf("%s start: exit %d", o->oci_runtime, rc);
        goto out;
    }
    p->pod_id = berth_strdup(p->name);
    p->ok = true;
    p->start = berth_bench_mono_s() - ts;
    p->ctr = berth_bench_mono_s() - t;
out:
    p->t_end = berth_bench_mono_s() - t0;
    p->latency = p->t_end - p->t_start;
}

static void floor_down(floor_ctx_t *fc, berth_bench_pod_t *p)
{
    const berth_bench_opts_t *o = fc->o;
    if (p->pod_id == NULL)
        return;
    BERTH_AUTO_FREE char *rarg = berth_asprintf("--root=%s", fc->runc_root);
    BERTH_AUTO_FREE char *exitf = berth_asprintf("%s/%s", fc->exits, p->name);
    double t = berth_bench_mono_s();
    char *kill_argv[] = {(char *)o->oci_runtime, rarg, "kill", p->name, "KILL", NULL};
    berth_bench_spawn_wait_quiet(kill_argv);
    /* conmon writes the exit file once it reaped the container. */
    for (int i = 0; i < 5000 && access(exitf, F_OK) < 0; i++)
        berth_bench_sleep_s(0.002);
    char *del_argv[] = {(char *)o->oci_runtime, rarg, "delete", "-f", p->name, NULL};
    if (berth_bench_spawn_wait_quiet(del_argv) != 0 && p->error == NULL)
        p->error = berth_asprintf("%s delete %s failed", o->oci_runtime, p->name);
    BERTH_AUTO_FREE char *ovl = berth_asprintf("%s/ovl/%s", o->floor_dir, p->name);
    if (!o->floor_runtime_spec) {
        BERTH_AUTO_FREE char *merged = berth_asprintf("%s/merged", ovl);
        umount2(merged, MNT_DETACH);
    }
    berth_fs_remove_tree(ovl);
    p->teardown = berth_bench_mono_s() - t;
    unlink(exitf);
    BERTH_AUTO_FREE char *cgp = berth_asprintf("/kubepods/besteffort/pod%s", p->uid);
    berth_bench_pod_cgroup(cgp, false);
}

typedef struct floor_pool {
    floor_ctx_t *fc;
    berth_bench_pod_t *pods;
    unsigned n;
    /* Index claims as in bench_core.c's pool: relaxed suffices, the join
     * orders results. */
    unsigned next;
    bool down;
    double t0;
} floor_pool_t;

static void *floor_worker(void *arg)
{
    floor_pool_t *fp = arg;
    for (;;) {
        unsigned i = __atomic_fetch_add(&fp->next, 1, __ATOMIC_RELAXED);
        if (i >= fp->n)
            break;
        if (fp->down)
            floor_down(fp->fc, &fp->pods[i]);
        else
            floor_up(fp->fc, &fp->pods[i], fp->t0);
        berth_bench_progress_tick();
    }
    return NULL;
}

static double floor_pool_run(floor_ctx_t *fc, berth_bench_pod_t *pods, unsigned n, bool down)
{
    floor_pool_t fp = {.fc = fc, .pods = pods, .n = n, .down = down, .t0 = berth_bench_mono_s()};
    return berth_bench_threads(fc->o, n, down, floor_worker, &fp, fp.t0);
}

json_t *berth_bench_floor_run(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                              const char *tag)
{
    unsigned n = o->n < 0 ? 110 : (unsigned)o->n;
    /* Runtime state and bundles on a tmpfs, as /run is on a node and as
     * scripts/bench-berth.sh gives berthd's runroot; the rootfs stays on the
     * disk like a CRI runtime's image store. */
    mkdir(o->floor_dir, 0755);
    BERTH_AUTO_FREE char *run = berth_asprintf("%s/run", o->floor_dir);
    mkdir(run, 0755);
    bool run_mounted = mount("berth-bench-floor", run, "tmpfs", 0, "mode=0755") == 0;
    if (!run_mounted)
        fprintf(stderr, "berth-bench: floor: no tmpfs on %s (%s): runtime state on %s's disk\n",
                run, strerror(errno), o->floor_dir);
    /* The pod's namespaces, pinned as berthd pins them (io/netns). */
    BERTH_AUTO_FREE char *pins = berth_asprintf("%s/ns", run);
    berth_netns_paths_t ns = {0};
    if (!o->floor_runtime_spec) {
        berth_netns_spec_t nspec = {
                .pin_dir = pins, .pod_id = "floor", .kinds = BERTH_NETNS_ALL, .hostname = "floor"};
        BERTH_AUTO_ERR berth_err_t nerr = NULL;
        if (berth_netns_create(&nspec, &ns, &nerr) < 0) {
            fprintf(stderr, "berth-bench: floor: pod namespaces: %s\n", nerr->msg);
            if (run_mounted)
                umount2(run, MNT_DETACH);
            return NULL;
        }
    }
    json_t *tmpl = floor_prepare(o, &ns);
    if (tmpl == NULL) {
        berth_netns_remove(&ns, NULL);
        berth_netns_paths_fini(&ns);
        berth_netns_dir_release(pins, NULL);
        if (run_mounted)
            umount2(run, MNT_DETACH);
        return NULL;
    }
    floor_ctx_t fc = {
            .o = o,
            .tmpl = tmpl,
            .runc_root = berth_asprintf("%s/runtime-root", run),
            .exits = berth_asprintf("%s/exits", run),
            .socks = berth_asprintf("%s/socks", run),
    };
    BERTH_AUTO_FREE char *cdir = berth_asprintf("%s/c", run);
    mkdir(cdir, 0755);
    mkdir(fc.runc_root, 0700);
    mkdir(fc.exits, 0755);
    mkdir(fc.socks, 0755);
    json_t *res = berth_bench_new_result(ep);
    berth_bench_pod_t *pods = berth_bench_pods_new(n, "floor", tag);
    berth_bench_watch_t w;
    berth_bench_watch_start(&w, ep, false); /* no CRI socket to relist */
    double wall = floor_pool_run(&fc, pods, n, false);
    berth_bench_watch_started(&w, res, pods, n, wall);
    double twall = floor_pool_run(&fc, pods, n, true);
    berth_bench_watch_stop(&w, res);
    berth_bench_teardown_figures(res, pods, n, twall);
    json_object_set_new(res, "oci_runtime", json_string(o->oci_runtime));
    json_object_set_new(res, "floor_spec",
                        json_string(o->floor_runtime_spec ? "runtime" : "berth"));
    berth_bench_pods_free(pods, n);
    json_decref(tmpl);
    berth_free(fc.runc_root);
    berth_free(fc.exits);
    berth_free(fc.socks);
    berth_netns_remove(&ns, NULL);
    berth_netns_paths_fini(&ns);
    berth_netns_dir_release(pins, NULL);
    /* Lazily: a conmon may still be closing its files. */
    if (run_mounted)
        umount2(run, MNT_DETACH);
    return res;
}

const berth_bench_scenario_t berth_bench_floor = {
        .name = "floor",
        .run = berth_bench_floor_run,
        .metrics = berth_bench_density_metrics,
        .plots = true,
};
