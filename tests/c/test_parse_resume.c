/* Where a parser resumes after a writer restart (parse_resume.h): the last seq of each
 * stream in the newest segments, read with bfr_open_segment; older segments only while the
 * newer ones hold no market data, at most BF_RESUME_DEPTH of them; a damaged last record
 * leaves the one before it; and what bfr_open_segment does with a missing or unreadable
 * segment. */
#include "queue_test_util.h"

#define SLOTS 64u

/* A (book tickers) 0..9 and B trades 500..504 in segment 1, then A 10..11 in segment 2. */
static void two_segments(const char *dir) {
    bf_writer *w = qt_open(dir, SLOTS, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT"), b = qt_symbol(w, "BBBUSDT");
    for (uint64_t i = 0; i < 10; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    for (uint64_t t = 500; t < 505; t++)
        CHECK_RC(bf_append_trade(w, 1, t, 1.0, 2.0, 3, 4, 0, b), BF_OK);
    CHECK_RC(bf_writer_roll(w), BF_OK);
    for (uint64_t i = 10; i < 12; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

static void newest_with_market_data(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "newest");
    two_segments(dir);
    bf_resume found;
    uint64_t seq = 0;
    CHECK_RC(bf_resume_scan(dir, 2, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1011);
    /* segment 2 holds no trade of B (nor a bookTicker of B, nor a trade of A): segment 1
     * is read for what is still unknown, and gives B's last trade */
    CHECK_RC(bf_resume_last_seq(&found, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 504);
    CHECK_RC(bf_resume_last_seq(&found, 0, BF_STREAM_TRADE, &seq), BF_ENOTFOUND);
    CHECK_RC(bf_resume_last_seq(&found, 1, 0, &seq), BF_EINVAL);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_COUNT + 1, &seq), BF_EINVAL);
    CHECK_RC(bf_resume_last_seq(NULL, 1, BF_STREAM_TRADE, &seq), BF_EINVAL);
    bf_resume_free(&found);
    bf_resume_free(&found); /* twice is fine */
    /* from segment 1: its own last records, the newer segment is not read */
    CHECK_RC(bf_resume_scan(dir, 1, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1009);
    CHECK_RC(bf_resume_last_seq(&found, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 504);
    bf_resume_free(&found);
    CHECK_RC(bf_resume_scan(NULL, 1, &found, NULL, 0), BF_EINVAL);
}

/* Segments without market data after the data (a crash-looping writer leaves one per
 * start) do not count toward BF_RESUME_DEPTH; BF_RESUME_MAX_SEGMENTS bounds them. */
static void empty_newest_segments(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "empty");
    two_segments(dir);
    bf_writer *w = qt_open(dir, SLOTS, 0); /* segment 3 */
    for (unsigned i = 0; i < BF_RESUME_DEPTH; i++) CHECK_RC(bf_writer_roll(w), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK); /* segments 3 .. 3 + DEPTH: SYMBOL records only */
    bf_resume found;
    uint64_t seq = 0, newest = 3 + BF_RESUME_DEPTH;
    /* segment 2 is BF_RESUME_DEPTH + 1 below the newest, behind empty ones: read, and
     * segment 1 after it for B's trades */
    CHECK_RC(bf_resume_scan(dir, newest, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1011);
    CHECK_RC(bf_resume_last_seq(&found, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 504);
    bf_resume_free(&found);
    /* more empty segments than BF_RESUME_MAX_SEGMENTS: out of reach */
    w = qt_open(dir, SLOTS, 0);
    for (unsigned i = 0; i < BF_RESUME_MAX_SEGMENTS; i++) CHECK_RC(bf_writer_roll(w), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
    newest += 1 + BF_RESUME_MAX_SEGMENTS;
    CHECK_RC(bf_resume_scan(dir, newest, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_ENOTFOUND);
    bf_resume_free(&found);
    /* a missing segment ends the look back */
    CHECK(unlink(qt_segment_path(dir, 4)) == 0);
    CHECK_RC(bf_resume_scan(dir, 5, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_ENOTFOUND);
    bf_resume_free(&found);
}

/* The newest record of a stream fails its checksum: the one before it is the last seq. */
static void damaged_last_record(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "damaged");
    two_segments(dir);
    /* segment 2: SYMBOL, SYMBOL, A 10, A 11 */
    CHECK(qt_damage_slot(qt_segment_path(dir, 2), 3) == 0);
    bf_resume found;
    uint64_t seq = 0;
    CHECK_RC(bf_resume_scan(dir, 2, &found, NULL, 0), BF_OK);
    CHECK_RC(bf_resume_last_seq(&found, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1010);
    bf_resume_free(&found);
}

static void open_segment(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "open");
    two_segments(dir);
    bfr_reader r;
    const bf_slot *s;
    /* segment 2 from its first record, then on to the end of the queue */
    CHECK_RC(bfr_open_segment(&r, dir, 2, 0), BF_OK);
    CHECK(bfr_lag(&r) == 4);
    qt_counts n;
    memset(&n, 0, sizeof n);
    CHECK_RC(qt_drain(&r, &n), 0);
    CHECK(n.total == 4 && n.symbols == 2 && n.book_tickers == 2);
    CHECK(bfr_symbol(&r, 1) != NULL && strcmp(bfr_symbol(&r, 1), "AAAUSDT") == 0);
    bfr_close(&r);
    /* segment 1 goes on into segment 2 */
    CHECK_RC(bfr_open_segment(&r, dir, 1, BFR_NO_VERIFY), BF_OK);
    memset(&n, 0, sizeof n);
    CHECK_RC(qt_drain(&r, &n), 0);
    CHECK(n.total == 17 + 4);
    bfr_close(&r);
    CHECK_RC(bfr_open_segment(&r, dir, 3, 0), BF_ENOTFOUND);
    CHECK(strstr(r.error, "00000000000000000003.bfq") != NULL);
    CHECK_RC(bfr_open_segment(&r, dir, 1, BFR_FROM_END), BF_EINVAL);
    CHECK_RC(bfr_open_segment(&r, qt_path(scratch, "nope"), 1, 0), BF_ENOTFOUND);
    CHECK_RC(bfr_open_segment(NULL, dir, 1, 0), BF_EINVAL);
    /* an invalid header is an error here, not a report on the first bfr_next */
    CHECK(qt_pwrite_u32(qt_segment_path(dir, 1), 0, 0xdeadbeefu) == 0);
    CHECK_RC(bfr_open_segment(&r, dir, 1, 0), BF_ECORRUPT);
    CHECK(strstr(r.error, "00000000000000000001.bfq") != NULL);
    CHECK(bfr_next(&r, &s) < 0); /* closed: nothing to read */
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    newest_with_market_data(argv[1]);
    empty_newest_segments(argv[1]);
    damaged_last_record(argv[1]);
    open_segment(argv[1]);
    TEST_MAIN_END();
}
