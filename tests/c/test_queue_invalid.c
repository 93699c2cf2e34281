/* Invalid appends are refused with BF_EINVAL / BF_ESYMBOL and a message, and write nothing;
 * bad options and NULL handles are errors, never crashes; every status has a message. */
#include "queue_test_util.h"

#include <math.h>

static bf_writer *w;
static uint64_t before;

static uint64_t written(void) {
    bf_writer_stats st;
    bf_writer_get_stats(w, &st);
    return st.records_written * 1000000 + st.write_index;
}

#define REFUSED(expr, code)                                                                \
    do {                                                                                   \
        before = written();                                                                \
        CHECK_RC((expr), (code));                                                          \
        CHECK(written() == before);                                                        \
        CHECK(bf_writer_error(w)[0] != '\0');                                              \
    } while (0)

#define CJK "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9f" /* 币安人生, 12 bytes */

/* Symbol names of format version 2: 1..32 bytes of UTF-8; ASCII letters upper-cased,
 * digits, '_', '-', '.', and any valid non-ASCII character kept as it is; anything else
 * (invalid UTF-8, spaces, '@', '/', quotes, control characters) is BF_ESYMBOL. */
static uint64_t utf8_id; /* the id of CJK "USDT" */

static void check_utf8_symbols(void) {
    uint64_t id = 0, again = 0;
    CHECK_RC(bf_writer_symbol(w, CJK "usdt", strlen(CJK "usdt"), &id), BF_OK);
    CHECK(bf_writer_symbol_name(w, id) && strcmp(bf_writer_symbol_name(w, id), CJK "USDT") == 0);
    before = written();
    CHECK_RC(bf_writer_symbol(w, CJK "USDT", strlen(CJK "USDT"), &again), BF_OK);
    CHECK(again == id && written() == before); /* the same symbol: no new SYMBOL record */
    CHECK_RC(bf_writer_symbol(w, CJK "UsDt", strlen(CJK "UsDt"), &again), BF_OK);
    CHECK(again == id);
    utf8_id = id;
    /* non-ASCII letters are kept as they are, not case-folded: É and é are two symbols */
    uint64_t upper = 0, lower = 0;
    CHECK_RC(bf_writer_symbol(w, "\xc3\x89T", 3, &upper), BF_OK);
    CHECK_RC(bf_writer_symbol(w, "\xc3\xa9t", 3, &lower), BF_OK);
    CHECK(upper != lower && bf_writer_symbol_name(w, lower) &&
          strcmp(bf_writer_symbol_name(w, lower), "\xc3\xa9T") == 0);
    CHECK_RC(bf_writer_symbol(w, "bnb.x", 5, &id), BF_OK); /* '.' is allowed */
    CHECK(bf_writer_symbol_name(w, id) && strcmp(bf_writer_symbol_name(w, id), "BNB.X") == 0);
    CHECK_RC(bf_writer_symbol(w, "\xf0\x9f\x9a\x80MOON", 8, &id), BF_OK); /* 4-byte UTF-8 */
    CHECK(bf_writer_symbol_name(w, id) &&
          strcmp(bf_writer_symbol_name(w, id), "\xf0\x9f\x9a\x80MOON") == 0);
    /* 32 bytes of UTF-8 are accepted, 33 are not, also when the 33rd byte ends a character */
    const char *b32 = CJK CJK "ABCDEFGH";                  /* 12 + 12 + 8 */
    const char *b33 = CJK CJK "ABCDEFG\xc3\xa9";           /* 12 + 12 + 7 + 2 */
    const char *cjk33 = CJK CJK "\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81"; /* 11 x 3 bytes */
    CHECK(strlen(b32) == 32 && strlen(b33) == 33 && strlen(cjk33) == 33);
    CHECK_RC(bf_writer_symbol(w, b32, 32, &id), BF_OK);
    CHECK(bf_writer_symbol_name(w, id) &&
          strcmp(bf_writer_symbol_name(w, id), CJK CJK "ABCDEFGH") == 0);
    REFUSED(bf_writer_symbol(w, b33, 33, &id), BF_ESYMBOL);
    CHECK(strstr(bf_writer_error(w), "1 to 32") != NULL);
    REFUSED(bf_writer_symbol(w, cjk33, 33, &id), BF_ESYMBOL);
    /* invalid UTF-8 */
    static const char *const bad[] = {
        "\xff",              /* never in UTF-8 */
        "BTC\xc3",           /* truncated sequence */
        "\xe5\xb8USDT",       /* truncated 3-byte sequence */
        "\x80USDT",          /* a lone continuation byte */
        "\xc0\xafUSDT",       /* overlong '/' */
        "\xe0\x80\xafUSDT",   /* overlong, 3 bytes */
        "\xf0\x80\x80\xafX",  /* overlong, 4 bytes */
        "\xed\xa0\x80USDT",   /* a surrogate (U+D800) */
        "\xf4\x90\x80\x80X",  /* above U+10FFFF */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "BTC\xc3\x28",        /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        before = written();
        int rc = bf_writer_symbol(w, bad[i], strlen(bad[i]), &id);
        if (rc != BF_ESYMBOL || written() != before) {
            fprintf(stderr, "invalid UTF-8 symbol %zu accepted: %d\n", i, rc);
            bf_test_failures++;
        }
    }
    /* a valid character cut by len is invalid too */
    REFUSED(bf_writer_symbol(w, CJK "USDT", 2, &id), BF_ESYMBOL);
    /* ASCII outside [A-Za-z0-9_.-] */
    static const char *const punct[] = {"BTC@USDT", "BTC\"USDT", "BTC'USDT", "BTC,USDT",
                                        "BTC\tUSDT", "BTC\\USDT", "BTC:USDT", "BTC\x7fX",
                                        "BTC+USDT", "\x01" "BTC"};
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++) {
        before = written();
        int rc = bf_writer_symbol(w, punct[i], strlen(punct[i]), &id);
        if (rc != BF_ESYMBOL || written() != before) {
            fprintf(stderr, "symbol \"%s\" accepted: %d\n", punct[i], rc);
            bf_test_failures++;
        }
    }
    REFUSED(bf_writer_symbol(w, "BTC\0USDT", 8, &id), BF_ESYMBOL); /* an embedded NUL */
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096], err[512];
    qt_dir(dir, argv[1], "q");
    bf_writer *none = NULL;
    bf_writer_opts bad_slots = {10, 0, 0}, bad_flags = {0, 0x80, 0}, bad_reserved = {0, 0, 1};
    CHECK_RC(bf_writer_open(dir, &bad_slots, &none, err, sizeof err), BF_EINVAL);
    CHECK(strstr(err, "segment_slots") != NULL);
    CHECK_RC(bf_writer_open(dir, &bad_flags, &none, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_writer_open(dir, &bad_reserved, &none, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_writer_open(NULL, NULL, &none, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_writer_open(dir, NULL, NULL, NULL, 0), BF_EINVAL);
    CHECK(none == NULL);

    w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    uint64_t id = 0;
    REFUSED(bf_writer_symbol(w, "", 0, &id), BF_ESYMBOL);
    REFUSED(bf_writer_symbol(w, NULL, 3, &id), BF_ESYMBOL);
    REFUSED(bf_writer_symbol(w, "BTC/USDT", 8, &id), BF_ESYMBOL);
    REFUSED(bf_writer_symbol(w, "BTC USDT", 8, &id), BF_ESYMBOL);
    REFUSED(bf_writer_symbol(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 33, &id), BF_ESYMBOL);
    CHECK(strstr(bf_writer_error(w), "1 to 32") != NULL);
    CHECK_RC(bf_writer_symbol(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", 32, &id), BF_OK);
    CHECK(strcmp(bf_writer_symbol_name(w, id), "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345") == 0);
    CHECK_RC(bf_writer_symbol(w, "x_y-z", 5, &id), BF_OK);
    CHECK(strcmp(bf_writer_symbol_name(w, id), "X_Y-Z") == 0);

    REFUSED(bf_append_book_ticker(w, 1, 1, 0, 1, 1, 1, 1, 0), BF_ESYMBOL);
    REFUSED(bf_append_book_ticker(w, 1, 1, 0, 1, 1, 1, 1, 99), BF_ESYMBOL);
    CHECK(strstr(bf_writer_error(w), "99") != NULL);
    REFUSED(bf_append_book_ticker(w, 1, 1, 0, NAN, 1, 1, 1, a), BF_EINVAL);
    REFUSED(bf_append_book_ticker(w, 1, 1, 0, 1, INFINITY, 1, 1, a), BF_EINVAL);
    REFUSED(bf_append_book_ticker(w, 1, 1, 0, 1, 1, -INFINITY, 1, a), BF_EINVAL);
    REFUSED(bf_append_book_ticker(w, 1, 1, 0, 1, 1, 1, NAN, a), BF_EINVAL);
    REFUSED(bf_append_trade(w, 1, 1, NAN, 1, 0, 0, 0, a), BF_EINVAL);
    REFUSED(bf_append_trade(w, 1, 1, 1, INFINITY, 0, 0, 0, a), BF_EINVAL);
    REFUSED(bf_append_trade(w, 1, 1, 1, 1, 0, 0, 8, a), BF_EINVAL);
    REFUSED(bf_append_trade(w, 1, 1, 1, 1, 0, 0, 0x100, a), BF_EINVAL);
    REFUSED(bf_append_trade(w, 1, 1, 1, 1, 0, 0, 0, 7), BF_ESYMBOL);
    REFUSED(bf_append_gap(w, 1, a, 0, BF_GAP_DISCONNECTED, 1, 2), BF_EINVAL);
    REFUSED(bf_append_gap(w, 1, a, 3, BF_GAP_DISCONNECTED, 1, 2), BF_EINVAL);
    REFUSED(bf_append_gap(w, 1, a, BF_STREAM_TRADE, 0, 1, 2), BF_EINVAL);
    REFUSED(bf_append_gap(w, 1, a, BF_STREAM_TRADE, 99, 1, 2), BF_EINVAL);
    REFUSED(bf_append_gap(w, 1, 42, BF_STREAM_TRADE, BF_GAP_DISCONNECTED, 1, 2), BF_ESYMBOL);
    REFUSED(bf_append_connection(w, 1, 0, 1, 0, "x"), BF_EINVAL);
    REFUSED(bf_append_connection(w, 1, 99, 1, 0, "x"), BF_EINVAL);
    REFUSED(bf_append_connection(w, 1, BF_CONN_LAST + 1, 1, 0, "x"), BF_EINVAL);

    bf_slot s;
    memset(&s, 0, sizeof s);
    s.type = 3; /* unknown */
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
    CHECK(strstr(bf_writer_error(w), "unknown record type 3") != NULL);
    s.type = BF_REC_SYMBOL;
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
    s.type = BF_REC_RECOVERY; /* written by recovery only */
    s.body.recovery.event = BF_RECOVERY_HOLE;
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
    memset(&s, 0, sizeof s);
    s.type = BF_REC_BOOK_TICKER;
    s.body.book_ticker.symbol_id = a;
    s.flags = 1;
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
    s.flags = 0;
    CHECK_RC(bf_writer_append(w, &s), BF_OK);

    /* a batch with one bad record writes nothing, even across a roll */
    bf_slot batch[100];
    for (int i = 0; i < 100; i++) batch[i] = s;
    batch[99].body.book_ticker.ask_qty = NAN;
    REFUSED(bf_writer_append_many(w, batch, 100), BF_EINVAL);
    CHECK(strstr(bf_writer_error(w), "record 99") != NULL);
    bf_writer_stats st;
    bf_writer_get_stats(w, &st);
    CHECK(st.segment_seq == 1);
    batch[99] = s;
    CHECK_RC(bf_writer_append_many(w, batch, 100), BF_OK); /* rolls inside the batch */
    bf_writer_get_stats(w, &st);
    CHECK(st.segment_seq == 2);

    check_utf8_symbols(); /* after the checks above, which need ids 4.. undefined */

    /* NULL handles */
    CHECK_RC(bf_append_book_ticker(NULL, 1, 1, 0, 1, 1, 1, 1, 1), BF_EINVAL);
    CHECK_RC(bf_append_trade(NULL, 1, 1, 1, 1, 0, 0, 0, 1), BF_EINVAL);
    CHECK_RC(bf_append_gap(NULL, 1, 1, 1, 1, 1, 1), BF_EINVAL);
    CHECK_RC(bf_append_connection(NULL, 1, 1, 1, 1, ""), BF_EINVAL);
    CHECK_RC(bf_writer_append(NULL, &s), BF_EINVAL);
    CHECK_RC(bf_writer_append(w, NULL), BF_EINVAL);
    CHECK_RC(bf_writer_append_many(NULL, &s, 1), BF_EINVAL);
    CHECK_RC(bf_writer_append_many(w, NULL, 1), BF_EINVAL);
    CHECK_RC(bf_writer_symbol(NULL, "A", 1, &id), BF_EINVAL);
    CHECK_RC(bf_writer_symbol(w, "A", 1, NULL), BF_EINVAL);
    CHECK(bf_writer_symbol_name(NULL, 1) == NULL);
    CHECK_RC(bf_writer_prepare_next(NULL), BF_EINVAL);
    CHECK_RC(bf_writer_sync(NULL), BF_EINVAL);
    CHECK_RC(bf_writer_roll(NULL), BF_EINVAL);
    CHECK_RC(bf_writer_get_stats(NULL, &st), BF_EINVAL);
    CHECK_RC(bf_writer_get_stats(w, NULL), BF_EINVAL);
    CHECK(bf_writer_error(NULL) != NULL);
    bf_recovery_report rep;
    uint8_t qid[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_recovery(NULL, 0, &rep), BF_EINVAL);
    CHECK_RC(bf_writer_recovery(w, 0, NULL), BF_EINVAL);
    CHECK_RC(bf_writer_recovery(w, 0, &rep), BF_ENOTFOUND); /* a new queue: nothing found */
    CHECK_RC(bf_writer_queue_id(NULL, qid), BF_EINVAL);
    CHECK_RC(bf_writer_queue_id(w, NULL), BF_EINVAL);
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK(!qt_id_is_zero(qid));
    CHECK_RC(bf_writer_close(NULL), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* the queue holds only the good records */
    bfr_reader r;
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.book_tickers == 101 && c.trades == 0 && c.gaps == 0 && c.connections == 0);
    /* and the UTF-8 name as it was stored */
    CHECK(bfr_symbol(&r, utf8_id) && strcmp(bfr_symbol(&r, utf8_id), CJK "USDT") == 0);
    CHECK(bfr_symbol(&r, 2) && strcmp(bfr_symbol(&r, 2), "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345") == 0);
    bfr_close(&r);

    /* messages */
    CHECK(bf_format_version() == BF_FORMAT_VERSION);
    for (int code = BF_STATUS_MIN; code <= 0; code++) {
        const char *m = bf_status_message(code);
        CHECK(m != NULL && m[0] != '\0' && strcmp(m, bf_status_message(-1000)) != 0);
        for (int other = BF_STATUS_MIN; other < code; other++)
            CHECK(strcmp(m, bf_status_message(other)) != 0);
    }
    TEST_MAIN_END();
}
