/* Bad files are refused with a clear error naming the file, by readers and by the writer:
 * bad magic, header checksum mismatch, impossible sizes, truncated files, a newer format
 * version ("upgrade binfeed"); missing queues are BF_ENOTFOUND. */
#include "queue_test_util.h"

/* A queue with 2 sealed segments of records (segment 2 newest). */
static void make_queue(const char *dir) {
    bf_writer *w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    for (uint64_t i = 0; i < 10; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    CHECK_RC(bf_writer_roll(w), BF_OK);
    for (uint64_t i = 10; i < 20; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

static bf_segment_header *map_header(const char *path, size_t *len) {
    return (bf_segment_header *)qt_map_rw(path, len);
}

/* Reader from the start and writer (when `newest`) both refuse with `code`, and their
 * messages contain `file` and `text`. */
static void expect_refused(const char *dir, int newest, int code, const char *file,
                           const char *text) {
    bfr_reader r;
    int rc = bfr_open(&r, dir, BFR_FROM_START);
    qt_counts c;
    memset(&c, 0, sizeof c);
    if (rc == BF_OK) rc = qt_drain(&r, &c); /* segment 2 fails when the reader gets there */
    CHECK_RC(rc, code);
    if (!strstr(r.error, file) || !strstr(r.error, text))
        fprintf(stderr, "reader message lacks \"%s\"/\"%s\": %s\n", file, text, r.error);
    CHECK(strstr(r.error, file) && strstr(r.error, text));
    bfr_close(&r);
    if (!newest) return;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), code);
    CHECK(strstr(r.error, file) && strstr(r.error, text));
    bfr_close(&r);
    char err[512];
    bf_writer *w = NULL;
    CHECK_RC(bf_writer_open(dir, NULL, &w, err, sizeof err), code);
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
    expect_refused(dir, 0, BF_ECORRUPT, seg1, "bad magic");
    /* from the end (segment 2) the reader and the writer do not need segment 1 */
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_OK);
    bfr_close(&r);

    qt_dir(dir, argv[1], "crc");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->capacity += 1; /* header_crc no longer matches */
    munmap(h, len);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "checksum");

    qt_dir(dir, argv[1], "slotsize");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->slot_size = 100;
    h->header_crc = bf_header_crc32c(h);
    munmap(h, len);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "slot_size");

    qt_dir(dir, argv[1], "version");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->version = BF_FORMAT_VERSION + 1;
    h->header_crc = bf_header_crc32c(h);
    munmap(h, len);
    expect_refused(dir, 1, BF_EVERSION, seg2, "upgrade binfeed");

    qt_dir(dir, argv[1], "version-nocrc"); /* a newer version is reported even if the crc differs */
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    h->version = 99;
    munmap(h, len);
    expect_refused(dir, 1, BF_EVERSION, seg2, "version 99");

    qt_dir(dir, argv[1], "short");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), 100) == 0);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "truncated");

    qt_dir(dir, argv[1], "empty");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), 0) == 0);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "truncated");

    qt_dir(dir, argv[1], "cut");
    make_queue(dir);
    CHECK(truncate(qt_segment_path(dir, 2), BF_HEADER_SIZE + 5 * BF_SLOT_SIZE) == 0);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "truncated");

    qt_dir(dir, argv[1], "index");
    make_queue(dir);
    h = map_header(qt_segment_path(dir, 2), &len);
    bf_store_release_u64(&h->write_index, h->capacity + 1);
    munmap(h, len);
    expect_refused(dir, 1, BF_ECORRUPT, seg2, "write_index");

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
