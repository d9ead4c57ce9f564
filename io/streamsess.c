/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session behind a streaming connection (see io/streamconn.h):
 *
 * exec         `<runtime> exec --pid-file F [--tty] <id> cmd` with pipes for
 *              stdin/stdout/stderr, or with a terminal of ours as the
 *              runtime's stdio (it copies to the command's own). The runtime runs
 *              the command with the container's own process settings (user,
 *              capabilities, seccomp, AppArmor/SELinux labels, environment,
 *              cgroup), exactly as for ExecSync. Its exit code ends up on the
 *              error channel; a client that goes away kills the command.
 * attach       the monitor's attach channel (one SEQPACKET socket: packets
 *              from it are a stream byte and output, packets to it are input).
 * port-forward one TCP connection per request into the pod's network
 *              namespace (the socket is made on a blocking-pool thread that
 *              enters the namespace; every byte then moves on io_uring).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/log.h"
#include "io/attach.h"
#include "io/blocking.h"
#include "io/conmon.h"
#include "io/fs.h"
#include "io/monitor.h"
#include "io/ocispec.h"
#include "io/spawn.h"
#include "io/streamconn.h"

/* endpoint roles */
enum { EP_STDIN = 1, EP_STDOUT, EP_STDERR, EP_PTY, EP_ATTACH, EP_FWD };
/* session op tags (the connection's own are below 16) */
enum { TAG_CONSOLE_ACCEPT = 32, TAG_CONSOLE_RECV, TAG_PROC = 48 };

/* The attach channel's format: io/attach.h. */
#define ATTACH_STDERR BERTH_ATTACH_STDERR
#define ATTACH_PACKET_MAX BERTH_ATTACH_IN_MAX
/* After the process exited, how long its output pipes may stay open (a
 * background child holding them) before the session ends anyway. */
#define EXIT_GRACE_NS (2ull * 1000000000ull)

typedef struct fwd {
    struct fwd *next;
    uint64_t id;
    int port;
    char reqid[40];
    schan_t *data, *error;
    sep_t *sock;
    bool connecting, connected, done, sock_eof, client_fin;
    berth_bytebuf_t early; /* what the client sent before the connection was up */
} fwd_t;

typedef struct netsock_msg {
    berth_msg_t hdr;
    berth_handle_t conn;
    char *netns;
    int port;
    uint64_t fwd_id;
    int fd;
    int error;
} netsock_msg_t;

typedef struct sess {
    /* exec */
    bool spawned, exited, finished;
    bool kill_sent; /* the command is being killed: the client went away */
    berth_handle_t proc;
    int exit_code; /* the runtime's exit code: the command's */
    int exit_signal;
    uint64_t exit_ns;
    char *runtime_err; /* the runtime's own stderr when the client has none */
    char *pid_file;
    char *process_path; /* the exec's process (the container's), its terminal's size */
    sep_t *in, *out, *err, *pty, *att;
    unsigned short rows, cols;
    bool have_size;
    bool size_wait; /* a terminal's exec waits briefly for its first size */
    bool process_pending;
    bool stdin_fin;           /* the client's stdin ended */
    berth_bytebuf_t resize;   /* the resize channel's bytes not yet parsed */
    berth_bytebuf_t early_in; /* stdin that came before its pipe, pty or channel */
    /* port-forward */
    fwd_t *fwds;
    uint64_t next_fwd;
    unsigned pending_jobs;
    /* attach */
    bool attach_waiting;
} sess_t;

static sess_t *S(sconn_t *c)
{
    if (c->sess == NULL) {
        sess_t *s = berth_calloc(1, sizeof(*s));
        c->sess = s;
    }
    return c->sess;
}

const char *sess_kind_name(int kind)
{
    switch (kind) {
    case BERTH_STREAM_EXEC:
        return "exec";
    case BERTH_STREAM_ATTACH:
        return "attach";
    case BERTH_STREAM_PORTFORWARD:
        return "portforward";
    }
    return "?";
}

/* ---- the error channel and the end of a remote command ------------------- */

/* The status the client's remotecommand reads on the error channel: v4 and
 * v5 read a JSON metav1.Status, older versions a plain message (nothing on
 * success). */
static void send_status(sconn_t *c, const char *failure, int exit_code)
{
    schan_t *ech = sconn_chan_find(c, CH_ERROR);
    if (ech == NULL || ech->local_fin)
        return;
    if (c->version >= 4) {
        json_t *st = json_object();
        json_object_set_new(st, "metadata", json_object());
        if (failure == NULL && exit_code == 0) {
            json_object_set_new(st, "status", json_string("Success"));
        } else if (failure == NULL) {
            char code[16];
            snprintf(code, sizeof(code), "%d", exit_code);
            json_object_set_new(st, "status", json_string("Failure"));
            BERTH_AUTO_FREE char *msg = berth_asprintf(
                    "command terminated with non-zero exit code: exit status %d", exit_code);
            json_object_set_new(st, "message", json_string(msg));
            json_object_set_new(st, "reason", json_string("NonZeroExitCode"));
            json_t *cause = json_pack("{s:s,s:s}", "reason", "ExitCode", "message", code);
            json_object_set_new(st, "details", json_pack("{s:[o]}", "causes", cause));
        } else {
            json_object_set_new(st, "status", json_string("Failure"));
            json_object_set_new(st, "message", json_string(failure));
            json_object_set_new(st, "reason", json_string("InternalError"));
            json_object_set_new(st, "code", json_integer(500));
        }
        char *s = json_dumps(st, JSON_COMPACT);
        json_decref(st);
        sconn_chan_send(c, ech, s, strlen(s));
        berth_free(s); /* jansson allocates with berth_malloc (engine/alloc.c) */
    } else if (failure != NULL || exit_code != 0) {
        BERTH_AUTO_FREE char *msg =
                failure ? berth_strdup(failure)
                        : berth_asprintf("command terminated with non-zero exit code: "
                                         "exit status %d",
                                         exit_code);
        sconn_chan_send(c, ech, msg, strlen(msg));
    }
    sconn_chan_fin(c, ech);
}

static void fin_all(sconn_t *c)
{
    for (size_t i = 0; i < c->nchans; i++)
        if (!c->chans[i]->local_fin)
            sconn_chan_fin(c, c->chans[i]);
}

static void finish(berth_actor_t *self, sconn_t *c, const char *failure, int exit_code)
{
    sess_t *s = S(c);
    if (s->finished)
        return;
    s->finished = true;
    send_status(c, failure, exit_code);
    fin_all(c);
    sconn_close(self, c);
}

typedef struct kill_msg {
    berth_msg_t hdr;
    char *pid_file;
    bool killed; /* the command had a pid and was sent SIGKILL */
} kill_msg_t;

static void kill_free(berth_msg_t *m)
{
    berth_free(((kill_msg_t *)m)->pid_file);
}

/* On the pool: reads the pid the runtime wrote and kills the command
 * through a pidfd, so a recycled pid is never hit. */
static void kill_job(void *arg)
{
    kill_msg_t *m = arg;
    char buf[32] = "";
    int fd = open(m->pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* not started yet: the answer has the runtime killed */
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    int pid = atoi(buf);
    if (pid <= 1)
        return;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0)
        return;
    m->killed = syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0;
    close(pfd);
}

/* Kills the exec'd command (not only the runtime, whose death would leave
 * the command running in the container). Reading the pid file is file I/O,
 * so it runs on the pool; the answer kills the runtime when the command had
 * no pid yet. The connection stays until the answer comes (pending_jobs). */
static void kill_command(sconn_t *c)
{
    sess_t *s = S(c);
    if (s->kill_sent || !s->spawned || s->exited)
        return;
    s->kill_sent = true;
    if (s->pid_file == NULL) {
        berth_proc_kill(s->proc, SIGKILL);
        return;
    }
    kill_msg_t *m = berth_msg_new(BERTH_MSG_STREAM_KILLED, sizeof(*m));
    m->hdr.free = kill_free;
    m->pid_file = berth_strdup(s->pid_file);
    s->pending_jobs++;
    berth_blocking_run(kill_job, m, c->me, &m->hdr);
}

static void on_killed(sconn_t *c, kill_msg_t *m)
{
    sess_t *s = S(c);
    s->pending_jobs--;
    if (!m->killed && !s->exited)
        berth_proc_kill(s->proc, SIGKILL);
}

void sess_fail(berth_actor_t *self, sconn_t *c, const char *msg)
{
    if (c->phase < PH_UPGRADED || c->closing) {
        sconn_close(self, c);
        return;
    }
    berth_log_info("streaming: session ended with an error",
                   "conn=%llu kind=%s id=%.12s error=\"%s\"", (unsigned long long)c->serial,
                   c->req ? sess_kind_name(c->req->kind) : "?",
                   c->req && c->req->id ? c->req->id : "", msg);
    kill_command(c);
    if (c->req && c->req->kind == BERTH_STREAM_PORTFORWARD) {
        fin_all(c);
        sconn_close(self, c);
        return;
    }
    finish(self, c, msg, 0);
}

/* ---- exec ---------------------------------------------------------------- */

/* Hands what the client typed before there was anywhere to put it to the
 * endpoint that now takes stdin. */
static void flush_early_in(sconn_t *c, sep_t *e, size_t packet_max)
{
    sess_t *s = S(c);
    const uint8_t *p = s->early_in.data + s->early_in.off;
    size_t n = berth_bytebuf_pending(&s->early_in);
    for (size_t off = 0; off < n; off += packet_max) {
        size_t k = n - off < packet_max ? n - off : packet_max;
        sconn_ep_write(c, e, p + off, k);
    }
    berth_bytebuf_free(&s->early_in);
    if (s->stdin_fin && (e->role == EP_STDIN || (e->role == EP_ATTACH && !c->req->tty)))
        sconn_ep_shut_write(c, e);
}

static int make_pipe(int fds[2], berth_err_t *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return berth_err_errno(err, errno, "pipe");
    return 0;
}

static void apply_size(sconn_t *c)
{
    sess_t *s = S(c);
    if (!s->have_size)
        return;
    if (s->pty) {
        struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
        if (ioctl(s->pty->fd, TIOCSWINSZ, &ws) < 0)
            berth_log_debug("streaming: resize failed", "errno=%d", errno);
        /* the runtime holds the other side as its terminal without it
         * being its controlling one: it hears of the new size by this
         * signal, and copies it to the command's terminal */
        if (s->spawned && !s->exited)
            berth_proc_kill(s->proc, SIGWINCH);
    } else if (c->req && c->req->kind == BERTH_STREAM_ATTACH) {
        if (berth_handle_valid(c->req->monitor)) {
            berth_monitor_resize(c->req->monitor, c->req->id, s->rows, s->cols);
            return;
        }
        berth_err_t err = NULL;
        if (berth_conmon_resize(c->req->bundle, s->rows, s->cols, &err) < 0) {
            berth_log_debug("streaming: attach resize failed", "error=\"%s\"", err->msg);
            berth_err_free(&err);
        }
    }
}

static int exec_start(berth_actor_t *self, sconn_t *c, berth_err_t *err)
{
    sess_t *s = S(c);
    berth_stream_req_t *r = c->req;
    bool tty = r->tty;
    BERTH_AUTO_CLOSE int in_r = -1, in_w = -1, out_r = -1, out_w = -1, err_r = -1, err_w = -1;
    int p[2];
    if (!tty && r->in) {
        if (make_pipe(p, err) < 0)
            return -1;
        in_r = p[0], in_w = p[1];
    }
    if (!tty && r->out) {
        if (make_pipe(p, err) < 0)
            return -1;
        out_r = p[0], out_w = p[1];
    }
    if (!tty && r->err) {
        if (make_pipe(p, err) < 0)
            return -1;
        err_r = p[0], err_w = p[1];
    }
    s->pid_file = berth_asprintf("%s/exec-stream-%llu-%d.pid", r->pid_dir,
                                 (unsigned long long)c->serial, (int)getpid());
    unlink(s->pid_file);
    /* With a terminal, the runtime (in the foreground: a detached exec's
     * command would be reparented away from us, and its exit code lost)
     * makes the command's pty and copies between it and its own stdio, which
     * must be a terminal too: ours, whose master we keep. */
    BERTH_AUTO_CLOSE int pty_m = -1, pty_s = -1;
    if (tty) {
        pty_m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (pty_m < 0 || grantpt(pty_m) < 0 || unlockpt(pty_m) < 0)
            return berth_err_errno(err, errno, "a terminal for exec");
        char name[64];
        if (ptsname_r(pty_m, name, sizeof(name)) != 0)
            return berth_err_errno(err, errno, "a terminal for exec: ptsname");
        pty_s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (pty_s < 0)
            return berth_err_errno(err, errno, "a terminal for exec: open %s", name);
        if (s->have_size) {
            struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
            (void)ioctl(pty_m, TIOCSWINSZ, &ws);
        }
    }
    const char *argv[64 + 16];
    size_t n = 0, nargs = 0;
    for (; r->argv[nargs]; nargs++)
        ;
    const char **av = nargs + 16 > 80 ? berth_calloc(nargs + 16, sizeof(char *)) : argv;
    av[n++] = r->runtime_path;
    if (r->runtime_root && r->runtime_root[0]) {
        av[n++] = "--root";
        av[n++] = r->runtime_root;
    }
    av[n++] = "exec";
    av[n++] = "--pid-file";
    av[n++] = s->pid_file;
    if (tty)
        av[n++] = "--tty";
    if (s->process_path) {
        av[n++] = "--process";
        av[n++] = s->process_path;
    }
    av[n++] = r->id;
    for (size_t i = 0; i < nargs && s->process_path == NULL; i++)
        av[n++] = r->argv[i];
    av[n] = NULL;
    char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    berth_proc_spec_t ps = {
            .argv = (char *const *)av,
            .envp = envp,
            .stdin_mode = in_r >= 0 || tty ? BERTH_PROC_FD : BERTH_PROC_NULL,
            .stdin_fd = tty ? pty_s : in_r,
            .stdout_mode = out_w >= 0 || tty ? BERTH_PROC_FD : BERTH_PROC_NULL,
            .stdout_fd = tty ? pty_s : out_w,
            /* without a stderr of the client's, the runtime's own errors
             * are kept for the error channel */
            .stderr_mode = err_w >= 0 || tty ? BERTH_PROC_FD : BERTH_PROC_CAPTURE,
            .stderr_fd = tty ? pty_s : err_w,
            .new_session = tty,
            .max_output = 8192,
            .eof_grace_ns = 200ull * 1000000ull,
    };
    pid_t pid = 0;
    int rc = berth_proc_run(c->me, &ps, TAG_PROC, &s->proc, &pid, err);
    if (av != argv)
        berth_free(av);
    if (rc < 0)
        return -1;
    s->spawned = true;
    berth_log_debug("streaming: exec started", "conn=%llu id=%.12s tty=%d stdin=%d runtime_pid=%d",
                    (unsigned long long)c->serial, r->id, tty, r->in, (int)pid);
    if (in_w >= 0) {
        s->in = sconn_ep_add(c, berth_steal_fd(&in_w), EP_STDIN);
        flush_early_in(c, s->in, SIZE_MAX);
    }
    if (out_r >= 0) {
        s->out = sconn_ep_add(c, berth_steal_fd(&out_r), EP_STDOUT);
        s->out->readable = true;
    }
    if (err_r >= 0) {
        s->err = sconn_ep_add(c, berth_steal_fd(&err_r), EP_STDERR);
        s->err->readable = true;
    }
    if (tty) {
        s->pty = sconn_ep_add(c, berth_steal_fd(&pty_m), EP_PTY);
        /* read even when nobody wants the output, so the command never
         * blocks on a full terminal */
        s->pty->readable = true;
        flush_early_in(c, s->pty, SIZE_MAX);
    }
    (void)self;
    return 0;
}

static void maybe_finish_exec(berth_actor_t *self, sconn_t *c)
{
    sess_t *s = S(c);
    if (!s->exited || s->finished)
        return;
    bool out_open =
            (s->out && !s->out->reof) || (s->err && !s->err->reof) || (s->pty && !s->pty->reof);
    if (out_open && berth_now_ns() - s->exit_ns < EXIT_GRACE_NS)
        return;
    if (s->exit_signal) {
        BERTH_AUTO_FREE char *msg =
                berth_asprintf("the command was killed by signal %d", s->exit_signal);
        finish(self, c, s->kill_sent ? "the command was killed: the client went away" : msg, 0);
        return;
    }
    if (s->runtime_err && s->exit_code != 0 && s->exit_code >= 125) {
        /* the runtime's own failure (no such container, exec failed...):
         * its message is what the client needs */
        finish(self, c, s->runtime_err, 0);
        return;
    }
    finish(self, c, NULL, s->exit_code);
}

static void on_proc_exit(berth_actor_t *self, sconn_t *c, berth_proc_exit_msg_t *m)
{
    sess_t *s = S(c);
    s->exited = true;
    s->exit_ns = berth_now_ns();
    if (m->code == CLD_EXITED) {
        s->exit_code = m->status;
    } else if (m->code == CLD_KILLED || m->code == CLD_DUMPED) {
        s->exit_signal = m->status;
    } else {
        s->exit_code = 255;
    }
    if (m->err_len > 0) {
        size_t n = m->err_len;
        while (n > 0 && (m->err[n - 1] == '\n' || m->err[n - 1] == ' '))
            n--;
        s->runtime_err = berth_strndup((const char *)m->err, n);
    }
    if (s->pid_file)
        unlink(s->pid_file);
    if (m->code == CLD_EXITED && m->status == 255)
        berth_conmon_exec_failed(c->req->runtime_path);
    berth_log_debug("streaming: exec ended", "conn=%llu exit=%d signal=%d",
                    (unsigned long long)c->serial, s->exit_code, s->exit_signal);
    maybe_finish_exec(self, c);
}

/* ---- attach -------------------------------------------------------------- */

static void attach_got_fd(berth_actor_t *self, sconn_t *c, int fd, const char *error)
{
    sess_t *s = S(c);
    s->attach_waiting = false;
    if (fd < 0) {
        BERTH_AUTO_FREE char *msg =
                berth_asprintf("cannot attach to container %s: %s", c->req->id, error);
        sess_fail(self, c, msg);
        return;
    }
    if (c->closing) {
        close(fd);
        return;
    }
    s->att = sconn_ep_add(c, fd, EP_ATTACH);
    s->att->is_socket = true;
    s->att->readable = true;
    /* conmon writes to its attachers blocking: a channel we stopped reading
     * would stall the container's log. So it is read always, and a client
     * that falls too far behind is detached instead (sess_on_ep_data). */
    s->att->never_pause = true;
    flush_early_in(c, s->att, ATTACH_PACKET_MAX);
    apply_size(c);
}

static void attach_start(berth_actor_t *self, sconn_t *c)
{
    sess_t *s = S(c);
    berth_stream_req_t *r = c->req;
    if (berth_handle_valid(r->monitor)) {
        s->attach_waiting = true;
        berth_err_t err = NULL;
        if (berth_monitor_attach(r->monitor, r->id, c->me, c->serial, &err) < 0) {
            attach_got_fd(self, c, -1, err->msg);
            berth_err_free(&err);
        }
        return;
    }
    berth_err_t err = NULL;
    int fd = berth_conmon_attach_open(r->bundle, &err);
    if (fd < 0) {
        attach_got_fd(self, c, -1, err->msg);
        berth_err_free(&err);
        return;
    }
    attach_got_fd(self, c, fd, NULL);
}

/* ---- port-forward -------------------------------------------------------- */

static void netsock_free(berth_msg_t *msg)
{
    netsock_msg_t *m = (netsock_msg_t *)msg;
    if (m->fd >= 0)
        close(m->fd);
    berth_free(m->netns);
    berth_free(m);
}

static int connect_local(int port, int *errnum)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
        return fd;
    *errnum = errno;
    if (fd >= 0)
        close(fd);
    /* a server bound to ::1 only */
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    a6.sin6_addr = in6addr_loopback;
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Pool job: a connected socket to localhost:port inside the netns. The
 * thread enters the namespace and comes back; the socket stays in it. */
static void netsock_job(void *arg)
{
    netsock_msg_t *m = arg;
    m->fd = -1;
    int self_ns = -1, ns = -1;
    if (m->netns && m->netns[0]) {
        self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ns = open(m->netns, O_RDONLY | O_CLOEXEC);
        if (self_ns < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
            m->error = errno;
            goto out;
        }
    }
    m->fd = connect_local(m->port, &m->error);
    if (self_ns >= 0 && setns(self_ns, CLONE_NEWNET) < 0) {
        /* a pool thread left in a pod's namespace would make the next
         * job's sockets there: never let it run again */
        berth_log_error("streaming: cannot return to berthd's network namespace", "errno=%d",
                        errno);
        abort();
    }
out:
    if (self_ns >= 0)
        close(self_ns);
    if (ns >= 0)
        close(ns);
    if (m->fd >= 0)
        m->error = 0;
}

static fwd_t *fwd_by_id(sess_t *s, uint64_t id)
{
    for (fwd_t *f = s->fwds; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

static fwd_t *fwd_new(sess_t *s, int port, const char *reqid)
{
    fwd_t *f = berth_calloc(1, sizeof(*f));
    f->id = ++s->next_fwd;
    f->port = port;
    snprintf(f->reqid, sizeof(f->reqid), "%s", reqid ? reqid : "");
    f->next = s->fwds;
    s->fwds = f;
    return f;
}

static void fwd_error(sconn_t *c, fwd_t *f, const char *what)
{
    if (f->error && !f->error->local_fin) {
        BERTH_AUTO_FREE char *msg = berth_asprintf("error forwarding port %d to pod %s: %s",
                                                   f->port, c->req->id ? c->req->id : "", what);
        sconn_chan_send(c, f->error, msg, strlen(msg));
    }
}

static void fwd_done(berth_actor_t *self, sconn_t *c, fwd_t *f)
{
    if (f->done)
        return;
    f->done = true;
    berth_log_debug("streaming: forward done",
                    "conn=%llu port=%d request=%s sock_eof=%d client_fin=%d",
                    (unsigned long long)c->serial, f->port, f->reqid, f->sock_eof, f->client_fin);
    if (f->sock) {
        /* the endpoint may outlive the forward (sess_reap) */
        f->sock->owner = NULL;
        sconn_ep_close(self, c, f->sock);
    }
    f->sock = NULL;
    if (f->data && !f->data->local_fin)
        sconn_chan_fin(c, f->data);
    if (f->error && !f->error->local_fin)
        sconn_chan_fin(c, f->error);
    /* Over WebSocket's channels a session carries one connection per port
     * and has no way to end one alone: it ends with the last of them. */
    if (c->wire == W_WS) {
        bool all = true;
        for (fwd_t *x = S(c)->fwds; x && all; x = x->next)
            all = x->done;
        if (all)
            sconn_close(self, c);
    }
}

static void fwd_connect(sconn_t *c, fwd_t *f)
{
    sess_t *s = S(c);
    f->connecting = true;
    netsock_msg_t *m = berth_msg_new(BERTH_MSG_STREAM_NETSOCK, sizeof(*m));
    m->hdr.free = netsock_free;
    m->conn = c->me;
    m->netns = c->req->netns ? berth_strdup(c->req->netns) : NULL;
    m->port = f->port;
    m->fwd_id = f->id;
    m->fd = -1;
    s->pending_jobs++;
    berth_blocking_run(netsock_job, m, c->me, &m->hdr);
}

static void on_netsock(berth_actor_t *self, sconn_t *c, netsock_msg_t *m)
{
    sess_t *s = S(c);
    s->pending_jobs--;
    fwd_t *f = fwd_by_id(s, m->fwd_id);
    if (f == NULL || f->done || c->closing)
        return;
    f->connecting = false;
    if (m->fd < 0) {
        BERTH_AUTO_FREE char *what = berth_asprintf("failed to connect to localhost:%d inside "
                                                    "the pod's network namespace: %s",
                                                    f->port, strerror(m->error));
        fwd_error(c, f, what);
        fwd_done(self, c, f);
        return;
    }
    f->connected = true;
    f->sock = sconn_ep_add(c, m->fd, EP_FWD);
    m->fd = -1;
    f->sock->is_socket = true;
    f->sock->readable = true;
    f->sock->owner = f;
    if (berth_bytebuf_pending(&f->early) > 0)
        sconn_ep_write(c, f->sock, f->early.data + f->early.off, berth_bytebuf_pending(&f->early));
    berth_bytebuf_free(&f->early);
    if (f->client_fin)
        sconn_ep_shut_write(c, f->sock);
}

/* ---- the session's entry points ------------------------------------------ */

static bool have(sconn_t *c, int kind)
{
    return sconn_chan_find(c, kind) != NULL;
}

/* Remote command over SPDY: the streams the client must open before the
 * command runs, as the options of the request say. */
static bool streams_ready(sconn_t *c)
{
    berth_stream_req_t *r = c->req;
    if (!have(c, CH_ERROR))
        return false;
    if (r->in && !have(c, CH_STDIN))
        return false;
    if (r->out && !have(c, CH_STDOUT))
        return false;
    if (r->err && !r->tty && !have(c, CH_STDERR))
        return false;
    if (r->tty && c->version >= 3 && !have(c, CH_RESIZE))
        return false;
    return true;
}

typedef struct process_msg {
    berth_msg_t hdr;
    char *bundle, *path;
    char **argv;
    bool tty;
    unsigned rows, cols;
    char *error; /* NULL: written */
} process_msg_t;

static void process_free(berth_msg_t *msg)
{
    process_msg_t *m = (process_msg_t *)msg;
    berth_free(m->bundle);
    berth_free(m->path);
    berth_strv_free(m->argv);
    berth_free(m->error);
    berth_free(m);
}

/* Pool job: the container's own process with the command's arguments
 * (berth_ocispec_exec_process_write), a terminal sized from the first
 * instant when the exec has one. */
static void process_job(void *arg)
{
    process_msg_t *m = arg;
    berth_err_t err = NULL;
    if (berth_ocispec_exec_process_write(m->bundle, (const char *const *)m->argv, m->tty, m->rows,
                                         m->cols, m->path, &err) < 0) {
        m->error = berth_strdup(err->msg);
        berth_err_free(&err);
    }
}

/* A terminal's first size comes right behind the streams (the client sends
 * it as soon as its resize stream is up): the command starts once it is
 * there, or after this long without it, so a program that reads its size
 * at once (stty size, a shell's first prompt) sees the right one. */
#define SIZE_WAIT_NS (250ull * 1000000ull)

static void start_session(berth_actor_t *self, sconn_t *c)
{
    if (c->session_started)
        return;
    berth_stream_req_t *r = c->req;
    sess_t *s = S(c);
    if (r->kind == BERTH_STREAM_EXEC && r->tty && !s->have_size && sconn_chan_find(c, CH_RESIZE)) {
        if (!s->size_wait) {
            s->size_wait = true;
            berth_timer_after(self, SIZE_WAIT_NS,
                              berth_msg_new(BERTH_MSG_STREAM_SIZE_WAIT, sizeof(berth_msg_t)));
        }
        return;
    }
    /* Every exec gets the container's process (user, groups, cwd...):
     * crun's exec without one starts the command as root in "/". */
    if (r->kind == BERTH_STREAM_EXEC && r->bundle && s->process_path == NULL) {
        if (!s->process_pending) {
            s->process_pending = true;
            s->pending_jobs++;
            process_msg_t *m = berth_msg_new(BERTH_MSG_STREAM_PROCESS, sizeof(*m));
            m->hdr.free = process_free;
            m->bundle = berth_strdup(r->bundle);
            m->path = berth_asprintf("%s/exec-stream-%llu-%d.json", r->pid_dir,
                                     (unsigned long long)c->serial, (int)getpid());
            m->argv = berth_strv_dup(r->argv, -1);
            m->tty = r->tty;
            m->rows = s->rows, m->cols = s->cols;
            berth_blocking_run(process_job, m, c->me, &m->hdr);
        }
        return;
    }
    c->session_started = true;
    if (r->kind == BERTH_STREAM_EXEC) {
        berth_err_t err = NULL;
        if (exec_start(self, c, &err) < 0) {
            BERTH_AUTO_FREE char *msg =
                    berth_asprintf("cannot exec in container %s: %s", r->id, err->msg);
            berth_err_free(&err);
            sess_fail(self, c, msg);
        }
    } else if (r->kind == BERTH_STREAM_ATTACH) {
        attach_start(self, c);
    }
}

void sess_on_upgraded(berth_actor_t *self, sconn_t *c)
{
    berth_stream_req_t *r = c->req;
    /* a port-forward session runs from the upgrade on: its client opens
     * streams whenever a connection comes, for as long as it likes */
    if (r->kind == BERTH_STREAM_PORTFORWARD)
        c->session_started = true;
    if (c->wire != W_WS)
        return;
    if (r->kind == BERTH_STREAM_PORTFORWARD) {
        sess_t *s = S(c);
        for (size_t i = 0; i < c->nws_ports; i++) {
            fwd_t *f = fwd_new(s, c->ws_ports[i], NULL);
            f->data = sconn_chan_add(c, CH_PF_DATA, 0, (int)(2 * i));
            f->error = sconn_chan_add(c, CH_PF_ERROR, 0, (int)(2 * i + 1));
            f->data->owner = f->error->owner = f;
            f->data->port = f->error->port = f->port;
            fwd_connect(c, f);
        }
        c->session_started = true;
        return;
    }
    sconn_chan_add(c, CH_ERROR, 0, CH_ERROR);
    if (r->in)
        sconn_chan_add(c, CH_STDIN, 0, CH_STDIN);
    if (r->out)
        sconn_chan_add(c, CH_STDOUT, 0, CH_STDOUT);
    if (r->err && !r->tty)
        sconn_chan_add(c, CH_STDERR, 0, CH_STDERR);
    if (r->tty)
        sconn_chan_add(c, CH_RESIZE, 0, CH_RESIZE);
    start_session(self, c);
}

bool sess_on_chan_open(berth_actor_t *self, sconn_t *c, schan_t *ch)
{
    berth_stream_req_t *r = c->req;
    if (r->kind == BERTH_STREAM_PORTFORWARD) {
        if (ch->kind != CH_PF_DATA && ch->kind != CH_PF_ERROR)
            return false;
        sess_t *s = S(c);
        fwd_t *f = NULL;
        for (fwd_t *x = s->fwds; x; x = x->next)
            if (strcmp(x->reqid, ch->reqid) == 0 && !x->done)
                f = x;
        if (f == NULL)
            f = fwd_new(s, ch->port, ch->reqid);
        if ((ch->kind == CH_PF_DATA ? f->data : f->error) != NULL || f->port != ch->port)
            return false; /* a second stream of one kind for one request */
        if (ch->kind == CH_PF_DATA)
            f->data = ch;
        else
            f->error = ch;
        ch->owner = f;
        if (f->data && f->error)
            fwd_connect(c, f);
        return true;
    }
    if (ch->kind > CH_RESIZE || sconn_chan_find(c, ch->kind) != ch)
        return false; /* unknown, or a second stream of a kind */
    if (ch->kind == CH_ERROR) {
        /* the client only reads it */
    }
    if (!c->session_started && streams_ready(c))
        start_session(self, c);
    return true;
}

static void on_resize_bytes(berth_actor_t *self, sconn_t *c, const uint8_t *p, size_t n)
{
    sess_t *s = S(c);
    berth_bytebuf_put(&s->resize, p, n);
    /* the client's encoder writes one JSON object per size, back to back */
    for (;;) {
        const char *b = (const char *)s->resize.data + s->resize.off;
        size_t len = berth_bytebuf_pending(&s->resize);
        size_t i = 0, start = 0;
        int depth = 0;
        bool found = false;
        while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
            i++;
        start = i;
        for (; i < len; i++) {
            if (b[i] == '{')
                depth++;
            else if (b[i] == '}' && --depth == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            if (len > 4096) /* garbage that never closes */
                s->resize.off = s->resize.len = 0;
            return;
        }
        json_t *o = json_loadb(b + start, i + 1 - start, 0, NULL);
        berth_bytebuf_consume(&s->resize, i + 1);
        if (o) {
            json_int_t w = json_integer_value(json_object_get(o, "Width"));
            json_int_t h = json_integer_value(json_object_get(o, "Height"));
            json_decref(o);
            if (w > 0 && h > 0 && w <= 65535 && h <= 65535) {
                s->cols = (unsigned short)w;
                s->rows = (unsigned short)h;
                s->have_size = true;
                apply_size(c);
                if (s->size_wait && !c->session_started) {
                    s->size_wait = false;
                    start_session(self, c);
                }
            }
        }
    }
}

void sess_on_chan_data(berth_actor_t *self, sconn_t *c, schan_t *ch, const uint8_t *p, size_t n)
{
    (void)self;
    sess_t *s = S(c);
    switch (ch->kind) {
    case CH_STDIN: {
        sep_t *e = s->in ? s->in : s->pty ? s->pty : s->att;
        if (e == NULL) {
            /* the client writes at once; the command or the attach channel
             * is not there yet: held (bounded by sess_input_full) */
            if (!s->finished)
                berth_bytebuf_put(&s->early_in, p, n);
            return;
        }
        if (e == s->att) {
            for (size_t off = 0; off < n; off += ATTACH_PACKET_MAX) {
                size_t k = n - off < ATTACH_PACKET_MAX ? n - off : ATTACH_PACKET_MAX;
                sconn_ep_write(c, e, p + off, k);
            }
        } else {
            sconn_ep_write(c, e, p, n);
        }
        return;
    }
    case CH_RESIZE:
        on_resize_bytes(self, c, p, n);
        return;
    case CH_PF_DATA: {
        fwd_t *f = ch->owner;
        if (f && f->sock && !f->done)
            sconn_ep_write(c, f->sock, p, n);
        else if (f && !f->done) {
            /* the client writes at once; the connection is still being
             * made: held until it is (the socket is not read meanwhile
             * once this is full: sess_input_full) */
            berth_bytebuf_put(&f->early, p, n);
        }
        return;
    }
    default:
        return; /* the error channel and unknown ones carry nothing inbound */
    }
}

void sess_on_chan_fin(berth_actor_t *self, sconn_t *c, schan_t *ch)
{
    sess_t *s = S(c);
    if (ch->kind == CH_STDIN) {
        s->stdin_fin = true;
        if (s->in)
            sconn_ep_shut_write(c, s->in);
        if (c->req->kind == BERTH_STREAM_ATTACH && !c->req->tty) {
            /* our input ends once what is queued is written: a detach of
             * our input. With stdin_once the monitor closes the container's
             * stdin then and its output goes on until it exits; without,
             * the container keeps its stdin for the next attacher and this
             * attach is over (sess_on_ep_write_shut), as the kubelet's
             * runtimes do it */
            if (s->att)
                sconn_ep_shut_write(c, s->att);
            else if (!c->req->stdin_once && !s->attach_waiting)
                finish(self, c, NULL, 0);
        }
        /* over a terminal, the end of input is the client's business
         * (Ctrl-D); the terminal stays */
    } else if (ch->kind == CH_PF_DATA) {
        fwd_t *f = ch->owner;
        if (f == NULL)
            return;
        f->client_fin = true;
        if (f->sock)
            sconn_ep_shut_write(c, f->sock);
    }
}

void sess_on_peer_gone(berth_actor_t *self, sconn_t *c)
{
    sess_t *s = S(c);
    if (s->spawned && !s->exited) {
        berth_log_info("streaming: the client went away; killing its command", "conn=%llu id=%.12s",
                       (unsigned long long)c->serial, c->req ? c->req->id : "");
        kill_command(c);
    }
    s->finished = true;
    sconn_close(self, c);
}

schan_t *sess_ep_direct_chan(sconn_t *c, sep_t *e)
{
    if (e->role != EP_FWD)
        return NULL;
    fwd_t *f = e->owner;
    if (f == NULL || f->data == NULL || !sconn_chan_direct(c, f->data))
        return NULL;
    return f->data;
}

void sess_on_ep_data(berth_actor_t *self, sconn_t *c, sep_t *e, const uint8_t *p, size_t n)
{
    sess_t *s = S(c);
    schan_t *ch = NULL;
    switch (e->role) {
    case EP_STDOUT:
    case EP_PTY:
        ch = sconn_chan_find(c, CH_STDOUT);
        break;
    case EP_STDERR:
        ch = sconn_chan_find(c, CH_STDERR);
        break;
    case EP_ATTACH:
        if (n < 1)
            return;
        ch = sconn_chan_find(c, p[0] == ATTACH_STDERR && !c->req->tty ? CH_STDERR : CH_STDOUT);
        p++, n--;
        break;
    case EP_FWD: {
        fwd_t *f = e->owner;
        if (f && f->data && !f->data->local_fin)
            sconn_chan_send(c, f->data, p, n);
        return;
    }
    default:
        break;
    }
    if (ch && !ch->local_fin && n > 0)
        sconn_chan_send(c, ch, p, n);
    if (e == s->att && sconn_out_pending(c) > 4 * c->cfg.max_buffered) {
        berth_log_info("streaming: attach client too slow: detached",
                       "conn=%llu id=%.12s queued=%zu", (unsigned long long)c->serial, c->req->id,
                       sconn_out_pending(c));
        sess_fail(self, c, "the client fell too far behind the container's output: detached");
    }
}

void sess_on_ep_eof(berth_actor_t *self, sconn_t *c, sep_t *e, int res)
{
    sess_t *s = S(c);
    switch (e->role) {
    case EP_STDOUT:
    case EP_STDERR:
    case EP_PTY:
        maybe_finish_exec(self, c);
        return;
    case EP_ATTACH:
        /* the container ended, or its monitor went away */
        (void)res;
        finish(self, c, NULL, 0);
        return;
    case EP_FWD: {
        fwd_t *f = e->owner;
        if (f == NULL)
            return;
        f->sock_eof = true;
        if (f->data && !f->data->local_fin)
            sconn_chan_fin(c, f->data);
        /* over WebSocket the client cannot half-close a channel: the pod's
         * end is the forward's end */
        if (f->client_fin || f->data == NULL || f->data->remote_fin || c->wire == W_WS)
            fwd_done(self, c, f);
        return;
    }
    default:
        (void)s;
        return;
    }
}

void sess_on_ep_write_shut(berth_actor_t *self, sconn_t *c, sep_t *e)
{
    if (e->role == EP_STDIN) {
        /* the command reads EOF */
        sess_t *s = S(c);
        sconn_ep_close(self, c, e);
        s->in = NULL;
    } else if (e->role == EP_ATTACH) {
        shutdown(e->fd, SHUT_WR); /* a detach of our input (io/attach.h) */
        if (!c->req->stdin_once)
            finish(self, c, NULL, 0);
    } else if (e->role == EP_FWD) {
        shutdown(e->fd, SHUT_WR);
        fwd_t *f = e->owner;
        if (f && f->sock_eof)
            fwd_done(self, c, f);
    }
}

void sess_on_ep_write_error(berth_actor_t *self, sconn_t *c, sep_t *e, int res)
{
    (void)res;
    if (e->role == EP_FWD) {
        fwd_t *f = e->owner;
        if (f) {
            fwd_error(c, f, "the connection in the pod was reset");
            fwd_done(self, c, f);
        }
    }
    /* a command that stopped reading its stdin: nothing to do */
}

void sess_on_ep_extra(berth_actor_t *self, sconn_t *c, sep_t *e, berth_cqe_msg_t *m)
{
    (void)self, (void)c, (void)e, (void)m;
}

void sess_on_cqe(berth_actor_t *self, sconn_t *c, berth_cqe_msg_t *m)
{
    (void)self, (void)c, (void)m;
}

void sess_on_msg(berth_actor_t *self, sconn_t *c, berth_msg_t *msg)
{
    switch (msg->type) {
    case BERTH_MSG_PROC_EXIT:
        on_proc_exit(self, c, (berth_proc_exit_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_NETSOCK:
        on_netsock(self, c, (netsock_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_KILLED:
        on_killed(c, (kill_msg_t *)msg);
        break;
    case BERTH_MSG_STREAM_PROCESS: {
        process_msg_t *m = (process_msg_t *)msg;
        sess_t *s = S(c);
        s->pending_jobs--;
        s->process_pending = false;
        if (c->closing)
            break;
        if (m->error) {
            sess_fail(self, c, m->error);
            break;
        }
        s->process_path = berth_steal_ptr(&m->path);
        start_session(self, c);
        break;
    }
    case BERTH_MSG_STREAM_SIZE_WAIT: {
        sess_t *s = S(c);
        if (s->size_wait && !c->session_started && !c->closing) {
            s->size_wait = false;
            s->have_size = true; /* none came: start with the default */
            s->rows = 24, s->cols = 80;
            start_session(self, c);
        }
        break;
    }
    case BERTH_MSG_MONITOR_ATTACHED: {
        berth_monitor_attached_msg_t *m = (berth_monitor_attached_msg_t *)msg;
        attach_got_fd(self, c, berth_steal_fd(&m->fd), m->error ? m->error->msg : "no answer");
        break;
    }
    default:
        break;
    }
}

void sess_on_tick(berth_actor_t *self, sconn_t *c)
{
    maybe_finish_exec(self, c);
}

void sess_on_close(berth_actor_t *self, sconn_t *c)
{
    (void)self;
    sess_t *s = S(c);
    for (fwd_t *f = s->fwds; f; f = f->next)
        f->sock = NULL; /* the connection closes every endpoint */
}

static bool chan_over(const schan_t *ch)
{
    return ch == NULL || ch->reset || (ch->local_fin && ch->remote_fin);
}

void sess_reap(sconn_t *c)
{
    sess_t *s = c->sess;
    /* over WebSocket the channels are the session's fixed table, and the
     * session ends with its last forward */
    if (s == NULL || c->wire != W_SPDY)
        return;
    for (fwd_t **pp = &s->fwds; *pp;) {
        fwd_t *f = *pp;
        if (!f->done || !chan_over(f->data) || !chan_over(f->error)) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        if (f->data)
            sconn_chan_del(c, f->data);
        if (f->error)
            sconn_chan_del(c, f->error);
        berth_bytebuf_free(&f->early);
        berth_free(f);
    }
}

bool sess_input_full(const sconn_t *c)
{
    const sess_t *s = c->sess;
    if (s == NULL)
        return false;
    for (const fwd_t *f = s->fwds; f; f = f->next)
        if (berth_bytebuf_pending(&f->early) >= c->cfg.max_buffered)
            return true;
    return berth_bytebuf_pending(&s->early_in) >= c->cfg.max_buffered;
}

bool sess_quiet(const sconn_t *c)
{
    const sess_t *s = c->sess;
    if (s == NULL)
        return true;
    /* a running runtime's exit message and a pool job's answer are waited
     * for, so nothing arrives at a dead actor holding an fd */
    return s->pending_jobs == 0 && (!s->spawned || s->exited) && !s->attach_waiting;
}

void sess_fini(sconn_t *c)
{
    sess_t *s = c->sess;
    if (s == NULL)
        return;
    if (s->pid_file)
        unlink(s->pid_file);
    berth_free(s->pid_file);
    if (s->process_path)
        unlink(s->process_path);
    berth_free(s->process_path);
    berth_free(s->runtime_err);
    berth_bytebuf_free(&s->resize);
    berth_bytebuf_free(&s->early_in);
    for (fwd_t *f = s->fwds; f;) {
        fwd_t *n = f->next;
        berth_bytebuf_free(&f->early);
        berth_free(f);
        f = n;
    }
    berth_free(s);
}
