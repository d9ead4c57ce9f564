// SPDX-License-Identifier: Apache-2.0
/*
 * A created container's life (see container-internal.h): start, stop with
 * the image's stop signal and then SIGKILL, the exit, a pod going down,
 * removal, ExecSync, ContainerStatus, UpdateContainerResources, log
 * reopening, and the check of a container restored as created.
 */
#include "actors/container-internal.h"
#include "actors/ctrsec.h"
#include "actors/events.h"
#include "actors/metrics.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/blocking.h"
#include "io/grpc.h"
#include "io/ocispec.h"
#include "io/procsig.h"
#include "io/stream.h"

/* ---- lifecycle ------------------------------------------------------------------------------ */

void ctr_kill(ctr_t *c, int sig, uint64_t tag)
{
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    if (berth_conmon_kill(c->self, &rt, c->id, sig, false, tag, &err) < 0) {
        berth_log_warn("kill could not start", "id=%s error=\"%s\"", c->id, err->msg);
        berth_err_free(&err);
    }
}

static int stop_sig(const ctr_t *c)
{
    return c->stop_signal ? c->stop_signal : SIGTERM;
}

void ctr_sig_poll_cancel(berth_actor_t *self, ctr_t *c)
{
    if (c->sig_poll) {
        berth_timer_cancel(self, c->sig_poll);
        c->sig_poll = NULL;
    }
}

void ctr_on_exit_msg(berth_actor_t *self, ctr_t *c, berth_conmon_exit_msg_t *m)
{
    c->watching = false;
    if (c->stop_timer) {
        berth_timer_cancel(self, c->stop_timer);
        c->stop_timer = NULL;
    }
    ctr_sig_poll_cancel(self, c);
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
    c->exit_code = m->exit_code;
    c->finished_at = m->exit_time_ns ? (int64_t)m->exit_time_ns : (int64_t)berth_wall_ns();
    berth_free(c->reason);
    if (m->oom_killed)
        berth_metrics_container_oom(c->name);
    c->reason = berth_strdup(m->oom_killed       ? "OOMKilled"
                             : m->exit_code == 0 ? "Completed"
                                                 : "Error");
    if (c->sn.stopping) {
        /* CRI-O's words, so tools reading them find the same */
        berth_free(c->reason);
        berth_free(c->message);
        BERTH_AUTO_FREE char *calls = berth_ctrsec_notify_text(&c->sn);
        c->reason = berth_strdup("seccomp killed");
        c->message = berth_asprintf("Used forbidden syscalls: %s", calls);
    }
    if (c->cr.phase == PH_RUNNING || c->cr.phase == PH_CREATED)
        c->cr.phase = PH_EXITED;
    berth_log_info("container exited", "name=%s id=%s exit_code=%d reason=%s", c->name, c->id,
                   c->exit_code, c->reason);
    /* answered (ctr_on_nri_stopped): plugins may update other containers */
    ctr_nri_call(c, "StopContainer", BERTH_NRI_STOP_CONTAINER, BERTH_MSG_CTR_NRI_STOPPED);
    ctr_write_record(c, STEP_RECORD, false);
    ctr_publish(c);
    /* stops waiting for the exit are answered; a remove goes on */
    berth_cri_req_msg_t *rms[16];
    size_t n;
    while ((n = berth_creation_take_waiting(&c->cr, "StopContainer", rms, 16)) > 0) {
        for (size_t i = 0; i < n; i++)
            ctr_reply_empty(rms[i]);
    }
    /* (only a remove: a log reopen in flight is answered by its job) */
    bool remove = false;
    for (size_t i = 0; i < c->cr.n_waiting && !remove; i++)
        remove = strcmp(c->cr.waiting[i]->method->name, "RemoveContainer") == 0;
    if (c->down_pending && c->down_remove)
        remove = true;
    else
        ctr_down_done(c);
    if (remove)
        ctr_begin_remove(self, c);
    else
        berth_creation_run_queued(self, &c->cr);
}

/* The pod is stopping (kill) or being removed (kill, then remove). */
void ctr_on_down(berth_actor_t *self, ctr_t *c, berth_ctrs_down_msg_t *d)
{
    if (c->down_pending) {
        /* an earlier one is under way; this one is answered at once */
        berth_ctrs_down_msg_t *r = berth_ctrs_down_new(BERTH_MSG_CTR_DOWN_DONE, c->pod_id,
                                                       d->remove, BERTH_HANDLE_NONE, d->tag);
        berth_send(c->mgr, &r->hdr);
        return;
    }
    c->down_pending = true;
    c->down_remove = d->remove;
    c->down_tag = d->tag;
    if (c->cr.phase == PH_RUNNING) {
        ctr_kill(c, SIGKILL, TAG_KILL);
        return; /* ctr_on_exit_msg goes on */
    }
    if (d->remove && (c->cr.phase == PH_CREATED || c->cr.phase == PH_EXITED)) {
        ctr_begin_remove(self, c);
        return; /* release answers */
    }
    /* being created, undone or removed already: nothing more to do here */
    ctr_down_done(c);
}

void ctr_on_start(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    if (c->cr.phase != PH_CREATED) {
        const char *st = c->cr.phase == PH_RUNNING ? "running" : "exited";
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION,
                              "StartContainer: container %s is %s, not created", c->id, st);
    }
    if (!c->watching && berth_handle_valid(c->watcher)) {
        berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
        c->watching = true;
    }
    c->starting = rm;
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    /* A restore's runtime container is made now, running: `runtime
     * restore` under the monitor (docs/checkpoint.md). */
    if (c->restoring ? ctr_runtime_create(c, &err) < 0
                     : berth_conmon_start(c->self, &rt, c->id, TAG_START, &err) < 0) {
        c->starting = NULL;
        berth_cri_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
    }
}

/* The stop signal went out (runtime kill finished). A program that runs as
 * its PID namespace's init and had no handler yet lost it: the kernel
 * discards default-action signals sent to a namespace init from outside
 * (a `top` stopped a few ms after StartContainer, before it set up its
 * handlers, ran to the stop timeout; critest "removing stopped container"
 * failed that way in CI). When the signal is discarded after the kill, it
 * is lost; then watch for the handler and send the signal again once it is
 * there, so the program gets it exactly once. A program that never handles
 * it is killed at the timeout as before. */
static void sig_poll_after(berth_actor_t *self, ctr_t *c)
{
    /* Programs set their handlers up within milliseconds of starting: poll
     * fast for a second, then slowly until the stop timeout. */
    uint64_t every =
            berth_now_ns() - c->sig_poll_started_ns < 1000000000ull ? 20000000ull : 250000000ull;
    c->sig_poll = berth_timer_after(self, every,
                                    berth_msg_new(BERTH_MSG_CTR_SIG_POLL, sizeof(berth_msg_t)));
}

/* The stop signal was sent by berth itself (berth_proc_signal): lost when
 * it reached the runtime's init before the exec, when an exec happened
 * across the send, or when it was discarded (default action at a namespace
 * init) and is not pending; pending (blocked) means not decided yet. */
static void stop_signal_fate(berth_actor_t *self, ctr_t *c, const berth_sig_sent_t *ss)
{
    bool lost = ss->runtime_init || ss->exec_seen ||
                (!ss->pending && ss->fate_after == BERTH_SIG_DISCARDED);
    if (!lost && !ss->pending)
        return; /* delivered: the program handles it or dies of it */
    c->sig_lost = lost;
    if (lost)
        berth_log_info("stop signal lost: it reached the runtime's init before the exec, or the "
                       "program's init had no handler for it yet; sending it again once the "
                       "program handles it",
                       "id=%s signal=%d fate_before=%d fate_after=%d runtime_init=%s exec=%s",
                       c->id, stop_sig(c), ss->fate_before, ss->fate_after,
                       ss->runtime_init ? "true" : "false", ss->exec_seen ? "true" : "false");
    c->sig_poll_started_ns = berth_now_ns();
    ctr_sig_poll_cancel(self, c);
    sig_poll_after(self, c);
}

void ctr_on_sig_poll(berth_actor_t *self, ctr_t *c)
{
    c->sig_poll = NULL;
    if (c->cr.phase != PH_RUNNING || c->stop_timer == NULL)
        return;
    int sig = stop_sig(c);
    if (berth_proc_sig_pending(c->pid, sig) == 1 ||
        berth_proc_is_runtime_init(c->pid, c->runtime_path) == 1)
        return sig_poll_after(self, c); /* not delivered yet, or not exec'd yet */
    int fate = berth_proc_sig_fate(c->pid, sig);
    if (!c->sig_lost) {
        /* It was pending: now it is delivered or lost. A signal pending
         * across the program's exec is discarded as soon as the program
         * runs with the default action, and a handler the program installs
         * right after hides that: caught now does not say it was caught
         * then. So the program that handles it now gets it once more (a
         * second SIGTERM to a program already stopping is harmless; a lost
         * one costs the whole stop timeout, as critest's "removing stopped
         * container" with busybox top showed). */
        if (fate == BERTH_SIG_CAUGHT) {
            berth_log_info("stop signal sent again: it was pending across the program's start, "
                           "and the program handles it now",
                           "id=%s signal=%d", c->id, sig);
            ctr_kill(c, sig, TAG_KILL);
            return;
        }
        if (fate != BERTH_SIG_DISCARDED)
            return;
        c->sig_lost = true;
        berth_log_info("stop signal lost across the program's exec: sending it again once "
                       "the program handles it",
                       "id=%s signal=%d", c->id, sig);
        return sig_poll_after(self, c);
    }
    if (fate == BERTH_SIG_CAUGHT) {
        berth_log_info("stop signal sent again: the container's init handles it now", "id=%s",
                       c->id);
        c->sig_lost = false;
        ctr_kill(c, sig, TAG_KILL);
        return;
    }
    if (fate != BERTH_SIG_DISCARDED)
        return; /* gone, ignored on purpose, or no longer init: nothing to redo */
    sig_poll_after(self, c);
}

void ctr_on_stop(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    if (c->cr.phase != PH_RUNNING) {
        if (c->cr.phase == PH_CREATED) {
            /* never started: nothing runs; it counts as exited */
            c->cr.phase = PH_EXITED;
            c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
            c->finished_at = (int64_t)berth_wall_ns();
            ctr_publish(c);
            ctr_write_record(c, STEP_RECORD, false);
        }
        return ctr_reply_empty(rm);
    }
    const Runtime__V1__StopContainerRequest *r = (const Runtime__V1__StopContainerRequest *)rm->req;
    berth_creation_wait(&c->cr, rm);
    if (c->stop_timer)
        return; /* a stop is already under way */
    if (r->timeout <= 0) {
        ctr_kill(c, SIGKILL, TAG_KILL);
        return;
    }
    int sig = stop_sig(c);
    c->stop_timer =
            berth_timer_after(self, (uint64_t)r->timeout * 1000000000ull,
                              berth_msg_new(BERTH_MSG_CTR_STOP_TIMEOUT, sizeof(berth_msg_t)));
    /* The stop signal goes straight to the container's init (what the
     * runtime's `kill` does), read around the send: the fate at that moment
     * says whether it was lost. The runtime's kill, tens of milliseconds
     * long, hid a signal discarded before the program set its handler up
     * (critest "removing stopped container" ran to its 60 s timeout). */
    berth_sig_sent_t ss;
    if (c->pid > 0 && berth_proc_signal(c->pid, sig, c->runtime_path, &ss) == 0)
        stop_signal_fate(self, c, &ss);
    else if (c->pid <= 0 || errno != ESRCH)
        ctr_kill(c, sig, TAG_KILL); /* no pid known: the runtime finds the init */
    /* ESRCH: gone already, its exit is on the way */
}

void ctr_on_remove(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    berth_creation_wait(&c->cr, rm);
    if (c->cr.phase == PH_RUNNING) {
        /* the CRI removes running containers forcibly */
        ctr_kill(c, SIGKILL, TAG_KILL);
        return;
    }
    ctr_begin_remove(self, c);
}

void ctr_on_exec(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    (void)self;
    const Runtime__V1__ExecSyncRequest *r = (const Runtime__V1__ExecSyncRequest *)rm->req;
    if (c->cr.phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION, "ExecSync: container %s is not running",
                              c->id);
    if (r->n_cmd == 0)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "ExecSync: cmd is empty");
    BERTH_AUTO_FREE const char **argv = berth_calloc(r->n_cmd + 1, sizeof(char *));
    for (size_t i = 0; i < r->n_cmd; i++)
        argv[i] = r->cmd[i];
    uint64_t serial = ++c->exec_serial;
    BERTH_AUTO_FREE char *pidf =
            berth_asprintf("%s/exec-%llu.pid", c->persist_dir, (unsigned long long)serial);
    berth_conmon_exec_spec_t spec = {
            .cid = c->id,
            .argv = argv,
            .bundle = c->bundle,
            .pid_file = pidf,
            .timeout_ns = r->timeout > 0 ? (uint64_t)r->timeout * 1000000000ull : 0,
    };
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    if (berth_conmon_exec(c->self, &rt, &spec, TAG_EXEC_BASE + serial, &err) < 0) {
        berth_cri_finish_err(rm->call, err);
        berth_err_free(&err);
        berth_msg_free(&rm->hdr);
        return;
    }
    if (c->n_execs == c->cap_execs) {
        c->cap_execs = c->cap_execs ? c->cap_execs * 2 : 4;
        c->execs = berth_realloc(c->execs, c->cap_execs * sizeof(*c->execs));
    }
    c->execs[c->n_execs++] = (exec_call_t){serial, rm};
}

/* Exec and Attach answer a URL of the streaming server (io/stream.h); the
 * command runs, or the attach begins, when the client comes to it. What is
 * checked here is what can be checked now, so a bad request fails at once
 * with its reason rather than at the URL. */
void ctr_on_exec_stream(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    ctr_t *c = owner;
    const Runtime__V1__ExecRequest *r = (const Runtime__V1__ExecRequest *)rm->req;
    if (c->cr.phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION, "Exec: container %s is not running",
                              c->id);
    if (r->n_cmd == 0)
        return berth_cri_fail(rm, BERTH_ERR_INVALID, "Exec: cmd is empty");
    if (!r->stdin && !r->stdout && !r->stderr)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "Exec: one of stdin, stdout and stderr must be set");
    if (r->tty && r->stderr && r->stdout == false)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "Exec: with tty, stderr is stdout: ask for stdout");
    berth_stream_req_t *q = berth_calloc(1, sizeof(*q));
    q->kind = BERTH_STREAM_EXEC;
    q->id = berth_strdup(c->id);
    q->runtime_path = berth_strdup(c->runtime_path);
    q->runtime_root = c->runtime_root ? berth_strdup(c->runtime_root) : NULL;
    q->argv = berth_strv_dup(r->cmd, (ssize_t)r->n_cmd);
    q->pid_dir = berth_strdup(c->persist_dir);
    q->bundle = berth_strdup(c->bundle);
    q->tty = r->tty;
    q->in = r->stdin;
    q->out = r->stdout;
    q->err = r->stderr && !r->tty;
    berth_cri_answer_stream(rm, q, &runtime__v1__exec_response__descriptor);
}

void ctr_on_attach(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    ctr_t *c = owner;
    const Runtime__V1__AttachRequest *r = (const Runtime__V1__AttachRequest *)rm->req;
    if (c->cr.phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION, "Attach: container %s is not running",
                              c->id);
    if (!r->stdin && !r->stdout && !r->stderr)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "Attach: one of stdin, stdout and stderr must be set");
    if (r->stdin && !c->config->stdin)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "Attach: container %s was not created with stdin: it has no input "
                              "to attach to",
                              c->id);
    if (r->tty != c->config->tty)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "Attach: tty is %s but container %s was created with tty %s",
                              r->tty ? "true" : "false", c->id, c->config->tty ? "true" : "false");
    berth_stream_req_t *q = berth_calloc(1, sizeof(*q));
    q->kind = BERTH_STREAM_ATTACH;
    q->id = berth_strdup(c->id);
    q->stdin_once = c->config->stdin_once;
    q->tty = r->tty;
    q->in = r->stdin;
    q->out = r->stdout;
    q->err = r->stderr && !r->tty;
    q->monitor = c->monitor;
    q->bundle = berth_strdup(c->bundle);
    q->socket_dir = c->socket_dir ? berth_strdup(c->socket_dir) : NULL;
    berth_cri_answer_stream(rm, q, &runtime__v1__attach_response__descriptor);
}

void ctr_on_exec_done(ctr_t *c, berth_conmon_result_msg_t *m)
{
    uint64_t serial = m->tag - TAG_EXEC_BASE;
    berth_cri_req_msg_t *rm = NULL;
    for (size_t i = 0; i < c->n_execs; i++) {
        if (c->execs[i].serial == serial) {
            rm = c->execs[i].rm;
            c->execs[i] = c->execs[--c->n_execs];
            break;
        }
    }
    if (rm == NULL)
        return;
    if (m->error) {
        berth_cri_finish_err(rm->call, m->error);
        berth_msg_free(&rm->hdr);
        return;
    }
    Runtime__V1__ExecSyncResponse resp = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;
    resp.stdout.data = (uint8_t *)m->out;
    resp.stdout.len = m->out_len;
    resp.stderr.data = (uint8_t *)m->err_out;
    resp.stderr.len = m->err_len;
    resp.exit_code = m->exit_code;
    berth_cri_reply(rm->call, &resp.base);
    berth_msg_free(&rm->hdr);
}

/* A ContainerStatus and the pieces it points to (borrowed from c, but for
 * the two maps, owned). */
typedef struct status_parts {
    Runtime__V1__ContainerStatus st;
    Runtime__V1__ContainerUser user;
    Runtime__V1__LinuxContainerUser luser;
    int64_t *groups;
    Runtime__V1__ContainerMetadata md;
    Runtime__V1__ImageSpec img;
    Runtime__V1__ContainerResources cres;
    void *labels, *annotations;
} status_parts_t;

static void status_build(const ctr_t *c, status_parts_t *p)
{
    const Runtime__V1__ContainerConfig *cc = c->config;
    runtime__v1__container_metadata__init(&p->md);
    p->md.name = cc->metadata->name;
    p->md.attempt = cc->metadata->attempt;
    runtime__v1__image_spec__init(&p->img);
    p->img.image = c->image_name ? c->image_name : cc->image->image;
    Runtime__V1__ContainerStatus *st = &p->st;
    runtime__v1__container_status__init(st);
    st->id = c->id;
    st->metadata = &p->md;
    st->state = c->state;
    st->created_at = c->created_at;
    st->started_at = c->started_at;
    st->finished_at = c->finished_at;
    st->exit_code = c->exit_code;
    st->image = &p->img;
    st->image_ref = c->image_ref ? c->image_ref : (char *)"";
    st->image_id = c->image_id ? c->image_id : (char *)"";
    st->reason = c->reason ? c->reason : (char *)"";
    st->message = c->message ? c->message : (char *)"";
    st->log_path = c->log_path ? c->log_path : (char *)"";
    p->labels = berth_cri_map_copy(&runtime__v1__container_status__labels_entry__descriptor,
                                   cc->n_labels, (ProtobufCMessage *const *)cc->labels);
    p->annotations =
            berth_cri_map_copy(&runtime__v1__container_status__annotations_entry__descriptor,
                               cc->n_annotations, (ProtobufCMessage *const *)cc->annotations);
    st->n_labels = cc->n_labels;
    st->labels = p->labels;
    st->n_annotations = cc->n_annotations;
    st->annotations = p->annotations;
    st->n_mounts = cc->n_mounts;
    st->mounts = cc->mounts;
    st->stop_signal = berth_ctrsec_cri_signal(stop_sig(c));
    runtime__v1__container_user__init(&p->user);
    runtime__v1__linux_container_user__init(&p->luser);
    p->groups = NULL;
    if (c->user_set) {
        p->luser.uid = c->user.uid;
        p->luser.gid = c->user.gid;
        p->groups = berth_calloc(c->user.ngids + 1, sizeof(int64_t));
        for (size_t i = 0; i < c->user.ngids; i++)
            p->groups[i] = c->user.gids[i];
        p->luser.n_supplemental_groups = c->user.ngids;
        p->luser.supplemental_groups = p->groups;
        p->user.linux = &p->luser;
        st->user = &p->user;
    }
    /* as created, then as updated (record_resources) */
    runtime__v1__container_resources__init(&p->cres);
    if (cc->linux && cc->linux->resources) {
        p->cres.linux = cc->linux->resources;
        st->resources = &p->cres;
    }
}

void ctr_read_user(ctr_t *c)
{
    berth_proc_ids_t ids;
    /* procfs: no disk behind it (io/procsig.h), fine in a turn */
    if (c->user_read || c->pid <= 0 ||
        c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
        berth_proc_is_runtime_init(c->pid, c->runtime_path) != 0 ||
        berth_proc_ids(c->pid, &ids) < 0)
        return;
    c->user_read = true;
    berth_free(c->user.gids);
    c->user.uid = ids.uid;
    c->user.gid = ids.gid;
    c->user.gids = berth_steal_ptr(&ids.groups);
    c->user.ngids = ids.ngroups;
    c->user_set = true;
}

static void status_parts_fini(status_parts_t *p)
{
    berth_free(p->groups);
    berth_free(p->labels);
    berth_free(p->annotations);
}

void ctr_announce(ctr_t *c, int type)
{
    if (!berth_handle_valid(c->events))
        return;
    status_parts_t parts;
    status_build(c, &parts);
    Runtime__V1__ContainerStatus *sts[] = {&parts.st};
    /* The pod as this container knows it: the kubelet keys the event by
     * the pod's UID (metadata) and reads the containers' statuses. */
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxStatus pod = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
    pod.id = c->pod_id;
    if (c->pod) {
        md.name = c->pod->pod_name ? c->pod->pod_name : (char *)"";
        md.namespace_ = c->pod->pod_namespace ? c->pod->pod_namespace : (char *)"";
        md.uid = c->pod->pod_uid ? c->pod->pod_uid : (char *)"";
        pod.metadata = &md;
        pod.state = c->pod->state;
        pod.runtime_handler = c->pod->handler ? c->pod->handler : (char *)"";
    }
    Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
    ev.container_id = c->id;
    ev.container_event_type = type;
    ev.created_at = (int64_t)berth_wall_ns();
    ev.pod_sandbox_status = &pod;
    ev.n_containers_statuses = 1;
    ev.containers_statuses = sts;
    berth_events_publish(c->events, &ev);
    status_parts_fini(&parts);
}

void ctr_on_status(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    (void)self;
    const Runtime__V1__ContainerStatusRequest *r =
            (const Runtime__V1__ContainerStatusRequest *)rm->req;
    ctr_read_user(c);
    status_parts_t parts;
    status_build(c, &parts);
    Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
    resp.status = &parts.st;
    BERTH_AUTO_FREE char *infojson = NULL;
    BERTH_AUTO_FREE void *infomap = NULL;
    if (r->verbose) {
        json_t *o =
                json_pack("{s:s, s:s, s:i, s:s?, s:s?, s:s?, s:s?}", "name", c->name, "sandboxID",
                          c->pod_id, "pid", (int)c->pid, "rootfs", c->rootfs, "bundle", c->bundle,
                          "runtime", c->runtime_path, "stage", c->cr.resv.stage);
        if (c->sn.enabled) {
            /* what the notifier refused so far */
            BERTH_AUTO_FREE char *calls = berth_ctrsec_notify_text(&c->sn);
            json_object_set_new(o, "seccompNotifier",
                                json_pack("{s:s, s:I, s:s}", "action", c->sn.stop ? "stop" : "",
                                          "refused", (json_int_t)c->sn.total, "syscalls", calls));
        }
        infomap = berth_cri_info(&runtime__v1__container_status_response__info_entry__descriptor, o,
                                 &infojson, &resp.n_info);
        resp.info = infomap;
    }
    berth_cri_reply(rm->call, &resp.base);
    status_parts_fini(&parts);
    berth_msg_free(&rm->hdr);
}

/* The containers manager gathers a pod's container statuses for its
 * PodSandboxStatus. Answered in every phase: a container still being made
 * or stashed is not listed, so the manager does not ask it. */
void ctr_on_status_query(ctr_t *c, berth_ctr_status_msg_t *q)
{
    ctr_read_user(c);
    status_parts_t parts;
    status_build(c, &parts);
    berth_ctr_status_msg_t *r = berth_ctr_status_query_new(q->reply_to, q->tag, q->slot);
    r->hdr.type = BERTH_MSG_CTR_STATUS_REPLY;
    r->answered = true;
    r->status = berth_cri_pack(&parts.st.base, &r->len);
    status_parts_fini(&parts);
    q->answered = true;
    berth_send(q->reply_to, &r->hdr);
}

/* ---- UpdateContainerResources ----------------------------------------------------------- */

static void update_job(void *arg)
{
    step_msg_t *s = arg;
    berth_file_write_atomic(s->path, s->record_json, strlen(s->record_json), 0600, &s->error);
}

/* The update in c->updating, its limits final: fitted to the node and
 * handed to the runtime (STEP_UPDATE). */
static void update_run(berth_actor_t *self, ctr_t *c)
{
    const Runtime__V1__UpdateContainerResourcesRequest *r =
            (const Runtime__V1__UpdateContainerResourcesRequest *)c->updating->req;
    const berth_runtimes_t *rts = berth_runtimes_current();
    berth_resources_fit_t fit;
    berth_err_t ferr = NULL;
    if (berth_runtimes_fit_resources(rts ? &rts->cgroups : NULL, r->linux, &fit, &ferr) < 0)
        return ctr_finish_update_err(self, c, ferr);
    if (fit.ndropped)
        berth_log_debug("limits the node cannot apply left out", "id=%s dropped=\"%s\"", c->id,
                        fit.dropped);
    berth_resv_set_stage(&c->cr.resv, "updating the container's resources");
    step_msg_t *s = ctr_step_new(c, STEP_UPDATE);
    /* the limits as config.json has them (io/ocispec's one builder) */
    s->record_json = berth_ocispec_resources_json(&fit.res);
    berth_resources_fit_fini(&fit);
    /* in the bundle: removed with the container, never shared with another */
    s->path = berth_asprintf("%s/resources-update.json", c->bundle);
    berth_blocking_run(update_job, s, c->self, &s->hdr);
}

/* An update NRI itself asks for (a plugin's UpdateContainers, or the
 * updates in a hook's answers) does not go through the plugins again. */
static bool from_nri(const berth_cri_req_msg_t *rm)
{
    return strcmp(berth_grpc_call_method(rm->call), BERTH_NRI_CALL_METHOD) == 0;
}

void ctr_on_update(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    ctr_t *c = owner;
    const Runtime__V1__UpdateContainerResourcesRequest *r =
            (const Runtime__V1__UpdateContainerResourcesRequest *)rm->req;
    if (c->cr.phase != PH_CREATED && c->cr.phase != PH_RUNNING)
        return berth_cri_fail(
                rm, BERTH_ERR_PRECONDITION,
                "UpdateContainerResources: container %s is not running (it has exited); "
                "the resources of a stopped container cannot change",
                c->id);
    if (r->linux == NULL)
        return berth_cri_fail(rm, BERTH_ERR_INVALID,
                              "UpdateContainerResources: no Linux resources in the request");
    /* the request's own limits are checked before any plugin sees them */
    const berth_runtimes_t *rts = berth_runtimes_current();
    BERTH_AUTO_ERR berth_err_t ferr = NULL;
    if (berth_runtimes_check_resources(rts ? &rts->cgroups : NULL, r->linux, &ferr) < 0)
        return berth_cri_fail(rm, ferr->kind, "UpdateContainerResources: %s", ferr->msg);
    c->updating = rm;
    c->nri_post_update = false;
    if (c->infra || c->pod == NULL || !berth_nrisrv_enabled() || from_nri(rm))
        return update_run(self, c);
    /* NRI's UpdateContainer: the plugins see the requested limits and may
     * change them (ctr_on_nri_update) */
    c->nri_post_update = true;
    berth_resv_set_stage(&c->cr.resv, "calling the NRI plugins (UpdateContainer)");
    berth_nrisrv_hook_t *h =
            berth_nri_ctr_hook("UpdateContainer", BERTH_NRI_UPDATE_CONTAINER, c->pod, c->id,
                               c->config, c->self, BERTH_MSG_CTR_NRI_UPDATE);
    /* UpdateContainerRequest is the pod and container, then the limits */
    berth_nri_res_append_cri(&h->payload, &h->len, 3, r->linux);
    berth_nrisrv_hook_send(h);
}

void ctr_on_nri_update(berth_actor_t *self, ctr_t *c, berth_nrisrv_hook_t *h)
{
    if (c->updating == NULL)
        return;
    berth_err_t err = NULL;
    if (h->error)
        return ctr_finish_update_err(self, c, berth_steal_ptr(&h->error));
    berth_nri_updates_t u = {0};
    for (size_t i = 0; i < h->nresults; i++) {
        const berth_nrisrv_result_t *r = &h->results[i];
        if (berth_nri_updates_add_packed(&u, r->plugin, BERTH_NRI_UPDATE_CONTAINER, r->payload,
                                         r->len, &err) < 0) {
            berth_nri_updates_fini(&u);
            return ctr_finish_update_err(self, c, err);
        }
    }
    berth_nri_res_t own;
    if (berth_nri_updates_take(&u, c->id, &own)) {
        berth_cri_req_msg_t *rm = c->updating;
        Runtime__V1__UpdateContainerResourcesRequest *n = berth_nri_res_overlay(
                (const Runtime__V1__UpdateContainerResourcesRequest *)rm->req, &own);
        berth_nri_res_fini(&own);
        berth_log_info("NRI plugins changed a container's update", "id=%s", c->id);
        protobuf_c_message_free_unpacked(rm->req, berth_alloc_protobuf_allocator());
        rm->req = &n->base;
    }
    if (berth_nri_updates_any(&u)) {
        berth_resv_set_stage(&c->cr.resv, "applying the NRI plugins' updates of other containers");
        return berth_nri_updates_apply(&u, c->self, BERTH_MSG_CTR_NRI_APPLIED, 1);
    }
    update_run(self, c);
}

void ctr_on_nri_applied(berth_actor_t *self, ctr_t *c, berth_nri_applied_msg_t *m)
{
    if (c->updating == NULL)
        return;
    if (m->error)
        return ctr_finish_update_err(self, c, berth_steal_ptr(&m->error));
    update_run(self, c);
}

/* StopContainer's answers may update other containers: applied, nobody
 * waits (the container has stopped already); failures are logged. */
void ctr_on_nri_stopped(ctr_t *c, berth_nrisrv_hook_t *h)
{
    berth_nri_updates_t u = {0};
    berth_err_t err = NULL;
    for (size_t i = 0; i < h->nresults && err == NULL; i++)
        berth_nri_updates_add_packed(&u, h->results[i].plugin, BERTH_NRI_STOP_CONTAINER,
                                     h->results[i].payload, h->results[i].len, &err);
    if (err) {
        berth_log_warn("NRI updates at StopContainer not applied", "id=%s error=\"%s\"", c->id,
                       err->msg);
        berth_err_free(&err);
        berth_nri_updates_fini(&u);
        return;
    }
    if (berth_nri_updates_any(&u))
        berth_nri_updates_apply(&u, BERTH_HANDLE_NONE, 0, 0);
}

void ctr_finish_update_err(berth_actor_t *self, ctr_t *c, berth_err_t err)
{
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->updating);
    c->nri_post_update = false;
    berth_resv_set_stage(&c->cr.resv, "done");
    berth_log_warn("container resources update failed", "id=%s error=\"%s\"", c->id, err->msg);
    if (rm) {
        berth_err_prefix(&err, "UpdateContainerResources");
        berth_cri_finish_err(rm->call, err);
        berth_msg_free(&rm->hdr);
    }
    berth_err_free(&err);
    berth_creation_run_queued(self, &c->cr);
}

/* The container's resources after an update: the runtimes keep what the
 * update leaves at zero, so the record does the same. The new config goes
 * through pack/unpack so that fini frees it like any other. */
static void record_resources(ctr_t *c, const Runtime__V1__LinuxContainerResources *u)
{
    Runtime__V1__LinuxContainerConfig lx = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    if (c->config->linux)
        lx = *c->config->linux;
    Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    if (lx.resources)
        res = *lx.resources;
    if (u->cpu_period)
        res.cpu_period = u->cpu_period;
    if (u->cpu_quota)
        res.cpu_quota = u->cpu_quota;
    if (u->cpu_shares)
        res.cpu_shares = u->cpu_shares;
    if (u->memory_limit_in_bytes)
        res.memory_limit_in_bytes = u->memory_limit_in_bytes;
    if (u->memory_swap_limit_in_bytes)
        res.memory_swap_limit_in_bytes = u->memory_swap_limit_in_bytes;
    if (u->cpuset_cpus && u->cpuset_cpus[0])
        res.cpuset_cpus = u->cpuset_cpus;
    if (u->cpuset_mems && u->cpuset_mems[0])
        res.cpuset_mems = u->cpuset_mems;
    if (u->n_hugepage_limits) {
        res.n_hugepage_limits = u->n_hugepage_limits;
        res.hugepage_limits = u->hugepage_limits;
    }
    if (u->n_unified) {
        res.n_unified = u->n_unified;
        res.unified = u->unified;
    }
    lx.resources = &res;
    Runtime__V1__ContainerConfig cc = *c->config;
    cc.linux = &lx;
    Runtime__V1__ContainerConfig *n = (Runtime__V1__ContainerConfig *)berth_cri_copy(&cc.base);
    if (n == NULL)
        return; /* cannot happen for bytes just packed; keep the old record */
    berth_cri_free(&c->config->base);
    c->config = n;
}

void ctr_on_update_done(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    if (m->error)
        return ctr_finish_update_err(self, c, berth_steal_ptr(&m->error));
    berth_cri_req_msg_t *rm = berth_steal_ptr(&c->updating);
    berth_resv_set_stage(&c->cr.resv, "done");
    if (rm) {
        const Runtime__V1__UpdateContainerResourcesRequest *r =
                (const Runtime__V1__UpdateContainerResourcesRequest *)rm->req;
        record_resources(c, r->linux);
        ctr_write_record(c, STEP_RECORD, false);
        berth_log_info("container resources updated", "id=%s", c->id);
        if (c->nri_post_update)
            ctr_nri_notify(c, "PostUpdateContainer", BERTH_NRI_POST_UPDATE_CONTAINER);
        c->nri_post_update = false;
        Runtime__V1__UpdateContainerResourcesResponse resp =
                RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
        berth_cri_reply(rm->call, &resp.base);
        berth_msg_free(&rm->hdr);
    }
    berth_creation_run_queued(self, &c->cr);
}

/* A record says created: StartContainer answers before the start's record
 * is on disk, so a crash in between leaves a started container recorded as
 * created. The runtime knows; until it answers, requests other than status
 * wait (a StartContainer would fail on a running container). */
void ctr_reconcile_created(ctr_t *c)
{
    berth_err_t err = NULL;
    berth_runtime_t rt = ctr_runtime_of(c);
    if (berth_conmon_state(c->self, &rt, c->id, TAG_STATE, &err) < 0) {
        berth_log_warn("cannot ask the runtime about a restored container", "id=%s error=\"%s\"",
                       c->id, err->msg);
        berth_err_free(&err);
        return;
    }
    c->reconciling = true;
}

void ctr_on_reconciled(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m)
{
    c->reconciling = false;
    if (m->error) {
        berth_log_warn("the runtime's state of a restored container is unknown; it stays created",
                       "id=%s error=\"%s\"", c->id, m->error->msg);
    } else if (c->cr.phase == PH_CREATED && m->status && strcmp(m->status, "created") != 0) {
        /* started before the crash: running, or exited since (the watcher
         * then reports its exit file) */
        berth_log_info("a restored container was started before the restart", "id=%s status=%s",
                       c->id, m->status);
        c->cr.phase = PH_RUNNING;
        c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
        if (m->pid > 0)
            c->pid = m->pid;
        /* when the restart found it so: the start's own time was lost */
        c->started_at = (int64_t)berth_wall_ns();
        ctr_write_record(c, STEP_RECORD, false);
        if (!c->watching && berth_handle_valid(c->watcher)) {
            berth_conmon_watch(c->watcher, c->id, c->persist_dir, c->self);
            c->watching = true;
        }
        ctr_publish(c);
    }
    berth_creation_run_queued(self, &c->cr);
}

void ctr_on_reopen(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm)
{
    (void)self;
    ctr_t *c = owner;
    if (c->cr.phase != PH_RUNNING)
        return berth_cri_fail(rm, BERTH_ERR_PRECONDITION,
                              "ReopenContainerLog: container %s is not running", c->id);
    berth_creation_wait(&c->cr, rm);
    step_msg_t *s = ctr_step_new(c, STEP_REOPEN);
    berth_blocking_run(ctr_reopen_job, s, c->self, &s->hdr);
}

/* ---- the seccomp notifier ---------------------------------------------------------------------
 */

void ctr_on_seccomp_denial(berth_actor_t *self, ctr_t *c, berth_seccomp_denial_msg_t *m)
{
    berth_ctrsec_notify_record(&c->sn, m->syscall);
    berth_metrics_seccomp_refused(c->name, m->syscall);
    berth_log_info("seccomp notifier: syscall refused", "id=%s name=%s syscall=%s count=%llu",
                   c->id, c->name, m->syscall, (unsigned long long)c->sn.total);
    if (!c->sn.stop || c->sn.stopping)
        return;
    /* each refusal restarts the wait, so the message lists the refusals
     * of a burst rather than its first */
    if (c->sn.timer)
        berth_timer_cancel(self, c->sn.timer);
    uint64_t wait =
            c->cfg->seccomp_notifier_wait_ns > 0 ? (uint64_t)c->cfg->seccomp_notifier_wait_ns : 0;
    c->sn.timer = berth_timer_after(self, wait,
                                    berth_msg_new(BERTH_MSG_CTR_SECCOMP_STOP, sizeof(berth_msg_t)));
}

void ctr_on_seccomp_stop(berth_actor_t *self, ctr_t *c)
{
    (void)self;
    c->sn.timer = NULL;
    if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING || c->sn.stopping)
        return;
    c->sn.stopping = true;
    BERTH_AUTO_FREE char *calls = berth_ctrsec_notify_text(&c->sn);
    berth_log_info("seccomp notifier: stopping the container", "id=%s name=%s syscalls=\"%s\"",
                   c->id, c->name, calls);
    ctr_kill(c, SIGKILL, TAG_KILL);
}
