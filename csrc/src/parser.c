/* parser.c -- the bf_parser handle of binfeed.h ("MARK: - Parser"): new (the queue's
 * symbols, and after a writer restart each stream's last seq with a pending gap), free,
 * errors, the stream state set from outside the frames (bf_parser_stream_lost) and the
 * queries of what the frames left (last seq, stream stats, counters, the last unsubscribed
 * stream). Each frame's work is parse.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
#include "parse_internal.h"
#include "parse_resume.h"
#include "parse_streams.h"
#include "parser_state.h"
#include "writer_internal.h"

#define MAX_MAX_FRAME (1u << 30) /* max_frame above 1 GiB is refused (BF_EINVAL) */

int bf__parser_fail(bf_parser *p, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    return code;
}

/* Loads the writer's symbols not yet known to the parser (ids symbols_loaded+1 .. n). */
static int load_writer_symbols(bf_parser *p) {
    uint64_t count = bf__writer_symbol_count(p->writer);
    for (uint64_t id = p->symbols_loaded + 1; id <= count; id++) {
        const char *name = bf_writer_symbol_name(p->writer, id);
        bf_symkey key;
        bf_stream_entry *entry;
        p->symbols_loaded = id;
        p->last_entry = NULL; /* inserts may move entries */
        if (name == NULL || bf_symkey_make(name, strlen(name), &key) != BF_OK) continue;
        int rc = bf_streams_insert(&p->streams, &key, id, &entry);
        if (rc != BF_OK) return bf__parser_fail(p, rc, "out of memory loading the queue's symbols");
    }
    return BF_OK;
}

/* After a writer restart, every stream whose last record is found in the queue's newest
 * segments (parse_resume.h) gets that seq (so that frames stored before the restart are
 * recognised as duplicates) and a pending WRITER_RESTART gap (frames may have been missed
 * while no recorder ran). */
static int seed_after_restart(bf_parser *p) {
    uint64_t newest = bf__writer_newest_at_open(p->writer);
    if (newest == 0) return BF_OK;
    bf_resume found;
    int rc = bf_resume_scan(bf__writer_dir(p->writer), newest, &found, p->error,
                            sizeof p->error);
    if (rc != BF_OK) return rc;
    for (size_t i = 0; i < p->streams.capacity; i++) {
        bf_stream_entry *e = &p->streams.slots[i];
        if (e->symbol_id == 0) continue;
        for (uint32_t stream = 1; stream <= BF_STREAM_COUNT; stream++) {
            uint64_t seq;
            if (bf_resume_last_seq(&found, e->symbol_id, stream, &seq) != BF_OK) continue;
            bf_stream_state *st = &e->streams[stream - 1];
            st->last = seq;
            st->has_last = 1;
            st->pending_reason = BF_GAP_WRITER_RESTART;
        }
    }
    bf_resume_free(&found);
    return BF_OK;
}

int bf_parser_new(bf_writer *w, const bf_parser_opts *opts, bf_parser **out) {
    if (w == NULL || out == NULL) return BF_EINVAL;
    size_t max_frame = opts && opts->max_frame ? opts->max_frame : BF_DEFAULT_MAX_FRAME;
    if (max_frame > MAX_MAX_FRAME) return BF_EINVAL;
    if (opts != NULL && (opts->flags & ~BF_PARSER_KEEP_OLDER) != 0) return BF_EINVAL;
    bf_parser *p = calloc(1, sizeof *p);
    if (p == NULL) return BF_ENOMEM;
    p->writer = w;
    p->max_frame = max_frame;
    p->keep_older = opts != NULL && (opts->flags & BF_PARSER_KEEP_OLDER) != 0;
    p->fast_path = 1;
    p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    int rc = p->c_locale == (locale_t)0 ? BF_ENOMEM : BF_OK;
    if (rc == BF_OK) rc = bf__parser_reserve((void **)&p->buf, &p->buf_cap, INITIAL_BUFFER);
    if (rc == BF_OK) rc = bf__parser_reserve(&p->arena, &p->arena_cap, INITIAL_BUFFER * 4);
    if (rc == BF_OK) rc = load_writer_symbols(p);
    if (rc == BF_OK) rc = seed_after_restart(p);
    if (rc != BF_OK) {
        bf_parser_free(p);
        return rc;
    }
    *out = p;
    return BF_OK;
}

void bf_parser_free(bf_parser *p) {
    if (p == NULL) return;
    if (p->c_locale != (locale_t)0) freelocale(p->c_locale);
    bf_streams_free(&p->streams);
    free(p->buf);
    free(p->arena);
    free(p);
}

const char *bf_parser_error(const bf_parser *p) {
    return p == NULL ? "no parser (NULL)" : p->error;
}

int bf_parser_stream_lost(bf_parser *p, const char *symbol, size_t len, uint32_t stream,
                          uint32_t reason) {
    if (p == NULL) return BF_EINVAL;
    if (stream == 0 || stream > BF_STREAM_COUNT)
        return bf__parser_fail(p, BF_EINVAL, "stream_lost: unknown stream %u", stream);
    if (reason < BF_GAP_SEQUENCE_JUMP || reason > BF_GAP_SERVER_SHUTDOWN)
        return bf__parser_fail(p, BF_EINVAL, "stream_lost: unknown gap reason %u", reason);
    bf_symkey key;
    if (bf_symkey_make(symbol, len, &key) != BF_OK)
        return bf__parser_fail(p, BF_ESYMBOL, "stream_lost: invalid symbol name");
    bf_stream_entry *entry = bf_streams_find(&p->streams, &key);
    if (entry == NULL) { /* maybe defined through the writer directly since */
        int rc = load_writer_symbols(p);
        if (rc != BF_OK) return rc;
        entry = bf_streams_find(&p->streams, &key);
    }
    if (entry == NULL) return 0; /* unknown symbol: nothing of it was stored, nothing lost */
    bf_stream_state *st = &entry->streams[stream - 1];
    if (st->pending_reason == 0) st->pending_reason = (uint8_t)reason; /* the first cause wins */
    return 1;
}

int bf_parser_last_seq(const bf_parser *p, uint64_t symbol_id, uint32_t stream, uint64_t *out) {
    if (p == NULL || out == NULL) return BF_EINVAL;
    if (stream == 0 || stream > BF_STREAM_COUNT) return BF_EINVAL;
    const bf_stream_entry *entry = bf_streams_find_id(&p->streams, symbol_id);
    *out = entry && entry->streams[stream - 1].has_last ? entry->streams[stream - 1].last : 0;
    return BF_OK;
}

int bf_parser_stream_stats(const bf_parser *p, bf_stream_stat *out, size_t cap, size_t *total) {
    if (p == NULL || total == NULL || (out == NULL && cap > 0)) return BF_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < p->streams.capacity; i++) {
        const bf_stream_entry *e = &p->streams.slots[i];
        if (e->symbol_id == 0) continue;
        for (uint32_t s = 0; s < BF_STREAM_COUNT; s++) {
            const bf_stream_state *st = &e->streams[s];
            if (!st->has_last && st->duplicates == 0) continue;
            if (n < cap) {
                bf_stream_stat *o = &out[n];
                o->symbol_id = e->symbol_id;
                o->stream = s + 1;
                o->reserved = 0;
                o->stored = st->stored;
                o->duplicates = st->duplicates;
                o->last_seq = st->has_last ? st->last : 0;
                o->last_recv_ns = st->last_recv_ns;
                o->gaps = st->gaps;
            }
            n++;
        }
    }
    *total = n;
    return BF_OK;
}

int bf_parser_get_counters(const bf_parser *p, bf_parser_counters *out) {
    if (p == NULL || out == NULL) return BF_EINVAL;
    *out = p->counters;
    return BF_OK;
}

const char *bf_parser_unsubscribed_stream(const bf_parser *p) {
    return p == NULL ? "" : p->unsubscribed;
}

void bf_parser_set_fast_path(bf_parser *p, int enabled) {
    if (p != NULL) p->fast_path = enabled ? 1 : 0;
}
