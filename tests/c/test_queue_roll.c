/* Segment rolls: small segments roll when full; a reader interleaved with the writer follows
 * every roll without missing or repeating a record; sealed segments are truncated to their
 * used length; every segment starts with the SYMBOL records; manual and UTC-day rolls; a
 * reader follows a roll whose writer died between creating the successor and sealing. */
#include "queue_test_util.h"

#define DAY_NS 86400000000000ull

static void interleaved(const char *dir) {
    bf_writer *w = qt_open(dir, BF_MIN_SEGMENT_SLOTS, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    uint64_t b = qt_symbol(w, "BBBUSDT");
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    const uint64_t N = 20000;
    uint64_t next = 0, symbols = 0, bad = 0;
    const bf_slot *s;
    for (uint64_t i = 0; i < N; i++) {
        CHECK_RC(qt_append_bt(w, i, i % 3 ? a : b), BF_OK);
        if (i % 7 == 0 || i == N - 1) { /* read in bursts of varying length */
            int rc;
            while ((rc = bfr_next(&r, &s)) == 1) {
                if (s->type == BF_REC_SYMBOL) {
                    symbols++;
                    continue;
                }
                if (!qt_is_bt(s, next, next % 3 ? a : b)) bad++;
                next++;
            }
            CHECK(rc == 0);
        }
    }
    /* The last segment may still need the successor check, which is rate limited: wait. */
    while (next < N) {
        int rc = bfr_wait(&r, &s, 100000000);
        if (rc != 1) break;
        if (s->type == BF_REC_SYMBOL) {
            symbols++;
            continue;
        }
        if (!qt_is_bt(s, next, next % 3 ? a : b)) bad++;
        next++;
    }
    CHECK(bad == 0);
    CHECK(next == N);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    /* 64 slots, 2 of them SYMBOL records: 62 records per segment after the first */
    CHECK(st.segments_created == st.segment_seq && st.segment_seq >= N / 62);
    CHECK(symbols == 2 * st.segment_seq);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == st.segment_seq);
    CHECK(pos.global_index == N + symbols);
    /* every finished segment is sealed and holds exactly capacity records */
    uint64_t wrong_size = 0;
    for (uint64_t seq = 1; seq < st.segment_seq; seq++)
        wrong_size += qt_file_size(qt_segment_path(dir, seq)) != BF_HEADER_SIZE + 64 * BF_SLOT_SIZE;
    CHECK(wrong_size == 0);
    CHECK(qt_file_size(qt_segment_path(dir, st.segment_seq)) ==
          BF_HEADER_SIZE + 64 * BF_SLOT_SIZE); /* live: full size, reserved */

    /* manual roll: the current segment is sealed at its used length */
    uint64_t used = st.write_index, seq = st.segment_seq;
    CHECK_RC(bf_writer_roll(w), BF_OK);
    CHECK(qt_file_size(qt_segment_path(dir, seq)) == BF_HEADER_SIZE + used * BF_SLOT_SIZE);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == seq + 1 && st.write_index == 2);
    CHECK_RC(qt_append_bt(w, N, a), BF_OK);
    int rc;
    do rc = bfr_wait(&r, &s, 100000000);
    while (rc == 1 && s->type == BF_REC_SYMBOL);
    CHECK(rc == 1 && qt_is_bt(s, N, a));
    bfr_close(&r);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

static void day_roll(const char *dir) {
    bf_writer *w = qt_open(dir, 1024, BF_WRITER_UTC_DAY_ROLL);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    bf_writer_stats st;
    uint64_t now = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    uint64_t midnight = (now / DAY_NS + 1) * DAY_NS;
    CHECK_RC(bf_append_book_ticker(w, now, 1, 0, 1, 1, 1, 1, a), BF_OK);
    CHECK_RC(bf_append_book_ticker(w, 0, 2, 0, 1, 1, 1, 1, a), BF_OK); /* unknown time: no roll */
    CHECK_RC(bf_append_book_ticker(w, midnight - 1, 3, 0, 1, 1, 1, 1, a), BF_OK);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 1 && st.write_index == 4);
    CHECK_RC(bf_append_book_ticker(w, midnight, 4, 0, 1, 1, 1, 1, a), BF_OK);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 2 && st.write_index == 2); /* SYMBOL + the record */
    CHECK_RC(bf_append_book_ticker(w, midnight + DAY_NS / 2, 5, 0, 1, 1, 1, 1, a), BF_OK);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 2 && st.write_index == 3);
    CHECK_RC(bf_writer_close(w), BF_OK);
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK(r.hdr->flags == BF_SEG_F_UTC_DAY_ROLL);
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.book_tickers == 5 && c.symbols == 2);
    CHECK(r.hdr->created_ns >= midnight && r.hdr->created_ns < midnight + DAY_NS);
    bfr_close(&r);
}

/* The writer died after creating segment n+1 and before sealing segment n: a reader at the
 * end of segment n must still move on (and must not skip what n holds). */
static void died_mid_roll(const char *dir) {
    uint64_t a = qt_build(dir, 2, 10);
    /* un-seal segment 1 by hand, as if the writer had been killed mid-roll */
    size_t len;
    unsigned char *m = qt_map_rw(qt_segment_path(dir, 1), &len);
    CHECK(m != NULL);
    if (!m) return;
    bf_segment_header *h = (bf_segment_header *)m;
    bf_store_release_u32(&h->sealed, 0);
    /* ... and before its truncation, which follows sealing */
    CHECK(truncate(qt_segment_path(dir, 1), BF_HEADER_SIZE + 64 * BF_SLOT_SIZE) == 0);
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    const bf_slot *s;
    uint64_t next = 0, bad = 0;
    int rc;
    while ((rc = bfr_wait(&r, &s, 200000000)) == 1) {
        if (s->type == BF_REC_SYMBOL) continue;
        if (!qt_is_bt(s, next, a)) bad++;
        next++;
    }
    CHECK(rc == 0 && bad == 0 && next == 20);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2);
    bfr_close(&r);
    /* the next writer seals and truncates the unsealed predecessor too */
    munmap(m, len);
    bf_writer *w = qt_open(dir, 64, 0);
    CHECK(qt_file_size(qt_segment_path(dir, 1)) == BF_HEADER_SIZE + 11 * BF_SLOT_SIZE);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovery_events == 0 && st.recovered_cut == 0); /* nothing was damaged */
    m = qt_map_rw(qt_segment_path(dir, 1), &len);
    CHECK(m && bf_load_acquire_u32(&((bf_segment_header *)m)->sealed) == 1);
    if (m) munmap(m, len);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096];
    interleaved(qt_dir(dir, argv[1], "interleaved"));
    day_roll(qt_dir(dir, argv[1], "day"));
    died_mid_roll(qt_dir(dir, argv[1], "midroll"));
    TEST_MAIN_END();
}
