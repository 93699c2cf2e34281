/* parse_subs.c -- a connection's subscribed streams (binfeed.h, "MARK: - Subscriptions").
 *
 * An open-addressing table keyed like the parser's stream table (parse_streams.h: the
 * normalized symbol), each entry holding the state and index of the symbol's streams.
 * A connection carries at most 1024 streams, so the table stays small; it grows only in
 * bf_subs_set, never during a frame.
 */
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
#include "parse_streams.h"
#include "parse_subs.h"

#define INITIAL_CAPACITY 16u

typedef struct subs_entry {
    bf_symkey key;
    uint32_t used;
    uint8_t state[BF_STREAM_COUNT];  /* BF_SUB_*, index: BF_STREAM_* - 1 */
    uint32_t index[BF_STREAM_COUNT]; /* 1 + the stream's index in the set, 0 = never set */
} subs_entry;

struct bf_subs {
    subs_entry *slots;
    size_t capacity; /* a power of two */
    size_t count;
    uint32_t next_index;
    /* The last two symbols looked up, as the frames spelt them, most recent first: a
     * connection's frames come in runs of one symbol, often two interleaved (&absent:
     * not in the set; NULL: nothing cached). */
    struct {
        const subs_entry *entry;
        size_t len;
        char raw[BF_SYMBOL_MAX];
    } recent[2];
    subs_entry absent; /* all zero: every stream BF_SUB_NONE */
};

static void forget(bf_subs *s) {
    s->recent[0].entry = NULL;
    s->recent[1].entry = NULL;
}

static subs_entry *find(const bf_subs *s, const bf_symkey *key) {
    size_t mask = s->capacity - 1;
    for (size_t i = (size_t)bf_symkey_hash(key) & mask;; i = (i + 1) & mask) {
        subs_entry *e = &s->slots[i];
        if (!e->used) return NULL;
        if (bf_symkey_equal(&e->key, key)) return e;
    }
}

static subs_entry *place(subs_entry *slots, size_t capacity, const subs_entry *src) {
    size_t mask = capacity - 1;
    size_t i = (size_t)bf_symkey_hash(&src->key) & mask;
    while (slots[i].used) i = (i + 1) & mask;
    slots[i] = *src;
    return &slots[i];
}

static int grow(bf_subs *s) {
    size_t capacity = s->capacity * 2;
    subs_entry *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL) return BF_ENOMEM;
    for (size_t i = 0; i < s->capacity; i++)
        if (s->slots[i].used) place(slots, capacity, &s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->capacity = capacity;
    return BF_OK;
}

int bf_subs_new(bf_subs **out) {
    if (out == NULL) return BF_EINVAL;
    bf_subs *s = calloc(1, sizeof *s);
    if (s == NULL) return BF_ENOMEM;
    s->slots = calloc(INITIAL_CAPACITY, sizeof *s->slots);
    if (s->slots == NULL) {
        free(s);
        return BF_ENOMEM;
    }
    s->capacity = INITIAL_CAPACITY;
    *out = s;
    return BF_OK;
}

void bf_subs_free(bf_subs *s) {
    if (s == NULL) return;
    free(s->slots);
    free(s);
}

int bf_subs_set(bf_subs *s, const char *symbol, size_t len, uint32_t stream, uint32_t state) {
    if (s == NULL || symbol == NULL) return BF_EINVAL;
    if (stream == 0 || stream > BF_STREAM_COUNT || state > BF_SUB_ACCEPTED) return BF_EINVAL;
    bf_symkey key;
    if (bf_symkey_make(symbol, len, &key) != BF_OK) return BF_ESYMBOL;
    subs_entry *e = find(s, &key);
    if (e == NULL) {
        if ((s->count + 1) * 2 > s->capacity && grow(s) != BF_OK) return BF_ENOMEM;
        subs_entry fresh;
        memset(&fresh, 0, sizeof fresh);
        fresh.key = key;
        fresh.used = 1;
        e = place(s->slots, s->capacity, &fresh);
        s->count++;
    }
    forget(s); /* entries may have moved */
    if (e->index[stream - 1] == 0) e->index[stream - 1] = ++s->next_index;
    e->state[stream - 1] = (uint8_t)state;
    return (int)(e->index[stream - 1] - 1);
}

static inline int is_recent(const bf_subs *s, int i, const char *symbol, size_t len) {
    return s->recent[i].entry != NULL && len == s->recent[i].len &&
           memcmp(symbol, s->recent[i].raw, len) == 0;
}

int bf__subs_state(bf_subs *s, const char *symbol, size_t len, uint32_t stream,
                   uint32_t *index) {
    const subs_entry *e;
    if (is_recent(s, 0, symbol, len)) {
        e = s->recent[0].entry;
    } else if (is_recent(s, 1, symbol, len)) { /* the other of two interleaved symbols */
        e = s->recent[1].entry;
        s->recent[1] = s->recent[0];
        s->recent[0].entry = e;
        s->recent[0].len = len;
        memcpy(s->recent[0].raw, symbol, len);
    } else {
        bf_symkey key;
        if (bf_symkey_make(symbol, len, &key) != BF_OK) return -1;
        e = find(s, &key);
        if (e == NULL) e = &s->absent;
        s->recent[1] = s->recent[0];
        s->recent[0].entry = e;
        s->recent[0].len = len;
        memcpy(s->recent[0].raw, symbol, len); /* len <= BF_SYMBOL_MAX: bf_symkey_make */
    }
    *index = e->index[stream - 1];
    return e->state[stream - 1];
}
