/* symbols.c -- the writer's symbol table: name -> id (open addressing), id -> name. */
#include "queue_internal.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

int bf__symbol_normalize(const char *name, size_t len, char out[BF_SYMBOL_MAX]) {
    if (!name || len == 0 || len > BF_SYMBOL_MAX) return BF_ESYMBOL;
    memset(out, 0, BF_SYMBOL_MAX);
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c >= 0x80) { /* non-ASCII: kept as it is, if valid UTF-8 */
            size_t n = bf_utf8_sequence(p + i, len - i);
            if (n == 0) return BF_ESYMBOL;
            memcpy(out + i, p + i, n);
            i += n;
            continue;
        }
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                   c == '.'))
            return BF_ESYMBOL;
        out[i++] = (char)c;
    }
    return BF_OK;
}

int bf_symbol_normalize(const char *name, size_t len, char out[BF_SYMBOL_MAX]) {
    if (out == NULL) return BF_EINVAL;
    return bf__symbol_normalize(name, len, out);
}

static uint64_t hash_name(const char *name, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

uint64_t bf__symtab_find(const bf_symtab *t, const char *name, size_t len) {
    if (t->nslots == 0) return 0;
    uint64_t mask = t->nslots - 1;
    for (uint64_t i = hash_name(name, len) & mask;; i = (i + 1) & mask) {
        uint64_t id = t->slots[i];
        if (id == 0) return 0;
        const bf_sym *d = &t->defs[id - 1];
        if (d->name_len == len && memcmp(d->name, name, len) == 0) return id;
    }
}

static void index_insert(uint64_t *slots, uint64_t nslots, const bf_sym *d, uint64_t id) {
    uint64_t mask = nslots - 1;
    uint64_t i = hash_name(d->name, d->name_len) & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = id;
}

static int grow_index(bf_symtab *t, uint64_t entries) {
    if (entries * 2 <= t->nslots) return BF_OK; /* load factor <= 1/2 */
    uint64_t n = t->nslots ? t->nslots : 64;
    while (entries * 2 > n) n *= 2;
    uint64_t *slots = calloc(n, sizeof *slots);
    if (!slots) return BF_ENOMEM;
    for (uint64_t id = 1; id <= t->count; id++)
        if (t->defs[id - 1].name_len) index_insert(slots, n, &t->defs[id - 1], id);
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return BF_OK;
}

int bf__symtab_set(bf_symtab *t, uint64_t id, const char *name, size_t len) {
    char norm[BF_SYMBOL_MAX];
    if (id == 0 || id > BF_SYMBOL_ID_MAX || bf__symbol_normalize(name, len, norm) != BF_OK)
        return BF_ESYMBOL;
    uint64_t have = bf__symtab_find(t, norm, len);
    if (have) return have == id ? BF_OK : BF_ESYMBOL;
    if (bf__symtab_defined(t, id)) return BF_ESYMBOL; /* id already names another symbol */
    if (id > t->defs_cap) {
        uint64_t cap = t->defs_cap ? t->defs_cap : 64;
        while (cap < id) cap *= 2;
        bf_sym *defs = realloc(t->defs, cap * sizeof *defs);
        if (!defs) return BF_ENOMEM;
        memset(defs + t->defs_cap, 0, (cap - t->defs_cap) * sizeof *defs);
        t->defs = defs;
        t->defs_cap = cap;
    }
    if (grow_index(t, t->defined + 1) != BF_OK) return BF_ENOMEM;
    bf_sym *d = &t->defs[id - 1];
    memset(d, 0, sizeof *d);
    d->name_len = (uint32_t)len;
    memcpy(d->name, norm, BF_SYMBOL_MAX);
    if (id > t->count) t->count = id;
    t->defined++;
    index_insert(t->slots, t->nslots, d, id);
    return BF_OK;
}

void bf__symtab_free(bf_symtab *t) {
    free(t->defs);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
