/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debug endpoint and `berthd status`: the actor dump lists live actors
 * with their kind, label and state (one held in its turn shows "running",
 * one with mail and no worker "queued", an exited one is gone), the heap and
 * configuration views, then the endpoint itself on a unix socket on the
 * threaded engine: berth_status_run's tables and texts, an error for the
 * CRI views when no CRI socket answers, and a 1 s profile (gzip) and a bad
 * duration (400) over HTTP.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/debug.h"
#include "actors/status.h"
#include "engine/actor.h"
#include "engine/alloc.h"
#include "engine/sched.h"
#include "io/blocking.h"
#include "tests/unit/check.h"

static int hold; /* while set, the held actor's turn spins */
static int holding;

static void held_receive(berth_actor_t *self, berth_msg_t *msg)
{
    __atomic_add_fetch(&holding, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&hold, __ATOMIC_SEQ_CST))
        usleep(1000);
    __atomic_sub_fetch(&holding, 1, __ATOMIC_SEQ_CST);
    berth_msg_free(msg);
}

static void idle_receive(berth_actor_t *self, berth_msg_t *msg)
{
    if (msg->type == BERTH_MSG_USER + 1)
        berth_actor_exit(self);
    berth_msg_free(msg);
}

static const berth_actor_class_t held_class = {.name = "test-held", .receive = held_receive};
static const berth_actor_class_t idle_class = {.name = "test-idle", .receive = idle_receive};

static json_t *find_actor(json_t *doc, const char *kind, const char *label)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(doc, "actors"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(a, "label")), label) == 0)
            return a;
    }
    return NULL;
}

static const char *state_of(json_t *a)
{
    return a ? json_string_value(json_object_get(a, "state")) : "(absent)";
}

static json_t *dump(void)
{
    berth_bytebuf_t b = {0};
    berth_debug_actors_json(&b);
    json_t *doc = json_loadb((const char *)b.data, b.len, 0, NULL);
    berth_bytebuf_free(&b);
    return doc;
}

static bool wait_flag(int *flag, int want)
{
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(flag, __ATOMIC_SEQ_CST) == want)
            return true;
        usleep(1000);
    }
    return false;
}

static char *status_text(const char *sock, const char *what, bool json, int *rc)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    *rc = berth_status_run(sock, what, json, f);
    fclose(f);
    return s;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    berth_bytebuf_put(arg, p, size * n);
    return size * n;
}

static long get(const char *sock, const char *path, berth_bytebuf_t *body)
{
    CURL *c = curl_easy_init();
    BERTH_AUTO_FREE char *url = berth_asprintf("http://localhost%s", path);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

int main(void)
{
    berth_err_t err = NULL;
    berth_engine_config_t ecfg = {.workers = 2};
    if (berth_engine_start(&ecfg, &err) < 0) {
        printf("1..0 # SKIP engine: %s\n", err->msg);
        return 77;
    }

    /* ---- the actor dump ---- */
    berth_handle_t idle = berth_actor_spawn_labeled(&idle_class, NULL, "idle-one");
    berth_handle_t gone = berth_actor_spawn_labeled(&idle_class, NULL, "gone-one");
    berth_actor_spawn_labeled(&idle_class, NULL, "odd \"label\"\\\n\t");
    __atomic_store_n(&hold, 1, __ATOMIC_SEQ_CST);
    berth_handle_t held = berth_actor_spawn_labeled(&held_class, NULL, "held-one");
    berth_send(held, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    berth_send(held, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    berth_send(held, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    berth_send(gone, berth_msg_new(BERTH_MSG_USER + 1, sizeof(berth_msg_t)));
    berth_send(idle, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    ok(wait_flag(&holding, 1), "the held actor is in its turn");
    usleep(50000); /* the idle one's turn ends, the exiting one is destroyed */
    /* a second held actor takes the other worker: mail to a third waits */
    berth_handle_t held2 = berth_actor_spawn_labeled(&held_class, NULL, "held-two");
    berth_send(held2, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    ok(wait_flag(&holding, 2), "both workers are held");
    berth_handle_t waiting = berth_actor_spawn_labeled(&idle_class, NULL, "waiting-one");
    berth_send(waiting, berth_msg_new(BERTH_MSG_USER, sizeof(berth_msg_t)));
    json_t *doc = dump();
    ok(doc != NULL, "the dump is JSON");
    json_t *h = find_actor(doc, "test-held", "held-one");
    check(h != NULL && strcmp(state_of(h), "running") == 0 &&
                  json_integer_value(json_object_get(h, "depth")) == 3 &&
                  json_object_get(h, "worker") != NULL,
          "the actor in its turn is running, depth 3 (the one in hand and 2 waiting), on a worker "
          "(%s)",
          state_of(h));
    check(strcmp(state_of(find_actor(doc, "test-idle", "idle-one")), "idle") == 0,
          "an actor with no mail is idle (%s)", state_of(find_actor(doc, "test-idle", "idle-one")));
    check(strcmp(state_of(find_actor(doc, "test-idle", "waiting-one")), "queued") == 0,
          "an actor with mail and no free worker is queued (%s)",
          state_of(find_actor(doc, "test-idle", "waiting-one")));
    ok(find_actor(doc, "test-idle", "gone-one") == NULL, "an exited actor is not listed");
    ok(find_actor(doc, "test-idle", "odd \"label\"\\\n\t") != NULL,
       "a label with quotes, a backslash and control characters is escaped");
    ok(json_integer_value(json_object_get(doc, "live")) >= 2 &&
               json_integer_value(json_object_get(json_object_get(doc, "engine"), "workers")) == 2,
       "live count and engine figures");
    json_decref(doc);
    __atomic_store_n(&hold, 0, __ATOMIC_SEQ_CST);

    berth_bytebuf_t b = {0};
    berth_debug_heap_text(&b);
    berth_bytebuf_put_u8(&b, 0);
    ok(strstr((char *)b.data, "allocator:") != NULL, "the heap view names the allocator");
    berth_bytebuf_free(&b);

    /* ---- the endpoint and berthd status ---- */
    char dir[] = "/tmp/berth-debug-test-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    BERTH_AUTO_FREE char *sock = berth_asprintf("%s/debug.sock", dir);
    BERTH_AUTO_FREE char *cri = berth_asprintf("%s/none.sock", dir);
    berth_config_builder_t *cb = berth_config_builder_new();
    berth_config_builder_set_file(cb, NULL);
    berth_config_builder_set_dir(cb, NULL);
    berth_config_set(cb, "crio.api.debug_socket", sock, &err);
    berth_config_set(cb, "crio.api.listen", cri, &err);
    berth_config_t *cfg = berth_config_build(cb, &err);
    berth_config_builder_free(cb);
    if (!ok(cfg != NULL, "a configuration with debug_socket builds"))
        return 1;
    berth_debug_config_toml(cfg, &b);
    berth_bytebuf_put_u8(&b, 0);
    ok(strstr((char *)b.data, "debug_socket = \"") != NULL, "the config view has debug_socket");
    berth_bytebuf_free(&b);

    berth_httpsrv_t srv;
    if (!check(berth_debug_start(cfg, &srv, &err) == 0, "the endpoint starts: %s",
               err ? err->msg : "ok"))
        return 1;
    int rc;
    char *s = status_text(sock, "actors", false, &rc);
    ok(rc == 0 && strstr(s, "KIND") != NULL && strstr(s, "idle-one") != NULL &&
               strstr(s, "test-held") != NULL,
       "berthd status actors prints the table with our actors");
    free(s);
    s = status_text(sock, "actors", true, &rc);
    json_t *j = json_loads(s, 0, NULL);
    ok(rc == 0 && j != NULL && find_actor(j, "test-idle", "idle-one") != NULL,
       "--json prints the dump as JSON");
    json_decref(j);
    free(s);
    s = status_text(sock, "config", false, &rc);
    ok(rc == 0 && strstr(s, sock) != NULL, "berthd status config prints the effective config");
    free(s);
    s = status_text(sock, "heap", false, &rc);
    ok(rc == 0 && strstr(s, "allocator:") != NULL, "berthd status heap");
    free(s);
    s = status_text(sock, "info", false, &rc);
    ok(rc == 1, "berthd status info fails (1) when berthd's CRI socket does not answer");
    free(s);
    s = status_text(sock, "bogus", false, &rc);
    ok(rc == 2, "an unknown view is refused (2)");
    free(s);

    long st = get(sock, "/debug/pprof/profile?seconds=0", &b);
    ok(st == 400, "a profile of 0 s is a 400");
    berth_bytebuf_free(&b);
    st = get(sock, "/debug/pprof/profile?seconds=1&hz=200", &b);
    ok(st == 200 && b.len > 20 && b.data[0] == 0x1f && b.data[1] == 0x8b,
       "a 1 s profile over HTTP is gzip'd");
    berth_bytebuf_free(&b);

    berth_httpsrv_stop(&srv);
    berth_engine_stop();
    berth_engine_join();
    berth_blocking_shutdown();
    berth_engine_shutdown();
    berth_config_unref(cfg);
    unlink(sock);
    rmdir(dir);
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
