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

    bf_slot s;
    memset(&s, 0, sizeof s);
    s.type = 3; /* unknown */
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
    CHECK(strstr(bf_writer_error(w), "unknown record type 3") != NULL);
    s.type = BF_REC_SYMBOL;
    REFUSED(bf_writer_append(w, &s), BF_EINVAL);
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
    CHECK_RC(bf_writer_close(NULL), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* the queue holds only the good records */
    bfr_reader r;
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.book_tickers == 101 && c.trades == 0 && c.gaps == 0 && c.connections == 0);
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
