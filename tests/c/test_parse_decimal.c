/* Binance decimal strings -> double (csrc/src/parse_decimal.c).
 *
 * 1. a table of texts with the double Python's float() gives (as hex literals, computed with
 *    float(text).hex()), covering both fast paths, the strtod_l path and the range ends;
 * 2. a table of texts outside the grammar, each refused;
 * 3. 300k random decimals of many shapes, each compared bit for bit with strtod_l in the
 *    "C" locale (glibc's strtod is correctly rounded), under a locale whose decimal point
 *    is not '.' when one is installed, to show the process locale does not matter.
 */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_test.h"
#include "binfeed.h"
#include "parse_decimal.h"

typedef struct good_case {
    const char *text;
    double want;
} good_case;

static const good_case GOOD[] = {
    {"0", 0x0.0p+0},
    {"0.0", 0x0.0p+0},
    {"0.00000000", 0x0.0p+0},
    {"1", 0x1.0000000000000p+0},
    {"007", 0x1.c000000000000p+2},
    {"0.1", 0x1.999999999999ap-4},
    {"0.2", 0x1.999999999999ap-3},
    {"0.3", 0x1.3333333333333p-2},
    {"61837.63000000", 0x1.e31b428f5c28fp+15},
    {"61837.64000000", 0x1.e31b47ae147aep+15},
    {"3.78826000", 0x1.e4e5b4245f5aep+1},
    {"1.54698000", 0x1.8c06e19b90eaap+0},
    {"0.00009000", 0x1.797cc39ffd60fp-14},
    {"28165.47000000", 0x1.b815e147ae148p+14},
    {"61800.20", 0x1.e2d0666666666p+15},
    {"2.507", 0x1.40e5604189375p+1},
    {"9007199254740992", 0x1.0000000000000p+53},  /* 2^53: fast path's last exact m */
    {"9007199254740993", 0x1.0000000000000p+53},  /* 2^53 + 1: a tie, to even */
    {"9007199254740995", 0x1.0000000000002p+53},
    {"1234567890123456789", 0x1.12210f47de981p+60},
    {"12345678901234567890", 0x1.56a95319d63e1p+63},
    {"0.1234567890123456789", 0x1.f9add3746f65fp-4},
    {"10000000000000000000000", 0x1.0f0cf064dd592p+73},  /* 10^22: exact */
    {"100000000000000000000000", 0x1.52d02c7e14af6p+76}, /* 10^23: not exact */
    {"0.0000000000000000000001", 0x1.e392010175ee6p-74},
    {"0.00000000000000000000001", 0x1.82db34012b251p-77},
    {"2.2250738585072011", 0x1.1ccf385ebc89fp+1},
    {"2.2250738585072012", 0x1.1ccf385ebc8a0p+1},
    {"9999999999999999999", 0x1.158e460913d00p+63},
    {"0.9999999999999999999", 0x1.0000000000000p+0},
    {"123456.789012", 0x1.e240c9fcb0c02p+16},
    {"1.7976931348623157", 0x1.cc359e067a348p+0},
    {"0.30000000000000004", 0x1.3333333333334p-2},
    {"0.1000000000000000055511151231257827", 0x1.999999999999ap-4},
    {"123000000000000000000000000", 0x1.96f90d7171d8bp+86}, /* m = 123, 10^24: general */
};

static const char *const BAD[] = {
    "",       ".",      ".5",     "5.",     "-1",     "+1",     "-0",    "1e5",  "1E5",
    "1.5e3",  "1_000",  " 1",     "1 ",     "1. 5",   "1,5",    "nan",   "NaN",  "inf",
    "-inf",   "Infinity", "0x10", "1.2.3",  "..",     "1..2",   "١",     "\xef\xbc\x91",
    "1\n",    "\t1",    "1/2",    "abc",    "0.1f",   "1d",     "--1",   "1-",
};

static void check_good(locale_t loc) {
    for (size_t i = 0; i < sizeof GOOD / sizeof GOOD[0]; i++) {
        double got = -1.0;
        int rc = bf_decimal_parse(GOOD[i].text, strlen(GOOD[i].text), loc, &got);
        if (rc != BF_OK || memcmp(&got, &GOOD[i].want, sizeof got) != 0) {
            fprintf(stderr, "decimal \"%.60s\": rc %d, got %a, want %a\n", GOOD[i].text, rc, got,
                    GOOD[i].want);
            bf_test_failures++;
        }
    }
}

static void check_bad(locale_t loc) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        double got = 42.0;
        int rc = bf_decimal_parse(BAD[i], strlen(BAD[i]), loc, &got);
        if (rc != BF_ENUMBER || got != 42.0) {
            fprintf(stderr, "decimal \"%s\" should be refused: rc %d, out %a\n", BAD[i], rc, got);
            bf_test_failures++;
        }
    }
}

static void check_lengths_and_range(locale_t loc) {
    char text[BF_DECIMAL_MAX_LEN + 2];
    double got = 0;
    /* exactly BF_DECIMAL_MAX_LEN characters is accepted, one more is refused */
    memset(text, '1', sizeof text);
    CHECK_RC(bf_decimal_parse(text, BF_DECIMAL_MAX_LEN, loc, &got), BF_ENUMBER); /* 1e511: inf */
    text[0] = '0';
    text[1] = '.';
    CHECK_RC(bf_decimal_parse(text, BF_DECIMAL_MAX_LEN, loc, &got), BF_OK);
    CHECK(got == strtod_l("0.1111111111111111111111111", NULL, loc));
    CHECK_RC(bf_decimal_parse(text, BF_DECIMAL_MAX_LEN + 1, loc, &got), BF_ENUMBER);
    /* the largest finite double and just past it */
    const char *max = "179769313486231570814527423731704356798070567525844996598917476803157260"
                      "780028538760589558632766878171540458953514382464234321326889464182768467"
                      "546703537516986049910576551282076245490090389328944075868508455133942304"
                      "583236903222948165808559332123348274797826204144723168738177180919299881"
                      "250404026184124858368";
    CHECK_RC(bf_decimal_parse(max, strlen(max), loc, &got), BF_OK);
    CHECK(got == 0x1.fffffffffffffp+1023);
    const char *over = "179769313486231580793728971405303415079934132710037826936173778980444968"
                       "292764750946649017977587207096330286416692887910946555547851940402630657"
                       "488671505820681908902000708383676273854845817711531764475730270069855571"
                       "366959622842914819860834936475292719074168444365510704342711559699508093"
                       "042880177904174497792";
    CHECK_RC(bf_decimal_parse(over, strlen(over), loc, &got), BF_ENUMBER); /* rounds to inf */
    /* subnormals: the smallest one, and a value that rounds to zero */
    char tiny[400];
    snprintf(tiny, sizeof tiny, "0.%0323d49406564584124654", 0);
    CHECK(strlen(tiny) == 342);
    CHECK_RC(bf_decimal_parse(tiny, strlen(tiny), loc, &got), BF_OK);
    CHECK(got == 0x0.0000000000001p-1022);
    snprintf(tiny, sizeof tiny, "0.%0324d1", 0);
    got = 1.0;
    CHECK_RC(bf_decimal_parse(tiny, strlen(tiny), loc, &got), BF_OK);
    CHECK(got == 0.0 && !signbit(got));
    /* text that is not NUL-terminated: only len bytes are read */
    const char buf[] = {'1', '.', '5', '9', '9'};
    CHECK_RC(bf_decimal_parse(buf, 3, loc, &got), BF_OK);
    CHECK(got == 1.5);
    CHECK_RC(bf_decimal_parse(NULL, 3, loc, &got), BF_ENUMBER);
}

/* xorshift64*: deterministic, seeded */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* A random decimal: digit counts and zero runs chosen to hit every path. */
static size_t random_decimal(char *out, size_t cap) {
    size_t n = 0;
    unsigned shape = (unsigned)(rnd() % 6);
    size_t int_digits = 1 + (size_t)(rnd() % (shape == 0 ? 25 : 8));
    size_t frac_digits = (rnd() % 4 == 0) ? 0 : 1 + (size_t)(rnd() % (shape == 1 ? 30 : 10));
    if (shape == 2) { /* long runs of zeros, in front or behind */
        out[n++] = '0';
        int_digits = 0;
        frac_digits = 1 + (size_t)(rnd() % 40);
    }
    for (size_t i = 0; i < int_digits && n < cap - 2; i++)
        out[n++] = (char)('0' + (shape == 3 && i > 0 ? 0 : rnd() % 10));
    if (frac_digits) {
        out[n++] = '.';
        for (size_t i = 0; i < frac_digits && n < cap - 1; i++) {
            unsigned d = (unsigned)(rnd() % 10);
            if (shape == 2 && i + 3 < frac_digits) d = 0;
            if (shape == 4 && i >= 2) d = 0; /* trailing zeros, like "61837.63000000" */
            out[n++] = (char)('0' + d);
        }
    }
    if (shape == 5 && n + 20 < cap) /* a 2^53 neighbourhood */
        n = (size_t)snprintf(out, cap, "%llu",
                             (unsigned long long)((1ull << 53) - 8 + rnd() % 16));
    out[n] = '\0';
    return n;
}

static void check_random(locale_t loc, size_t rounds) {
    char text[128];
    size_t mismatches = 0;
    for (size_t i = 0; i < rounds; i++) {
        size_t n = random_decimal(text, sizeof text);
        double got = -1.0, want = strtod_l(text, NULL, loc);
        int rc = bf_decimal_parse(text, n, loc, &got);
        if (rc != BF_OK || memcmp(&got, &want, sizeof got) != 0) {
            if (mismatches++ < 10)
                fprintf(stderr, "random decimal \"%s\": rc %d, got %a, strtod %a\n", text, rc,
                        got, want);
            bf_test_failures++;
        }
    }
}

int main(void) {
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    CHECK(c_locale != (locale_t)0);
    /* A process locale with a ',' decimal point must not matter, if one is installed. */
    const char *comma_locales[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8", NULL};
    for (size_t i = 0; comma_locales[i]; i++)
        if (setlocale(LC_NUMERIC, comma_locales[i]) != NULL) break;
    check_good(c_locale);
    check_bad(c_locale);
    check_lengths_and_range(c_locale);
    check_random(c_locale, 300000);
    setlocale(LC_NUMERIC, "C");
    freelocale(c_locale);
    TEST_MAIN_END();
}
