/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for conf/config.c: defaults, load order (file, drop-ins in
 * lexical order, overrides), [berth.*] aliases, unknown-key warnings with
 * file:line, type errors with file:line:key, and the print/parse round trip.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/toml.h"
#include "engine/alloc.h"
#include "tap.h"

static char tmpdir[] = "/tmp/berth-conf-test-XXXXXX";

static char *write_file(const char *name, const char *text)
{
    char *path = berth_asprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static berth_config_t *build(const char *file, const char *dir, char **errmsg)
{
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, file);
    berth_config_builder_set_dir(b, dir);
    berth_err_t err = NULL;
    berth_config_t *c = berth_config_build(b, &err);
    if (errmsg)
        *errmsg = err ? berth_strdup(err->msg) : NULL;
    berth_err_free(&err);
    berth_config_builder_free(b);
    return c;
}

static bool strv_eq(const berth_strv_t *v, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        if (i >= v->n || strcmp(v->v[i], want[i]) != 0)
            return false;
    }
    return i == v->n && v->v[v->n] == NULL;
}

static void test_defaults(void)
{
    berth_config_t *c = build(NULL, NULL, NULL);
    ok(c != NULL, "defaults build with no files");
    ok(strcmp(c->root, "/var/lib/berth") == 0 && strcmp(c->runroot, "/run/berth") == 0 &&
               strcmp(c->listen, "/run/berth/berth.sock") == 0,
       "default paths");
    ok(c->grpc_max_send_msg_size == 16 << 20 && c->grpc_max_recv_msg_size == 16 << 20,
       "default gRPC limits 16 MiB");
    ok(strcmp(c->default_runtime, "crun") == 0 && strcmp(c->log_level, "info") == 0 &&
               c->drop_infra_ctr && strcmp(c->cgroup_manager, "cgroupfs") == 0 && c->workers == 0,
       "default runtime settings");
    const berth_config_runtime_t *crun = berth_config_runtime(c, "crun");
    const berth_config_runtime_t *runc = berth_config_runtime(c, "runc");
    ok(c->n_runtimes == 2 && crun && runc && strcmp(crun->runtime_path, "/usr/bin/crun") == 0 &&
               strcmp(crun->runtime_root, "/run/crun") == 0 &&
               strcmp(runc->runtime_path, "/usr/bin/runc") == 0 &&
               strcmp(runc->runtime_type, "oci") == 0,
       "default handlers crun and runc");
    ok(strcmp(c->pause_image, "registry.k8s.io/pause:3.10") == 0 &&
               strcmp(c->registries_conf, "/etc/containers/registries.conf") == 0,
       "default image settings");
    ok(strcmp(c->network_dir, "/etc/cni/net.d/") == 0 &&
               strv_eq(&c->plugin_dirs,
                       (const char *const[]){"/opt/cni/bin/", "/usr/lib/cni/", NULL}),
       "default network settings");
    ok(!c->enable_metrics && c->metrics_port == 9090 && strcmp(c->metrics_host, "127.0.0.1") == 0,
       "default metrics settings");
    ok(c->creation_budget_ns == 240000000000LL && c->cni_budget_ns == 300000000000LL &&
               c->stall_margin_ns == 1000000000LL && c->stash_window_ns == 600000000000LL,
       "default name-actor timings");
    ok(c->stats_refresh_interval_ns == 10000000000LL, "default stats refresh interval: 10s");
    ok(c->warnings.n == 0, "no warnings");
    ok(berth_config_ref(c) == c, "ref returns the snapshot");
    berth_config_unref(c);
    berth_config_unref(c);
}

static void test_order_and_aliases(void)
{
    BERTH_AUTO_FREE char *main = write_file("berth.conf", "[crio]\n"
                                                          "root = \"/main/root\"\n"
                                                          "runroot = \"/main/run\"\n"
                                                          "[crio.api]\n"
                                                          "listen = \"/main.sock\"\n"
                                                          "[crio.runtime]\n"
                                                          "log_level = \"debug\"\n"
                                                          "stall_margin = \"500ms\"\n"
                                                          "stats_refresh_interval = \"2500ms\"\n");
    BERTH_AUTO_FREE char *dir = berth_asprintf("%s/conf.d", tmpdir);
    mkdir(dir, 0755);
    BERTH_AUTO_FREE char *f2 = write_file("conf.d/20-b.conf", "[berth]\n"
                                                              "runroot = \"/b/run\"\n"
                                                              "[berth.api]\n"
                                                              "listen = \"/b.sock\"\n"
                                                              "[berth.names]\n"
                                                              "stash_window = \"1h2m3.5s\"\n"
                                                              "cni_budget = 90\n");
    BERTH_AUTO_FREE char *f1 = write_file("conf.d/10-a.conf", "[crio.api]\n"
                                                              "listen = \"/a.sock\"\n"
                                                              "[crio.runtime]\n"
                                                              "workers = 3\n");
    BERTH_AUTO_FREE char *f3 = write_file("conf.d/30-c.txt", "[crio]\nroot = \"/ignored\"\n");
    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, main);
    berth_config_builder_set_dir(b, dir);
    berth_err_t err = NULL;
    ok(berth_config_set(b, "crio.runtime.log_level", "warn", &err) == 0, "override accepted");
    ok(berth_config_set(b, "berth.runtime.workers", "8", &err) == 0, "berth. override accepted");
    berth_config_t *c = berth_config_build(b, &err);
    ok(c != NULL, "files and drop-ins load (%s)", err ? err->msg : "ok");
    if (c) {
        ok(strcmp(c->root, "/main/root") == 0, "key only in the main file kept");
        ok(strcmp(c->runroot, "/b/run") == 0, "drop-in overrides main file; [berth] == [crio]");
        ok(strcmp(c->listen, "/b.sock") == 0, "later drop-in (20-b) overrides earlier (10-a)");
        ok(strcmp(c->log_level, "warn") == 0 && c->workers == 8,
           "command-line overrides win over files");
        ok(c->stall_margin_ns == 500000000LL, "duration in [crio.runtime]");
        ok(c->stats_refresh_interval_ns == 2500000000LL,
           "stats_refresh_interval in [crio.runtime] (%lld)",
           (long long)c->stats_refresh_interval_ns);
        ok(c->stash_window_ns == 3723500000000LL && c->cni_budget_ns == 90000000000LL,
           "durations in [berth.names]: Go string and integer seconds");
        ok(strcmp(c->root, "/ignored") != 0, "only *.conf drop-ins are read");
    }
    berth_config_unref(c);
    berth_err_free(&err);
    berth_config_builder_free(b);

    unlink(f1), unlink(f2), unlink(f3), rmdir(dir);
}

static void test_warnings_and_errors(void)
{
    BERTH_AUTO_FREE char *p = write_file("warn.conf", "[crio]\n"
                                                      "root = \"/r\"\n"
                                                      "bogus = 1\n"
                                                      "[crio.tracing]\n"
                                                      "enable_tracing = false\n"
                                                      "[crio.runtime.runtimes.kata]\n"
                                                      "runtime_path = \"/usr/bin/kata\"\n"
                                                      "runtime_type = \"vm\"\n"
                                                      "privileged_without_host_devices = true\n"
                                                      "[crio.runtime]\n"
                                                      "default_runtime = \"kata\"\n"
                                                      "[other]\n"
                                                      "x = 1\n");
    char *msg = NULL;
    berth_config_t *c = build(p, NULL, &msg);
    ok(c != NULL, "file with unknown keys still loads (%s)", msg ? msg : "ok");
    if (c) {
        BERTH_AUTO_FREE char *w0 = berth_asprintf("%s:3: unknown key 'crio.bogus'", p);
        BERTH_AUTO_FREE char *w1 = berth_asprintf("%s:4: unknown key 'crio.tracing'", p);
        BERTH_AUTO_FREE char *w2 = berth_asprintf(
                "%s:9: unknown key 'crio.runtime.runtimes.kata.privileged_without_host_devices'",
                p);
        BERTH_AUTO_FREE char *w3 = berth_asprintf("%s:12: unknown key 'other'", p);
        ok(c->warnings.n == 4, "four warnings (%zu)", c->warnings.n);
        ok(c->warnings.n == 4 && strcmp(c->warnings.v[0], w0) == 0 &&
                   strcmp(c->warnings.v[1], w1) == 0 && strcmp(c->warnings.v[2], w2) == 0 &&
                   strcmp(c->warnings.v[3], w3) == 0,
           "warnings name file:line and key");
        const berth_config_runtime_t *k = berth_config_runtime(c, "kata");
        ok(c->n_runtimes == 1 && k && strcmp(k->runtime_type, "vm") == 0 &&
                   strcmp(k->runtime_root, "/run/kata") == 0,
           "a runtimes table replaces the stock handlers");
        ok(strcmp(c->default_runtime, "kata") == 0, "default_runtime names a configured handler");
    }
    berth_config_unref(c);
    berth_free(msg);

    p = (berth_free(p), write_file("type.conf", "[crio]\nroot = \"/r\"\n[crio.api]\n"
                                                "grpc_max_send_msg_size = \"big\"\n"));
    c = build(p, NULL, &msg);
    BERTH_AUTO_FREE char *want = berth_asprintf(
            "%s:4: crio.api.grpc_max_send_msg_size: expected an integer, got string", p);
    ok(!c && msg && strcmp(msg, want) == 0, "wrong type names file:line:key (%s)", msg);
    berth_free(msg);

    berth_free(p);
    p = write_file("type2.conf", "[berth.runtime]\ndefault_capabilities = [\"CHOWN\",\n  5]\n");
    c = build(p, NULL, &msg);
    ok(!c && msg &&
               strstr(msg, ":3: berth.runtime.default_capabilities: expected an array of "
                           "strings, got integer"),
       "array element type error names its line (%s)", msg);
    berth_free(msg);

    berth_free(p);
    p = write_file("syntax.conf", "[crio]\nroot = /r\n");
    c = build(p, NULL, &msg);
    BERTH_AUTO_FREE char *want2 = berth_asprintf("%s:2:8:", p);
    ok(!c && msg && strncmp(msg, want2, strlen(want2)) == 0, "TOML error names file:line:col (%s)",
       msg);
    berth_free(msg);

    berth_free(p);
    p = write_file("bad-rt.conf", "[crio.runtime]\ndefault_runtime = \"nope\"\n");
    c = build(p, NULL, &msg);
    ok(!c && msg && strstr(msg, "default_runtime") && strstr(msg, "nope"),
       "unknown default_runtime refused (%s)", msg);
    berth_free(msg);

    berth_free(p);
    p = write_file("bad-dur.conf", "[berth.names]\nstall_margin = \"5 parsecs\"\n");
    c = build(p, NULL, &msg);
    ok(!c && msg && strstr(msg, ":2: berth.names.stall_margin: invalid duration"),
       "bad duration refused with file:line:key (%s)", msg);
    berth_free(msg);

    berth_config_builder_t *b = berth_config_builder_new();
    berth_err_t err = NULL;
    ok(berth_config_set(b, "crio.api.grpc_max_recv_msg_size", "lots", &err) < 0 && err &&
               strstr(err->msg, "crio.api.grpc_max_recv_msg_size: expected an integer"),
       "override type checked (%s)", err ? err->msg : "");
    berth_err_free(&err);
    ok(berth_config_set(b, "crio.metrics.enable_metrics", "yes", &err) < 0,
       "bool override checked");
    berth_err_free(&err);
    ok(berth_config_set(b, "crio.api.nope", "1", &err) < 0 && err && strstr(err->msg, "unknown"),
       "unknown override key refused");
    berth_err_free(&err);
    ok(berth_config_set(b, "other.listen", "1", &err) < 0 && err &&
               berth_config_set(b, "crio.runtime.runtimes.x.bogus", "1", NULL) < 0 &&
               berth_config_set(b, "crio.runtime.runtimes..runtime_path", "1", NULL) < 0,
       "override keys outside crio/berth or unknown handler keys refused");
    berth_err_free(&err);
    ok(berth_config_set(b, "crio.runtime.runtimes.my.rt.runtime_path", "/x", &err) == 0 &&
               berth_config_set(b, "crio.network.plugin_dirs", "/a,/b", &err) == 0,
       "handler and list overrides accepted");
    berth_config_builder_set_file(b, NULL);
    berth_config_builder_set_dir(b, NULL);
    berth_config_set(b, "crio.runtime.default_runtime", "my.rt", &err);
    c = berth_config_build(b, &err);
    ok(c && c->n_runtimes == 1 &&
               strcmp(berth_config_runtime(c, "my.rt")->runtime_path, "/x") == 0 &&
               strv_eq(&c->plugin_dirs, (const char *const[]){"/a", "/b", NULL}),
       "handler and list overrides applied");
    berth_config_unref(c);
    berth_err_free(&err);
    berth_config_builder_free(b);
}

static void test_roundtrip(void)
{
    BERTH_AUTO_FREE char *p =
            write_file("rt.conf", "[crio]\n"
                                  "root = \"/with \\\"quotes\\\" and \\\\\"\n"
                                  "[crio.runtime]\n"
                                  "default_runtime = \"odd name\"\n"
                                  "default_sysctls = [\"net.ipv4.ip_forward=1\"]\n"
                                  "pids_limit = 1024\n"
                                  "drop_infra_ctr = false\n"
                                  "stats_refresh_interval = 0\n"
                                  "[crio.runtime.runtimes.\"odd name\"]\n"
                                  "runtime_path = \"/usr/bin/crun\"\n"
                                  "allowed_annotations = [\"a\", \"b\"]\n"
                                  "[crio.metrics]\n"
                                  "enable_metrics = true\n"
                                  "[crio.names]\n"
                                  "creation_budget = \"1m30.25s\"\n");
    char *msg = NULL;
    berth_config_t *c = build(p, NULL, &msg);
    ok(c != NULL, "round-trip source loads (%s)", msg ? msg : "ok");
    berth_free(msg);
    if (!c)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    berth_config_print(c, f);
    fclose(f);
    berth_err_t err = NULL;
    berth_toml_node_t *t = berth_toml_parse(text, len, "printed", &err);
    ok(t != NULL, "printed configuration is valid TOML (%s)", err ? err->msg : "ok");
    berth_toml_free(t);
    berth_err_free(&err);

    BERTH_AUTO_FREE char *p2 = write_file("printed.conf", text);
    berth_config_t *c2 = build(p2, NULL, &msg);
    ok(c2 != NULL && c2->warnings.n == 0, "printed configuration loads without warnings (%s)",
       msg ? msg : "ok");
    berth_free(msg);
    if (c2) {
        char *text2 = NULL;
        size_t len2 = 0;
        f = open_memstream(&text2, &len2);
        berth_config_print(c2, f);
        fclose(f);
        ok(len == len2 && memcmp(text, text2, len) == 0,
           "printing the reloaded snapshot is identical");
        free(text2);
        ok(strcmp(c2->root, "/with \"quotes\" and \\") == 0 && c2->pids_limit == 1024 &&
                   !c2->drop_infra_ctr && c2->enable_metrics &&
                   c2->creation_budget_ns == 90250000000LL && c2->stats_refresh_interval_ns == 0 &&
                   strv_eq(&c2->default_sysctls,
                           (const char *const[]){"net.ipv4.ip_forward=1", NULL}) &&
                   strv_eq(&berth_config_runtime(c2, "odd name")->allowed_annotations,
                           (const char *const[]){"a", "b", NULL}),
           "values survive the round trip");
    }
    free(text);
    berth_config_unref(c2);
    berth_config_unref(c);
}

static void test_durations(void)
{
    int64_t ns = 0;
    ok(berth_config_parse_duration("1h30m", &ns, NULL) == 0 && ns == 5400000000000LL, "1h30m");
    ok(berth_config_parse_duration("250us", &ns, NULL) == 0 && ns == 250000, "250us");
    ok(berth_config_parse_duration("12", &ns, NULL) == 0 && ns == 12000000000LL, "integer seconds");
    ok(berth_config_parse_duration("1x", &ns, NULL) < 0 &&
               berth_config_parse_duration("m", &ns, NULL) < 0 &&
               berth_config_parse_duration("", &ns, NULL) < 0,
       "bad durations refused");
}

/* CRI-O's [crio.stats] periods set stats_refresh_interval: the deprecated
 * stats_collection_period and 1.37's collection_period, integer seconds with
 * 0 for on demand; neither is printed (the owner key prints the value). */
static void test_stats_period(void)
{
    BERTH_AUTO_FREE char *p1 = write_file("stats1.conf", "[crio.stats]\n"
                                                         "stats_collection_period = 3\n");
    char *msg = NULL;
    berth_config_t *c = build(p1, NULL, &msg);
    ok(c != NULL && c->warnings.n == 0 && c->stats_refresh_interval_ns == 3000000000LL,
       "[crio.stats] stats_collection_period = 3: 3 s, no warning (%s)", msg ? msg : "ok");
    berth_free(msg);
    if (c) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        berth_config_print(c, f);
        fclose(f);
        ok(strstr(text, "collection_period") == NULL && strstr(text, "[crio.stats]") == NULL &&
                   strstr(text, "stats_refresh_interval = \"3s\"") != NULL,
           "printed as stats_refresh_interval only");
        free(text);
    }
    berth_config_unref(c);

    BERTH_AUTO_FREE char *p2 = write_file("stats2.conf", "[crio.runtime]\n"
                                                         "stats_refresh_interval = \"20s\"\n"
                                                         "[crio.stats]\n"
                                                         "collection_period = 0\n");
    c = build(p2, NULL, &msg);
    ok(c != NULL && c->warnings.n == 0 && c->stats_refresh_interval_ns == 0,
       "[crio.stats] collection_period = 0 (on demand): every call reads (%s)", msg ? msg : "ok");
    berth_free(msg);
    berth_config_unref(c);

    BERTH_AUTO_FREE char *p3 = write_file("stats3.conf", "[crio.stats]\n"
                                                         "collection_period = -1\n");
    c = build(p3, NULL, &msg);
    ok(c == NULL && msg != NULL && strstr(msg, "collection_period") != NULL,
       "a negative period is refused, naming the key (%s)", msg ? msg : "none");
    berth_free(msg);
    berth_config_unref(c);

    berth_config_builder_t *b = berth_config_builder_new();
    berth_config_builder_set_file(b, NULL);
    berth_err_t err = NULL;
    ok(berth_config_set(b, "crio.stats.collection_period", "7", &err) == 0,
       "--set crio.stats.collection_period accepted");
    c = berth_config_build(b, &err);
    ok(c != NULL && c->stats_refresh_interval_ns == 7000000000LL, "--set gives 7 s");
    berth_config_unref(c);
    berth_err_free(&err);
    berth_config_builder_free(b);
}

/* [crio.api] stream_*: CRI-O's own forms (a string port, an empty idle
 * timeout), and clear errors for what cannot serve. */
static void test_streaming_keys(void)
{
    berth_config_t *c = build(NULL, NULL, NULL);
    ok(c && strcmp(c->stream_address, "127.0.0.1") == 0 && strcmp(c->stream_port, "0") == 0 &&
               c->stream_idle_timeout_ns == 0 && c->stream_token_ttl_ns == 60000000000LL &&
               c->stream_max_sessions == 1000 && c->stream_max_streams == 64 &&
               c->stream_max_buffered == 1 << 20 && !c->stream_enable_tls,
       "streaming defaults: 127.0.0.1, any port, no idle timeout, URLs for a minute");
    berth_config_unref(c);
    char *f = write_file("stream.conf", "[crio.api]\nstream_port = \"10010\"\n"
                                        "stream_idle_timeout = \"\"\nstream_token_ttl = \"30s\"\n");
    c = build(f, NULL, NULL);
    ok(c && strcmp(c->stream_port, "10010") == 0 && c->stream_idle_timeout_ns == 0 &&
               c->stream_token_ttl_ns == 30000000000LL,
       "stream_port as a string and an empty stream_idle_timeout, as CRI-O writes them");
    berth_config_unref(c);
    berth_free(f);
    char *msg = NULL;
    f = write_file("stream.conf", "[crio.api]\nstream_port = \"70000\"\n");
    c = build(f, NULL, &msg);
    ok(c == NULL && msg && strstr(msg, "stream_port") && strstr(msg, "70000"),
       "a stream_port that is not a port is refused, naming it: %s", msg ? msg : "");
    berth_free(msg);
    berth_free(f);
    f = write_file("metrics.conf", "[crio.metrics]\nmetrics_cert = \"/etc/berth/m.crt\"\n");
    c = build(f, NULL, &msg);
    ok(c == NULL && msg && strstr(msg, "metrics_cert") && strstr(msg, "metrics_key"),
       "metrics_cert without metrics_key is refused, naming both: %s", msg ? msg : "");
    berth_free(msg);
    msg = NULL;
    berth_free(f);
    f = write_file("metrics.conf", "[crio.metrics]\nenable_metrics = true\nmetrics_port = 0\n"
                                   "metrics_socket = \"/run/m.sock\"\n"
                                   "metrics_cert = \"/etc/berth/m.crt\"\n"
                                   "metrics_key = \"/etc/berth/m.key\"\n");
    c = build(f, NULL, &msg);
    ok(c && c->enable_metrics && c->metrics_port == 0 &&
               strcmp(c->metrics_socket, "/run/m.sock") == 0 &&
               strcmp(c->metrics_cert, "/etc/berth/m.crt") == 0 &&
               strcmp(c->metrics_key, "/etc/berth/m.key") == 0,
       "[crio.metrics] keys load (%s)", msg ? msg : "ok");
    berth_config_unref(c);
    berth_free(msg);
    msg = NULL;
    berth_free(f);
    f = write_file("stream.conf", "[crio.api]\nstream_enable_tls = true\n");
    c = build(f, NULL, &msg);
    ok(c == NULL && msg && strstr(msg, "stream_enable_tls") && strstr(msg, "stream_tls_cert"),
       "stream_enable_tls without a certificate is refused, naming stream_tls_cert: %s",
       msg ? msg : "");
    berth_free(msg);
    msg = NULL;
    berth_free(f);
    f = write_file("stream.conf", "[crio.api]\nstream_enable_tls = true\n"
                                  "stream_tls_cert = \"/etc/berth/stream.crt\"\n");
    c = build(f, NULL, &msg);
    ok(c == NULL && msg && strstr(msg, "stream_tls_key"),
       "stream_enable_tls with a certificate and no key is refused, naming stream_tls_key: %s",
       msg ? msg : "");
    berth_free(msg);
    msg = NULL;
    berth_free(f);
    f = write_file("stream.conf", "[crio.api]\nstream_enable_tls = true\n"
                                  "stream_tls_cert = \"/etc/berth/stream.crt\"\n"
                                  "stream_tls_key = \"/etc/berth/stream.key\"\n"
                                  "stream_tls_ca = \"/etc/berth/kubelet-ca.crt\"\n");
    c = build(f, NULL, &msg);
    ok(c && c->stream_enable_tls && strcmp(c->stream_tls_cert, "/etc/berth/stream.crt") == 0 &&
               strcmp(c->stream_tls_key, "/etc/berth/stream.key") == 0 &&
               strcmp(c->stream_tls_ca, "/etc/berth/kubelet-ca.crt") == 0,
       "stream_enable_tls with a certificate, a key and a CA is accepted (the files are read "
       "when the server starts)");
    berth_config_unref(c);
    berth_free(msg);
    berth_free(f);
}

static void cleanup(void)
{
    /* Only files this test wrote, one level of subdirectory. */
    const char *names[] = {"berth.conf",   "warn.conf",   "type.conf",    "type2.conf",
                           "syntax.conf",  "bad-rt.conf", "bad-dur.conf", "rt.conf",
                           "printed.conf", "stream.conf"};
    for (size_t i = 0; i < BERTH_ARRAY_LEN(names); i++) {
        BERTH_AUTO_FREE char *p = berth_asprintf("%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* [crio.nri]: off by default with CRI-O's socket and timeouts; the keys
 * load, and a relative socket path is refused naming the key. */
static void test_nri_keys(void)
{
    berth_config_t *c = build(NULL, NULL, NULL);
    ok(c && !c->enable_nri && strcmp(c->nri_listen, "/var/run/nri/nri.sock") == 0 &&
               strcmp(c->nri_plugin_dir, "/opt/nri/plugins") == 0 &&
               strcmp(c->nri_plugin_config_dir, "/etc/nri/conf.d") == 0 &&
               c->nri_plugin_registration_timeout_ns == 5000000000LL &&
               c->nri_plugin_request_timeout_ns == 2000000000LL && !c->nri_disable_connections,
       "nri defaults: disabled, /var/run/nri/nri.sock, 5s to register, 2s a request");
    berth_config_unref(c);
    char *msg = NULL;
    char *f = write_file("nri.conf", "[crio.nri]\nenable_nri = true\n"
                                     "nri_listen = \"/run/t/nri.sock\"\n"
                                     "nri_plugin_dir = \"/p\"\nnri_plugin_config_dir = \"/pc\"\n"
                                     "nri_plugin_registration_timeout = \"1s\"\n"
                                     "nri_plugin_request_timeout = \"500ms\"\n"
                                     "nri_disable_connections = true\n");
    c = build(f, NULL, &msg);
    ok(c && c->enable_nri && strcmp(c->nri_listen, "/run/t/nri.sock") == 0 &&
               strcmp(c->nri_plugin_dir, "/p") == 0 &&
               strcmp(c->nri_plugin_config_dir, "/pc") == 0 &&
               c->nri_plugin_registration_timeout_ns == 1000000000LL &&
               c->nri_plugin_request_timeout_ns == 500000000LL && c->nri_disable_connections,
       "[crio.nri] keys load (%s)", msg ? msg : "ok");
    berth_config_unref(c);
    berth_free(msg);
    msg = NULL;
    berth_free(f);
    f = write_file("nri.conf", "[crio.nri]\nenable_nri = true\nnri_listen = \"nri.sock\"\n");
    c = build(f, NULL, &msg);
    ok(c == NULL && msg && strstr(msg, "nri_listen"),
       "a relative nri_listen is refused, naming it: %s", msg ? msg : "");
    berth_free(msg);
    berth_free(f);
}

/* [crio.nri.default_validator]: a table inside [crio.nri], off and empty
 * by default; its keys load from a file and the printed configuration
 * has the table. */
static void test_nri_validator_keys(void)
{
    berth_config_t *c = build(NULL, NULL, NULL);
    ok(c && !c->nri_validator_enable && !c->nri_reject_oci_hook_adjustment &&
               c->nri_required_plugins.n == 0 &&
               strcmp(c->nri_tolerate_missing_plugins_annotation, "") == 0,
       "nri validator defaults: off, nothing required");
    berth_config_unref(c);
    char *msg = NULL;
    char *f = write_file("nriv.conf", "[crio.nri]\nenable_nri = true\n"
                                      "[crio.nri.default_validator]\nenable = true\n"
                                      "reject_oci_hook_adjustment = true\n"
                                      "reject_runtime_default_seccomp_adjustment = true\n"
                                      "reject_unconfined_seccomp_adjustment = true\n"
                                      "reject_custom_seccomp_adjustment = true\n"
                                      "reject_namespace_adjustment = true\n"
                                      "reject_sysctl_adjustment = true\n"
                                      "required_plugins = [\"a\", \"b\"]\n"
                                      "tolerate_missing_plugins_annotation = \"tol\"\n");
    c = build(f, NULL, &msg);
    ok(c && c->enable_nri && c->nri_validator_enable && c->nri_reject_oci_hook_adjustment &&
               c->nri_reject_runtime_default_seccomp_adjustment &&
               c->nri_reject_unconfined_seccomp_adjustment &&
               c->nri_reject_custom_seccomp_adjustment && c->nri_reject_namespace_adjustment &&
               c->nri_reject_sysctl_adjustment && c->nri_required_plugins.n == 2 &&
               strcmp(c->nri_required_plugins.v[1], "b") == 0 &&
               strcmp(c->nri_tolerate_missing_plugins_annotation, "tol") == 0,
       "[crio.nri.default_validator] keys load (%s)", msg ? msg : "ok");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (c)
        berth_config_print(c, mem);
    fclose(mem);
    ok(text && strstr(text, "[crio.nri.default_validator]\nenable = true\n"),
       "the printed configuration has the table");
    free(text);
    berth_config_unref(c);
    berth_free(msg);
    berth_free(f);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        printf("1..0 # SKIP cannot make a temporary directory\n");
        return 0;
    }
    test_defaults();
    test_order_and_aliases();
    test_warnings_and_errors();
    test_roundtrip();
    test_durations();
    test_streaming_keys();
    test_stats_period();
    test_nri_keys();
    test_nri_validator_keys();
    cleanup();
    return tap_done();
}
