/* Recovery after a crash (see "Writer exclusion, rolls and recovery" and "Damage" in
 * binfeed_reader.h): a writer killed with SIGKILL leaves an unsealed segment whose published
 * records all survive. The next writer
 *   - cuts a torn tail (bad slots after the last good one, as after a power loss), seals and
 *     truncates, and reports it (BF_RECOVERY_TORN_TAIL);
 *   - keeps a segment whose damaged slot is followed by good ones whole (no good record is
 *     lost), seals it as damaged (BF_SEAL_F_DAMAGED, damage_first, damage_count) and reports
 *     it (BF_RECOVERY_DAMAGED);
 *   - writes into a queue with a hole and reports it (BF_RECOVERY_HOLE);
 *   - writes each report as a BF_REC_RECOVERY record after the SYMBOL records of its first
 *     segment;
 * and keeps the symbol ids and the queue_id and continues the queue-wide index; a parser
 * opened on it then finds the last seq per stream in what recovery kept (parse_resume.h).
 * Readers return every good record and report each damaged slot (BF_EDAMAGED) without
 * returning it. */
#include "queue_test_util.h"
#include "writer_internal.h"

#include <signal.h>
#include <sys/wait.h>

#define SLOTS 1024u
#define SEG1 "00000000000000000001.bfq"

/* Child: 2 symbols, then 200 records alternating A book tickers (seq 1000+i) and B trades
 * (trade id 5000+i), then SIGKILL itself with the writer open. Slot 2 + i holds record i. */
static void crashing_writer(const char *dir) {
    bf_writer *w = qt_open(dir, SLOTS, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT"), b = qt_symbol(w, "BBBUSDT");
    for (uint64_t i = 0; i < 200; i++) {
        int rc = i % 2 ? bf_append_trade(w, 1 + i, 5000 + i, 1.0, 2.0, 3000, 4000, 0, b)
                       : qt_append_bt(w, i, a);
        if (rc != BF_OK) _exit(3);
    }
    kill(getpid(), SIGKILL);
    _exit(4);
}

/* Runs crashing_writer on dir in a child and checks what it left. */
static void crash(const char *dir) {
    pid_t pid = fork();
    if (pid == 0) crashing_writer(dir);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_RC(bfr_writer_status(dir, NULL), 0); /* the kernel dropped the dead writer's lock */
    /* Everything published before the kill is there, unsealed, crc-clean. */
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 0);
    CHECK(wk.c.total == 202 && wk.c.book_tickers == 100 && wk.c.trades == 100);
    CHECK(bf_load_acquire_u32(&r.hdr->sealed) == 0);
    bfr_close(&r);
}

/* The report of bf_writer_recovery with `event`, or NULL (in *out). */
static int find_report(bf_writer *w, uint32_t event, bf_recovery_report *out) {
    bf_writer_stats st;
    bf_writer_get_stats(w, &st);
    for (size_t i = 0; i < st.recovery_events; i++)
        if (bf_writer_recovery(w, i, out) == BF_OK && out->event == event) return 1;
    memset(out, 0, sizeof *out);
    return 0;
}

/* The RECOVERY record in slot `slot` of segment `seq` says event / segment_seq / slot /
 * count; when `file` is given, its detail names the segment file (the queue's path left
 * out). */
static void check_recovery_record(const char *dir, uint64_t seq, uint64_t slot, uint32_t event,
                                  uint64_t about_seq, uint64_t about_slot, uint64_t count,
                                  const char *file) {
    bf_slot s;
    CHECK(qt_read_slot(qt_segment_path(dir, seq), slot, &s) == 0);
    CHECK(bf_slot_check(&s, BF_SLOT_SIZE) == BF_SLOT_OK);
    const bf_recovery_event *e = &s.body.recovery;
    CHECK(s.type == BF_REC_RECOVERY && s.seq == 0 && s.flags == 0);
    CHECK(e->event == event && e->zero == 0 && e->segment_seq == about_seq &&
          e->slot == about_slot && e->count == count);
    CHECK(memchr(e->detail, '\0', sizeof e->detail) != NULL); /* NUL terminated */
    if (!file) return;
    CHECK(strstr(e->detail, file) != NULL && strstr(e->detail, dir) == NULL);
    if (!strstr(e->detail, file)) fprintf(stderr, "RECOVERY detail: %s\n", e->detail);
}

/* A torn tail: slots 52..201 (records 50..199) fail their checksum. They are cut. */
static void torn_tail(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "torn");
    crash(dir);
    const char *seg1 = qt_segment_path(dir, 1);
    for (uint64_t i = 52; i < 202; i++) CHECK(qt_damage_slot(seg1, i) == 0);
    bf_segment_header h1;
    CHECK(qt_read_header(seg1, &h1) == 0);

    /* A verifying reader returns the good records and reports every torn slot, naming the
     * file and the slot, without returning it. */
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.c.total == 52 && wk.ndamage == 150);
    CHECK(wk.damage[0].kind == BFR_DAMAGE_CHECKSUM && wk.damage[0].segment_seq == 1 &&
          wk.damage[0].slot == 52 && wk.damage[0].count == 1 && wk.damage[1].slot == 53);
    CHECK(strstr(wk.first_error, SEG1) && strstr(wk.first_error, "slot 52") &&
          strstr(wk.first_error, "binfeed verify"));
    bfr_close(&r);

    /* The next writer cuts the torn tail, seals and truncates segment 1, and says so. */
    bf_writer *w = qt_open(dir, SLOTS, 0);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 202 - 52);
    CHECK(st.recovery_events == 1);
    bf_recovery_report rep;
    CHECK_RC(bf_writer_recovery(w, 0, &rep), BF_OK);
    CHECK(rep.event == BF_RECOVERY_TORN_TAIL && rep.segment_seq == 1 && rep.slot == 52 &&
          rep.count == 150);
    CHECK(strstr(rep.message, dir) && strstr(rep.message, SEG1));
    CHECK_RC(bf_writer_recovery(w, 1, &rep), BF_ENOTFOUND);
    /* 2 SYMBOL records and the RECOVERY record */
    CHECK(st.segment_seq == 2 && st.symbols == 2 && st.write_index == 3);
    check_recovery_record(dir, 2, 2, BF_RECOVERY_TORN_TAIL, 1, 52, 150, SEG1);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 52 * BF_SLOT_SIZE);
    bf_segment_header h;
    CHECK(qt_read_header(seg1, &h) == 0);
    CHECK(h.sealed == 1 && bf_load_acquire_u64(&h.write_index) == 52);
    CHECK(h.seal_flags == 0 && h.damage_first == 0 && h.damage_count == 0); /* cut, not kept */
    /* the queue_id is kept */
    uint8_t qid[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK(!qt_id_is_zero(h1.queue_id) && memcmp(qid, h1.queue_id, BF_QUEUE_ID_SIZE) == 0);
    CHECK(bf__writer_restarted(w) == 1);
    CHECK(bf__writer_symbol_count(w) == 2);
    uint64_t seq = 0;
    /* slots 2..51 hold records i = 0..49: last book ticker i = 48, last trade i = 49 */
    CHECK_RC(qt_resumed_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1048);
    CHECK_RC(qt_resumed_seq(w, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 5049);
    CHECK_RC(qt_resumed_seq(w, 1, BF_STREAM_TRADE, &seq), BF_ENOTFOUND);
    CHECK_RC(qt_resumed_seq(w, 3, BF_STREAM_TRADE, &seq), BF_ENOTFOUND);
    CHECK_RC(qt_resumed_seq(w, 1, 9, &seq), BF_EINVAL);
    CHECK(qt_symbol(w, "AAAUSDT") == 1 && qt_symbol(w, "bbbusdt") == 2);
    CHECK_RC(qt_append_bt(w, 7777, 1), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* Readers now see the 52 good slots, then segment 2, nothing torn. */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 0);
    CHECK(wk.c.total == 52 + 4 && wk.c.symbols == 4 && wk.c.recoveries == 1);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2 && pos.global_index == 52 + 4); /* first_index continues */
    bfr_close(&r);

    /* A clean reopen cuts nothing and reports nothing, and a restart on an empty newest
     * segment still finds the last seqs in the one before it. A sealed predecessor left at
     * full size (a writer killed before its deferred truncation) is truncated. */
    CHECK(truncate(qt_segment_path(dir, 1), BF_HEADER_SIZE + SLOTS * BF_SLOT_SIZE) == 0);
    w = qt_open(dir, SLOTS, 0);
    CHECK(qt_file_size(qt_segment_path(dir, 1)) == BF_HEADER_SIZE + 52 * BF_SLOT_SIZE);
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 0 && st.segment_seq == 3 && st.recovery_events == 0);
    CHECK(st.write_index == 2); /* no RECOVERY record */
    uint8_t qid2[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid2), BF_OK);
    CHECK(memcmp(qid, qid2, BF_QUEUE_ID_SIZE) == 0);
    CHECK_RC(bf_writer_close(w), BF_OK);
    w = qt_open(dir, SLOTS, 0);
    CHECK_RC(qt_resumed_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1000 + 7777);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Damage in the middle of the newest segment: slot 52 (record 50, a book ticker) fails its
 * checksum and good slots follow. Nothing is cut; the segment is sealed as damaged. */
static void damaged_middle(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "damaged");
    crash(dir);
    const char *seg1 = qt_segment_path(dir, 1);
    CHECK(qt_damage_slot(seg1, 52) == 0);
    bf_segment_header h1;
    CHECK(qt_read_header(seg1, &h1) == 0);

    /* Readers: every good record, the damaged one reported (not returned), once. */
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1 && wk.c.total == 201);
    CHECK(wk.c.book_tickers == 99 && wk.c.trades == 100);
    CHECK(wk.damage[0].kind == BFR_DAMAGE_CHECKSUM && wk.damage[0].segment_seq == 1 &&
          wk.damage[0].slot == 52 && wk.damage[0].count == 1);
    bfr_close(&r);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_NO_VERIFY), BF_OK); /* opting out */
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 0 && wk.c.total == 202);
    bfr_close(&r);

    bf_writer *w = qt_open(dir, SLOTS, 0);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 0); /* no good record is lost */
    CHECK(st.recovery_events == 1);
    bf_recovery_report rep;
    CHECK_RC(bf_writer_recovery(w, 0, &rep), BF_OK);
    CHECK(rep.event == BF_RECOVERY_DAMAGED && rep.segment_seq == 1 && rep.slot == 52 &&
          rep.count == 1);
    CHECK(strstr(rep.message, dir) && strstr(rep.message, SEG1) &&
          strstr(rep.message, "binfeed verify"));
    CHECK_RC(bf_writer_recovery(w, 1, &rep), BF_ENOTFOUND);
    /* segment 1: kept whole, sealed as damaged, truncated to its 202 slots */
    bf_segment_header h;
    CHECK(qt_read_header(seg1, &h) == 0);
    CHECK(h.sealed == 1 && bf_load_acquire_u64(&h.write_index) == 202);
    CHECK(h.seal_flags == BF_SEAL_F_DAMAGED && h.damage_first == 52 && h.damage_count == 1);
    CHECK(h.sealed_ns != 0 && h.header_crc == h1.header_crc); /* the header stays valid */
    char msg[512];
    CHECK_RC(bf_segment_check(&h, qt_file_size(seg1), 1, seg1, msg, sizeof msg), BF_OK);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 202 * BF_SLOT_SIZE);
    /* the writer continues in segment 2: SYMBOLs, the RECOVERY record, same queue_id */
    CHECK(st.segment_seq == 2 && st.symbols == 2 && st.write_index == 3);
    check_recovery_record(dir, 2, 2, BF_RECOVERY_DAMAGED, 1, 52, 1, SEG1);
    bf_segment_header h2;
    CHECK(qt_read_header(qt_segment_path(dir, 2), &h2) == 0);
    CHECK(h2.first_index == 202);
    uint8_t qid[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK(memcmp(qid, h1.queue_id, BF_QUEUE_ID_SIZE) == 0 &&
          memcmp(h2.queue_id, h1.queue_id, BF_QUEUE_ID_SIZE) == 0);
    /* the last seqs come from the good records after the damage too */
    uint64_t seq = 0;
    CHECK_RC(qt_resumed_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
    CHECK(seq == 1198);
    CHECK_RC(qt_resumed_seq(w, 2, BF_STREAM_TRADE, &seq), BF_OK);
    CHECK(seq == 5199);
    CHECK_RC(qt_append_bt(w, 200, 1), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    /* Reading it back: all 201 good records of segment 1 (slot 52 reported), then segment 2
     * with its RECOVERY record; no index mismatch at the roll. */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    const bf_slot *s;
    uint64_t next_bt = 0, next_tr = 1, bad = 0, damage = 0, recoveries = 0, other = 0;
    int rc;
    while ((rc = bfr_next(&r, &s)) != 0) {
        if (rc == BF_EDAMAGED) {
            damage++;
            CHECK(r.damage.kind == BFR_DAMAGE_CHECKSUM && r.damage.segment_seq == 1 &&
                  r.damage.slot == 52);
            CHECK(strstr(r.error, seg1) && strstr(r.error, "slot 52") &&
                  strstr(r.error, "binfeed verify"));
            next_bt += 2; /* record 50 is gone */
            continue;
        }
        if (rc < 0) break;
        if (s->type == BF_REC_BOOK_TICKER) {
            if (!qt_is_bt(s, next_bt, 1)) bad++;
            next_bt += 2;
        } else if (s->type == BF_REC_TRADE) {
            if (s->seq != 5000 + next_tr) bad++;
            next_tr += 2;
        } else if (s->type == BF_REC_RECOVERY) {
            recoveries++;
            CHECK(s->body.recovery.event == BF_RECOVERY_DAMAGED &&
                  s->body.recovery.segment_seq == 1 && s->body.recovery.slot == 52);
        } else if (s->type != BF_REC_SYMBOL) {
            other++;
        }
    }
    CHECK(rc == 0 && bad == 0 && damage == 1 && recoveries == 1 && other == 0);
    CHECK(next_bt == 202 && next_tr == 201); /* book tickers 0..198 and 200, trades 1..199 */
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2 && pos.global_index == 202 + 4);
    bfr_close(&r);

    /* and the queue_id survives another restart */
    w = qt_open(dir, SLOTS, 0);
    uint8_t qid3[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid3), BF_OK);
    CHECK(memcmp(qid, qid3, BF_QUEUE_ID_SIZE) == 0);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Both: slot 52 damaged, and a torn tail at slots 200..201. The tail is cut, the rest kept. */
static void damaged_and_torn(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "both");
    crash(dir);
    const char *seg1 = qt_segment_path(dir, 1);
    CHECK(qt_damage_slot(seg1, 52) == 0);
    CHECK(qt_damage_slot(seg1, 200) == 0);
    CHECK(qt_damage_slot(seg1, 201) == 0);
    bf_writer *w = qt_open(dir, SLOTS, 0);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovered_cut == 2 && st.recovery_events == 2);
    bf_recovery_report torn, damaged;
    CHECK(find_report(w, BF_RECOVERY_TORN_TAIL, &torn));
    CHECK(torn.segment_seq == 1 && torn.slot == 200 && torn.count == 2);
    CHECK(find_report(w, BF_RECOVERY_DAMAGED, &damaged));
    CHECK(damaged.segment_seq == 1 && damaged.slot == 52 && damaged.count == 1);
    CHECK(st.write_index == 2 + 2); /* two RECOVERY records */
    bf_segment_header h;
    CHECK(qt_read_header(seg1, &h) == 0);
    CHECK(h.sealed == 1 && bf_load_acquire_u64(&h.write_index) == 200);
    CHECK(h.seal_flags == BF_SEAL_F_DAMAGED && h.damage_first == 52 && h.damage_count == 1);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 200 * BF_SLOT_SIZE);
    CHECK_RC(bf_writer_close(w), BF_OK);
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1 && wk.damage[0].slot == 52);
    CHECK(wk.c.total == 199 + 4 && wk.c.recoveries == 2);
    bfr_close(&r);
}

/* A queue with a hole (segment 2 of 3 deleted): the writer opens it, reports the hole and
 * records it; readers report the hole and read past it. */
static void hole(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "hole");
    bf_writer *w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    for (uint64_t i = 0; i < 30; i++) {
        CHECK_RC(qt_append_bt(w, i, a), BF_OK);
        if (i % 10 == 9 && i < 29) CHECK_RC(bf_writer_roll(w), BF_OK);
    }
    uint8_t qid[BF_QUEUE_ID_SIZE], qid2[BF_QUEUE_ID_SIZE];
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
    CHECK(unlink(qt_segment_path(dir, 2)) == 0);

    char err[512];
    w = NULL;
    CHECK_RC(bf_writer_open(dir, NULL, &w, err, sizeof err), BF_OK); /* no refusal */
    if (!w) {
        fprintf(stderr, "writer refused a queue with a hole: %s\n", err);
        return;
    }
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq == 4 && st.recovery_events == 1 && st.recovered_cut == 0);
    bf_recovery_report rep;
    CHECK_RC(bf_writer_recovery(w, 0, &rep), BF_OK);
    CHECK(rep.event == BF_RECOVERY_HOLE && rep.segment_seq == 2 && rep.count == 1 &&
          rep.slot == 0);
    CHECK(strstr(rep.message, "00000000000000000002.bfq") != NULL);
    CHECK(st.write_index == 2); /* SYMBOL, RECOVERY */
    check_recovery_record(dir, 4, 1, BF_RECOVERY_HOLE, 2, 0, 1, NULL);
    CHECK_RC(bf_writer_queue_id(w, qid2), BF_OK);
    CHECK(memcmp(qid, qid2, BF_QUEUE_ID_SIZE) == 0);
    CHECK_RC(qt_append_bt(w, 30, a), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);

    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1);
    CHECK(wk.damage[0].kind == BFR_DAMAGE_HOLE && wk.damage[0].segment_seq == 2 &&
          wk.damage[0].count == 1);
    CHECK(strstr(wk.first_error, "00000000000000000002.bfq") &&
          strstr(wk.first_error, "binfeed verify"));
    /* segments 1 and 3 (SYMBOL + 10 each), segment 4 (SYMBOL, RECOVERY, 1) */
    CHECK(wk.c.total == 11 + 11 + 3 && wk.c.book_tickers == 21 && wk.c.recoveries == 1);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 4);
    bfr_close(&r);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    torn_tail(argv[1]);
    damaged_middle(argv[1]);
    damaged_and_torn(argv[1]);
    hole(argv[1]);

    /* A brand-new queue is not a restart, and gets a queue_id of its own. */
    char dir[4096];
    qt_dir(dir, argv[1], "fresh");
    bf_writer *w = qt_open(dir, SLOTS, 0);
    uint64_t seq = 0;
    CHECK(bf__writer_restarted(w) == 0 && bf__writer_symbol_count(w) == 0);
    CHECK_RC(qt_resumed_seq(w, 1, BF_STREAM_BOOK_TICKER, &seq), BF_ENOTFOUND);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.recovery_events == 0 && st.write_index == 0);
    uint8_t qid[BF_QUEUE_ID_SIZE];
    bf_segment_header h;
    CHECK(qt_read_header(qt_segment_path(qt_dir(dir, argv[1], "damaged"), 1), &h) == 0);
    CHECK_RC(bf_writer_queue_id(w, qid), BF_OK);
    CHECK(!qt_id_is_zero(qid) && memcmp(qid, h.queue_id, BF_QUEUE_ID_SIZE) != 0);
    CHECK_RC(bf_writer_close(w), BF_OK);
    TEST_MAIN_END();
}
