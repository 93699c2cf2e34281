/* Recovery after a crash: a writer killed with SIGKILL leaves an unsealed segment whose
 * published records all survive; a torn slot (bad crc, as after a power loss) is cut by the
 * next writer, which seals and truncates, keeps the symbol ids, continues the queue-wide
 * index and reports the last seq per stream for the parser. */
#include "queue_test_util.h"
#include "writer_internal.h"

#include <signal.h>
#include <sys/wait.h>

#define SLOTS 1024u

/* Child: 2 symbols, then 200 records alternating A book tickers (seq 1000+i) and B trades
 * (trade id 5000+i), then SIGKILL itself with the writer open. */
static void crashing_writer(const char *dir) {
    bf_writer *w = qt_open(dir, SLOTS, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT"), b = qt_symbol(w, "BBBUSDT");
    for (uint64_t i = 0; i < 200; i++) {
        int rc = i % 2 ? bf_append_trade(w, 1 + i, 5000 + i, 1.0, 2.0, 3, 4, 0, b)
                       : qt_append_bt(w, i, a);
        if (rc != BF_OK) _exit(3);
    }
    kill(getpid(), SIGKILL);
    _exit(4);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096];
    qt_dir(dir, argv[1], "crash");
    pid_t pid = fork();
    if (pid == 0) crashing_writer(dir);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_RC(bfr_writer_status(dir, NULL), 0); /* the kernel dropped the dead writer's lock */

    /* Everything published before the kill is there, unsealed, crc-clean. */
    bfr_reader r;
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.total == 202 && c.book_tickers == 100 && c.trades == 100);
    CHECK(bf_load_acquire_u32(&r.hdr->sealed) == 0);
    bfr_close(&r);

    /* Tear slot 52 (record i = 50, a book ticker) as a power loss could. */
    size_t len;
    const char *seg1 = qt_segment_path(dir, 1);
    unsigned char *m = qt_map_rw(seg1, &len);
    CHECK(m != NULL);
    if (!m) TEST_MAIN_END();
    bf_slot *torn = (bf_slot *)(m + BF_HEADER_SIZE + 52 * BF_SLOT_SIZE);
    torn->body.book_ticker.bid_price += 1.0; /* contents changed, crc not updated */
    munmap(m, len);

    /* A verifying reader stops at it with a message naming the file and slot. */
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), BF_ECORRUPT);
    CHECK(c.total == 52);
    CHECK(strstr(r.error, "00000000000000000001.bfq") && strstr(r.error, "slot 52"));
    bfr_close(&r);

    /* The next writer cuts at the torn slot, seals and truncates segment 1. */
    bf_writer *w = qt_open(dir, SLOTS, 0);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 202 - 52);
    CHECK(st.segment_seq == 2 && st.symbols == 2 && st.write_index == 2);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 52 * BF_SLOT_SIZE);
    CHECK(bf__writer_restarted(w) == 1);
    CHECK(bf__writer_symbol_count(w) == 2);
    uint64_t seq = 0;
    /* slots 2..51 hold records i = 0..49: last book ticker i = 48, last trade i = 49 */
    CHECK_RC(bf__writer_recovered_last_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1048);
    CHECK_RC(bf__writer_recovered_last_seq(w, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 5049);
    CHECK_RC(bf__writer_recovered_last_seq(w, 1, BF_STREAM_TRADE, &seq), BF_ENOTFOUND);
    CHECK_RC(bf__writer_recovered_last_seq(w, 3, BF_STREAM_TRADE, &seq), BF_ENOTFOUND);
    CHECK_RC(bf__writer_recovered_last_seq(w, 1, 9, &seq), BF_EINVAL);
    CHECK(qt_symbol(w, "AAAUSDT") == 1 && qt_symbol(w, "bbbusdt") == 2);
    CHECK_RC(qt_append_bt(w, 7777, 1), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* Readers now see the 52 good slots, then segment 2, nothing torn. */
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.total == 52 + 3 && c.symbols == 4);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2 && pos.global_index == 52 + 3); /* first_index continues */
    bfr_close(&r);

    /* A clean reopen cuts nothing, and a restart on an empty newest segment still finds
     * the last seqs in the one before it. A sealed predecessor left at full size (a writer
     * killed before its deferred truncation) is truncated. */
    CHECK(truncate(qt_segment_path(dir, 1), BF_HEADER_SIZE + SLOTS * BF_SLOT_SIZE) == 0);
    w = qt_open(dir, SLOTS, 0);
    CHECK(qt_file_size(qt_segment_path(dir, 1)) == BF_HEADER_SIZE + 52 * BF_SLOT_SIZE);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 0 && st.segment_seq == 3);
    CHECK_RC(bf_writer_close(w), BF_OK);
    w = qt_open(dir, SLOTS, 0);
    CHECK_RC(bf__writer_recovered_last_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1000 + 7777);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* A brand-new queue is not a restart. */
    qt_dir(dir, argv[1], "fresh");
    w = qt_open(dir, SLOTS, 0);
    CHECK(bf__writer_restarted(w) == 0 && bf__writer_symbol_count(w) == 0);
    CHECK_RC(bf__writer_recovered_last_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_ENOTFOUND);
    CHECK_RC(bf_writer_close(w), BF_OK);
    TEST_MAIN_END();
}
