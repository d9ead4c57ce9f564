/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berthd's side of berth-monitor (io/monitor/main.c, docs/monitor.md): the
 * per-node container monitor that takes conmon's place when
 * `container_monitor = "berth"`.
 *
 *   link    one actor per berthd. It finds the monitor of the run directory
 *           or starts one (its keeper; berthd binds the socket and hands it
 *           over as fd 3, so nothing waits for the monitor to listen), keeps
 *           a connection to the worker, and holds a copy of every
 *           container's pipe ends. When the worker dies, its keeper starts
 *           the next one on the same socket and the link reconnects. When
 *           nobody holds the socket any more (the keeper and then the
 *           worker died), the link starts a new monitor and hands it the
 *           pipes (adopt); the orphaned containers are then berthd's
 *           children if berthd started that keeper (berthd is a
 *           subreaper): it reaps them through pidfds and writes their exit
 *           files itself. After a berthd restart it takes its copies back
 *           from the running worker.
 *   create  one small actor per container create: a request on its own
 *           connection; the answer is the same berth_conmon_created_msg_t
 *           as berth_conmon_create's, so the container actor does not care
 *           which monitor it runs under.
 *   attach  a channel to a running container's stdio, asked through the
 *           link; it has conmon's attach socket format (io/attach.h), so
 *           the streaming code does not care either.
 *
 * Exits are reported as with conmon: an exit file in the exit directory,
 * read by berth_conmon_watcher_new's watcher. Message types 160..175 are
 * this module's.
 */
#ifndef BERTH_IO_MONITOR_H
#define BERTH_IO_MONITOR_H

#include "engine/actor.h"
#include "engine/err.h"
#include "io/attach.h"
#include "io/conmon.h"

enum {
    BERTH_MSG_MONITOR_ATTACHED = 175, /* berth_monitor_attached_msg_t */
    /* 160..174: private to monitor.c */
};

/* Borrowed, read during berth_monitor_link_new. */
typedef struct berth_monitor_conf {
    const char *binary; /* the berth-monitor program */
    const char *dir;    /* its run directory: socket, pidfile, log */
} berth_monitor_conf_t;

/* Makes berthd a subreaper, connects to the monitor serving conf->dir or
 * starts one, and returns the link. Blocks briefly (connect, spawn): call
 * it at start-up, before or after the engine starts. Fails when the
 * monitor can be neither reached nor started. */
/* Registers CRI-O's containers_stopped_monitor_count family (by container:
 * the label `name` holds its ID, which is all io/ knows), counted when the
 * monitor is gone and a container it watched still runs (berthd adopts
 * it). Idempotent; the daemon calls it at start so a scrape lists it. */
void berth_monitor_metrics_init(void);

berth_handle_t berth_monitor_link_new(const berth_monitor_conf_t *conf, berth_err_t *err);

/* Creates the container of spec (the same fields as conmon's; conmon_path,
 * cuuid, name, socket_dir and log_level are not used) under the monitor of
 * link. One berth_conmon_created_msg_t tagged `tag` goes to owner. Returns
 * -1 with *err (and no reply) when the request could not be sent. Any
 * thread or actor turn. */
int berth_monitor_create(berth_handle_t link, berth_handle_t owner, const berth_conmon_spec_t *spec,
                         uint64_t tag, berth_err_t *err);

/* The container was deleted: the monitor and the link close its pipes. */
void berth_monitor_forget(berth_handle_t link, const char *cid);

/* The reply of berth_monitor_attach. berth_msg_free closes fd unless it was
 * taken (set to -1). */
typedef struct berth_monitor_attached_msg {
    berth_msg_t hdr;
    uint64_t tag;
    /* The channel (io/attach.h): a connected SOCK_SEQPACKET socket,
     * non-blocking and close-on-exec; -1 on error. */
    int fd;
    /* NULL on success; owned. NOT_FOUND: the monitor has no such
     * container; PRECONDITION: it is not running (it exited, or its
     * `<runtime> create` still runs); UNAVAILABLE: the monitor is between
     * workers (retry). */
    berth_err_t error;
} berth_monitor_attached_msg_t;

/* Asks the monitor of link for an attach channel to container cid (copied).
 * One berth_monitor_attached_msg_t tagged `tag` goes to reply_to. The
 * container may be attached once created, before it is started (nothing it
 * writes is missed then). Several channels may be open at once; each gets
 * all the output from the moment it is made; the monitor closes a channel
 * that falls about 1 MiB behind. With stdin_once, the end of the first
 * channel (the attacher's shutdown or close) closes the container's stdin:
 * the link closes its own copy of the stdin pipe when it hands the channel
 * over. Returns -1 with *err (no reply) when the link is gone. Any thread
 * or actor turn. */
int berth_monitor_attach(berth_handle_t link, const char *cid, berth_handle_t reply_to,
                         uint64_t tag, berth_err_t *err);

/* Resizes the terminal of container cid: TIOCSWINSZ on the link's copy of
 * its pty (berth_conmon_resize's counterpart; that fifo works under
 * berth-monitor too, but costs an open and a wake-up of the monitor). No
 * reply: a failure (no terminal, an unknown container) is logged. Any
 * thread or actor turn. */
void berth_monitor_resize(berth_handle_t link, const char *cid, unsigned height, unsigned width);

/* TIOCSWINSZ on a terminal's master (or any descriptor of it): height rows
 * and width columns. A non-blocking ioctl: any thread or actor turn. */
int berth_monitor_tty_resize(int pty, unsigned height, unsigned width, berth_err_t *err);

/* Stops the link (berthd's shutdown): closes its copies and its connection.
 * The monitor and the containers keep running. */
void berth_monitor_link_stop(berth_handle_t link);

#endif
