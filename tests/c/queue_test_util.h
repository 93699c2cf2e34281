/* Helpers shared by the queue tests (tests/c/test_queue_*.c). */
#ifndef QUEUE_TEST_UTIL_H
#define QUEUE_TEST_UTIL_H

#include "binfeed.h"
#include "bf_test.h"
#include "parse_resume.h"
#include "writer_internal.h"

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

/* File name of segment n, for n = 1..9 (a literal, for messages and expectations). */
#define QT_SEG(n) "0000000000000000000" #n ".bfq"

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

/* The last seq of (symbol_id, stream) that a parser on w resumes from after a restart:
 * a scan of the segments the queue had when w opened it (parse_resume.h). */
static inline int qt_resumed_seq(const bf_writer *w, uint64_t symbol_id, uint32_t stream,
                                 uint64_t *seq) {
    bf_resume found;
    int rc = bf_resume_scan(bf__writer_dir(w), bf__writer_newest_at_open(w), &found, NULL, 0);
    if (rc == BF_OK) rc = bf_resume_last_seq(&found, symbol_id, stream, seq);
    bf_resume_free(&found);
    return rc;
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

/* A closed queue of `nseg` segments of 64 slots, each SYMBOL AAAUSDT + `per` book
 * tickers qt_append_bt(i), i numbered on across segments. Returns the symbol id. */
static inline uint64_t qt_build(const char *dir, int nseg, uint64_t per) {
    bf_writer *w = qt_open(dir, 64, 0);
    uint64_t a = qt_symbol(w, "AAAUSDT");
    uint64_t i = 0;
    for (int seg = 0; seg < nseg; seg++) {
        if (seg > 0) CHECK_RC(bf_writer_roll(w), BF_OK);
        for (uint64_t k = 0; k < per; k++, i++) CHECK_RC(qt_append_bt(w, i, a), BF_OK);
    }
    CHECK_RC(bf_writer_close(w), BF_OK);
    return a;
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
    uint64_t recoveries; /* BF_REC_RECOVERY records */
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
        c->recoveries += s->type == BF_REC_RECOVERY;
    }
    return rc;
}

/* ------------------------------------------------------------ damage on purpose */

/* Byte offset of slot i in a segment file of the default geometry. */
static inline uint64_t qt_slot_offset(uint64_t i) {
    return (uint64_t)BF_HEADER_SIZE + i * BF_SLOT_SIZE;
}

/* XORs one byte of a file with `mask` (pread + pwrite, as damage on disk would be).
 * Returns 0 or -1. */
static inline int qt_flip_byte(const char *path, uint64_t off, unsigned char mask) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    unsigned char b;
    int ok = pread(fd, &b, 1, (off_t)off) == 1;
    b ^= mask;
    ok = ok && pwrite(fd, &b, 1, (off_t)off) == 1;
    close(fd);
    return ok ? 0 : -1;
}

/* Flips bit 0 of a body byte of slot i (its crc32c no longer matches). */
static inline int qt_damage_slot(const char *path, uint64_t i) {
    return qt_flip_byte(path, qt_slot_offset(i) + BF_SLOT_HEADER_SIZE + 5, 0x01);
}

/* Writes n bytes at off of a file with pwrite. Returns 0 or -1. */
static inline int qt_pwrite(const char *path, uint64_t off, const void *buf, size_t n) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    int ok = pwrite(fd, buf, n, (off_t)off) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

static inline int qt_pwrite_u64(const char *path, uint64_t off, uint64_t v) {
    return qt_pwrite(path, off, &v, sizeof v);
}

static inline int qt_pwrite_u32(const char *path, uint64_t off, uint32_t v) {
    return qt_pwrite(path, off, &v, sizeof v);
}

/* Reads the header of a segment file into *h (pread). Returns 0 or -1. */
static inline int qt_read_header(const char *path, bf_segment_header *h) {
    memset(h, 0, sizeof *h);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int ok = pread(fd, h, sizeof *h, 0) == (ssize_t)sizeof *h;
    close(fd);
    return ok ? 0 : -1;
}

/* Reads slot i of a segment file into *s (pread). Returns 0 or -1. */
static inline int qt_read_slot(const char *path, uint64_t i, bf_slot *s) {
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int ok = pread(fd, s, sizeof *s, (off_t)qt_slot_offset(i)) == (ssize_t)sizeof *s;
    close(fd);
    return ok ? 0 : -1;
}

/* What a reader met, record by record: bfr_next until it returns 0 or an error other
 * than BF_EDAMAGED, going on after each damage report. */
#define QT_MAX_DAMAGE 16
typedef struct qt_walk {
    qt_counts c;                           /* records returned */
    size_t ndamage;                        /* BF_EDAMAGED returns */
    bfr_damage damage[QT_MAX_DAMAGE];      /* the first QT_MAX_DAMAGE of them */
    char first_error[BFR_ERROR_MAX];       /* r->error of the first damage report */
    int rc;                                /* what ended the walk: 0 or an error */
} qt_walk;

static inline int qt_walk_all(bfr_reader *r, qt_walk *wk) {
    memset(wk, 0, sizeof *wk);
    for (int guard = 0; guard < 1000000; guard++) {
        int rc = qt_drain(r, &wk->c);
        if (rc != BF_EDAMAGED) {
            wk->rc = rc;
            return rc;
        }
        if (wk->ndamage == 0) snprintf(wk->first_error, sizeof wk->first_error, "%s", r->error);
        if (wk->ndamage < QT_MAX_DAMAGE) wk->damage[wk->ndamage] = r->damage;
        wk->ndamage++;
    }
    wk->rc = BF_ESTATE; /* damage reports without end */
    return wk->rc;
}

/* 1 if the 16 bytes are all zero. */
static inline int qt_id_is_zero(const uint8_t id[BF_QUEUE_ID_SIZE]) {
    for (unsigned i = 0; i < BF_QUEUE_ID_SIZE; i++)
        if (id[i]) return 0;
    return 1;
}

#endif
