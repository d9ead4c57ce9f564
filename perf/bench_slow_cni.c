/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench slow-cni: a chained CNI plugin that sleeps D s on ADD goes
 * first in the runtime's CNI conf dir, and pods are run kubelet-style
 * (deadline, backoff, perf/kubesim): errors the client saw, ADD calls, and
 * the time from the slow ADD's end to the client's success. It removes the
 * plugin, its conflist and its bridge (berthslow0) afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"
#include "perf/kubesim.h"

/* A chained CNI plugin that logs each call and sleeps on ADD, then passes
 * the previous result on. Killed mid-sleep (the runtime gave up), it writes
 * no "end" line: that ADD never finished. */
static const char slow_plugin[] =
        "#!/bin/sh\n"
        "# berth-bench slow-cni: logs calls to countFile, sleeps delay s on ADD.\n"
        "conf=$(cat)\n"
        "count=$(printf '%s' \"$conf\" | jq -r .countFile)\n"
        "delay=$(printf '%s' \"$conf\" | jq -r .delay)\n"
        "pod=$(printf '%s' \"$CNI_ARGS\" | tr ';' '\\n' | sed -n 's/^K8S_POD_NAME=//p')\n"
        "case \"$CNI_COMMAND\" in\n"
        "ADD)\n"
        "  echo \"ADD $pod $CNI_CONTAINERID start $(date +%s.%N)\" >>\"$count\"\n"
        "  sleep \"$delay\"\n"
        "  echo \"ADD $pod $CNI_CONTAINERID end $(date +%s.%N)\" >>\"$count\"\n"
        "  printf '%s' \"$conf\" | jq -c '.prevResult // {cniVersion: \"1.0.0\"}'\n"
        "  ;;\n"
        "DEL) echo \"DEL $pod $CNI_CONTAINERID x $(date +%s.%N)\" >>\"$count\" ;;\n"
        "VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
        "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}' ;;\n"
        "esac\n"
        "exit 0\n";

static int write_file(const char *path, const char *data, mode_t mode)
{
    BERTH_AUTO_FREE char *tmp = berth_asprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(data);
    bool ok = write(fd, data, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

typedef struct cni_calls {
    unsigned adds, dels, adds_finished;
    double first_end; /* realtime of the first finished ADD, 0 if none */
} cni_calls_t;

static void count_cni(const char *path, const char *pod, cni_calls_t *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[512], op[8], name[128], cid[128], what[16];
    double ts;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%7s %127s %127s %15s %lf", op, name, cid, what, &ts) != 5)
            continue;
        if (strcmp(name, pod) != 0)
            continue;
        if (strcmp(op, "DEL") == 0) {
            out->dels++;
        } else if (strcmp(what, "start") == 0) {
            out->adds++;
        } else if (strcmp(what, "end") == 0) {
            out->adds_finished++;
            if (out->first_end == 0)
                out->first_end = ts;
        }
    }
    fclose(f);
}

typedef struct slow_pod {
    const berth_bench_opts_t *o;
    const berth_bench_endpoint_t *ep;
    berth_bench_pod_t rec;
    berth_kubesim_retry_t retry;
    double real_t0;
    pthread_t th;
} slow_pod_t;

static void *slow_main(void *arg)
{
    slow_pod_t *sp = arg;
    const berth_bench_opts_t *o = sp->o;
    berth_cri_pod_spec_t ps = {.name = sp->rec.name,
                               .uid = sp->rec.uid,
                               .namespace_ = "berth-bench",
                               .log_root = BERTH_BENCH_LOG_ROOT,
                               .runtime_handler = o->handler};
    berth_cri_pod_config_t *pc = berth_cri_pod_config_new(&ps);
    berth_kubesim_params_t p = {
            .deadline_ns = (uint64_t)(o->deadline * 1e9),
            .backoff_ns = (uint64_t)(o->backoff * 1e9),
            .backoff_factor = 1.0,
            .max_ns = (uint64_t)(o->max * 1e9),
    };
    berth_cri_client_t *c = NULL;
    /* As the kubelet does around RunPodSandbox: the pod's log directory
     * first, PodSandboxStatus once it runs. */
    berth_bench_log_dir_make(BERTH_BENCH_LOG_ROOT, sp->rec.name, sp->rec.uid, NULL);
    sp->real_t0 = berth_bench_real_s();
    berth_kubesim_run_pod(&c, sp->ep->sock, pc, &p, &sp->retry, &sp->rec.pod_id);
    if (sp->rec.pod_id != NULL && c != NULL) {
        berth_cri_status_t st = {0};
        BERTH_AUTO_ERR berth_err_t err = NULL;
        berth_cri_pod_status_id(c, sp->rec.pod_id, 10ull * 1000000000ull, &st, &err);
        berth_cri_status_fini(&st);
    }
    berth_cri_client_free(c);
    berth_cri_pod_config_free(pc);
    berth_bench_progress_tick();
    return NULL;
}

/* The runtime's CNI directory for ep: from --cni-conf-dir / --cni-bin-dir
 * (opt), either "DIR" for every endpoint or "LABEL=DIR,LABEL=DIR" (for
 * --compare); else SOCKDIR/leaf when that directory exists, the layout of
 * scripts/bench-berth.sh and scripts/peer-containerd.sh. NULL: unknown. */
static char *cni_dir(const berth_bench_endpoint_t *ep, const char *opt, const char *leaf)
{
    if (opt && strchr(opt, '=') == NULL)
        return berth_strdup(opt);
    if (opt) {
        char **v = berth_bench_strv_split(opt, ',');
        char *dir = NULL;
        size_t ll = strlen(ep->label);
        for (char **e = v; *e && dir == NULL; e++)
            if (strncmp(*e, ep->label, ll) == 0 && (*e)[ll] == '=')
                dir = berth_strdup(*e + ll + 1);
        berth_bench_strv_free(v);
        return dir;
    }
    const char *slash = strrchr(ep->sock, '/');
    if (slash == NULL)
        return NULL;
    char *dir = berth_asprintf("%.*s/%s", (int)(slash - ep->sock), ep->sock, leaf);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    berth_free(dir);
    return NULL;
}

static json_t *run_slow_cni(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                            const char *tag)
{
    BERTH_AUTO_FREE char *conf_dir = cni_dir(ep, o->cni_conf_dir, "cni-conf");
    BERTH_AUTO_FREE char *bin_dir = cni_dir(ep, o->cni_bin_dir, "cni-bin");
    if (conf_dir == NULL || bin_dir == NULL) {
        fprintf(stderr,
                "berth-bench: %s: slow-cni needs --cni-conf-dir and --cni-bin-dir (the "
                "runtime's own CNI directories)\n",
                ep->label);
        return NULL;
    }
    unsigned n = o->n < 0 ? 1 : (unsigned)o->n;
    BERTH_AUTO_FREE char *plugin = berth_asprintf("%s/berth-bench-slow", bin_dir);
    BERTH_AUTO_FREE char *conf = berth_asprintf("%s/00-berth-bench-slow.conflist", conf_dir);
    BERTH_AUTO_FREE char *count = berth_asprintf("/tmp/berth-bench-slow-%s.log", tag);
    BERTH_AUTO_FREE char *ipam = berth_asprintf("/tmp/berth-bench-slow-ipam-%s", tag);
    BERTH_AUTO_FREE char *conf_text = berth_asprintf(
            "{\"cniVersion\":\"1.0.0\",\"name\":\"berth-bench-slow\",\"plugins\":["
            "{\"type\":\"bridge\",\"bridge\":\"berthslow0\",\"isGateway\":true,\"ipMasq\":false,"
            "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.214.1.0/24\"}]],"
            "\"dataDir\":\"%s\"}},"
            "{\"type\":\"berth-bench-slow\",\"delay\":%g,\"countFile\":\"%s\"}]}\n",
            ipam, o->slow_delay, count);
    if (write_file(plugin, slow_plugin, 0755) < 0 || write_file(conf, conf_text, 0644) < 0) {
        fprintf(stderr, "berth-bench: cannot install the slow CNI plugin: %s\n", strerror(errno));
        unlink(plugin);
        return NULL;
    }
    /* Runtimes pick up CNI config changes asynchronously (inotify). */
    berth_bench_sleep_s(3);

    json_t *res = berth_bench_new_result(ep);
    slow_pod_t *sps = berth_calloc(n, sizeof(*sps));
    berth_bench_progress_begin(o, "slow-cni", n);
    for (unsigned i = 0; i < n; i++) {
        sps[i].o = o;
        sps[i].ep = ep;
        snprintf(sps[i].rec.name, sizeof(sps[i].rec.name), "slow-%s-%u", tag, i);
        snprintf(sps[i].rec.uid, sizeof(sps[i].rec.uid), "slow-uid-%s-%u", tag, i);
        pthread_create(&sps[i].th, NULL, slow_main, &sps[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(sps[i].th, NULL);
    berth_bench_progress_end();

    json_t *per = json_array();
    unsigned ok = 0, errors = 0, adds = 0;
    BERTH_AUTO_FREE double *handoff = berth_calloc(n, sizeof(double));
    size_t kh = 0;
    for (unsigned i = 0; i < n; i++) {
        slow_pod_t *sp = &sps[i];
        cni_calls_t cc;
        count_cni(count, sp->rec.name, &cc);
        json_t *j = berth_kubesim_retry_json(&sp->retry);
        json_object_set_new(j, "pod", json_string(sp->rec.name));
        json_object_set_new(j, "cni_add_calls", json_integer(cc.adds));
        json_object_set_new(j, "cni_adds_finished", json_integer(cc.adds_finished));
        json_object_set_new(j, "cni_del_calls", json_integer(cc.dels));
        size_t e = sp->retry.n_attempts - (sp->retry.state == BERTH_KUBESIM_SUCCEEDED);
        errors += (unsigned)e;
        adds += cc.adds;
        if (sp->retry.state == BERTH_KUBESIM_SUCCEEDED) {
            ok++;
            double success =
                    sp->real_t0 + (double)berth_kubesim_retry_time_to_success(&sp->retry) / 1e9;
            if (cc.first_end > 0) {
                handoff[kh] = success - cc.first_end;
                json_object_set_new(j, "handoff_s", json_real(handoff[kh++]));
            }
        }
        json_array_append_new(per, j);
        berth_kubesim_retry_fini(&sp->retry);
    }
    /* Clean up the pods and take the plugin out before the next run. */
    unlink(conf);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *c = berth_cri_client_new(ep->sock, &err);
    for (unsigned i = 0; c && i < n; i++)
        berth_bench_pod_down(c, &sps[i].rec);
    berth_cri_client_free(c);
    for (unsigned i = 0; i < n; i++)
        berth_bench_pod_fini(&sps[i].rec);
    berth_free(sps);
    unlink(plugin);
    /* The slow network's bridge outlives its pods; nothing else uses it. */
    char *ip_argv[] = {"/usr/sbin/ip", "link", "del", "berthslow0", NULL};
    berth_bench_spawn_wait_quiet(ip_argv);

    berth_bench_summary_t s;
    berth_bench_summarize(handoff, kh, &s);
    json_object_set_new(res, "pods", json_integer(n));
    json_object_set_new(res, "succeeded", json_integer(ok));
    json_object_set_new(res, "errors", json_integer(errors));
    json_object_set_new(res, "cni_add_calls", json_integer(adds));
    if (kh > 0) /* absent, not 0, when no pod ever got its sandbox */
        json_object_set_new(res, "handoff_s", berth_bench_summary_json(&s));
    json_object_set_new(res, "params",
                        json_pack("{s:f,s:f,s:f,s:f}", "cni_delay_s", o->slow_delay, "deadline_s",
                                  o->deadline, "backoff_s", o->backoff, "max_s", o->max));
    json_object_set_new(res, "per_pod", per);
    json_object_set_new(res, "cni_log", json_string(count));
    return res;
}

static const berth_bench_metric_t slow_metrics[] = {
        {"pods", "pods", 1},
        {"succeeded", "pods started", 1},
        {"errors", "errors seen by the client", 1},
        {"cni_add_calls", "CNI ADD calls", 1},
        {"handoff_s.p50", "slow step end -> success p50 (s)", 1},
        {"handoff_s.max", "slow step end -> success max (s)", 1},
        {NULL, NULL, 0},
};

static void print_slow_detail(json_t *res)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(res, "per_pod"), i, p)
    {
        printf("  %s: %s, %lld attempt(s), CNI ADD %lld (finished %lld), DEL %lld",
               json_string_value(json_object_get(p, "pod")),
               json_string_value(json_object_get(p, "state")),
               json_integer_value(json_object_get(p, "attempts")),
               json_integer_value(json_object_get(p, "cni_add_calls")),
               json_integer_value(json_object_get(p, "cni_adds_finished")),
               json_integer_value(json_object_get(p, "cni_del_calls")));
        json_t *tts = json_object_get(p, "time_to_success_s");
        if (json_is_number(tts))
            printf(", success after %.3f s", json_number_value(tts));
        json_t *h = json_object_get(p, "handoff_s");
        if (json_is_number(h))
            printf(", %.3f s after the slow step ended", json_number_value(h));
        printf("\n");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(p, "errors"), k, v)
        {
            printf("    errors %-20s %lld\n", k, json_integer_value(v));
        }
    }
}

const berth_bench_scenario_t berth_bench_slow_cni = {
        .name = "slow-cni",
        .run = run_slow_cni,
        .metrics = slow_metrics,
        .print_detail = print_slow_detail,
};
