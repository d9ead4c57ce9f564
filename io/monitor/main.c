/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-monitor: conmon's job for every container of a node, in one
 * process. docs/monitor.md says why one per node and what it survives.
 *
 * It is the subreaper and so the parent of each container's init (the
 * runtime's `create` forks it and exits), holds the container's stdio
 * pipes (or its terminal), writes them to the CRI log (crilog.h), reaps the
 * container and writes its exit code to <exit_dir>/<cid> (and
 * <persist_dir>/oom after an OOM kill) in the format berthd's exit watcher
 * reads for conmon too, and serves the control fifo <bundle>/ctl ("1 H W"
 * resizes the terminal, "2 0 0" reopens the log).
 *
 * Attach (io/attach.h): berthd asks for a channel to a container's stdio;
 * the worker keeps one end of a socketpair as an attacher of that container
 * and passes the other back. Every chunk read from the container goes to
 * the log and to each attacher; what an attacher sends goes to the
 * container's stdin. An attacher never holds the worker up: a packet the
 * socket cannot take waits in a bounded queue, and an attacher whose queue
 * would pass ATTACH_QUEUE_MAX is closed.
 *
 * berthd talks to it over a unix socket (proto.h). Every pipe end the
 * monitor holds is also passed to berthd, so that neither death closes a
 * pipe: after a monitor dies, berthd gives them to the next one (adopt).
 *
 * One thread, one io_uring: multishot polls on every descriptor (the
 * socket, the clients, a signalfd for SIGCHLD, the pipes, the fifos), then
 * non-blocking reads. Log writes are plain appends, as conmon's are.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "io/attach.h"
#include "io/monitor/crilog.h"
#include "io/monitor/exitfile.h"
#include "io/monitor/keeper.h"
#include "io/monitor/procsetup.h"
#include "io/monitor/proto.h"

enum kind {
    W_LISTEN,
    W_CLIENT,
    W_KEEPER,
    W_SIGNAL,
    W_OUT,
    W_ERR,
    W_CTL,
    W_CONSOLE,
    W_ATTACH,     /* an attacher's input and close */
    W_ATTACH_OUT, /* one-shot: an attacher's socket has room again */
    W_STDIN,      /* one-shot: the container's stdin has room again */
};

struct ctr;
struct attacher;

/* One poll: multishot (POLLIN, its fd its own: closed by unwatch), or
 * one-shot (`once`: POLLOUT on a descriptor someone else owns). Freed only
 * on its last completion (the kernel may still hold it after a poll_remove
 * was submitted). */
typedef struct watch {
    int kind;
    int fd;
    struct ctr *c;
    struct attacher *a;
    bool dead;
    bool once;
} watch_t;

/* How far an attacher may fall behind the container's output before its
 * channel is closed: what the socket's own buffer cannot take waits here,
 * and beyond this the attacher is not reading (a stuck client) or reading
 * far slower than the container writes. */
#define ATTACH_QUEUE_MAX (1u << 20)

/* A packet waiting for an attacher's socket: the stream byte, then the
 * output. */
typedef struct outpkt {
    struct outpkt *next;
    size_t len;
    char data[];
} outpkt_t;

typedef struct attacher {
    struct attacher *next;
    struct ctr *c;
    int fd;         /* the worker's end of the channel, owned by w_in */
    watch_t *w_in;  /* input, the peer's shutdown and close */
    watch_t *w_out; /* while packets wait in the queue */
    outpkt_t *q_head, **q_tail;
    size_t queued;
    bool input_done; /* the peer shut its side down: no more input */
    bool closing;    /* the container exited: close once the queue is sent */
} attacher_t;

typedef struct ctr {
    struct ctr *next;
    char *cid, *bundle, *exit_dir, *persist_dir, *pidfile, *cgroup, *console_path;
    pid_t pid;        /* the container's init; 0 until created */
    pid_t create_pid; /* `<runtime> create` while it runs */
    int reply_fd;     /* the client waiting for the create, or -1 */
    bool terminal, ours, exited;
    /* stdin as created; stdin_closed once a detach closed it (stdin_once) */
    bool stdin_open, stdin_once, stdin_closed, stdin_close_wanted;
    int out_fd, err_fd, in_fd, ctl_fd, console_fd, persist_fd;
    int report_fd; /* the runtime's exec failure, while it is created */
    watch_t *w_out, *w_err, *w_ctl, *w_console;
    berth_crilog_t log;
    json_t *spec; /* the create request, for a restarted berthd (fds) */
    attacher_t *attachers;
    /* Input the container's stdin could not take yet. While it waits no
     * attacher's input is read (the sockets hold it back), so it is at most
     * one packet. */
    char *in_pend;
    size_t in_len, in_off;
    watch_t *w_stdin;
} ctr_t;

static struct io_uring ring;
static ctr_t *ctrs;
static char rbuf[65536];
static char ibuf[BERTH_ATTACH_IN_MAX];
static char *scratch;
static size_t scratch_cap;
static char msgbuf[BERTH_MON_MSG_MAX];
/* The channel to the keeper (keeper.c), -1 without one (it died, or the
 * worker runs alone). */
static int keeper_fd = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    berth_mon_vsay("worker", fmt, ap);
    va_end(ap);
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    while (s == NULL) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void arm(watch_t *w)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_poll_multishot(s, w->fd, POLLIN);
    io_uring_sqe_set_data(s, w);
}

static watch_t *watch(int kind, int fd, ctr_t *c)
{
    watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->kind = kind;
    w->fd = fd;
    w->c = c;
    arm(w);
    return w;
}

/* A one-shot POLLOUT on fd, which the caller keeps owning. */
static watch_t *watch_out(int kind, int fd, ctr_t *c, attacher_t *a)
{
    watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->kind = kind;
    w->fd = fd;
    w->c = c;
    w->a = a;
    w->once = true;
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_poll_add(s, fd, POLLOUT);
    io_uring_sqe_set_data(s, w);
    return w;
}

/* Stops a watch and closes its descriptor (a one-shot's is not its own);
 * the struct goes with the poll's last completion. */
static void unwatch(watch_t **wp)
{
    watch_t *w = *wp;
    if (w == NULL)
        return;
    *wp = NULL;
    w->dead = true;
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_poll_remove(s, (__u64)(uintptr_t)w);
    io_uring_sqe_set_data(s, NULL);
    if (!w->once)
        close(w->fd);
    w->fd = -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static char *dupstr(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static ctr_t *find(const char *cid)
{
    for (ctr_t *c = ctrs; c != NULL; c = c->next)
        if (strcmp(c->cid, cid) == 0)
            return c;
    return NULL;
}

static void attach_drop(attacher_t *a, const char *why);
static void stdin_discard(ctr_t *c);

static void destroy(ctr_t *c)
{
    c->stdin_once = false; /* the channels close with the container, not as a detach */
    while (c->attachers != NULL)
        attach_drop(c->attachers, NULL);
    stdin_discard(c);
    for (ctr_t **p = &ctrs; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    /* A watched fd is closed by unwatch, the others here. */
    if (c->w_out)
        c->out_fd = -1;
    if (c->w_err)
        c->err_fd = -1;
    if (c->w_ctl)
        c->ctl_fd = -1;
    if (c->w_console)
        c->console_fd = -1;
    unwatch(&c->w_out);
    unwatch(&c->w_err);
    unwatch(&c->w_ctl);
    unwatch(&c->w_console);
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    close_fd(&c->in_fd);
    close_fd(&c->ctl_fd);
    close_fd(&c->console_fd);
    close_fd(&c->reply_fd);
    close_fd(&c->report_fd);
    if (c->console_path)
        unlink(c->console_path);
    close_fd(&c->persist_fd);
    berth_crilog_close(&c->log);
    json_decref(c->spec);
    free(c->cid);
    free(c->bundle);
    free(c->exit_dir);
    free(c->persist_dir);
    free(c->pidfile);
    free(c->cgroup);
    free(c->console_path);
    free(c);
}

/* ---- replies ------------------------------------------------------------- */

static void reply_json(int fd, json_t *j, const int *fds, size_t nfds)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s == NULL || berth_mon_send(fd, s, strlen(s), fds, nfds, 0) < 0)
        say("cannot answer a request: %s", s ? strerror(errno) : "out of memory");
    free(s);
    json_decref(j);
}

static void reply_error(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(int fd, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    reply_json(fd, json_pack("{sbss}", "ok", 0, "error", text), NULL, 0);
}

static size_t ctr_fds(const ctr_t *c, json_t *names, int *fds);

/* Tells the keeper about a container: track (with its pipes and request,
 * so the keeper can reap it and hand it to the next worker), untrack,
 * exited. Best effort: a keeper that is gone changes nothing here. */
static void keeper_tell(const char *op, const ctr_t *c)
{
    if (keeper_fd < 0)
        return;
    json_t *j;
    int fds[BERTH_MON_FDS_MAX];
    size_t n = 0;
    if (strcmp(op, "track") == 0) {
        json_t *names = json_array();
        n = ctr_fds(c, names, fds);
        j = json_pack("{sssssisssOsO}", "op", op, "cid", c->cid, "pid", (int)c->pid, "cgroup",
                      c->cgroup ? c->cgroup : "", "spec", c->spec, "fds", names);
        json_decref(names);
    } else {
        j = json_pack("{ssss}", "op", op, "cid", c->cid);
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL || berth_mon_send(keeper_fd, text, strlen(text), fds, n, MSG_DONTWAIT) < 0)
        say("%s: cannot tell the keeper (%s): %s", c->cid, op,
            text ? strerror(errno) : "no memory");
    free(text);
}

/* The container's descriptors as the "fds" list and an array. */
static size_t ctr_fds(const ctr_t *c, json_t *names, int *fds)
{
    size_t n = 0;
    if (c->terminal) {
        if (c->out_fd >= 0) {
            json_array_append_new(names, json_string("pty"));
            fds[n++] = c->out_fd;
        }
    } else {
        if (c->out_fd >= 0) {
            json_array_append_new(names, json_string("out"));
            fds[n++] = c->out_fd;
        }
        if (c->err_fd >= 0) {
            json_array_append_new(names, json_string("err"));
            fds[n++] = c->err_fd;
        }
    }
    if (c->in_fd >= 0) {
        json_array_append_new(names, json_string("in"));
        fds[n++] = c->in_fd;
    }
    return n;
}

/* ---- attach ------------------------------------------------------------------ */

/* Where an attacher's input goes: the terminal, or the stdin pipe. -1 when
 * the container takes no input (created without stdin, or closed). */
static int stdin_fd(const ctr_t *c)
{
    if (!c->stdin_open || c->stdin_closed || c->exited)
        return -1;
    return c->terminal ? c->out_fd : c->in_fd;
}

static void stdin_discard(ctr_t *c)
{
    unwatch(&c->w_stdin);
    free(c->in_pend);
    c->in_pend = NULL;
    c->in_len = c->in_off = 0;
}

/* stdin_once after a detach: the container reads EOF, as under conmon. A
 * pipe reads EOF only when every write end is closed: the keeper is told
 * to drop its copy (a track without "in"); berthd dropped its own when it
 * got the channel (io/monitor.c). A terminal stays open: only its input
 * ends, as conmon's does. Input still waiting goes first. */
static void stdin_close(ctr_t *c)
{
    if (c->stdin_closed)
        return;
    if (c->in_len > 0) {
        c->stdin_close_wanted = true;
        return;
    }
    c->stdin_closed = true;
    json_object_set_new(c->spec, "stdin_closed", json_true());
    if (!c->terminal && c->in_fd >= 0) {
        close_fd(&c->in_fd);
        if (!c->exited)
            keeper_tell("track", c);
    }
    say("%s: stdin closed: an attacher detached and the container has stdin_once", c->cid);
}

/* Writes an attacher's input to the container. What the descriptor cannot
 * take now waits in in_pend (the attachers' reads stop meanwhile); input
 * for a container without stdin, or one that closed it, is dropped. */
static void stdin_put(ctr_t *c, const char *data, size_t len)
{
    int fd = stdin_fd(c);
    if (fd < 0)
        return;
    ssize_t n = write(fd, data, len);
    if (n == (ssize_t)len)
        return;
    if (n < 0 && errno != EAGAIN) {
        if (errno != EPIPE && errno != EIO)
            say("%s: stdin write: %s", c->cid, strerror(errno));
        return; /* the container closed its stdin: nobody reads this */
    }
    size_t done = n > 0 ? (size_t)n : 0;
    c->in_pend = malloc(len - done);
    if (c->in_pend == NULL)
        abort();
    memcpy(c->in_pend, data + done, len - done);
    c->in_len = len - done;
    c->in_off = 0;
    c->w_stdin = watch_out(W_STDIN, fd, c, NULL);
}

static void attach_read(attacher_t *a);

static void on_stdin_ready(ctr_t *c)
{
    int fd = stdin_fd(c);
    while (fd >= 0 && c->in_off < c->in_len) {
        ssize_t n = write(fd, c->in_pend + c->in_off, c->in_len - c->in_off);
        if (n < 0 && errno == EAGAIN) {
            c->w_stdin = watch_out(W_STDIN, fd, c, NULL);
            return;
        }
        if (n < 0)
            break; /* the container closed its stdin */
        c->in_off += (size_t)n;
    }
    stdin_discard(c);
    if (c->stdin_close_wanted)
        stdin_close(c);
    /* Input the sockets held back meanwhile. */
    for (attacher_t *a = c->attachers, *next; a != NULL && c->in_len == 0; a = next) {
        next = a->next;
        attach_read(a);
    }
}

/* Closes an attacher's channel; why (NULL: the container's end, quietly)
 * goes to monitor.log. An attacher that goes while the container runs is a
 * detach: with stdin_once the container's stdin closes. */
static void attach_drop(attacher_t *a, const char *why)
{
    ctr_t *c = a->c;
    for (attacher_t **p = &c->attachers; *p != NULL; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    while (a->q_head != NULL) {
        outpkt_t *q = a->q_head;
        a->q_head = q->next;
        free(q);
    }
    unwatch(&a->w_out);
    unwatch(&a->w_in); /* closes the socket */
    if (why != NULL)
        say("%s: attacher %s", c->cid, why);
    if (c->stdin_once && !c->exited)
        stdin_close(c);
    free(a);
}

/* Sends one packet (stream byte + up to BERTH_ATTACH_OUT_MAX bytes) or
 * queues it. Returns false when the attacher was dropped. */
static bool attach_put(attacher_t *a, char stream, const char *data, size_t len)
{
    if (a->q_head == NULL) {
        struct iovec iov[2] = {{.iov_base = &stream, .iov_len = 1},
                               {.iov_base = (void *)data, .iov_len = len}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n;
        do
            n = sendmsg(a->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n >= 0)
            return true;
        if (errno != EAGAIN) {
            attach_drop(a, "gone (its channel is closed)");
            return false;
        }
    }
    if (a->queued + len + 1 > ATTACH_QUEUE_MAX) {
        char why[160];
        snprintf(why, sizeof(why),
                 "dropped: it fell more than %u bytes behind the output (the log goes on)",
                 ATTACH_QUEUE_MAX);
        attach_drop(a, why);
        return false;
    }
    outpkt_t *q = malloc(sizeof(*q) + len + 1);
    if (q == NULL)
        abort();
    q->next = NULL;
    q->len = len + 1;
    q->data[0] = stream;
    memcpy(q->data + 1, data, len);
    *a->q_tail = q;
    a->q_tail = &q->next;
    a->queued += q->len;
    if (a->w_out == NULL)
        a->w_out = watch_out(W_ATTACH_OUT, a->fd, a->c, a);
    return true;
}

/* The container's output to every attacher, in packets of at most
 * BERTH_ATTACH_OUT_MAX bytes. */
static void fanout(ctr_t *c, char stream, const char *data, size_t len)
{
    for (attacher_t *a = c->attachers, *next; a != NULL; a = next) {
        next = a->next;
        if (a->closing)
            continue;
        for (size_t off = 0; off < len;) {
            size_t k = len - off < BERTH_ATTACH_OUT_MAX ? len - off : BERTH_ATTACH_OUT_MAX;
            if (!attach_put(a, stream, data + off, k))
                break;
            off += k;
        }
    }
}

static void on_attach_out(attacher_t *a)
{
    while (a->q_head != NULL) {
        outpkt_t *q = a->q_head;
        ssize_t n;
        do
            n = send(a->fd, q->data, q->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN) {
            a->w_out = watch_out(W_ATTACH_OUT, a->fd, a->c, a);
            return;
        }
        if (n < 0) {
            attach_drop(a, "gone (its channel is closed)");
            return;
        }
        a->q_head = q->next;
        a->queued -= q->len;
        free(q);
    }
    a->q_tail = &a->q_head;
    if (a->closing)
        attach_drop(a, NULL);
}

/* The peer closed its end altogether (not only its sending side)? */
static bool peer_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* Reads an attacher's input into the container's stdin until the socket
 * is empty or stdin is full. A read of 0 is the peer's shutdown or close:
 * a detach (for stdin_once); the channel stays for output until the peer
 * has closed it altogether. */
static void attach_read(attacher_t *a)
{
    ctr_t *c = a->c;
    while (!a->input_done && c->in_len == 0) {
        ssize_t n;
        do
            n = recv(a->fd, ibuf, sizeof(ibuf), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            attach_drop(a, "gone (its channel failed)");
            return;
        }
        if (n == 0) {
            a->input_done = true;
            if (c->stdin_once && !c->exited)
                stdin_close(c);
            break;
        }
        stdin_put(c, ibuf, (size_t)n);
    }
    if (a->input_done && peer_gone(a->fd))
        attach_drop(a, "detached");
}

static void on_attach_in(watch_t *w)
{
    attach_read(w->a);
}

/* The container ended and its last output went out: each channel closes
 * once its queue is sent, so the attacher reads EOF after the final
 * bytes. */
static void attach_end_all(ctr_t *c)
{
    stdin_discard(c);
    for (attacher_t *a = c->attachers, *next; a != NULL; a = next) {
        next = a->next;
        a->closing = true;
        if (a->q_head == NULL)
            attach_drop(a, NULL);
    }
}

/* ---- logs, control fifo ---------------------------------------------------- */

/* Reads what is there now (at most a few buffers: one busy container must
 * not starve the others; the multishot poll fires again). Returns false at
 * EOF or on an error that ends the stream. */
static bool pump(ctr_t *c, int fd, const char *stream, int rounds)
{
    for (int i = 0; rounds == 0 || i < rounds; i++) {
        ssize_t n = read(fd, rbuf, sizeof(rbuf));
        if (n > 0) {
            if (berth_crilog_write(&c->log, stream, rbuf, (size_t)n, scratch, scratch_cap) < 0)
                say("%s: log write to %s failed: %s", c->cid, c->log.path ? c->log.path : "(none)",
                    strerror(errno));
            fanout(c, strcmp(stream, "stderr") == 0 ? BERTH_ATTACH_STDERR : BERTH_ATTACH_STDOUT,
                   rbuf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        return false; /* 0: EOF; EIO: the terminal's other side is gone */
    }
    return true;
}

static void on_stream(watch_t *w)
{
    ctr_t *c = w->c;
    bool err = w->kind == W_ERR;
    if (pump(c, w->fd, err ? "stderr" : "stdout", 4))
        return;
    if (err) {
        c->err_fd = -1;
        unwatch(&c->w_err);
    } else {
        c->out_fd = -1;
        unwatch(&c->w_out);
    }
}

static void on_ctl(watch_t *w)
{
    ctr_t *c = w->c;
    char line[256];
    ssize_t n = read(w->fd, line, sizeof(line) - 1);
    if (n <= 0)
        return;
    line[n] = '\0';
    for (char *p = line, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        unsigned op = 0, a = 0, b = 0;
        if (sscanf(p, "%u %u %u", &op, &a, &b) != 3)
            continue;
        if (op == 1 && c->terminal && c->out_fd >= 0) {
            struct winsize ws = {.ws_row = (unsigned short)a, .ws_col = (unsigned short)b};
            if (ioctl(c->out_fd, TIOCSWINSZ, &ws) < 0)
                say("%s: resize: %s", c->cid, strerror(errno));
        } else if (op == 2) {
            if (berth_crilog_reopen(&c->log) < 0)
                say("%s: reopen %s: %s", c->cid, c->log.path, strerror(errno));
        }
    }
}

static int open_ctl(ctr_t *c)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/ctl", c->bundle);
    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        return -1;
    /* O_RDWR: the fifo never reads EOF when a writer goes away. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    c->ctl_fd = fd;
    c->w_ctl = watch(W_CTL, fd, c);
    return 0;
}

/* ---- exits --------------------------------------------------------------- */

static void on_exit_status(ctr_t *c, int st)
{
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    c->exited = true;
    /* What the container wrote before it died is in the pipes now: log it
     * before the exit shows, so a reader after the exit sees all of it. */
    if (c->out_fd >= 0)
        pump(c, c->out_fd, "stdout", 0);
    if (c->err_fd >= 0)
        pump(c, c->err_fd, "stderr", 0);
    attach_end_all(c);
    const char *what = NULL;
    if (berth_mon_record_exit(c->exit_dir, c->persist_dir, c->cid, code, c->cgroup, &what) < 0)
        say("%s: cannot record the exit (%s): %s", c->cid, what, strerror(errno));
    keeper_tell("exited", c);
}

/* ---- create ------------------------------------------------------------- */

static char *runtime_error(const char *log_path)
{
    FILE *f = fopen(log_path, "re");
    if (f == NULL)
        return NULL;
    char line[8192];
    char *last = NULL, *any = NULL;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0')
            continue;
        free(any);
        any = dupstr(line);
        json_t *j = json_loads(line, 0, NULL);
        const char *lvl = json_string_value(json_object_get(j, "level"));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (msg && lvl && (strcmp(lvl, "error") == 0 || strcmp(lvl, "fatal") == 0)) {
            free(last);
            last = dupstr(msg);
        }
        json_decref(j);
    }
    fclose(f);
    if (last != NULL) {
        free(any);
        return last;
    }
    return any;
}

static void create_done(ctr_t *c, int st)
{
    c->create_pid = 0;
    char logp[4200];
    snprintf(logp, sizeof(logp), "%s/create.log", c->persist_dir);
    int fd = c->reply_fd;
    c->reply_fd = -1;
    if (c->console_path) {
        unlink(c->console_path);
        free(c->console_path);
        c->console_path = NULL;
    }
    close_fd(&c->persist_fd);
    if (c->w_console) {
        c->console_fd = -1;
        unwatch(&c->w_console);
    }
    int exec_errno = 0;
    if (c->report_fd >= 0 &&
        read(c->report_fd, &exec_errno, sizeof(exec_errno)) != (ssize_t)sizeof(exec_errno))
        exec_errno = 0;
    close_fd(&c->report_fd);
    if (exec_errno != 0) {
        if (fd >= 0)
            reply_error(fd, "container create failed: cannot run the runtime: %s",
                        strerror(exec_errno));
        unlink(logp);
        close_fd(&fd);
        destroy(c);
        return;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char *msg = runtime_error(logp);
        if (fd >= 0)
            reply_error(fd, "container create failed: %s",
                        msg ? msg
                            : (WIFEXITED(st) ? "the runtime failed without a message"
                                             : "the runtime was killed"));
        free(msg);
        unlink(logp);
        close_fd(&fd);
        destroy(c);
        return;
    }
    unlink(logp);
    FILE *f = fopen(c->pidfile, "re");
    int pid = 0;
    if (f == NULL || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
        if (f)
            fclose(f);
        if (fd >= 0)
            reply_error(fd, "container create failed: the runtime wrote no pid to %s", c->pidfile);
        close_fd(&fd);
        destroy(c);
        return;
    }
    fclose(f);
    c->pid = pid;
    if (c->terminal && c->out_fd < 0) {
        if (fd >= 0)
            reply_error(fd, "container create failed: the runtime sent no terminal");
        close_fd(&fd);
        kill(c->pid, SIGKILL);
        return; /* reaped as a container; berthd deletes it */
    }
    c->cgroup = berth_mon_memory_cgroup(pid);
    if (c->terminal && c->out_fd >= 0)
        c->w_out = watch(W_OUT, c->out_fd, c);
    if (fd >= 0) {
        json_t *names = json_array();
        int fds[BERTH_MON_FDS_MAX];
        size_t n = ctr_fds(c, names, fds);
        reply_json(fd,
                   json_pack("{sbsisssO}", "ok", 1, "pid", pid, "cgroup",
                             c->cgroup ? c->cgroup : "", "fds", names),
                   fds, n);
        json_decref(names);
        close(fd);
    }
    keeper_tell("track", c);
}

static void on_console(watch_t *w)
{
    ctr_t *c = w->c;
    int conn = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return;
    /* The runtime sends the terminal right after it connects. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b[256];
    int fds[BERTH_MON_FDS_MAX];
    size_t nfds = 0;
    long n = berth_mon_recv(conn, b, sizeof(b), fds, &nfds, 0);
    close(conn);
    if (n < 0 || nfds == 0) {
        say("%s: no terminal from the runtime: %s", c->cid, n < 0 ? strerror(errno) : "none");
        return;
    }
    for (size_t i = 1; i < nfds; i++)
        close(fds[i]);
    close_fd(&c->out_fd);
    c->out_fd = fds[0];
    fcntl(c->out_fd, F_SETFL, fcntl(c->out_fd, F_GETFL) | O_NONBLOCK);
}

static const char *jstr(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static ctr_t *ctr_from(json_t *req)
{
    ctr_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->out_fd = c->err_fd = c->in_fd = c->ctl_fd = c->console_fd = c->reply_fd = c->persist_fd =
            c->report_fd = -1;
    c->log.fd = -1;
    c->cid = dupstr(jstr(req, "cid"));
    c->bundle = dupstr(jstr(req, "bundle"));
    c->exit_dir = dupstr(jstr(req, "exit_dir"));
    c->persist_dir = dupstr(jstr(req, "persist_dir"));
    c->pidfile = dupstr(jstr(req, "pidfile"));
    c->terminal = json_is_true(json_object_get(req, "terminal"));
    c->stdin_open = json_is_true(json_object_get(req, "stdin"));
    c->stdin_once = json_is_true(json_object_get(req, "stdin_once"));
    c->stdin_closed = json_is_true(json_object_get(req, "stdin_closed"));
    c->spec = json_deep_copy(req);
    const char *drop[] = {"op", "pid", "cgroup", "exited", "fds"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_del(c->spec, drop[i]);
    const char *log_path = jstr(req, "log_path");
    json_int_t max = json_integer_value(json_object_get(req, "log_size_max"));
    if (berth_crilog_open(&c->log, log_path, max > 0 ? (uint64_t)max : 0) < 0)
        say("%s: cannot open the log %s: %s", c->cid, log_path, strerror(errno));
    return c;
}

static bool valid_create(json_t *req, int fd)
{
    const char *need[] = {"cid", "bundle", "log_path", "exit_dir", "persist_dir", "pidfile"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        const char *v = jstr(req, need[i]);
        if (v == NULL || v[0] == '\0') {
            reply_error(fd, "request without %s", need[i]);
            return false;
        }
    }
    const char *cid = jstr(req, "cid");
    if (strchr(cid, '/') != NULL || cid[0] == '.') {
        reply_error(fd, "invalid container id \"%s\"", cid);
        return false;
    }
    if (find(cid) != NULL) {
        reply_error(fd, "container %s is already monitored", cid);
        return false;
    }
    return true;
}

static int pipe_pair(int p[2])
{
    return pipe2(p, O_CLOEXEC);
}

/* The descriptor limit berth-monitor was started with: the runtime, and so
 * the container, get it back (the monitor raises its own for its five
 * descriptors a container). */
static berth_mon_limits_t limits;

/* fork + exec rather than posix_spawn: the child restores the inherited
 * descriptor limit, which posix_spawn cannot. The monitor is one small
 * thread, so the fork copies little. stdio: in/out/err or /dev/null.
 * Nothing waits for the exec: a failure to exec comes back as the errno
 * on *report_fd (close-on-exec, so empty when the runtime runs), read when
 * the child's exit is reaped. */
static pid_t spawn_runtime(const char *path, const char *const *argv, char *const *envp,
                           const char *cwd, int in, int out, int err, int *report_fd)
{
    int report[2];
    if (pipe2(report, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        int e = errno;
        close(report[1]);
        if (pid < 0) {
            close(report[0]);
            errno = e;
            return -1;
        }
        *report_fd = report[0];
        return pid;
    }
    int null = open("/dev/null", O_RDWR);
    if (dup2(in >= 0 ? in : null, 0) < 0 || dup2(out >= 0 ? out : null, 1) < 0 ||
        dup2(err >= 0 ? err : null, 2) < 0 || chdir(cwd) < 0)
        goto fail;
    berth_mon_child_reset(&limits);
    execve(path, (char *const *)argv, envp);
fail:;
    int e = errno;
    if (write(report[1], &e, sizeof(e)) < 0)
        _exit(126);
    _exit(127);
}

static void op_create(int fd, json_t *req)
{
    if (!valid_create(req, fd))
        return;
    const char *runtime = jstr(req, "runtime");
    if (runtime == NULL || runtime[0] != '/') {
        reply_error(fd, "request without an absolute runtime path");
        return;
    }
    bool want_in = json_is_true(json_object_get(req, "stdin"));
    ctr_t *c = ctr_from(req);
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, lsn = -1;
    if (want_in && pipe_pair(in) < 0)
        goto fail_errno;
    if (!c->terminal && (pipe_pair(out) < 0 || pipe_pair(err) < 0))
        goto fail_errno;
    if (c->terminal) {
        /* The socket lives in the persist dir, named through this
         * process's descriptor of it: a sun_path holds 108 bytes, far
         * less than a node's paths may take. */
        c->persist_fd = open(c->persist_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c->persist_fd < 0)
            goto fail_errno;
        char path[108];
        snprintf(path, sizeof(path), "/proc/%d/fd/%d/console.sock", (int)getpid(), c->persist_fd);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        unlink(path);
        lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsn, 1) < 0)
            goto fail_errno;
        c->console_path = dupstr(path);
    }

    char logp[4200];
    snprintf(logp, sizeof(logp), "%s/create.log", c->persist_dir);
    unlink(logp);
    const char *argv[32];
    size_t a = 0;
    argv[a++] = runtime;
    const char *root = jstr(req, "runtime_root");
    char rootarg[4200];
    if (root && root[0]) {
        snprintf(rootarg, sizeof(rootarg), "--root=%s", root);
        argv[a++] = rootarg;
    }
    /* A restore (docs/checkpoint.md): `runtime restore --detach` puts the
     * checkpointed processes back, running, instead of `create`; CRIU gives
     * them this runtime's stdio in place of the old monitor's pipes, so the
     * log goes on here. runc runs "criu" from its own PATH unless told. */
    const char *images = jstr(req, "restore_image_path");
    const char *work = jstr(req, "restore_work_path");
    const char *criu = jstr(req, "criu");
    if (images && criu && criu[0]) {
        argv[a++] = "--criu";
        argv[a++] = criu;
    }
    argv[a++] = "--log";
    argv[a++] = logp;
    argv[a++] = "--log-format=json";
    if (images) {
        argv[a++] = "restore";
        argv[a++] = "--detach";
        argv[a++] = "--image-path";
        argv[a++] = images;
        if (work) {
            argv[a++] = "--work-path";
            argv[a++] = work;
        }
    } else {
        argv[a++] = "create";
    }
    argv[a++] = "--bundle";
    argv[a++] = c->bundle;
    argv[a++] = "--pid-file";
    argv[a++] = c->pidfile;
    if (c->terminal) {
        argv[a++] = "--console-socket";
        argv[a++] = c->console_path;
    }
    argv[a++] = c->cid;
    argv[a] = NULL;

    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    if (access(runtime, X_OK) < 0)
        goto fail_errno;
    pid_t pid = spawn_runtime(runtime, argv, envp, c->bundle, in[0], out[1], err[1], &c->report_fd);
    if (pid < 0)
        goto fail_errno;
    /* The runtime and the container hold the write ends now. */
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&in[0]);
    c->create_pid = pid;
    c->ours = true;
    c->reply_fd = dup(fd);
    if (out[0] >= 0) {
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        fcntl(err[0], F_SETFL, O_NONBLOCK);
        c->out_fd = out[0];
        c->err_fd = err[0];
        c->w_out = watch(W_OUT, out[0], c);
        c->w_err = watch(W_ERR, err[0], c);
    }
    c->in_fd = in[1];
    /* Attach input never blocks the worker (the flag is the pipe's, but
     * nobody else writes to it). */
    if (c->in_fd >= 0)
        fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
    if (lsn >= 0) {
        c->console_fd = lsn;
        c->w_console = watch(W_CONSOLE, lsn, c);
    }
    if (open_ctl(c) < 0)
        say("%s: no control fifo in %s: %s", c->cid, c->bundle, strerror(errno));
    c->next = ctrs;
    ctrs = c;
    return;

fail_errno:;
    int e = errno;
    for (int *p = (int[]){out[0], out[1], err[0], err[1], in[0], in[1], lsn}, i = 0; i < 7; i++)
        if (p[i] >= 0)
            close(p[i]);
    reply_error(fd, "container create failed: cannot start %s: %s", runtime, strerror(e));
    destroy(c);
}

/* ---- adopt, fds, list, forget ------------------------------------------------ */

static void op_adopt(int fd, json_t *req, int *fds, size_t nfds)
{
    if (!valid_create(req, fd))
        return;
    ctr_t *c = ctr_from(req);
    c->pid = (pid_t)json_integer_value(json_object_get(req, "pid"));
    const char *cg = jstr(req, "cgroup");
    c->cgroup = cg && cg[0] ? dupstr(cg) : NULL;
    c->exited = json_is_true(json_object_get(req, "exited"));
    json_t *names = json_object_get(req, "fds");
    for (size_t i = 0; i < nfds; i++) {
        const char *n = json_string_value(json_array_get(names, i));
        int *slot = n == NULL               ? NULL
                    : strcmp(n, "pty") == 0 ? &c->out_fd
                    : strcmp(n, "out") == 0 ? &c->out_fd
                    : strcmp(n, "err") == 0 ? &c->err_fd
                    : strcmp(n, "in") == 0  ? &c->in_fd
                                            : NULL;
        if (slot == NULL || *slot >= 0) {
            close(fds[i]);
            continue;
        }
        *slot = fds[i];
        fds[i] = -1;
    }
    if (c->out_fd >= 0) {
        fcntl(c->out_fd, F_SETFL, fcntl(c->out_fd, F_GETFL) | O_NONBLOCK);
        c->w_out = watch(W_OUT, c->out_fd, c);
    }
    if (c->err_fd >= 0) {
        fcntl(c->err_fd, F_SETFL, fcntl(c->err_fd, F_GETFL) | O_NONBLOCK);
        c->w_err = watch(W_ERR, c->err_fd, c);
    }
    if (c->in_fd >= 0)
        fcntl(c->in_fd, F_SETFL, fcntl(c->in_fd, F_GETFL) | O_NONBLOCK);
    if (open_ctl(c) < 0)
        say("%s: no control fifo in %s: %s", c->cid, c->bundle, strerror(errno));
    c->next = ctrs;
    ctrs = c;
    say("%s: adopted (pid %d)", c->cid, (int)c->pid);
    if (!c->exited)
        keeper_tell("track", c);
    reply_json(fd, json_pack("{sb}", "ok", 1), NULL, 0);
}

static void op_fds(int fd, json_t *req)
{
    const char *cid = jstr(req, "cid");
    ctr_t *c = cid ? find(cid) : NULL;
    if (c == NULL || c->create_pid) {
        reply_error(fd, "container %s is not monitored", cid ? cid : "");
        return;
    }
    json_t *names = json_array();
    int fds[BERTH_MON_FDS_MAX];
    size_t n = ctr_fds(c, names, fds);
    reply_json(fd,
               json_pack("{sbsisssbsOsO}", "ok", 1, "pid", (int)c->pid, "cgroup",
                         c->cgroup ? c->cgroup : "", "exited", c->exited, "fds", names, "spec",
                         c->spec),
               fds, n);
    json_decref(names);
}

/* A channel to the container's stdio (io/attach.h): the worker keeps one
 * end as an attacher, the other goes back with the answer. A container
 * being created may be attached (its output has not begun); an exited one
 * may not. */
static void op_attach(int fd, json_t *req)
{
    const char *cid = jstr(req, "cid");
    ctr_t *c = cid ? find(cid) : NULL;
    if (c == NULL || c->create_pid != 0 || c->pid <= 0 || c->exited) {
        const char *text = c == NULL   ? "the container monitor does not know it"
                           : c->exited ? "the container has exited"
                                       : "the container is still being created";
        reply_json(fd,
                   json_pack("{sbssss}", "ok", 0, "error", text, "reason",
                             c == NULL ? "not_found" : "not_running"),
                   NULL, 0);
        return;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        reply_error(fd, "socketpair: %s", strerror(errno));
        return;
    }
    attacher_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    a->c = c;
    a->fd = sv[0];
    a->q_tail = &a->q_head;
    a->w_in = watch(W_ATTACH, sv[0], c);
    a->w_in->a = a;
    a->next = c->attachers;
    c->attachers = a;
    /* A failed answer leaves sv[0] alone with its peer closed: the next
     * poll sees that and drops the attacher. */
    reply_json(fd, json_pack("{sb}", "ok", 1), &sv[1], 1);
    close(sv[1]);
    say("%s: attached (%s)", cid, stdin_fd(c) >= 0 ? "output and input" : "output");
}

static void op_list(int fd)
{
    json_t *a = json_array();
    for (ctr_t *c = ctrs; c != NULL; c = c->next)
        if (c->create_pid == 0)
            json_array_append_new(a, json_pack("{sssisssb}", "cid", c->cid, "pid", (int)c->pid,
                                               "cgroup", c->cgroup ? c->cgroup : "", "exited",
                                               c->exited));
    reply_json(fd,
               json_pack("{sbsisisO}", "ok", 1, "monitor_pid", (int)getpid(), "keeper_pid",
                         keeper_fd >= 0 ? (int)getppid() : 0, "containers", a),
               NULL, 0);
    json_decref(a);
}

static void op_forget(int fd, json_t *req)
{
    const char *cid = jstr(req, "cid");
    ctr_t *c = cid ? find(cid) : NULL;
    if (c != NULL && c->create_pid == 0) {
        keeper_tell("untrack", c);
        destroy(c);
    }
    reply_json(fd, json_pack("{sb}", "ok", 1), NULL, 0);
}

static void on_request(int fd, const char *buf, size_t len, int *fds, size_t nfds)
{
    json_error_t je;
    json_t *req = json_loadb(buf, len, 0, &je);
    const char *op = jstr(req, "op");
    if (op == NULL)
        reply_error(fd, "unreadable request: %s", req ? "no op" : je.text);
    else if (strcmp(op, "create") == 0)
        op_create(fd, req);
    else if (strcmp(op, "adopt") == 0)
        op_adopt(fd, req, fds, nfds);
    else if (strcmp(op, "fds") == 0)
        op_fds(fd, req);
    else if (strcmp(op, "list") == 0)
        op_list(fd);
    else if (strcmp(op, "forget") == 0)
        op_forget(fd, req);
    else if (strcmp(op, "attach") == 0)
        op_attach(fd, req);
    else
        reply_error(fd, "unknown op \"%s\"", op);
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    json_decref(req);
}

static void on_client(watch_t *w)
{
    for (;;) {
        int fds[BERTH_MON_FDS_MAX];
        size_t nfds = 0;
        long n = berth_mon_recv(w->fd, msgbuf, sizeof(msgbuf), fds, &nfds, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0 && errno == EMSGSIZE) {
            reply_error(w->fd, "request larger than %d bytes", BERTH_MON_MSG_MAX);
            continue;
        }
        if (n <= 0) {
            if (w->kind == W_KEEPER) {
                say("the keeper is gone: containers this worker leaves will be berthd's");
                keeper_fd = -1;
            }
            watch_t *ww = w;
            unwatch(&ww);
            return;
        }
        on_request(w->fd, msgbuf, (size_t)n, fds, nfds);
    }
}

static void on_listen(watch_t *w)
{
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        watch(W_CLIENT, fd, NULL);
    }
}

static void on_sigchld(watch_t *w)
{
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
        if (p <= 0)
            return;
        ctr_t *c = ctrs;
        while (c != NULL && c->create_pid != p && !(c->pid == p && c->create_pid == 0))
            c = c->next;
        /* Anything else is an orphan the monitor adopted as subreaper (a
         * daemon a container left behind): reaped and forgotten. */
        if (c != NULL && c->create_pid == p)
            create_done(c, st);
        else if (c != NULL)
            on_exit_status(c, st);
    }
}

/* ---- main ----------------------------------------------------------------- */

static int listen_on(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void usage(void)
{
    fprintf(stderr, "usage: berth-monitor (--listen-fd N | --socket PATH) --pidfile PATH\n"
                    "  the container monitor of berthd (its keeper, which runs the worker:\n"
                    "  --worker --keeper-fd N); see docs/monitor.md\n");
}

int main(int argc, char **argv)
{
    int lfd = -1;
    bool worker = false;
    const char *sock = NULL, *pidfile = NULL;
    static const struct option opts[] = {{"listen-fd", required_argument, NULL, 'l'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"pidfile", required_argument, NULL, 'p'},
                                         {"worker", no_argument, NULL, 'w'},
                                         {"keeper-fd", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'l')
            lfd = atoi(optarg);
        else if (o == 's')
            sock = optarg;
        else if (o == 'p')
            pidfile = optarg;
        else if (o == 'w')
            worker = true;
        else if (o == 'k')
            keeper_fd = atoi(optarg);
        else {
            usage();
            return o == 'h' ? 0 : 2;
        }
    }
    if ((lfd < 0) == (sock == NULL)) {
        usage();
        return 2;
    }
    if (sock != NULL && (lfd = listen_on(sock)) < 0) {
        say("cannot listen on %s: %s", sock, strerror(errno));
        return 1;
    }
    fcntl(lfd, F_SETFD, FD_CLOEXEC);
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    if (!worker) {
        /* Its own session: a signal to berthd's process group or terminal
         * leaves the monitor, and so the containers' logs, alone. */
        setsid();
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0 || pidfile == NULL) {
            say("the keeper needs /proc/self/exe and --pidfile");
            return 1;
        }
        self[n] = '\0';
        return berth_mon_keeper_run(self, lfd, pidfile);
    }
    if (keeper_fd >= 0)
        fcntl(keeper_fd, F_SETFD, FD_CLOEXEC);
    /* Five descriptors a container (two pipes, stdin, fifo, log). */
    const char *what = NULL;
    int sfd = berth_mon_proc_setup(&limits, &what);
    if (sfd < 0) {
        say("%s: %s", what, strerror(errno));
        return 1;
    }
    scratch_cap = BERTH_CRILOG_SCRATCH;
    scratch = malloc(scratch_cap);
    if (scratch == NULL)
        return 1;
    int r = io_uring_queue_init(256, &ring, 0);
    if (r < 0) {
        say("io_uring_queue_init: %s", strerror(-r));
        return 1;
    }
    if (pidfile) {
        char text[32];
        snprintf(text, sizeof(text), "%d\n", (int)getpid());
        char *dir = dupstr(pidfile), *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        if (berth_mon_write_atomic(slash ? dir : ".", slash ? slash + 1 : pidfile, text) < 0)
            say("cannot write %s: %s", pidfile, strerror(errno));
        free(dir);
    }
    watch(W_LISTEN, lfd, NULL);
    watch(W_SIGNAL, sfd, NULL);
    if (keeper_fd >= 0)
        watch(W_KEEPER, keeper_fd, NULL);
    say("serving");
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            watch_t *w = io_uring_cqe_get_data(cqe);
            if (w == NULL)
                continue;
            if (w->once) {
                /* A one-shot's only completion: the owner forgets it
                 * first, as its handler may arm the next. */
                bool live = !w->dead;
                if (live && w->kind == W_ATTACH_OUT)
                    w->a->w_out = NULL;
                else if (live && w->kind == W_STDIN)
                    w->c->w_stdin = NULL;
                attacher_t *a = w->a;
                ctr_t *c = w->c;
                int kind = w->kind;
                free(w);
                if (live && kind == W_ATTACH_OUT)
                    on_attach_out(a);
                else if (live && kind == W_STDIN)
                    on_stdin_ready(c);
                continue;
            }
            bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            if (!w->dead && cqe->res > 0) {
                switch (w->kind) {
                case W_LISTEN:
                    on_listen(w);
                    break;
                case W_CLIENT:
                case W_KEEPER:
                    on_client(w);
                    break;
                case W_SIGNAL:
                    on_sigchld(w);
                    break;
                case W_OUT:
                case W_ERR:
                    on_stream(w);
                    break;
                case W_CTL:
                    on_ctl(w);
                    break;
                case W_CONSOLE:
                    on_console(w);
                    break;
                case W_ATTACH:
                    on_attach_in(w);
                    break;
                }
            }
            if (!more) {
                if (w->dead)
                    free(w);
                else
                    arm(w); /* the kernel ended the multishot (overflow): again */
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
