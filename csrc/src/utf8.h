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
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
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

#endif
