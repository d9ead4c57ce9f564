// SPDX-License-Identifier: Apache-2.0
/*
 * The CNI readiness scan on real directories: missing and empty directories,
 * broken JSON, missing plugins, a usable conflist, lexical order and the
 * default network. Each not-ready answer must say why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/cniconf.h"
#include "engine/alloc.h"
#include "tests/unit/check.h"

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char *p = berth_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
    berth_free(p);
}

typedef struct result {
    bool ready;
    char *reason, *message, *network;
} result_t;

static void scan(const char *netdir, const char *plugdir, const char *def, result_t *r)
{
    const char *dirs[] = {"/nonexistent-plugin-dir", plugdir, NULL};
    berth_cniconf_scan(netdir, dirs, def, &r->ready, &r->reason, &r->message, &r->network);
}

static void result_free(result_t *r)
{
    berth_free(r->reason);
    berth_free(r->message);
    berth_free(r->network);
}

int main(void)
{
    printf("1..12\n");
    char tmpl[] = "/tmp/berth-netstatus-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *netdir = berth_asprintf("%s/net.d", base);
    char *plugdir = berth_asprintf("%s/bin", base);
    mkdir(plugdir, 0755);
    write_file(plugdir, "bridge", "#!/bin/sh\n", 0755);
    write_file(plugdir, "host-local", "#!/bin/sh\n", 0755);
    write_file(plugdir, "loopback", "#!/bin/sh\n", 0755);

    result_t r;
    scan(netdir, plugdir, NULL, &r);
    ok(!r.ready && strcmp(r.reason, "NetworkPluginNotReady") == 0, "missing dir: not ready");
    ok(strstr(r.message, netdir) != NULL, "missing dir: message names the directory");
    result_free(&r);

    mkdir(netdir, 0755);
    scan(netdir, plugdir, NULL, &r);
    ok(!r.ready && strstr(r.message, "no CNI configuration file") != NULL, "empty dir");
    result_free(&r);

    write_file(netdir, "10-broken.conflist", "{ not json", 0644);
    scan(netdir, plugdir, NULL, &r);
    ok(!r.ready && strstr(r.message, "10-broken.conflist") != NULL, "broken JSON named");
    result_free(&r);

    write_file(netdir, "20-missing.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"m\",\"plugins\":[{\"type\":\"nosuch\"}]}",
               0644);
    scan(netdir, plugdir, NULL, &r);
    ok(!r.ready && strstr(r.message, "nosuch") != NULL, "missing plugin named");
    result_free(&r);

    write_file(
            netdir, "30-evil.conflist",
            "{\"cniVersion\":\"1.0.0\",\"name\":\"e\",\"plugins\":[{\"type\":\"../bin/bridge\"}]}",
            0644);
    scan(netdir, plugdir, NULL, &r);
    ok(!r.ready, "a plugin type with a path is refused");
    result_free(&r);

    write_file(netdir, "50-good.conflist",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"good\",\"plugins\":[{\"type\":\"bridge\","
               "\"ipam\":{\"type\":\"host-local\"}}]}",
               0644);
    scan(netdir, plugdir, NULL, &r);
    ok(r.ready && strcmp(r.network, "good") == 0, "usable conflist: ready");
    ok(strcmp(r.reason, "") == 0 && strcmp(r.message, "") == 0, "ready: no reason");
    result_free(&r);

    write_file(netdir, "40-first.conf",
               "{\"cniVersion\":\"1.0.0\",\"name\":\"first\",\"type\":\"loopback\"}", 0644);
    scan(netdir, plugdir, NULL, &r);
    ok(r.ready && strcmp(r.network, "first") == 0, "lexical order: first usable wins");
    result_free(&r);

    scan(netdir, plugdir, "good", &r);
    ok(r.ready && strcmp(r.network, "good") == 0, "cni_default_network picks its network");
    result_free(&r);

    scan(netdir, plugdir, "absent", &r);
    ok(!r.ready && strstr(r.message, "absent") != NULL, "missing default network named");
    result_free(&r);

    write_file(netdir, "README", "not a config", 0644);
    scan(netdir, plugdir, NULL, &r);
    ok(r.ready, "other files are ignored");
    result_free(&r);

    char *cmd[] = {"rm", "-rf", base, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp("rm", cmd);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    berth_free(netdir);
    berth_free(plugdir);
    return nfail ? 1 : 0;
}
