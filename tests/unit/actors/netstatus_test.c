/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The netstatus actor on the threaded engine: a subscriber gets the current
 * answer at once (not ready, with the reason), then a message on every
 * change as the CNI configuration directory changes under the timer's
 * rescans (a usable conflist appears: ready with its network name; it goes:
 * not ready again), and nothing while nothing changes. The scan's own rules
 * are tested in tests/unit/io/cniconf_test.c.
 */
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "actors/msgtypes.h"
#include "actors/netstatus.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "tests/unit/check.h"

/* What the subscriber saw, in order (written by its turn, read by main
 * after the semaphore: the semaphore orders them). */
#define MAX_SEEN 16
static struct {
    bool ready;
    char reason[64], message[512], network[64];
} seen[MAX_SEEN];
static int nseen;
static sem_t got;

static void sub_receive(berth_actor_t *self, berth_msg_t *msg)
{
    (void)self;
    if (msg->type == BERTH_MSG_NETSTATUS && nseen < MAX_SEEN) {
        berth_netstatus_msg_t *m = (berth_netstatus_msg_t *)msg;
        seen[nseen].ready = m->ready;
        snprintf(seen[nseen].reason, sizeof(seen[nseen].reason), "%s", m->reason);
        snprintf(seen[nseen].message, sizeof(seen[nseen].message), "%s", m->message);
        snprintf(seen[nseen].network, sizeof(seen[nseen].network), "%s", m->network);
        nseen++;
        sem_post(&got);
    }
    berth_msg_free(msg);
}

static const berth_actor_class_t sub_class = {.name = "netstatus-test-sub", .receive = sub_receive};

static bool wait_for(int n, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    while (nseen < n)
        if (sem_timedwait(&got, &ts) < 0)
            return false;
    return true;
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(path, mode);
}

int main(void)
{
    alarm(60);
    char base[] = "/tmp/berth-netstatus-test.XXXXXX";
    if (mkdtemp(base) == NULL) {
        printf("1..0 # skip mkdtemp failed\n");
        return 0;
    }
    BERTH_AUTO_FREE char *netdir = berth_asprintf("%s/net.d", base);
    BERTH_AUTO_FREE char *plugdir = berth_asprintf("%s/bin", base);
    mkdir(netdir, 0755);
    mkdir(plugdir, 0755);
    BERTH_AUTO_FREE char *plugin = berth_asprintf("%s/bridge", plugdir);
    put(plugin, "#!/bin/sh\nexit 0\n", 0755);

    sem_init(&got, 0, 0);
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("1..0 # skip engine: %s\n", err->msg);
        return 0;
    }
    berth_blocking_start(2, &err);
    const char *dirs[] = {plugdir, NULL};
    berth_netstatus_config_t nc = {
            .network_dir = netdir, .plugin_dirs = dirs, .rescan_ns = 50 * 1000 * 1000};
    berth_handle_t ns = berth_netstatus_spawn(&nc);
    berth_handle_t sub = berth_actor_spawn(&sub_class, NULL);
    berth_netstatus_subscribe(ns, sub);

    check(wait_for(1, 10), "the subscriber hears the current state");
    check(nseen >= 1 && !seen[0].ready && strcmp(seen[0].reason, "NetworkPluginNotReady") == 0 &&
                  strstr(seen[0].message, netdir),
          "an empty directory: not ready, naming the directory (%s)",
          nseen >= 1 ? seen[0].message : "-");

    /* a few rescans with nothing new: no message */
    usleep(300 * 1000);
    check(nseen == 1, "no message while nothing changes (%d)", nseen);

    BERTH_AUTO_FREE char *conf = berth_asprintf("%s/10-test.conflist", netdir);
    put(conf, "{\"cniVersion\":\"1.0.0\",\"name\":\"testnet\",\"plugins\":[{\"type\":\"bridge\"}]}",
        0644);
    check(wait_for(2, 10), "a new conflist is noticed by a rescan");
    check(nseen >= 2 && seen[1].ready && strcmp(seen[1].network, "testnet") == 0 &&
                  seen[1].reason[0] == '\0',
          "ready, with the network's name");

    unlink(conf);
    check(wait_for(3, 10), "its removal is noticed too");
    check(nseen >= 3 && !seen[2].ready, "not ready again");

    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    berth_fs_remove_tree(base);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
