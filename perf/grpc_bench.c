/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC round-trip benchmark: unary calls per second and latency with 1, 8 and
 * 64 concurrent clients (one thread and one connection each). By default it
 * starts an in-process server with an echo dispatcher on a temporary socket;
 * with --socket PATH it calls /runtime.v1.RuntimeService/Version on a running
 * berthd instead. Prints figures; never a pass/fail test.
 *
 *   grpc_bench [--socket PATH] [--seconds N] [--calls M] [--clients a,b,c]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/grpc.h"
#include "io/grpc_client.h"

static const char *sock_path;
static const char *method = "/berth.bench.Echo/Unary";
static double seconds = 3.0;
static long max_calls;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the in-process echo dispatcher ----------------------------------- */

static void echo_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == BERTH_MSG_GRPC_REQUEST) {
        berth_grpc_request_msg_t *r = (berth_grpc_request_msg_t *)msg;
        berth_grpc_reply(r->call, r->body, r->len);
    }
    /* (freeing a request or cancel drops its call) */
    berth_msg_free(msg);
}

static const berth_actor_class_t echo_class = {"bench-echo", echo_receive, NULL};

/* ---- client threads ---------------------------------------------------- */

typedef struct worker {
    pthread_t tid;
    uint64_t *lat;
    size_t n, cap;
    long errors;
    uint64_t stop_at;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    berth_err_t err = NULL;
    berth_grpc_client_t *c = berth_grpc_client_new(sock_path, &err);
    if (!c) {
        fprintf(stderr, "grpc_bench: %s\n", err->msg);
        berth_err_free(&err);
        w->errors++;
        return NULL;
    }
    static const char payload[32] = "berth grpc bench payload 32 b..";
    size_t plen = strcmp(method, "/runtime.v1.RuntimeService/Version") == 0 ? 0 : sizeof(payload);
    for (;;) {
        uint64_t t0 = mono_ns();
        if (t0 >= w->stop_at || (max_calls && (long)w->n >= max_calls))
            break;
        uint8_t *resp = NULL;
        size_t rlen = 0;
        int status = -1;
        int rc = berth_grpc_client_call(c, method, payload, plen, 10000000000ull, &resp, &rlen,
                                        &status, NULL, &err);
        uint64_t t1 = mono_ns();
        berth_free(resp);
        if (rc < 0 || status != 0) {
            berth_err_free(&err);
            w->errors++;
            if (rc < 0)
                break;
            continue;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = berth_realloc(w->lat, w->cap * sizeof(*w->lat));
        }
        w->lat[w->n++] = t1 - t0;
    }
    berth_grpc_client_free(c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_level(int nclients)
{
    worker_t *ws = berth_calloc((size_t)nclients, sizeof(*ws));
    uint64_t start = mono_ns();
    uint64_t stop_at = max_calls ? UINT64_MAX : start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < nclients; i++) {
        ws[i].stop_at = stop_at;
        pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
    }
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < nclients; i++) {
        pthread_join(ws[i].tid, NULL);
        total += ws[i].n;
        errors += ws[i].errors;
    }
    double elapsed = (double)(mono_ns() - start) / 1e9;
    uint64_t *all = berth_malloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    for (int i = 0; i < nclients; i++) {
        memcpy(all + k, ws[i].lat, ws[i].n * sizeof(*all));
        k += ws[i].n;
        berth_free(ws[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    double p50 = total ? (double)all[total / 2] / 1e3 : 0;
    double p99 = total ? (double)all[(size_t)((double)total * 0.99)] / 1e3 : 0;
    printf("%8d %10zu %12.0f %12.1f %12.1f %8ld\n", nclients, total, (double)total / elapsed, p50,
           p99, errors);
    fflush(stdout);
    berth_free(all);
    berth_free(ws);
}

static void usage(void)
{
    fprintf(stderr, "usage: grpc_bench [--socket PATH] [--seconds N] [--calls M] "
                    "[--clients 1,8,64]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *levels = "1,8,64";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            sock_path = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            max_calls = atol(argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            levels = argv[++i];
        else
            usage();
    }
    if (seconds <= 0)
        usage();

    char dir[] = "/tmp/berth-grpc-bench.XXXXXX";
    char path[96];
    berth_handle_t listener = BERTH_HANDLE_NONE;
    bool inproc = sock_path == NULL;
    if (inproc) {
        berth_err_t err = NULL;
        berth_engine_config_t ec = {0};
        if (berth_engine_start(&ec, &err) < 0) {
            fprintf(stderr, "grpc_bench: %s\n", err->msg);
            return 1;
        }
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/bench.sock", dir);
        berth_handle_t echo = berth_actor_spawn(&echo_class, NULL);
        berth_grpc_server_config_t cfg = {.path = path, .mode = 0600, .dispatch = echo};
        if (berth_grpc_server_start(&cfg, &listener, &err) < 0) {
            fprintf(stderr, "grpc_bench: %s\n", err->msg);
            return 1;
        }
        sock_path = path;
        printf("in-process server (%u workers, echo dispatcher), 32-byte messages\n",
               berth_engine_workers());
    } else {
        method = "/runtime.v1.RuntimeService/Version";
        printf("berthd at %s, %s\n", sock_path, method);
    }
    printf("%8s %10s %12s %12s %12s %8s\n", "clients", "calls", "calls/s", "p50 us", "p99 us",
           "errors");

    char *copy = berth_strdup(levels);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int n = atoi(tok);
        if (n > 0 && n <= 1024)
            run_level(n);
    }
    berth_free(copy);

    if (inproc) {
        berth_grpc_server_stop(listener, 1000000000ull, BERTH_HANDLE_NONE, NULL);
        usleep(100 * 1000);
        berth_engine_stop();
        berth_engine_join();
        berth_engine_shutdown();
        unlink(path);
        rmdir(dir);
    }
    return 0;
}
