/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking pool: a few threads owned by io/ for kernel work io_uring
 * cannot do asynchronously (mount(2), clone3 of namespace holders, large
 * fsyncs, atomic file writes). A job runs on a pool thread and answers by
 * message, so a stuck mount stalls one pool thread and never an engine worker.
 * Why this is a thread pool and not actors: docs/io.md.
 *
 * Jobs may block; they must not touch actor state (they run outside any actor
 * turn) and must not call ring functions. berth_send() is fine.
 */
#ifndef BERTH_IO_BLOCKING_H
#define BERTH_IO_BLOCKING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/actor.h"
#include "engine/err.h"

enum {
    BERTH_MSG_FILE_WRITTEN = 48, /* berth_file_written_msg_t */
};

#define BERTH_BLOCKING_DEFAULT_THREADS 4
/* Spares beyond the started count run while every thread is in a job
 * (berth_blocking_run), up to this many threads in all; each leaves after
 * BERTH_BLOCKING_SPARE_IDLE_NS without work. */
#define BERTH_BLOCKING_MAX_THREADS 32
#define BERTH_BLOCKING_SPARE_IDLE_NS (10ull * 1000 * 1000 * 1000)

/* Starts the pool with `threads` threads (0: BERTH_BLOCKING_DEFAULT_THREADS).
 * Optional: the first berth_blocking_run starts the default pool. Returns
 * -1 with *err when no thread could be created, or when the pool already runs
 * with a different size. Any thread. */
int berth_blocking_start(unsigned threads, berth_err_t *err);

/* Queues fn(arg) for a pool thread; when fn returns, `reply_msg` (taken; may
 * be NULL for no reply) is sent to `reply_to` (a stale handle just frees it).
 * fn typically fills reply_msg through arg. Never fails and never blocks the
 * caller; jobs start in FIFO order, and a job never waits behind running
 * ones while there are fewer than BERTH_BLOCKING_MAX_THREADS threads (a
 * spare thread starts for it, pthread_create in the caller). Callable from any thread or actor
 * turn, but not after berth_blocking_shutdown() began (the job would be dropped with its reply
 * freed, and a warning logged). */
void berth_blocking_run_kind(const char *kind, void (*fn)(void *arg), void *arg,
                             berth_handle_t reply_to, berth_msg_t *reply_msg);
/* The same, the job's kind for the histograms (docs/perf.md) being the
 * caller's file and the job function's name: "pod.c:prepare_job". Each
 * job's wait in the queue and its run time are recorded under "pool wait
 * KIND" and "pool run KIND", and every job's wait under "pool wait (all)". */
#define berth_blocking_run(fn, arg, reply_to, reply_msg)                                           \
    berth_blocking_run_kind(__FILE__ ":" #fn, (fn), (arg), (reply_to), (reply_msg))

/* Runs every job already queued, then waits until every thread has ended.
 * The pool may be started again afterwards. Main thread only (not from a
 * pool thread). */
void berth_blocking_shutdown(void);

/* For a long job, at natural points (a layer of a pull, every few hundred
 * entries of an unpack): joins a CPU profile that started after the job did,
 * so the rest of the job is sampled (engine/prof.h). One atomic load when no
 * profile runs; nothing off the pool's threads. */
void berth_blocking_checkpoint(void);

/* Number of pool threads running (0 when stopped), and the most that ran
 * at once since the pool started. */
unsigned berth_blocking_threads(void);
unsigned berth_blocking_peak_threads(void);
/* How long a spare thread waits for work before it leaves (tests). */
void berth_blocking_set_spare_idle(uint64_t ns);

/* Replaces `path` atomically with `len` bytes of `data`: a temp file in the
 * same directory, write, fsync, rename over path, fsync of the directory. A
 * reader sees the old or the new content, never a mix; after a crash the
 * file holds one of them. `mode` is the new file's mode. Blocks: call it on
 * the pool (berth_file_write_atomic_async) or from main before the engine
 * starts, never in an actor turn. Returns 0 or -1 with *err. */
int berth_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            berth_err_t *err);

/* berth_file_write_atomic in two halves, so that the slow half can run
 * before the content is due: berth_file_stage writes `staged` (a sibling of
 * the final path, replaced if it exists) and fsyncs it, and
 * berth_file_commit_staged later renames it over `path` and fsyncs the
 * directory. The staged file is an ordinary file until then: whoever stages
 * removes it if the commit never comes (and a restart's sweep removes one a
 * crash left). Both block (pool or main, as above); 0 or -1 with *err. */
int berth_file_stage(const char *staged, const void *data, size_t len, mode_t mode,
                     berth_err_t *err);
int berth_file_commit_staged(const char *staged, const char *path, berth_err_t *err);

typedef struct berth_file_written_msg {
    berth_msg_t hdr;
    uint64_t tag;
    berth_err_t error; /* NULL on success; owned (freed with the message) */
} berth_file_written_msg_t;

/* berth_file_write_atomic on the pool. path and data are copied. Replies
 * with a berth_file_written_msg_t carrying `tag`. Any thread. */
void berth_file_write_atomic_async(const char *path, const void *data, size_t len, mode_t mode,
                                   berth_handle_t reply_to, uint64_t tag);

#endif
