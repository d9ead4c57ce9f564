/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for err.c, log.c and alloc.c: error construction and prefixes, the
 * errno to kind mapping, logfmt output (one line per write, quoting), and the
 * allocator with its nghttp2 and protobuf-c bridges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>

#include "engine/alloc.h"
#include "engine/err.h"
#include "engine/log.h"
#include "tap.h"

static int fails_with_errno(berth_err_t *err)
{
    return berth_err_errno(err, ENOENT, "open %s", "/nope");
}

int main(void)
{
    tap_plan(26);

    berth_err_t err = NULL;
    int r = berth_err_make(&err, EINVAL, BERTH_ERR_INVALID, "bad %d", 42);
    tap_ok(r == -1 && err && err->errnum == EINVAL && strcmp(err->msg, "bad 42") == 0,
           "berth_err_make fills code and message");
    berth_err_prefix(&err, "parsing %s", "x.toml");
    tap_ok(strcmp(err->msg, "parsing x.toml: bad 42") == 0, "berth_err_prefix prepends context");
    berth_err_t stolen = berth_err_steal(&err);
    tap_ok(err == NULL && stolen != NULL, "berth_err_steal moves the error out");
    berth_err_free(&stolen);
    tap_ok(stolen == NULL, "berth_err_free clears the pointer");
    berth_err_free(&stolen); /* NULL-safe */

    {
        BERTH_AUTO_ERR berth_err_t e2 = NULL;
        fails_with_errno(&e2);
        tap_ok(e2 && e2->kind == BERTH_ERR_NOT_FOUND &&
                       strcmp(e2->msg, "open /nope: No such file or directory") == 0,
               "berth_err_errno maps ENOENT and appends strerror (%s)", e2 ? e2->msg : "");
    }
    tap_ok(berth_err_make(NULL, 1, BERTH_ERR_INVALID, "dropped") == -1,
           "a NULL err drops the error");
    tap_ok(berth_errno_to_kind(ETIMEDOUT) == BERTH_ERR_TIMEOUT &&
                   berth_errno_to_kind(EEXIST) == BERTH_ERR_EXISTS &&
                   berth_errno_to_kind(EINVAL) == BERTH_ERR_INVALID,
           "errno to kind mapping");
    tap_ok(berth_errno_to_kind(0) == BERTH_ERR_UNKNOWN &&
                   berth_errno_to_kind(ENOSPC) == BERTH_ERR_EXHAUSTED &&
                   berth_errno_to_kind(ENOTSUP) == BERTH_ERR_UNSUPPORTED &&
                   berth_errno_to_kind(EIO) == BERTH_ERR_DATA_LOSS &&
                   berth_errno_to_kind(ENOEXEC) == BERTH_ERR_INTERNAL,
           "errno to kind: none, a limit, unsupported, I/O, the rest");
    tap_ok(strcmp(berth_err_kind_name(BERTH_ERR_NOT_FOUND), "NOT_FOUND") == 0 &&
                   strcmp(berth_err_kind_name(BERTH_ERR_INVALID), "INVALID") == 0 &&
                   strcmp(berth_err_kind_name(99), "UNKNOWN") == 0 &&
                   strcmp(berth_err_kind_name(-1), "UNKNOWN") == 0,
           "kind names");

    /* log */
    int p[2];
    if (pipe(p) != 0)
        return 1;
    berth_log_set_fd(p[1]);
    berth_log_set_level(BERTH_LOG_INFO);
    berth_log_debug("hidden", "k=%d", 1);
    berth_log_info("hello \"world\"\nsecond", "pod=%s n=%d", "p1", 7);
    berth_log_set_fd(2);
    close(p[1]);
    char buf[1024] = {0};
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    tap_ok(n > 0 && strncmp(buf, "time=", 5) == 0 && buf[n - 1] == '\n', "log line shape: %s", buf);
    tap_ok(strstr(buf, " level=info msg=\"hello \\\"world\\\"\\nsecond\" pod=p1 n=7\n") != NULL,
           "msg is quoted and escaped, kv tail follows");
    tap_ok(strstr(buf, "hidden") == NULL && strchr(buf, '\n') == buf + n - 1,
           "below-level lines are dropped; one line per call");
    tap_ok(buf[9] == '-' && buf[15] == 'T' && strstr(buf, "Z level=") != NULL,
           "RFC 3339 UTC timestamp");
    /* Long lines keep their end (the reason of a refusal comes last): 10 KB
     * whole, 200 KB with the middle of the fields left out. */
    {
        char path[] = "/tmp/berth-log-test-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
            return 1;
        unlink(path);
        static char big[200 * 1024];
        memset(big, 'p', sizeof(big) - 1);
        berth_log_set_fd(fd);
        berth_log_info("long", "path=%.*s error=\"REASON-END\"", 10000, big);
        berth_log_info("huge", "path=%s error=\"REASON-END\"", big);
        berth_log_set_fd(2);
        static char rd[300 * 1024];
        ssize_t m = pread(fd, rd, sizeof(rd) - 1, 0);
        close(fd);
        rd[m > 0 ? m : 0] = '\0';
        char *second = strchr(rd, '\n');
        tap_ok(second && second - rd > 10000 && strncmp(second - 11, "REASON-END\"", 11) == 0,
               "a 10 KB line is written whole, its reason at the end");
        tap_ok(second && strstr(second + 1, "bytes left out") &&
                       strlen(second + 1) <= 64 * 1024 + 1 &&
                       strstr(second + 1, "error=\"REASON-END\"\n") != NULL,
               "a 200 KB line loses the middle of its fields, never its end");
    }
    /* A full pipe: with berth_log_nonblocking the line is dropped, not
     * waited for (alarm would kill a blocked test), and the next line that
     * gets through is preceded by the count. */
    if (pipe(p) != 0)
        return 1;
    int fl = fcntl(p[1], F_GETFL);
    fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
    char fill[4096];
    memset(fill, 'x', sizeof(fill));
    while (write(p[1], fill, sizeof(fill)) > 0)
        ;
    fcntl(p[1], F_SETFL, fl); /* berth's own description must do it */
    berth_log_set_fd(p[1]);
    tap_ok(berth_log_nonblocking() == 0, "a pipe can be written without blocking");
    alarm(5);
    berth_log_info("lost", "n=%d", 1);
    berth_log_info("lost too", "n=%d", 2);
    alarm(0);
    tap_ok(true, "logging into a full pipe returned at once");
    int dl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, dl | O_NONBLOCK);
    char drain[65536];
    while (read(p[0], drain, sizeof(drain)) > 0)
        ;
    berth_log_info("after", "n=%d", 3);
    memset(buf, 0, sizeof(buf));
    n = read(p[0], buf, sizeof(buf) - 1);
    tap_ok(n > 0 &&
                   strstr(buf, "msg=\"log lines dropped: the log reader is not keeping up\" "
                               "count=2\n") &&
                   strstr(buf, "msg=\"after\" n=3\n") && strstr(buf, "lost") == NULL,
           "the next line says how many were dropped");
    tap_ok((fcntl(p[1], F_GETFL) & O_NONBLOCK) == 0, "the caller's own descriptor stays blocking");
    berth_log_set_fd(2);
    close(p[0]);
    close(p[1]);

    /* The same on a stream socket (journald's stdout stream is one). */
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        return 1;
    fcntl(sp[1], F_SETFL, fcntl(sp[1], F_GETFL) | O_NONBLOCK);
    while (write(sp[1], fill, sizeof(fill)) > 0)
        ;
    fcntl(sp[1], F_SETFL, fcntl(sp[1], F_GETFL) & ~O_NONBLOCK);
    berth_log_set_fd(sp[1]);
    tap_ok(berth_log_nonblocking() == 0, "a socket can be written without blocking");
    alarm(5);
    berth_log_info("lost", "n=%d", 4);
    alarm(0);
    fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
    while (read(sp[0], drain, sizeof(drain)) > 0)
        ;
    berth_log_info("after", "n=%d", 5);
    memset(buf, 0, sizeof(buf));
    n = read(sp[0], buf, sizeof(buf) - 1);
    tap_ok(n > 0 && strstr(buf, "count=1\n") && strstr(buf, "msg=\"after\" n=5\n") &&
                   strstr(buf, "lost") == NULL,
           "a full socket drops the line and the next one counts it");
    berth_log_set_fd(2);
    close(sp[0]);
    close(sp[1]);
    tap_ok(berth_log_level_parse("warn") == BERTH_LOG_WARN && berth_log_level_parse("nope") == -1 &&
                   strcmp(berth_log_level_name(BERTH_LOG_ERROR), "error") == 0,
           "level names");

    /* alloc */
    BERTH_AUTO_FREE char *s = berth_asprintf("%s-%d", "a", 5);
    BERTH_AUTO_FREE char *d = berth_strndup("abcdef", 3);
    tap_ok(strcmp(s, "a-5") == 0 && strcmp(d, "abc") == 0, "asprintf and strndup");
    int *z = berth_calloc(100, sizeof(int));
    int allzero = 1;
    for (int i = 0; i < 100; i++)
        allzero &= z[i] == 0;
    z = berth_realloc(z, 1000 * sizeof(int));
    z[999] = 5;
    tap_ok(allzero && z[999] == 5, "calloc zeroes, realloc grows");
    berth_free(z);

    const nghttp2_mem *mem = berth_alloc_nghttp2_mem();
    void *q = mem->malloc(64, mem->mem_user_data);
    q = mem->realloc(q, 128, mem->mem_user_data);
    mem->free(q, mem->mem_user_data);
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session *sess = NULL;
    int rv = nghttp2_session_server_new3(&sess, cbs, NULL, NULL, (nghttp2_mem *)mem);
    tap_ok(rv == 0 && sess != NULL, "nghttp2 session runs on the berth allocator");
    nghttp2_session_del(sess);
    nghttp2_session_callbacks_del(cbs);

    ProtobufCAllocator *pa = berth_alloc_protobuf_allocator();
    void *pb = pa->alloc(pa->allocator_data, 32);
    memset(pb, 1, 32);
    pa->free(pa->allocator_data, pb);
    tap_ok(pa != NULL && pb != NULL, "protobuf-c allocator bridge");
    return tap_done();
}
