/* The reader and damage (see "Damage" and "Reader API" in binfeed_reader.h): readers
 * verify every slot by default and never return a damaged one. bfr_next, bfr_wait and
 * bfr_next_batch return BF_EDAMAGED with r.damage (kind, segment_seq, slot, count) and
 * r.error (naming the segment file, the slot, and `binfeed verify`), having moved past the
 * damage, so the next call returns the next good record. Covered: checksum failures, an
 * invalid SYMBOL record, a hole (reported once, reading goes on in the next segment present),
 * a hole followed by an unreadable segment (two reports), an unreadable middle segment
 * (skipped), an index mismatch at a roll (records vanished, or overlapping segments), a
 * sealed segment whose write_index is lower than what its file holds; BFR_NO_VERIFY opts
 * out; a record type unknown to this code with a good checksum is returned, not damage. */
#include "queue_test_util.h"

/* r.error names <dir>/<file> (and "slot N" when slot >= 0) and says to run binfeed verify */
static int error_names(const bfr_reader *r, const char *dir, const char *file, int64_t slot) {
    char path[4200], what[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(what, sizeof what, "slot %lld", (long long)slot);
    int ok = strstr(r->error, path) && strstr(r->error, "binfeed verify") &&
             (slot < 0 || strstr(r->error, what));
    if (!ok) fprintf(stderr, "reader message lacks %s / %s: %s\n", path, what, r->error);
    return ok;
}

static void expect_damage(bfr_reader *r, int rc, uint32_t kind, uint64_t seq, uint64_t slot,
                          uint64_t count) {
    CHECK_RC(rc, BF_EDAMAGED);
    if (r->damage.kind != kind || r->damage.segment_seq != seq || r->damage.slot != slot ||
        r->damage.count != count) {
        fprintf(stderr, "damage %u seq %llu slot %llu count %llu, want %u %llu %llu %llu (%s)\n",
                r->damage.kind, (unsigned long long)r->damage.segment_seq,
                (unsigned long long)r->damage.slot, (unsigned long long)r->damage.count, kind,
                (unsigned long long)seq, (unsigned long long)slot, (unsigned long long)count,
                r->error);
        bf_test_failures++;
    }
}

/* Checksum failures: slots 5, 6 and 10 of a one-segment queue (SYMBOL + bt 0..19). */
static void checksum(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "checksum");
    uint64_t a = qt_build(dir, 1, 20);
    const char *seg1 = qt_segment_path(dir, 1);
    CHECK(qt_damage_slot(seg1, 5) == 0 && qt_damage_slot(seg1, 6) == 0 &&
          qt_damage_slot(seg1, 10) == 0);

    /* bfr_next */
    bfr_reader r;
    const bf_slot *s;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL);
    for (uint64_t i = 0; i < 4; i++) {
        CHECK_RC(bfr_next(&r, &s), 1);
        CHECK(qt_is_bt(s, i, a));
    }
    s = NULL;
    expect_damage(&r, bfr_next(&r, &s), BFR_DAMAGE_CHECKSUM, 1, 5, 1);
    CHECK(error_names(&r, dir, QT_SEG(1), 5));
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 1 && pos.index == 6); /* moved past it */
    expect_damage(&r, bfr_next(&r, &s), BFR_DAMAGE_CHECKSUM, 1, 6, 1);
    CHECK(error_names(&r, dir, QT_SEG(1), 6));
    CHECK_RC(bfr_next(&r, &s), 1); /* the next good record */
    CHECK(qt_is_bt(s, 6, a));
    for (uint64_t i = 7; i < 9; i++) {
        CHECK_RC(bfr_next(&r, &s), 1);
        CHECK(qt_is_bt(s, i, a));
    }
    /* bfr_wait reports it the same way */
    expect_damage(&r, bfr_wait(&r, &s, 1000000000), BFR_DAMAGE_CHECKSUM, 1, 10, 1);
    uint64_t next = 10, bad = 0;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1)
        if (!qt_is_bt(s, next++, a)) bad++;
    CHECK(rc == 0 && bad == 0 && next == 20);
    bfr_close(&r);

    /* bfr_next_batch: runs end before the damage, which the next call reports */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    uint64_t seq = 0, first = 0, count = 0;
    CHECK_RC(bfr_next_batch(&r, 100, &seq, &first, &count), 1);
    CHECK(seq == 1 && first == 0 && count == 5);
    CHECK(bfr_symbol(&r, a) && strcmp(bfr_symbol(&r, a), "AAAUSDT") == 0); /* learnt from the run */
    expect_damage(&r, bfr_next_batch(&r, 100, &seq, &first, &count), BFR_DAMAGE_CHECKSUM, 1, 5,
                  1);
    CHECK(count == 0);
    expect_damage(&r, bfr_next_batch(&r, 100, &seq, &first, &count), BFR_DAMAGE_CHECKSUM, 1, 6,
                  1);
    CHECK_RC(bfr_next_batch(&r, 2, &seq, &first, &count), 1); /* max is obeyed */
    CHECK(first == 7 && count == 2);
    CHECK_RC(bfr_next_batch(&r, 100, &seq, &first, &count), 1);
    CHECK(first == 9 && count == 1);
    CHECK(qt_is_bt((const bf_slot *)(r.slots + 9 * r.slot_size), 8, a));
    expect_damage(&r, bfr_next_batch(&r, 100, &seq, &first, &count), BFR_DAMAGE_CHECKSUM, 1,
                  10, 1);
    CHECK_RC(bfr_next_batch(&r, 100, &seq, &first, &count), 1);
    CHECK(first == 11 && count == 10);
    CHECK_RC(bfr_next_batch(&r, 100, &seq, &first, &count), 0);
    bfr_close(&r);

    /* BFR_NO_VERIFY: no checks, the damaged slots come back as data */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_NO_VERIFY), BF_OK);
    uint64_t n = 0, differ = 0;
    while ((rc = bfr_next(&r, &s)) == 1) {
        if (n > 0 && !qt_is_bt(s, n - 1, a)) differ++;
        n++;
    }
    CHECK(rc == 0 && n == 21 && differ == 3);
    bfr_close(&r);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_NO_VERIFY), BF_OK);
    CHECK_RC(bfr_next_batch(&r, 100, &seq, &first, &count), 1);
    CHECK(first == 0 && count == 21);
    bfr_close(&r);
    CHECK_RC(bfr_open(&r, dir, 0x80), BF_EINVAL); /* unknown flags */
    bfr_close(&r);
}

/* Slot contents rewritten with a good checksum: an invalid SYMBOL record is damage
 * (BFR_DAMAGE_RECORD); a record type unknown to this code is returned as it is. */
static void rewritten_records(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "records");
    uint64_t a = qt_build(dir, 1, 5);
    const char *seg1 = qt_segment_path(dir, 1);
    bf_slot s0, s3;
    CHECK(qt_read_slot(seg1, 0, &s0) == 0 && qt_read_slot(seg1, 3, &s3) == 0);
    s0.body.symbol.name_len = 0;
    s0.crc32c = bf_slot_crc32c(&s0, BF_SLOT_SIZE);
    s3.type = 99;
    s3.crc32c = bf_slot_crc32c(&s3, BF_SLOT_SIZE);
    CHECK(qt_pwrite(seg1, qt_slot_offset(0), &s0, sizeof s0) == 0);
    CHECK(qt_pwrite(seg1, qt_slot_offset(3), &s3, sizeof s3) == 0);
    bfr_reader r;
    const bf_slot *s;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    expect_damage(&r, bfr_next(&r, &s), BFR_DAMAGE_RECORD, 1, 0, 1);
    CHECK(error_names(&r, dir, QT_SEG(1), 0));
    CHECK(bfr_symbol(&r, a) == NULL);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(qt_is_bt(s, 0, a));
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == 99 && s->seq == 1002); /* unknown type: the caller skips it */
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(qt_is_bt(s, 3, a));
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK_RC(bfr_next(&r, &s), 0);
    bfr_close(&r);
}

/* Holes: segments 2 and 3 of 4 missing. Reported once, reading goes on in segment 4. */
static void holes(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "hole");
    uint64_t a = qt_build(dir, 4, 3);
    CHECK(unlink(qt_segment_path(dir, 2)) == 0 && unlink(qt_segment_path(dir, 3)) == 0);
    bfr_reader r;
    const bf_slot *s;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), BF_EDAMAGED);
    CHECK(c.total == 4);
    CHECK(r.damage.kind == BFR_DAMAGE_HOLE && r.damage.segment_seq == 2 && r.damage.count == 2);
    CHECK(error_names(&r, dir, QT_SEG(2), -1));
    CHECK(strstr(r.error, "segment 4") != NULL); /* where reading goes on */
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL);
    uint64_t next = 9, bad = 0;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1)
        if (!qt_is_bt(s, next++, a)) bad++;
    CHECK(rc == 0 && bad == 0 && next == 12);
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 4 && pos.global_index == 16);
    bfr_close(&r);
    /* the oldest present segment is where a reader starts: no hole before it */
    CHECK(unlink(qt_segment_path(dir, 1)) == 0);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.total == 4);
    bfr_close(&r);

    /* a hole, then an unreadable segment: two reports, then segment 4 */
    qt_dir(dir, scratch, "hole-header");
    qt_build(dir, 4, 3);
    CHECK(unlink(qt_segment_path(dir, 2)) == 0);
    CHECK(qt_pwrite(qt_segment_path(dir, 3), 0, "NOTBINFQ", 8) == 0);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), BF_EDAMAGED);
    CHECK(c.total == 4);
    CHECK(r.damage.kind == BFR_DAMAGE_HOLE && r.damage.segment_seq == 2 && r.damage.count == 1);
    expect_damage(&r, bfr_next(&r, &s), BFR_DAMAGE_HEADER, 3, 0, 1);
    CHECK(error_names(&r, dir, QT_SEG(3), -1) && strstr(r.error, "bad magic"));
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.total == 4);
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 4);
    bfr_close(&r);

    /* an unreadable middle segment: skipped, no index report after it */
    qt_dir(dir, scratch, "middle-header");
    qt_build(dir, 3, 3);
    bf_segment_header h;
    CHECK(qt_read_header(qt_segment_path(dir, 2), &h) == 0);
    CHECK(qt_pwrite_u32(qt_segment_path(dir, 2), 16, 100) == 0); /* slot_size, crc stale */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    qt_walk wk;
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1 && wk.damage[0].kind == BFR_DAMAGE_HEADER &&
          wk.damage[0].segment_seq == 2);
    CHECK(strstr(wk.first_error, QT_SEG(2)) && strstr(wk.first_error, "checksum"));
    CHECK(wk.c.total == 8);
    bfr_close(&r);
}

/* Records vanished between two segments, or overlapping ones: BFR_DAMAGE_INDEX at the roll,
 * then reading goes on. A sealed segment whose write_index was lowered: BFR_DAMAGE_WRITE_INDEX
 * once its records are read. */
static void index_damage(const char *scratch) {
    char dir[4096];
    bfr_reader r;
    const bf_slot *s;
    qt_walk wk;
    bf_segment_header h;

    /* segment 2's first_index raised by 5 (header_crc made to match: a valid header) */
    qt_dir(dir, scratch, "first_index");
    qt_build(dir, 3, 3);
    const char *seg2 = qt_segment_path(dir, 2);
    CHECK(qt_read_header(seg2, &h) == 0);
    CHECK(h.first_index == 4);
    h.first_index += 5;
    h.header_crc = bf_header_crc32c(&h);
    CHECK(qt_pwrite(seg2, 0, &h, 128) == 0);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), BF_EDAMAGED);
    CHECK(c.total == 4);
    CHECK(r.damage.kind == BFR_DAMAGE_INDEX && r.damage.segment_seq == 2 && r.damage.count == 5);
    CHECK(error_names(&r, dir, QT_SEG(2), -1) && strstr(r.error, "missing"));
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2 && pos.index == 0); /* entered segment 2: nothing skipped */
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL);
    /* segment 3 (first_index 8) no longer continues segment 2 (now 9 + 4 records): the
     * segments overlap, reported the same way */
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1 && wk.damage[0].kind == BFR_DAMAGE_INDEX &&
          wk.damage[0].segment_seq == 3 && wk.damage[0].count == 0); /* an overlap */
    CHECK(strstr(wk.first_error, "overlap") != NULL);
    CHECK(wk.c.total == 3 + 4);
    bfr_close(&r);

    /* segment 1 full and sealed, its write_index lowered from 64 to 60 */
    qt_dir(dir, scratch, "lowered-full");
    uint64_t a = qt_build(dir, 1, 63 + 5); /* fills segment 1, rolls into segment 2 */
    const char *seg1 = qt_segment_path(dir, 1);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 64 * BF_SLOT_SIZE);
    CHECK(qt_pwrite_u64(seg1, 128, 60) == 0);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    memset(&c, 0, sizeof c);
    CHECK_RC(qt_drain(&r, &c), BF_EDAMAGED);
    CHECK(c.total == 60);
    CHECK(r.damage.kind == BFR_DAMAGE_WRITE_INDEX && r.damage.segment_seq == 1);
    CHECK(error_names(&r, dir, QT_SEG(1), -1) && strstr(r.error, "write_index"));
    expect_damage(&r, bfr_next(&r, &s), BFR_DAMAGE_INDEX, 2, 0, 4);
    CHECK_RC(bfr_next(&r, &s), 1);
    CHECK(s->type == BF_REC_SYMBOL);
    uint64_t next = 63, bad = 0;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1)
        if (!qt_is_bt(s, next++, a)) bad++;
    CHECK(rc == 0 && bad == 0 && next == 68);
    bfr_close(&r);

    /* the newest segment, sealed and truncated, its write_index lowered from 11 to 8 */
    qt_dir(dir, scratch, "lowered-newest");
    qt_build(dir, 1, 10);
    seg1 = qt_segment_path(dir, 1);
    CHECK(qt_pwrite_u64(seg1, 128, 8) == 0);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.c.total == 8 && wk.ndamage == 1 && wk.damage[0].kind == BFR_DAMAGE_WRITE_INDEX &&
          wk.damage[0].segment_seq == 1);
    bfr_close(&r);
    /* BFR_NO_VERIFY does not check it */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_NO_VERIFY), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.c.total == 8 && wk.ndamage == 0);
    bfr_close(&r);
}

/* A reader tailing a live writer reports a damaged published slot and keeps tailing. */
static void tailing(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "tail");
    bf_writer *w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    bfr_reader r;
    const bf_slot *s;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_OK);
    CHECK_RC(bfr_next(&r, &s), 0);
    for (uint64_t i = 0; i < 3; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    CHECK(qt_damage_slot(qt_segment_path(dir, 1), 2) == 0); /* record 1 */
    CHECK_RC(bfr_wait(&r, &s, 1000000000), 1);
    CHECK(qt_is_bt(s, 0, a));
    expect_damage(&r, bfr_wait(&r, &s, 1000000000), BFR_DAMAGE_CHECKSUM, 1, 2, 1);
    CHECK_RC(bfr_wait(&r, &s, 1000000000), 1);
    CHECK(qt_is_bt(s, 2, a));
    CHECK_RC(bfr_next(&r, &s), 0);
    CHECK_RC(qt_append_bt(w, 3, a), BF_OK);
    CHECK_RC(bfr_wait(&r, &s, 1000000000), 1);
    CHECK(qt_is_bt(s, 3, a));
    bfr_close(&r);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_CHECKSUM), "checksum") == 0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_HOLE), "hole") == 0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_HEADER), "header") == 0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_INDEX), "index") == 0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_WRITE_INDEX), "write_index") == 0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_RECORD), "record") == 0);
    CHECK(strcmp(bfr_damage_kind_name(99), "unknown") == 0);
    CHECK(strcmp(bf_status_message(BF_EDAMAGED), bf_status_message(BF_ECORRUPT)) != 0);
    checksum(argv[1]);
    rewritten_records(argv[1]);
    holes(argv[1]);
    index_damage(argv[1]);
    tailing(argv[1]);
    TEST_MAIN_END();
}
