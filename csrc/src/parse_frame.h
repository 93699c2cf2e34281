/*
 * parse_frame.h -- one Binance frame to a normalized message: no writer, no parser state,
 * no allocation.
 *
 * Two front ends fill the same view of a payload object (bf_fields: the values of the keys
 * binfeed looks at), and one back end (bf_fields_decode) classifies it and checks every
 * field the record needs (type, grammar, stream name), converting prices and quantities:
 *
 *   bf_frame_decode_json  any frame, as a yyjson document (parse_json.c): the reference;
 *   bf_frame_decode_fast  a frame in Binance's compact wire form only (parse_fast.c): flat
 *                         objects of strings (UTF-8, escapes decoded), unsigned integers
 *                         and booleans, no whitespace. It returns "not handled" for anything else,
 *                         and for every frame it cannot store, so that all errors and rare
 *                         shapes come from the reference path, with its messages.
 * Sequencing, symbols and appends are parse.c's job, so a frame is fully validated before
 * anything is written. Not part of the public API.
 */
#ifndef BINFEED_PARSE_FRAME_H
#define BINFEED_PARSE_FRAME_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "yyjson.h"

/** A normalized market-data message (or the kind of a frame that carries none). */
typedef struct bf_msg {
    int kind;              /* BF_FRAME_BOOK_TICKER, _TRADE, _UNSTORED, _CONTROL,
                              _SERVER_SHUTDOWN */
    uint32_t stream;       /* BF_STREAM_* for market data, else 0 */
    const char *symbol;    /* `s`, pointing into the frame (not NUL-terminated); also of a
                              known unstored event when it has one */
    size_t symbol_len;
    uint64_t seq;          /* bookTicker `u`, trade `t` */
    uint64_t timestamp_us; /* bookTicker: `E` when present (futures), else 0; us */
    double values[4];      /* bookTicker: b, B, a, A; trade: p, q */
    uint64_t trade_ts_us;  /* trade `T`, microseconds (see exchange_time_us) */
    uint64_t event_ts_us;  /* trade `E`, microseconds */
    uint32_t trade_flags;  /* BF_TRADE_F_* */
    const char *envelope;  /* the envelope's "stream" name, or NULL for a raw payload */
    size_t envelope_len;
    const char *event;     /* market data: "bookTicker", "trade" or the `e` of a known
                              unstored event (not NUL-terminated), else NULL */
    size_t event_len;
} bf_msg;

/** A JSON value as the decoder needs it. */
typedef enum bf_jv_type { BF_JV_NONE = 0, BF_JV_STR, BF_JV_UINT, BF_JV_BOOL, BF_JV_OTHER } bf_jv_type;

typedef struct bf_jv {
    bf_jv_type type; /* BF_JV_NONE: the key is absent */
    const char *str; /* BF_JV_STR: the decoded string (not NUL-terminated) */
    uint64_t num;    /* BF_JV_STR: its length; BF_JV_UINT: the value; BF_JV_BOOL: 0 or 1 */
    yyjson_val *val; /* BF_JV_OTHER from yyjson (describes it in messages), or NULL */
} bf_jv;

/** The keys binfeed looks at. */
typedef enum bf_key {
    BF_KEY_e, BF_KEY_E, BF_KEY_s, BF_KEY_u, BF_KEY_b, BF_KEY_B, BF_KEY_a, BF_KEY_A,
    BF_KEY_t, BF_KEY_p, BF_KEY_q, BF_KEY_T, BF_KEY_m, BF_KEY_M,
    BF_KEY_result, BF_KEY_id, BF_KEY_error, BF_KEY_code, BF_KEY_msg, BF_KEY_lastUpdateId,
    BF_KEY_COUNT
} bf_key;

/** The values of those keys in one payload object (the last duplicate wins, as with
 *  Python's json). Only `present` and `n_keys` need zeroing before use. */
typedef struct bf_fields {
    uint32_t present; /* bit k: values[k] is set */
    size_t n_keys;
    const char *first_keys[3]; /* for messages about unknown shapes */
    size_t first_key_lens[3];
    bf_jv values[BF_KEY_COUNT];
} bf_fields;

static inline void bf_fields_init(bf_fields *f) {
    f->present = 0;
    f->n_keys = 0;
}

/** The value of key k, or an absent value (type BF_JV_NONE). */
static inline const bf_jv *bf_field(const bf_fields *f, bf_key k) {
    static const bf_jv absent = {BF_JV_NONE, NULL, 0, NULL};
    return (f->present >> k) & 1u ? &f->values[k] : &absent;
}

/** The bf_key of a key, or -1 for keys binfeed ignores. */
static inline int bf_key_index(const char *k, size_t len) {
    if (len == 1) {
        switch (k[0]) {
        case 'e': return BF_KEY_e;
        case 'E': return BF_KEY_E;
        case 's': return BF_KEY_s;
        case 'u': return BF_KEY_u;
        case 'b': return BF_KEY_b;
        case 'B': return BF_KEY_B;
        case 'a': return BF_KEY_a;
        case 'A': return BF_KEY_A;
        case 't': return BF_KEY_t;
        case 'p': return BF_KEY_p;
        case 'q': return BF_KEY_q;
        case 'T': return BF_KEY_T;
        case 'm': return BF_KEY_m;
        case 'M': return BF_KEY_M;
        default: return -1;
        }
    }
    if (len == 2 && memcmp(k, "id", 2) == 0) return BF_KEY_id;
    if (len == 3 && memcmp(k, "msg", 3) == 0) return BF_KEY_msg;
    if (len == 4 && memcmp(k, "code", 4) == 0) return BF_KEY_code;
    if (len == 5 && memcmp(k, "error", 5) == 0) return BF_KEY_error;
    if (len == 6 && memcmp(k, "result", 6) == 0) return BF_KEY_result;
    if (len == 12 && memcmp(k, "lastUpdateId", 12) == 0) return BF_KEY_lastUpdateId;
    return -1;
}

/** Records one key/value pair in *f (used by both front ends). */
static inline void bf_fields_put(bf_fields *f, const char *k, size_t len, const bf_jv *v) {
    if (f->n_keys < 3) {
        f->first_keys[f->n_keys] = k;
        f->first_key_lens[f->n_keys] = len;
    }
    f->n_keys++;
    int i = bf_key_index(k, len);
    if (i >= 0) {
        f->values[i] = *v;
        f->present |= 1u << i;
    }
}

/** Classifies a payload and decodes it into *msg. `stream` is the envelope's stream name
 *  (BF_JV_STR) or NULL for a raw payload. Returns BF_OK, or BF_EFIELD, BF_ENUMBER or
 *  BF_EUNKNOWN with a message naming the field and value in err[0..errlen). */
int bf_fields_decode(const bf_fields *f, const bf_jv *stream, locale_t c_locale, bf_msg *msg,
                     char *err, size_t errlen);


/** True if `e` (a string) is an event type binfeed knows and does not store. */
int bf_event_known_unstored(const char *e, size_t len);

/** The reference front end: the document rooted at `root`. Same results as above. */
int bf_frame_decode_json(yyjson_val *root, locale_t c_locale, bf_msg *msg, char *err,
                         size_t errlen);

/** Room for the escaped strings of one frame the fast front end decodes (an escaped symbol
 *  and stream name fit; more falls back to yyjson). */
#define BF_FAST_SCRATCH 128

/** Where the fast front end puts the strings it decodes: msg->symbol may point here, so it
 *  must live as long as the message. */
typedef struct bf_fast_scratch {
    size_t used;
    char buf[BF_FAST_SCRATCH];
} bf_fast_scratch;

/** The fast front end, on frame[0..len) read-only. Returns 1 with *msg filled when the
 *  frame is in compact wire form and decodes to a BOOK_TICKER or TRADE; 0 otherwise (the
 *  caller then uses bf_frame_decode_json, which gives the same answer for every frame
 *  this one handles). Escaped strings are decoded into *scratch (see above). */
int bf_frame_decode_fast(const char *frame, size_t len, locale_t c_locale, bf_msg *msg,
                         bf_fast_scratch *scratch);

#endif
