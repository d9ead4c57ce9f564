/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End to end: the gRPC server (listener and connection actors on the threaded
 * engine) with an echo dispatcher actor, driven by berth's blocking client
 * over a real unix socket. Unary, many streams, deadlines, resets, streaming,
 * garbage, refusing a second server, replacing a stale socket, socket mode,
 * and stop. Skips (77) when io_uring is unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/metrics.h"
#include "engine/sched.h"
#include "io/grpc.h"
#include "io/grpc_client.h"

static int n_test;
static int failed;

static void ok(int cond, const char *desc)
{
    n_test++;
    if (!cond)
        failed = 1;
    printf("%sok %d - %s\n", cond ? "" : "not ", n_test, desc);
    fflush(stdout);
}

/* Counters the dispatcher bumps and the test thread reads. */
static unsigned cancels[6]; /* by reason */
static unsigned hangs_seen;
static unsigned stop_done;

static unsigned get(unsigned *p)
{
    /* Acquire: pairs with the dispatcher's release increment, so whatever
     * the dispatcher did before counting is visible here. */
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void bump(unsigned *p)
{
    /* Release: see get(). */
    __atomic_fetch_add(p, 1, __ATOMIC_RELEASE);
}

static int wait_for(unsigned *p, unsigned want)
{
    for (int i = 0; i < 500; i++) {
        if (get(p) >= want)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

#define MSG_STOP_DONE (BERTH_MSG_USER + 1)

/* What calls count into (berth_grpc_call_set_stats): Unary and Hang. */
static berth_grpc_stats_t unary_stats, hang_stats;

static void stats_init(berth_grpc_stats_t *st, const char *op)
{
    static const char *const l_op[] = {"operation", NULL};
    static const char *const l_code[] = {"operation", "code", NULL};
    static const uint64_t bounds[] = {1000000, 1000000000};
    st->operation = op;
    st->total = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_COUNTER, .name = "test_calls_total", .labels = l_op}),
            op);
    st->errors = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_COUNTER, .name = "test_errors_total", .labels = l_op}),
            op);
    st->latency_last = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){
                    .type = BERTH_METRIC_GAUGE, .name = "test_latency_last", .labels = l_op}),
            op);
    st->latency = berth_metrics_series1(
            berth_metrics_family(&(berth_metric_desc_t){.type = BERTH_METRIC_HISTOGRAM,
                                                        .name = "test_latency",
                                                        .labels = l_op,
                                                        .bounds = bounds,
                                                        .nbounds = 2}),
            op);
    st->by_code = berth_metrics_family(&(berth_metric_desc_t){
            .type = BERTH_METRIC_COUNTER, .name = "test_codes_total", .labels = l_code});
}

typedef struct echo {
    berth_grpc_call_t *held[64];
    int nheld;
} echo_t;

static void echo_receive(berth_actor_t *self, berth_msg_t *msg)
{
    echo_t *e = berth_actor_state(self);
    if (msg->type == BERTH_MSG_GRPC_REQUEST) {
        berth_grpc_request_msg_t *r = (berth_grpc_request_msg_t *)msg;
        berth_grpc_call_t *call = r->call;
        const char *m = r->method;
        if (strcmp(m, "/test.Echo/Unary") == 0)
            berth_grpc_call_set_stats(call, &unary_stats);
        else if (strcmp(m, "/test.Echo/Hang") == 0)
            berth_grpc_call_set_stats(call, &hang_stats);
        if (strcmp(m, "/test.Echo/Unary") == 0) {
            berth_grpc_reply(call, r->body, r->len);
        } else if (strcmp(m, "/test.Echo/Stream") == 0) {
            berth_grpc_send(call, "one", 3);
            berth_grpc_send(call, "two", 3);
            berth_grpc_send(call, "three", 5);
            berth_grpc_finish(call, BERTH_GRPC_OK, NULL);
        } else if (strcmp(m, "/test.Echo/Flood") == 0 && e->nheld < 64) {
            /* an open-ended stream: 8 MiB at once, to a client that does
             * not read; kept open (held) until io/ cancels it */
            static uint8_t chunk[4096];
            berth_grpc_call_set_owner(call, berth_actor_self(self));
            for (int i = 0; i < 2048; i++)
                berth_grpc_send(call, chunk, sizeof(chunk));
            e->held[e->nheld++] = berth_steal_ptr(&r->call);
            bump(&hangs_seen);
        } else if (strcmp(m, "/test.Echo/Hang") == 0 && e->nheld < 64) {
            berth_grpc_call_set_owner(call, berth_actor_self(self));
            e->held[e->nheld++] = berth_steal_ptr(&r->call); /* kept past the message */
            bump(&hangs_seen);
        } else {
            berth_grpc_finish(call, BERTH_GRPC_UNIMPLEMENTED, "unknown method");
        }
    } else if (msg->type == BERTH_MSG_GRPC_CANCEL) {
        berth_grpc_cancel_msg_t *c = (berth_grpc_cancel_msg_t *)msg;
        for (int i = 0; i < e->nheld; i++) {
            if (e->held[i] == c->call) {
                /* A late answer must be dropped silently. */
                berth_grpc_finish(c->call, BERTH_GRPC_OK, NULL);
                berth_grpc_call_unref(e->held[i]);
                e->held[i] = e->held[--e->nheld];
                break;
            }
        }
        if (c->reason > 0 && c->reason < 6)
            bump(&cancels[c->reason]);
    } else if (msg->type == MSG_STOP_DONE) {
        bump(&stop_done);
    }
    berth_msg_free(msg);
}

static void echo_fini(void *state)
{
    echo_t *e = state;
    for (int i = 0; i < e->nheld; i++)
        berth_grpc_call_unref(e->held[i]);
    berth_free(e);
}

static const berth_actor_class_t echo_class = {"echo", echo_receive, echo_fini};

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct stream_ctx {
    int n;
    char got[3][8];
} stream_ctx_t;

static int on_stream_msg(void *ctx, const uint8_t *msg, size_t len)
{
    stream_ctx_t *s = ctx;
    if (s->n < 3 && len < 8) {
        memcpy(s->got[s->n], msg, len);
        s->got[s->n][len] = 0;
    }
    s->n++;
    return 0;
}

int main(void)
{
    berth_err_t err = NULL;
    stats_init(&unary_stats, "Unary");
    stats_init(&hang_stats, "Hang");
    berth_engine_config_t ec = {.workers = 2};
    if (berth_engine_start(&ec, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }
    printf("1..26\n");

    char dir[] = "/tmp/berth-grpc-test.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char path[96];
    snprintf(path, sizeof(path), "%s/cri.sock", dir);

    /* A stale socket file: bound, never listening, its server gone. */
    {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
    }

    berth_handle_t echo = berth_actor_spawn(&echo_class, berth_calloc(1, sizeof(echo_t)));
    berth_grpc_server_config_t cfg = {.path = path,
                                      .mode = 0660,
                                      .limits = {.max_stream_queued = 256 << 10},
                                      .dispatch = echo};
    berth_handle_t listener;
    int rc = berth_grpc_server_start(&cfg, &listener, &err);
    ok(rc == 0, "server starts over a stale socket file");
    if (rc < 0) {
        printf("# %s\n", err->msg);
        berth_engine_stop();
        berth_engine_join();
        return 1;
    }
    struct stat sb;
    ok(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 07777) == 0660,
       "socket mode is 0660");

    berth_handle_t l2;
    berth_err_t err2 = NULL;
    ok(berth_grpc_server_start(&cfg, &l2, &err2) < 0 && err2 &&
               strstr(err2->msg, "another server is listening on") != NULL,
       "a second server on the same path is refused");
    berth_err_free(&err2);

    berth_grpc_client_t *c = berth_grpc_client_new(path, &err);
    ok(c != NULL, "client connects");
    if (!c) {
        printf("# %s\n", err->msg);
        return 1;
    }

    uint8_t *resp = NULL;
    size_t rlen = 0;
    int status = -1;
    char *smsg = NULL;
    rc = berth_grpc_client_call(c, "/test.Echo/Unary", "hello", 5, 5000000000ull, &resp, &rlen,
                                &status, &smsg, &err);
    ok(rc == 0 && status == 0 && rlen == 5 && memcmp(resp, "hello", 5) == 0, "unary echo");
    berth_free(resp);
    berth_free(smsg);

    /* 100 concurrent streams on one connection */
    berth_grpc_client_call_t *calls[100];
    for (int i = 0; i < 100; i++) {
        char b[16];
        int n = snprintf(b, sizeof(b), "req-%d", i);
        calls[i] = berth_grpc_client_start_call(c, "/test.Echo/Unary", b, (size_t)n, 0, &err);
    }
    int good = 0;
    for (int i = 99; i >= 0; i--) {
        char b[16];
        int n = snprintf(b, sizeof(b), "req-%d", i);
        resp = NULL;
        if (calls[i] &&
            berth_grpc_client_wait(c, calls[i], &resp, &rlen, &status, NULL, &err) == 0 &&
            status == 0 && rlen == (size_t)n && memcmp(resp, b, rlen) == 0)
            good++;
        berth_free(resp);
    }
    ok(good == 100, "100 concurrent streams echoed");

    /* server streaming */
    stream_ctx_t sc = {0};
    rc = berth_grpc_client_call_stream(c, "/test.Echo/Stream", "", 0, 0, on_stream_msg, &sc,
                                       &status, NULL, &err);
    ok(rc == 0 && status == 0 && sc.n == 3 && strcmp(sc.got[0], "one") == 0 &&
               strcmp(sc.got[2], "three") == 0,
       "server streaming: 3 messages then OK");

    /* unknown method */
    rc = berth_grpc_client_call(c, "/test.Echo/Nope", "", 0, 0, NULL, NULL, &status, &smsg, &err);
    ok(rc == 0 && status == BERTH_GRPC_UNIMPLEMENTED && smsg && !strcmp(smsg, "unknown method"),
       "error status and message reach the client");
    berth_free(smsg);
    smsg = NULL;

    /* deadline */
    rc = berth_grpc_client_call(c, "/test.Echo/Hang", "", 0, 200000000ull, NULL, NULL, &status,
                                &smsg, &err);
    ok(rc == 0 && status == BERTH_GRPC_DEADLINE_EXCEEDED, "deadline: DEADLINE_EXCEEDED");
    berth_free(smsg);
    smsg = NULL;
    ok(wait_for(&cancels[BERTH_GRPC_CANCEL_DEADLINE], 1), "deadline: owner got a cancel message");
    {
        /* the owner's late OK (in the cancel's turn, before the bump) is
         * not counted again: the client saw DEADLINE_EXCEEDED */
        uint64_t sum = 0;
        int64_t n = berth_metric_value(hang_stats.latency, &sum);
        char desc[160];
        snprintf(desc, sizeof(desc),
                 "stats: the deadline counted once, as DEADLINE_EXCEEDED, with its latency "
                 "(%lld calls, %llu ns)",
                 (long long)berth_metric_value(hang_stats.total, NULL), (unsigned long long)sum);
        ok(berth_metric_value(hang_stats.total, NULL) == 1 &&
                   berth_metric_value(hang_stats.errors, NULL) == 1 &&
                   berth_metric_value(hang_stats.code[BERTH_GRPC_DEADLINE_EXCEEDED], NULL) == 1 &&
                   n == 1 && sum >= 150000000ull,
           desc);
        snprintf(desc, sizeof(desc), "stats: every unary call counted, none an error (%lld)",
                 (long long)berth_metric_value(unary_stats.total, NULL));
        ok(berth_metric_value(unary_stats.total, NULL) >= 100 &&
                   berth_metric_value(unary_stats.errors, NULL) == 0,
           desc);
    }

    /* client reset */
    unsigned seen = get(&hangs_seen);
    berth_grpc_client_call_t *h =
            berth_grpc_client_start_call(c, "/test.Echo/Hang", "", 0, 0, &err);
    while (get(&hangs_seen) == seen) {
        /* drive the connection a little so the request goes out */
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    berth_grpc_client_cancel(c, h, &err);
    rc = berth_grpc_client_wait(c, h, NULL, NULL, &status, NULL, &err);
    ok(rc == 0 && status == BERTH_GRPC_CANCELLED, "reset: the client sees CANCELLED");
    ok(wait_for(&cancels[BERTH_GRPC_CANCEL_RESET], 1), "reset: owner got a RESET cancel");

    rc = berth_grpc_client_call(c, "/test.Echo/Unary", "again", 5, 0, &resp, &rlen, &status, NULL,
                                &err);
    ok(rc == 0 && status == 0 && rlen == 5, "connection still serves after a reset");
    berth_free(resp);

    /* a client that does not read an open-ended stream: reset past the cap */
    seen = get(&hangs_seen);
    h = berth_grpc_client_start_call(c, "/test.Echo/Flood", "", 0, 0, &err);
    ok(wait_for(&hangs_seen, seen + 1) && wait_for(&cancels[BERTH_GRPC_CANCEL_OVERFLOW], 1),
       "flood unread: the owner gets an OVERFLOW cancel (256 KiB cap, 8 MiB sent)");
    rc = berth_grpc_client_wait(c, h, NULL, NULL, &status, NULL, &err);
    ok(rc == 0 && status != 0, "flood: the client sees its stream end in an error");
    if (rc < 0)
        berth_err_free(&err);
    rc = berth_grpc_client_call(c, "/test.Echo/Unary", "after", 5, 0, &resp, &rlen, &status, NULL,
                                &err);
    ok(rc == 0 && status == 0 && rlen == 5, "the connection still serves after the reset");
    berth_free(resp);

    /* connection close with a call open */
    seen = get(&hangs_seen);
    h = berth_grpc_client_start_call(c, "/test.Echo/Hang", "", 0, 0, &err);
    ok(wait_for(&hangs_seen, seen + 1), "hanging call dispatched");
    berth_grpc_client_free(c);
    ok(wait_for(&cancels[BERTH_GRPC_CANCEL_CLOSED], 1), "close: owner got a CLOSED cancel");

    /* garbage */
    int g = raw_connect(path);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ssize_t wr = write(g, junk, sizeof(junk) - 1);
    char buf[256];
    ssize_t n;
    size_t total = 0;
    while ((n = read(g, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    ok(wr > 0 && n == 0, "garbage: the server closes that connection");
    close(g);
    c = berth_grpc_client_new(path, &err);
    rc = c ? berth_grpc_client_call(c, "/test.Echo/Unary", "x", 1, 0, &resp, &rlen, &status, NULL,
                                    &err)
           : -1;
    ok(rc == 0 && status == 0, "the server keeps serving after garbage");
    berth_free(resp);

    /* stop with a call in flight */
    seen = get(&hangs_seen);
    h = berth_grpc_client_start_call(c, "/test.Echo/Hang", "", 0, 0, &err);
    wait_for(&hangs_seen, seen + 1);
    berth_grpc_server_stop(listener, 2000000000ull, echo,
                           berth_msg_new(MSG_STOP_DONE, sizeof(berth_msg_t)));
    ok(wait_for(&cancels[BERTH_GRPC_CANCEL_SHUTDOWN], 1), "stop: in-flight call gets SHUTDOWN");
    rc = berth_grpc_client_wait(c, h, NULL, NULL, &status, NULL, &err);
    ok(rc == 0 && status == 0, "stop: the owner's answer still reaches the client");
    ok(wait_for(&stop_done, 1), "stop: done message delivered");
    ok(access(path, F_OK) < 0 && errno == ENOENT, "stop: socket file removed");
    berth_grpc_client_free(c);

    berth_engine_stop();
    berth_engine_join();
    berth_engine_shutdown();
    rmdir(dir);
    (void)total;
    return failed;
}
