/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container actor's state, shared by its two files: container.c (the
 * creation steps and undo on actors/creation.h, the completions, restore)
 * and container_life.c (start, stop and the stop signal, exit, exec,
 * status, resource updates, log reopening). Only these two include it;
 * everything here runs in the one container actor's turns.
 */
#ifndef BERTH_ACTORS_CONTAINER_INTERNAL_H
#define BERTH_ACTORS_CONTAINER_INTERNAL_H

#include <sys/types.h>

#include "actors/ctrmsg.h"
#include "actors/podmsg.h"
#include "actors/creation.h"
#include "actors/ctrsec.h"
#include "actors/nri.h"
#include "actors/nri_update.h"
#include "actors/cri.h"
#include "actors/msgtypes.h"
#include "actors/runtimes.h"
#include "conf/config.h"
#include "io/conmon.h"
#include "io/ocispec.h"
#include "io/store.h"

enum made_bits {
    MADE_DIRS = 1u << 0,
    MADE_ROOTFS = 1u << 1,
    MADE_RECORD = 1u << 2,
    MADE_RUNTIME = 1u << 3,
    MADE_IMGVOL = 1u << 4, /* image volumes claimed from the images actor */
    MADE_CKPT = 1u << 5,   /* a checkpoint archive unpacked for a restore */
};

enum phase {
    PH_CREATING = BERTH_CREATION_CREATING,
    PH_UNDOING = BERTH_CREATION_UNDOING,
    PH_REMOVING = BERTH_CREATION_REMOVING,
    PH_RELEASING = BERTH_CREATION_RELEASING,
    PH_CREATED = BERTH_CREATION_LIVE,
    PH_RUNNING,
    PH_EXITED,
};

enum step {
    STEP_PREPARE = 1,
    STEP_COMMIT,
    STEP_RECORD,
    STEP_CLEANUP,
    STEP_REOPEN,
    STEP_INTENT,
    STEP_UPDATE,
    STEP_STAGE,
    STEP_CHECKPOINT, /* container_ckpt.c's pool job */
    STEP_UNPACK,     /* a restore's archive unpacked and its config.dump read */
    STEP_UNPACK_UNDO,
};

enum op_tag {
    TAG_CREATE = 1,
    TAG_START,
    TAG_KILL,
    TAG_DELETE,
    TAG_UPDATE,
    TAG_STATE,            /* a restart asks the runtime about a container recorded as created */
    TAG_EXEC_BASE = 1000, /* + exec serial */
};

typedef struct exec_call {
    uint64_t serial;
    berth_cri_req_msg_t *rm;
} exec_call_t;

typedef struct ctr {
    berth_config_t *cfg;
    berth_handle_t self, mgr, pods, images, watcher;
    berth_handle_t events;  /* GetContainerEvents' fan-out; NONE: none */
    berth_handle_t monitor; /* berth-monitor's link; NONE: conmon */
    char *id, *name, *pod_id;
    Runtime__V1__ContainerConfig *config;
    berth_pod_info_t *pod;
    berth_store_image_t *image;
    char **layer_dirs;
    size_t n_layer_dirs;
    /* image volumes (Mount.image): the mount point of each config mount's
     * image (NULL for a host path), the claims not answered yet, and the
     * first failure among them */
    char **vol_paths;
    size_t n_vol_paths;
    unsigned vol_pending;
    berth_err_t vol_failure;
    char *rootfs, *bundle, *persist_dir, *exit_dir, *socket_dir, *log_path, *record_path;
    char *staged_path; /* the committed record, written ahead (see the top) */
    char *runtime_path, *runtime_root;
    char *image_name, *image_ref, *image_id;
    /* A restore (config.image.image names a checkpoint archive,
     * docs/checkpoint.md): the archive unpacked here, and the image
     * config.dump names, the root filesystem's. */
    bool restoring;
    char *ckpt_dir, *ckpt_image;
    int stop_signal;
    /* ContainerStatus.user: the spec's user, then the ids the init really
     * got (/proc/PID/status, read when it started); uid only when set */
    berth_user_t user;
    bool user_set, user_read;
    pid_t pid;
    int state; /* Runtime__V1__ContainerState */
    int64_t created_at, started_at, finished_at;
    int exit_code;
    char *reason, *message;
    berth_creation_t cr; /* phase, made bits, reservation, request queue */
    bool watching;
    /* creation branches still running before the runtime may start (the
     * intent record, the rootfs + spec), and the first failure among them */
    unsigned prep_pending;
    berth_err_t prep_failure;
    /* the staged commit: being written, written, the runtime's answer in and
     * waiting for it (a failure meanwhile waits in prep_failure: undo removes
     * the staged file, not before it is written) */
    bool stage_pending, staged, commit_waiting;
    /* restored as created: the runtime is asked whether it was started (the
     * start's record is written after the answer, so a crash can lose it) */
    bool reconciling;
    berth_timer_t *stop_timer;
    /* The stop signal reached the container's init before it had a handler
     * and the kernel discarded it (io/procsig.h): polled until the program
     * handles it, then sent again. */
    bool sig_lost; /* the stop signal is known lost (else: it was pending) */
    berth_timer_t *sig_poll;
    uint64_t sig_poll_started_ns;
    exec_call_t *execs;
    size_t n_execs, cap_execs;
    uint64_t exec_serial;
    berth_cri_req_msg_t *starting;      /* the StartContainer being served */
    berth_cri_req_msg_t *updating;      /* the UpdateContainerResources being served */
    berth_cri_req_msg_t *checkpointing; /* the CheckpointContainer being served */
    /* the update being served went through the NRI plugins: PostUpdateContainer follows */
    bool nri_post_update;
    /* a pod's pause container (never listed; the pod is told its pid) */
    bool infra, pull_sent;
    berth_handle_t infra_reply;
    unsigned relookups;
    /* a pod going down: answer the manager when stopped / removed */
    bool down_pending, down_remove;
    uint64_t down_tag;
    /* the last state announced to the events actor (+1; 0: none yet), so a
     * summary sent for another reason announces nothing */
    int announced;
    /* the seccomp notifier (actors/ctrsec.h); zero: none */
    berth_ctrsec_notify_t sn;
    /* what the NRI plugins asked of the container at CreateContainer */
    berth_nri_adjust_t nri;
} ctr_t;

typedef struct step_msg {
    berth_msg_t hdr; /* BERTH_MSG_CTR_STEP */
    int step;
    ctr_t *c; /* borrowed: read-only while the actor waits (see the top) */
    char *record_json;
    char *path;
    berth_err_t error;
} step_msg_t;

step_msg_t *ctr_step_new(ctr_t *c, int step);
/* The container's monitor and `runtime create`, or for a restore `runtime
 * restore` (running once the pid is in); the answer is
 * BERTH_MSG_CONMON_CREATED tagged TAG_CREATE. Sets MADE_RUNTIME. */
int ctr_runtime_create(ctr_t *c, berth_err_t *err);
void ctr_reply_empty(berth_cri_req_msg_t *rm);
berth_runtime_t ctr_runtime_of(const ctr_t *c);
char *ctr_record_json(const ctr_t *c, bool creating);
void ctr_publish(void *owner);
/* Sends the events actor one ContainerEventResponse (a
 * Runtime__V1__ContainerEventType) with the container's status and its
 * pod's. */
void ctr_announce(ctr_t *c, int type);
void ctr_down_done(ctr_t *c);
void ctr_write_record(ctr_t *c, int step, bool creating);
void ctr_infra_answer(ctr_t *c, const berth_err_t err);
void ctr_begin_remove(berth_actor_t *self, ctr_t *c);
/* Tells the NRI plugins of a container event nobody waits for (not for a
 * pause container, nor with NRI off). */
void ctr_nri_notify(const ctr_t *c, const char *method, int event);
/* The same hook answered to the container as reply_type (a
 * berth_nrisrv_hook_t); false when no plugin can be called (then nothing
 * was sent). */
bool ctr_nri_call(const ctr_t *c, const char *method, int event, uint32_t reply_type);
/* NRI's UpdateContainer answers; the other containers' updates applied
 * for an update (tag 1; tag 2, for a creation, is container.c's);
 * StopContainer answers. */
void ctr_on_nri_update(berth_actor_t *self, ctr_t *c, berth_nrisrv_hook_t *h);
void ctr_on_nri_applied(berth_actor_t *self, ctr_t *c, berth_nri_applied_msg_t *m);
void ctr_on_nri_stopped(ctr_t *c, berth_nrisrv_hook_t *h);
void ctr_kill(ctr_t *c, int sig, uint64_t tag);
void ctr_sig_poll_cancel(berth_actor_t *self, ctr_t *c);
void ctr_on_exit_msg(berth_actor_t *self, ctr_t *c, berth_conmon_exit_msg_t *m);
void ctr_on_down(berth_actor_t *self, ctr_t *c, berth_ctrs_down_msg_t *d);
void ctr_on_start(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_sig_poll(berth_actor_t *self, ctr_t *c);
void ctr_on_stop(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_remove(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_exec(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_exec_stream(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_attach(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_exec_done(ctr_t *c, berth_conmon_result_msg_t *m);
void ctr_on_status(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
/* Replaces the spec's user with the ids the started init really has
 * (/proc/PID/status), once: the runtime sets them before it execs the
 * program, so while the init is still the runtime's the spec's stay and a
 * later status asks again. Keeps the spec's when the init is gone. */
void ctr_read_user(ctr_t *c);
void ctr_on_status_query(ctr_t *c, berth_ctr_status_msg_t *q);
void ctr_on_seccomp_denial(berth_actor_t *self, ctr_t *c, berth_seccomp_denial_msg_t *m);
void ctr_on_seccomp_stop(berth_actor_t *self, ctr_t *c);
void ctr_on_update(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_finish_update_err(berth_actor_t *self, ctr_t *c, berth_err_t err);
void ctr_on_update_done(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m);
void ctr_reconcile_created(ctr_t *c);
void ctr_on_reconciled(berth_actor_t *self, ctr_t *c, berth_conmon_result_msg_t *m);
void ctr_on_reopen(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_reopen_job(void *arg);
/* CheckpointContainer (container_ckpt.c) and its pool job's answer. */
void ctr_on_checkpoint(berth_actor_t *self, void *owner, berth_cri_req_msg_t *rm);
void ctr_on_checkpoint_done(berth_actor_t *self, ctr_t *c, step_msg_t *s);

#endif
