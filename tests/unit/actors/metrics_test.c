/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/metrics: berthd's families are there from the start, RPC stats are
 * made once per method (and once for unknown paths), OOM kills count in
 * total and by name, and /metrics served by io/httpsrv answers the text
 * format with its content type over a real socket.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../check.h"
#include "actors/metrics.h"
#include "engine/alloc.h"
#include "engine/metrics.h"
#include "engine/sched.h"

/* GET path over TCP on port; the whole answer (the server closes it). */
static char *get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return NULL;
    }
    char *req = berth_asprintf("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    (void)send(fd, req, strlen(req), MSG_NOSIGNAL);
    berth_free(req);
    size_t cap = 1 << 16, len = 0;
    char *buf = berth_malloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = berth_realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    berth_daemon_metrics_init();
    const berth_cri_method_t *run =
            berth_cri_method_lookup("/runtime.v1.RuntimeService/RunPodSandbox");
    berth_grpc_stats_t *st = berth_rpc_stats(run);
    ok(st != NULL && st == berth_rpc_stats(run) && strcmp(st->operation, "RunPodSandbox") == 0,
       "one stats block per method, named by the method");
    berth_grpc_stats_t *unk = berth_rpc_stats(NULL);
    ok(unk != NULL && unk != st && strcmp(unk->operation, "_unknown") == 0,
       "unknown paths share one block, operation _unknown");
    berth_metric_inc(st->total);
    berth_metric_set(st->latency_last, 1500000000);
    berth_metric_observe(st->latency, 1500000000);
    berth_metrics_container_oom("k8s_app_pod");
    berth_metrics_container_oom("k8s_app_pod");
    berth_metrics_container_oom("k8s_other_pod");
    berth_metrics_seccomp_refused("k8s_app_pod", "mkdir");
    berth_metrics_seccomp_refused("k8s_app_pod", "mkdir");
    berth_metrics_seccomp_refused("k8s_app_pod", "chmod");
    /* past the family's bound, pairs share the _other series */
    for (int i = 0; i < 1100; i++) {
        char n[32];
        snprintf(n, sizeof(n), "k8s_many_%d", i);
        berth_metrics_seccomp_refused(n, "syslog");
    }

    berth_err_t err = NULL;
    berth_engine_config_t ec = {.workers = 2};
    if (berth_engine_start(&ec, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    static const berth_httpsrv_route_t routes[] = {{"/metrics", berth_metrics_http, NULL}};
    berth_httpsrv_config_t hc = {.host = "127.0.0.1", .port = 0, .routes = routes, .nroutes = 1};
    berth_httpsrv_t srv;
    int rc = berth_httpsrv_start(&hc, &srv, &err);
    if (!check(rc == 0, "metrics endpoint started (%s)", err ? err->msg : "ok")) {
        printf("1..%d\n", ntest);
        return 1;
    }
    char *a = get(srv.port, "/metrics");
    ok(a && strncmp(a, "HTTP/1.1 200 ", 13) == 0 &&
               strstr(a, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
       "200 with the text format's content type");
    ok(a && strstr(a, "\ncontainer_runtime_crio_operations_total{operation=\"RunPodSandbox\"} 1\n"),
       "the operation's count");
    ok(a && strstr(a, "\ncontainer_runtime_crio_operations_latency_seconds{operation="
                      "\"RunPodSandbox\"} 1.5\n"),
       "the last latency, in seconds");
    ok(a && strstr(a, "\nberth_operations_latency_seconds_bucket{operation=\"RunPodSandbox\",le="
                      "\"2.5\"} 1\n"),
       "the latency histogram");
    ok(a && strstr(a, "\ncontainer_runtime_crio_containers_oom_total 3\n") &&
               strstr(a, "\ncontainer_runtime_crio_containers_oom_count_total{name="
                         "\"k8s_app_pod\"} 2\n"),
       "OOM kills in total and by container name");
    ok(a &&
               strstr(a, "\ncontainer_runtime_crio_containers_seccomp_notifier_count_total{name="
                         "\"k8s_app_pod\",syscall=\"mkdir\"} 2\n") &&
               strstr(a, "\ncontainer_runtime_crio_containers_seccomp_notifier_count_total{name="
                         "\"k8s_app_pod\",syscall=\"chmod\"} 1\n"),
       "seccomp notifier refusals by container name and syscall");
    ok(a && strstr(a, "\ncontainer_runtime_crio_containers_seccomp_notifier_count_total{name="
                      "\"_other\",syscall=\"_other\"} 102\n"),
       "seccomp notifier series bounded: the rest under _other");
    ok(a && strstr(a, "\n# TYPE container_runtime_crio_operations_errors_total counter\n") &&
               strstr(a, "\n# TYPE berth_actor_mailbox_depth gauge\n"),
       "families without samples yet are declared");
    ok(a && strstr(a, "\nberth_actors{class=\"http-conn\"} 1\n") &&
               strstr(a, "\nberth_actors{class=\"http-server\"} 1\n"),
       "the scrape hook counted the live actors by class");
    berth_free(a);
    a = get(srv.port, "/metrics");
    ok(a && strstr(a, "\nberth_metrics_scrape_seconds ") != NULL &&
               strstr(a, "\nberth_metrics_scrape_seconds 0\n") == NULL,
       "the previous scrape's duration is reported");
    berth_free(a);
    berth_httpsrv_stop(&srv);
    usleep(100 * 1000);
    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
