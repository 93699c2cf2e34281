/* Minimal assertion helpers shared by the C test programs (tests/c/test_*.c). */
#ifndef BF_TEST_H
#define BF_TEST_H
#include <stdio.h>
#include <stdlib.h>

static int bf_test_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            bf_test_failures++;                                                       \
        }                                                                             \
    } while (0)

#define CHECK_RC(expr, want)                                                          \
    do {                                                                              \
        int rc_ = (expr);                                                             \
        if (rc_ != (want)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, \
                    #expr, rc_, (int)(want));                                         \
            bf_test_failures++;                                                       \
        }                                                                             \
    } while (0)

#define TEST_MAIN_END()                                                               \
    do {                                                                              \
        if (bf_test_failures) {                                                       \
            fprintf(stderr, "%d check(s) failed\n", bf_test_failures);                \
            return 1;                                                                 \
        }                                                                             \
        return 0;                                                                     \
    } while (0)
#endif
