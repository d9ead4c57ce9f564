/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-bench's command line: the option table (each option's name, its
 * argument and the field of berth_bench_opts_t it sets), the usage text, and
 * the endpoints (--socket, or --compare LABEL=SOCK ...) with the process
 * patterns whose RSS and CPU count as the runtime's.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "perf/bench_core.h"

void berth_bench_usage(FILE *f)
{
    fputs("usage: berth-bench SCENARIO [options]\n"
          "scenarios: density containers churn relist podstats slow-cni floor stream\n"
          "  --socket PATH          CRI socket (or --compare A=SOCK1 B=SOCK2)\n"
          "  --compare LABEL=SOCK   add an endpoint (repeat, or give more LABEL=SOCK args)\n"
          "                         (SOCK \"floor\": conmon + OCI runtime, no daemon)\n"
          "  --procs [LABEL=]P,P    comm patterns of the runtime's processes\n"
          "                         (default by socket: containerd,containerd-shim*,pause\n"
          "                         or berthd,berth-monitor,conmon; floor: conmon,runc)\n"
          "  -n N                   pods (density/floor/podstats 110, relist 20, slow-cni 1);\n"
          "                         stream: exec round trips (200)\n"
          "  -P N                   parallel workers (4)\n"
          "  --seconds S            relist/churn duration, podstats' per window (30)\n"
          "  --rate R --lifetime L  churn: pods/s (2) and pod lifetime s (5)\n"
          "  --image REF            container image (docker.io/library/busybox:latest)\n"
          "  --command 'a b c'      container command (default: sleep 3600)\n"
          "  --no-pull              do not PullImage first\n"
          "  --handler NAME         runtime handler\n"
          "  --cni-delay S --deadline S --backoff S --max S   slow-cni (6, 2, 1, 60)\n"
          "  --cni-conf-dir D --cni-bin-dir D   the runtime's CNI dirs (slow-cni): DIR or\n"
          "                         LABEL=DIR,...; default SOCKDIR/cni-conf, SOCKDIR/cni-bin\n"
          "  --oci-runtime PATH     floor: OCI runtime (/usr/sbin/runc)\n"
          "  --floor-spec berth|runtime\n"
          "                         floor: the OCI spec berthd would write for the same\n"
          "                         container (berth, default) or `RUNTIME spec`'s default\n"
          "  --rounds K             rounds, endpoints alternate order (1)\n"
          "  --json FILE            write every result as JSON\n"
          "  --plot DIR             latency CDF and pods/s PNGs via gnuplot\n"
          "  --load LIST            background load (stress-ng) from before the first round\n"
          "                         to after the last: cpu[=N] (N cores at 100 %), disk[=N]\n"
          "                         (N writers, fsync per 4 KiB write), mem[=SIZE|P%]\n"
          "                         (25% of RAM, written once and held), busy (all three),\n"
          "                         none (default)\n"
          "  --load-dir DIR         where the disk writers write (/tmp; put it on the disk\n"
          "                         of the runtimes' state)\n"
          "  --pf-mib N             stream: MiB each way through port-forward (256)\n"
          "  --transport T          stream: spdy (default) or websocket\n"
          "  --stages               after each pod run: the slowest 10 % of pods split by\n"
          "                         call, and the runtime's stage histograms for the startup\n"
          "                         (berthd serves them in verbose Status)\n",
          f);
}

/* "comm" or, for a private runtime whose socket lives in its own directory
 * under /tmp (scripts/bench-berth.sh, scripts/peer-containerd.sh), "comm@DIR":
 * its daemon, monitors and shims all carry DIR on their command lines, so
 * other engineers' berthds and conmons on the same machine are not counted.
 * pause processes carry nothing to tell them apart and stay unfiltered. */
static char **default_procs(const berth_bench_opts_t *o, const char *sock, bool floor)
{
    if (floor) {
        BERTH_AUTO_FREE char *f = berth_asprintf("conmon@%s,runc@%s,crun@%s", o->floor_dir,
                                                 o->floor_dir, o->floor_dir);
        return berth_bench_strv_split(f, ',');
    }
    BERTH_AUTO_FREE char *dir = NULL;
    const char *slash = sock ? strrchr(sock, '/') : NULL;
    if (slash && strncmp(sock, "/tmp/", 5) == 0 && slash > sock + 4)
        dir = berth_asprintf("@%.*s/", (int)(slash - sock), sock);
    const char *d = dir ? dir : "";
    BERTH_AUTO_FREE char *list = NULL;
    if (sock && strstr(sock, "containerd"))
        list = berth_asprintf("containerd%s,containerd-shim*%s,pause", d, d);
    else if (sock && strstr(sock, "crio"))
        list = berth_asprintf("crio%s,conmon%s,pause", d, d);
    else
        list = berth_asprintf("berthd%s,berth-monitor%s,conmon%s", d, d, d);
    return berth_bench_strv_split(list, ',');
}

static int add_endpoint(berth_bench_endpoint_t *eps, int *neps, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || *neps >= BERTH_BENCH_MAX_ENDPOINTS) {
        fprintf(stderr, "berth-bench: bad endpoint %s (LABEL=SOCKET, at most %d)\n", arg,
                BERTH_BENCH_MAX_ENDPOINTS);
        return -1;
    }
    eps[*neps].label = berth_strndup(arg, (size_t)(eq - arg));
    /* "floor" stands for conmon + the OCI runtime with no CRI daemon, so
     * `--compare floor=floor berth=SOCK` prints berth's overhead as a ratio. */
    eps[*neps].sock = strcmp(eq + 1, "floor") == 0 ? NULL : berth_strdup(eq + 1);
    (*neps)++;
    return 0;
}

/* How an option's argument lands in berth_bench_opts_t. */
enum opt_kind {
    OPT_INT,        /* atoi */
    OPT_INT_POS,    /* atoi, 1 unless > 0 */
    OPT_DOUBLE,     /* atof */
    OPT_DOUBLE_POS, /* atof, 1 unless > 0 */
    OPT_STRING,     /* the argument itself (argv outlives the options) */
    OPT_FLAG,       /* true */
    OPT_SPECIAL,    /* parse_special */
};

typedef struct opt_def {
    const char *name; /* long name, NULL: short only */
    int short_name;   /* 0: long only */
    bool arg;         /* takes an argument */
    enum opt_kind kind;
    size_t off; /* the field, for the kinds that have one */
} opt_def_t;

#define FIELD(f) offsetof(berth_bench_opts_t, f)

/* Every option; berth_bench_usage says what each means. */
static const opt_def_t defs[] = {
        {"socket", 0, true, OPT_STRING, FIELD(sock)},
        {"compare", 0, true, OPT_SPECIAL, 0},
        {"procs", 0, true, OPT_SPECIAL, 0},
        {NULL, 'n', true, OPT_INT, FIELD(n)},
        {NULL, 'P', true, OPT_INT_POS, FIELD(workers)},
        {"seconds", 0, true, OPT_DOUBLE, FIELD(seconds)},
        {"rate", 0, true, OPT_DOUBLE_POS, FIELD(rate)},
        {"lifetime", 0, true, OPT_DOUBLE, FIELD(lifetime)},
        {"image", 0, true, OPT_STRING, FIELD(image)},
        {"command", 0, true, OPT_SPECIAL, 0},
        {"no-pull", 0, false, OPT_FLAG, FIELD(no_pull)},
        {"handler", 0, true, OPT_STRING, FIELD(handler)},
        {"cni-delay", 0, true, OPT_DOUBLE, FIELD(slow_delay)},
        {"deadline", 0, true, OPT_DOUBLE, FIELD(deadline)},
        {"backoff", 0, true, OPT_DOUBLE, FIELD(backoff)},
        {"max", 0, true, OPT_DOUBLE, FIELD(max)},
        {"cni-conf-dir", 0, true, OPT_STRING, FIELD(cni_conf_dir)},
        {"cni-bin-dir", 0, true, OPT_STRING, FIELD(cni_bin_dir)},
        {"oci-runtime", 0, true, OPT_STRING, FIELD(oci_runtime)},
        {"floor-dir", 0, true, OPT_STRING, FIELD(floor_dir)},
        {"floor-spec", 0, true, OPT_SPECIAL, 0},
        {"rounds", 0, true, OPT_INT_POS, FIELD(rounds)},
        {"json", 0, true, OPT_STRING, FIELD(json_path)},
        {"plot", 0, true, OPT_STRING, FIELD(plot_dir)},
        {"load", 0, true, OPT_SPECIAL, 0},
        {"load-dir", 0, true, OPT_STRING, FIELD(load.dir)},
        {"stages", 0, false, OPT_FLAG, FIELD(stages)},
        {"pf-mib", 0, true, OPT_INT_POS, FIELD(pf_mib)},
        {"transport", 0, true, OPT_STRING, FIELD(transport)},
        {"help", 'h', false, OPT_SPECIAL, 0},
};

static const berth_bench_opts_t defaults = {
        .n = -1,
        .workers = 4,
        .seconds = 30,
        .rate = 2,
        .lifetime = 5,
        .image = "docker.io/library/busybox:latest",
        .rounds = 1,
        .slow_delay = 6,
        .deadline = 2,
        .backoff = 1,
        .max = 60,
        .oci_runtime = "/usr/sbin/runc",
        .floor_dir = "/tmp/berth-bench-floor",
        .load = {.dir = "/tmp"},
        .pf_mib = 256,
        .transport = "spdy",
};

/* getopt's value for defs[i]: its short name, else 256 + i. */
static int def_val(size_t i)
{
    return defs[i].short_name ? defs[i].short_name : 256 + (int)i;
}

/* The options that are more than a store: false to exit with *exit_code. */
static bool parse_special(berth_bench_opts_t *o, const opt_def_t *d, const char *arg,
                          int *exit_code)
{
    if (strcmp(d->name, "compare") == 0) {
        o->compare = true;
        if (add_endpoint(o->eps, &o->neps, arg) < 0) {
            *exit_code = 2;
            return false;
        }
    } else if (strcmp(d->name, "procs") == 0) {
        if (o->nprocs < BERTH_BENCH_MAX_ENDPOINTS)
            o->procs_arg[o->nprocs++] = arg;
    } else if (strcmp(d->name, "command") == 0) {
        berth_bench_strv_free(o->command);
        o->command = berth_bench_strv_split(arg, ' ');
    } else if (strcmp(d->name, "floor-spec") == 0) {
        if (strcmp(arg, "berth") != 0 && strcmp(arg, "runtime") != 0) {
            fprintf(stderr, "berth-bench: --floor-spec: \"%s\" is neither berth nor runtime\n",
                    arg);
            *exit_code = 2;
            return false;
        }
        o->floor_runtime_spec = strcmp(arg, "runtime") == 0;
    } else if (strcmp(d->name, "load") == 0) {
        if (berth_bench_load_parse(&o->load, arg) < 0) {
            *exit_code = 2;
            return false;
        }
    } else { /* help */
        berth_bench_usage(stdout);
        *exit_code = 0;
        return false;
    }
    return true;
}

static void store(berth_bench_opts_t *o, const opt_def_t *d, const char *arg)
{
    char *field = (char *)o + d->off;
    switch (d->kind) {
    case OPT_INT:
        *(int *)field = atoi(arg);
        break;
    case OPT_INT_POS:
        *(int *)field = atoi(arg) > 0 ? atoi(arg) : 1;
        break;
    case OPT_DOUBLE:
        *(double *)field = atof(arg);
        break;
    case OPT_DOUBLE_POS:
        *(double *)field = atof(arg) > 0 ? atof(arg) : 1;
        break;
    case OPT_STRING:
        *(const char **)field = arg;
        break;
    case OPT_FLAG:
        *(bool *)field = true;
        break;
    case OPT_SPECIAL:
        break;
    }
}

bool berth_bench_opts_parse(berth_bench_opts_t *o, int argc, char **argv, int *exit_code)
{
    *o = defaults;
    struct option longopts[BERTH_ARRAY_LEN(defs) + 1];
    char shortopts[2 * BERTH_ARRAY_LEN(defs) + 1];
    size_t nl = 0, ns = 0;
    for (size_t i = 0; i < BERTH_ARRAY_LEN(defs); i++) {
        if (defs[i].name)
            longopts[nl++] = (struct option){
                    defs[i].name, defs[i].arg ? required_argument : no_argument, NULL, def_val(i)};
        if (defs[i].short_name) {
            shortopts[ns++] = (char)defs[i].short_name;
            if (defs[i].arg)
                shortopts[ns++] = ':';
        }
    }
    longopts[nl] = (struct option){0};
    shortopts[ns] = '\0';
    int opt;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const opt_def_t *d = NULL;
        for (size_t i = 0; i < BERTH_ARRAY_LEN(defs) && d == NULL; i++)
            if (def_val(i) == opt)
                d = &defs[i];
        if (d == NULL) {
            berth_bench_usage(stderr);
            *exit_code = 2;
            return false;
        }
        if (d->kind == OPT_SPECIAL) {
            if (!parse_special(o, d, optarg, exit_code))
                return false;
        } else {
            store(o, d, optarg);
        }
    }
    for (; optind < argc; optind++) {
        if (o->scenario == NULL && strchr(argv[optind], '=') == NULL)
            o->scenario = argv[optind];
        else if (o->compare && add_endpoint(o->eps, &o->neps, argv[optind]) < 0) {
            *exit_code = 2;
            return false;
        } else if (!o->compare) {
            berth_bench_usage(stderr);
            *exit_code = 2;
            return false;
        }
    }
    if (o->command == NULL)
        o->command = berth_bench_strv_split("sleep 3600", ' ');
    o->progress = isatty(2) && isatty(1);
    return true;
}

int berth_bench_opts_endpoints(berth_bench_opts_t *o, bool floor)
{
    if (!o->compare) {
        if (o->sock == NULL && !floor) {
            fprintf(stderr, "berth-bench: --socket PATH or --compare A=SOCK1 B=SOCK2 needed\n");
            return -1;
        }
        o->eps[0].label = berth_strdup(floor ? "floor" : "runtime");
        o->eps[0].sock = o->sock ? berth_strdup(o->sock) : NULL;
        o->neps = 1;
    }
    for (int e = 0; e < o->neps; e++) {
        berth_bench_endpoint_t *ep = &o->eps[e];
        for (int i = 0; i < o->nprocs; i++) {
            const char *p = o->procs_arg[i];
            const char *eq = strchr(p, '=');
            if (eq == NULL && ep->procs == NULL)
                ep->procs = berth_bench_strv_split(p, ',');
            else if (eq && strncmp(p, ep->label, (size_t)(eq - p)) == 0 &&
                     ep->label[eq - p] == '\0')
                ep->procs = berth_bench_strv_split(eq + 1, ',');
        }
        if (ep->procs == NULL)
            ep->procs = default_procs(o, ep->sock, floor || ep->sock == NULL);
    }
    return 0;
}

void berth_bench_opts_fini(berth_bench_opts_t *o)
{
    for (int e = 0; e < o->neps; e++) {
        berth_free(o->eps[e].label);
        berth_free(o->eps[e].sock);
        berth_bench_strv_free(o->eps[e].procs);
    }
    berth_bench_strv_free(o->command);
    o->command = NULL;
    o->neps = 0;
}
