// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI method table: every RPC of both services is present, paths are the
 * gRPC ones, streaming methods are marked, and unknown paths are refused.
 */
#include <stdio.h>
#include <string.h>

#include "proto/cri.h"

static int n;
static int failed;

static void ok(int cond, const char *what)
{
    n++;
    if (!cond)
        failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

int main(void)
{
    printf("1..9\n");
    ok(berth_cri_method_count() == 43, "43 CRI v1 methods (37 runtime + 6 image)");
    const berth_cri_method_t *v = berth_cri_method_lookup("/runtime.v1.RuntimeService/Version");
    ok(v != NULL && strcmp(v->name, "Version") == 0, "Version found by path");
    ok(v != NULL && v->input == &runtime__v1__version_request__descriptor,
       "Version input descriptor");
    const berth_cri_method_t *p = berth_cri_method_lookup("/runtime.v1.ImageService/PullImage");
    ok(p != NULL && strcmp(p->service, "ImageService") == 0, "PullImage in ImageService");
    const berth_cri_method_t *s =
            berth_cri_method_lookup("/runtime.v1.RuntimeService/StreamPodSandboxes");
    ok(s != NULL && s->server_streaming, "StreamPodSandboxes is server-streaming");
    const berth_cri_method_t *e =
            berth_cri_method_lookup("/runtime.v1.RuntimeService/GetContainerEvents");
    ok(e != NULL && e->server_streaming, "GetContainerEvents is server-streaming");
    ok(v != NULL && !v->server_streaming, "Version is unary");
    ok(berth_cri_method_lookup("/runtime.v1.RuntimeService/Nope") == NULL, "unknown method");
    ok(berth_cri_method_lookup("/runtime.v1alpha2.RuntimeService/Version") == NULL,
       "v1alpha2 is not served");
    return failed ? 1 : 0;
}
