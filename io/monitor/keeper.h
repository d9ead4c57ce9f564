/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-monitor's keeper (keeper.c): the process above the worker. It runs
 * the worker (`self --worker --listen-fd 3 --keeper-fd 4 --pidfile
 * worker_pidfile`), keeps a copy of each container's pipes, reaps the
 * containers a dead worker leaves, and starts the next worker with the same
 * listening socket (lfd). Writes its own pid next to worker_pidfile as
 * keeper.pid. Returns only on a fatal error.
 */
#ifndef BERTH_IO_MONITOR_KEEPER_H
#define BERTH_IO_MONITOR_KEEPER_H

int berth_mon_keeper_run(const char *self, int lfd, const char *worker_pidfile);

#endif
