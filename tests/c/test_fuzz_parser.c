/* A bounded mutation fuzzer for the frame parser (see docs/fuzzing.md).
 *
 * Inputs: the real frames of tests/data/binance/excerpts plus hand-made bad, control and
 * UTF-8-symbol frames, mutated by byte flips (towards JSON's structural bytes and UTF-8
 * lead bytes), insertions, deletions, truncations, digit runs, splices of two frames and
 * characters rewritten as \u escapes (surrogate pairs beyond U+FFFF). For every input:
 *   1. differential decode: when the compact-form scanner (parse_fast.c) accepts a frame,
 *      yyjson's reference path must give the same message, bit for bit;
 *   2. two parsers, one with the fast path and one without, each over its own queue, must
 *      return the same result, and their queues must end up identical;
 *   3. a frame that is not stored (an error, a duplicate, a control or unstored message)
 *      writes nothing; a stored one writes its record (+ a GAP, + a new SYMBOL);
 *   4. every record read back passes its crc check and holds finite, non-negative prices
 *      and quantities and a defined symbol;
 *   5. a third parser ingests every input through bf_ingest_subscribed with a fixed set of
 *      accepted, pending and unsubscribed streams: its result must be the plain parser's for
 *      a stream the set accepts and for every frame that is not market data, PENDING or
 *      UNSUBSCRIBED (writing nothing) for the others, as an independent reading of the set
 *      says; at the end its queue must hold exactly the plain queue's records of the
 *      accepted streams.
 * The harness (tests/c/test_c_programs.py) runs it under -Werror and ASan+UBSan.
 * BINFEED_FUZZ_ITERATIONS (default 1000000) and BINFEED_FUZZ_SECONDS (default 20) bound it;
 * BINFEED_FUZZ_SEED picks the random sequence (default fixed, so runs repeat).
 *
 * Built with -DBF_LIBFUZZER (clang -fsanitize=fuzzer), the same checks 1, 3 and 5 (per
 * input) run from
 * LLVMFuzzerTestOneInput on libFuzzer's inputs instead.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bf_test.h"
#include "binfeed.h"
#include "parse_frame.h"
#include "parse_internal.h"
#include "utf8.h"

#define FUZZ_MAX_INPUT 4096

/* ------------------------------------------------------------ checks */

static locale_t c_locale;

static long fast_utf8, fast_escaped; /* scanner answers with a non-ASCII / escaped symbol */

/* yyjson's reference decode of a frame (in a static copy: msg->symbol points into it until
 * the next call). BF_OK or the frame's error. */
static int decode_reference(const char *data, size_t len, bf_msg *msg, char *err, size_t cap) {
    static char copy[FUZZ_MAX_INPUT + YYJSON_PADDING_SIZE];
    static char arena[FUZZ_MAX_INPUT * 16 + 4096];
    if (len > FUZZ_MAX_INPUT) return BF_ETOOBIG;
    memcpy(copy, data, len);
    memset(copy + len, 0, YYJSON_PADDING_SIZE);
    yyjson_alc alc;
    yyjson_alc_pool_init(&alc, arena, sizeof arena);
    yyjson_doc *doc = yyjson_read_opts(copy, len, YYJSON_READ_INSITU, &alc, NULL);
    if (doc == NULL) return BF_EJSON;
    return bf_frame_decode_json(yyjson_doc_get_root(doc), c_locale, msg, err, cap);
}

/* Check 1: the fast scanner agrees with yyjson whenever it answers. */
static void check_decoders_agree(const char *data, size_t len) {
    bf_msg fast;
    static bf_fast_scratch scratch; /* fast.symbol may point into it */
    if (!bf_frame_decode_fast(data, len, c_locale, &fast, &scratch)) return;
    for (size_t i = 0; i < fast.symbol_len; i++)
        if ((unsigned char)fast.symbol[i] >= 0x80) {
            fast_utf8++;
            break;
        }
    if (fast.symbol >= scratch.buf && fast.symbol < scratch.buf + BF_FAST_SCRATCH) fast_escaped++;
    if (len > FUZZ_MAX_INPUT) return;
    bf_msg ref;
    char err[256];
    int rc = decode_reference(data, len, &ref, err, sizeof err);
    int same = rc == BF_OK && fast.kind == ref.kind && fast.stream == ref.stream &&
               fast.seq == ref.seq && fast.timestamp_us == ref.timestamp_us &&
               fast.trade_ts_us == ref.trade_ts_us && fast.event_ts_us == ref.event_ts_us &&
               fast.trade_flags == ref.trade_flags && fast.symbol_len == ref.symbol_len &&
               memcmp(fast.values, ref.values, sizeof fast.values) == 0 &&
               (fast.symbol_len == 0 || memcmp(fast.symbol, ref.symbol, fast.symbol_len) == 0);
    if (!same) {
        fprintf(stderr, "fast and yyjson paths disagree (yyjson rc %d: %s) on: %.*s\n", rc,
                rc ? err : "", (int)len, data);
        bf_test_failures++;
        if (bf_test_failures > 20) abort();
    }
}

static int known_result(int rc, int subscribed) {
    if (subscribed && (rc == BF_FRAME_UNSUBSCRIBED || rc == BF_FRAME_PENDING)) return 1;
    return (rc >= BF_FRAME_BOOK_TICKER && rc <= BF_FRAME_SERVER_SHUTDOWN) || rc == BF_EJSON ||
           rc == BF_EFIELD || rc == BF_ENUMBER || rc == BF_EUNKNOWN || rc == BF_ETOOBIG ||
           rc == BF_ESYMBOL;
}

static uint64_t written(const bf_writer *w) {
    bf_writer_stats st;
    bf_writer_get_stats(w, &st);
    return st.records_written;
}

/* Check 3 for one parser, through bf_ingest_subscribed when `subs` is not NULL; returns
 * the result. */
static int ingest_checked(bf_parser *p, bf_writer *w, bf_subs *subs, const char *data,
                          size_t len, uint64_t recv, bf_ingest_info *info_out) {
    uint64_t before = written(w);
    bf_writer_stats st;
    bf_writer_get_stats(w, &st);
    uint64_t symbols_before = st.symbols;
    uint64_t segments_before = st.segments_created;
    bf_ingest_info info;
    int rc = subs ? bf_ingest_subscribed(p, subs, data, len, recv, &info)
                  : bf_ingest(p, data, len, recv, &info);
    if (info_out) *info_out = info;
    uint64_t delta = written(w) - before;
    bf_writer_get_stats(w, &st);
    uint64_t want = 0;
    if (rc == BF_FRAME_BOOK_TICKER || rc == BF_FRAME_TRADE)
        want = 1 + info.gaps + (st.symbols - symbols_before);
    /* a roll during the call adds the new segment's SYMBOL records */
    int rolled = st.segments_created != segments_before;
    if (!known_result(rc, subs != NULL) || info.kind != rc || (rolled ? delta < want : delta != want)) {
        fprintf(stderr, "ingest -> %d (%s): wrote %llu records, want %llu; frame: %.*s\n", rc,
                bf_parser_error(p), (unsigned long long)delta, (unsigned long long)want, (int)len,
                data);
        bf_test_failures++;
        if (bf_test_failures > 20) abort();
    }
    return rc;
}

/* ------------------------------------------------------------ check 5: subscriptions */

/* The fixed set of check 5: streams of the seeds' symbols in each state, one named in lower
 * case (the set matches ASCII letters in any case) and one subscribed then dropped. */
typedef struct {
    const char *symbol;
    uint32_t stream;
    uint32_t state;
} sub_entry;

static const sub_entry SUBS[] = {
    {"btcusdt", BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED},
    {"BTCUSDT", BF_STREAM_TRADE, BF_SUB_ACCEPTED},
    {"ETHUSDT", BF_STREAM_BOOK_TICKER, BF_SUB_PENDING},
    {"ETHUSDT", BF_STREAM_TRADE, BF_SUB_NONE},
    {"NKNUSDT", BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED},
    {"\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT", BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED},
    {"\xf0\x9f\x98\x80USDT", BF_STREAM_TRADE, BF_SUB_PENDING},
};
#define N_SUBS (sizeof SUBS / sizeof SUBS[0])

static bf_subs *subs_make(void) {
    bf_subs *s;
    if (bf_subs_new(&s) != BF_OK) abort();
    for (size_t i = 0; i < N_SUBS; i++) {
        uint32_t first = SUBS[i].state == BF_SUB_NONE ? BF_SUB_ACCEPTED : SUBS[i].state;
        int a = bf_subs_set(s, SUBS[i].symbol, strlen(SUBS[i].symbol), SUBS[i].stream, first);
        int b = bf_subs_set(s, SUBS[i].symbol, strlen(SUBS[i].symbol), SUBS[i].stream,
                            SUBS[i].state);
        if (a != (int)i || b != (int)i) abort(); /* indices follow the order of first setting */
    }
    return s;
}

static int ascii_same(const char *a, size_t alen, const char *b, size_t blen) {
    if (alen != blen) return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z') x = (char)(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z') y = (char)(y - 'a' + 'A');
        if (x != y) return 0;
    }
    return 1;
}

/* The set's entry of (symbol, stream), read from SUBS without bf_subs: index + 1, 0 if none. */
static uint32_t sub_index(const char *symbol, size_t len, uint32_t stream) {
    for (size_t i = 0; i < N_SUBS; i++)
        if (SUBS[i].stream == stream &&
            ascii_same(SUBS[i].symbol, strlen(SUBS[i].symbol), symbol, len))
            return (uint32_t)i + 1;
    return 0;
}

static long subs_results[3]; /* market data check 5 saw, by the set's BF_SUB_* state */

/* Check 5 for one input: `plain` is bf_ingest's result on it, `got` and `info` those of
 * bf_ingest_subscribed. */
static void check_subscribed(const char *data, size_t len, int plain, int got,
                             const bf_ingest_info *info) {
    int want = plain;
    uint32_t index = 0;
    int market = plain == BF_FRAME_BOOK_TICKER || plain == BF_FRAME_TRADE ||
                 plain == BF_FRAME_DUPLICATE;
    if (plain == BF_FRAME_UNSTORED) {
        want = BF_FRAME_UNSUBSCRIBED;
    } else if (market) {
        bf_msg msg;
        char err[256];
        if (decode_reference(data, len, &msg, err, sizeof err) != BF_OK) {
            want = -1000; /* the plain parser stored what yyjson refuses: report it */
        } else {
            index = sub_index(msg.symbol, msg.symbol_len, msg.stream);
            uint32_t state = index ? SUBS[index - 1].state : BF_SUB_NONE;
            want = state == BF_SUB_ACCEPTED ? plain
                   : state == BF_SUB_PENDING ? BF_FRAME_PENDING
                                             : BF_FRAME_UNSUBSCRIBED;
            subs_results[state]++;
        }
    }
    if (got != want || (market && info->subscription != index)) {
        fprintf(stderr,
                "subscribed parser -> %d (subscription %u), want %d (subscription %u; plain "
                "parser %d) on: %.*s\n",
                got, info->subscription, want, index, plain, (int)len, data);
        bf_test_failures++;
        if (bf_test_failures > 20) abort();
    }
}

#ifndef BF_LIBFUZZER

/* Opens a queue from the start, checksums verified; a failure is counted and reported. */
static int open_queue(bfr_reader *r, const char *dir) {
    if (bfr_open(r, dir, BFR_FROM_START | BFR_VERIFY_CRC) == BF_OK) return 1;
    fprintf(stderr, "bfr_open %s: %s\n", dir, r->error);
    bf_test_failures++;
    return 0;
}

/* Check 4 over a whole queue; fills a running hash of its records for comparison. */
static uint64_t check_queue(const char *dir, uint64_t *count) {
    bfr_reader r;
    uint64_t hash = 1469598103934665603ull, n = 0;
    *count = 0;
    if (!open_queue(&r, dir)) return 0;
    const bf_slot *s;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1) {
        n++;
        int ok = 1;
        if (s->type == BF_REC_BOOK_TICKER) {
            const bf_book_ticker *b = &s->body.book_ticker;
            ok = isfinite(b->bid_price) && isfinite(b->bid_qty) && isfinite(b->ask_price) &&
                 isfinite(b->ask_qty) && b->bid_price >= 0 && b->bid_qty >= 0 &&
                 b->ask_price >= 0 && b->ask_qty >= 0 && bfr_symbol(&r, b->symbol_id) != NULL;
        } else if (s->type == BF_REC_TRADE) {
            const bf_trade *t = &s->body.trade;
            ok = isfinite(t->price) && isfinite(t->qty) && t->price >= 0 && t->qty >= 0 &&
                 t->trade_id == s->seq && bfr_symbol(&r, t->symbol_id) != NULL &&
                 (t->flags & ~7u) == 0;
        } else if (s->type == BF_REC_GAP) {
            ok = s->body.gap.next_seq > s->body.gap.last_seq &&
                 bfr_symbol(&r, s->body.gap.symbol_id) != NULL;
        } else {
            ok = s->type == BF_REC_SYMBOL;
        }
        if (!ok) {
            fprintf(stderr, "%s: bad record %llu of type %u\n", dir, (unsigned long long)n,
                    s->type);
            bf_test_failures++;
        }
        /* FNV-1a over the slot without its checksum and receive time */
        const unsigned char *b = (const unsigned char *)s;
        for (size_t i = 4; i < sizeof *s; i++)
            if (i < 16 || i >= 24) hash = (hash ^ b[i]) * 1099511628211ull;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", dir, r.error);
        bf_test_failures++;
    }
    bfr_close(&r);
    *count = n;
    return hash;
}

/* Check 5 over whole queues: a hash of the market records (BOOK_TICKER, TRADE, GAP) by
 * symbol name rather than id, of every stream or only of those SUBS accepts. */
static uint64_t market_hash(const char *dir, int accepted_only, uint64_t *count) {
    bfr_reader r;
    uint64_t hash = 1469598103934665603ull, n = 0;
    *count = 0;
    if (!open_queue(&r, dir)) return 0;
    const bf_slot *s;
    while (bfr_next(&r, &s) == 1) {
        uint64_t fields[6] = {s->type, s->seq, 0, 0, 0, 0}, symbol_id;
        uint32_t stream;
        if (s->type == BF_REC_BOOK_TICKER) {
            const bf_book_ticker *b = &s->body.book_ticker;
            symbol_id = b->symbol_id;
            stream = BF_STREAM_BOOK_TICKER;
            fields[2] = b->timestamp;
            memcpy(&fields[3], &b->bid_price, 8);
            memcpy(&fields[4], &b->ask_price, 8);
            memcpy(&fields[5], &b->ask_qty, 8);
        } else if (s->type == BF_REC_TRADE) {
            const bf_trade *t = &s->body.trade;
            symbol_id = t->symbol_id;
            stream = BF_STREAM_TRADE;
            memcpy(&fields[2], &t->price, 8);
            memcpy(&fields[3], &t->qty, 8);
            fields[4] = t->trade_ts_us ^ (t->event_ts_us << 1);
            fields[5] = t->flags;
        } else if (s->type == BF_REC_GAP) {
            const bf_gap *g = &s->body.gap;
            symbol_id = g->symbol_id;
            stream = g->stream;
            fields[2] = g->reason;
            fields[3] = g->last_seq;
            fields[4] = g->next_seq;
        } else {
            continue;
        }
        const char *name = bfr_symbol(&r, symbol_id);
        size_t name_len = name ? strlen(name) : 0;
        if (accepted_only) {
            uint32_t i = name ? sub_index(name, name_len, stream) : 0;
            if (i == 0 || SUBS[i - 1].state != BF_SUB_ACCEPTED) continue;
        }
        const unsigned char *b = (const unsigned char *)fields;
        for (size_t i = 0; i < sizeof fields; i++) hash = (hash ^ b[i]) * 1099511628211ull;
        for (size_t i = 0; i < name_len; i++) hash = (hash ^ (unsigned char)name[i]) * 1099511628211ull;
        n++;
    }
    bfr_close(&r);
    *count = n;
    return hash;
}

/* ------------------------------------------------------------ inputs */

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

static const char *const EXTRA_SEEDS[] = {
    "{\"result\":null,\"id\":1}",
    "{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":7}",
    "{\"code\":1,\"msg\":\"x\"}",
    "{\"e\":\"serverShutdown\",\"E\":1}",
    "[{\"e\":\"24hrMiniTicker\",\"E\":1}]",
    "{\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"0.1\",\"B\":\"1\",\"a\":\"0.2\",\"A\":\"2\"}",
    "{\"stream\":\"ethusdt@bookTicker\",\"data\":{\"u\":12,\"s\":\"ETHUSDT\",\"b\":\"2600.1\",\"B\":"
    "\"1\",\"a\":\"2600.2\",\"A\":\"3\",\"E\":5}}",
    "{\"e\":\"trade\",\"E\":1,\"s\":\"ETHUSDT\",\"t\":9007199254740993,\"p\":"
    "\"0.00000000000000000000000001\",\"q\":\"123456789012345678901234\",\"T\":1,\"m\":false}",
    "{\"u\":18446744073709551615,\"s\":\"x-y_Z\",\"b\":\"9007199254740993\",\"B\":\"1.0\",\"a\":"
    "\"0\",\"A\":\"00.00\"}",
    "{\"u\":\"1\",\"s\":\"BTCUSDT\"}",
    "{\"u\":1,\"s\":\"BTC\\u0055SDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
    "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"stream\":1}}",
    "{\"u\":1,\"stream\":\"x\",\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
    /* UTF-8 symbols (Binance lists them since 2025-12): raw, \u-escaped, a surrogate pair,
     * mixed, in an envelope whose name is escaped differently from the symbol */
    "{\"stream\":\"\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fusdt@bookTicker\",\"data\":"
    "{\"u\":7,\"s\":\"\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT\",\"b\":\"0.5\",\"B\":\"1\","
    "\"a\":\"0.6\",\"A\":\"2\"}}",
    "{\"e\":\"trade\",\"E\":1764633600123,\"s\":\"\\u5e01\\u5B89\\u4eba\\u751fUSDT\",\"t\":5,"
    "\"p\":\"0.5\",\"q\":\"3\",\"T\":1764633600122,\"m\":true,\"M\":true}",
    "{\"stream\":\"\\ud83d\\ude00usdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1764633600123456,"
    "\"s\":\"\xf0\x9f\x98\x80USDT\",\"t\":6,\"p\":\"1\",\"q\":\"1\",\"T\":1764633600123400,\"m\":false}}",
    "{\"u\":8,\"s\":\"\xc3\x84\\u00e4x\\u002dY\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}",
};

static const char INTERESTING[] =
    "{}[]\":,\\0123456789.-+eE tfn\x00\xff\xc3\x80uUsbBaApqTtmM\xe5\xb8\xed\xa0\xf0\x9f" "dD8c";

/* Rewrites the character at `at` as a JSON escape: an ASCII one as \u00XX, a UTF-8 one as
 * \uXXXX or a surrogate pair (hex digits in either case). Returns the new length. */
static size_t escape_at(char *out, size_t len, size_t at) {
    const unsigned char *p = (const unsigned char *)out + at;
    unsigned cp;
    size_t n;
    if (p[0] >= 0x20 && p[0] < 0x7f && p[0] != '"' && p[0] != '\\') {
        cp = p[0];
        n = 1;
    } else if ((n = bf_utf8_sequence(p, len - at)) > 0) {
        cp = n == 2 ? (p[0] & 0x1Fu) : n == 3 ? (p[0] & 0x0Fu) : (p[0] & 0x07u);
        for (size_t i = 1; i < n; i++) cp = (cp << 6) | (p[i] & 0x3Fu);
    } else {
        return len;
    }
    char esc[16];
    const char *fmt = rnd() % 2 ? "\\u%04x" : "\\u%04X";
    int k;
    if (cp >= 0x10000) {
        char lo[8];
        snprintf(lo, sizeof lo, fmt, 0xDC00u + ((cp - 0x10000u) & 0x3FFu));
        k = snprintf(esc, sizeof esc, fmt, 0xD800u + ((cp - 0x10000u) >> 10));
        memcpy(esc + k, lo, 6);
        k += 6;
    } else {
        k = snprintf(esc, sizeof esc, fmt, cp);
    }
    if (len - n + (size_t)k > FUZZ_MAX_INPUT) return len;
    memmove(out + at + k, out + at + n, len - at - n);
    memcpy(out + at, esc, (size_t)k);
    return len - n + (size_t)k;
}

/* Rewrites the number after "u": or "t": with a sequence number that mostly rises (by 1
 * or a jump), sometimes repeats or goes back: stored records, gaps and duplicates. */
static size_t renumber(char *out, size_t len) {
    static uint64_t base = 10000000000000ull; /* above the seeds' own ids */
    for (size_t i = 0; i + 4 < len; i++) {
        if (out[i] != '"' || (out[i + 1] != 'u' && out[i + 1] != 't') || out[i + 2] != '"' ||
            out[i + 3] != ':')
            continue;
        size_t start = i + 4, end = start;
        while (end < len && out[end] >= '0' && out[end] <= '9') end++;
        unsigned step = (unsigned)(rnd() % 8);
        base += step < 5 ? 1 : step == 5 ? 0 : step == 6 ? 40 : (uint64_t)-2;
        char digits[24];
        int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)base);
        if (len - (end - start) + (size_t)n > FUZZ_MAX_INPUT) return len;
        memmove(out + start + n, out + end, len - end);
        memcpy(out + start, digits, (size_t)n);
        return len - (end - start) + (size_t)n;
    }
    return len;
}

static size_t mutate(const char *const *seeds, const size_t *lens, size_t n_seeds, char *out) {
    size_t a = (size_t)(rnd() % n_seeds);
    size_t len = lens[a] < FUZZ_MAX_INPUT ? lens[a] : FUZZ_MAX_INPUT;
    memcpy(out, seeds[a], len);
    if (rnd() % 3 == 0) return renumber(out, len); /* valid, or the seed's own error */
    unsigned rounds = 1 + (unsigned)(rnd() % 3);
    for (unsigned k = 0; k < rounds; k++) {
        size_t at = len ? (size_t)(rnd() % len) : 0;
        switch (rnd() % 10) {
        case 0: /* keep it valid-looking: bump a digit */
        case 1:
            for (size_t i = 0; i < len; i++) {
                size_t j = (at + i) % len;
                if (out[j] >= '0' && out[j] <= '9') {
                    out[j] = (char)('0' + rnd() % 10);
                    break;
                }
            }
            break;
        case 2: /* an interesting byte */
            if (len) out[at] = INTERESTING[rnd() % (sizeof INTERESTING - 1)];
            break;
        case 3: /* any byte */
            if (len) out[at] = (char)(rnd() & 0xff);
            break;
        case 4: /* truncate */
            len = at;
            break;
        case 5: /* delete a run */
            if (len) {
                size_t run = 1 + (size_t)(rnd() % 8);
                if (at + run > len) run = len - at;
                memmove(out + at, out + at + run, len - at - run);
                len -= run;
            }
            break;
        case 6: /* insert a byte */
            if (len < FUZZ_MAX_INPUT) {
                memmove(out + at + 1, out + at, len - at);
                out[at] = INTERESTING[rnd() % (sizeof INTERESTING - 1)];
                len++;
            }
            break;
        case 7: { /* splice: our prefix + another frame's suffix */
            size_t b = (size_t)(rnd() % n_seeds);
            size_t from = lens[b] ? (size_t)(rnd() % lens[b]) : 0;
            size_t take = lens[b] - from;
            if (at + take > FUZZ_MAX_INPUT) take = FUZZ_MAX_INPUT - at;
            memcpy(out + at, seeds[b] + from, take);
            len = at + take;
            break;
        }
        case 8: /* a character (or the first after `at` that can be) as an escape */
            for (size_t i = at; i < len && i < at + 8; i++) {
                size_t longer = escape_at(out, len, i);
                if (longer != len) {
                    len = longer;
                    break;
                }
            }
            break;
        default: /* duplicate a chunk */
            if (len && len < FUZZ_MAX_INPUT / 2) {
                size_t run = 1 + (size_t)(rnd() % 16);
                if (at + run > len) run = len - at;
                memmove(out + at + run, out + at, len - at);
                len += run;
            }
            break;
        }
    }
    return renumber(out, len);
}

static size_t load_seeds(char ***out, size_t **lens_out) {
    static const char *const FILES[] = {
        "bookTicker.jsonl", "trade.jsonl", "trade_legacy_pre2024-06_with_b_a.jsonl",
        "usdm_futures_bookTicker.jsonl", "usdm_futures_trade.jsonl", "aggTrade.jsonl",
        "depthUpdate.jsonl", "usdm_futures_depthUpdate.jsonl", "rest_depth_snapshot.jsonl",
    };
    const char *root = getenv("BINFEED_TEST_DATA");
    size_t n = 0, cap = 512;
    char **seeds = malloc(cap * sizeof *seeds);
    size_t *lens = malloc(cap * sizeof *lens);
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/binance/excerpts/%s", root ? root : "tests/data",
                 FILES[f]);
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
            fprintf(stderr, "cannot open %s (set BINFEED_TEST_DATA)\n", path);
            exit(2);
        }
        char *line = NULL;
        size_t line_cap = 0;
        ssize_t len;
        while ((len = getline(&line, &line_cap, fp)) > 0) {
            if (line[len - 1] == '\n') line[--len] = '\0';
            if (n == cap) {
                cap *= 2;
                seeds = realloc(seeds, cap * sizeof *seeds);
                lens = realloc(lens, cap * sizeof *lens);
            }
            seeds[n] = strdup(line);
            lens[n++] = (size_t)len;
        }
        free(line);
        fclose(fp);
    }
    for (size_t i = 0; i < sizeof EXTRA_SEEDS / sizeof EXTRA_SEEDS[0]; i++) {
        if (n == cap) {
            cap *= 2;
            seeds = realloc(seeds, cap * sizeof *seeds);
            lens = realloc(lens, cap * sizeof *lens);
        }
        seeds[n] = strdup(EXTRA_SEEDS[i]);
        lens[n++] = strlen(EXTRA_SEEDS[i]);
    }
    *out = seeds;
    *lens_out = lens;
    return n;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

int main(int argc, char **argv) {
    const char *scratch = argc > 1 ? argv[1] : ".";
    long iterations = env_long("BINFEED_FUZZ_ITERATIONS", 1000000);
    double budget = (double)env_long("BINFEED_FUZZ_SECONDS", 20);
    rng ^= (uint64_t)env_long("BINFEED_FUZZ_SEED", 0) * 0x9E3779B97F4A7C15ull;
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    char **seeds;
    size_t *lens;
    size_t n_seeds = load_seeds(&seeds, &lens);

    char dir_fast[1024], dir_slow[1024], dir_subs[1024], err[512];
    snprintf(dir_fast, sizeof dir_fast, "%s/fuzz-fast", scratch);
    snprintf(dir_slow, sizeof dir_slow, "%s/fuzz-json", scratch);
    snprintf(dir_subs, sizeof dir_subs, "%s/fuzz-subscribed", scratch);
    bf_writer_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.segment_slots = 1u << 14; /* several rolls per run */
    bf_writer *wf, *ws, *wsub;
    if (bf_writer_open(dir_fast, &opts, &wf, err, sizeof err) != BF_OK ||
        bf_writer_open(dir_slow, &opts, &ws, err, sizeof err) != BF_OK ||
        bf_writer_open(dir_subs, &opts, &wsub, err, sizeof err) != BF_OK) {
        fprintf(stderr, "writer: %s\n", err);
        return 2;
    }
    bf_parser_opts popts = {.max_frame = 2048}; /* some mutated frames exceed it: BF_ETOOBIG */
    bf_parser *pf, *ps, *psub;
    if (bf_parser_new(wf, &popts, &pf) != BF_OK || bf_parser_new(ws, &popts, &ps) != BF_OK ||
        bf_parser_new(wsub, &popts, &psub) != BF_OK)
        return 2;
    bf_parser_set_fast_path(ps, 0);
    bf_subs *subs = subs_make();

    static char input[FUZZ_MAX_INPUT];
    double start = seconds_now();
    long done = 0;
    long kinds[8] = {0}, errors = 0;
    for (; done < iterations; done++) {
        if (done % 1024 == 0 && seconds_now() - start > budget) break;
        size_t len = mutate((const char *const *)seeds, lens, n_seeds, input);
        check_decoders_agree(input, len);
        int a = ingest_checked(pf, wf, NULL, input, len, (uint64_t)done, NULL);
        int b = ingest_checked(ps, ws, NULL, input, len, (uint64_t)done, NULL);
        bf_ingest_info sub_info;
        int c = ingest_checked(psub, wsub, subs, input, len, (uint64_t)done, &sub_info);
        check_subscribed(input, len, a, c, &sub_info);
        if (a != b) {
            fprintf(stderr, "fast-path parser %d, yyjson parser %d on: %.*s\n", a, b, (int)len,
                    input);
            bf_test_failures++;
            if (bf_test_failures > 20) abort();
        }
        if (a >= 0 && a < 8) kinds[a]++;
        else errors++;
    }
    bf_parser_free(pf);
    bf_parser_free(ps);
    bf_parser_free(psub);
    bf_subs_free(subs);
    bf_writer_close(wf);
    bf_writer_close(ws);
    bf_writer_close(wsub);
    uint64_t nf, ns, nsub, na, nsub_market;
    uint64_t hf = check_queue(dir_fast, &nf), hs = check_queue(dir_slow, &ns);
    CHECK(nf == ns && hf == hs);
    check_queue(dir_subs, &nsub);
    uint64_t ha = market_hash(dir_fast, 1, &na), hsub = market_hash(dir_subs, 0, &nsub_market);
    CHECK(na == nsub_market && ha == hsub);
    printf("fuzz: %ld inputs in %.1f s: book %ld, trade %ld, duplicate %ld, unstored %ld, "
           "control %ld, shutdown %ld, errors %ld; %llu records\n",
           done, seconds_now() - start, kinds[1], kinds[2], kinds[3], kinds[4], kinds[5],
           kinds[6], errors, (unsigned long long)nf);
    printf("fuzz: subscribed parser: %ld accepted, %ld pending, %ld unsubscribed market data; "
           "%llu of the plain queue's market records were its accepted streams', %llu stored\n",
           subs_results[BF_SUB_ACCEPTED], subs_results[BF_SUB_PENDING],
           subs_results[BF_SUB_NONE], (unsigned long long)na,
           (unsigned long long)nsub_market);
    printf("fuzz: the scanner decoded %ld frames with a UTF-8 symbol, %ld with an escaped one\n",
           fast_utf8, fast_escaped);
    /* a fuzzer that never stores or never fails is not exploring */
    CHECK(kinds[1] > 0 && kinds[2] > 0 && kinds[3] > 0 && errors > 0);
    CHECK(fast_utf8 > 0 && fast_escaped > 0);
    CHECK(subs_results[BF_SUB_ACCEPTED] > 0 && subs_results[BF_SUB_PENDING] > 0 &&
          subs_results[BF_SUB_NONE] > 0 && na > 0);
    CHECK(done >= 1000);
    for (size_t i = 0; i < n_seeds; i++) free(seeds[i]);
    free(seeds);
    free(lens);
    freelocale(c_locale);
    TEST_MAIN_END();
}

#else /* BF_LIBFUZZER: clang -fsanitize=fuzzer */

/* Two queues, each in a directory of its own under /tmp: the plain parser's and the
 * subscribed parser's (check 5). */
static bf_writer *lf_writer, *lf_sub_writer;
static bf_parser *lf_parser, *lf_sub_parser;
static bf_subs *lf_subs;
static char lf_dir[64], lf_sub_dir[64];
static long lf_runs;

/* Removes the files of `dir` (a queue's segments and lock). */
static void lf_empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.')) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
}

static void lf_close(void) {
    if (lf_parser) bf_parser_free(lf_parser);
    if (lf_sub_parser) bf_parser_free(lf_sub_parser);
    if (lf_writer) bf_writer_close(lf_writer);
    if (lf_sub_writer) bf_writer_close(lf_sub_writer);
    bf_subs_free(lf_subs);
    lf_parser = lf_sub_parser = NULL;
    lf_writer = lf_sub_writer = NULL;
    lf_subs = NULL;
}

static void lf_open(char *dir, bf_writer **w, bf_parser **p) {
    if (dir[0]) { /* start over with an empty queue, so that the disk does not fill */
        lf_empty_dir(dir);
    } else {
        snprintf(dir, 64, "/tmp/binfeed-fuzz-XXXXXX");
        if (mkdtemp(dir) == NULL) abort();
    }
    char err[512];
    bf_writer_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.segment_slots = 1u << 14;
    if (bf_writer_open(dir, &opts, w, err, sizeof err) != BF_OK) abort();
    bf_parser_opts popts = {.max_frame = FUZZ_MAX_INPUT};
    if (bf_parser_new(*w, &popts, p) != BF_OK) abort();
}

static void lf_reset(void) {
    lf_close();
    lf_open(lf_dir, &lf_writer, &lf_parser);
    lf_open(lf_sub_dir, &lf_sub_writer, &lf_sub_parser);
    lf_subs = subs_make();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (c_locale == (locale_t)0) c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (lf_writer == NULL || ++lf_runs % 100000 == 0) lf_reset();
    const char *frame = (const char *)data;
    check_decoders_agree(frame, size);
    int plain = ingest_checked(lf_parser, lf_writer, NULL, frame, size, 1, NULL);
    bf_ingest_info info;
    int got = ingest_checked(lf_sub_parser, lf_sub_writer, lf_subs, frame, size, 1, &info);
    check_subscribed(frame, size, plain, got, &info);
    if (bf_test_failures) abort();
    return 0;
}

#endif
