/*
 * utf8.h -- one UTF-8 rule for the writer's symbol names (symbols.c) and the parser's fast
 * scanner (parse_fast.c): well-formed UTF-8 as RFC 3629 and yyjson define it (no overlong
 * forms, no surrogates, nothing above U+10FFFF). Not part of the public API.
 */
#ifndef BINFEED_UTF8_H
#define BINFEED_UTF8_H

#include <stddef.h>

/* Length of the multi-byte UTF-8 sequence starting at p (at most `left` bytes, left >= 1),
 * or 0 if it is not one (an ASCII byte, a stray continuation byte, an overlong form, a
 * surrogate, a code point above U+10FFFF, a sequence cut short). */
static inline size_t bf_utf8_sequence(const unsigned char *p, size_t left) {
    unsigned c = p[0];
    if (c < 0xC2) return 0; /* ASCII, a continuation byte, an overlong 2-byte lead */
    if (c < 0xE0) return left >= 2 && (p[1] & 0xC0u) == 0x80u ? 2 : 0;
    if (c < 0xF0) {
        if (left < 3 || (p[1] & 0xC0u) != 0x80u || (p[2] & 0xC0u) != 0x80u) return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)) return 0; /* overlong,
                                                                                    surrogate */
        return 3;
    }
    if (c > 0xF4 || left < 4 || (p[1] & 0xC0u) != 0x80u || (p[2] & 0xC0u) != 0x80u ||
        (p[3] & 0xC0u) != 0x80u)
        return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)) return 0; /* overlong,
                                                                              > U+10FFFF */
    return 4;
}

/* Writes code point cp (at most U+10FFFF, not a surrogate) as UTF-8 at out; returns the
 * number of bytes (1 to 4). */
static inline size_t bf_utf8_encode(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (char)(0xF0u | (cp >> 18));
    out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = (char)(0x80u | (cp & 0x3Fu));
    return 4;
}

/* Copies s[0..n) into out (cap >= 1 bytes, NUL-terminated) for a message: printable ASCII
 * and whole well-formed UTF-8 characters as they are, any other byte as '?', as much as fits
 * without cutting a character. Returns how many bytes of s are shown. */
static inline size_t bf_utf8_printable(char *out, size_t cap, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t k = p[i] >= 0x80 ? bf_utf8_sequence(p + i, n - i) : 0;
        size_t take = k ? k : 1;
        if (o + take >= cap) break;
        if (k) {
            for (size_t j = 0; j < k; j++) out[o++] = (char)p[i + j];
        } else {
            out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
        }
        i += take;
    }
    out[o] = '\0';
    return i;
}

#endif
