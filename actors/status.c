/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `berthd status` (actors/status.h): one GET on the debug socket with
 * libcurl, then the answer printed as it is or as a table.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "actors/status.h"
#include "engine/alloc.h"
#include "io/bytebuf.h"

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    berth_bytebuf_put(arg, p, size * n);
    return size * n;
}

static const struct {
    const char *what, *path;
} views[] = {
        {"config", "/config"},       {"info", "/info"},       {"containers", "/containers"},
        {"actors", "/debug/actors"}, {"heap", "/debug/heap"},
};

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void print_actors(json_t *doc, FILE *out)
{
    json_t *eng = json_object_get(doc, "engine");
    fprintf(out,
            "%" JSON_INTEGER_FORMAT " actors on %" JSON_INTEGER_FORMAT
            " workers (turns %" JSON_INTEGER_FORMAT ", messages %" JSON_INTEGER_FORMAT
            ", steals %" JSON_INTEGER_FORMAT ")\n",
            json_integer_value(json_object_get(doc, "live")),
            json_integer_value(json_object_get(eng, "workers")),
            json_integer_value(json_object_get(eng, "turns")),
            json_integer_value(json_object_get(eng, "messages")),
            json_integer_value(json_object_get(eng, "steals")));
    fprintf(out, "%-20s %-10s %-9s %7s %10s  %s\n", "KIND", "HANDLE", "STATE", "MAILBOX", "HANDLED",
            "LABEL");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(doc, "actors"), i, a)
    {
        fprintf(out, "%-20s %-10s %-9s %7" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT "  %s\n",
                str(a, "kind"), str(a, "handle"), str(a, "state"),
                json_integer_value(json_object_get(a, "depth")),
                json_integer_value(json_object_get(a, "handled")), str(a, "label"));
    }
}

static void print_containers(json_t *doc, FILE *out)
{
    size_t i;
    json_t *o;
    fprintf(out, "%-13s %-22s %-22s %s\n", "POD ID", "STATE", "NAMESPACE", "NAME");
    json_array_foreach(json_object_get(doc, "pods"), i, o)
    {
        fprintf(out, "%-13.13s %-22s %-22s %s\n", str(o, "id"), str(o, "state"),
                str(o, "namespace"), str(o, "name"));
    }
    fprintf(out, "\n%-13s %-13s %-18s %-8s %-24s %s\n", "CONTAINER ID", "POD ID", "STATE",
            "ATTEMPT", "NAME", "IMAGE");
    json_array_foreach(json_object_get(doc, "containers"), i, o)
    {
        fprintf(out, "%-13.13s %-13.13s %-18s %-8" JSON_INTEGER_FORMAT " %-24s %s\n", str(o, "id"),
                str(o, "pod_id"), str(o, "state"),
                json_integer_value(json_object_get(o, "attempt")), str(o, "name"), str(o, "image"));
    }
}

int berth_status_run(const char *socket, const char *what, bool json, FILE *out)
{
    const char *path = NULL;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(views); i++)
        if (strcmp(what, views[i].what) == 0)
            path = views[i].path;
    if (path == NULL) {
        fprintf(stderr, "berthd status: unknown view %s (config, info, containers, actors, heap)\n",
                what);
        return 2;
    }
    CURL *c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "berthd status: cannot initialise libcurl\n");
        return 2;
    }
    berth_bytebuf_t body = {0};
    BERTH_AUTO_FREE char *url = berth_asprintf("http://localhost%s", path);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stderr,
                "berthd status: cannot reach the debug endpoint on %s: %s (is berthd running "
                "with [crio.api] debug_socket set to it?)\n",
                socket, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        berth_bytebuf_free(&body);
        return 2;
    }
    int ret = 0;
    if (status != 200) {
        fprintf(stderr, "berthd status %s: %ld: %.*s", what, status, (int)body.len,
                (const char *)body.data);
        ret = 1;
    } else if (!json && (strcmp(what, "actors") == 0 || strcmp(what, "containers") == 0)) {
        json_t *doc = json_loadb((const char *)body.data, body.len, 0, NULL);
        if (doc == NULL) {
            fprintf(stderr, "berthd status %s: the answer is not JSON\n", what);
            ret = 1;
        } else if (strcmp(what, "actors") == 0) {
            print_actors(doc, out);
        } else {
            print_containers(doc, out);
        }
        json_decref(doc);
    } else {
        fwrite(body.data, 1, body.len, out);
    }
    berth_bytebuf_free(&body);
    return ret;
}
