/* Helpers shared by the queue tests (tests/c/test_queue_*.c). */
#ifndef QUEUE_TEST_UTIL_H
#define QUEUE_TEST_UTIL_H

#include "binfeed.h"
#include "bf_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* <scratch>/<name>, in a static rotating buffer of 8 (transient use only: keep queue
 * directory names in buffers of your own, see qt_dir). */
static inline const char *qt_path(const char *scratch, const char *name) {
    static char bufs[8][4608];
    static int next = 0;
    char tmp[4608];
    snprintf(tmp, sizeof tmp, "%s/%s", scratch, name);
    char *b = bufs[next++ % 8];
    memcpy(b, tmp, sizeof tmp);
    return b;
}

/* Writes <scratch>/<name> into out (a buffer of 4096). */
static inline const char *qt_dir(char *out, const char *scratch, const char *name) {
    snprintf(out, 4096, "%s/%s", scratch, name);
    return out;
}

/* <dir>/<seq>.bfq */
static inline const char *qt_segment_path(const char *dir, uint64_t seq) {
    char name[BF_SEGMENT_NAME_MAX];
    bf_segment_name(name, sizeof name, seq);
    return qt_path(dir, name);
}

static inline bf_writer *qt_open(const char *dir, uint64_t slots, uint32_t flags) {
    char err[512];
    bf_writer *w = NULL;
    bf_writer_opts o = {slots, flags, 0};
    int rc = bf_writer_open(dir, &o, &w, err, sizeof err);
    if (rc != BF_OK) {
        fprintf(stderr, "bf_writer_open(%s): %d %s\n", dir, rc, err);
        exit(2);
    }
    return w;
}

static inline uint64_t qt_symbol(bf_writer *w, const char *name) {
    uint64_t id = 0;
    int rc = bf_writer_symbol(w, name, strlen(name), &id);
    if (rc != BF_OK) {
        fprintf(stderr, "bf_writer_symbol(%s): %d %s\n", name, rc, bf_writer_error(w));
        exit(2);
    }
    return id;
}

/* The values of the i-th test book ticker (distinct, with awkward doubles). */
static inline double qt_price(uint64_t i) { return 60000.0 + (double)i * 0.01 + 1e-9 / 3.0; }

static inline int qt_append_bt(bf_writer *w, uint64_t i, uint64_t sym) {
    return bf_append_book_ticker(w, 1700000000000000000ull + i, 1000 + i, i * 7, qt_price(i),
                                 0.1 * (double)i, qt_price(i) + 0.01, 1.0 / 3.0 + (double)i,
                                 sym);
}

/* Checks that s is exactly the book ticker qt_append_bt(i) wrote (bit-exact). */
static inline int qt_is_bt(const bf_slot *s, uint64_t i, uint64_t sym) {
    bf_slot want;
    memset(&want, 0, sizeof want);
    want.type = BF_REC_BOOK_TICKER;
    want.seq = 1000 + i;
    want.recv_ts_ns = 1700000000000000000ull + i;
    want.body.book_ticker.timestamp = i * 7;
    want.body.book_ticker.bid_price = qt_price(i);
    want.body.book_ticker.bid_qty = 0.1 * (double)i;
    want.body.book_ticker.ask_price = qt_price(i) + 0.01;
    want.body.book_ticker.ask_qty = 1.0 / 3.0 + (double)i;
    want.body.book_ticker.symbol_id = sym;
    want.crc32c = bf_slot_crc32c(&want, BF_SLOT_SIZE);
    return memcmp(&want, s, sizeof want) == 0;
}

static inline uint64_t qt_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Maps a segment file read-write (to corrupt it on purpose). */
static inline unsigned char *qt_map_rw(const char *path, size_t *len) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return NULL;
    struct stat st;
    fstat(fd, &st);
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return NULL;
    *len = (size_t)st.st_size;
    return (unsigned char *)m;
}

/* Reads every record available now; counts per type; returns the total or < 0. */
typedef struct qt_counts {
    uint64_t total, book_tickers, trades, symbols, gaps, connections;
} qt_counts;

static inline int qt_drain(bfr_reader *r, qt_counts *c) {
    const bf_slot *s;
    int rc;
    while ((rc = bfr_next(r, &s)) == 1) {
        c->total++;
        c->book_tickers += s->type == BF_REC_BOOK_TICKER;
        c->trades += s->type == BF_REC_TRADE;
        c->symbols += s->type == BF_REC_SYMBOL;
        c->gaps += s->type == BF_REC_GAP;
        c->connections += s->type == BF_REC_CONNECTION;
    }
    return rc;
}

#endif
