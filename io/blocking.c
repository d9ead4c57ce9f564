/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blocking pool (see blocking.h, and docs/io.md for why threads): a FIFO
 * of jobs under one mutex and condition variable, and a handful of threads
 * that run them and mail the replies. The mutex guards only the queue links
 * and the pool's life-cycle fields; no job runs under it.
 *
 * Also the atomic file write that state records and config files use.
 */
#include "io/blocking.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/hist.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/prof.h"

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
    berth_handle_t reply_to;
    berth_msg_t *reply;
    const char *kind; /* static: "file.c:fn" (see blocking.h) */
    uint64_t queued_ns;
} job_t;

/* The pool keeps `base` threads. When a job is queued and no idle thread
 * is left to take it (every thread is in a job: a storm of slow fsyncs, a
 * stuck mount), a spare thread starts, up to BERTH_BLOCKING_MAX_THREADS, so
 * a quick job never waits behind slow ones; a spare leaves after
 * spare_idle_ns without work. Threads are detached: shutdown waits until
 * the count of running ones is 0. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a job was queued, or stopping */
    pthread_cond_t gone; /* the last thread left */
    job_t *head, *tail;
    unsigned queued;   /* jobs in the queue */
    unsigned base;     /* threads kept while idle (0: not started) */
    unsigned nthreads; /* threads running */
    unsigned idle;     /* threads waiting for a job */
    unsigned peak;     /* most threads at once since start */
    uint64_t spare_idle_ns;
    bool stopping;
} pool = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .cond = PTHREAD_COND_INITIALIZER,
        .gone = PTHREAD_COND_INITIALIZER,
        .spare_idle_ns = BERTH_BLOCKING_SPARE_IDLE_NS,
};

/* The job's histograms: "pool wait KIND", "pool run KIND" and "pool wait
 * (all)", KIND without the file's directories. */
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;
static berth_metric_t *m_wait;

static void metrics_init(void)
{
    /* queue wait bounds, ns: 10 us .. 10 s */
    static const uint64_t bounds[] = {10000ull,     50000ull,     100000ull,     500000ull,
                                      1000000ull,   5000000ull,   10000000ull,   50000000ull,
                                      100000000ull, 500000000ull, 1000000000ull, 10000000000ull};
    m_wait =
            berth_metrics_series(berth_metrics_family(&(berth_metric_desc_t){
                                         .type = BERTH_METRIC_HISTOGRAM,
                                         .name = "berth_blocking_queue_wait_seconds",
                                         .help = "How long blocking-pool jobs waited for a thread.",
                                         .bounds = bounds,
                                         .nbounds = BERTH_ARRAY_LEN(bounds),
                                         .scale = 1e-9,
                                 }),
                                 NULL);
}

static void record_job(const job_t *j, uint64_t started, uint64_t ended)
{
    const char *kind = j->kind, *slash = strrchr(kind, '/');
    if (slash != NULL)
        kind = slash + 1;
    char name[128];
    uint64_t wait = started > j->queued_ns ? started - j->queued_ns : 0;
    snprintf(name, sizeof(name), "pool wait %s", kind);
    berth_hist_add(name, wait);
    snprintf(name, sizeof(name), "pool run %s", kind);
    berth_hist_add(name, ended - started);
    berth_hist_add("pool wait (all)", wait);
    pthread_once(&metrics_once, metrics_init);
    berth_metric_observe(m_wait, wait);
}

/* Waits for a job with pool.lock held; false when this thread should leave
 * (a spare idle for spare_idle_ns, or the pool stopping with no work). */
static bool wait_for_job(void)
{
    while (pool.head == NULL) {
        if (pool.stopping)
            return false;
        pool.idle++;
        int r = 0;
        if (pool.nthreads > pool.base) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + pool.spare_idle_ns;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            r = pthread_cond_timedwait(&pool.cond, &pool.lock, &ts);
        } else {
            pthread_cond_wait(&pool.cond, &pool.lock);
        }
        pool.idle--;
        if (r == ETIMEDOUT && pool.head == NULL && pool.nthreads > pool.base)
            return false;
    }
    return true;
}

/* Set on the pool's threads: berth_blocking_checkpoint acts there only. */
static __thread bool t_pool_thread;

void berth_blocking_checkpoint(void)
{
    if (t_pool_thread)
        (void)berth_prof_thread_begin();
}

static void *pool_main(void *unused)
{
    t_pool_thread = true;
    pthread_mutex_lock(&pool.lock);
    while (wait_for_job()) {
        job_t *j = pool.head;
        pool.head = j->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.queued--;
        pthread_mutex_unlock(&pool.lock);

        uint64_t t0 = berth_hist_now();
        /* Sampled only while a profile runs: SIGPROF stays blocked
         * otherwise, so no job ever meets a handler outside one. A job may
         * join a profile that started after it (berth_blocking_checkpoint). */
        (void)berth_prof_thread_begin();
        j->fn(j->arg);
        berth_prof_thread_end();
        uint64_t t1 = berth_hist_now();
        if (j->reply != NULL)
            berth_send(j->reply_to, j->reply);
        record_job(j, t0, t1);
        berth_free(j);

        pthread_mutex_lock(&pool.lock);
    }
    if (--pool.nthreads == 0)
        pthread_cond_broadcast(&pool.gone);
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Starts up to n more threads, with pool.lock held; returns how many
 * started (r: the last pthread_create error). */
static unsigned spawn_locked(unsigned n, int *r)
{
    /* Pool threads take no signals: they go to berth's signalfd, and a job
     * must never be interrupted by a handler. The threads inherit this mask;
     * the one exception is SIGPROF around a job while a CPU profile is
     * taken (pool_main, engine/prof.h). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    unsigned started = 0;
    *r = 0;
    for (; started < n; started++) {
        pthread_t t;
        *r = pthread_create(&t, &attr, pool_main, NULL);
        if (*r != 0)
            break;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pool.nthreads += started;
    if (pool.nthreads > pool.peak)
        pool.peak = pool.nthreads;
    return started;
}

/* Called with pool.lock held. */
static int start_locked(unsigned n, berth_err_t *err)
{
    if (pool.base > 0) {
        if (n == pool.base)
            return 0;
        return berth_err_make(err, EBUSY, BERTH_ERR_PRECONDITION,
                              "blocking pool already runs %u threads", pool.base);
    }
    if (n > BERTH_BLOCKING_MAX_THREADS)
        n = BERTH_BLOCKING_MAX_THREADS;
    int r;
    if (spawn_locked(n, &r) == 0)
        return berth_err_errno(err, r, "blocking pool: create thread");
    pool.base = n;
    return 0;
}

int berth_blocking_start(unsigned threads, berth_err_t *err)
{
    if (threads == 0)
        threads = BERTH_BLOCKING_DEFAULT_THREADS;
    pthread_mutex_lock(&pool.lock);
    int r = pool.stopping ? berth_err_make(err, ESHUTDOWN, BERTH_ERR_UNAVAILABLE,
                                           "blocking pool is shutting down")
                          : start_locked(threads, err);
    pthread_mutex_unlock(&pool.lock);
    return r;
}

void berth_blocking_run_kind(const char *kind, void (*fn)(void *arg), void *arg,
                             berth_handle_t reply_to, berth_msg_t *reply_msg)
{
    job_t *j = berth_malloc(sizeof *j);
    *j = (job_t){.fn = fn,
                 .arg = arg,
                 .reply_to = reply_to,
                 .reply = reply_msg,
                 .kind = kind,
                 .queued_ns = berth_hist_now()};
    pthread_mutex_lock(&pool.lock);
    if (pool.stopping) {
        pthread_mutex_unlock(&pool.lock);
        berth_log_warn("blocking job dropped: pool is shutting down", NULL);
        berth_msg_free(reply_msg);
        berth_free(j);
        return;
    }
    if (pool.base == 0) {
        BERTH_AUTO_ERR berth_err_t e = NULL;
        if (start_locked(BERTH_BLOCKING_DEFAULT_THREADS, &e) < 0) {
            /* No thread at all is like running out of memory: berth's rule is
             * to stop and let a restart recover from the on-disk state. */
            berth_log(BERTH_LOG_FATAL, "cannot start the blocking pool", "error=\"%s\"", e->msg);
            abort();
        }
    }
    if (pool.tail != NULL)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    unsigned ahead = pool.queued++;
    /* More jobs waiting than idle threads to take them: every thread is in
     * a job, so this one would wait behind them; a spare takes it. (A
     * failed pthread_create only means it waits as it did without.) */
    int r;
    unsigned spared = 0;
    if (pool.queued > pool.idle && pool.nthreads < BERTH_BLOCKING_MAX_THREADS &&
        spawn_locked(1, &r) == 1)
        spared = pool.nthreads;
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    /* How many were waiting before this one, and the threads once a spare
     * started (counts, not ns). */
    berth_hist_add("pool jobs queued ahead (count)", ahead);
    if (spared)
        berth_hist_add("pool threads after a spare started (count)", spared);
}

void berth_blocking_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cond);
    /* The threads drain the queue before they see stopping with no work;
     * the last one out wakes us. */
    while (pool.nthreads > 0)
        pthread_cond_wait(&pool.gone, &pool.lock);
    pool.base = 0;
    pool.peak = 0;
    pool.stopping = false;
    pthread_mutex_unlock(&pool.lock);
}

unsigned berth_blocking_threads(void)
{
    pthread_mutex_lock(&pool.lock);
    unsigned n = pool.nthreads;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

unsigned berth_blocking_peak_threads(void)
{
    pthread_mutex_lock(&pool.lock);
    unsigned n = pool.peak;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

void berth_blocking_set_spare_idle(uint64_t ns)
{
    pthread_mutex_lock(&pool.lock);
    pool.spare_idle_ns = ns;
    pthread_mutex_unlock(&pool.lock);
}

/* ---- atomic file writes ---------------------------------------------- */

static void unlink_free(char **p)
{
    if (*p != NULL) {
        unlink(*p);
        berth_free(*p);
    }
}

/* Writes all of data to fd and makes it durable. */
static int write_durable(int fd, const char *what, const void *data, size_t len, berth_err_t *err)
{
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return berth_err_errno(err, errno, "write %s", what);
        }
        p += n;
        left -= (size_t)n;
    }
    uint64_t t0 = berth_hist_now();
    int r = fsync(fd), e = errno;
    berth_hist_since("fsync file", t0);
    if (r < 0)
        return berth_err_errno(err, e, "write %s: fsync", what);
    return 0;
}

/* rename(from, to), then the directory's fsync: the rename is durable only
 * once the directory entry is. Both paths are in the same directory. */
static int rename_durable(const char *from, const char *to, berth_err_t *err)
{
    if (rename(from, to) < 0)
        return berth_err_errno(err, errno, "write %s: rename %s", to, from);
    const char *slash = strrchr(to, '/');
    BERTH_AUTO_FREE char *dir = slash == NULL
                                        ? berth_strdup(".")
                                        : berth_strndup(to, slash == to ? 1 : (size_t)(slash - to));
    BERTH_AUTO_CLOSE int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return berth_err_errno(err, errno, "write %s: open directory %s", to, dir);
    uint64_t t0 = berth_hist_now();
    int r = fsync(dfd), e = errno;
    berth_hist_since("fsync directory", t0);
    if (r < 0)
        return berth_err_errno(err, e, "write %s: fsync directory %s", to, dir);
    return 0;
}

int berth_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                            berth_err_t *err)
{
    /* Unlinked on every failure; cleared once renamed into place. */
    __attribute__((cleanup(unlink_free))) char *tmp = berth_asprintf("%s.tmp.XXXXXX", path);

    BERTH_AUTO_CLOSE int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        berth_free(berth_steal_ptr(&tmp)); /* nothing was created */
        return berth_err_errno(err, e, "write %s: create temp file", path);
    }
    if (fchmod(fd, mode) < 0)
        return berth_err_errno(err, errno, "write %s: chmod temp file", path);
    /* Data before rename: otherwise a crash may leave the new name pointing
     * at an empty file. */
    if (write_durable(fd, tmp, data, len, err) < 0)
        return -1;
    int r = rename_durable(tmp, path, err);
    if (r == 0 || access(tmp, F_OK) < 0)
        berth_free(berth_steal_ptr(&tmp)); /* renamed: only the dir fsync failed */
    return r;
}

int berth_file_stage(const char *staged, const void *data, size_t len, mode_t mode,
                     berth_err_t *err)
{
    BERTH_AUTO_CLOSE int fd = open(staged, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return berth_err_errno(err, errno, "write %s: create", staged);
    int r = fchmod(fd, mode) < 0 ? berth_err_errno(err, errno, "write %s: chmod", staged)
                                 : write_durable(fd, staged, data, len, err);
    if (r < 0)
        unlink(staged);
    return r;
}

int berth_file_commit_staged(const char *staged, const char *path, berth_err_t *err)
{
    return rename_durable(staged, path, err);
}

typedef struct write_job {
    char *path;
    void *data;
    size_t len;
    mode_t mode;
    berth_file_written_msg_t *reply;
} write_job_t;

static void write_job(void *arg)
{
    write_job_t *w = arg;
    berth_file_write_atomic(w->path, w->data, w->len, w->mode, &w->reply->error);
    berth_free(w->path);
    berth_free(w->data);
    berth_free(w);
}

static void written_msg_free(berth_msg_t *m)
{
    berth_file_written_msg_t *w = (berth_file_written_msg_t *)m;
    berth_err_free(&w->error);
    berth_free(w);
}

void berth_file_write_atomic_async(const char *path, const void *data, size_t len, mode_t mode,
                                   berth_handle_t reply_to, uint64_t tag)
{
    write_job_t *w = berth_malloc(sizeof *w);
    w->path = berth_strdup(path);
    w->data = len ? berth_memdup(data, len) : NULL;
    w->len = len;
    w->mode = mode;
    w->reply = berth_msg_new(BERTH_MSG_FILE_WRITTEN, sizeof *w->reply);
    w->reply->hdr.free = written_msg_free;
    w->reply->tag = tag;
    berth_blocking_run(write_job, w, reply_to, &w->reply->hdr);
}
