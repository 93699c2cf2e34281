/* parse_streams.c -- see parse_streams.h. */
#include "parse_streams.h"
#include "queue_internal.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 64u

int bf_symkey_make(const char *name, size_t len, bf_symkey *key) {
    /* the writer's rule (UTF-8; ASCII letters upper-cased), so that both name a symbol
     * the same way */
    memset(key, 0, sizeof *key);
    if (bf__symbol_normalize(name, len, key->u.name) != BF_OK) return BF_ESYMBOL;
    key->len = (uint32_t)len;
    return BF_OK;
}

bf_stream_entry *bf_streams_find(const bf_streams *t, const bf_symkey *key) {
    if (t->capacity == 0) return NULL;
    size_t mask = t->capacity - 1;
    for (size_t i = (size_t)bf_symkey_hash(key) & mask;; i = (i + 1) & mask) {
        bf_stream_entry *e = &t->slots[i];
        if (e->symbol_id == 0) return NULL;
        if (bf_symkey_equal(&e->key, key)) return e;
    }
}

bf_stream_entry *bf_streams_find_id(const bf_streams *t, uint64_t symbol_id) {
    if (symbol_id == 0) return NULL;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].symbol_id == symbol_id) return &t->slots[i];
    return NULL;
}

static bf_stream_entry *place(bf_stream_entry *slots, size_t capacity, const bf_stream_entry *src) {
    size_t mask = capacity - 1;
    size_t i = (size_t)bf_symkey_hash(&src->key) & mask;
    while (slots[i].symbol_id != 0) i = (i + 1) & mask;
    slots[i] = *src;
    return &slots[i];
}

static int grow(bf_streams *t) {
    size_t capacity = t->capacity ? t->capacity * 2 : INITIAL_CAPACITY;
    bf_stream_entry *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL) return BF_ENOMEM;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].symbol_id != 0) place(slots, capacity, &t->slots[i]);
    free(t->slots);
    t->slots = slots;
    t->capacity = capacity;
    return BF_OK;
}

int bf_streams_insert(bf_streams *t, const bf_symkey *key, uint64_t symbol_id,
                      bf_stream_entry **out) {
    if (symbol_id == 0) return BF_EINVAL;
    bf_stream_entry *found = bf_streams_find(t, key);
    if (found != NULL) {
        *out = found;
        return BF_OK;
    }
    if ((t->count + 1) * 2 > t->capacity) { /* keep the load factor at most 1/2 */
        int rc = grow(t);
        if (rc != BF_OK) return rc;
    }
    bf_stream_entry entry;
    memset(&entry, 0, sizeof entry);
    entry.key = *key;
    entry.symbol_id = symbol_id;
    *out = place(t->slots, t->capacity, &entry);
    t->count++;
    return BF_OK;
}

void bf_streams_free(bf_streams *t) {
    free(t->slots);
    t->slots = NULL;
    t->capacity = 0;
    t->count = 0;
}
