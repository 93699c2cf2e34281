/* Symbol names through the parser (format version 2): a frame's "s" may be any name the
 * writer accepts (bf_writer_symbol): ASCII letters (case-insensitive, stored upper-case),
 * digits, '_', '-', '.', and valid non-ASCII UTF-8 kept as it is (Binance lists UTF-8
 * symbols such as "币安人生USDT"). On the fast path and on the yyjson path alike; the
 * envelope's stream name matches case-insensitively on the ASCII letters only; such a
 * symbol works with bf_parser_stream_lost and across a writer restart (duplicates are
 * still recognised). Names the writer refuses are refused by the parser (BF_ESYMBOL, see
 * test_parse_frames.c for the list).
 *
 * The fast scanner itself (parse_fast.c) takes "s" and the stream name raw (UTF-8) or
 * \uXXXX-escaped, surrogate pairs included, and decodes them to the bytes yyjson gives;
 * what is not well-formed (invalid UTF-8, a lone surrogate) it leaves to yyjson, which
 * refuses it. Raw and escaped spellings of one symbol are one symbol. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
#include "parse_frame.h"
#include "parse_internal.h"
#include "parse_test_util.h"

#define CJK "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9f" /* 币安人生, 12 bytes */

static const char *BT_RAW = "{\"u\":1,\"s\":\"" CJK "USDT\",\"b\":\"1.5\",\"B\":\"2\",\"a\":"
                            "\"1.6\",\"A\":\"3\"}";
static const char *BT_ENV = "{\"stream\":\"" CJK "usdt@bookTicker\",\"data\":{\"u\":2,\"s\":\""
                            CJK "USDT\",\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\",\"A\":\"3\"}}";
static const char *TR_LOWER = "{\"e\":\"trade\",\"E\":1723161255343,\"s\":\"" CJK "usdt\","
                              "\"t\":9,\"p\":\"1.5\",\"q\":\"2\",\"T\":1723161255342,\"m\":true}";
static const char *BT_DOT = "{\"u\":3,\"s\":\"bnb.x\",\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\","
                            "\"A\":\"3\"}";
/* the stream name differs from the symbol in a non-ASCII byte: not the same stream */
static const char *BT_ENV_OTHER = "{\"stream\":\"\xe5\xb8\x82\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9f"
                                  "usdt@bookTicker\",\"data\":{\"u\":4,\"s\":\"" CJK "USDT\","
                                  "\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\",\"A\":\"3\"}}";

static void one_path(int fast) {
    const char *name = fast ? "utf8-fast" : "utf8-json";
    bf_writer *w = open_writer(name, 0);
    bf_parser *p = new_parser(w, 0);
    bf_parser_set_fast_path(p, fast);
    bf_ingest_info info;
    int rc = bf_ingest(p, BT_RAW, strlen(BT_RAW), 1, &info);
    if (rc != BF_FRAME_BOOK_TICKER)
        fprintf(stderr, "fast %d: UTF-8 symbol refused: %d %s\n", fast, rc, bf_parser_error(p));
    CHECK_RC(rc, BF_FRAME_BOOK_TICKER);
    uint64_t id = info.symbol_id;
    CHECK(id == 1);
    CHECK(bf_writer_symbol_name(w, 1) && strcmp(bf_writer_symbol_name(w, 1), CJK "USDT") == 0);
    rc = bf_ingest(p, BT_ENV, strlen(BT_ENV), 2, &info);
    if (rc != BF_FRAME_BOOK_TICKER)
        fprintf(stderr, "fast %d: UTF-8 envelope refused: %d %s\n", fast, rc, bf_parser_error(p));
    CHECK_RC(rc, BF_FRAME_BOOK_TICKER);
    CHECK(info.symbol_id == id);
    CHECK_RC(bf_ingest(p, TR_LOWER, strlen(TR_LOWER), 3, &info), BF_FRAME_TRADE);
    CHECK(info.symbol_id == id); /* ASCII letters are case-insensitive */
    rc = bf_ingest(p, BT_DOT, strlen(BT_DOT), 4, &info);
    if (rc != BF_FRAME_BOOK_TICKER)
        fprintf(stderr, "fast %d: symbol with '.' refused: %d %s\n", fast, rc,
                bf_parser_error(p));
    CHECK_RC(rc, BF_FRAME_BOOK_TICKER);
    CHECK(info.symbol_id == 2);
    CHECK_RC(bf_ingest(p, BT_ENV_OTHER, strlen(BT_ENV_OTHER), 5, &info), BF_EFIELD);
    CHECK_RC(bf_parser_stream_lost(p, CJK "usdt", strlen(CJK "usdt"), BF_STREAM_TRADE,
                                   BF_GAP_DISCONNECTED),
             1);
    CHECK_RC(bf_parser_stream_lost(p, "\xff", 1, BF_STREAM_TRADE, BF_GAP_DISCONNECTED),
             BF_ESYMBOL);
    bf_parser_free(p);
    bf_writer_close(w);

    /* read back: the names as the writer stored them */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", scratch_dir, name);
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    const bf_slot *s;
    uint64_t bts = 0, trades = 0;
    while ((rc = bfr_next(&r, &s)) == 1) {
        bts += s->type == BF_REC_BOOK_TICKER;
        trades += s->type == BF_REC_TRADE;
    }
    CHECK(rc == 0 && bts == 3 && trades == 1);
    CHECK(bfr_symbol(&r, 1) && strcmp(bfr_symbol(&r, 1), CJK "USDT") == 0);
    CHECK(bfr_symbol(&r, 2) && strcmp(bfr_symbol(&r, 2), "BNB.X") == 0);
    bfr_close(&r);

    /* a restarted writer and a new parser: the UTF-8 symbol keeps its id and its last seq
     * (the same bookTicker again is a duplicate, a later one is stored) */
    w = open_writer(name, 0);
    p = new_parser(w, 0);
    bf_parser_set_fast_path(p, fast);
    uint64_t last = 0;
    CHECK_RC(bf_parser_last_seq(p, 1, BF_STREAM_BOOK_TICKER, &last), BF_OK);
    CHECK(last == 2);
    CHECK_RC(bf_ingest(p, BT_ENV, strlen(BT_ENV), 6, &info), BF_FRAME_DUPLICATE);
    const char *later = "{\"u\":3,\"s\":\"" CJK "USDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\","
                        "\"A\":\"1\"}";
    CHECK_RC(bf_ingest(p, later, strlen(later), 7, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.symbol_id == 1);
    bf_parser_free(p);
    bf_writer_close(w);
}

/* The fast scanner's decoding of one frame against yyjson's (the reference). */
static void same_as_yyjson(const char *frame, const char *want_symbol, size_t want_len) {
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    bf_fast_scratch scratch;
    bf_msg fast, ref;
    size_t len = strlen(frame);
    int handled = bf_frame_decode_fast(frame, len, loc, &fast, &scratch);
    if (!handled) fprintf(stderr, "fast scanner declined: %s\n", frame);
    CHECK(handled);
    char copy[1024 + YYJSON_PADDING_SIZE], err[256];
    memcpy(copy, frame, len);
    memset(copy + len, 0, YYJSON_PADDING_SIZE);
    yyjson_doc *doc = yyjson_read(copy, len, 0);
    CHECK(doc != NULL);
    CHECK_RC(bf_frame_decode_json(yyjson_doc_get_root(doc), loc, &ref, err, sizeof err), BF_OK);
    if (handled) {
        CHECK(fast.symbol_len == want_len && memcmp(fast.symbol, want_symbol, want_len) == 0);
        CHECK(ref.symbol_len == want_len && memcmp(ref.symbol, want_symbol, want_len) == 0);
        CHECK(fast.kind == ref.kind && fast.seq == ref.seq &&
              memcmp(fast.values, ref.values, sizeof fast.values) == 0);
    }
    yyjson_doc_free(doc);
    freelocale(loc);
}

/* Not of the fast form: the scanner declines, and yyjson refuses the frame (BF_EJSON). */
static void declined_and_refused(const char *frame) {
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    bf_fast_scratch scratch;
    bf_msg fast;
    int handled = bf_frame_decode_fast(frame, strlen(frame), loc, &fast, &scratch);
    if (handled) fprintf(stderr, "fast scanner accepted: %s\n", frame);
    CHECK(!handled);
    freelocale(loc);
    for (int fastpath = 0; fastpath <= 1; fastpath++) {
        bf_writer *w = open_writer(fastpath ? "bad-utf8-fast" : "bad-utf8-json", 0);
        bf_parser *p = new_parser(w, 0);
        bf_parser_set_fast_path(p, fastpath);
        uint64_t before = records_written(w);
        CHECK_RC(bf_ingest(p, frame, strlen(frame), 1, NULL), BF_EJSON);
        CHECK(records_written(w) == before);
        bf_parser_free(p);
        bf_writer_close(w);
    }
}

#define BOOK(sym) "{\"u\":1,\"s\":\"" sym "\",\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\",\"A\":\"3\"}"

static void fast_scanner(void) {
    /* raw UTF-8 (Binance's own form), escaped in upper- and lower-case hex, mixed */
    same_as_yyjson(BOOK(CJK "USDT"), CJK "USDT", 16);
    same_as_yyjson(BOOK("\\u5E01\\u5B89\\u4EBA\\u751FUSDT"), CJK "USDT", 16);
    same_as_yyjson(BOOK("\\u5e01\\u5b89\\u4eba\\u751fusdt"), CJK "usdt", 16);
    same_as_yyjson(BOOK("\xe5\xb8\x81\\u5b89\xe4\xba\xba\\u751fUSDT"), CJK "USDT", 16);
    /* a surrogate pair (U+1F600) and a 2-byte character (U+00C4), escaped and raw */
    same_as_yyjson(BOOK("\\ud83d\\ude00USDT"), "\xf0\x9f\x98\x80USDT", 8);
    same_as_yyjson(BOOK("\xf0\x9f\x98\x80USDT"), "\xf0\x9f\x98\x80USDT", 8);
    same_as_yyjson(BOOK("\\u00c4USDT"), "\xc3\x84USDT", 6);
    /* other escapes decode too (the parser then refuses the name, on both paths alike) */
    same_as_yyjson(BOOK("BTC\\/USDT\\n"), "BTC/USDT\n", 9);
    same_as_yyjson(BOOK("\\u0042TCUSDT"), "BTCUSDT", 7);
    /* the envelope's stream name, escaped, against a raw symbol */
    same_as_yyjson("{\"stream\":\"\\u5e01\\u5b89\\u4eba\\u751fusdt@bookTicker\",\"data\":"
                   BOOK(CJK "USDT") "}", CJK "USDT", 16);

    /* not well-formed: invalid UTF-8 (a stray byte, an overlong form, an encoded surrogate,
     * a cut sequence, above U+10FFFF), lone or reversed surrogates, a bad escape */
    declined_and_refused(BOOK("\xffUSDT"));
    declined_and_refused(BOOK("\xc0\xafUSDT"));
    declined_and_refused(BOOK("\xed\xa0\x80USDT"));
    declined_and_refused(BOOK("\xe5\xb8USDT"));
    declined_and_refused(BOOK("\xf4\x90\x80\x80USDT"));
    declined_and_refused(BOOK("\\ud83dUSDT"));
    declined_and_refused(BOOK("\\ude00USDT"));
    declined_and_refused(BOOK("\\ude00\\ud83dUSDT"));
    declined_and_refused(BOOK("\\u5e0gUSDT"));
    declined_and_refused(BOOK("\\xUSDT"));

    /* raw and escaped spellings are one symbol, one stream: the escaped frame of an update
     * already stored is a duplicate; longer than BF_SYMBOL_MAX bytes once decoded is
     * refused, also when the escapes do not fit the scanner's scratch (yyjson decides) */
    for (int fastpath = 0; fastpath <= 1; fastpath++) {
        bf_writer *w = open_writer(fastpath ? "escaped-fast" : "escaped-json", 0);
        bf_parser *p = new_parser(w, 0);
        bf_parser_set_fast_path(p, fastpath);
        bf_ingest_info info;
        const char *raw = BOOK(CJK "USDT");
        const char *esc = BOOK("\\u5e01\\u5b89\\u4eba\\u751fUSDT");
        CHECK_RC(bf_ingest(p, raw, strlen(raw), 1, &info), BF_FRAME_BOOK_TICKER);
        CHECK(info.symbol_id == 1);
        CHECK_RC(bf_ingest(p, esc, strlen(esc), 2, &info), BF_FRAME_DUPLICATE);
        CHECK(info.symbol_id == 1);
        char frame[2048], sym[1024] = "";
        for (int i = 0; i < 11; i++) strcat(sym, "\\u5e01"); /* 33 bytes decoded */
        snprintf(frame, sizeof frame, BOOK("%s"), sym);
        CHECK_RC(bf_ingest(p, frame, strlen(frame), 3, NULL), BF_ESYMBOL);
        CHECK(strstr(bf_parser_error(p), "33 bytes") != NULL);
        /* the message shows whole characters, never a cut one */
        const char *raw36 = BOOK(CJK CJK CJK);
        CHECK_RC(bf_ingest(p, raw36, strlen(raw36), 3, NULL), BF_ESYMBOL);
        if (strstr(bf_parser_error(p), "\"" CJK CJK "\xe5\xb8\x81\xe5\xae\x89\"... (36 bytes)") == NULL)
            fprintf(stderr, "message: %s\n", bf_parser_error(p));
        CHECK(strstr(bf_parser_error(p), "\"" CJK CJK "\xe5\xb8\x81\xe5\xae\x89\"... (36 bytes)") != NULL);
        sym[0] = '\0';
        for (int i = 0; i < 60; i++) strcat(sym, "\\u5e01"); /* 180 bytes: beyond the scratch */
        snprintf(frame, sizeof frame, BOOK("%s"), sym);
        CHECK_RC(bf_ingest(p, frame, strlen(frame), 4, NULL), BF_ESYMBOL);
        bf_parser_free(p);
        bf_writer_close(w);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    one_path(1);
    one_path(0);
    fast_scanner();
    TEST_MAIN_END();
}
