/* parse_fast.c -- the fast front end of parse_frame.h: Binance's compact wire form only.
 *
 * Binance sends every market-data frame as compact JSON: one flat object (or an envelope
 * {"stream":"..","data":{flat}}) whose values are plain ASCII strings, unsigned integers
 * and booleans. Building a yyjson document for that costs more than everything else the
 * parser does, so frames of exactly this form are scanned here directly, read-only:
 *
 *   frame    = ( flat / "{\"stream\":" plain ",\"data\":" flat "}" ) *ws
 *   flat     = "{" member *( "," member ) "}"
 *   member   = plain ":" ( plain / uint / "true" / "false" )
 *   plain    = '"' *( %x20-21 / %x23-5B / %x5D-7E ) '"'    ; no escapes, ASCII only
 *   uint     = "0" / %x31-39 0*18DIGIT                      ; fits in 64 bits
 *   ws       = " " / %x09 / %x0A / %x0D
 *
 * with no whitespace inside and nothing but whitespace after the last "}" (a capture line's
 * end, see binfeed/capture.py). Each such frame is valid JSON with the same meaning under
 * yyjson, and the values go through the same bf_fields_decode, so the result equals the
 * reference path's (tests/c/test_fuzz_parser.c checks this on every
 * input it makes). Anything else, and every frame that does not decode cleanly, returns 0
 * and is parsed by yyjson (errors and their messages always come from there).
 */
#include <string.h>

#include "binfeed.h"
#include "parse_decimal.h"
#include "parse_frame.h"

static inline uint64_t load8(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x; /* little-endian: byte 0 is the lowest (binfeed_reader.h is little-endian only) */
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Bytes of x that are zero (exact for the lowest one; higher ones may be false positives,
 * which is enough: only the lowest flagged byte is used). */
static inline uint64_t zero_bytes(uint64_t x) { return (x - ONES) & ~x & HIGHS; }

/* Bytes that end or disqualify a plain string: '"', '\\', < 0x20, >= 0x7f. */
static inline uint64_t special_bytes(uint64_t x) {
    return zero_bytes(x ^ (ONES * '"')) | zero_bytes(x ^ (ONES * '\\')) |
           ((x - ONES * 0x20) & ~x & HIGHS) | (x & HIGHS) | zero_bytes(x ^ (ONES * 0x7f));
}

/* p is just after an opening quote; returns the closing quote, or NULL if the string is not
 * plain (an escape, a control character, a non-ASCII byte) or not closed. */
static inline const char *plain_string(const char *p, const char *end) {
    while (end - p >= 8) {
        uint64_t m = special_bytes(load8(p));
        if (m != 0) {
            p += __builtin_ctzll(m) >> 3;
            return *p == '"' ? p : NULL;
        }
        p += 8;
    }
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p;
        if (c < 0x20 || c > 0x7e || c == '\\') return NULL;
    }
    return NULL;
}

/* Scans one value at p; returns the byte after it, or NULL if it is not of the fast form. */
static inline const char *value(const char *p, const char *end, bf_jv *out) {
    if (p >= end) return NULL;
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
        const char *q = plain_string(p + 1, end);
        if (q == NULL) return NULL;
        out->type = BF_JV_STR;
        out->str = p + 1;
        out->num = (uint64_t)(q - p - 1);
        return q + 1;
    }
    if (c >= '0' && c <= '9') {
        uint64_t v = c - '0';
        const char *q = p + 1;
        if (c != '0') {
            int64_t eight;
            if (end - q >= 8 && (eight = bf_eight_digits(q)) >= 0) { /* ids have 10+ digits */
                v = v * 100000000u + (uint64_t)eight;
                q += 8;
            }
            while (q < end && (unsigned)(*q - '0') <= 9u && q - p < 19)
                v = v * 10u + (uint64_t)(*q++ - '0');
        }
        /* A 20th digit, a digit after a leading 0, '.', 'e': not the fast form. */
        if (q < end && *q != ',' && *q != '}') return NULL;
        out->type = BF_JV_UINT;
        out->num = v;
        return q;
    }
    if (c == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
        out->type = BF_JV_BOOL;
        out->num = 1;
        return p + 4;
    }
    if (c == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0) {
        out->type = BF_JV_BOOL;
        out->num = 0;
        return p + 5;
    }
    return NULL;
}

/* Scans a flat object at p into f; returns the byte after its "}", or NULL. */
static const char *flat_object(const char *p, const char *end, bf_fields *f) {
    if (p >= end || *p != '{') return NULL;
    p++;
    for (;;) {
        if (end - p < 5 || *p != '"') return NULL; /* also "{}" */
        const char *key = p + 1, *q;
        /* Binance's keys are mostly one letter: "u":..., checked without a scan. */
        if (key[1] == '"' && (unsigned char)key[0] >= 0x20 && (unsigned char)key[0] < 0x7f &&
            key[0] != '\\' && key[0] != '"')
            q = key + 1;
        else if ((q = plain_string(key, end)) == NULL)
            return NULL;
        if (q + 1 >= end || q[1] != ':') return NULL;
        size_t key_len = (size_t)(q - key);
        /* The reference path treats a top-level "stream" as an envelope: leave it to it. */
        if ((key_len == 6 && memcmp(key, "stream", 6) == 0) ||
            (key_len == 4 && memcmp(key, "data", 4) == 0))
            return NULL;
        bf_jv v = {BF_JV_NONE, NULL, 0, NULL};
        p = value(q + 2, end, &v);
        if (p == NULL || p >= end) return NULL;
        bf_fields_put(f, key, key_len, &v);
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p++;
    }
}

int bf_frame_decode_fast(const char *frame, size_t len, locale_t c_locale, bf_msg *msg) {
    static const char ENVELOPE[] = "{\"stream\":\"";
    static const char DATA[] = ",\"data\":";
    const char *p = frame, *end = frame + len;
    bf_fields f;
    bf_jv stream;
    int enveloped = 0;
    bf_fields_init(&f);
    if (len > sizeof ENVELOPE - 1 && memcmp(p, ENVELOPE, sizeof ENVELOPE - 1) == 0) {
        const char *name = p + sizeof ENVELOPE - 1, *q = plain_string(name, end);
        if (q == NULL || (size_t)(end - q - 1) < sizeof DATA - 1 ||
            memcmp(q + 1, DATA, sizeof DATA - 1) != 0)
            return 0;
        memset(&stream, 0, sizeof stream);
        stream.type = BF_JV_STR;
        stream.str = name;
        stream.num = (uint64_t)(q - name);
        p = flat_object(q + 1 + sizeof DATA - 1, end, &f);
        if (p == NULL || p >= end || *p != '}') return 0;
        p++;
        enveloped = 1;
    } else {
        p = flat_object(p, end, &f);
        if (p == NULL) return 0;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p != end) return 0;
    char err[8]; /* errors are reported by the reference path */
    if (bf_fields_decode(&f, enveloped ? &stream : NULL, c_locale, msg, err, sizeof err) != BF_OK)
        return 0;
    return 1;
}
