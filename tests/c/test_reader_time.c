/* Receive-time search with the header-only reader (binfeed_reader.h):
 *   - bfr_time_span_of counts the records of the asked types in the current segment, gives
 *     their smallest and largest recv_ts_ns and whether they are in order, ignoring the
 *     other types (a SYMBOL stamped with the writer's clock does not make market data
 *     unordered);
 *   - bfr_time_lower_bound finds, in ordered records of one type interleaved with others,
 *     the first one received at or after a time, for every time around every record
 *     (checked against a linear scan), within [lo, hi), and with a rare type;
 *   - records out of order are reported as such;
 *   - bfr_open_at starts at a slot with the names that SYMBOL records before it define
 *     (also one defined mid-segment), or without them (BFR_NO_PRIOR_NAMES), and reads on
 *     from there across a roll. */
#include "queue_test_util.h"

#define N 400
#define T0 1723161254000000000ull

/* The recv time of record i: book tickers every 10 ns, a trade after every 7th. */
static uint64_t recv_of(uint64_t i) { return T0 + i * 10; }

static uint64_t linear_from(const bfr_reader *r, uint64_t types, uint64_t t, uint64_t lo) {
    uint64_t n = bfr__published(r);
    for (uint64_t i = lo; i < n; i++) {
        const bf_slot *s = (const bf_slot *)(r->slots + i * r->slot_size);
        if (bfr__type_in(types, s->type) && s->recv_ts_ns >= t) return i;
    }
    return n;
}

static uint64_t linear_lower_bound(const bfr_reader *r, uint64_t types, uint64_t t) {
    return linear_from(r, types, t, 0);
}

static void write_ordered(const char *dir) {
    bf_writer *w = qt_open(dir, 4096, 0);
    uint64_t btc = qt_symbol(w, "BTCUSDT");
    for (uint64_t i = 0; i < N; i++) {
        CHECK_RC(bf_append_book_ticker(w, recv_of(i), 1000 + i, 0, 1.0, 2.0, 3.0, 4.0, btc),
                 BF_OK);
        if (i % 7 == 3)
            CHECK_RC(bf_append_trade(w, recv_of(i) + 1, 50 + i, 1.5, 0.1, 1, 2,
                                     BF_TRADE_F_BUYER_IS_MAKER, btc), BF_OK);
        if (i == 200) {
            uint64_t eth = qt_symbol(w, "ETHUSDT"); /* its SYMBOL record mid-segment */
            CHECK_RC(bf_append_trade(w, recv_of(i) + 2, 7, 2.5, 0.2, 1, 2, 0, eth), BF_OK);
        }
    }
    /* a gap (a rare type) near the end */
    CHECK_RC(bf_append_gap(w, recv_of(N), btc, BF_STREAM_TRADE, BF_GAP_SEQUENCE_JUMP, 1, 3),
             BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

static void test_span_and_search(const char *dir) {
    bfr_reader r;
    CHECK_RC(bfr_open_segment(&r, dir, 1, 0), BF_OK);
    bfr_time_span span;
    uint64_t bt = BFR_TYPE_BIT(BF_REC_BOOK_TICKER), tr = BFR_TYPE_BIT(BF_REC_TRADE);
    uint64_t gap = BFR_TYPE_BIT(BF_REC_GAP);
    bfr_time_span_of(&r, bt, &span);
    CHECK(span.count == N && span.ordered == 1);
    CHECK(span.min_ns == recv_of(0) && span.max_ns == recv_of(N - 1));
    /* SYMBOL records carry the writer's clock (now): not part of the market data's span */
    bfr_time_span_of(&r, bt | tr | gap, &span);
    CHECK(span.ordered == 1 && span.max_ns == recv_of(N));
    bfr_time_span_of(&r, bt | BFR_TYPE_BIT(BF_REC_SYMBOL), &span);
    CHECK(span.ordered == 0);
    bfr_time_span_of(&r, BFR_TYPE_BIT(BF_REC_CONNECTION), &span);
    CHECK(span.count == 0 && span.min_ns == 0 && span.max_ns == 0);

    uint64_t n = bfr__published(&r);
    uint64_t masks[] = {bt, tr, gap, bt | tr};
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++) {
        for (uint64_t t = recv_of(0) - 3; t <= recv_of(N) + 3; t++) {
            uint64_t want = linear_lower_bound(&r, masks[m], t);
            uint64_t got = bfr_time_lower_bound(&r, masks[m], t, 0, UINT64_MAX);
            if (got != want) {
                fprintf(stderr, "mask %llx t=+%llu: got %llu want %llu\n",
                        (unsigned long long)masks[m], (unsigned long long)(t - T0),
                        (unsigned long long)got, (unsigned long long)want);
                CHECK(got == want);
                break;
            }
        }
    }
    /* within [lo, hi): nothing at or after t in the range gives hi */
    uint64_t mid = n / 2;
    CHECK(bfr_time_lower_bound(&r, bt, recv_of(N), 0, mid) == mid);
    CHECK(bfr_time_lower_bound(&r, bt, 0, mid, n) == linear_from(&r, bt, 0, mid));
    CHECK(bfr_time_lower_bound(&r, tr, recv_of(100), mid, n) ==
          linear_from(&r, tr, recv_of(100), mid));
    bfr_close(&r);
}

static void test_unordered(const char *dir) {
    bf_writer *w = qt_open(dir, 4096, 0);
    uint64_t btc = qt_symbol(w, "BTCUSDT");
    /* two "files" of the same hours, one after the other (an import of two captures) */
    for (int file = 0; file < 2; file++)
        for (uint64_t i = 0; i < 50; i++)
            CHECK_RC(bf_append_book_ticker(w, recv_of(i), 1 + i, 0, 1, 1, 1, 1, btc), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
    bfr_reader r;
    CHECK_RC(bfr_open_segment(&r, dir, 1, 0), BF_OK);
    bfr_time_span span;
    bfr_time_span_of(&r, BFR_TYPE_BIT(BF_REC_BOOK_TICKER), &span);
    CHECK(span.count == 100 && span.ordered == 0);
    CHECK(span.min_ns == recv_of(0) && span.max_ns == recv_of(49));
    bfr_close(&r);
}

static void test_open_at(const char *dir) {
    bfr_reader r;
    /* past ETHUSDT's mid-segment SYMBOL record: both names are known */
    CHECK_RC(bfr_open_segment(&r, dir, 1, 0), BF_OK);
    uint64_t at = bfr_time_lower_bound(&r, BFR_TYPE_BIT(BF_REC_BOOK_TICKER), recv_of(300), 0,
                                       UINT64_MAX);
    bfr_close(&r);
    CHECK_RC(bfr_open_at(&r, dir, 1, at, 0), BF_OK);
    CHECK(bfr_symbol(&r, 1) && strcmp(bfr_symbol(&r, 1), "BTCUSDT") == 0);
    CHECK(bfr_symbol(&r, 2) && strcmp(bfr_symbol(&r, 2), "ETHUSDT") == 0);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 1 && pos.index == at);
    const bf_slot *s = NULL;
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s && s->type == BF_REC_BOOK_TICKER && s->recv_ts_ns == recv_of(300));
    bfr_close(&r);
    /* the caller may have the names already (a queue's ids are stable): none is read */
    CHECK_RC(bfr_open_at(&r, dir, 1, at, BFR_NO_PRIOR_NAMES), BF_OK);
    CHECK(bfr_symbol(&r, 1) == NULL && bfr_symbol(&r, 2) == NULL);
    bfr_tell(&r, &pos);
    CHECK(pos.index == at);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s && s->recv_ts_ns == recv_of(300));
    bfr_close(&r);
    /* at slot 0 nothing is known yet; an index past the end is clamped */
    CHECK_RC(bfr_open_at(&r, dir, 1, 0, 0), BF_OK);
    CHECK(bfr_symbol(&r, 1) == NULL);
    bfr_close(&r);
    CHECK_RC(bfr_open_at(&r, dir, 1, 1u << 30, 0), BF_OK);
    bfr_tell(&r, &pos);
    CHECK(pos.index == bfr__published(&r));
    CHECK_RC(bfr_next(&r, &s), 0);
    bfr_close(&r);
    /* a segment that does not exist */
    CHECK_RC(bfr_open_at(&r, dir, 9, 0, 0), BF_ENOTFOUND);
}

static void test_open_at_reads_on(const char *dir) {
    bf_writer *w = qt_open(dir, BF_MIN_SEGMENT_SLOTS, 0);
    uint64_t btc = qt_symbol(w, "BTCUSDT");
    uint64_t total = BF_MIN_SEGMENT_SLOTS * 3;
    for (uint64_t i = 0; i < total; i++)
        CHECK_RC(bf_append_book_ticker(w, recv_of(i), 1 + i, 0, 1, 1, 1, 1, btc), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
    bfr_reader r;
    CHECK_RC(bfr_open_at(&r, dir, 1, 5, 0), BF_OK);
    const bf_slot *s;
    uint64_t seen = 0, first = 0, last = 0;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1)
        if (s->type == BF_REC_BOOK_TICKER) {
            CHECK(s->recv_ts_ns > last);
            if (!first) first = s->recv_ts_ns;
            last = s->recv_ts_ns;
            seen++;
        }
    CHECK_RC(rc, 0);
    /* slot 0 is BTCUSDT's SYMBOL record: slot 5 holds the fifth book ticker (i = 4) */
    CHECK(first == recv_of(4) && last == recv_of(total - 1));
    CHECK(seen == total - 4);
    bfr_close(&r);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char a[4096], b[4096], c[4096];
    write_ordered(qt_dir(a, argv[1], "ordered"));
    test_span_and_search(a);
    test_open_at(a);
    test_unordered(qt_dir(b, argv[1], "unordered"));
    test_open_at_reads_on(qt_dir(c, argv[1], "rolls"));
    TEST_MAIN_END();
}
