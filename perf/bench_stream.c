/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench stream (issue 14): the CRI streaming path, end to end, on one
 * pod with one busybox container started the kubelet's way.
 *
 * - exec round trip, N times (-n, 200): Exec of `echo x` with stdout and
 *   stderr (crictl's default), connect, upgrade, the streams, the output and
 *   the exit status; split into the Exec call and the stream part.
 * - echo: one long-lived Exec of `cat` with stdin; N lines written one at a
 *   time, each timed until it is back on stdout.
 * - port-forward setup: N/4 times (at least 5) PortForward, connect,
 *   upgrade, one pair, one byte through `cat` behind busybox nc in the pod.
 * - port-forward throughput: --pf-mib MiB (256) up to a server that reads
 *   exactly that much and answers "done", and down from one that writes
 *   exactly that much: bytes/s from the first byte to the last.
 *
 * The container runs three busybox nc servers (ports 5001-5003); the
 * runtime's CPU is sampled around the exec and the port-forward phases.
 * The transport is SPDY (what kubectl, crictl and the kubelet's proxy use)
 * unless --transport websocket.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"
#include "perf/stream_client.h"

#define PORT_UP 5001
#define PORT_DOWN 5002
#define PORT_ECHO 5003
#define WAIT_NS (60 * BERTH_BENCH_SEC)

/* The pod's servers. `read n` takes the size line a byte at a time (the
 * shell's read never reads past the newline); dd with count_bytes and
 * fullblock then moves exactly n bytes in 64 KiB blocks (busybox head -c
 * goes a byte at a time and would be the bottleneck). */
static const char *const servers[] = {
        "sh", "-c",
        "trap 'exit 0' TERM; "
        "nc -ll -p 5001 -e sh -c 'read n; dd of=/dev/null bs=65536 count=$n "
        "iflag=count_bytes,fullblock 2>/dev/null; echo done' & "
        "nc -ll -p 5002 -e sh -c 'read n; dd if=/dev/zero bs=65536 count=$n iflag=count_bytes "
        "2>/dev/null' & "
        "nc -ll -p 5003 -e cat & "
        "sleep 3600 & wait",
        NULL};

typedef struct sbench {
    const berth_bench_opts_t *o;
    berth_cri_client_t *cri;
    berth_stream_client_opts_t so;
    unsigned errors;
    json_t *errs; /* the first few, verbatim */
} sbench_t;

static void note_error(sbench_t *b, const char *what, berth_err_t *err, berth_cri_status_t *st,
                       const char *extra)
{
    b->errors++;
    if (json_array_size(b->errs) >= 5)
        return;
    BERTH_AUTO_FREE char *m = NULL;
    if (err && *err)
        m = berth_asprintf("%s: %s", what, (*err)->msg);
    else if (st && st->code != BERTH_GRPC_OK)
        m = berth_asprintf("%s: gRPC %d %s", what, st->code, st->msg ? st->msg : "");
    else
        m = berth_asprintf("%s: %s", what, extra ? extra : "failed");
    fprintf(stderr, "berth-bench: stream: %s\n", m);
    json_array_append_new(b->errs, json_string(m));
}

/* ---- exec ----------------------------------------------------------------- */

/* One Exec of `echo x`, end to end. 0 with the call's and the whole time. */
static int exec_once(sbench_t *b, const char *cid, double *t_call, double *t_all)
{
    static const char *const argv[] = {"echo", "x", NULL};
    berth_cri_stdio_t io = {.out = true, .err = true};
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    BERTH_AUTO_FREE char *url = NULL;
    double t0 = berth_bench_mono_s();
    int r = berth_cri_exec_url(b->cri, cid, argv, &io, 30 * BERTH_BENCH_SEC, &url, &st, &err);
    double t1 = berth_bench_mono_s();
    if (r < 0 || st.code != BERTH_GRPC_OK) {
        note_error(b, "Exec", &err, &st, NULL);
        berth_cri_status_fini(&st);
        return -1;
    }
    berth_stream_client_opts_t so = b->so;
    so.out = so.err = true;
    berth_stream_client_t *c = berth_stream_client_open(url, &so, NULL, &err);
    int code = -1;
    BERTH_AUTO_FREE char *msg = NULL;
    if (c == NULL ||
        berth_stream_client_wait_end(c, 1ull << BERTH_STREAM_STDOUT | 1ull << BERTH_STREAM_ERROR,
                                     WAIT_NS, &err) < 0 ||
        berth_stream_client_exit_status(c, WAIT_NS, &code, &msg, &err) < 0) {
        note_error(b, "exec stream", &err, NULL, NULL);
        berth_stream_client_free(c);
        return -1;
    }
    double t2 = berth_bench_mono_s();
    berth_bytebuf_t *out = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
    bool ok = code == 0 && berth_bytebuf_pending(out) == 2 &&
              memcmp(out->data + out->off, "x\n", 2) == 0;
    berth_stream_client_free(c);
    if (!ok) {
        BERTH_AUTO_FREE char *m =
                berth_asprintf("exit %d%s%s, %zu bytes of output", code, msg ? ": " : "",
                               msg ? msg : "", berth_bytebuf_pending(out));
        note_error(b, "exec", NULL, NULL, m);
        return -1;
    }
    *t_call = t1 - t0;
    *t_all = t2 - t0;
    return 0;
}

/* One Exec of `cat` with stdin, n lines each timed until it is back. */
static size_t echo_session(sbench_t *b, const char *cid, unsigned n, double *lat)
{
    static const char *const argv[] = {"cat", NULL};
    berth_cri_stdio_t io = {.in = true, .out = true};
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    BERTH_AUTO_FREE char *url = NULL;
    int r = berth_cri_exec_url(b->cri, cid, argv, &io, 30 * BERTH_BENCH_SEC, &url, &st, &err);
    if (r < 0 || st.code != BERTH_GRPC_OK) {
        note_error(b, "Exec cat", &err, &st, NULL);
        berth_cri_status_fini(&st);
        return 0;
    }
    berth_stream_client_opts_t so = b->so;
    so.in = so.out = true;
    berth_stream_client_t *c = berth_stream_client_open(url, &so, NULL, &err);
    if (c == NULL) {
        note_error(b, "echo stream", &err, NULL, NULL);
        return 0;
    }
    size_t k = 0;
    berth_bytebuf_t *out = berth_stream_client_in(c, BERTH_STREAM_STDOUT);
    /* an untimed first line: cat's start is the exec's cost, not the echo's */
    if (berth_stream_client_write(c, BERTH_STREAM_STDIN, "warm-up\n", 8, &err) < 0 ||
        berth_stream_client_wait(c, BERTH_STREAM_STDOUT, 8, WAIT_NS, &err) < 8) {
        note_error(b, "echo warm-up", &err, NULL, "no echo");
        berth_stream_client_free(c);
        return 0;
    }
    berth_bytebuf_consume(out, 8);
    for (unsigned i = 0; i < n; i++) {
        char line[16];
        int len = snprintf(line, sizeof(line), "%07u\n", i);
        double t0 = berth_bench_mono_s();
        if (berth_stream_client_write(c, BERTH_STREAM_STDIN, line, (size_t)len, &err) < 0 ||
            berth_stream_client_wait(c, BERTH_STREAM_STDOUT, (size_t)len, WAIT_NS, &err) < 0) {
            note_error(b, "echo", &err, NULL, NULL);
            break;
        }
        if (berth_bytebuf_pending(out) < (size_t)len ||
            memcmp(out->data + out->off, line, (size_t)len) != 0) {
            note_error(b, "echo", NULL, NULL, "the line did not come back unchanged");
            break;
        }
        lat[k++] = berth_bench_mono_s() - t0;
        berth_bytebuf_consume(out, (size_t)len);
    }
    /* cat ends with its stdin (not over WebSocket v4, which cannot say so:
     * closing the session then ends it) */
    int code = -1;
    BERTH_AUTO_FREE char *msg = NULL;
    berth_err_t e2 = NULL;
    if (berth_stream_client_close_write(c, BERTH_STREAM_STDIN, &e2) == 0 &&
        berth_stream_client_exit_status(c, WAIT_NS, &code, &msg, &e2) == 0 && code != 0)
        note_error(b, "echo exit", NULL, NULL, msg ? msg : "cat failed");
    berth_err_free(&e2);
    berth_stream_client_free(c);
    return k;
}

/* ---- port-forward ----------------------------------------------------------- */

static berth_stream_client_t *pf_session(sbench_t *b, const char *pod_id, int port, int *pair)
{
    int32_t ports[1] = {port};
    berth_cri_status_t st = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    BERTH_AUTO_FREE char *url = NULL;
    int r = berth_cri_port_forward_url(b->cri, pod_id, ports, 1, 30 * BERTH_BENCH_SEC, &url, &st,
                                       &err);
    if (r < 0 || st.code != BERTH_GRPC_OK) {
        note_error(b, "PortForward", &err, &st, NULL);
        berth_cri_status_fini(&st);
        return NULL;
    }
    berth_stream_client_opts_t so = b->so;
    so.ports = ports;
    so.nports = 1;
    berth_stream_client_t *c = berth_stream_client_open(url, &so, NULL, &err);
    if (c == NULL || (*pair = berth_stream_client_pf_open(c, port, &err)) < 0) {
        note_error(b, "port-forward stream", &err, NULL, NULL);
        berth_stream_client_free(c);
        return NULL;
    }
    return c;
}

/* Whatever the runtime said on the pair's error stream, as an error. */
static bool pf_complaint(sbench_t *b, berth_stream_client_t *c, int k)
{
    berth_bytebuf_t *e = berth_stream_client_in(c, BERTH_STREAM_PF_ERROR(k));
    if (berth_bytebuf_pending(e) == 0)
        return false;
    BERTH_AUTO_FREE char *m =
            berth_strndup((const char *)e->data + e->off, berth_bytebuf_pending(e));
    note_error(b, "port-forward", NULL, NULL, m);
    return true;
}

/* PortForward to the echo port, one byte there and back: the setup time. */
static int pf_setup_once(sbench_t *b, const char *pod_id, double *t)
{
    double t0 = berth_bench_mono_s();
    int k = -1;
    berth_stream_client_t *c = pf_session(b, pod_id, PORT_ECHO, &k);
    if (c == NULL)
        return -1;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int rc = 0;
    if (berth_stream_client_write(c, BERTH_STREAM_PF_DATA(k), "p", 1, &err) < 0 ||
        berth_stream_client_wait(c, BERTH_STREAM_PF_DATA(k), 1, WAIT_NS, &err) < 1) {
        if (!pf_complaint(b, c, k))
            note_error(b, "port-forward echo", &err, NULL, "no byte came back");
        rc = -1;
    }
    *t = berth_bench_mono_s() - t0;
    berth_stream_client_free(c);
    return rc;
}

/* --pf-mib MiB up (to the server that answers "done") or down; MiB/s and
 * the runtime CPU meanwhile. */
static int pf_transfer(sbench_t *b, const berth_bench_endpoint_t *ep, const char *pod_id, bool up,
                       double *mibps, double *cpu_s)
{
    size_t total = (size_t)b->o->pf_mib << 20;
    int k = -1;
    berth_stream_client_t *c = pf_session(b, pod_id, up ? PORT_UP : PORT_DOWN, &k);
    if (c == NULL)
        return -1;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    int data = BERTH_STREAM_PF_DATA(k);
    char size_line[32];
    int sl = snprintf(size_line, sizeof(size_line), "%zu\n", total);
    BERTH_AUTO_FREE uint8_t *block = berth_malloc(1 << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        block[i] = (uint8_t)(i * 131 + 7);
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double t0 = berth_bench_mono_s();
    int rc = berth_stream_client_write(c, data, size_line, (size_t)sl, &err);
    size_t moved = 0;
    if (up) {
        for (; rc == 0 && moved < total; moved += 1u << 20)
            rc = berth_stream_client_write(c, data, block, 1u << 20, &err);
        if (rc == 0 && berth_stream_client_wait(c, data, 5, WAIT_NS, &err) < 5)
            rc = -1;
    } else {
        berth_bytebuf_t *in = berth_stream_client_in(c, data);
        while (rc == 0 && moved < total) {
            ssize_t n = berth_stream_client_wait(c, data, 1, WAIT_NS, &err);
            if (n <= 0) {
                rc = -1;
                break;
            }
            moved += (size_t)n;
            berth_bytebuf_consume(in, (size_t)n);
        }
    }
    double dt = berth_bench_mono_s() - t0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    if (rc < 0 || moved < total) {
        if (!pf_complaint(b, c, k)) {
            BERTH_AUTO_FREE char *m = berth_asprintf("%zu of %zu bytes", moved, total);
            note_error(b, up ? "port-forward upload" : "port-forward download", &err, NULL, m);
        }
        berth_stream_client_free(c);
        return -1;
    }
    berth_stream_client_free(c);
    *mibps = dt > 0 ? (double)total / (1 << 20) / dt : 0;
    *cpu_s = u1.cpu_s - u0.cpu_s;
    return 0;
}

/* ---- the run ---------------------------------------------------------------- */

static void put_summary(json_t *res, const char *key, const double *v, size_t n)
{
    if (n == 0)
        return;
    berth_bench_summary_t s;
    berth_bench_summarize(v, n, &s);
    json_object_set_new(res, key, berth_bench_summary_json(&s));
}

static json_t *run_stream(const berth_bench_opts_t *o, const berth_bench_endpoint_t *ep,
                          const char *tag)
{
    unsigned n = o->n < 0 ? 200 : (unsigned)o->n;
    unsigned nsetup = n / 4 < 5 ? 5 : n / 4;
    if (berth_bench_pull_image(o, ep) < 0)
        return NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_cri_client_t *cri = berth_cri_client_new(ep->sock, &err);
    if (cri == NULL) {
        fprintf(stderr, "berth-bench: stream: %s\n", err->msg);
        return NULL;
    }
    /* the pod as every scenario runs it, with the servers as its command */
    berth_bench_opts_t po = *o;
    po.command = (char **)servers;
    berth_bench_pod_t *pods = berth_bench_pods_new(1, "stream", tag);
    berth_bench_pod_up(&po, cri, &pods[0], berth_bench_mono_s());
    if (!pods[0].ok) {
        fprintf(stderr, "berth-bench: stream: the pod did not start: %s\n",
                pods[0].error ? pods[0].error : "?");
        berth_bench_pod_down(cri, &pods[0]);
        berth_bench_pods_free(pods, 1);
        berth_cri_client_free(cri);
        return NULL;
    }
    sbench_t b = {.o = o, .cri = cri, .errs = json_array()};
    b.so.transport = o->transport && strcmp(o->transport, "websocket") == 0 ? BERTH_STREAM_WEBSOCKET
                                                                            : BERTH_STREAM_SPDY;
    b.so.timeout_ns = 30 * BERTH_BENCH_SEC;
    json_t *res = berth_bench_new_result(ep);
    json_t *rt = json_object_get(res, "runtime");
    const char *cid = pods[0].ctr_id;
    /* nc's listeners start with the container: give them a moment */
    berth_bench_sleep_s(0.5);

    BERTH_AUTO_FREE double *call = berth_calloc(n ? n : 1, sizeof(double));
    BERTH_AUTO_FREE double *all = berth_calloc(n ? n : 1, sizeof(double));
    BERTH_AUTO_FREE double *rest = berth_calloc(n ? n : 1, sizeof(double));
    size_t k = 0;
    berth_bench_usage_t u0, u1;
    berth_bench_usage_sample((const char *const *)ep->procs, &u0);
    double t0 = berth_bench_mono_s();
    berth_bench_progress_begin(o, "exec", n);
    for (unsigned i = 0; i < n; i++) {
        if (exec_once(&b, cid, &call[k], &all[k]) == 0) {
            rest[k] = all[k] - call[k];
            k++;
        }
        berth_bench_progress_tick();
    }
    berth_bench_progress_end();
    double exec_wall = berth_bench_mono_s() - t0;
    berth_bench_usage_sample((const char *const *)ep->procs, &u1);
    put_summary(res, "exec_s", all, k);
    put_summary(res, "exec_call_s", call, k);
    put_summary(res, "exec_stream_s", rest, k);
    json_object_set_new(res, "execs", json_integer((json_int_t)k));
    json_object_set_new(res, "exec_per_s", json_real(exec_wall > 0 ? (double)k / exec_wall : 0));
    json_object_set_new(rt, "cpu_ms_per_exec",
                        json_real(k ? 1000.0 * (u1.cpu_s - u0.cpu_s) / (double)k : 0));

    BERTH_AUTO_FREE double *echo = berth_calloc(n ? n : 1, sizeof(double));
    size_t ke = echo_session(&b, cid, n, echo);
    put_summary(res, "echo_s", echo, ke);

    BERTH_AUTO_FREE double *setup = berth_calloc(nsetup, sizeof(double));
    size_t ks = 0;
    for (unsigned i = 0; i < nsetup; i++)
        if (pf_setup_once(&b, pods[0].pod_id, &setup[ks]) == 0)
            ks++;
    put_summary(res, "pf_setup_s", setup, ks);

    double up = NAN, down = NAN, cpu_up = NAN, cpu_down = NAN;
    if (pf_transfer(&b, ep, pods[0].pod_id, true, &up, &cpu_up) == 0) {
        json_object_set_new(res, "pf_up_mib_s", json_real(up));
        json_object_set_new(rt, "pf_up_cpu_s_per_gib",
                            json_real(cpu_up * 1024.0 / (double)o->pf_mib));
    }
    if (pf_transfer(&b, ep, pods[0].pod_id, false, &down, &cpu_down) == 0) {
        json_object_set_new(res, "pf_down_mib_s", json_real(down));
        json_object_set_new(rt, "pf_down_cpu_s_per_gib",
                            json_real(cpu_down * 1024.0 / (double)o->pf_mib));
    }
    json_object_set_new(res, "pf_mib", json_integer(o->pf_mib));
    json_object_set_new(
            res, "transport",
            json_string(b.so.transport == BERTH_STREAM_WEBSOCKET ? "websocket" : "spdy"));
    json_object_set_new(res, "errors", json_integer(b.errors));
    json_object_set_new(res, "error_list", b.errs);

    berth_bench_pod_down(cri, &pods[0]);
    berth_bench_pods_free(pods, 1);
    berth_cri_client_free(cri);
    return res;
}

static void print_detail(json_t *res)
{
    double p50 = berth_bench_json_number(res, "exec_s.p50");
    double up = berth_bench_json_number(res, "pf_up_mib_s");
    double down = berth_bench_json_number(res, "pf_down_mib_s");
    fprintf(stderr,
            "berth-bench: stream on %s: exec p50 %.1f ms, echo p50 %.2f ms, port-forward "
            "setup p50 %.1f ms, up %.0f MiB/s, down %.0f MiB/s, %lld errors\n",
            json_string_value(json_object_get(res, "endpoint")), p50 * 1000,
            berth_bench_json_number(res, "echo_s.p50") * 1000,
            berth_bench_json_number(res, "pf_setup_s.p50") * 1000, up, down,
            (long long)json_integer_value(json_object_get(res, "errors")));
}

static const berth_bench_metric_t stream_metrics[] = {
        {"exec_s.p50", "exec round trip p50 (ms)", 1000},
        {"exec_s.p90", "exec round trip p90 (ms)", 1000},
        {"exec_s.p99", "exec round trip p99 (ms)", 1000},
        {"exec_call_s.p50", "  Exec call p50 (ms)", 1000},
        {"exec_stream_s.p50", "  stream to exit status p50 (ms)", 1000},
        {"runtime.cpu_ms_per_exec", "runtime CPU per exec (ms)", 1},
        {"echo_s.p50", "stdin->stdout echo p50 (ms)", 1000},
        {"echo_s.p99", "stdin->stdout echo p99 (ms)", 1000},
        {"pf_setup_s.p50", "port-forward setup p50 (ms)", 1000},
        {"pf_setup_s.p99", "port-forward setup p99 (ms)", 1000},
        {"pf_up_mib_s", "port-forward upload (MiB/s)", 1},
        {"pf_down_mib_s", "port-forward download (MiB/s)", 1},
        {"runtime.pf_up_cpu_s_per_gib", "runtime CPU per GiB up (s)", 1},
        {"runtime.pf_down_cpu_s_per_gib", "runtime CPU per GiB down (s)", 1},
        {"errors", "errors", 1},
        {NULL, NULL, 0},
};

const berth_bench_scenario_t berth_bench_stream = {
        .name = "stream",
        .run = run_stream,
        .metrics = stream_metrics,
        .print_detail = print_detail,
};
