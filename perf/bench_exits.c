/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The taskstats exit listener of berth-bench (bench_exits.h): a generic
 * netlink socket registered for every CPU's exits, read by one thread into
 * a list; the sum over a process tree is a pure function of that list.
 */
#include "perf/bench_exits.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/alloc.h"

static int cmp_exit_pid(const void *a, const void *b)
{
    const berth_bench_exit_t *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool is_root(pid_t p, const pid_t *roots, size_t nroots)
{
    for (size_t i = 0; i < nroots; i++)
        if (roots[i] == p)
            return true;
    return false;
}

/* Whether s[i] descends from a root: its parent is one, or its parent
 * exited in the list and counts. memo: 0 unknown, 1 yes, 2 no; depth bounds
 * a parent loop that pid reuse could make. */
static bool counts(const berth_bench_exit_t *s, size_t n, size_t i, const pid_t *roots,
                   size_t nroots, unsigned char *memo, int depth)
{
    if (memo[i])
        return memo[i] == 1;
    bool yes = false;
    if (is_root(s[i].ppid, roots, nroots)) {
        yes = true;
    } else if (depth < 32) {
        berth_bench_exit_t key = {.pid = s[i].ppid};
        const berth_bench_exit_t *p = bsearch(&key, s, n, sizeof(*s), cmp_exit_pid);
        yes = p != NULL && counts(s, n, (size_t)(p - s), roots, nroots, memo, depth + 1);
    }
    memo[i] = yes ? 1 : 2;
    return yes;
}

double berth_bench_exits_sum(const berth_bench_exit_t *ex, size_t n, const pid_t *roots,
                             size_t nroots)
{
    if (n == 0)
        return 0;
    BERTH_AUTO_FREE berth_bench_exit_t *s = berth_memdup(ex, n * sizeof(*ex));
    qsort(s, n, sizeof(*s), cmp_exit_pid);
    BERTH_AUTO_FREE unsigned char *memo = berth_calloc(n, 1);
    uint64_t us = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_root(s[i].pid, roots, nroots) && !is_root(s[i].tgid, roots, nroots) &&
            counts(s, n, i, roots, nroots, memo, 0))
            us += s[i].cpu_us;
    return (double)us / 1e6;
}

/* ---- the listener ------------------------------------------------------- */

struct berth_bench_exits {
    int fd;
    uint16_t family;
    char cpumask[32]; /* the CPUs registered for, "0-N" */
    pthread_t thread;
    bool stop; /* atomic: set by _stop, read by the thread */
    pthread_mutex_t mu;
    berth_bench_exit_t *ex; /* under mu */
    size_t n, cap;
    unsigned lost; /* under mu */
};

#define NLA_DATA(a) ((char *)(a) + NLA_HDRLEN)

/* One generic netlink request: cmd with one attribute. */
static int genl_send(int fd, uint16_t family, uint8_t cmd, uint16_t attr, const void *data,
                     size_t len)
{
    char buf[256];
    if (NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + NLA_ALIGN(len) > sizeof(buf))
        return -1;
    memset(buf, 0, sizeof(buf));
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    struct genlmsghdr *gh = (struct genlmsghdr *)NLMSG_DATA(nh);
    struct nlattr *na = (struct nlattr *)((char *)gh + GENL_HDRLEN);
    gh->cmd = cmd;
    gh->version = 1;
    na->nla_type = attr;
    na->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy(NLA_DATA(na), data, len);
    nh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(na->nla_len));
    nh->nlmsg_type = family;
    nh->nlmsg_flags = NLM_F_REQUEST;
    nh->nlmsg_pid = 0;
    return send(fd, buf, nh->nlmsg_len, 0) == (ssize_t)nh->nlmsg_len ? 0 : -1;
}

/* The attribute of type t among the attributes at [p, p + len), or NULL. */
static struct nlattr *nla_find(char *p, size_t len, uint16_t t)
{
    while (len >= NLA_HDRLEN) {
        struct nlattr *a = (struct nlattr *)p;
        if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
            return NULL;
        if ((a->nla_type & NLA_TYPE_MASK) == t)
            return a;
        size_t step = NLA_ALIGN(a->nla_len);
        if (step >= len)
            return NULL;
        p += step;
        len -= step;
    }
    return NULL;
}

static int family_id(int fd)
{
    if (genl_send(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, TASKSTATS_GENL_NAME,
                  sizeof(TASKSTATS_GENL_NAME)) < 0)
        return -1;
    char buf[4096];
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    if (r < (ssize_t)NLMSG_HDRLEN || !NLMSG_OK(nh, (size_t)r) || nh->nlmsg_type == NLMSG_ERROR)
        return -1;
    char *attrs = (char *)NLMSG_DATA(nh) + GENL_HDRLEN;
    struct nlattr *id =
            nla_find(attrs, nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, CTRL_ATTR_FAMILY_ID);
    if (id == NULL || id->nla_len < NLA_HDRLEN + sizeof(uint16_t))
        return -1;
    uint16_t v;
    memcpy(&v, NLA_DATA(id), sizeof(v));
    return v;
}

/* The task's run time: exact (ns) when delay accounting is on
 * (kernel.task_delayacct), else utime + stime, which the kernel keeps by
 * sampling at each timer tick (4 ms at HZ=250): coarse for one task but
 * unbiased, so a sum over hundreds of them is close, where /proc's
 * truncation to whole ticks always rounds down. */
static uint64_t task_cpu_us(const struct taskstats *ts, size_t have)
{
    if (have >= offsetof(struct taskstats, cpu_run_virtual_total) +
                        sizeof(ts->cpu_run_virtual_total) &&
        ts->cpu_run_virtual_total > 0)
        return ts->cpu_run_virtual_total / 1000;
    return ts->ac_utime + ts->ac_stime;
}

static pid_t task_tgid(const struct taskstats *ts, size_t have)
{
    if (have >= offsetof(struct taskstats, ac_tgid) + sizeof(ts->ac_tgid))
        return (pid_t)ts->ac_tgid;
    return 0;
}

static void on_message(berth_bench_exits_t *x, struct nlmsghdr *nh)
{
    if (nh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
        return;
    char *attrs = (char *)NLMSG_DATA(nh) + GENL_HDRLEN;
    size_t len = nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
    /* Per task only: the thread group's aggregate would count again. */
    struct nlattr *agg = nla_find(attrs, len, TASKSTATS_TYPE_AGGR_PID);
    if (agg == NULL)
        return;
    struct nlattr *st = nla_find(NLA_DATA(agg), agg->nla_len - NLA_HDRLEN, TASKSTATS_TYPE_STATS);
    struct taskstats ts;
    if (st == NULL || (size_t)st->nla_len - NLA_HDRLEN <
                              offsetof(struct taskstats, ac_stime) + sizeof(ts.ac_stime))
        return;
    memset(&ts, 0, sizeof(ts));
    size_t have = (size_t)st->nla_len - NLA_HDRLEN;
    memcpy(&ts, NLA_DATA(st), have < sizeof(ts) ? have : sizeof(ts));
    pthread_mutex_lock(&x->mu);
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        x->ex = berth_realloc(x->ex, x->cap * sizeof(*x->ex));
    }
    x->ex[x->n++] = (berth_bench_exit_t){.pid = (pid_t)ts.ac_pid,
                                         .ppid = (pid_t)ts.ac_ppid,
                                         .tgid = task_tgid(&ts, have),
                                         .cpu_us = task_cpu_us(&ts, have)};
    pthread_mutex_unlock(&x->mu);
}

static void *listen_main(void *arg)
{
    berth_bench_exits_t *x = arg;
    char buf[65536];
    /* Pairs with the release store in berth_bench_exits_stop; the list is
     * under the mutex. */
    while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
        struct pollfd p = {.fd = x->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = recv(x->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0) {
            if (errno == ENOBUFS) {
                pthread_mutex_lock(&x->mu);
                x->lost++;
                pthread_mutex_unlock(&x->mu);
            }
            continue;
        }
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)r);
             nh = NLMSG_NEXT(nh, r))
            on_message(x, nh);
    }
    return NULL;
}

berth_bench_exits_t *berth_bench_exits_start(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd < 0)
        return NULL;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    int fam = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? family_id(fd) : -1;
    /* Room for a burst of exits while the thread is not scheduled (a Go
     * program's exit is one report a thread). */
    int rcv = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    char cpumask[32];
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    snprintf(cpumask, sizeof(cpumask), "0-%ld", ncpu > 0 ? ncpu - 1 : 0);
    if (fam < 0 ||
        genl_send(fd, (uint16_t)fam, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK,
                  cpumask, strlen(cpumask) + 1) < 0) {
        close(fd);
        return NULL;
    }
    /* The kernel answers a registration it refuses (no CAP_NET_ADMIN) with
     * an error; one it accepts, with nothing. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0) {
        char buf[256];
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        struct nlmsghdr *nh = (struct nlmsghdr *)buf;
        if (r >= (ssize_t)(NLMSG_HDRLEN + sizeof(struct nlmsgerr)) &&
            nh->nlmsg_type == NLMSG_ERROR && ((struct nlmsgerr *)NLMSG_DATA(nh))->error != 0) {
            close(fd);
            return NULL;
        }
    }
    berth_bench_exits_t *x = berth_calloc(1, sizeof(*x));
    x->fd = fd;
    x->family = (uint16_t)fam;
    memcpy(x->cpumask, cpumask, sizeof(cpumask));
    pthread_mutex_init(&x->mu, NULL);
    pthread_create(&x->thread, NULL, listen_main, x);
    return x;
}

double berth_bench_exits_cpu_s(berth_bench_exits_t *x, const pid_t *roots, size_t nroots,
                               unsigned *lost)
{
    /* Reports of exits just before this call may still be in the socket. */
    usleep(200 * 1000);
    pthread_mutex_lock(&x->mu);
    double s = berth_bench_exits_sum(x->ex, x->n, roots, nroots);
    if (lost)
        *lost = x->lost;
    pthread_mutex_unlock(&x->mu);
    return s;
}

void berth_bench_exits_stop(berth_bench_exits_t *x)
{
    if (x == NULL)
        return;
    __atomic_store_n(&x->stop, true, __ATOMIC_RELEASE);
    pthread_join(x->thread, NULL);
    genl_send(x->fd, x->family, TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK,
              x->cpumask, strlen(x->cpumask) + 1);
    close(x->fd);
    pthread_mutex_destroy(&x->mu);
    berth_free(x->ex);
    berth_free(x);
}
