/* parse_decimal.c -- see parse_decimal.h.
 *
 * Fast path (Clinger 1990): when the decimal's significant digits form an integer
 * m <= 2^53 and its value is m * 10^e with |e| <= 22, both m and 10^|e| are exact doubles,
 * and one IEEE multiplication or division rounds the exact value correctly. Binance
 * prices and quantities ("61837.63000000" = 6183763000000 / 10^8) almost always take it
 * in a single pass; longer ones are retried with leading and trailing zeros stripped.
 * Anything else goes to strtod_l (glibc's strtod is correctly rounded) on a bounded
 * NUL-terminated copy, in the "C" locale given by the caller.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "parse_decimal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"

/* The fast path needs doubles evaluated in double precision (SSE2, AArch64...), not in
 * x87 extended precision, where the product would be rounded twice. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define BF_DECIMAL_FAST_PATH 1
#else
#define BF_DECIMAL_FAST_PATH 0
#endif

#define MAX_FAST_DIGITS 19            /* 10^19 - 1 < 2^64: m never overflows */
#define MAX_EXACT_MANTISSA (1ull << 53)
#define MAX_EXACT_POW10 22            /* 10^22 is the largest exact power of ten */

static const double POW10_EXACT[MAX_EXACT_POW10 + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const uint64_t POW10_U64[MAX_FAST_DIGITS + 1] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

/* Significant digits seen so far: m holds them (while n <= MAX_FAST_DIGITS), zeros holds
 * the zeros after the last non-zero digit, not yet folded into m. */
typedef struct digits_acc {
    uint64_t m;
    int n;     /* digits from the first non-zero one up to the last non-zero one */
    int zeros; /* zeros after the last non-zero digit (or after the start) */
} digits_acc;

static inline void acc_digit(digits_acc *a, unsigned d) {
    if (d == 0) {
        if (a->n > 0) a->zeros++; /* leading zeros are not significant */
        return;
    }
    int grow = a->zeros + 1;
    a->n += grow;
    if (a->n <= MAX_FAST_DIGITS) a->m = a->m * POW10_U64[grow] + d;
    a->zeros = 0;
}

static int slow_path(const char *text, size_t len, locale_t c_locale, double *out) {
    char copy[BF_DECIMAL_MAX_LEN + 1];
    if (c_locale == (locale_t)0) return BF_ENUMBER;
    memcpy(copy, text, len);
    copy[len] = '\0';
    char *end = NULL;
    double v = strtod_l(copy, &end, c_locale);
    /* The grammar was checked, so strtod consumes everything; stay defensive anyway. */
    if (end != copy + len || !isfinite(v)) return BF_ENUMBER;
    *out = v;
    return BF_OK;
}

/* Any decimal the grammar admits, digit by digit, leading and trailing zeros stripped: the
 * fast path when the significant digits still fit, else strtod_l. The grammar is checked. */
static int general_path(const char *text, size_t len, locale_t c_locale, double *out) {
    digits_acc a = {0, 0, 0};
    size_t frac_len = 0;
    int in_frac = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.') {
            in_frac = 1;
            continue;
        }
        acc_digit(&a, (unsigned)(text[i] - '0'));
        frac_len += (size_t)in_frac;
    }
    if (a.n == 0) { /* all zeros: "0", "0.00000000" */
        *out = 0.0;
        return BF_OK;
    }
#if BF_DECIMAL_FAST_PATH
    /* value = m * 10^(zeros - frac_len); len <= BF_DECIMAL_MAX_LEN keeps every term small. */
    int e = a.zeros - (int)frac_len;
    if (a.n <= MAX_FAST_DIGITS && a.m <= MAX_EXACT_MANTISSA && e >= -MAX_EXACT_POW10 &&
        e <= MAX_EXACT_POW10) {
        double m = (double)a.m; /* exact: m <= 2^53 */
        *out = e < 0 ? m / POW10_EXACT[-e] : m * POW10_EXACT[e];
        return BF_OK;
    }
#endif
    return slow_path(text, len, c_locale, out);
}

/* Accumulates the digits at text[i..len) into *m (wrapping harmlessly beyond 19 digits,
 * which the caller's count catches); returns the index of the first non-digit. */
static inline size_t digits(const char *text, size_t i, size_t len, uint64_t *m) {
    uint64_t v = *m;
    int64_t eight;
    while (len - i >= 8 && (eight = bf_eight_digits(text + i)) >= 0) {
        v = v * 100000000u + (uint64_t)eight;
        i += 8;
    }
    unsigned d;
    while (i < len && (d = (unsigned)(unsigned char)text[i] - '0') <= 9u) {
        v = v * 10u + d;
        i++;
    }
    *m = v;
    return i;
}

int bf_decimal_parse(const char *text, size_t len, locale_t c_locale, double *out) {
    if (text == NULL || out == NULL || len == 0 || len > BF_DECIMAL_MAX_LEN) return BF_ENUMBER;
    /* One pass that checks the grammar and accumulates all digits (leading and trailing
     * zeros included) into m, eight at a time where it can. */
    uint64_t m = 0;
    size_t i = digits(text, 0, len, &m);
    size_t int_len = i, frac_len = 0;
    if (int_len == 0) return BF_ENUMBER; /* "", ".5", "-1", "+1", " 1", "nan" */
    if (i < len) {
        if (text[i] != '.') return BF_ENUMBER; /* "1e5", "1_0", "1 " */
        size_t frac_start = ++i;
        i = digits(text, i, len, &m);
        frac_len = i - frac_start;
        if (frac_len == 0 || i != len) return BF_ENUMBER; /* "5.", "1.2.3", "1.5e3" */
    }
#if BF_DECIMAL_FAST_PATH
    /* value = m / 10^frac_len, with m and 10^frac_len exact doubles: one rounding. */
    if (int_len + frac_len <= MAX_FAST_DIGITS && m <= MAX_EXACT_MANTISSA &&
        frac_len <= MAX_EXACT_POW10) {
        *out = (double)m / POW10_EXACT[frac_len];
        return BF_OK;
    }
#endif
    return general_path(text, len, c_locale, out);
}
