/* Round trip through the queue: every record type written by the C writer comes back
 * bit-exact, in order, with its symbols resolved; a reopened queue continues after the
 * last record with the same symbol ids and the same queue_id; crc32c matches the reference
 * everywhere; segment headers are version 2 with header_crc over bytes 0..55 and 60..127. */
#include "queue_test_util.h"

#include <math.h>

static void check_crc_vectors(void) {
    CHECK(bf_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(bf_crc32c_sw(0, "123456789", 9) == 0xE3069283u);
    CHECK(bf_crc32c(0, "", 0) == 0);
    unsigned char zeros[32] = {0};
    CHECK(bf_crc32c(0, zeros, 32) == 0x8A9136AAu); /* RFC 3720 B.4 */
    /* chaining */
    CHECK(bf_crc32c(bf_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
}

/* The header of segment seq is a version-2 header of queue `qid`, its header_crc covering
 * bytes 0..55 then 60..127 (queue_id included), not the bytes from 128 on. */
static void check_header(const char *dir, uint64_t seq, const uint8_t qid[BF_QUEUE_ID_SIZE]) {
    bf_segment_header h;
    CHECK(qt_read_header(qt_segment_path(dir, seq), &h) == 0);
    CHECK(memcmp(h.magic, BF_MAGIC, 8) == 0 && h.version == 2 && BF_FORMAT_VERSION == 2);
    CHECK(h.segment_seq == seq && h.header_size == BF_HEADER_SIZE && h.slot_size == BF_SLOT_SIZE);
    CHECK(memcmp(h.queue_id, qid, BF_QUEUE_ID_SIZE) == 0);
    const unsigned char *b = (const unsigned char *)&h;
    uint32_t want = bf_crc32c(bf_crc32c(0, b, 56), b + 60, 128 - 60);
    CHECK(h.header_crc == want && bf_header_crc32c(&h) == want);
    CHECK(h.reserved0 == 0 && h.seal_flags == 0 && h.damage_first == 0 && h.damage_count == 0);
    h.queue_id[15] ^= 1; /* queue_id is covered */
    CHECK(bf_header_crc32c(&h) != want);
    h.queue_id[15] ^= 1;
    h.sealed_ns ^= 1; /* the writer's fields after byte 128 are not */
    bf_store_release_u64(&h.write_index, 12345);
    CHECK(bf_header_crc32c(&h) == want);
    char msg[256];
    CHECK_RC(bf_segment_check(&h, BF_HEADER_SIZE + h.capacity * h.slot_size, seq, "x", msg,
                              sizeof msg), BF_OK);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096];
    qt_dir(dir, argv[1], "q");
    check_crc_vectors();

    bf_writer *w = qt_open(dir, 0, 0); /* default size: 128 MiB reserved, not touched */
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 1 && st.capacity == BF_DEFAULT_SEGMENT_SLOTS && st.write_index == 0);
    uint64_t btc = qt_symbol(w, "btcusdt");
    uint64_t eth = qt_symbol(w, "ETHUSDT");
    CHECK(btc == 1 && eth == 2);
    CHECK(qt_symbol(w, "BtcUsdt") == btc); /* case-insensitive, no new record */
    CHECK(strcmp(bf_writer_symbol_name(w, btc), "BTCUSDT") == 0);
    CHECK(bf_writer_symbol_name(w, 3) == NULL);
    CHECK(bf_writer_symbol_name(w, 0) == NULL);
    const uint64_t N = 5000;
    for (uint64_t i = 0; i < N; i++) CHECK_RC(qt_append_bt(w, i, i % 2 ? eth : btc), BF_OK);
    /* exchange times in microseconds, stored as given */
    CHECK_RC(bf_append_trade(w, 42, 777, 61234.5, 0.00012, 1723075200123456ull, 1723075200124789ull,
                             BF_TRADE_F_BUYER_IS_MAKER | BF_TRADE_F_BEST_MATCH |
                                 BF_TRADE_F_BEST_MATCH_KNOWN, eth), BF_OK);
    CHECK_RC(bf_append_gap(w, 43, btc, BF_STREAM_TRADE, BF_GAP_SEQUENCE_JUMP, 10, 15), BF_OK);
    char longdetail[200];
    memset(longdetail, 'x', sizeof longdetail);
    longdetail[199] = '\0';
    CHECK_RC(bf_append_connection(w, 44, BF_CONN_DISCONNECTED, 3, 1006, longdetail), BF_OK);
    CHECK_RC(bf_append_connection(w, 45, BF_CONN_LAST, 4, 2, NULL), BF_OK); /* the newest */
    /* negative zero, subnormal and huge values survive bit-exact */
    CHECK_RC(bf_append_book_ticker(w, 46, 1, 0, -0.0, 4.9e-324, 1.7976931348623157e308, 0.1, btc),
             BF_OK);
    bf_slot batch[3];
    memset(batch, 0, sizeof batch);
    for (int i = 0; i < 3; i++) {
        batch[i].type = BF_REC_BOOK_TICKER;
        batch[i].seq = 90000 + (uint64_t)i;
        batch[i].recv_ts_ns = 47 + (uint64_t)i;
        batch[i].crc32c = 0xdeadbeef; /* ignored: the writer computes it */
        batch[i].body.book_ticker.bid_price = 1.5 + i;
        batch[i].body.book_ticker.symbol_id = eth;
        batch[i].body.raw[100] = 0x55; /* beyond the 48-byte body: the writer zeroes it */
    }
    CHECK_RC(bf_writer_append_many(w, batch, 3), BF_OK);
    CHECK_RC(bf_writer_append_many(w, batch, 0), BF_OK);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    const uint64_t total1 = 2 + N + 4 + 1 + 3;
    CHECK(st.write_index == total1 && st.records_written == total1 && st.symbols == 2);

    /* The queue's identity: random, in the header of every segment. */
    uint8_t qid[BF_QUEUE_ID_SIZE], qid2[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK(!qt_id_is_zero(qid));
    CHECK(st.recovery_events == 0);
    check_header(dir, 1, qid);

    /* A reader in the same process sees everything while the writer is open. */
    bfr_reader r;
    CHECK(BFR_VERIFY_CRC == 0); /* kept for old callers: verifying is the default */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK(r.version == 2);
    const bf_slot *s;
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL && s->body.symbol.symbol_id == 1 &&
          s->body.symbol.name_len == 7 && memcmp(s->body.symbol.name, "BTCUSDT\0", 8) == 0);
    CHECK(strcmp(bfr_symbol(&r, btc), "BTCUSDT") == 0 && bfr_symbol(&r, eth) == NULL);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL && strcmp(bfr_symbol(&r, eth), "ETHUSDT") == 0);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < N; i++) {
        if (bfr_next(&r, &s) != 1 || !qt_is_bt(s, i, i % 2 ? eth : btc)) bad++;
    }
    CHECK(bad == 0);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_TRADE && s->seq == 777 && s->recv_ts_ns == 42);
    CHECK(s->body.trade.price == 61234.5 && s->body.trade.qty == 0.00012 &&
          s->body.trade.trade_id == 777 && s->body.trade.trade_ts_us == 1723075200123456ull &&
          s->body.trade.event_ts_us == 1723075200124789ull && s->body.trade.flags == 7 &&
          s->body.trade.symbol_id == eth);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_GAP && s->seq == 0 && s->body.gap.symbol_id == btc &&
          s->body.gap.stream == BF_STREAM_TRADE && s->body.gap.reason == BF_GAP_SEQUENCE_JUMP &&
          s->body.gap.last_seq == 10 && s->body.gap.next_seq == 15);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_CONNECTION && s->body.connection.event == BF_CONN_DISCONNECTED &&
          s->body.connection.conn_id == 3 && s->body.connection.code == 1006 &&
          strlen(s->body.connection.detail) == 87 && s->body.connection.detail[0] == 'x');
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_CONNECTION && s->body.connection.detail[0] == '\0' &&
          s->body.connection.code == 2 && s->body.connection.event == BF_CONN_UNSUBSCRIBED);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_BOOK_TICKER && signbit(s->body.book_ticker.bid_price) &&
          s->body.book_ticker.bid_price == 0.0 && s->body.book_ticker.bid_qty == 4.9e-324 &&
          s->body.book_ticker.ask_price == 1.7976931348623157e308);
    for (int i = 0; i < 3; i++) {
        CHECK_RC(bfr_next(&r, &s), 1);
        bf_slot want = batch[i];
        want.body.raw[100] = 0;
        want.crc32c = bf_slot_crc32c(&want, BF_SLOT_SIZE);
        CHECK(memcmp(s, &want, sizeof want) == 0);
    }
    CHECK_RC(bfr_next(&r, &s), 0);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 1 && pos.index == total1 && pos.global_index == total1);
    CHECK(bfr_lag(&r) == 0);

    /* The writer appends more; the same reader picks them up without reopening. */
    CHECK_RC(qt_append_bt(w, N, btc), BF_OK);
    CHECK(bfr_lag(&r) == 1);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(qt_is_bt(s, N, btc));
    CHECK_RC(bfr_wait(&r, &s, 1000000), 0); /* times out: 0, not an error */
    int64_t pid = 0;
    CHECK_RC(bfr_writer_status(dir, &pid), 1);
    CHECK(pid == (int64_t)getpid());
    CHECK_RC(bf_writer_close(w), BF_OK);
    CHECK_RC(bfr_writer_status(dir, &pid), 0);
    /* sealed and truncated to its used length */
    CHECK(qt_file_size(qt_segment_path(dir, 1)) == BF_HEADER_SIZE + (total1 + 1) * BF_SLOT_SIZE);

    /* Reopen: a new segment, the same ids, records continue. */
    w = qt_open(dir, 0, 0);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 2 && st.symbols == 2 && st.write_index == 2 && st.recovered_cut == 0);
    CHECK(st.recovery_events == 0); /* a clean close: nothing to report, no RECOVERY record */
    /* the same queue_id after a restart, in the new segment too */
    CHECK_RC(bf_writer_queue_id(w, qid2), BF_OK);
    CHECK(memcmp(qid, qid2, BF_QUEUE_ID_SIZE) == 0);
    check_header(dir, 2, qid);
    CHECK(qt_symbol(w, "ethusdt") == eth);
    CHECK(qt_symbol(w, "SOLUSDT") == 3);
    CHECK_RC(qt_append_bt(w, N + 1, 3), BF_OK);
    /* the old reader moves to segment 2 (segment 1 is sealed, segment 2 exists) */
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.symbols == 3 && c.book_tickers == 1 && c.total == 4 && c.recoveries == 0);
    CHECK(bfr_symbol(&r, 3) && strcmp(bfr_symbol(&r, 3), "SOLUSDT") == 0);
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2 && pos.index == 4 && pos.global_index == total1 + 1 + 4);
    bfr_close(&r);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* A fresh reader from the start sees both sessions, from the end sees nothing. */
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.total == total1 + 1 + 4 && c.book_tickers == N + 1 + 1 + 3 + 1);
    bfr_close(&r);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_OK);
    /* symbols before the start point */
    CHECK(bfr_symbol(&r, 3) && strcmp(bfr_symbol(&r, 3), "SOLUSDT") == 0);
    CHECK_RC(bfr_next(&r, &s), 0);
    bfr_close(&r);
    bfr_close(&r); /* twice is harmless */
    TEST_MAIN_END();
}
