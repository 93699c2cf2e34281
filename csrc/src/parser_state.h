/*
 * parser_state.h -- the bf_parser struct and what parse.c and parser.c share (private to
 * those two files; not public API, not the tests' hooks, which are parse_internal.h).
 *
 * parse.c   the per-frame pipeline: decode, subscribed set, sequence, append (the hot path)
 * parser.c  the handle: new (the queue's symbols, seeding after a restart), free, errors,
 *           stream_lost and the queries
 *
 * Everything a frame runs stays in parse.c, in one translation unit, so that the compiler
 * inlines the whole pipeline into one function; parser.c sets up and reads the state, and
 * sets the error message of both (bf__parser_fail, called only when a frame fails).
 */
#ifndef BF_PARSER_STATE_H
#define BF_PARSER_STATE_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "binfeed.h"
#include "parse_frame.h"
#include "parse_streams.h"

#define PARSER_ERROR_SIZE 256u
#define STREAM_NAME_SIZE 128u /* bf_parser_unsubscribed_stream, NUL included */
#define INITIAL_BUFFER (16u * 1024u)

struct bf_parser {
    bf_writer *writer;
    size_t max_frame;
    int keep_older; /* BF_PARSER_KEEP_OLDER: no duplicate drop */
    char *buf; /* private copy of the frame + YYJSON_PADDING_SIZE zero bytes */
    size_t buf_cap;
    void *arena; /* yyjson pool allocator memory */
    size_t arena_cap;
    locale_t c_locale; /* for the decimal slow path (strtod_l) */
    bf_streams streams;
    uint64_t symbols_loaded; /* writer symbol ids 1..symbols_loaded are in `streams` */
    bf_stream_entry *last_entry; /* entry of the last symbol seen (NULL after an insert) */
    char last_raw[BF_SYMBOL_MAX]; /* that symbol's bytes as the frame had them */
    size_t last_len;
    bf_parser_counters counters;
    int writer_failed; /* the last failure came from the writer (fatal), not the frame */
    int fast_path;     /* try parse_fast.c before yyjson (1 unless a test turns it off) */
    bf_fast_scratch fast_scratch; /* its decoded strings (the message's symbol may be here) */
    char error[PARSER_ERROR_SIZE];
    char unsubscribed[STREAM_NAME_SIZE]; /* the stream of the last BF_FRAME_UNSUBSCRIBED */
};

/* Sets the message of bf_parser_error and returns code: every error of the handle and of
 * the per-frame path (a cold call; the extension is built with hidden visibility, so it is
 * a direct one). Defined in parser.c. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int bf__parser_fail(bf_parser *p, int code, const char *fmt, ...);

/* Grows a buffer to at least `need` bytes (doubling), keeping nothing of its contents:
 * bf_parser_new sizes the frame buffer and the arena with it, a larger frame grows them. */
static inline int bf__parser_reserve(void **buf, size_t *cap, size_t need) {
    if (*cap >= need) return BF_OK;
    size_t cap2 = *cap ? *cap : INITIAL_BUFFER;
    while (cap2 < need) cap2 = cap2 > SIZE_MAX / 2 ? need : cap2 * 2;
    void *fresh = malloc(cap2);
    if (fresh == NULL) return BF_ENOMEM;
    free(*buf);
    *buf = fresh;
    *cap = cap2;
    return BF_OK;
}

#endif
