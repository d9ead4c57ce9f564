// SPDX-License-Identifier: Apache-2.0
/*
 * The network-readiness actor. It rescans the CNI configuration directory on
 * a timer, on io/'s blocking pool (readdir and file reads may stall on a busy
 * disk, so they never run in a turn), and mails subscribers whenever the
 * answer changes. It owns no network state itself: pod networking is done by
 * the pod actors with the configuration they read when a pod starts.
 */
#include "actors/netstatus.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/msgtypes.h"
#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/cniconf.h"

#define MAX_SUBSCRIBERS 16
#define DEFAULT_RESCAN_NS (2ull * 1000 * 1000 * 1000)

typedef struct netstatus {
    char *network_dir;
    char **plugin_dirs; /* NULL-terminated, owned */
    char *default_network;
    uint64_t rescan_ns;
    bool scanning;
    bool known;
    bool ready;
    char *reason, *message, *network;
    berth_handle_t subs[MAX_SUBSCRIBERS];
    size_t n_subs;
} netstatus_t;

typedef struct scan_msg {
    berth_msg_t hdr; /* BERTH_MSG_NETSTATUS_SCANNED */
    /* inputs, owned copies so the pool thread shares nothing with the actor */
    char *network_dir;
    char **plugin_dirs;
    char *default_network;
    /* outputs */
    bool ready;
    char *reason, *message, *network;
} scan_msg_t;

typedef struct subscribe_msg {
    berth_msg_t hdr;
    berth_handle_t to;
} subscribe_msg_t;

static void netstatus_msg_free(berth_msg_t *m)
{
    berth_netstatus_msg_t *ns = (berth_netstatus_msg_t *)m;
    berth_free(ns->reason);
    berth_free(ns->message);
    berth_free(ns->network);
    berth_free(ns);
}

static void scan_msg_free(berth_msg_t *m)
{
    scan_msg_t *s = (scan_msg_t *)m;
    berth_free(s->network_dir);
    berth_strv_free(s->plugin_dirs);
    berth_free(s->default_network);
    berth_free(s->reason);
    berth_free(s->message);
    berth_free(s->network);
    berth_free(s);
}

/* Runs on a blocking-pool thread: fills the outputs of the scan message. */
static void scan_job(void *arg)
{
    scan_msg_t *s = arg;
    berth_cniconf_scan(s->network_dir, (const char *const *)s->plugin_dirs, s->default_network,
                       &s->ready, &s->reason, &s->message, &s->network);
}

static void start_scan(berth_actor_t *self, netstatus_t *ns)
{
    if (ns->scanning)
        return;
    ns->scanning = true;
    scan_msg_t *s = berth_msg_new(BERTH_MSG_NETSTATUS_SCANNED, sizeof(*s));
    s->hdr.free = scan_msg_free;
    s->network_dir = berth_strdup(ns->network_dir);
    s->plugin_dirs = berth_strv_dup(ns->plugin_dirs, -1);
    s->default_network = berth_strdup(ns->default_network);
    berth_blocking_run(scan_job, s, berth_actor_self(self), &s->hdr);
}

static void publish(netstatus_t *ns, berth_handle_t to)
{
    berth_netstatus_msg_t *m = berth_msg_new(BERTH_MSG_NETSTATUS, sizeof(*m));
    m->hdr.free = netstatus_msg_free;
    m->ready = ns->ready;
    m->reason = berth_strdup(ns->reason);
    m->message = berth_strdup(ns->message);
    m->network = berth_strdup(ns->network);
    berth_send(to, &m->hdr);
}

static void on_scanned(berth_actor_t *self, netstatus_t *ns, scan_msg_t *s)
{
    ns->scanning = false;
    bool changed = !ns->known || ns->ready != s->ready || strcmp(ns->message, s->message) != 0;
    if (changed) {
        ns->known = true;
        ns->ready = s->ready;
        berth_free(ns->reason);
        berth_free(ns->message);
        berth_free(ns->network);
        ns->reason = berth_steal_ptr(&s->reason);
        ns->message = berth_steal_ptr(&s->message);
        ns->network = berth_steal_ptr(&s->network);
        if (ns->ready)
            berth_log_info("network ready", "network=%s dir=%s", ns->network, ns->network_dir);
        else
            berth_log_warn("network not ready", "reason=%s detail=\"%s\"", ns->reason, ns->message);
        for (size_t i = 0; i < ns->n_subs; i++)
            publish(ns, ns->subs[i]);
    }
    berth_timer_after(self, ns->rescan_ns,
                      berth_msg_new(BERTH_MSG_NETSTATUS_TICK, sizeof(berth_msg_t)));
}

static void netstatus_receive(berth_actor_t *self, berth_msg_t *msg)
{
    netstatus_t *ns = berth_actor_state(self);
    switch (msg->type) {
    case BERTH_MSG_NETSTATUS_TICK:
        start_scan(self, ns);
        break;
    case BERTH_MSG_NETSTATUS_SCANNED:
        on_scanned(self, ns, (scan_msg_t *)msg);
        break;
    case BERTH_MSG_NETSTATUS_SUBSCRIBE: {
        subscribe_msg_t *sm = (subscribe_msg_t *)msg;
        if (ns->n_subs < MAX_SUBSCRIBERS)
            ns->subs[ns->n_subs++] = sm->to;
        else
            berth_log_error("netstatus: too many subscribers", "max=%d", MAX_SUBSCRIBERS);
        if (ns->known)
            publish(ns, sm->to);
        break;
    }
    default:
        break;
    }
    berth_msg_free(msg);
}

static void netstatus_fini(void *state)
{
    netstatus_t *ns = state;
    berth_free(ns->network_dir);
    berth_strv_free(ns->plugin_dirs);
    berth_free(ns->default_network);
    berth_free(ns->reason);
    berth_free(ns->message);
    berth_free(ns->network);
    berth_free(ns);
}

static const berth_actor_class_t netstatus_class = {
        .name = "netstatus",
        .receive = netstatus_receive,
        .fini = netstatus_fini,
};

berth_handle_t berth_netstatus_spawn(const berth_netstatus_config_t *cfg)
{
    netstatus_t *ns = berth_calloc(1, sizeof(*ns));
    ns->network_dir = berth_strdup(cfg->network_dir);
    ns->plugin_dirs = berth_strv_dup((char *const *)cfg->plugin_dirs, -1);
    ns->default_network = berth_strdup(cfg->default_network ? cfg->default_network : "");
    ns->rescan_ns = cfg->rescan_ns ? cfg->rescan_ns : DEFAULT_RESCAN_NS;
    ns->reason = berth_strdup("");
    ns->message = berth_strdup("");
    ns->network = berth_strdup("");
    berth_handle_t h = berth_actor_spawn(&netstatus_class, ns);
    berth_send(h, berth_msg_new(BERTH_MSG_NETSTATUS_TICK, sizeof(berth_msg_t)));
    return h;
}

void berth_netstatus_subscribe(berth_handle_t netstatus, berth_handle_t to)
{
    subscribe_msg_t *m = berth_msg_new(BERTH_MSG_NETSTATUS_SUBSCRIBE, sizeof(*m));
    m->to = to;
    berth_send(netstatus, &m->hdr);
}
