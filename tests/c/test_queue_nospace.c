/* A full disk is a clear error when a segment is created, never a crash mid-append: here the
 * file size limit (RLIMIT_FSIZE, EFBIG, as a quota would) makes posix_fallocate fail. The
 * writer reports BF_ENOSPC naming the file and its size, writes nothing, leaves no
 * temporary file, and carries on once space is back. */
#include "queue_test_util.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

static void limit_file_size(rlim_t bytes) {
    struct rlimit rl;
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}

static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    signal(SIGXFSZ, SIG_IGN); /* the caller's job: without it the process is killed */
    char dir[4096], err[512];
    qt_dir(dir, argv[1], "q");
    const uint64_t seg_bytes = BF_HEADER_SIZE + 64 * BF_SLOT_SIZE;
    char size_text[32];
    snprintf(size_text, sizeof size_text, "%llu bytes", (unsigned long long)seg_bytes);

    /* the first segment cannot be reserved: open fails */
    limit_file_size(8192);
    bf_writer *w = NULL;
    bf_writer_opts o = {64, 0, 0};
    CHECK_RC(bf_writer_open(dir, &o, &w, err, sizeof err), BF_ENOSPC);
    CHECK(w == NULL);
    CHECK(strstr(err, "00000000000000000001.bfq") != NULL && strstr(err, size_text) != NULL);
    CHECK(strstr(err, "free space") != NULL);
    CHECK(count_files(dir, ".bfq") == 0);
    limit_file_size(RLIM_INFINITY);

    /* a roll cannot reserve the next segment: the append fails, nothing is written */
    w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    for (uint64_t i = 0; i < 63; i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    bf_writer_stats before, after;
    CHECK_RC(bf_writer_get_stats(w, &before), BF_OK);
    CHECK(before.write_index == before.capacity);
    limit_file_size(8192);
    CHECK_RC(qt_append_bt(w, 63, a), BF_ENOSPC);
    CHECK(strstr(bf_writer_error(w), "00000000000000000002.bfq") != NULL);
    CHECK(strstr(bf_writer_error(w), size_text) != NULL);
    CHECK_RC(qt_append_bt(w, 63, a), BF_ENOSPC); /* still, and still nothing written */
    CHECK_RC(bf_writer_prepare_next(w), BF_ENOSPC);
    CHECK_RC(bf_writer_get_stats(w, &after), BF_OK);
    CHECK(after.records_written == before.records_written && after.segment_seq == 1 &&
          after.write_index == before.write_index);
    CHECK(count_files(dir, ".tmp") == 0 && count_files(dir, ".bfq") == 1);

    /* space is back: the same writer goes on */
    limit_file_size(RLIM_INFINITY);
    CHECK_RC(qt_append_bt(w, 63, a), BF_OK);
    CHECK_RC(bf_writer_get_stats(w, &after), BF_OK);
    CHECK(after.segment_seq == 2);
    CHECK_RC(bf_writer_close(w), BF_OK);

    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    const bf_slot *s;
    uint64_t next = 0, bad = 0;
    while (bfr_next(&r, &s) == 1)
        if (s->type == BF_REC_BOOK_TICKER && !qt_is_bt(s, next++, a)) bad++;
    CHECK(bad == 0 && next == 64);
    bfr_close(&r);
    TEST_MAIN_END();
}
