/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io/blocking: the pool runs every job once and mails each reply to its
 * actor (threaded engine), shutdown drains the queue and joins, and atomic
 * file writes never show a reader a mix of old and new content.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/prof.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "io/fs.h"
#include "tests/unit/check.h"

#define NJOBS 1000

enum { MSG_GO = 300, MSG_JOB_DONE };

typedef struct job_reply {
    berth_msg_t hdr;
    int idx;
    pthread_t thread;
} job_reply_t;

/* Relaxed: only counted, read after the pool joined (join orders it). */
static atomic_int jobs_run;
static pthread_t main_thread;

static void job_fn(void *arg)
{
    job_reply_t *r = arg;
    r->thread = pthread_self();
    atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
}

static struct {
    int replies, dups, on_main;
    unsigned char seen[NJOBS];
    int written_ok;
    int written_err;
    int written_tag_sum;
} st;
static char *dir;

typedef struct collector {
    int expected;
} collector_t;

static void collector_receive(berth_actor_t *self, berth_msg_t *msg)
{
    collector_t *c = berth_actor_state(self);
    if (msg->type == MSG_GO) {
        for (int i = 0; i < NJOBS; i++) {
            job_reply_t *r = berth_msg_new(MSG_JOB_DONE, sizeof *r);
            r->idx = i;
            berth_blocking_run(job_fn, r, berth_actor_self(self), &r->hdr);
        }
        BERTH_AUTO_FREE char *ok = berth_asprintf("%s/async.json", dir);
        berth_file_write_atomic_async(ok, "{}", 2, 0600, berth_actor_self(self), 7);
        BERTH_AUTO_FREE char *bad = berth_asprintf("%s/no/such/dir/x", dir);
        berth_file_write_atomic_async(bad, "{}", 2, 0600, berth_actor_self(self), 8);
        c->expected = NJOBS + 2;
    } else if (msg->type == MSG_JOB_DONE) {
        job_reply_t *r = (job_reply_t *)msg;
        st.replies++;
        if (r->idx < 0 || r->idx >= NJOBS || st.seen[r->idx]++)
            st.dups++;
        if (pthread_equal(r->thread, main_thread))
            st.on_main++;
        c->expected--;
    } else if (msg->type == BERTH_MSG_FILE_WRITTEN) {
        berth_file_written_msg_t *w = (berth_file_written_msg_t *)msg;
        if (w->error == NULL)
            st.written_ok++;
        else if (w->error->errnum == ENOENT)
            st.written_err++;
        st.written_tag_sum += (int)w->tag;
        c->expected--;
    }
    berth_msg_free(msg);
    if (c->expected == 0) {
        berth_actor_exit(self);
        berth_engine_stop();
    }
}

static const berth_actor_class_t collector_class = {
        .name = "blocking-test", .receive = collector_receive, .fini = berth_free};

/* ---- atomic write race ------------------------------------------------ */

#define A_LEN 200000
#define B_LEN 70000
static atomic_bool stop_reader;
static atomic_int torn, reads_done;

static void *reader_main(void *path)
{
    char *buf = berth_malloc(A_LEN + 1);
    while (!atomic_load_explicit(&stop_reader, memory_order_relaxed)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            atomic_fetch_add(&torn, 1); /* the name must never be missing */
            continue;
        }
        size_t len = 0;
        ssize_t n;
        while ((n = read(fd, buf + len, A_LEN + 1 - len)) > 0)
            len += (size_t)n;
        close(fd);
        bool good = (len == A_LEN && buf[0] == 'a' && buf[A_LEN - 1] == 'a' &&
                     memchr(buf, 'b', len) == NULL) ||
                    (len == B_LEN && buf[0] == 'b' && buf[B_LEN - 1] == 'b' &&
                     memchr(buf, 'a', len) == NULL);
        if (!good)
            atomic_fetch_add(&torn, 1);
        atomic_fetch_add(&reads_done, 1);
    }
    berth_free(buf);
    return NULL;
}

static int count_dir(const char *d)
{
    DIR *dd = opendir(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dd);
    return n;
}

static void slow_job(void *arg)
{
    usleep(20000);
    atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
}

/* ---- spare threads ---------------------------------------------------- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int stuck_in, quick_done;

/* A job stuck until the gate opens (a mount that hangs, a slow fsync). */
static void stuck_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stuck_in, 1);
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void quick_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&quick_done, 1);
}

static bool wait_until(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(v) < want; i++)
        usleep(1000);
    return atomic_load(v) >= want;
}

static void test_spares(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_blocking_start(2, &err);
    berth_blocking_set_spare_idle(50 * 1000 * 1000);
    for (int i = 0; i < 3; i++)
        berth_blocking_run(stuck_job, NULL, BERTH_HANDLE_NONE, NULL);
    check(wait_until(&stuck_in, 3, 5000),
          "three stuck jobs on a pool of two all run: a spare started for the third");
    for (int i = 0; i < 5; i++)
        berth_blocking_run(quick_job, NULL, BERTH_HANDLE_NONE, NULL);
    bool quick = wait_until(&quick_done, 5, 5000);
    check(quick && atomic_load(&stuck_in) == 3,
          "quick jobs queued behind stuck ones run at once (%d done)", atomic_load(&quick_done));
    unsigned peak = berth_blocking_peak_threads();
    check(peak >= 4 && peak <= BERTH_BLOCKING_MAX_THREADS, "the pool grew to %u threads", peak);
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    unsigned n = berth_blocking_threads();
    for (int i = 0; i < 5000 && n > 2; i++) {
        usleep(1000);
        n = berth_blocking_threads();
    }
    check(n == 2, "idle spares leave; the two started threads stay (%u)", n);
    berth_blocking_shutdown();
    berth_blocking_set_spare_idle(BERTH_BLOCKING_SPARE_IDLE_NS);
    check(berth_blocking_threads() == 0, "shutdown waits for every thread");
}

/* Profiled jobs: while a CPU profile runs, a pool thread takes SIGPROF
 * around each job (and only then), so a job's own frames show; a job
 * blocked in a read meanwhile still reads everything (SA_RESTART). */
static atomic_int prof_done, prof_unblocked, prof_blocked_after;
static int prof_pipe[2];
static ssize_t prof_read;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t pool_busy(void)
{
    volatile uint64_t x = 0;
    for (uint64_t end = thread_cpu_ns() + 300 * 1000000ull; thread_cpu_ns() < end;)
        for (int i = 0; i < 1000000; i++)
            x = x * 31 + (uint64_t)i;
    return x;
}

static bool sigprof_blocked(void)
{
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    return sigismember(&cur, SIGPROF) == 1;
}

static void spin_job(void *arg)
{
    (void)arg;
    if (!sigprof_blocked())
        atomic_fetch_add(&prof_unblocked, 1);
    pool_busy();
    atomic_fetch_add(&prof_done, 1);
}

static void read_job(void *arg)
{
    (void)arg;
    char buf[64];
    size_t got = 0;
    /* Spins a little first so its timer runs, then blocks in read. */
    for (uint64_t end = thread_cpu_ns() + 50 * 1000000ull; thread_cpu_ns() < end;)
        ;
    while (got < sizeof(buf)) {
        ssize_t n = read(prof_pipe[0], buf + got, sizeof(buf) - got);
        if (n <= 0) {
            prof_read = n < 0 ? -errno : (ssize_t)got;
            atomic_fetch_add(&prof_done, 1);
            return;
        }
        got += (size_t)n;
    }
    prof_read = (ssize_t)got;
    atomic_fetch_add(&prof_done, 1);
}

static void mask_job(void *arg)
{
    (void)arg;
    if (sigprof_blocked())
        atomic_fetch_add(&prof_blocked_after, 1);
    atomic_fetch_add(&prof_done, 1);
}

struct prof_tally {
    uint64_t stacks, in_busy;
};

static void prof_count(void *ctx, const uintptr_t *pcs, size_t n, uint32_t weight)
{
    (void)weight;
    struct prof_tally *t = ctx;
    t->stacks++;
    /* Any frame: the leaf may be in clock_gettime, called from pool_busy. */
    for (size_t i = 0; i < n; i++) {
        /* the function is a few dozen instructions (154 bytes with gcc
         * -O2, 557 under ASan's instrumentation); the compiler may place any
         * other function before or after it, so a window, not a pair, wide
         * enough for the instrumented build: nothing else near it runs
         * while the profile does */
        if (pcs[i] >= (uintptr_t)pool_busy && pcs[i] < (uintptr_t)pool_busy + 2048) {
            t->in_busy++;
            break;
        }
    }
}

static void test_profiled(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_blocking_start(2, &err);
    check(pipe(prof_pipe) == 0, "pipe");
    berth_blocking_run(mask_job, NULL, BERTH_HANDLE_NONE, NULL);
    wait_until(&prof_done, 1, 5000);
    int before = atomic_load(&prof_blocked_after);
    check(before == 1, "outside a profile a job runs with SIGPROF blocked");

    check(berth_prof_start(1000, &err) == 0, "profile starts (%s)", err ? err->msg : "ok");
    struct prof_tally t = {0};
    berth_blocking_run(read_job, NULL, BERTH_HANDLE_NONE, NULL);
    berth_blocking_run(spin_job, NULL, BERTH_HANDLE_NONE, NULL);
    usleep(200 * 1000);
    char data[64];
    memset(data, 'p', sizeof(data));
    check(write(prof_pipe[1], data, sizeof(data)) == (ssize_t)sizeof(data), "pipe write");
    for (int i = 0; i < 100 && atomic_load(&prof_done) < 3; i++) {
        usleep(50 * 1000);
        berth_prof_drain(prof_count, &t);
    }
    berth_prof_stats_t st;
    berth_prof_stop(prof_count, &t, &st);
    check(atomic_load(&prof_done) == 3 && atomic_load(&prof_unblocked) == 1,
          "during a profile a job runs with SIGPROF deliverable");
    check(st.joined >= 1, "pool threads joined the session (%u joined, %u skipped at start)",
          st.joined, st.skipped);
    check(t.in_busy >= 5, "a job's own frames are sampled (%llu of %llu stacks in pool_busy)",
          (unsigned long long)t.in_busy, (unsigned long long)t.stacks);
    check(prof_read == 64, "a job blocked in read while sampled reads all (%zd)", prof_read);

    berth_blocking_run(mask_job, NULL, BERTH_HANDLE_NONE, NULL);
    berth_blocking_run(mask_job, NULL, BERTH_HANDLE_NONE, NULL);
    wait_until(&prof_done, 5, 5000);
    check(atomic_load(&prof_blocked_after) == 3, "after the profile SIGPROF is blocked again");
    berth_blocking_shutdown();
    close(prof_pipe[0]);
    close(prof_pipe[1]);
}

/* A job that began before the profile joins it at a checkpoint. */
static atomic_int late_started, late_go, late_unblocked;

static void late_job(void *arg)
{
    (void)arg;
    atomic_store(&late_started, 1);
    while (!atomic_load(&late_go))
        usleep(1000);
    bool before = !sigprof_blocked();
    berth_blocking_checkpoint();
    berth_blocking_checkpoint(); /* twice: the second is a no-op */
    if (!before && !sigprof_blocked())
        atomic_store(&late_unblocked, 1);
    pool_busy();
    atomic_fetch_add(&prof_done, 1);
}

static void test_checkpoint(void)
{
    BERTH_AUTO_ERR berth_err_t err = NULL;
    berth_blocking_start(2, &err);
    atomic_store(&prof_done, 0);
    atomic_store(&prof_blocked_after, 0);
    berth_blocking_run(late_job, NULL, BERTH_HANDLE_NONE, NULL);
    for (int i = 0; i < 5000 && !atomic_load(&late_started); i++)
        usleep(1000);
    check(berth_prof_start(1000, &err) == 0, "profile starts while a job runs");
    /* off the pool a checkpoint does nothing (the main thread has its own
     * timer from start, or none if it blocks SIGPROF) */
    berth_blocking_checkpoint();
    atomic_store(&late_go, 1);
    struct prof_tally t = {0};
    for (int i = 0; i < 100 && atomic_load(&prof_done) < 1; i++) {
        usleep(50 * 1000);
        berth_prof_drain(prof_count, &t);
    }
    berth_prof_stats_t st;
    berth_prof_stop(prof_count, &t, &st);
    check(atomic_load(&late_unblocked) == 1,
          "a job that began before the profile takes SIGPROF after its checkpoint");
    check(st.joined == 1, "only the pool thread joined (%u)", st.joined);
    check(t.in_busy >= 5, "its frames after the checkpoint are sampled (%llu of %llu)",
          (unsigned long long)t.in_busy, (unsigned long long)t.stacks);
    berth_blocking_run(mask_job, NULL, BERTH_HANDLE_NONE, NULL);
    berth_blocking_run(mask_job, NULL, BERTH_HANDLE_NONE, NULL);
    wait_until(&prof_done, 3, 5000);
    check(atomic_load(&prof_blocked_after) == 2, "and blocks it again after the job");
    berth_blocking_shutdown();
}

int main(void)
{
    alarm(120);
    printf("1..38\n");
    main_thread = pthread_self();
    char tmpl[] = "/tmp/berth-blocking-XXXXXX";
    dir = mkdtemp(tmpl);
    if (dir == NULL)
        return 1;

    BERTH_AUTO_ERR berth_err_t err = NULL;
    check(berth_blocking_start(3, &err) == 0 && berth_blocking_threads() == 3,
          "pool starts with 3 threads");
    BERTH_AUTO_ERR berth_err_t err2 = NULL;
    check(berth_blocking_start(5, &err2) < 0 && err2 != NULL && err2->errnum == EBUSY,
          "restarting a running pool with another size is refused");

    berth_engine_config_t cfg = {.workers = 2};
    if (berth_engine_start(&cfg, &err) < 0) {
        printf("# engine: %s\n", err->msg);
        return 77;
    }
    collector_t *c = berth_calloc(1, sizeof *c);
    berth_handle_t h = berth_actor_spawn(&collector_class, c);
    berth_send(h, berth_msg_new(MSG_GO, sizeof(berth_msg_t)));
    berth_engine_join();

    check(st.replies == NJOBS && st.dups == 0,
          "%d jobs each replied exactly once (%d replies, %d dups)", NJOBS, st.replies, st.dups);
    check(atomic_load(&jobs_run) == NJOBS && st.on_main == 0, "jobs ran on pool threads (%d run)",
          atomic_load(&jobs_run));
    check(st.written_ok == 1 && st.written_err == 1 && st.written_tag_sum == 15,
          "async atomic write replies success and ENOENT with their tags");

    /* Shutdown runs what is queued, then joins. */
    atomic_int slow = 0;
    for (int i = 0; i < 12; i++)
        berth_blocking_run(slow_job, &slow, BERTH_HANDLE_NONE, NULL);
    berth_blocking_shutdown();
    check(atomic_load(&slow) == 12 && berth_blocking_threads() == 0,
          "shutdown drains the queue and joins the threads");
    berth_blocking_run(slow_job, &slow, BERTH_HANDLE_NONE, NULL);
    berth_blocking_shutdown();
    check(atomic_load(&slow) == 13, "the pool starts lazily again after a shutdown");
    test_spares();
    test_profiled();
    test_checkpoint();

    /* Atomic writes under a concurrent reader. */
    BERTH_AUTO_FREE char *path = berth_asprintf("%s/state.json", dir);
    char *a = berth_malloc(A_LEN), *b = berth_malloc(B_LEN);
    memset(a, 'a', A_LEN);
    memset(b, 'b', B_LEN);
    check(berth_file_write_atomic(path, a, A_LEN, 0640, &err) == 0, "first atomic write");
    struct stat sb;
    check(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0640 && sb.st_size == A_LEN,
          "file has the requested mode and size");
    pthread_t rd;
    pthread_create(&rd, NULL, reader_main, path);
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        BERTH_AUTO_ERR berth_err_t e = NULL;
        if (berth_file_write_atomic(path, i % 2 ? a : b, i % 2 ? A_LEN : B_LEN, 0640, &e) < 0)
            failures++;
    }
    /* Let the reader see the last version a few times. */
    int seen = atomic_load(&reads_done);
    while (atomic_load(&reads_done) < seen + 5)
        usleep(1000);
    atomic_store(&stop_reader, true);
    pthread_join(rd, NULL);
    check(failures == 0, "200 atomic rewrites succeed");
    check(atomic_load(&torn) == 0 && atomic_load(&reads_done) > 0,
          "a concurrent reader only ever saw the old or the new content (%d reads, %d torn)",
          atomic_load(&reads_done), atomic_load(&torn));
    /* async.json and state.json: no temp file is left behind. */
    check(count_dir(dir) == 2, "no temp files left in the directory");

    BERTH_AUTO_FREE char *bad = berth_asprintf("%s/missing/x", dir);
    BERTH_AUTO_ERR berth_err_t e = NULL;
    check(berth_file_write_atomic(bad, "x", 1, 0600, &e) < 0 && e != NULL && e->errnum == ENOENT &&
                  strstr(e->msg, "missing") != NULL,
          "a missing directory is a clear ENOENT error naming the path");
    BERTH_AUTO_FREE char *rel = berth_asprintf("%s/empty", dir);
    check(berth_file_write_atomic(rel, "", 0, 0600, &err) == 0 && stat(rel, &sb) == 0 &&
                  sb.st_size == 0,
          "an empty atomic write creates an empty file");
    check(count_dir(dir) == 3, "still no temp files after the failure");

    /* A staged write: durable beside the final file, invisible under its
     * name until the commit renames it over the old content. */
    BERTH_AUTO_FREE char *staged = berth_asprintf("%s.staged", path);
    BERTH_AUTO_FREE char *got = NULL;
    check(berth_file_stage(staged, "old", 3, 0600, &err) == 0 &&
                  berth_file_stage(staged, "{\"new\":1}", 9, 0640, &err) == 0 &&
                  berth_fs_read_small(path, 1 << 20, &got, NULL) == 0 && got[0] == 'a',
          "staging (twice: the second replaces the first) leaves the final file as it was");
    berth_free(got);
    got = NULL;
    check(berth_file_commit_staged(staged, path, &err) == 0 &&
                  berth_fs_read_small(path, 64, &got, NULL) == 0 &&
                  strcmp(got, "{\"new\":1}") == 0 && stat(path, &sb) == 0 &&
                  (sb.st_mode & 07777) == 0640 && access(staged, F_OK) < 0,
          "the commit puts the staged content and mode under the final name");
    BERTH_AUTO_ERR berth_err_t ce = NULL;
    check(berth_file_commit_staged(staged, path, &ce) < 0 && ce != NULL && ce->errnum == ENOENT &&
                  strstr(ce->msg, ".staged") != NULL,
          "committing with nothing staged is an ENOENT error naming the staged file");
    BERTH_AUTO_FREE char *nodir = berth_asprintf("%s/missing/x.staged", dir);
    BERTH_AUTO_ERR berth_err_t se = NULL;
    check(berth_file_stage(nodir, "x", 1, 0600, &se) < 0 && se != NULL && se->errnum == ENOENT &&
                  count_dir(dir) == 3,
          "staging into a missing directory fails naming it and leaves nothing");

    berth_free(a);
    berth_free(b);
    unlink(path);
    unlink(rel);
    BERTH_AUTO_FREE char *async = berth_asprintf("%s/async.json", dir);
    unlink(async);
    rmdir(dir);
    berth_engine_shutdown();
    return nfail ? 1 : 0;
}
