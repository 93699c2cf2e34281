/* Bad segment files, by readers and by the writer (format version 2, see "Damage" in
 * binfeed_reader.h): a segment whose header is invalid (bad magic, header checksum
 * mismatch, impossible sizes, truncated files, write_index above capacity) is damage: a
 * reader reports it once as BF_EDAMAGED (BFR_DAMAGE_HEADER, naming the file, what is wrong
 * and `binfeed verify`), skips that segment and goes on (also when it is the first segment
 * at bfr_open, which then succeeds); the writer refuses to append after an invalid newest
 * segment (BF_ECORRUPT naming the file), except one whose only fault is being cut short
 * (a power cut): it recovers that one (a torn tail). A newer format version is an error
 * for both (BF_EVERSION, "upgrade binfeed"; the reader's position does not move). Missing
 * queues are BF_ENOTFOUND. */
#include "queue_test_util.h"

/* A queue with 2 sealed segments of records (segment 2 newest): SYMBOL + 10 book tickers
 * in each. */
static void make_queue(const char *dir) { qt_build(dir, 2, 10); }

static bf_segment_header *map_header(const char *path, size_t *len) {
    return (bf_segment_header *)qt_map_rw(path, len);
}

/* msg names <dir>/<file>, says `text` and tells to run binfeed verify */
static int names(const char *msg, const char *dir, const char *file, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int ok = strstr(msg, path) && strstr(msg, text) && strstr(msg, "binfeed verify") &&
             !strstr(msg, "move it out of the queue directory");
    if (!ok) fprintf(stderr, "message lacks \"%s\"/\"%s\": %s\n", path, text, msg);
    return ok;
}

/* Segment `bad` of make_queue's queue has an invalid header: readers report it once and
 * read the other segment. Then the writer: it refuses when the bad one is the newest
 * (unless `recovers`: see the "cut" case), and opens when it is an older one. */
static void expect_damaged_then(const char *dir, uint64_t bad, const char *file,
                                const char *text, int recovers) {
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK); /* even when segment 1 is the bad one */
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    CHECK(wk.ndamage == 1);
    CHECK(wk.damage[0].kind == BFR_DAMAGE_HEADER && wk.damage[0].segment_seq == bad &&
          wk.damage[0].count == 1 && wk.damage[0].slot == 0);
    CHECK(names(wk.first_error, dir, file, text));
    CHECK(wk.c.total == 11 && wk.c.book_tickers == 10 && wk.c.symbols == 1); /* the other one */
    const bf_slot *s;
    CHECK_RC(bfr_next(&r, &s), 0); /* reported once */
    bfr_position pos;
    bfr_tell(&r, &pos);
    CHECK(pos.segment_seq == 2);
    bfr_close(&r);

    /* from the end: segment 2 is where the reader starts */
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_OK);
    int rc = bfr_next(&r, &s);
    if (bad == 2) {
        CHECK_RC(rc, BF_EDAMAGED); /* the first bfr_next reports it */
        CHECK(r.damage.kind == BFR_DAMAGE_HEADER && r.damage.segment_seq == 2);
        CHECK(names(r.error, dir, file, text));
        rc = bfr_next(&r, &s);
    }
    CHECK_RC(rc, 0);
    bfr_close(&r);

    char err[1024];
    bf_writer *w = NULL;
    rc = bf_writer_open(dir, NULL, &w, err, sizeof err);
    if (recovers) { /* the caller checks what it did */
        CHECK_RC(rc, BF_OK);
        if (rc != BF_OK) fprintf(stderr, "writer: %s\n", err);
    } else if (bad == 2) { /* never writes after a file it cannot read */
        CHECK_RC(rc, BF_ECORRUPT);
        CHECK(w == NULL && names(err, dir, file, text));
    } else { /* an older segment does not stop the writer */
        CHECK_RC(rc, BF_OK);
        if (rc != BF_OK) fprintf(stderr, "writer: %s\n", err);
    }
    if (w) bf_writer_close(w);
}

static void expect_damaged(const char *dir, uint64_t bad, const char *file, const char *text) {
    expect_damaged_then(dir, bad, file, text, 0);
}

/* Segment 2 is of a newer format: BF_EVERSION for readers and the writer alike, and the
 * reader's position does not move. */
static void expect_newer(const char *dir, const char *file, const char *text) {
    bfr_reader r;
    qt_counts c;
    memset(&c, 0, sizeof c);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_drain(&r, &c), BF_EVERSION);
    CHECK(c.total == 11);
    CHECK(strstr(r.error, file) && strstr(r.error, text));
    bfr_position pos;
    bfr_tell(&r, &pos);
    const bf_slot *s;
    /* the same error again (at the next successor check: bfr_wait polls until it is due),
     * nothing skipped */
    CHECK_RC(bfr_wait(&r, &s, 2000000000), BF_EVERSION);
    bfr_position pos2;
    bfr_tell(&r, &pos2);
    CHECK(pos.segment_seq == 1 && pos2.segment_seq == 1 && pos.index == 11 && pos2.index == 11);
    bfr_close(&r);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_EVERSION);
    CHECK(strstr(r.error, file) && strstr(r.error, text));
    bfr_close(&r);
    char err[1024];
    bf_writer *w = NULL;
    CHECK_RC(bf_writer_open(dir, NULL, &w, err, sizeof err), BF_EVERSION);
    if (!strstr(err, file) || !strstr(err, text))
        fprintf(stderr, "writer message lacks \"%s\"/\"%s\": %s\n", file, text, err);
    CHECK(w == NULL && strstr(err, file) && strstr(err, text));
    if (w) bf_writer_close(w);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096];
    size_t len;
    bf_segment_header *h;
    const char *seg1 = "00000000000000000001.bfq", *seg2 = "00000000000000000002.bfq";

    qt_dir(dir, argv[1], "magic");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 1), &len);
    memcpy(h->magic, "NOTBINFQ", 8);
    munmap(h, len);
    expect_damaged(dir, 1, seg1, "bad magic");

    qt_dir(dir, argv[1], "crc");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->capacity += 1; /* header_crc no longer matches */
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "checksum");

    qt_dir(dir, argv[1], "slotsize");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->slot_size = 100;
    h->header_crc = bf_header_crc32c(h);
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "slot_size");

    qt_dir(dir, argv[1], "version");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->version = BF_FORMAT_VERSION + 1;
    h->header_crc = bf_header_crc32c(h);
    munmap(h, len);
    expect_newer(dir, seg2, "upgrade binfeed");

    qt_dir(dir, argv[1], "version-nocrc"); /* a newer version is reported even if the crc differs */
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->version = 99;
    munmap(h, len);
    expect_newer(dir, seg2, "version 99");

    qt_dir(dir, argv[1], "short");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), 100) == 0);
    expect_damaged(dir, 2, seg2, "truncated");

    qt_dir(dir, argv[1], "empty");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), 0) == 0);
    expect_damaged(dir, 2, seg2, "truncated");

    /* The newest segment cut short (what a power cut can leave): readers report it as
     * unreadable; the writer recovers it, the slots the file no longer holds being a torn
     * tail, and readers then read what is left. */
    qt_dir(dir, argv[1], "cut");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), BF_HEADER_SIZE + 5 * BF_SLOT_SIZE) == 0);
    expect_damaged_then(dir, 2, seg2, "truncated", 1);
    {
        bf_segment_header hh;
        CHECK(qt_read_header(qt_segment_path(dir, 2), &hh) == 0);
        CHECK(bf_load_acquire_u64(&hh.write_index) == 5 && hh.sealed == 1);
        CHECK(qt_file_size(qt_segment_path(dir, 2)) == BF_HEADER_SIZE + 5 * BF_SLOT_SIZE);
        bf_writer *w = qt_open(dir, 64, 0); /* the next restart: nothing more to report */
        bf_writer_stats st;
        CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
        CHECK(st.recovery_events == 0 && st.segment_seq == 4);
        CHECK_RC(bf_writer_close(w), BF_OK);
        bfr_reader rr;
        qt_walk wk;
        CHECK_RC(bfr_open(&rr, dir, BFR_FROM_START), BF_OK);
        CHECK_RC(qt_walk_all(&rr, &wk), 0);
        CHECK(wk.ndamage == 0);
        /* 11 + 5 (what segment 2 still holds), segment 3: SYMBOL and the TORN_TAIL record,
         * segment 4: SYMBOL */
        CHECK(wk.c.total == 11 + 5 + 2 + 1 && wk.c.recoveries == 1);
        bfr_close(&rr);
        bf_slot rec;
        CHECK(qt_read_slot(qt_segment_path(dir, 3), 1, &rec) == 0);
        CHECK(rec.type == BF_REC_RECOVERY && rec.body.recovery.event == BF_RECOVERY_TORN_TAIL &&
              rec.body.recovery.segment_seq == 2 && rec.body.recovery.slot == 5 &&
              rec.body.recovery.count == 6);
    }

    qt_dir(dir, argv[1], "index");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    bf_store_release_u64(&h->write_index, h->capacity + 1);
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "write_index");

    qt_dir(dir, argv[1], "version0");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->version = 0;
    h->header_crc = bf_header_crc32c(h);
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "version 0");

    qt_dir(dir, argv[1], "queue_id"); /* queue_id is covered by header_crc */
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->queue_id[3] ^= 0x10;
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "checksum");

    qt_dir(dir, argv[1], "seal_flags"); /* an unknown seal flag */
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->seal_flags = 2;
    munmap(h, len);
    expect_damaged(dir, 2, seg2, "seal_flags");

    qt_dir(dir, argv[1], "crc1"); /* segment 1's header checksum, read past */
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 1), &len);
    h->first_index += 1;
    munmap(h, len);
    expect_damaged(dir, 1, seg1, "checksum");

    /* missing and empty queues */
    bfr_reader r2;
    CHECK_RC(bfr_open(&r2, qt_path(argv[1], "missing"), BFR_FROM_START), BF_ENOTFOUND);
    CHECK(strstr(r2.error, "missing") != NULL);
    bfr_close(&r2);
    qt_dir(dir, argv[1], "nothing");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK_RC(bfr_open(&r2, dir, BFR_FROM_START), BF_ENOTFOUND);
    CHECK(strstr(r2.error, "no segment yet") != NULL);
    bfr_close(&r2);
    CHECK_RC(bfr_writer_status(dir, NULL), 0);
    CHECK_RC(bfr_open(&r2, dir, 0x80), BF_EINVAL);
    bfr_close(&r2);
    /* a failed open holds nothing: no bfr_close needed (LeakSanitizer checks) */
    CHECK_RC(bfr_open(&r2, dir, BFR_FROM_START), BF_ENOTFOUND);
    CHECK(r2.error[0] != '\0' && r2.dir == NULL && r2.dirfd == -1);
    /* stray files are ignored, leftover temporary segments are removed by the writer */
    FILE *f = fopen(qt_path(dir, "notes.txt"), "w");
    if (f) fclose(f);
    f = fopen(qt_path(dir, ".00000000000000000001.bfq.tmp"), "w");
    if (f) fclose(f);
    bf_writer *w = qt_open(dir, 64, 0);
    CHECK(access(qt_path(dir, ".00000000000000000001.bfq.tmp"), F_OK) != 0);
    CHECK_RC(bf_writer_close(w), BF_OK);
    CHECK_RC(bfr_open(&r2, dir, BFR_FROM_START), BF_OK);
    bfr_close(&r2);
    TEST_MAIN_END();
}
