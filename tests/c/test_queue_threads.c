/* bf_writer_prepare_next and bf_writer_sync on another thread while the writer appends
 * through many rolls: every record arrives once, in order, crc-clean; prepared segments are
 * used; nothing is left behind at close. */
#include "queue_test_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct helper {
    bf_writer *w;
    atomic_int stop;
    int errors;
    int calls;
} helper;

static void *helper_main(void *arg) {
    helper *h = arg;
    while (!atomic_load(&h->stop)) {
        if (bf_writer_prepare_next(h->w) != BF_OK) h->errors++;
        if (h->calls++ % 16 == 0 && bf_writer_sync(h->w) != BF_OK) h->errors++;
    }
    return NULL;
}

static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096];
    qt_dir(dir, argv[1], "q");
    bf_writer *w = qt_open(dir, 256, BF_WRITER_PREFAULT);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    helper h = {w, 0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, helper_main, &h) == 0);
    const uint64_t N = 30000;
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC), BF_OK);
    uint64_t next = 0, bad = 0;
    const bf_slot *s;
    for (uint64_t i = 0; i < N; i++) {
        if (qt_append_bt(w, i, a) != BF_OK) bad++;
        if (i % 1000 == 999) /* a reader in this thread keeps up */
            while (bfr_next(&r, &s) == 1)
                if (s->type == BF_REC_BOOK_TICKER && !qt_is_bt(s, next++, a)) bad++;
    }
    atomic_store(&h.stop, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(h.errors == 0 && h.calls > 0);
    bf_writer_stats st;
    CHECK_RC(bf_writer_get_stats(w, &st), BF_OK);
    CHECK(st.segment_seq >= N / 255);
    CHECK_RC(bf_writer_prepare_next(w), BF_OK); /* a spare exists now */
    CHECK(count_tmp(dir) == 1);
    CHECK_RC(bf_writer_close(w), BF_OK);
    CHECK(count_tmp(dir) == 0); /* the unused spare is deleted */
    /* every segment is sealed and truncated to its used length (rolls left that to the
     * helper thread, or to close) */
    uint64_t untrimmed = 0;
    for (uint64_t seq = 1; seq <= st.segment_seq; seq++) {
        size_t len;
        unsigned char *m = qt_map_rw(qt_segment_path(dir, seq), &len);
        if (!m) {
            untrimmed++;
            continue;
        }
        const bf_segment_header *hh = (const bf_segment_header *)m;
        uint64_t used = bf_load_acquire_u64(&hh->write_index);
        untrimmed += bf_load_acquire_u32(&hh->sealed) != 1 ||
                     len != BF_HEADER_SIZE + used * BF_SLOT_SIZE;
        munmap(m, len);
    }
    CHECK(untrimmed == 0);
    int rc;
    while ((rc = bfr_wait(&r, &s, 100000000)) == 1)
        if (s->type == BF_REC_BOOK_TICKER && !qt_is_bt(s, next++, a)) bad++;
    if (rc != 0) fprintf(stderr, "rc %d: %s\n", rc, r.error);
    CHECK(rc == 0);
    if (bad || next != N) fprintf(stderr, "bad %llu next %llu\n", (unsigned long long)bad, (unsigned long long)next);
    CHECK(bad == 0 && next == N);
    bfr_close(&r);
    TEST_MAIN_END();
}
