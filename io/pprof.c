/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof profiles (io/pprof.h): stacks counted in a hash table, then encoded
 * with protobuf-c and gzip'd with zlib. Symbols come from the ELF files
 * themselves (.symtab when present, .dynsym otherwise), so static functions
 * of berthd are named too; nothing here runs in a signal handler.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/alloc.h"
#include "engine/prof.h"
#include "io/pprof.h"
#include "profile.pb-c.h"

/* ---- counting stacks ---------------------------------------------------- */

struct stack {
    uint64_t hash;
    uint64_t count;
    uint32_t n;
    uintptr_t *pcs; /* owned; NULL marks an empty table slot */
};

struct berth_pprof {
    uint64_t period_ns;
    uint64_t samples;
    struct stack *tab;
    size_t cap, used;
    char **comments; /* owned */
    size_t ncomments;
};

static uint64_t hash_pcs(const uintptr_t *pcs, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

berth_pprof_t *berth_pprof_new(uint64_t period_ns)
{
    berth_pprof_t *p = berth_calloc(1, sizeof(*p));
    p->period_ns = period_ns;
    p->cap = 1024;
    p->tab = berth_calloc(p->cap, sizeof(*p->tab));
    return p;
}

void berth_pprof_free(berth_pprof_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->cap; i++)
        berth_free(p->tab[i].pcs);
    berth_free(p->tab);
    for (size_t i = 0; i < p->ncomments; i++)
        berth_free(p->comments[i]);
    berth_free(p->comments);
    berth_free(p);
}

static struct stack *stack_slot(struct stack *tab, size_t cap, uint64_t h, const uintptr_t *pcs,
                                size_t n)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct stack *s = &tab[i];
        if (s->pcs == NULL ||
            (s->hash == h && s->n == n && memcmp(s->pcs, pcs, n * sizeof(*pcs)) == 0))
            return s;
    }
}

void berth_pprof_add(void *pv, const uintptr_t *pcs, size_t n, uint32_t weight)
{
    berth_pprof_t *p = pv;
    if (n == 0 || weight == 0)
        return;
    p->samples += weight;
    uint64_t h = hash_pcs(pcs, n);
    struct stack *s = stack_slot(p->tab, p->cap, h, pcs, n);
    if (s->pcs != NULL) {
        s->count += weight;
        return;
    }
    s->hash = h;
    s->n = (uint32_t)n;
    s->count = weight;
    s->pcs = berth_memdup(pcs, n * sizeof(*pcs));
    if (++p->used * 2 > p->cap) {
        size_t cap = p->cap * 2;
        struct stack *tab = berth_calloc(cap, sizeof(*tab));
        for (size_t i = 0; i < p->cap; i++)
            if (p->tab[i].pcs != NULL)
                *stack_slot(tab, cap, p->tab[i].hash, p->tab[i].pcs, p->tab[i].n) = p->tab[i];
        berth_free(p->tab);
        p->tab = tab;
        p->cap = cap;
    }
}

void berth_pprof_comment(berth_pprof_t *p, const char *text)
{
    p->comments = berth_realloc(p->comments, (p->ncomments + 1) * sizeof(*p->comments));
    p->comments[p->ncomments++] = berth_strdup(text);
}

uint64_t berth_pprof_samples(const berth_pprof_t *p)
{
    return p->samples;
}

size_t berth_pprof_stacks(const berth_pprof_t *p)
{
    return p->used;
}

/* ---- interning: strings and addresses to dense ids ------------------------ */

/* An open-addressing map from a key (a string, or an address) to a dense
 * id from 1 (strings from 0: the string table's first entry is ""). */
struct idmap {
    struct idslot {
        uint64_t key; /* address, or the string's hash */
        const char *str;
        uint64_t id; /* 0: empty */
    } * tab;
    size_t cap, n;
};

/* Spreads addresses (whose low bits repeat) over the table. */
static uint64_t mix(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 32);
}

static void idmap_grow(struct idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    struct idslot *tab = berth_calloc(cap, sizeof(*tab));
    for (size_t i = 0; i < m->cap; i++) {
        if (m->tab[i].id == 0)
            continue;
        size_t j = mix(m->tab[i].key) & (cap - 1);
        while (tab[j].id != 0)
            j = (j + 1) & (cap - 1);
        tab[j] = m->tab[i];
    }
    berth_free(m->tab);
    m->tab = tab;
    m->cap = cap;
}

/* The slot for (key, str); a new one has id 0 for the caller to fill. */
static struct idslot *idmap_find(struct idmap *m, uint64_t key, const char *str)
{
    if ((m->n + 1) * 2 > m->cap)
        idmap_grow(m);
    for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct idslot *s = &m->tab[i];
        if (s->id == 0)
            return s;
        if (s->key == key && (str == NULL || strcmp(s->str, str) == 0))
            return s;
    }
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 31);
}

/* ---- ELF symbols ------------------------------------------------------------- */

struct sym {
    uint64_t value, size;
    const char *name; /* in the object's mapped file */
};

struct object {
    uintptr_t fbase;     /* where dladdr says it is loaded */
    uint64_t load_vaddr; /* p_vaddr of its first PT_LOAD, page-aligned */
    void *map;
    size_t map_len;
    struct sym *syms;
    size_t nsyms;
};

static int sym_cmp(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    return x->value < y->value ? -1 : x->value > y->value;
}

/* Reads path's function symbols: .symtab when the file has one (berthd's
 * own static functions), .dynsym otherwise. A file that cannot be read
 * leaves the object without symbols. */
static void object_load(struct object *o, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return;
    o->map = map;
    o->map_len = (size_t)st.st_size;
    const uint8_t *b = map;
    const Elf64_Ehdr *eh = map;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return;
    size_t len = o->map_len;
    if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(b + eh->e_phoff);
        for (unsigned i = 0; i < eh->e_phnum; i++) {
            if (ph[i].p_type == PT_LOAD) {
                o->load_vaddr = ph[i].p_vaddr & ~(uint64_t)4095;
                break;
            }
        }
    }
    if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
        return;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
    const Elf64_Shdr *symtab = NULL;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_SYMTAB)
            symtab = &sh[i];
        else if (sh[i].sh_type == SHT_DYNSYM && symtab == NULL)
            symtab = &sh[i];
    }
    if (symtab == NULL || symtab->sh_link >= eh->e_shnum || symtab->sh_entsize != sizeof(Elf64_Sym))
        return;
    const Elf64_Shdr *strtab = &sh[symtab->sh_link];
    if (symtab->sh_offset + symtab->sh_size > len || strtab->sh_offset + strtab->sh_size > len ||
        strtab->sh_size == 0)
        return;
    const Elf64_Sym *syms = (const Elf64_Sym *)(b + symtab->sh_offset);
    const char *strs = (const char *)(b + strtab->sh_offset);
    size_t n = symtab->sh_size / sizeof(Elf64_Sym);
    o->syms = berth_calloc(n ? n : 1, sizeof(*o->syms));
    for (size_t i = 0; i < n; i++) {
        unsigned type = ELF64_ST_TYPE(syms[i].st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || syms[i].st_value == 0 ||
            syms[i].st_name >= strtab->sh_size)
            continue;
        const char *name = strs + syms[i].st_name;
        /* The table's last string must end inside it. */
        if (memchr(name, '\0', strtab->sh_size - syms[i].st_name) == NULL || name[0] == '\0')
            continue;
        o->syms[o->nsyms++] = (struct sym){syms[i].st_value, syms[i].st_size, name};
    }
    qsort(o->syms, o->nsyms, sizeof(*o->syms), sym_cmp);
}

static const char *object_lookup(const struct object *o, uintptr_t pc)
{
    uint64_t v = pc - o->fbase + o->load_vaddr;
    size_t lo = 0, hi = o->nsyms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->syms[mid].value <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct sym *s = &o->syms[lo - 1];
    if (s->size != 0 && v >= s->value + s->size)
        return NULL;
    return s->name;
}

struct symbolizer {
    struct object *objs;
    size_t n;
    uintptr_t exe_base;
};

/* The function name at pc (borrowed until the symbolizer is freed). */
static const char *symbolize(struct symbolizer *z, uintptr_t pc)
{
    Dl_info info;
    if (dladdr((void *)pc, &info) == 0 || info.dli_fbase == NULL)
        return NULL;
    uintptr_t base = (uintptr_t)info.dli_fbase;
    struct object *o = NULL;
    for (size_t i = 0; i < z->n; i++)
        if (z->objs[i].fbase == base)
            o = &z->objs[i];
    if (o == NULL) {
        z->objs = berth_realloc(z->objs, (z->n + 1) * sizeof(*z->objs));
        o = &z->objs[z->n++];
        *o = (struct object){.fbase = base};
        /* The executable's dli_fname is argv[0], which may be relative. */
        object_load(o, base == z->exe_base ? "/proc/self/exe" : info.dli_fname);
    }
    const char *name = object_lookup(o, pc);
    return name ? name : info.dli_sname;
}

static void symbolizer_fini(struct symbolizer *z)
{
    for (size_t i = 0; i < z->n; i++) {
        if (z->objs[i].map != NULL)
            munmap(z->objs[i].map, z->objs[i].map_len);
        berth_free(z->objs[i].syms);
    }
    berth_free(z->objs);
}

/* ---- mappings ------------------------------------------------------------- */

struct mapping {
    uint64_t start, limit, offset;
    char *file;
    bool all_named;
};

static void read_mappings(struct mapping **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return;
    char line[4096 + 128];
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long start, end, off;
        char perms[8];
        int pathpos = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pathpos) <
                    4 ||
            strchr(perms, 'x') == NULL)
            continue;
        char *path = pathpos > 0 ? line + pathpos : (char *)"";
        path[strcspn(path, "\n")] = '\0';
        *out = berth_realloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = (struct mapping){start, end, off, berth_strdup(path), true};
    }
    fclose(f);
}

/* ---- encoding ------------------------------------------------------------- */

struct strtab {
    struct idmap map;
    char **v;
    size_t n;
};

static int64_t intern(struct strtab *t, const char *s)
{
    uint64_t h = str_hash(s);
    struct idslot *slot = idmap_find(&t->map, h, s);
    if (slot->id != 0)
        return (int64_t)slot->id - 1;
    t->v = berth_realloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n] = berth_strdup(s);
    *slot = (struct idslot){h, t->v[t->n], t->n + 1};
    t->map.n++;
    return (int64_t)t->n++;
}

struct loc {
    uintptr_t addr;
    uint64_t mapping_id, function_id;
};

static int gzip_into(const uint8_t *in, size_t len, berth_bytebuf_t *out, berth_err_t *err)
{
    z_stream zs = {0};
    /* 15 + 16: a gzip header and trailer around the deflate stream. */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return berth_err_make(err, ENOMEM, BERTH_ERR_INTERNAL, "gzip the profile: deflateInit2");
    uLong bound = deflateBound(&zs, (uLong)len);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = berth_bytebuf_reserve(out, bound);
    zs.avail_out = (uInt)bound;
    int r = deflate(&zs, Z_FINISH);
    size_t produced = bound - zs.avail_out;
    deflateEnd(&zs);
    if (r != Z_STREAM_END)
        return berth_err_make(err, EIO, BERTH_ERR_INTERNAL, "gzip the profile: deflate %d", r);
    out->len += produced;
    return 0;
}

int berth_pprof_encode(berth_pprof_t *p, uint64_t start_wall_ns, uint64_t duration_ns,
                       berth_bytebuf_t *out, berth_err_t *err)
{
    struct strtab st = {0};
    intern(&st, "");
    struct mapping *maps;
    size_t nmaps;
    read_mappings(&maps, &nmaps);
    Dl_info self;
    struct symbolizer z = {0};
    if (dladdr((void *)(uintptr_t)berth_pprof_encode, &self) != 0)
        z.exe_base = (uintptr_t)self.dli_fbase;

    /* Locations: one per distinct address. Return addresses (every frame
     * but the leaf) point after their call: name the call, one byte back. */
    struct idmap locmap = {0};
    struct loc *locs = NULL;
    size_t nlocs = 0;
    struct idmap funcmap = {0};
    int64_t *func_names = NULL;
    size_t nfuncs = 0;
    Perftools__Profiles__Sample *samples = berth_calloc(p->used ? p->used : 1, sizeof(*samples));
    Perftools__Profiles__Sample **sample_ptrs =
            berth_calloc(p->used ? p->used : 1, sizeof(*sample_ptrs));
    int64_t *values = berth_calloc(p->used ? p->used * 2 : 1, sizeof(*values));
    size_t ns = 0;
    for (size_t i = 0; i < p->cap; i++) {
        struct stack *s = &p->tab[i];
        if (s->pcs == NULL)
            continue;
        Perftools__Profiles__Sample *smp = &samples[ns];
        perftools__profiles__sample__init(smp);
        smp->location_id = berth_calloc(s->n, sizeof(uint64_t));
        smp->n_location_id = s->n;
        for (uint32_t k = 0; k < s->n; k++) {
            uintptr_t a = k == 0 ? s->pcs[k] : s->pcs[k] - 1;
            struct idslot *slot = idmap_find(&locmap, a, NULL);
            if (slot->id == 0) {
                locs = berth_realloc(locs, (nlocs + 1) * sizeof(*locs));
                struct loc *l = &locs[nlocs];
                *l = (struct loc){.addr = a};
                for (size_t m = 0; m < nmaps; m++)
                    if (a >= maps[m].start && a < maps[m].limit)
                        l->mapping_id = m + 1;
                const char *name = symbolize(&z, a);
                if (name != NULL) {
                    uint64_t h = str_hash(name);
                    struct idslot *fs = idmap_find(&funcmap, h, name);
                    if (fs->id == 0) {
                        func_names = berth_realloc(func_names, (nfuncs + 1) * sizeof(int64_t));
                        int64_t sid = intern(&st, name);
                        func_names[nfuncs++] = sid;
                        *fs = (struct idslot){h, st.v[sid], nfuncs};
                        funcmap.n++;
                    }
                    l->function_id = fs->id;
                } else if (l->mapping_id != 0) {
                    maps[l->mapping_id - 1].all_named = false;
                }
                *slot = (struct idslot){a, NULL, ++nlocs};
                locmap.n++;
            }
            smp->location_id[k] = slot->id;
        }
        smp->value = &values[ns * 2];
        smp->n_value = 2;
        smp->value[0] = (int64_t)s->count;
        smp->value[1] = (int64_t)(s->count * p->period_ns);
        sample_ptrs[ns] = smp;
        ns++;
    }

    Perftools__Profiles__Profile prof;
    perftools__profiles__profile__init(&prof);
    Perftools__Profiles__ValueType vt[3];
    Perftools__Profiles__ValueType *vtp[2] = {&vt[0], &vt[1]};
    for (int i = 0; i < 3; i++)
        perftools__profiles__value_type__init(&vt[i]);
    vt[0].type = intern(&st, "samples");
    vt[0].unit = intern(&st, "count");
    vt[1].type = intern(&st, "cpu");
    vt[1].unit = intern(&st, "nanoseconds");
    vt[2] = vt[1];
    prof.sample_type = vtp;
    prof.n_sample_type = 2;
    prof.period_type = &vt[2];
    prof.period = (int64_t)p->period_ns;
    prof.time_nanos = (int64_t)start_wall_ns;
    prof.duration_nanos = (int64_t)duration_ns;
    prof.sample = sample_ptrs;
    prof.n_sample = ns;

    Perftools__Profiles__Mapping *mp = berth_calloc(nmaps ? nmaps : 1, sizeof(*mp));
    Perftools__Profiles__Mapping **mpp = berth_calloc(nmaps ? nmaps : 1, sizeof(*mpp));
    for (size_t m = 0; m < nmaps; m++) {
        perftools__profiles__mapping__init(&mp[m]);
        mp[m].id = m + 1;
        mp[m].memory_start = maps[m].start;
        mp[m].memory_limit = maps[m].limit;
        mp[m].file_offset = maps[m].offset;
        mp[m].filename = intern(&st, maps[m].file);
        mp[m].has_functions = maps[m].all_named;
        mpp[m] = &mp[m];
    }
    prof.mapping = mpp;
    prof.n_mapping = nmaps;

    Perftools__Profiles__Location *lp = berth_calloc(nlocs ? nlocs : 1, sizeof(*lp));
    Perftools__Profiles__Location **lpp = berth_calloc(nlocs ? nlocs : 1, sizeof(*lpp));
    Perftools__Profiles__Line *lines = berth_calloc(nlocs ? nlocs : 1, sizeof(*lines));
    Perftools__Profiles__Line **linep = berth_calloc(nlocs ? nlocs : 1, sizeof(*linep));
    for (size_t i = 0; i < nlocs; i++) {
        perftools__profiles__location__init(&lp[i]);
        lp[i].id = i + 1;
        lp[i].mapping_id = locs[i].mapping_id;
        lp[i].address = locs[i].addr;
        if (locs[i].function_id != 0) {
            perftools__profiles__line__init(&lines[i]);
            lines[i].function_id = locs[i].function_id;
            linep[i] = &lines[i];
            lp[i].line = &linep[i];
            lp[i].n_line = 1;
        }
        lpp[i] = &lp[i];
    }
    prof.location = lpp;
    prof.n_location = nlocs;

    Perftools__Profiles__Function *fp = berth_calloc(nfuncs ? nfuncs : 1, sizeof(*fp));
    Perftools__Profiles__Function **fpp = berth_calloc(nfuncs ? nfuncs : 1, sizeof(*fpp));
    for (size_t i = 0; i < nfuncs; i++) {
        perftools__profiles__function__init(&fp[i]);
        fp[i].id = i + 1;
        fp[i].name = func_names[i];
        fp[i].system_name = func_names[i];
        fpp[i] = &fp[i];
    }
    prof.function = fpp;
    prof.n_function = nfuncs;
    int64_t *comments = berth_calloc(p->ncomments ? p->ncomments : 1, sizeof(*comments));
    for (size_t i = 0; i < p->ncomments; i++)
        comments[i] = intern(&st, p->comments[i]);
    prof.comment = comments;
    prof.n_comment = p->ncomments;
    prof.string_table = st.v;
    prof.n_string_table = st.n;

    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    uint8_t *pb = berth_malloc(len ? len : 1);
    perftools__profiles__profile__pack(&prof, pb);
    int rc = gzip_into(pb, len, out, err);

    berth_free(pb);
    berth_free(comments);
    for (size_t i = 0; i < ns; i++)
        berth_free(samples[i].location_id);
    berth_free(samples);
    berth_free(sample_ptrs);
    berth_free(values);
    berth_free(mp);
    berth_free(mpp);
    berth_free(lp);
    berth_free(lpp);
    berth_free(lines);
    berth_free(linep);
    berth_free(fp);
    berth_free(fpp);
    berth_free(func_names);
    berth_free(locs);
    berth_free(locmap.tab);
    berth_free(funcmap.tab);
    for (size_t m = 0; m < nmaps; m++)
        berth_free(maps[m].file);
    berth_free(maps);
    for (size_t i = 0; i < st.n; i++)
        berth_free(st.v[i]);
    berth_free(st.v);
    berth_free(st.map.tab);
    symbolizer_fini(&z);
    return rc;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int aborted; /* atomic: set once at shutdown */

void berth_pprof_abort(void)
{
    /* Relaxed is enough: a session looks every 50 ms and a late look only
     * costs that much more of the shutdown. */
    __atomic_store_n(&aborted, 1, __ATOMIC_RELAXED);
}

int berth_pprof_collect(unsigned seconds, unsigned hz, berth_bytebuf_t *out, berth_err_t *err)
{
    if (seconds == 0 || seconds > BERTH_PPROF_MAX_SECONDS)
        return berth_err_make(err, EINVAL, BERTH_ERR_INVALID,
                              "profile duration %u s: expected 1 to %u seconds", seconds,
                              BERTH_PPROF_MAX_SECONDS);
    if (berth_prof_start(hz, err) < 0)
        return -1;
    berth_pprof_t *p = berth_pprof_new(1000000000ull / hz);
    uint64_t wall = clock_ns(CLOCK_REALTIME);
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    uint64_t end = t0 + (uint64_t)seconds * 1000000000ull;
    for (uint64_t now = t0; now < end && !__atomic_load_n(&aborted, __ATOMIC_RELAXED);
         now = clock_ns(CLOCK_MONOTONIC)) {
        uint64_t left = end - now;
        uint64_t nap = left < 50000000ull ? left : 50000000ull;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)nap};
        nanosleep(&ts, NULL);
        berth_prof_drain(berth_pprof_add, p);
    }
    berth_prof_stats_t st;
    berth_prof_stop(berth_pprof_add, p, &st);
    uint64_t duration = clock_ns(CLOCK_MONOTONIC) - t0;
    char line[160];
    snprintf(line, sizeof(line), "berth: %u threads sampled at %u Hz, %llu signals, %llu lost",
             st.threads, hz, (unsigned long long)st.samples, (unsigned long long)st.dropped);
    berth_pprof_comment(p, line);
    /* The blocking pool's threads block SIGPROF between jobs and join the
     * session at their first job in it (engine/prof.h). */
    snprintf(line, sizeof(line),
             "berth: %u blocking-pool threads sampled while running jobs; %u threads blocked "
             "SIGPROF at the start (the pool's among them)",
             st.joined, st.skipped);
    berth_pprof_comment(p, line);
    int rc = berth_pprof_encode(p, wall, duration, out, err);
    berth_pprof_free(p);
    return rc;
}
