/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubelet-sim: runs one pod the way the kubelet does (perf/kubesim.h):
 * RunPodSandbox with a deadline, retried with the same request after a
 * backoff until it succeeds or a time budget runs out; optionally then
 * CreateContainer + StartContainer the same way. Prints the errors seen by
 * code, the attempts and the time from the first request to success; --json
 * writes the same as a document. It only ever talks CRI to the socket given.
 *
 *   kubelet-sim --socket PATH [--name N] [--uid U] [--namespace NS]
 *               [--attempt A] [--deadline S] [--backoff S] [--max S]
 *               [--image REF [--pull]] [--cleanup] [--json FILE|-]
 *
 * Exit status: 0 when the pod (and container) came up, 1 when the budget ran
 * out, 2 on usage errors.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/kubesim.h"

#define SEC 1000000000ull

static void usage(FILE *f)
{
    fputs("usage: kubelet-sim --socket PATH [--name N] [--uid U] [--namespace NS]\n"
          "                   [--attempt A] [--deadline S] [--backoff S] [--max S]\n"
          "                   [--image REF [--pull]] [--cleanup] [--json FILE|-]\n",
          f);
}

static uint64_t parse_secs(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0) {
        fprintf(stderr, "kubelet-sim: bad duration %s (seconds)\n", s);
        exit(2);
    }
    return (uint64_t)(v * 1e9);
}

static void print_retry(const char *what, const berth_kubesim_retry_t *r)
{
    printf("%s: %s after %zu attempt(s)", what,
           r->state == BERTH_KUBESIM_SUCCEEDED ? "succeeded" : "gave up", r->n_attempts);
    if (r->state == BERTH_KUBESIM_SUCCEEDED)
        printf(", %.3f s from first request to success",
               (double)berth_kubesim_retry_time_to_success(r) / 1e9);
    printf("\n");
    for (int code = 1; code <= BERTH_GRPC_UNAUTHENTICATED; code++) {
        size_t n = berth_kubesim_retry_count(r, code);
        if (n)
            printf("  errors %-20s %zu\n", berth_grpc_code_name(code), n);
    }
    for (size_t i = 0; i < r->n_attempts; i++) {
        const berth_kubesim_attempt_t *a = &r->attempts[i];
        printf("  #%-3zu %8.3f s .. %8.3f s  %-18s %s\n", i + 1, (double)a->start_ns / 1e9,
               (double)a->end_ns / 1e9, berth_grpc_code_name(a->code), a->msg ? a->msg : "");
    }
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *json_path = NULL, *image = NULL;
    berth_cri_pod_spec_t pod = {.name = "kubelet-sim", .namespace_ = "default"};
    char uid_buf[64];
    snprintf(uid_buf, sizeof(uid_buf), "kubelet-sim-%ld", (long)getpid());
    pod.uid = uid_buf;
    berth_kubesim_params_t p = berth_kubesim_params_sandbox();
    bool pull = false, cleanup = false;

    static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},  {"name", required_argument, NULL, 'n'},
            {"uid", required_argument, NULL, 'u'},     {"namespace", required_argument, NULL, 'N'},
            {"attempt", required_argument, NULL, 'a'}, {"deadline", required_argument, NULL, 'd'},
            {"backoff", required_argument, NULL, 'b'}, {"max", required_argument, NULL, 'm'},
            {"image", required_argument, NULL, 'i'},   {"pull", no_argument, NULL, 'p'},
            {"cleanup", no_argument, NULL, 'c'},       {"json", required_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},          {0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            sock = optarg;
            break;
        case 'n':
            pod.name = optarg;
            break;
        case 'u':
            pod.uid = optarg;
            break;
        case 'N':
            pod.namespace_ = optarg;
            break;
        case 'a':
            pod.attempt = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            p.deadline_ns = parse_secs(optarg);
            break;
        case 'b':
            p.backoff_ns = parse_secs(optarg);
            break;
        case 'm':
            p.max_ns = parse_secs(optarg);
            break;
        case 'i':
            image = optarg;
            break;
        case 'p':
            pull = true;
            break;
        case 'c':
            cleanup = true;
            break;
        case 'j':
            json_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (sock == NULL) {
        usage(stderr);
        return 2;
    }

    berth_cri_client_t *c = NULL;
    BERTH_AUTO_ERR berth_err_t err = NULL;
    if (pull && image) {
        c = berth_cri_client_new(sock, &err);
        berth_cri_status_t st = {0};
        if (c == NULL || berth_cri_pull(c, image, 300 * SEC, NULL, &st, &err) < 0) {
            fprintf(stderr, "kubelet-sim: pull %s: %s\n", image, err->msg);
            return 1;
        }
        if (st.code != BERTH_GRPC_OK) {
            fprintf(stderr, "kubelet-sim: pull %s: %s: %s\n", image, berth_grpc_code_name(st.code),
                    st.msg ? st.msg : "");
            return 1;
        }
        berth_cri_status_fini(&st);
    }

    berth_cri_pod_config_t *pcfg = berth_cri_pod_config_new(&pod);
    berth_kubesim_retry_t pr, cr;
    BERTH_AUTO_FREE char *pod_id = NULL, *ctr_id = NULL;
    berth_kubesim_run_pod(&c, sock, pcfg, &p, &pr, &pod_id);
    print_retry("RunPodSandbox", &pr);
    if (pod_id)
        printf("  pod sandbox id %s\n", pod_id);
    bool ok = pod_id != NULL;
    bool have_ctr = false;
    berth_cri_ctr_config_t *ccfg = NULL;
    if (ok && image) {
        berth_kubesim_params_t cp = p;
        berth_cri_ctr_spec_t cs = {.name = "main", .image = image};
        ccfg = berth_cri_ctr_config_new(&cs, &pod);
        berth_kubesim_create_ctr(&c, sock, pod_id, ccfg, pcfg, &cp, &cr, &ctr_id);
        have_ctr = true;
        print_retry("CreateContainer", &cr);
        ok = ctr_id != NULL;
        if (ok) {
            berth_cri_status_t st = {0};
            if (c == NULL)
                c = berth_cri_client_new(sock, &err);
            if (c == NULL || berth_cri_start_ctr(c, ctr_id, p.deadline_ns, &st, &err) < 0) {
                fprintf(stderr, "kubelet-sim: StartContainer: %s\n", err->msg);
                ok = false;
            } else if (st.code != BERTH_GRPC_OK) {
                fprintf(stderr, "kubelet-sim: StartContainer: %s: %s\n",
                        berth_grpc_code_name(st.code), st.msg ? st.msg : "");
                ok = false;
            }
            berth_cri_status_fini(&st);
        }
    }

    if (json_path) {
        json_t *doc = json_pack("{s:s,s:o}", "socket", sock, "run_pod_sandbox",
                                berth_kubesim_retry_json(&pr));
        json_object_set_new(doc, "pod_sandbox_id", pod_id ? json_string(pod_id) : json_null());
        if (have_ctr) {
            json_object_set_new(doc, "create_container", berth_kubesim_retry_json(&cr));
            json_object_set_new(doc, "container_id", ctr_id ? json_string(ctr_id) : json_null());
        }
        json_object_set_new(doc, "ok", json_boolean(ok));
        int jr = strcmp(json_path, "-") == 0 ? json_dumpf(doc, stdout, JSON_INDENT(2))
                                             : json_dump_file(doc, json_path, JSON_INDENT(2));
        if (strcmp(json_path, "-") == 0)
            putchar('\n');
        json_decref(doc);
        if (jr < 0)
            fprintf(stderr, "kubelet-sim: cannot write %s\n", json_path);
    }

    if (cleanup && pod_id) {
        berth_cri_status_t st = {0};
        berth_err_free(&err);
        if (c == NULL)
            c = berth_cri_client_new(sock, &err);
        if (c) {
            if (berth_cri_stop_pod(c, pod_id, 60 * SEC, &st, &err) == 0)
                berth_cri_status_fini(&st);
            berth_err_free(&err);
            if (berth_cri_remove_pod(c, pod_id, 60 * SEC, &st, &err) == 0)
                berth_cri_status_fini(&st);
        }
    }

    berth_kubesim_retry_fini(&pr);
    if (have_ctr)
        berth_kubesim_retry_fini(&cr);
    berth_cri_ctr_config_free(ccfg);
    berth_cri_pod_config_free(pcfg);
    berth_cri_client_free(c);
    return ok ? 0 : 1;
}
