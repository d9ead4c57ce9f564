/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actors/nri: the CreateContainer request as a plugin unpacks it (pod,
 * container, args, env, mounts, labels); adjustments of two plugins merged
 * (env, annotations, mounts, removals); a key two plugins adjust, a mount
 * without an absolute destination, an adjustment berth does not apply (RDT) and
 * a malformed answer all refused naming the plugin; the environment
 * applied (replace, append, remove). Pure functions, no engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/nri.h"
#include "engine/alloc.h"
#include "nri.pb-c.h"
#include "tests/unit/check.h"

typedef Nri__Pkg__Api__V1alpha1__CreateContainerResponse resp_t;
typedef Nri__Pkg__Api__V1alpha1__ContainerAdjustment adj_t;
typedef Nri__Pkg__Api__V1alpha1__KeyValue nkv_t;

/* A packed CreateContainerResponse with the env (key, value pairs), one
 * annotation and one mount given (NULL: none); linux asks for RDT, which
 * berth does not apply. */
static uint8_t *answer(const char *const *env, size_t nenv, const char *ann_key,
                       const char *mount_dst, bool linux, size_t *len)
{
    adj_t adj = NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__INIT;
    nkv_t kvs[4], *kvp[4];
    for (size_t i = 0; i < nenv; i++) {
        nri__pkg__api__v1alpha1__key_value__init(&kvs[i]);
        kvs[i].key = (char *)env[2 * i];
        kvs[i].value = (char *)env[2 * i + 1];
        kvp[i] = &kvs[i];
    }
    adj.env = kvp;
    adj.n_env = nenv;
    Nri__Pkg__Api__V1alpha1__ContainerAdjustment__AnnotationsEntry ae =
            NRI__PKG__API__V1ALPHA1__CONTAINER_ADJUSTMENT__ANNOTATIONS_ENTRY__INIT;
    Nri__Pkg__Api__V1alpha1__ContainerAdjustment__AnnotationsEntry *aep = &ae;
    if (ann_key) {
        ae.key = (char *)ann_key;
        ae.value = (char *)"v";
        adj.annotations = &aep;
        adj.n_annotations = 1;
    }
    Nri__Pkg__Api__V1alpha1__Mount m = NRI__PKG__API__V1ALPHA1__MOUNT__INIT, *mp = &m;
    char *opts[] = {(char *)"bind", (char *)"ro"};
    if (mount_dst) {
        m.destination = (char *)mount_dst;
        m.source = (char *)"/srv";
        m.type = (char *)"bind";
        m.options = opts;
        m.n_options = 2;
        adj.mounts = &mp;
        adj.n_mounts = 1;
    }
    Nri__Pkg__Api__V1alpha1__LinuxContainerAdjustment lx =
            NRI__PKG__API__V1ALPHA1__LINUX_CONTAINER_ADJUSTMENT__INIT;
    Nri__Pkg__Api__V1alpha1__LinuxRdt rdt = NRI__PKG__API__V1ALPHA1__LINUX_RDT__INIT;
    lx.rdt = &rdt;
    if (linux)
        adj.linux = &lx;
    resp_t r = NRI__PKG__API__V1ALPHA1__CREATE_CONTAINER_RESPONSE__INIT;
    r.adjust = &adj;
    *len = protobuf_c_message_get_packed_size(&r.base);
    uint8_t *buf = berth_malloc(*len + 1);
    protobuf_c_message_pack(&r.base, buf);
    return buf;
}

static void test_request(void)
{
    berth_pod_info_t pod = {.id = (char *)"podid",
                            .pod_name = (char *)"web",
                            .pod_namespace = (char *)"default",
                            .pod_uid = (char *)"u1",
                            .handler = (char *)"runc"};
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    md.name = (char *)"app";
    cc.metadata = &md;
    char *cmd[] = {(char *)"sleep"}, *args[] = {(char *)"300"};
    cc.command = cmd;
    cc.n_command = 1;
    cc.args = args;
    cc.n_args = 1;
    Runtime__V1__KeyValue ev = RUNTIME__V1__KEY_VALUE__INIT, *evp = &ev;
    ev.key = (char *)"A";
    ev.value = (ProtobufCBinaryData){1, (uint8_t *)"b"};
    cc.envs = &evp;
    cc.n_envs = 1;
    Runtime__V1__Mount cm = RUNTIME__V1__MOUNT__INIT, *cmp = &cm;
    cm.container_path = (char *)"/data";
    cm.host_path = (char *)"/var/data";
    cm.readonly = true;
    cc.mounts = &cmp;
    cc.n_mounts = 1;
    Runtime__V1__ContainerConfig__LabelsEntry
            le = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT,
            *lep = &le;
    le.key = (char *)"tier";
    le.value = (char *)"front";
    cc.labels = &lep;
    cc.n_labels = 1;
    berth_nrisrv_hook_t *h =
            berth_nri_create_hook(&pod, "ctrid", &cc, BERTH_HANDLE_NONE, BERTH_MSG_USER);
    Nri__Pkg__Api__V1alpha1__CreateContainerRequest *req =
            nri__pkg__api__v1alpha1__create_container_request__unpack(NULL, h->len, h->payload);
    ok(req && strcmp(h->method, "CreateContainer") == 0 && h->event == BERTH_NRI_CREATE_CONTAINER,
       "request: CreateContainer, for the CreateContainer event");
    ok(req && req->pod && strcmp(req->pod->id, "podid") == 0 &&
               strcmp(req->pod->name, "web") == 0 && strcmp(req->pod->namespace_, "default") == 0 &&
               strcmp(req->pod->uid, "u1") == 0,
       "request: the pod");
    ok(req && req->container && strcmp(req->container->id, "ctrid") == 0 &&
               strcmp(req->container->name, "app") == 0 &&
               strcmp(req->container->pod_sandbox_id, "podid") == 0 &&
               req->container->n_args == 2 && strcmp(req->container->args[1], "300") == 0 &&
               req->container->n_env == 1 && strcmp(req->container->env[0], "A=b") == 0,
       "request: the container, its args and env");
    ok(req && req->container->n_mounts == 1 &&
               strcmp(req->container->mounts[0]->destination, "/data") == 0 &&
               req->container->mounts[0]->n_options == 2 && req->container->n_labels == 1 &&
               strcmp(req->container->labels[0]->value, "front") == 0,
       "request: a read-only bind mount and the labels");
    if (req)
        nri__pkg__api__v1alpha1__create_container_request__free_unpacked(req, NULL);
    h->answered = true; /* freed here, not walked */
    berth_msg_free(&h->hdr);
}

static void test_merge(void)
{
    berth_nri_adjust_t a = {0};
    BERTH_AUTO_ERR berth_err_t err = NULL;
    size_t len;
    static const char *const env1[] = {"X", "1", "-GONE", ""};
    uint8_t *p = answer(env1, 2, "note", "/m1", false, &len);
    ok(berth_nri_adjust_add(&a, "10-one", p, len, &err) == 0 && a.nenv == 2 &&
               a.nannotations == 1 && a.nmounts == 1 && strcmp(a.mounts[0].owner, "10-one") == 0,
       "merge: one plugin's env, annotation and mount");
    berth_free(p);
    static const char *const env2[] = {"Y", "2"};
    p = answer(env2, 1, NULL, "/m2", false, &len);
    ok(berth_nri_adjust_add(&a, "20-two", p, len, &err) == 0 && a.nenv == 3 && a.nmounts == 2,
       "merge: a second plugin's adds up");
    berth_free(p);
    static const char *const env3[] = {"X", "3"};
    p = answer(env3, 1, NULL, NULL, false, &len);
    check(berth_nri_adjust_add(&a, "30-three", p, len, &err) < 0 && err &&
                  strstr(err->msg, "10-one") && strstr(err->msg, "30-three") &&
                  strstr(err->msg, "environment variable X"),
          "merge: two plugins setting X conflict: %s", err ? err->msg : "accepted");
    berth_err_free(&err);
    berth_free(p);
    p = answer(NULL, 0, NULL, "/m1", false, &len);
    ok(berth_nri_adjust_add(&a, "30-three", p, len, &err) < 0 && err && strstr(err->msg, "/m1"),
       "merge: two plugins mounting /m1 conflict");
    berth_err_free(&err);
    berth_free(p);
    p = answer(NULL, 0, NULL, "relative", false, &len);
    ok(berth_nri_adjust_add(&a, "30-three", p, len, &err) < 0 && err &&
               strstr(err->msg, "absolute"),
       "merge: a relative mount destination is refused");
    berth_err_free(&err);
    berth_free(p);
    p = answer(NULL, 0, NULL, NULL, true, &len);
    check(berth_nri_adjust_add(&a, "40-four", p, len, &err) < 0 && err &&
                  err->kind == BERTH_ERR_UNSUPPORTED && strstr(err->msg, "40-four") &&
                  strstr(err->msg, "RDT"),
          "merge: an RDT adjustment is refused, not ignored: %s", err ? err->msg : "accepted");
    berth_err_free(&err);
    berth_free(p);
    static const uint8_t junk[] = {0x0a, 0x05, 0x01};
    ok(berth_nri_adjust_add(&a, "50-five", junk, sizeof(junk), &err) < 0 && err &&
               strstr(err->msg, "malformed"),
       "merge: a malformed answer is refused");
    berth_err_free(&err);

    size_t n = 3;
    char **env = berth_calloc(4, sizeof(char *));
    env[0] = berth_strdup("PATH=/bin");
    env[1] = berth_strdup("X=old");
    env[2] = berth_strdup("GONE=1");
    berth_nri_apply_env(&a, &env, &n);
    ok(n == 3 && strcmp(env[0], "PATH=/bin") == 0 && strcmp(env[1], "X=1") == 0 &&
               strcmp(env[2], "Y=2") == 0 && env[3] == NULL,
       "env: X replaced, GONE removed, Y appended");
    for (size_t i = 0; i < n; i++)
        berth_free(env[i]);
    berth_free(env);
    berth_nri_adjust_fini(&a);
}

int main(void)
{
    test_request();
    test_merge();
    printf("1..%d\n", ntest);
    return nfail ? 1 : 0;
}
