/* writer.c -- the bf_writer handle and the records written through it: open (lock, recovery
 * by recovery.c, first segment), symbols, appends (the hot path), errors, stats, close.
 * Starting, rolling and sealing segments is writer_segments.c's. */
#include "writer_internal.h"
#include "writer_state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appends are bound by memory: each new cache line is first read for ownership. Asking for
 * the lines 32 slots (4 KiB) ahead overlaps those misses: 44 -> 64 M book tickers/s on the
 * development machine (benchmarks/c/bench_queue.c). A prefetch never faults, also past the
 * end of the mapping. */
#define PREFETCH_AHEAD (32 * BF_SLOT_SIZE)
#define PREFETCH_SLOT(s)                                                                   \
    do {                                                                                   \
        __builtin_prefetch((const char *)(s) + PREFETCH_AHEAD, 1, 3);                      \
        __builtin_prefetch((const char *)(s) + PREFETCH_AHEAD + 64, 1, 3);                 \
    } while (0)

/* ------------------------------------------------------------------ errors */

static int fail(bf_writer *w, int rc, const char *msg) {
    pthread_mutex_lock(&w->mu);
    snprintf(w->err, sizeof w->err, "%s", msg);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static int failf(bf_writer *w, int rc, const char *fmt, ...) BF_PRINTF(3, 4);
static int failf(bf_writer *w, int rc, const char *fmt, ...) {
    char msg[BF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail(w, rc, msg);
}

/* writer_segments.c's entry. The appends keep calling the static fail, which the compiler
 * inlines into their error paths as it did before the writer was split in two files; a
 * function of external linkage it weighs differently (it keeps an out-of-line copy). */
int bf__writer_fail(bf_writer *w, int rc, const char *msg) { return fail(w, rc, msg); }

const char *bf_writer_error(const bf_writer *w) { return w ? w->err : "writer is NULL"; }

/* ------------------------------------------------------------------ helpers */

static inline int finite4(double a, double b, double c, double d) {
    return isfinite(a) && isfinite(b) && isfinite(c) && isfinite(d);
}

static inline bf_slot *slot_at(const bf_writer *w, uint64_t i) {
    return (bf_slot *)(w->slots + i * BF_SLOT_SIZE);
}

/* ------------------------------------------------------------------ room */

/* Makes room for a record received at recv_ts_ns (0: unknown): rolls when the segment is
 * full or, with BF_WRITER_UTC_DAY_ROLL, when the record falls on a later UTC day. The check
 * lives here, with the appends, so that it inlines into them; only the roll is a call into
 * writer_segments.c. */
static int make_room(bf_writer *w, uint64_t recv_ts_ns) {
    int new_day = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) && recv_ts_ns != 0 &&
                  recv_ts_ns >= w->roll_at_ns;
    if (w->index < w->capacity && !new_day) return BF_OK;
    return bf__writer_roll_segment(w, new_day ? recv_ts_ns : 0);
}

/* ------------------------------------------------------------------ recovery records */

static int append_normalized(bf_writer *w, const bf_slot *norm);

/* Writes recovery's findings as RECOVERY records (after the first segment's SYMBOLs). */
static int write_recovery_records(bf_writer *w) {
    uint64_t now = bf__realtime_ns();
    for (size_t i = 0; i < w->rec.nreports; i++) {
        bf_slot slot;
        bf__recovery_record(&w->rec, i, w->dir, now, &slot);
        int rc = append_normalized(w, &slot);
        if (rc != BF_OK) return rc;
    }
    return BF_OK;
}

/* ------------------------------------------------------------------ open / close */

static int make_dirs(const char *dir, char *err, size_t errlen) {
    char path[4096];
    size_t len = strlen(dir);
    if (len >= sizeof path) {
        bf__fmt(err, errlen, "queue path is too long (%zu bytes)", len);
        return BF_EINVAL;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            bf__fmt(err, errlen, "cannot create queue directory %s: %s", path, strerror(e));
            return e == ENOSPC || e == EDQUOT ? BF_ENOSPC : BF_EIO;
        }
        path[i] = c;
    }
    return BF_OK;
}

static void destroy(bf_writer *w) {
    bf__writer_release_segments(w);
    bf__lock_release(w->lock_fd);
    if (w->dirfd >= 0) close(w->dirfd);
    bf__symtab_free(&w->syms);
    free(w->dir);
    pthread_cond_destroy(&w->spare_done);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int bf_writer_open(const char *dir, const bf_writer_opts *opts, bf_writer **out, char *errbuf,
                   size_t errlen) {
    char err[BF_ERR_MAX] = "";
    bf_writer_opts o = {0, 0, 0};
    if (opts) o = *opts;
    if (!dir || !*dir || !out) {
        bf__fmt(errbuf, errlen, "bf_writer_open: dir and out must not be NULL or empty");
        return BF_EINVAL;
    }
    if (o.segment_slots == 0) o.segment_slots = BF_DEFAULT_SEGMENT_SLOTS;
    if (o.segment_slots < BF_MIN_SEGMENT_SLOTS || o.segment_slots > BF_MAX_SEGMENT_SLOTS ||
        (o.flags & ~(uint32_t)(BF_WRITER_UTC_DAY_ROLL | BF_WRITER_PREFAULT |
                               BF_WRITER_SYNC_SEAL)) ||
        o.reserved) {
        bf__fmt(errbuf, errlen,
                "invalid writer options: segment_slots must be 0 (default %u) or %u..%llu, "
                "flags a combination of BF_WRITER_*, reserved 0",
                BF_DEFAULT_SEGMENT_SLOTS, BF_MIN_SEGMENT_SLOTS,
                (unsigned long long)BF_MAX_SEGMENT_SLOTS);
        return BF_EINVAL;
    }
    bf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        bf__fmt(errbuf, errlen, "out of memory opening queue %s", dir);
        return BF_ENOMEM;
    }
    bf_segment none = BF_SEGMENT_NONE;
    w->cur = none;
    w->spare = none;
    w->retired = none;
    w->dirfd = -1;
    w->lock_fd = -1;
    w->opts = o;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->spare_done, NULL);
    bf__slot_crc_init(&w->crc);

    int rc = make_dirs(dir, err, sizeof err);
    if (rc == BF_OK) {
        w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dirfd < 0) {
            bf__fmt(err, sizeof err, "cannot open queue directory %s: %s", dir, strerror(errno));
            rc = errno == ENOENT ? BF_ENOTFOUND : BF_EIO;
        }
    }
    if (rc == BF_OK) rc = bf__lock_acquire(w->dirfd, dir, &w->lock_fd, err, sizeof err);
    if (rc == BF_OK) rc = bf__recover(w->dirfd, dir, &w->syms, &w->rec, err, sizeof err);
    if (rc == BF_OK) rc = bf__writer_start_first(w, err, sizeof err);
    if (rc == BF_OK) {
        rc = write_recovery_records(w);
        if (rc != BF_OK) bf__fmt(err, sizeof err, "%s", w->err);
    }
    if (rc != BF_OK) {
        bf__fmt(errbuf, errlen, "%s", err);
        destroy(w);
        return rc;
    }
    if (errbuf && errlen) errbuf[0] = '\0';
    *out = w;
    return BF_OK;
}

int bf_writer_close(bf_writer *w) {
    if (!w) return BF_OK;
    char err[BF_ERR_MAX] = "";
    int rc = BF_OK;
    if (w->cur.hdr) rc = bf__writer_seal_current(w, err, sizeof err);
    destroy(w);
    return rc;
}

/* ------------------------------------------------------------------ symbols */

int bf_writer_symbol(bf_writer *w, const char *name, size_t len, uint64_t *id) {
    if (!w || !id) return BF_EINVAL;
    char norm[BF_SYMBOL_MAX];
    if (bf__symbol_normalize(name, len, norm) != BF_OK)
        return failf(w, BF_ESYMBOL,
                     "invalid symbol name \"%.*s\": it must be 1 to %u bytes of UTF-8 "
                     "(ASCII letters, digits, _ - . and any non-ASCII letter)",
                     name ? (int)(len > 64 ? 64 : len) : 0, name ? name : "", BF_SYMBOL_MAX);
    uint64_t found = bf__symtab_find(&w->syms, norm, len);
    if (found) {
        *id = found;
        return BF_OK;
    }
    int rc = make_room(w, 0);
    if (rc != BF_OK) return rc;
    uint64_t new_id = w->syms.count + 1;
    rc = bf__symtab_set(&w->syms, new_id, norm, len);
    if (rc != BF_OK) return failf(w, rc, "cannot define symbol %.*s: out of memory", (int)len, norm);
    bf_slot *s = slot_at(w, w->index);
    bf__fill_symbol_slot(s, new_id, &w->syms.defs[new_id - 1], bf__realtime_ns());
    s->crc32c = bf__slot_crc(&w->crc, s);
    w->index++;
    bf__writer_publish(w);
    w->records_written++;
    *id = new_id;
    return BF_OK;
}

const char *bf_writer_symbol_name(const bf_writer *w, uint64_t id) {
    if (!w || !bf__symtab_defined(&w->syms, id)) return NULL;
    return w->syms.defs[id - 1].name;
}

/* ------------------------------------------------------------------ appends */

static int bad_symbol(bf_writer *w, uint64_t id) {
    return failf(w, BF_ESYMBOL,
                 "symbol id %llu is not defined in this queue (define it with "
                 "bf_writer_symbol first)", (unsigned long long)id);
}

/* Checks a caller's slot and writes its normalized copy (zero padding, flags 0, crc not
 * yet set) into *out. BF_EINVAL / BF_ESYMBOL with a message; nothing written. */
static int normalize_slot(bf_writer *w, const bf_slot *in, bf_slot *out) {
    memset(out, 0, sizeof *out);
    out->type = in->type;
    out->seq = in->seq;
    out->recv_ts_ns = in->recv_ts_ns;
    if (in->flags != 0)
        return failf(w, BF_EINVAL, "slot flags must be 0 in format version %u (got %u)",
                     BF_FORMAT_VERSION, (unsigned)in->flags);
    switch (in->type) {
    case BF_REC_BOOK_TICKER: {
        const bf_book_ticker *b = &in->body.book_ticker;
        if (!bf__symtab_defined(&w->syms, b->symbol_id)) return bad_symbol(w, b->symbol_id);
        if (!finite4(b->bid_price, b->bid_qty, b->ask_price, b->ask_qty))
            return failf(w, BF_EINVAL, "book_ticker seq %llu has a non-finite price or "
                         "quantity (bid %g x %g, ask %g x %g)", (unsigned long long)in->seq,
                         b->bid_price, b->bid_qty, b->ask_price, b->ask_qty);
        out->body.book_ticker = *b;
        return BF_OK;
    }
    case BF_REC_TRADE: {
        const bf_trade *t = &in->body.trade;
        if (!bf__symtab_defined(&w->syms, t->symbol_id)) return bad_symbol(w, t->symbol_id);
        if (!finite4(t->price, t->qty, 0, 0))
            return failf(w, BF_EINVAL, "trade %llu has a non-finite price or quantity "
                         "(%g x %g)", (unsigned long long)t->trade_id, t->price, t->qty);
        if (t->flags & ~(BF_TRADE_F_BUYER_IS_MAKER | BF_TRADE_F_BEST_MATCH |
                         BF_TRADE_F_BEST_MATCH_KNOWN))
            return failf(w, BF_EINVAL, "trade %llu has unknown flags 0x%x",
                         (unsigned long long)t->trade_id, (unsigned)t->flags);
        out->body.trade = *t;
        memset(out->body.trade.zero, 0, sizeof out->body.trade.zero);
        return BF_OK;
    }
    case BF_REC_GAP: {
        const bf_gap *g = &in->body.gap;
        if (!bf__symtab_defined(&w->syms, g->symbol_id)) return bad_symbol(w, g->symbol_id);
        if (g->stream == 0 || g->stream > BF_STREAM_COUNT)
            return failf(w, BF_EINVAL, "gap record has unknown stream %u", (unsigned)g->stream);
        if (g->reason < BF_GAP_SEQUENCE_JUMP || g->reason > BF_GAP_SERVER_SHUTDOWN)
            return failf(w, BF_EINVAL, "gap record has unknown reason %u", (unsigned)g->reason);
        out->body.gap = *g;
        return BF_OK;
    }
    case BF_REC_CONNECTION: {
        const bf_connection_event *c = &in->body.connection;
        if (c->event < BF_CONN_CONNECTED || c->event > BF_CONN_LAST)
            return failf(w, BF_EINVAL, "connection record has unknown event %u",
                         (unsigned)c->event);
        out->body.connection.event = c->event;
        out->body.connection.conn_id = c->conn_id;
        out->body.connection.code = c->code;
        size_t n = strnlen(c->detail, sizeof c->detail - 1);
        memcpy(out->body.connection.detail, c->detail, n); /* NUL padded by the memset */
        return BF_OK;
    }
    case BF_REC_SYMBOL:
        return failf(w, BF_EINVAL, "SYMBOL records are written by bf_writer_symbol only");
    case BF_REC_RECOVERY:
        return failf(w, BF_EINVAL, "RECOVERY records are written by the writer's recovery "
                     "only");
    default:
        return failf(w, BF_EINVAL, "unknown record type %u", (unsigned)in->type);
    }
}

/* Writes a normalized slot at w->index (room already made), sets its crc, advances. */
static inline void put_slot(bf_writer *w, const bf_slot *norm) {
    bf_slot *s = slot_at(w, w->index);
    PREFETCH_SLOT(s);
    memcpy(s, norm, sizeof *s);
    s->crc32c = bf__slot_crc(&w->crc, s);
    w->index++;
    w->records_written++;
}

static int append_normalized(bf_writer *w, const bf_slot *norm) {
    int rc = make_room(w, norm->recv_ts_ns);
    if (rc != BF_OK) return rc;
    put_slot(w, norm);
    bf__writer_publish(w);
    return BF_OK;
}

int bf_writer_append(bf_writer *w, const bf_slot *slot) {
    if (!w || !slot) return BF_EINVAL;
    bf_slot norm;
    int rc = normalize_slot(w, slot, &norm);
    if (rc != BF_OK) return rc;
    return append_normalized(w, &norm);
}

int bf_writer_append_many(bf_writer *w, const bf_slot *slots, size_t n) {
    if (!w || (!slots && n)) return BF_EINVAL;
    bf_slot norm;
    for (size_t i = 0; i < n; i++) {
        int rc = normalize_slot(w, &slots[i], &norm);
        if (rc != BF_OK) {
            char msg[BF_ERR_MAX];
            bf__fmt(msg, sizeof msg, "record %zu of the batch: %s; nothing of the batch was "
                    "written", i, w->err);
            return fail(w, rc, msg);
        }
    }
    for (size_t i = 0; i < n; i++) {
        normalize_slot(w, &slots[i], &norm);
        if (BF_UNLIKELY(w->index >= w->capacity || norm.recv_ts_ns >= w->roll_at_ns)) {
            int rc = make_room(w, norm.recv_ts_ns); /* publishes what precedes */
            if (rc != BF_OK) return rc;
        }
        put_slot(w, &norm);
    }
    bf__writer_publish(w);
    return BF_OK;
}

int bf_append_book_ticker(bf_writer *w, uint64_t recv_ts_ns, uint64_t update_id,
                          uint64_t timestamp_us, double bid_price, double bid_qty,
                          double ask_price, double ask_qty, uint64_t symbol_id) {
    if (BF_UNLIKELY(!w)) return BF_EINVAL;
    if (BF_UNLIKELY(!bf__symtab_defined(&w->syms, symbol_id))) return bad_symbol(w, symbol_id);
    if (BF_UNLIKELY(!finite4(bid_price, bid_qty, ask_price, ask_qty)))
        return failf(w, BF_EINVAL, "book_ticker %llu has a non-finite price or quantity "
                     "(bid %g x %g, ask %g x %g)", (unsigned long long)update_id, bid_price,
                     bid_qty, ask_price, ask_qty);
    if (BF_UNLIKELY(w->index >= w->capacity || recv_ts_ns >= w->roll_at_ns)) {
        int rc = make_room(w, recv_ts_ns);
        if (rc != BF_OK) return rc;
    }
    /* the checksum from the values, so that the slot's lines are written once */
    uint32_t crc = bf__slot_crc_book_ticker(&w->crc, update_id, recv_ts_ns, timestamp_us,
                                            bid_price, bid_qty, ask_price, ask_qty, symbol_id);
    bf_slot *s = slot_at(w, w->index);
    PREFETCH_SLOT(s);
    bf_slot_book_ticker(s, recv_ts_ns, update_id, timestamp_us, bid_price, bid_qty, ask_price,
                        ask_qty, symbol_id);
    s->crc32c = crc;
    w->index++;
    bf__writer_publish(w);
    w->records_written++;
    return BF_OK;
}

int bf_append_trade(bf_writer *w, uint64_t recv_ts_ns, uint64_t trade_id, double price,
                    double qty, uint64_t trade_ts_us, uint64_t event_ts_us, uint32_t flags,
                    uint64_t symbol_id) {
    if (!w) return BF_EINVAL;
    if (flags > 0xffu)
        return failf(w, BF_EINVAL, "trade %llu has unknown flags 0x%x",
                     (unsigned long long)trade_id, (unsigned)flags);
    bf_slot s;
    bf_slot_trade(&s, recv_ts_ns, trade_id, price, qty, trade_ts_us, event_ts_us, flags,
                  symbol_id);
    return bf_writer_append(w, &s);
}

int bf_append_gap(bf_writer *w, uint64_t recv_ts_ns, uint64_t symbol_id, uint32_t stream,
                  uint32_t reason, uint64_t last_seq, uint64_t next_seq) {
    if (!w) return BF_EINVAL;
    bf_slot s;
    bf_slot_gap(&s, recv_ts_ns, symbol_id, stream, reason, last_seq, next_seq);
    return bf_writer_append(w, &s);
}

int bf_append_connection(bf_writer *w, uint64_t recv_ts_ns, uint32_t event, uint32_t conn_id,
                         int64_t code, const char *detail) {
    if (!w) return BF_EINVAL;
    bf_slot s;
    memset(&s, 0, sizeof s);
    s.type = BF_REC_CONNECTION;
    s.recv_ts_ns = recv_ts_ns;
    s.body.connection.event = event;
    s.body.connection.conn_id = conn_id;
    s.body.connection.code = code;
    if (detail) bf__copy_text(s.body.connection.detail, sizeof s.body.connection.detail, detail);
    return bf_writer_append(w, &s);
}

/* ------------------------------------------------------------------ stats */

int bf_writer_get_stats(const bf_writer *w, bf_writer_stats *out) {
    if (!w || !out) return BF_EINVAL;
    out->segment_seq = w->seq;
    out->write_index = w->index;
    out->capacity = w->capacity;
    out->records_written = w->records_written;
    out->segments_created = w->segments_created;
    out->symbols = w->syms.count;
    out->recovered_cut = w->rec.cut;
    out->recovery_events = w->rec.nreports;
    return BF_OK;
}

int bf_writer_recovery(const bf_writer *w, size_t i, bf_recovery_report *out) {
    if (!w || !out) return BF_EINVAL;
    return bf__recovery_report(&w->rec, i, out);
}

int bf_writer_queue_id(const bf_writer *w, uint8_t out[BF_QUEUE_ID_SIZE]) {
    if (!w || !out) return BF_EINVAL;
    memcpy(out, w->rec.queue_id, BF_QUEUE_ID_SIZE);
    return BF_OK;
}

/* ------------------------------------------------------------------ writer_internal.h */

int bf__writer_restarted(const bf_writer *w) { return w && w->rec.newest_at_open != 0; }

uint64_t bf__writer_newest_at_open(const bf_writer *w) { return w ? w->rec.newest_at_open : 0; }

const char *bf__writer_dir(const bf_writer *w) { return w ? w->dir : NULL; }

uint64_t bf__writer_symbol_count(const bf_writer *w) { return w ? w->syms.count : 0; }
