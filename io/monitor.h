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
 *
 * Exits are reported as with conmon: an exit file in the exit directory,
 * read by berth_conmon_watcher_new's watcher. Message types 160..175 are
 * this module's.
 */
#ifndef BERTH_IO_MONITOR_H
#define BERTH_IO_MONITOR_H

#include "engine/actor.h"
#include "engine/err.h"
#include "io/conmon.h"

/* Borrowed, read during berth_monitor_link_new. */
typedef struct berth_monitor_conf {
    const char *binary; /* the berth-monitor program */
    const char *dir;    /* its run directory: socket, pidfile, log */
} berth_monitor_conf_t;

/* Makes berthd a subreaper, connects to the monitor serving conf->dir or
 * starts one, and returns the link. Blocks briefly (connect, spawn): call
 * it at start-up, before or after the engine starts. Fails when the
 * monitor can be neither reached nor started. */
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

/* Stops the link (berthd's shutdown): closes its copies and its connection.
 * The monitor and the containers keep running. */
void berth_monitor_link_stop(berth_handle_t link);

#endif
