/* writer.c -- the bf_writer_* API: appending, publishing and rolling segments; open (lock,
 * recovery by recovery.c, new segment), prepare_next / sync (may run on another thread),
 * close (seal, truncate, unlock). */
#include "queue_internal.h"
#include "writer_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_PER_DAY 86400000000000ull
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

struct bf_writer {
    /* hot: read by every append, written only by the appending thread */
    unsigned char *slots;      /* slot 0 of the current segment */
    bf_segment_header *hdr;    /* header of the current segment */
    uint64_t index;            /* next slot; equals the published write_index between calls */
    uint64_t capacity;         /* slots in the current segment */
    uint64_t roll_at_ns;       /* recv time that forces a day roll; UINT64_MAX if none */
    bf_symtab syms;
    uint64_t records_written;
    bf_slot_crc crc;

    /* cold */
    bf_writer_opts opts;
    char *dir;
    int dirfd;
    int lock_fd;
    uint64_t first_index;      /* queue-wide index of slot 0 of the current segment */
    uint64_t segments_created;
    bf_recovery rec;           /* what recovery found at open; holds the queue_id */

    /* Shared with bf_writer_prepare_next / bf_writer_sync on other threads. The appending
     * thread changes `cur` and `seq` only while holding mu (at a roll). */
    pthread_mutex_t mu;
    pthread_cond_t spare_done;
    bf_segment cur;            /* the segment being written */
    uint64_t seq;              /* its seq */
    bf_segment spare;          /* a prepared next segment (temporary file), fd < 0 if none */
    bf_segment retired;        /* a sealed segment whose truncation and unmapping a roll left
                                  to the next prepare_next call; fd < 0 if none */
    uint64_t retired_used;
    int preparing;             /* a prepare_next call is creating `spare`, or a roll is
                                  switching segments: no other may start one */
    char err[BF_ERR_MAX];
};

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

const char *bf_writer_error(const bf_writer *w) { return w ? w->err : "writer is NULL"; }

/* ------------------------------------------------------------------ helpers */

static inline int finite4(double a, double b, double c, double d) {
    return isfinite(a) && isfinite(b) && isfinite(c) && isfinite(d);
}

static uint64_t day_end(uint64_t ns) { return (ns / NS_PER_DAY + 1) * NS_PER_DAY; }

static void set_current(bf_writer *w, uint64_t index) {
    w->hdr = w->cur.hdr;
    w->slots = w->cur.map + w->cur.hdr->header_size;
    w->capacity = w->cur.capacity;
    w->index = index;
    w->first_index = w->cur.hdr->first_index;
    w->roll_at_ns = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) ? day_end(w->cur.hdr->created_ns)
                                                             : UINT64_MAX;
}

static inline bf_slot *slot_at(const bf_writer *w, uint64_t i) {
    return (bf_slot *)(w->slots + i * BF_SLOT_SIZE);
}

static inline void publish(bf_writer *w) { bf_store_release_u64(&w->hdr->write_index, w->index); }

static void fill_symbol_slot(bf_slot *s, uint64_t id, const bf_sym *d, uint64_t recv_ts_ns) {
    memset(s, 0, sizeof *s);
    s->type = BF_REC_SYMBOL;
    s->recv_ts_ns = recv_ts_ns;
    s->body.symbol.symbol_id = id;
    s->body.symbol.name_len = d->name_len;
    memcpy(s->body.symbol.name, d->name, d->name_len);
}

/* ------------------------------------------------------------------ segments */

/* Lets prepare_next run again (after start_segment, once w->seq is updated or on failure). */
static void end_segment_switch(bf_writer *w) {
    pthread_mutex_lock(&w->mu);
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    pthread_mutex_unlock(&w->mu);
}

/* Takes the prepared spare if it is big enough (waiting for a prepare_next in progress),
 * else creates a new temporary segment; fills its header and SYMBOL records and renames
 * it to its final name. On success *out is the new, published, current-to-be segment, and
 * prepare_next stays blocked until the caller makes it current and calls
 * end_segment_switch (on failure start_segment calls it). */
static int start_segment(bf_writer *w, uint64_t seq, uint64_t created_ns, uint64_t first_index,
                         bf_segment *out, uint64_t *used, int *from_spare, char *err,
                         size_t errlen) {
    /* The SYMBOL records open every segment: keep at least half of it for data. */
    uint64_t cap = w->opts.segment_slots;
    if (cap < 2 * w->syms.defined) cap = 2 * w->syms.defined;
    bf_segment s = BF_SEGMENT_NONE;
    pthread_mutex_lock(&w->mu);
    while (w->preparing) pthread_cond_wait(&w->spare_done, &w->mu);
    /* Keep prepare_next out until the caller has made this segment current (and w->seq
     * names it): it would otherwise prepare a file under the same temporary name. */
    w->preparing = 1;
    if (w->spare.fd >= 0) {
        if (w->spare.capacity >= cap) {
            s = w->spare;
        } else {
            bf__segment_discard(w->dirfd, &w->spare);
        }
        bf_segment none = BF_SEGMENT_NONE;
        w->spare = none;
    }
    pthread_mutex_unlock(&w->mu);
    *from_spare = s.fd >= 0;
    if (s.fd < 0) {
        int rc = bf__segment_create_tmp(w->dirfd, w->dir, seq, cap,
                                        (w->opts.flags & BF_WRITER_PREFAULT) != 0, &s, err, errlen);
        if (rc != BF_OK) {
            end_segment_switch(w);
            return rc;
        }
    }
    uint32_t flags = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) ? BF_SEG_F_UTC_DAY_ROLL : 0;
    bf__segment_init_header(&s, seq, created_ns, first_index, flags, w->rec.queue_id);
    uint64_t n = 0;
    for (uint64_t id = 1; id <= w->syms.count; id++) {
        const bf_sym *d = &w->syms.defs[id - 1];
        if (!d->name_len) continue;
        bf_slot *slot = bf__segment_slot(&s, n++);
        fill_symbol_slot(slot, id, d, created_ns);
        slot->crc32c = bf__slot_crc(&w->crc, slot);
    }
    bf_store_release_u64(&s.hdr->write_index, n);
    int rc = bf__segment_publish(w->dirfd, w->dir, &s, seq, err, errlen);
    if (rc != BF_OK) {
        bf__segment_discard(w->dirfd, &s);
        end_segment_switch(w);
        return rc;
    }
    w->segments_created++;
    *out = s;
    *used = n;
    return BF_OK;
}

static int make_sealed_durable(bf_writer *w, const bf_segment *s, char *err, size_t errlen);

/* Creates segment seq+1, then seals and truncates the current one (the order readers
 * rely on: see "Roll" in binfeed_reader.h). day_recv_ns: the receive time of the record
 * that starts a new UTC day, 0 for other rolls. */
static int roll(bf_writer *w, uint64_t day_recv_ns) {
    char err[BF_ERR_MAX] = "";
    uint64_t now = bf__realtime_ns();
    /* A day roll must land in the record's day even if this clock lags the receive time. */
    uint64_t created = day_recv_ns > now ? day_recv_ns : now;
    publish(w);
    bf_segment next, old;
    uint64_t used;
    int from_spare = 0;
    int rc = start_segment(w, w->seq + 1, created, w->first_index + w->index, &next, &used,
                           &from_spare, err, sizeof err);
    if (rc != BF_OK) return fail(w, rc, err);
    pthread_mutex_lock(&w->mu);
    bf__segment_mark_sealed(&w->cur, now);
    old = w->cur;
    uint64_t old_used = w->index;
    /* Truncating and unmapping 128 MiB takes milliseconds: when a thread keeps segments
     * prepared, it does that too, so the appending thread never waits on it. */
    int deferred = from_spare && w->retired.fd < 0;
    if (deferred) {
        w->retired = old;
        w->retired_used = old_used;
    }
    w->cur = next;
    w->seq++;
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    pthread_mutex_unlock(&w->mu);
    set_current(w, used);
    if (!deferred) {
        rc = bf__segment_truncate(&old, old_used, w->dir, err, sizeof err);
        if (rc == BF_OK) rc = make_sealed_durable(w, &old, err, sizeof err);
        bf__segment_close(&old);
        if (rc != BF_OK) fail(w, BF_OK, err); /* the data is written: report, go on */
    }
    return BF_OK;
}

/* With BF_WRITER_SYNC_SEAL: a sealed segment's pages and the directory entry reach the disk. */
static int make_sealed_durable(bf_writer *w, const bf_segment *s, char *err, size_t errlen) {
    if (!(w->opts.flags & BF_WRITER_SYNC_SEAL)) return BF_OK;
    if (fdatasync(s->fd) != 0 || fsync(w->dirfd) != 0) {
        bf__fmt(err, errlen, "cannot sync sealed segment %llu of %s: %s",
                (unsigned long long)s->hdr->segment_seq, w->dir, strerror(errno));
        return BF_EIO;
    }
    return BF_OK;
}

/* Truncates and unmaps a segment a roll left behind (called off the appending thread by
 * prepare_next, or at close). */
static int finish_retired(bf_writer *w) {
    pthread_mutex_lock(&w->mu);
    bf_segment r = w->retired;
    uint64_t used = w->retired_used;
    bf_segment none = BF_SEGMENT_NONE;
    w->retired = none;
    pthread_mutex_unlock(&w->mu);
    if (r.fd < 0) return BF_OK;
    char err[BF_ERR_MAX] = "";
    int rc = bf__segment_truncate(&r, used, w->dir, err, sizeof err);
    if (rc == BF_OK) rc = make_sealed_durable(w, &r, err, sizeof err);
    bf__segment_close(&r);
    return rc == BF_OK ? BF_OK : fail(w, rc, err);
}

/* Makes room for a record received at recv_ts_ns (0: unknown): rolls when the segment is
 * full or, with BF_WRITER_UTC_DAY_ROLL, when the record falls on a later UTC day. */
static int make_room(bf_writer *w, uint64_t recv_ts_ns) {
    int new_day = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) && recv_ts_ns != 0 &&
                  recv_ts_ns >= w->roll_at_ns;
    if (w->index < w->capacity && !new_day) return BF_OK;
    return roll(w, new_day ? recv_ts_ns : 0);
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
    finish_retired(w);
    pthread_mutex_lock(&w->mu);
    if (w->spare.fd >= 0) bf__segment_discard(w->dirfd, &w->spare);
    pthread_mutex_unlock(&w->mu);
    bf__segment_close(&w->cur);
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
    if (rc == BF_OK) {
        uint64_t now = bf__realtime_ns(), used = 0, seq = w->rec.newest_at_open + 1;
        int from_spare;
        rc = start_segment(w, seq, now, w->rec.next_first, &w->cur, &used, &from_spare, err,
                           sizeof err);
        if (rc == BF_OK) {
            w->seq = seq;
            set_current(w, used);
            end_segment_switch(w);
            rc = write_recovery_records(w);
            if (rc != BF_OK) bf__fmt(err, sizeof err, "%s", w->err);
        }
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
    if (w->cur.hdr) {
        publish(w);
        rc = bf__segment_seal(&w->cur, w->index, bf__realtime_ns(), w->dir, err, sizeof err);
        if (rc == BF_OK) rc = make_sealed_durable(w, &w->cur, err, sizeof err);
    }
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
    fill_symbol_slot(s, new_id, &w->syms.defs[new_id - 1], bf__realtime_ns());
    s->crc32c = bf__slot_crc(&w->crc, s);
    w->index++;
    publish(w);
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
    publish(w);
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
    publish(w);
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
    publish(w);
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

/* ------------------------------------------------------------------ rolls, sync, stats */

int bf_writer_prepare_next(bf_writer *w) {
    if (!w) return BF_EINVAL;
    int retired_rc = finish_retired(w);
    pthread_mutex_lock(&w->mu);
    if (w->spare.fd >= 0 || w->preparing) {
        pthread_mutex_unlock(&w->mu);
        return retired_rc;
    }
    w->preparing = 1;
    uint64_t seq = w->seq + 1;
    pthread_mutex_unlock(&w->mu);

    char err[BF_ERR_MAX] = "";
    bf_segment s = BF_SEGMENT_NONE;
    int rc = bf__segment_create_tmp(w->dirfd, w->dir, seq, w->opts.segment_slots,
                                    (w->opts.flags & BF_WRITER_PREFAULT) != 0, &s, err, sizeof err);
    pthread_mutex_lock(&w->mu);
    if (rc == BF_OK) w->spare = s;
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    if (rc != BF_OK) snprintf(w->err, sizeof w->err, "%s", err);
    pthread_mutex_unlock(&w->mu);
    return rc != BF_OK ? rc : retired_rc;
}

int bf_writer_sync(bf_writer *w) {
    if (!w) return BF_EINVAL;
    /* fdatasync of our own descriptor of the current file (on Linux it writes back the
     * shared mapping's dirty pages, as msync would), outside the lock: a roll meanwhile
     * never waits for the disk. */
    pthread_mutex_lock(&w->mu);
    int fd = w->cur.fd >= 0 ? dup(w->cur.fd) : -1;
    uint64_t seq = w->seq;
    pthread_mutex_unlock(&w->mu);
    if (fd < 0) return failf(w, BF_EIO, "cannot sync %s: %s", w->dir, strerror(errno));
    int rc = BF_OK;
    if (fdatasync(fd) != 0 || fsync(w->dirfd) != 0)
        rc = failf(w, BF_EIO, "cannot sync segment %llu of %s: %s", (unsigned long long)seq,
                   w->dir, strerror(errno));
    close(fd);
    return rc;
}

int bf_writer_roll(bf_writer *w) {
    if (!w) return BF_EINVAL;
    return roll(w, 0);
}

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
