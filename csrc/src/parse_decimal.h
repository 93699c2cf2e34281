/*
 * parse_decimal.h -- Binance decimal strings to the correctly rounded double.
 *
 * Grammar (nothing else is accepted):
 *     decimal  = digits [ "." digits ]
 *     digits   = 1*( "0" / "1" / ... / "9" )
 * So "61837.63000000", "0", "0.1", "007" are decimals; "", ".5", "5.", "-1", "+1", "1e5",
 * "1_0", " 1", "nan", "inf", "0x10" are not. The result is the double nearest to the exact
 * decimal value, ties to even: exactly what Python's float() returns for the same text.
 * A value too large for a finite double is refused (BF_ENUMBER); tiny values round to a
 * subnormal or 0.0 as float() does. Texts longer than BF_DECIMAL_MAX_LEN are refused.
 *
 * Not part of the public API (binfeed.h); used by the parser and its tests.
 */
#ifndef BINFEED_PARSE_DECIMAL_H
#define BINFEED_PARSE_DECIMAL_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The longest decimal text accepted (longer is BF_ENUMBER). Binance sends at most ~30
 * characters; the bound keeps the slow path's NUL-terminated copy on the stack, and is
 * long enough to reach both ends of the double range (overflow past ~1.8e308, subnormals
 * below 2.2e-308), which are handled as float() handles them. */
#define BF_DECIMAL_MAX_LEN 512u

/** Converts text[0..len) (no NUL needed). On success writes *out and returns BF_OK;
 *  otherwise returns BF_ENUMBER and leaves *out alone. `c_locale` is a locale from
 *  newlocale(LC_NUMERIC_MASK, "C", 0), used only by the rare slow path (strtod_l), so that
 *  the process locale never changes the decimal point. Thread-safe (no shared state). */
int bf_decimal_parse(const char *text, size_t len, locale_t c_locale, double *out);

/** Eight ASCII digits at p[0..8) as a number, or -1 if any of them is not a digit
 *  (SWAR check and conversion after simdjson, Lemire 2018; little-endian loads). */
static inline int64_t bf_eight_digits(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    if ((((x & 0xF0F0F0F0F0F0F0F0ull) |
          (((x + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) !=
         0x3333333333333333ull))
        return -1;
    x -= 0x3030303030303030ull;
    x = (x * 10) + (x >> 8);
    x = (((x & 0x000000FF000000FFull) * 0x000F424000000064ull) +
         (((x >> 16) & 0x000000FF000000FFull) * 0x0000271000000001ull)) >>
        32;
    return (int64_t)(uint32_t)x;
}

#endif
