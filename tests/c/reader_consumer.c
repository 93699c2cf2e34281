/* A tiny consumer of the header-only reader, in the common subset of C99, C11 and C++11
 * (tests/c/test_reader_languages.py compiles it in each and runs it): waits for the queue
 * DIR (bfr_open_wait), reads every record there now, and prints one summary line:
 *   lang=<c99|c11|c++11|...> atomics=<gnu|c11|std> records=N book_tickers=N trades=N
 *   symbols=NAME,NAME,... */
#include "binfeed_reader.h"

#include <stdio.h>
#include <string.h>

static const char *language(void) {
#if defined(__cplusplus)
#if __cplusplus >= 202002L
    return "c++20";
#elif __cplusplus >= 201703L
    return "c++17";
#elif __cplusplus >= 201402L
    return "c++14";
#else
    return "c++11";
#endif
#elif __STDC_VERSION__ >= 201710L
    return "c17";
#elif __STDC_VERSION__ >= 201112L
    return "c11";
#else
    return "c99";
#endif
}

static const char *atomics(void) {
#if defined(BF_ATOMIC_STD)
    return "std";
#elif defined(BF_ATOMIC_C11)
    return "c11";
#else
    return "gnu";
#endif
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    bfr_reader r;
    int rc = bfr_open_wait(&r, argv[1], BFR_FROM_START, 5000000000LL);
    if (rc != BF_OK) {
        fprintf(stderr, "reader_consumer: %s\n", r.error);
        return 1;
    }
    if (bfr_set_max_sleep(&r, 2000000) != BF_OK) return 1;
    unsigned long records = 0, books = 0, trades = 0;
    char names[1024] = "";
    const bf_slot *s;
    while ((rc = bfr_wait(&r, &s, 0)) == 1) {
        records++;
        if (s->type == BF_REC_BOOK_TICKER) books++;
        if (s->type == BF_REC_TRADE) trades++;
        if (s->type == BF_REC_SYMBOL) {
            const char *name = bfr_symbol(&r, s->body.symbol.symbol_id);
            if (name && strlen(names) + strlen(name) + 2 < sizeof names) {
                if (names[0]) strcat(names, ",");
                strcat(names, name);
            }
        }
    }
    if (rc != 0) {
        fprintf(stderr, "reader_consumer: %s\n", r.error);
        bfr_close(&r);
        return 1;
    }
    printf("lang=%s atomics=%s records=%lu book_tickers=%lu trades=%lu symbols=%s\n",
           language(), atomics(), records, books, trades, names);
    bfr_close(&r);
    return 0;
}
