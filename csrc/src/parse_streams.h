/*
 * parse_streams.h -- the parser's per-symbol table: symbol name -> symbol id, and for each
 * of the symbol's streams (bookTicker, trade) the last stored seq and a pending gap.
 *
 * Keys are the upper-cased symbol name (the writer stores names upper-case and looks them
 * up case-insensitively, so key <-> id is one to one). An open-addressing hash table of
 * entries; lookups compare four 64-bit words. Entries move when the table grows: a
 * pointer from bf_streams_find / bf_streams_insert is valid until the next insert.
 * Not part of the public API.
 */
#ifndef BINFEED_PARSE_STREAMS_H
#define BINFEED_PARSE_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "binfeed.h"

/** A symbol name, upper-cased and NUL padded to BF_SYMBOL_MAX bytes. */
typedef struct bf_symkey {
    union {
        char name[BF_SYMBOL_MAX];
        uint64_t words[BF_SYMBOL_MAX / 8];
    } u;
    uint32_t len;
} bf_symkey;

typedef struct bf_stream_state {
    uint64_t last;          /* last seq stored (valid when has_last) */
    uint8_t has_last;       /* a record of this stream is in the queue */
    uint8_t pending_reason; /* BF_GAP_* to write before the next record, 0 = none */
    uint8_t zero[6];
    uint64_t stored;        /* records this parser stored for the stream */
    uint64_t duplicates;    /* frames this parser dropped as duplicates */
    uint64_t gaps;          /* GAP records this parser wrote before the stream's records */
    uint64_t last_recv_ns;  /* receive time of the last stored record */
} bf_stream_state;

typedef struct bf_stream_entry {
    bf_symkey key;
    uint64_t symbol_id; /* 0 = free slot */
    bf_stream_state streams[BF_STREAM_COUNT]; /* index: BF_STREAM_* - 1 */
} bf_stream_entry;

typedef struct bf_streams {
    bf_stream_entry *slots;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
} bf_streams;

/** Validates a symbol name (1..BF_SYMBOL_MAX bytes of [A-Za-z0-9_-]) and builds its key.
 *  BF_OK or BF_ESYMBOL. */
int bf_symkey_make(const char *name, size_t len, bf_symkey *key);

/** A hash of a key (its four words and length), for the tables keyed by symbol. */
static inline uint64_t bf_symkey_hash(const bf_symkey *k) {
    uint64_t h = k->len * 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < BF_SYMBOL_MAX / 8; i++) {
        h ^= k->u.words[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

static inline int bf_symkey_equal(const bf_symkey *a, const bf_symkey *b) {
    return a->len == b->len && a->u.words[0] == b->u.words[0] && a->u.words[1] == b->u.words[1] &&
           a->u.words[2] == b->u.words[2] && a->u.words[3] == b->u.words[3];
}

/** The entry for key, or NULL. */
bf_stream_entry *bf_streams_find(const bf_streams *t, const bf_symkey *key);

/** The entry for symbol id, or NULL (a scan: not for the hot path). */
bf_stream_entry *bf_streams_find_id(const bf_streams *t, uint64_t symbol_id);

/** Inserts key with symbol_id (>= 1) if absent and returns its entry through *out (the
 *  existing one when present). BF_OK, BF_EINVAL (id 0) or BF_ENOMEM. */
int bf_streams_insert(bf_streams *t, const bf_symkey *key, uint64_t symbol_id,
                      bf_stream_entry **out);

void bf_streams_free(bf_streams *t);

#endif
