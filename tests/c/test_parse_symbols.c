/* Symbol names through the parser (format version 2): a frame's "s" may be any name the
 * writer accepts (bf_writer_symbol): ASCII letters (case-insensitive, stored upper-case),
 * digits, '_', '-', '.', and valid non-ASCII UTF-8 kept as it is (Binance lists UTF-8
 * symbols such as "币安人生USDT"). On the fast path and on the yyjson path alike; the
 * envelope's stream name matches case-insensitively on the ASCII letters only; such a
 * symbol works with bf_parser_stream_lost and across a writer restart (duplicates are
 * still recognised). Names the writer refuses are refused by the parser (BF_ESYMBOL, see
 * test_parse_frames.c for the list). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
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

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    one_path(1);
    one_path(0);
    TEST_MAIN_END();
}
