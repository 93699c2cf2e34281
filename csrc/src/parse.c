/* parse.c -- the frame parser of binfeed.h ("MARK: - Parser"): one call per frame parses,
 * normalizes, sequences and appends.
 *
 * Per frame, with no allocation in the steady state:
 *   1. refuse frames over max_frame (BF_ETOOBIG) without reading them;
 *   2. frames in Binance's compact wire form are scanned read-only by parse_fast.c (its
 *      few decoded escaped strings go to a small scratch buffer of the parser);
 *   3. any other frame is copied into the parser's private buffer, followed by
 *      YYJSON_PADDING_SIZE zero bytes (the caller's buffer is never parsed in place: it may
 *      be a Python bytes), and parsed by yyjson_read_opts(INSITU) with a pool allocator over
 *      the parser's arena; both are reused and grow only for a frame larger than any before;
 *   4. bf_fields_decode: classify and validate every field (parse_frame.c);
 *   5. with a connection's subscribed set (bf_ingest_subscribed): market data of a stream
 *      not accepted in it stops here, BF_FRAME_PENDING or BF_FRAME_UNSUBSCRIBED;
 *   6. sequence against the stream's state (duplicates, gaps) and append: the GAP and the
 *      record go out in one publish, so a reader never sees the gap without the record.
 * Steps 1-5 write nothing, so every frame error leaves the queue untouched. The first write
 * is a new symbol's SYMBOL record (bf_writer_symbol), once the frame is known good.
 * The handle (new, free, errors, stream_lost, the queries) is parser.c's; the struct both
 * files use is in parser_state.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <string.h>

#include "binfeed.h"
#include "parse_frame.h"
#include "parse_streams.h"
#include "parse_subs.h"
#include "parser_state.h"
#include "utf8.h"
#include "yyjson.h"

static int writer_fail(bf_parser *p, int code, const char *what) {
    p->writer_failed = 1;
    return bf__parser_fail(p, code, "%s: %s", what, bf_writer_error(p->writer));
}

/* Steps 2-4: JSON -> validated message. Writes nothing. */
static int decode(bf_parser *p, const char *frame, size_t len, bf_msg *msg) {
    if (len > p->max_frame)
        return bf__parser_fail(p, BF_ETOOBIG,
                               "frame of %zu bytes is larger than max_frame (%zu bytes)", len,
                               p->max_frame);
    if (len == 0) return bf__parser_fail(p, BF_EJSON, "empty frame: not JSON");
    if (p->fast_path && bf_frame_decode_fast(frame, len, p->c_locale, msg, &p->fast_scratch))
        return BF_OK;
    if (bf__parser_reserve((void **)&p->buf, &p->buf_cap, len + YYJSON_PADDING_SIZE) != BF_OK ||
        bf__parser_reserve(&p->arena, &p->arena_cap,
                           yyjson_read_max_memory_usage(len, YYJSON_READ_INSITU)) != BF_OK)
        return bf__parser_fail(p, BF_ENOMEM, "out of memory for a frame of %zu bytes", len);
    memcpy(p->buf, frame, len);
    memset(p->buf + len, 0, YYJSON_PADDING_SIZE);
    yyjson_alc alc;
    yyjson_alc_pool_init(&alc, p->arena, p->arena_cap);
    yyjson_read_err jerr;
    yyjson_doc *doc = yyjson_read_opts(p->buf, len, YYJSON_READ_INSITU, &alc, &jerr);
    if (doc == NULL) {
        if (jerr.code == YYJSON_READ_ERROR_MEMORY_ALLOCATION)
            return bf__parser_fail(p, BF_ENOMEM, "out of memory parsing a frame of %zu bytes", len);
        return bf__parser_fail(p, BF_EJSON, "invalid JSON at byte %zu of %zu: %s", jerr.pos, len,
                               jerr.msg ? jerr.msg : "?");
    }
    /* The document lives in the arena, re-initialised for the next frame: no free needed. */
    return bf_frame_decode_json(yyjson_doc_get_root(doc), p->c_locale, msg, p->error,
                                sizeof p->error);
}

/* The stream entry of a validated message's symbol, defining the symbol if new. */
/* An error path, out of line: the per-frame path around it stays small enough to inline. */
__attribute__((noinline, cold)) static int bad_symbol(bf_parser *p, const bf_msg *msg) {
    char shown[BF_SYMBOL_MAX + 1];
    size_t n = bf_utf8_printable(shown, sizeof shown, msg->symbol, msg->symbol_len);
    return bf__parser_fail(p, BF_ESYMBOL,
                           "symbol \"s\" must be 1 to %u bytes of UTF-8 (ASCII letters, "
                           "digits, '_', '-', '.' and non-ASCII letters), got \"%s\"%s "
                           "(%zu bytes)",
                           BF_SYMBOL_MAX, shown, msg->symbol_len > n ? "..." : "",
                           msg->symbol_len);
}

static int resolve_symbol(bf_parser *p, const bf_msg *msg, bf_stream_entry **out) {
    /* Frames of one symbol come in runs: the same bytes as last time, the same entry. */
    if (p->last_entry != NULL && msg->symbol_len == p->last_len &&
        memcmp(msg->symbol, p->last_raw, msg->symbol_len) == 0) {
        *out = p->last_entry;
        return BF_OK;
    }
    bf_symkey key;
    if (bf_symkey_make(msg->symbol, msg->symbol_len, &key) != BF_OK) return bad_symbol(p, msg);
    bf_stream_entry *entry = bf_streams_find(&p->streams, &key);
    if (entry == NULL) {
        uint64_t id = 0;
        int rc = bf_writer_symbol(p->writer, key.u.name, key.len, &id);
        if (rc == BF_ESYMBOL)
            return bf__parser_fail(p, rc, "symbol refused: %s", bf_writer_error(p->writer));
        if (rc != BF_OK) return writer_fail(p, rc, "defining a symbol");
        rc = bf_streams_insert(&p->streams, &key, id, &entry); /* may move entries */
        if (rc != BF_OK) {
            p->last_entry = NULL;
            return bf__parser_fail(p, rc, "out of memory adding symbol %s", key.u.name);
        }
    }
    memcpy(p->last_raw, msg->symbol, msg->symbol_len);
    p->last_len = msg->symbol_len;
    p->last_entry = entry;
    *out = entry;
    return BF_OK;
}

/* Appends the record, preceded by GAP(reason, last, seq) in the same publish if reason != 0. */
static int append_record(bf_parser *p, const bf_msg *msg, uint64_t symbol_id, uint64_t recv,
                         uint32_t gap_reason, uint64_t gap_last) {
    int rc;
    if (gap_reason == 0) {
        if (msg->stream == BF_STREAM_BOOK_TICKER)
            rc = bf_append_book_ticker(p->writer, recv, msg->seq, msg->timestamp_us,
                                       msg->values[0], msg->values[1], msg->values[2],
                                       msg->values[3], symbol_id);
        else
            rc = bf_append_trade(p->writer, recv, msg->seq, msg->values[0], msg->values[1],
                                 msg->trade_ts_us, msg->event_ts_us, msg->trade_flags, symbol_id);
    } else {
        bf_slot slots[2];
        bf_slot_gap(&slots[0], recv, symbol_id, msg->stream, gap_reason, gap_last, msg->seq);
        if (msg->stream == BF_STREAM_BOOK_TICKER)
            bf_slot_book_ticker(&slots[1], recv, msg->seq, msg->timestamp_us, msg->values[0],
                                msg->values[1], msg->values[2], msg->values[3], symbol_id);
        else
            bf_slot_trade(&slots[1], recv, msg->seq, msg->values[0], msg->values[1],
                          msg->trade_ts_us, msg->event_ts_us, msg->trade_flags, symbol_id);
        rc = bf_writer_append_many(p->writer, slots, 2);
    }
    if (rc != BF_OK) return writer_fail(p, rc, "appending a record");
    return BF_OK;
}

/* Names the stream of an unsubscribed message in p->unsubscribed: the envelope's name,
 * else symbol@event with the symbol's ASCII letters lower-cased, as in stream names. */
static void name_unsubscribed(bf_parser *p, const bf_msg *msg) {
    char *out = p->unsubscribed;
    size_t cap = sizeof p->unsubscribed - 1, n = 0;
    if (msg->envelope != NULL) {
        n = msg->envelope_len < cap ? msg->envelope_len : cap;
        memcpy(out, msg->envelope, n);
    } else {
        for (size_t i = 0; i < msg->symbol_len && n < cap; i++) {
            char c = msg->symbol[i];
            out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        if (n < cap) out[n++] = '@';
        for (size_t i = 0; i < msg->event_len && n < cap; i++) out[n++] = msg->event[i];
    }
    out[n] = '\0';
}

/* Step 5: the subscribed set's verdict on market data. BF_OK: store it. */
static int check_subscribed(bf_parser *p, bf_subs *s, const bf_msg *msg, bf_ingest_info *info) {
    int state = BF_SUB_NONE;
    uint32_t index = 0;
    if (msg->kind != BF_FRAME_UNSTORED) { /* a stored kind: its stream may be in the set */
        state = bf__subs_state(s, msg->symbol, msg->symbol_len, msg->stream, &index);
        if (state < 0) return bad_symbol(p, msg);
    }
    info->stream = msg->stream;
    info->subscription = index;
    if (state == BF_SUB_ACCEPTED) return BF_OK;
    if (state == BF_SUB_PENDING) return BF_FRAME_PENDING;
    name_unsubscribed(p, msg);
    return BF_FRAME_UNSUBSCRIBED;
}

/* Step 6 for market data: duplicates, gaps, append, state. */
static int store(bf_parser *p, const bf_msg *msg, uint64_t recv, bf_ingest_info *info) {
    bf_stream_entry *entry = NULL;
    int rc = resolve_symbol(p, msg, &entry);
    if (rc != BF_OK) return rc;
    bf_stream_state *st = &entry->streams[msg->stream - 1];
    uint64_t symbol_id = entry->symbol_id;
    info->stream = msg->stream;
    info->symbol_id = symbol_id;
    info->seq = msg->seq;
    int older = st->has_last && msg->seq <= st->last;
    if (older && !p->keep_older) {
        p->counters.duplicates++;
        st->duplicates++;
        return BF_FRAME_DUPLICATE;
    }
    uint32_t gap_reason = 0;
    int continuous = msg->stream == BF_STREAM_TRADE && st->has_last && msg->seq == st->last + 1;
    if (older) {
        /* kept on request (BF_PARSER_KEEP_OLDER): going back misses nothing */
    } else if (st->pending_reason != 0) {
        /* Frames may have been lost; only a trade id exactly last + 1 proves they were not.
         * bookTicker `u` jumps by design, so it never proves continuity. */
        if (!continuous) gap_reason = st->pending_reason;
    } else if (msg->stream == BF_STREAM_TRADE && st->has_last && !continuous) {
        gap_reason = BF_GAP_SEQUENCE_JUMP;
    }
    rc = append_record(p, msg, symbol_id, recv, gap_reason, st->has_last ? st->last : 0);
    if (rc != BF_OK) return rc;
    /* Re-find nothing: appends do not touch the stream table, so `st` is still valid. */
    st->last = msg->seq;
    st->has_last = 1;
    st->pending_reason = 0;
    st->stored++;
    st->last_recv_ns = recv;
    if (gap_reason != 0) {
        info->gaps = 1;
        p->counters.gaps++;
        st->gaps++;
    }
    if (msg->stream == BF_STREAM_BOOK_TICKER) {
        p->counters.book_tickers++;
        return BF_FRAME_BOOK_TICKER;
    }
    p->counters.trades++;
    return BF_FRAME_TRADE;
}

static int ingest_one(bf_parser *p, bf_subs *subs, const char *frame, size_t len,
                      uint64_t recv, bf_ingest_info *info) {
    bf_msg msg;
    p->writer_failed = 0;
    int rc = frame == NULL ? bf__parser_fail(p, BF_EINVAL, "frame is NULL")
                           : decode(p, frame, len, &msg);
    if (rc == BF_OK && subs != NULL && msg.kind != BF_FRAME_CONTROL &&
        msg.kind != BF_FRAME_SERVER_SHUTDOWN) {
        rc = check_subscribed(p, subs, &msg, info);
        if (rc == BF_FRAME_PENDING) { /* judged when it comes again: counted then */
            info->kind = rc;
            return rc;
        }
        if (rc == BF_FRAME_UNSUBSCRIBED) p->counters.unsubscribed++;
    }
    p->counters.frames++;
    if (rc == BF_OK) {
        switch (msg.kind) {
        case BF_FRAME_BOOK_TICKER:
        case BF_FRAME_TRADE: rc = store(p, &msg, recv, info); break;
        case BF_FRAME_UNSTORED: p->counters.unstored++; rc = msg.kind; break;
        default: p->counters.control++; rc = msg.kind; break; /* control, serverShutdown */
        }
    }
    if (rc < 0) p->counters.errors++;
    info->kind = rc;
    return rc;
}

int bf_ingest(bf_parser *p, const char *frame, size_t len, uint64_t recv_ts_ns,
              bf_ingest_info *info) {
    bf_ingest_info scratch;
    if (info == NULL) info = &scratch;
    memset(info, 0, sizeof *info);
    if (p == NULL) {
        info->kind = BF_EINVAL;
        return BF_EINVAL;
    }
    return ingest_one(p, NULL, frame, len, recv_ts_ns, info);
}

int bf_ingest_subscribed(bf_parser *p, bf_subs *s, const char *frame, size_t len,
                         uint64_t recv_ts_ns, bf_ingest_info *info) {
    bf_ingest_info scratch;
    if (info == NULL) info = &scratch;
    memset(info, 0, sizeof *info);
    if (p == NULL || s == NULL) {
        info->kind = BF_EINVAL;
        return BF_EINVAL;
    }
    return ingest_one(p, s, frame, len, recv_ts_ns, info);
}

int bf_ingest_batch(bf_parser *p, const char *buf, const size_t *offsets,
                    const uint64_t *recv_ts_ns, size_t n, int32_t *results) {
    if (p == NULL || results == NULL || (n > 0 && (buf == NULL || offsets == NULL)))
        return BF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (offsets[i + 1] < offsets[i]) {
            for (size_t j = i; j < n; j++) results[j] = BF_EINVAL;
            return bf__parser_fail(p, BF_EINVAL, "batch offsets decrease at frame %zu", i);
        }
        bf_ingest_info info;
        memset(&info, 0, sizeof info);
        int rc = ingest_one(p, NULL, buf + offsets[i], offsets[i + 1] - offsets[i],
                            recv_ts_ns ? recv_ts_ns[i] : 0, &info);
        results[i] = rc;
        if (rc < 0 && p->writer_failed) {
            for (size_t j = i + 1; j < n; j++) results[j] = BF_ECLOSED;
            return rc;
        }
    }
    return BF_OK;
}
