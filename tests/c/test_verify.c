/* bf_verify_queue (csrc/src/verify.c): the offline check of a whole queue, on queues built
 * here with the writer and then damaged with pwrite:
 *   - a clean queue: no findings at all, totals right;
 *   - a flipped body bit: one BF_FINDING_CHECKSUM damage naming the segment file and the
 *     slot (a run of them: one finding with its count);
 *   - a deleted middle segment: BF_FINDING_HOLE (the first missing file, how many);
 *   - a lowered write_index of a sealed full segment: BF_FINDING_INDEX on the next segment
 *     (records missing between them) and BF_FINDING_WRITE_INDEX on it; alone (no next
 *     segment): BF_FINDING_WRITE_INDEX;
 *   - an edited header field with header_crc left stale (slot_size, queue_id):
 *     BF_FINDING_HEADER; a newer version: BF_FINDING_VERSION;
 *   - duplicate and reversed sequences: warnings only, no damage;
 *   - a crashed writer's unsealed segment: not damage; once recovered with a damaged slot:
 *     the checksum damage and the damaged seal (info);
 *   - a directory that is not a queue, a missing one: BF_ENOTFOUND; bad arguments: EINVAL.
 * Each damaged queue is also read with the reader, which reports the same damage (the one
 * judge). */
#include "queue_test_util.h"

#include <signal.h>
#include <sys/wait.h>

static bf_verify *verify(const char *dir) {
    bf_verify *v = NULL;
    char err[512];
    int rc = bf_verify_queue(dir, 0, &v, err, sizeof err);
    CHECK_RC(rc, BF_OK);
    if (rc != BF_OK) {
        fprintf(stderr, "bf_verify_queue(%s): %s\n", dir, err);
        exit(2);
    }
    return v;
}

static bf_verify_totals totals(const bf_verify *v) {
    bf_verify_totals t;
    memset(&t, 0xAB, sizeof t);
    bf_verify_get_totals(v, &t);
    return t;
}

/* The first finding of `kind`, or NULL. */
static const bf_finding *find(const bf_verify *v, uint32_t kind) {
    for (size_t i = 0; i < bf_verify_count(v); i++)
        if (bf_verify_finding(v, i)->kind == kind) return bf_verify_finding(v, i);
    return NULL;
}

/* How many findings of severity `sev` there are (counted from the list). */
static size_t count_severity(const bf_verify *v, uint32_t sev) {
    size_t n = 0;
    for (size_t i = 0; i < bf_verify_count(v); i++) n += bf_verify_finding(v, i)->severity == sev;
    return n;
}

static void dump(const bf_verify *v) {
    for (size_t i = 0; i < bf_verify_count(v); i++) {
        const bf_finding *f = bf_verify_finding(v, i);
        fprintf(stderr, "  %s %s slot %lld %s x%llu: %s\n", bf_severity_name(f->severity),
                f->segment, (long long)f->slot, bf_finding_kind_name(f->kind),
                (unsigned long long)f->count, f->detail);
    }
}

/* There is a finding of kind/severity on `segment` at `slot` (-2: any) with `count`
 * (UINT64_MAX: any). */
static int has(const bf_verify *v, uint32_t kind, uint32_t sev, const char *segment,
               int64_t slot, uint64_t count) {
    for (size_t i = 0; i < bf_verify_count(v); i++) {
        const bf_finding *f = bf_verify_finding(v, i);
        if (f->kind == kind && f->severity == sev && strcmp(f->segment, segment) == 0 &&
            (slot == -2 || f->slot == slot) && (count == UINT64_MAX || f->count == count) &&
            f->detail[0] != '\0')
            return 1;
    }
    fprintf(stderr, "no %s %s finding on %s slot %lld count %llu among:\n",
            bf_severity_name(sev), bf_finding_kind_name(kind), segment, (long long)slot,
            (unsigned long long)count);
    dump(v);
    return 0;
}

/* The reader meets exactly `n` damage reports, the first of kind `kind` on segment `seq`. */
static void reader_agrees(const char *dir, size_t n, uint32_t kind, uint64_t seq) {
    bfr_reader r;
    qt_walk wk;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_walk_all(&r, &wk), 0);
    if (wk.ndamage != n || (n && (wk.damage[0].kind != kind || wk.damage[0].segment_seq != seq))) {
        fprintf(stderr, "%s: the reader met %zu damage(s) (first: %s on %llu), want %zu %s on "
                "%llu\n", dir, wk.ndamage, bfr_damage_kind_name(wk.damage[0].kind),
                (unsigned long long)wk.damage[0].segment_seq, n, bfr_damage_kind_name(kind),
                (unsigned long long)seq);
        bf_test_failures++;
    }
    bfr_close(&r);
}

static void clean(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "clean");
    qt_build(dir, 3, 20);
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    if (bf_verify_count(v)) dump(v);
    CHECK(bf_verify_count(v) == 0);
    CHECK(t.damage == 0 && t.warnings == 0 && t.info == 0);
    CHECK(t.segments == 3 && t.slots == 3 * 21 && t.records == 3 * 21);
    CHECK(bf_verify_finding(v, 0) == NULL);
    bf_verify_free(v);
    reader_agrees(dir, 0, 0, 0);
}

static void checksum(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "checksum");
    qt_build(dir, 3, 20);
    CHECK(qt_damage_slot(qt_segment_path(dir, 2), 7) == 0);
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage == 1 && count_severity(v, BF_SEVERITY_DAMAGE) == 1);
    CHECK(has(v, BF_FINDING_CHECKSUM, BF_SEVERITY_DAMAGE, QT_SEG(2), 7, 1));
    CHECK(t.slots == 3 * 21 && t.records == 3 * 21 - 1);
    bf_verify_free(v);
    reader_agrees(dir, 1, BFR_DAMAGE_CHECKSUM, 2);

    /* a run of three: one finding, its first slot and count */
    for (uint64_t i = 11; i <= 13; i++) CHECK(qt_damage_slot(qt_segment_path(dir, 3), i) == 0);
    v = verify(dir);
    t = totals(v);
    CHECK(t.damage == 2);
    CHECK(has(v, BF_FINDING_CHECKSUM, BF_SEVERITY_DAMAGE, QT_SEG(2), 7, 1));
    CHECK(has(v, BF_FINDING_CHECKSUM, BF_SEVERITY_DAMAGE, QT_SEG(3), 11, 3));
    bf_verify_free(v);
    reader_agrees(dir, 4, BFR_DAMAGE_CHECKSUM, 2);
}

static void hole(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "hole");
    qt_build(dir, 5, 3);
    CHECK(unlink(qt_segment_path(dir, 2)) == 0);
    CHECK(unlink(qt_segment_path(dir, 4)) == 0);
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage == 2 && t.segments == 3);
    CHECK(has(v, BF_FINDING_HOLE, BF_SEVERITY_DAMAGE, QT_SEG(2), -1, 1));
    CHECK(has(v, BF_FINDING_HOLE, BF_SEVERITY_DAMAGE, QT_SEG(4), -1, 1));
    CHECK(find(v, BF_FINDING_INDEX) == NULL); /* nothing to compare across a hole */
    bf_verify_free(v);
    reader_agrees(dir, 2, BFR_DAMAGE_HOLE, 2);
    /* two missing in a row: one finding */
    CHECK(unlink(qt_segment_path(dir, 3)) == 0);
    v = verify(dir);
    CHECK(totals(v).damage == 1);
    CHECK(has(v, BF_FINDING_HOLE, BF_SEVERITY_DAMAGE, QT_SEG(2), -1, 3));
    bf_verify_free(v);
}

static void lowered_write_index(const char *scratch) {
    char dir[4096];
    /* segment 1 full (SYMBOL + 63) and sealed; segment 2 follows */
    qt_dir(dir, scratch, "lowered");
    qt_build(dir, 1, 63 + 5);
    const char *seg1 = qt_segment_path(dir, 1);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 64 * BF_SLOT_SIZE);
    CHECK(qt_pwrite_u64(seg1, 128, 60) == 0);
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage >= 1);
    CHECK(has(v, BF_FINDING_INDEX, BF_SEVERITY_DAMAGE, QT_SEG(2), -1, 4)); /* 4 records lost */
    CHECK(has(v, BF_FINDING_WRITE_INDEX, BF_SEVERITY_DAMAGE, QT_SEG(1), -1, UINT64_MAX));
    CHECK(t.damage == 2);
    bf_verify_free(v);
    reader_agrees(dir, 2, BFR_DAMAGE_WRITE_INDEX, 1);

    /* alone: a full sealed segment with nothing after it */
    qt_dir(dir, scratch, "lowered-alone");
    qt_build(dir, 1, 63);
    seg1 = qt_segment_path(dir, 1);
    CHECK(qt_file_size(seg1) == BF_HEADER_SIZE + 64 * BF_SLOT_SIZE);
    v = verify(dir);
    CHECK(bf_verify_count(v) == 0);
    bf_verify_free(v);
    CHECK(qt_pwrite_u64(seg1, 128, 50) == 0);
    v = verify(dir);
    t = totals(v);
    CHECK(t.damage == 1);
    CHECK(has(v, BF_FINDING_WRITE_INDEX, BF_SEVERITY_DAMAGE, QT_SEG(1), -1, UINT64_MAX));
    const bf_finding *f = find(v, BF_FINDING_WRITE_INDEX);
    CHECK(f && strstr(f->detail, "write_index") != NULL);
    bf_verify_free(v);
    reader_agrees(dir, 1, BFR_DAMAGE_WRITE_INDEX, 1);
}

static void header(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "header");
    qt_build(dir, 3, 3);
    CHECK(qt_pwrite_u32(qt_segment_path(dir, 2), 16, 256) == 0); /* slot_size, crc stale */
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage == 1 && t.segments == 2);
    CHECK(has(v, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, QT_SEG(2), -1, 1));
    const bf_finding *f = find(v, BF_FINDING_HEADER);
    CHECK(f && strstr(f->detail, QT_SEG(2)) && strstr(f->detail, "checksum"));
    bf_verify_free(v);
    reader_agrees(dir, 1, BFR_DAMAGE_HEADER, 2);

    /* queue_id is covered by header_crc */
    qt_dir(dir, scratch, "header-qid");
    qt_build(dir, 2, 3);
    CHECK(qt_flip_byte(qt_segment_path(dir, 1), 64 + 9, 0x80) == 0);
    v = verify(dir);
    CHECK(totals(v).damage == 1);
    CHECK(has(v, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, QT_SEG(1), -1, 1));
    bf_verify_free(v);
    reader_agrees(dir, 1, BFR_DAMAGE_HEADER, 1);
    /* the writer's fields after byte 128 are not: a changed sealed_ns is no damage */
    qt_dir(dir, scratch, "header-sealed_ns");
    qt_build(dir, 2, 3);
    CHECK(qt_flip_byte(qt_segment_path(dir, 1), 200, 0x01) == 0);
    v = verify(dir);
    CHECK(bf_verify_count(v) == 0);
    bf_verify_free(v);

    /* not a segment at all, a truncated one, a newer version */
    qt_dir(dir, scratch, "header-more");
    qt_build(dir, 4, 3);
    CHECK(truncate(qt_segment_path(dir, 2), 100) == 0);
    CHECK(qt_pwrite(qt_segment_path(dir, 3), 0, "NOTBINFQ", 8) == 0);
    CHECK(qt_pwrite_u32(qt_segment_path(dir, 4), 8, BF_FORMAT_VERSION + 1) == 0);
    v = verify(dir);
    t = totals(v);
    CHECK(t.damage == 3 && t.segments == 1);
    CHECK(has(v, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, QT_SEG(2), -1, 1));
    CHECK(has(v, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, QT_SEG(3), -1, 1));
    CHECK(has(v, BF_FINDING_VERSION, BF_SEVERITY_DAMAGE, QT_SEG(4), -1, 1));
    f = find(v, BF_FINDING_VERSION);
    CHECK(f && strstr(f->detail, "upgrade binfeed"));
    bf_verify_free(v);
}

/* Duplicate and reversed sequences (an import without --dedup): warnings, no damage. */
static void duplicates(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "dups");
    bf_writer *w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT"), b = qt_symbol(w, "BBBUSDT");
    const uint64_t seqs[] = {5, 6, 6, 6, 7, 3, 8};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        CHECK_RC(bf_append_book_ticker(w, 1 + i, seqs[i], 0, 1, 1, 1, 1, a), BF_OK);
    /* the same seqs on other streams are not duplicates */
    CHECK_RC(bf_append_book_ticker(w, 20, 6, 0, 1, 1, 1, 1, b), BF_OK);
    CHECK_RC(bf_append_trade(w, 21, 6, 1, 1, 0, 0, 0, a), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
    bf_verify *v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage == 0 && count_severity(v, BF_SEVERITY_DAMAGE) == 0);
    CHECK(t.warnings == 2 && bf_verify_count(v) == 2);
    CHECK(has(v, BF_FINDING_DUPLICATE, BF_SEVERITY_WARNING, QT_SEG(1), 4, 2)); /* slots 4, 5 */
    CHECK(has(v, BF_FINDING_REVERSAL, BF_SEVERITY_WARNING, QT_SEG(1), 7, 1));
    bf_verify_free(v);
    reader_agrees(dir, 0, 0, 0); /* not damage: every record is returned */
}

/* A crashed writer's segment, then the recovery of a damaged one. */
static void crashed(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "crashed");
    pid_t pid = fork();
    if (pid == 0) {
        bf_writer *w = qt_open(dir, 64, 0);
        uint64_t a = qt_symbol(w, "AAAUSDT");
        for (uint64_t i = 0; i < 20; i++)
            if (qt_append_bt(w, i, a) != BF_OK) _exit(3);
        _exit(0); /* no bf_writer_close: unsealed, as after a crash */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    bf_verify *v = verify(dir);
    CHECK(totals(v).damage == 0 && totals(v).warnings == 0);
    bf_verify_free(v);
    /* a complete slot past write_index (written, never published): information only */
    bf_slot s;
    CHECK(qt_read_slot(qt_segment_path(dir, 1), 20, &s) == 0);
    s.seq = 99999;
    s.crc32c = bf_slot_crc32c(&s, BF_SLOT_SIZE);
    CHECK(qt_pwrite(qt_segment_path(dir, 1), qt_slot_offset(21), &s, sizeof s) == 0);
    v = verify(dir);
    CHECK(totals(v).damage == 0 && totals(v).info == 1);
    CHECK(has(v, BF_FINDING_UNPUBLISHED, BF_SEVERITY_INFO, QT_SEG(1), 21, 1));
    bf_verify_free(v);
    /* damage in the middle; the next writer keeps the segment whole, sealed as damaged */
    CHECK(qt_damage_slot(qt_segment_path(dir, 1), 9) == 0);
    bf_writer *w = qt_open(dir, 64, 0);
    CHECK_RC(bf_writer_close(w), BF_OK);
    v = verify(dir);
    bf_verify_totals t = totals(v);
    CHECK(t.damage == 1 && t.segments == 2);
    CHECK(has(v, BF_FINDING_CHECKSUM, BF_SEVERITY_DAMAGE, QT_SEG(1), 9, 1));
    CHECK(has(v, BF_FINDING_DAMAGED_SEAL, BF_SEVERITY_INFO, QT_SEG(1), 9, 1));
    CHECK(find(v, BF_FINDING_UNPUBLISHED) == NULL && find(v, BF_FINDING_UNKNOWN_TYPE) == NULL);
    bf_verify_free(v);
    reader_agrees(dir, 1, BFR_DAMAGE_CHECKSUM, 1);
}

static void not_a_queue(const char *scratch) {
    char dir[4096], err[512];
    bf_verify *v = NULL;
    qt_dir(dir, scratch, "empty-dir");
    CHECK(mkdir(dir, 0755) == 0);
    FILE *f = fopen(qt_path(dir, "notes.txt"), "w");
    if (f) fclose(f);
    err[0] = '\0';
    CHECK_RC(bf_verify_queue(dir, 0, &v, err, sizeof err), BF_ENOTFOUND);
    CHECK(v == NULL && strstr(err, dir) && strstr(err, "not a binfeed queue"));
    CHECK_RC(bf_verify_queue(qt_path(scratch, "missing"), 0, &v, err, sizeof err), BF_ENOTFOUND);
    CHECK(v == NULL && strstr(err, "missing"));
    CHECK_RC(bf_verify_queue(qt_path(dir, "notes.txt"), 0, &v, err, sizeof err), BF_ENOTFOUND);
    CHECK_RC(bf_verify_queue(NULL, 0, &v, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_verify_queue("", 0, &v, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_verify_queue(dir, 0, NULL, err, sizeof err), BF_EINVAL);
    CHECK_RC(bf_verify_queue(dir, 1, &v, err, sizeof err), BF_EINVAL);
    CHECK(v == NULL);
    /* NULL-safe accessors */
    CHECK(bf_verify_count(NULL) == 0 && bf_verify_finding(NULL, 0) == NULL);
    bf_verify_free(NULL);
    CHECK(strcmp(bf_finding_kind_name(BF_FINDING_CHECKSUM), "checksum") == 0);
    CHECK(strcmp(bf_finding_kind_name(BF_FINDING_HOLE), "hole") == 0);
    CHECK(strcmp(bf_finding_kind_name(BF_FINDING_DUPLICATE), "duplicate") == 0);
    CHECK(strcmp(bf_finding_kind_name(999), "unknown") == 0);
    CHECK(strcmp(bf_severity_name(BF_SEVERITY_DAMAGE), "damage") == 0);
    CHECK(strcmp(bf_severity_name(BF_SEVERITY_WARNING), "warning") == 0);
    CHECK(strcmp(bf_severity_name(BF_SEVERITY_INFO), "info") == 0);
    /* the reader's kind names are the verify names of the same kinds */
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_INDEX), bf_finding_kind_name(BF_FINDING_INDEX)) ==
          0);
    CHECK(strcmp(bfr_damage_kind_name(BFR_DAMAGE_WRITE_INDEX),
                 bf_finding_kind_name(BF_FINDING_WRITE_INDEX)) == 0);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    clean(argv[1]);
    checksum(argv[1]);
    hole(argv[1]);
    lowered_write_index(argv[1]);
    header(argv[1]);
    duplicates(argv[1]);
    crashed(argv[1]);
    not_a_queue(argv[1]);
    TEST_MAIN_END();
}
