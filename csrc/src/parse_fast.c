/* parse_fast.c -- the fast front end of parse_frame.h: Binance's compact wire form only.
 *
 * Binance sends every market-data frame as compact JSON: one flat object (or an envelope
 * {"stream":"..","data":{flat}}) whose values are strings, unsigned integers and booleans.
 * Building a yyjson document for that costs more than everything else the parser does, so
 * frames of exactly this form are scanned here directly, read-only:
 *
 *   frame    = ( flat / "{\"stream\":" string ",\"data\":" flat "}" ) *ws
 *   flat     = "{" member *( "," member ) "}"
 *   member   = key ":" ( string / uint / "true" / "false" )
 *   key      = '"' *( %x20-21 / %x23-5B / %x5D-7E ) '"'     ; ASCII, no escapes
 *   string   = '"' *( %x20-21 / %x23-5B / %x5D-7F / utf8 / escape ) '"'
 *   utf8     = a well-formed multi-byte UTF-8 sequence (utf8.h)
 *   escape   = "\" ( %x22 / %x5C / "/" / "b" / "f" / "n" / "r" / "t" / "u" 4HEXDIG )
 *              ; a \uD800-\uDBFF only followed by a \uDC00-\uDFFF (a surrogate pair)
 *   uint     = "0" / %x31-39 0*18DIGIT                      ; fits in 64 bits
 *   ws       = " " / %x09 / %x0A / %x0D
 *
 * with no whitespace inside and nothing but whitespace after the last "}" (a capture line's
 * end, see binfeed/capture.py). Each such frame is valid JSON with the same meaning under
 * yyjson, and the values go through the same bf_fields_decode, so the result equals the
 * reference path's (tests/c/test_fuzz_parser.c checks this on every input it makes).
 * Strings without escapes (Binance's own, also its raw UTF-8 symbols such as
 * "币安人生USDT") point into the frame; escaped ones (a capture written with \uXXXX) are
 * decoded into the caller's bf_fast_scratch, as yyjson decodes them, and the frame falls
 * back to yyjson when they do not fit. Anything else, and every frame that does not decode
 * cleanly, returns 0 and is parsed by yyjson (errors and their messages always come from
 * there).
 */
#include <string.h>

#include "binfeed.h"
#include "parse_decimal.h"
#include "parse_frame.h"
#include "utf8.h"

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
 * plain (an escape, a control character, a non-ASCII byte) or not closed. For keys. */
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

/* A hex digit's value + 1, 0 for any other byte. */
static const unsigned char HEX1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};

static inline int hex4(const char *p, unsigned *out) {
    unsigned a = HEX1[(unsigned char)p[0]], b = HEX1[(unsigned char)p[1]],
             c = HEX1[(unsigned char)p[2]], d = HEX1[(unsigned char)p[3]];
    if (!a || !b || !c || !d) return 0;
    *out = ((a - 1) << 12) | ((b - 1) << 8) | ((c - 1) << 4) | (d - 1);
    return 1;
}

/* The rest of a string from its first escape: `start` is just after its opening quote, p at
 * the backslash. Sets *str and *n to the string's value, decoded into sc, and returns its
 * closing quote; NULL if it is not of the fast form, or the value does not fit in sc. */
static const char *string_rest(const char *start, const char *p, const char *end,
                               bf_fast_scratch *sc, const char **str, size_t *n) {
    size_t o = (size_t)(p - start), room = BF_FAST_SCRATCH - sc->used;
    if (o > room) return NULL;
    char *out = sc->buf + sc->used;
    memcpy(out, start, o);
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            sc->used += o;
            *str = out;
            *n = o;
            return p;
        }
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (end - p < 2) return NULL;
            char one = 0;
            switch (p[1]) {
            case '"': one = '"'; break;
            case '\\': one = '\\'; break;
            case '/': one = '/'; break;
            case 'b': one = '\b'; break;
            case 'f': one = '\f'; break;
            case 'n': one = '\n'; break;
            case 'r': one = '\r'; break;
            case 't': one = '\t'; break;
            case 'u': break;
            default: return NULL;
            }
            if (p[1] != 'u') {
                if (o + 1 > room) return NULL;
                out[o++] = one;
                p += 2;
                continue;
            }
            unsigned cp, lo;
            if (end - p < 6 || !hex4(p + 2, &cp)) return NULL;
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {           /* a pair, or nothing */
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
                p += 6;
            }
            if (o + 4 > room) return NULL;
            o += bf_utf8_encode(cp, out + o);
            continue;
        }
        size_t len = 1;
        if (c >= 0x80) {
            if ((len = bf_utf8_sequence((const unsigned char *)p, (size_t)(end - p))) == 0)
                return NULL;
        } else { /* a run of plain ASCII, copied at once */
            while (p + len < end && (unsigned char)p[len] >= 0x20 &&
                   (unsigned char)p[len] < 0x80 && p[len] != '"' && p[len] != '\\')
                len++;
        }
        if (o + len > room) return NULL;
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    return NULL;
}

/* p is just after an opening quote; scans the string value and returns its closing quote,
 * or NULL. Plain ASCII runs go eight bytes at a time, a raw UTF-8 character is checked and
 * stepped over (the value stays in the frame); the first escape hands the rest to
 * string_rest, which decodes it into sc. */
static inline const char *string_value(const char *p, const char *end, bf_fast_scratch *sc,
                                       const char **str, size_t *n) {
    const char *start = p;
    for (;;) {
        while (end - p >= 8) {
            uint64_t m = special_bytes(load8(p));
            if (m != 0) {
                p += __builtin_ctzll(m) >> 3;
                break;
            }
            p += 8;
        }
        while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e && *p != '"' &&
               *p != '\\')
            p++;
        if (p >= end) return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *str = start;
            *n = (size_t)(p - start);
            return p;
        }
        if (c >= 0x80) { /* a run of UTF-8 characters (a CJK name) */
            do {
                size_t k = bf_utf8_sequence((const unsigned char *)p, (size_t)(end - p));
                if (k == 0) return NULL;
                p += k;
            } while (p < end && (unsigned char)*p >= 0x80);
        } else if (c == 0x7f) {
            p++;
        } else if (c == '\\') {
            return string_rest(start, p, end, sc, str, n);
        } else {
            return NULL; /* a control character */
        }
    }
}

/* Scans one value at p; returns the byte after it, or NULL if it is not of the fast form. */
static inline const char *value(const char *p, const char *end, bf_fast_scratch *sc,
                                bf_jv *out) {
    if (p >= end) return NULL;
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
        size_t n;
        const char *q = string_value(p + 1, end, sc, &out->str, &n);
        if (q == NULL) return NULL;
        out->type = BF_JV_STR;
        out->num = (uint64_t)n;
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
static const char *flat_object(const char *p, const char *end, bf_fast_scratch *sc,
                               bf_fields *f) {
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
        p = value(q + 2, end, sc, &v);
        if (p == NULL || p >= end) return NULL;
        bf_fields_put(f, key, key_len, &v);
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p++;
    }
}

int bf_frame_decode_fast(const char *frame, size_t len, locale_t c_locale, bf_msg *msg,
                         bf_fast_scratch *scratch) {
    static const char ENVELOPE[] = "{\"stream\":\"";
    static const char DATA[] = ",\"data\":";
    const char *p = frame, *end = frame + len;
    bf_fields f;
    bf_jv stream;
    int enveloped = 0;
    bf_fields_init(&f);
    scratch->used = 0;
    if (len > sizeof ENVELOPE - 1 && memcmp(p, ENVELOPE, sizeof ENVELOPE - 1) == 0) {
        memset(&stream, 0, sizeof stream);
        size_t name_len;
        const char *q = string_value(p + sizeof ENVELOPE - 1, end, scratch, &stream.str,
                                     &name_len);
        if (q == NULL || (size_t)(end - q - 1) < sizeof DATA - 1 ||
            memcmp(q + 1, DATA, sizeof DATA - 1) != 0)
            return 0;
        stream.type = BF_JV_STR;
        stream.num = (uint64_t)name_len;
        p = flat_object(q + 1 + sizeof DATA - 1, end, scratch, &f);
        if (p == NULL || p >= end || *p != '}') return 0;
        p++;
        enveloped = 1;
    } else {
        p = flat_object(p, end, scratch, &f);
        if (p == NULL) return 0;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p != end) return 0;
    char err[8]; /* errors are reported by the reference path */
    if (bf_fields_decode(&f, enveloped ? &stream : NULL, c_locale, msg, err, sizeof err) != BF_OK)
        return 0;
    return 1;
}
