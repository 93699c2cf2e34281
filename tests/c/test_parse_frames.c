/* Frames -> records (csrc/src/parse*.c) against the real writer:
 *   - every shape of the real excerpts gives the record Binance's fields describe;
 *   - every class of bad frame returns its error code, names the field, writes nothing
 *     and leaves the parser usable, on the fast path and on the yyjson path alike;
 *   - known unstored messages, control replies and serverShutdown are classified;
 *   - max_frame, buffer reuse (the caller's buffer is never written), batches, NULLs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
#include "parse_internal.h"
#include "parse_test_util.h"

static double dec(const char *s) { return strtod(s, NULL); }

/* ------------------------------------------------------------ good frames */

static void test_good_shapes(void) {
    bf_writer *w = open_writer("good", 0);
    bf_parser *p = new_parser(w, 0);
    bf_ingest_info info;
    const char *spot_env = "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":50093239212,\"s\":"
                           "\"BTCUSDT\",\"b\":\"61837.63000000\",\"B\":\"3.78826000\",\"a\":"
                           "\"61837.64000000\",\"A\":\"1.54698000\"}}";
    const char *spot_raw = "{\"u\":50093239213,\"s\":\"BTCUSDT\",\"b\":\"61837.62000000\",\"B\":"
                           "\"1.00000000\",\"a\":\"61837.65000000\",\"A\":\"0.00100000\"}";
    /* whitespace and key order do not matter (the yyjson path) */
    const char *spot_spaced = "{ \"data\" : {\"A\":\"2\", \"a\":\"3\", \"B\":\"4\", \"b\":\"5\", "
                              "\"s\":\"BTCUSDT\", \"u\":50093239214},\n \"stream\":"
                              "\"btcusdt@bookTicker\" }";
    const char *fut = "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"e\":\"bookTicker\",\"u\":"
                      "5123107839020,\"s\":\"BTCUSDT\",\"b\":\"61800.20\",\"B\":\"2.507\",\"a\":"
                      "\"61800.30\",\"A\":\"2.510\",\"T\":1723161256313,\"E\":1723161256314}}";
    const char *trade = "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":"
                        "1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,\"p\":\"61837.63000000\","
                        "\"q\":\"0.02000000\",\"T\":1723161255342,\"m\":true,\"M\":true}}";
    const char *legacy = "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":"
                         "1680652800000,\"s\":\"BTCUSDT\",\"t\":3735683260,\"p\":\"28165.47000000\","
                         "\"q\":\"0.00056000\",\"b\":20720542158,\"a\":20720542592,\"T\":"
                         "1680652799999,\"m\":false,\"M\":true}}";
    const char *fut_trade = "{\"e\":\"trade\",\"E\":1723161256322,\"T\":1723161256321,\"s\":"
                            "\"ETHUSDT\",\"t\":5266583935,\"p\":\"2600.30\",\"q\":\"0.006\",\"X\":"
                            "\"MARKET\",\"m\":false}";
    CHECK_RC(bf_ingest(p, spot_env, strlen(spot_env), 1001, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.kind == BF_FRAME_BOOK_TICKER && info.stream == BF_STREAM_BOOK_TICKER);
    CHECK(info.symbol_id == 1 && info.seq == 50093239212ull && info.gaps == 0);
    CHECK_RC(bf_ingest(p, spot_raw, strlen(spot_raw), 1002, &info), BF_FRAME_BOOK_TICKER);
    CHECK_RC(bf_ingest(p, spot_spaced, strlen(spot_spaced), 1003, &info), BF_FRAME_BOOK_TICKER);
    CHECK_RC(bf_ingest(p, fut, strlen(fut), 1004, &info), BF_FRAME_BOOK_TICKER);
    CHECK_RC(bf_ingest(p, trade, strlen(trade), 1005, &info), BF_FRAME_TRADE);
    CHECK(info.stream == BF_STREAM_TRADE && info.seq == 3735683259ull && info.gaps == 0);
    CHECK_RC(bf_ingest(p, legacy, strlen(legacy), 1006, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 0); /* t = last + 1 */
    CHECK_RC(bf_ingest(p, fut_trade, strlen(fut_trade), 1007, &info), BF_FRAME_TRADE);
    CHECK(info.symbol_id == 2);
    bf_parser_free(p);
    bf_writer_close(w);

    bf_slot *r;
    size_t n = read_records("good", &r);
    CHECK(n == 7);
    if (n == 7) {
        const bf_book_ticker *b = &r[0].body.book_ticker;
        CHECK(r[0].type == BF_REC_BOOK_TICKER && r[0].seq == 50093239212ull);
        CHECK(r[0].recv_ts_ns == 1001 && b->timestamp == 0 && b->symbol_id == 1);
        CHECK(b->bid_price == dec("61837.63") && b->bid_qty == dec("3.78826"));
        CHECK(b->ask_price == dec("61837.64") && b->ask_qty == dec("1.54698"));
        b = &r[1].body.book_ticker;
        CHECK(r[1].seq == 50093239213ull && b->ask_qty == 0.001 && b->bid_qty == 1.0);
        b = &r[2].body.book_ticker;
        CHECK(b->bid_price == 5 && b->bid_qty == 4 && b->ask_price == 3 && b->ask_qty == 2);
        b = &r[3].body.book_ticker; /* futures: timestamp = E, milliseconds stored as us */
        CHECK(r[3].seq == 5123107839020ull && b->timestamp == 1723161256314000ull);
        CHECK(b->bid_price == dec("61800.20") && b->ask_qty == dec("2.510"));
        const bf_trade *t = &r[4].body.trade;
        CHECK(r[4].type == BF_REC_TRADE && r[4].seq == 3735683259ull && t->trade_id == r[4].seq);
        CHECK(t->price == dec("61837.63") && t->qty == dec("0.02"));
        /* exchange times are stored in microseconds: a millisecond T / E times 1000 */
        CHECK(t->trade_ts_us == 1723161255342000ull && t->event_ts_us == 1723161255343000ull);
        CHECK(t->flags == (BF_TRADE_F_BUYER_IS_MAKER | BF_TRADE_F_BEST_MATCH |
                           BF_TRADE_F_BEST_MATCH_KNOWN));
        t = &r[5].body.trade; /* legacy b/a ignored */
        CHECK(t->flags == (BF_TRADE_F_BEST_MATCH | BF_TRADE_F_BEST_MATCH_KNOWN));
        CHECK(t->price == dec("28165.47") && t->trade_ts_us == 1680652799999000ull);
        CHECK(t->event_ts_us == 1680652800000000ull);
        t = &r[6].body.trade; /* futures: no M */
        CHECK(t->flags == 0 && t->symbol_id == 2 && t->qty == dec("0.006"));
        CHECK(t->trade_ts_us == 1723161256321000ull && t->event_ts_us == 1723161256322000ull);
    }
    free(r);
}

/* Exchange times are stored in microseconds: a value below 10^14 is milliseconds (times
 * 1000), one at or above it is already microseconds (timeUnit=MICROSECOND) and is stored as
 * it is; on the fast path and on the yyjson path alike. */
static void test_time_units(void) {
    const char *frames[] = {
        /* a 16-digit microsecond trade (timeUnit=MICROSECOND) */
        "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1723161255343123,"
        "\"s\":\"BTCUSDT\",\"t\":100,\"p\":\"1.5\",\"q\":\"2\",\"T\":1723161255342456,"
        "\"m\":true,\"M\":true}}",
        /* the largest millisecond value, and the smallest microsecond one */
        "{\"e\":\"trade\",\"E\":100000000000000,\"s\":\"BTCUSDT\",\"t\":101,\"p\":\"1.5\","
        "\"q\":\"2\",\"T\":99999999999999,\"m\":false,\"M\":true}",
        /* a microsecond futures bookTicker E, and a millisecond one */
        "{\"e\":\"bookTicker\",\"u\":7,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\","
        "\"A\":\"1\",\"T\":1723161256313000,\"E\":1723161256314789}",
        "{\"e\":\"bookTicker\",\"u\":8,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\","
        "\"A\":\"1\",\"T\":1723161256313,\"E\":1723161256315}",
        /* a microsecond trade time with a millisecond event time: each judged alone */
        "{\"e\":\"trade\",\"E\":1723161255344,\"s\":\"BTCUSDT\",\"t\":102,\"p\":\"1.5\","
        "\"q\":\"2\",\"T\":1723161255342999,\"m\":false}",
    };
    const int kinds[] = {BF_FRAME_TRADE, BF_FRAME_TRADE, BF_FRAME_BOOK_TICKER,
                         BF_FRAME_BOOK_TICKER, BF_FRAME_TRADE};
    enum { N = sizeof frames / sizeof frames[0] };
    const char *names[2] = {"units-json", "units-fast"};
    for (int fast = 0; fast <= 1; fast++) {
        bf_writer *w = open_writer(names[fast], 0);
        bf_parser *p = new_parser(w, 0);
        bf_parser_set_fast_path(p, fast);
        for (size_t i = 0; i < N; i++) {
            int rc = bf_ingest(p, frames[i], strlen(frames[i]), 1 + i, NULL);
            if (rc != kinds[i]) {
                fprintf(stderr, "time units frame %zu (fast %d): %d, want %d (%s)\n", i, fast,
                        rc, kinds[i], bf_parser_error(p));
                bf_test_failures++;
            }
        }
        bf_parser_free(p);
        bf_writer_close(w);
        bf_slot *r;
        size_t n = read_records(names[fast], &r);
        CHECK(n == N);
        if (n == N) {
            CHECK(r[0].type == BF_REC_TRADE && r[0].seq == 100);
            CHECK(r[0].body.trade.trade_ts_us == 1723161255342456ull); /* stored as is */
            CHECK(r[0].body.trade.event_ts_us == 1723161255343123ull);
            CHECK(r[1].body.trade.trade_ts_us == 99999999999999000ull);
            CHECK(r[1].body.trade.event_ts_us == 100000000000000ull);
            CHECK(r[2].type == BF_REC_BOOK_TICKER &&
                  r[2].body.book_ticker.timestamp == 1723161256314789ull);
            CHECK(r[3].type == BF_REC_BOOK_TICKER &&
                  r[3].body.book_ticker.timestamp == 1723161256315000ull);
            CHECK(r[4].body.trade.trade_ts_us == 1723161255342999ull);
            CHECK(r[4].body.trade.event_ts_us == 1723161255344000ull);
        }
        free(r);
    }
}

/* Every line of the excerpts: stored ones give the expected kinds; the fast path and the
 * yyjson path store byte-identical slots. */
static void test_excerpts(void) {
    static const struct {
        const char *file;
        int kind;
    } FILES[] = {
        {"binance/excerpts/bookTicker.jsonl", BF_FRAME_BOOK_TICKER},
        {"binance/excerpts/trade.jsonl", BF_FRAME_TRADE},
        {"binance/excerpts/trade_legacy_pre2024-06_with_b_a.jsonl", BF_FRAME_TRADE},
        {"binance/excerpts/usdm_futures_bookTicker.jsonl", BF_FRAME_BOOK_TICKER},
        {"binance/excerpts/usdm_futures_trade.jsonl", BF_FRAME_TRADE},
        {"binance/excerpts/aggTrade.jsonl", BF_FRAME_UNSTORED},
        {"binance/excerpts/depthUpdate.jsonl", BF_FRAME_UNSTORED},
        {"binance/excerpts/usdm_futures_depthUpdate.jsonl", BF_FRAME_UNSTORED},
        {"binance/excerpts/rest_depth_snapshot.jsonl", BF_FRAME_UNSTORED},
    };
    for (size_t fi = 0; fi < sizeof FILES / sizeof FILES[0]; fi++) {
        char **lines;
        size_t n = read_lines(FILES[fi].file, &lines);
        CHECK(n > 0);
        char name_fast[64], name_slow[64];
        snprintf(name_fast, sizeof name_fast, "excerpt-fast-%zu", fi);
        snprintf(name_slow, sizeof name_slow, "excerpt-json-%zu", fi);
        bf_writer *wf = open_writer(name_fast, 0), *ws = open_writer(name_slow, 0);
        bf_parser *pf = new_parser(wf, 0), *ps = new_parser(ws, 0);
        bf_parser_set_fast_path(ps, 0);
        for (size_t i = 0; i < n; i++) {
            int a = bf_ingest(pf, lines[i], strlen(lines[i]), 7, NULL);
            int b = bf_ingest(ps, lines[i], strlen(lines[i]), 7, NULL);
            /* the futures excerpts repeat ids across symbols' streams: duplicates allowed */
            if ((a != FILES[fi].kind && a != BF_FRAME_DUPLICATE) || a != b) {
                fprintf(stderr, "%s line %zu: %d / %d (%s)\n", FILES[fi].file, i + 1, a, b,
                        bf_parser_error(pf));
                bf_test_failures++;
            }
        }
        bf_parser_counters c;
        bf_parser_get_counters(pf, &c);
        CHECK(c.frames == n && c.errors == 0);
        bf_parser_free(pf);
        bf_parser_free(ps);
        bf_writer_close(wf);
        bf_writer_close(ws);
        bf_slot *rf, *rs;
        size_t nf = read_records(name_fast, &rf), ns = read_records(name_slow, &rs);
        CHECK(nf == ns);
        for (size_t i = 0; i < nf && i < ns; i++)
            if (memcmp(&rf[i], &rs[i], sizeof rf[i]) != 0) {
                fprintf(stderr, "%s: record %zu differs between fast and yyjson paths\n",
                        FILES[fi].file, i);
                bf_test_failures++;
            }
        if (FILES[fi].kind == BF_FRAME_UNSTORED) CHECK(nf == 0);
        free(rf);
        free(rs);
        free_lines(lines, n);
    }
}

/* ------------------------------------------------------------ classified, unstored */

static void test_unstored_and_control(void) {
    static const struct {
        const char *frame;
        int kind;
    } CASES[] = {
        {"{\"result\":null,\"id\":1}", BF_FRAME_CONTROL},
        {"{\"result\":[\"btcusdt@bookTicker\"],\"id\":3}", BF_FRAME_CONTROL},
        {"{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":7}", BF_FRAME_CONTROL},
        {"{\"code\":1,\"msg\":\"Unknown property\"}", BF_FRAME_CONTROL},
        {"{\"e\":\"serverShutdown\",\"E\":1723161256313}", BF_FRAME_SERVER_SHUTDOWN},
        {"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"e\":\"serverShutdown\",\"E\":1}}",
         BF_FRAME_SERVER_SHUTDOWN},
        {"{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":1,\"s\":\"BTCUSDT\","
         "\"a\":1,\"p\":\"1\",\"q\":\"1\",\"f\":1,\"l\":1,\"T\":1,\"m\":true,\"M\":true}}",
         BF_FRAME_UNSTORED},
        {"{\"e\":\"kline\",\"E\":1,\"s\":\"BTCUSDT\",\"k\":{\"t\":1}}", BF_FRAME_UNSTORED},
        {"{\"e\":\"24hrMiniTicker\",\"E\":1,\"s\":\"BTCUSDT\",\"c\":\"1\"}", BF_FRAME_UNSTORED},
        {"{\"e\":\"avgPrice\",\"E\":1,\"s\":\"BTCUSDT\",\"w\":\"1m\",\"w\":\"1\"}",
         BF_FRAME_UNSTORED},
        {"{\"lastUpdateId\":160,\"bids\":[[\"0.0024\",\"10\"]],\"asks\":[[\"0.0026\",\"100\"]]}",
         BF_FRAME_UNSTORED},
        {"{\"stream\":\"btcusdt@depth5\",\"data\":{\"lastUpdateId\":1,\"bids\":[],\"asks\":[]}}",
         BF_FRAME_UNSTORED},
        {"[{\"e\":\"24hrMiniTicker\",\"E\":1,\"s\":\"BTCUSDT\"},{\"e\":\"24hrMiniTicker\",\"E\":1,"
         "\"s\":\"ETHUSDT\"}]",
         BF_FRAME_UNSTORED},
        {"{\"stream\":\"!miniTicker@arr\",\"data\":[{\"e\":\"24hrMiniTicker\",\"E\":1}]}",
         BF_FRAME_UNSTORED},
    };
    bf_writer *w = open_writer("classified", 0);
    bf_parser *p = new_parser(w, 0);
    uint64_t before = records_written(w);
    for (int fast = 1; fast >= 0; fast--) {
        bf_parser_set_fast_path(p, fast);
        for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
            bf_ingest_info info;
            int rc = bf_ingest(p, CASES[i].frame, strlen(CASES[i].frame), 5, &info);
            if (rc != CASES[i].kind || info.kind != rc || info.symbol_id != 0) {
                fprintf(stderr, "classify %s: %d, want %d (%s)\n", CASES[i].frame, rc,
                        CASES[i].kind, bf_parser_error(p));
                bf_test_failures++;
            }
        }
    }
    CHECK(records_written(w) == before);
    bf_parser_counters c;
    bf_parser_get_counters(p, &c);
    CHECK(c.control == 2 * 6 && c.unstored == 2 * 8 && c.errors == 0);
    bf_parser_free(p);
    bf_writer_close(w);
}

/* ------------------------------------------------------------ bad frames */

typedef struct bad_case {
    const char *frame;
    int code;
    const char *mention; /* a piece of the error message */
} bad_case;

#define BT(fields) "{\"stream\":\"btcusdt@bookTicker\",\"data\":{" fields "}}"
#define BT_OK_REST "\"s\":\"BTCUSDT\",\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\",\"A\":\"3\""
#define TR(fields) "{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\"," fields "}}"
#define TR_OK_REST "\"p\":\"1.5\",\"q\":\"2\",\"T\":2,\"m\":true"

static const bad_case BAD[] = {
    /* not JSON */
    {"", BF_EJSON, "empty"},
    {"{", BF_EJSON, "invalid JSON"},
    {"{\"u\":1,}", BF_EJSON, "invalid JSON"},
    {"{}x", BF_EJSON, "invalid JSON"},
    {"nul", BF_EJSON, "invalid JSON"},
    {"{\"u\":1e400}", BF_EJSON, "invalid JSON"},
    {"{\"s\":\"\xff\xfe\"}", BF_EJSON, "invalid JSON"},
    {"{\"u\":01}", BF_EJSON, "invalid JSON"},
    {"{\"u\":NaN}", BF_EJSON, "invalid JSON"},
    {"{\"u\":1 /* c */}", BF_EJSON, "invalid JSON"},
    /* not a Binance message */
    {"{}", BF_EUNKNOWN, "keys: none"},
    {"{\"x\":1,\"y\":2}", BF_EUNKNOWN, "\"x\""},
    {"{\"e\":\"fooEvent\",\"E\":1}", BF_EUNKNOWN, "fooEvent"},
    {"{\"result\":null}", BF_EUNKNOWN, "result"},
    {"[]", BF_EUNKNOWN, "empty"},
    {"[1,2]", BF_EUNKNOWN, "element 0"},
    {"[{\"e\":\"24hrMiniTicker\"},{\"e\":\"trade\"}]", BF_EUNKNOWN, "element 1"},
    {"\"bookTicker\"", BF_EUNKNOWN, "object"},
    {"123", BF_EUNKNOWN, "object"},
    {"null", BF_EUNKNOWN, "object"},
    {"{\"stream\":\"btcusdt@depth\",\"data\":{\"x\":1}}", BF_EUNKNOWN, "envelope"},
    /* envelope */
    {"{\"stream\":1,\"data\":{}}", BF_EFIELD, "stream"},
    {"{\"stream\":\"btcusdt@bookTicker\"}", BF_EFIELD, "data"},
    {"{\"stream\":\"btcusdt@bookTicker\",\"data\":\"x\"}", BF_EFIELD, "data"},
    {"{\"stream\":\"ethusdt@bookTicker\",\"data\":{\"u\":1," BT_OK_REST "}}", BF_EFIELD,
     "ethusdt@bookTicker"},
    {"{\"stream\":\"btcusdt@trade\",\"data\":{\"u\":1," BT_OK_REST "}}", BF_EFIELD, "stream"},
    {"{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"e\":\"trade\",\"E\":1,\"s\":\"BTCUSDT\","
     "\"t\":1," TR_OK_REST "}}",
     BF_EFIELD, "stream"},
    {"{\"stream\":\"btcusdtx@bookTicker\",\"data\":{\"u\":1," BT_OK_REST "}}", BF_EFIELD,
     "stream"},
    /* bookTicker fields */
    {BT("\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"u\""},
    {BT("\"u\":\"123\"," BT_OK_REST), BF_EFIELD, "\"u\""},
    {BT("\"u\":-1," BT_OK_REST), BF_EFIELD, "-1"},
    {BT("\"u\":1.5," BT_OK_REST), BF_EFIELD, "\"u\""},
    {BT("\"u\":1e3," BT_OK_REST), BF_EFIELD, "\"u\""},
    {BT("\"u\":18446744073709551616," BT_OK_REST), BF_EFIELD, "\"u\""},
    {BT("\"u\":null," BT_OK_REST), BF_EFIELD, "null"},
    {BT("\"u\":true," BT_OK_REST), BF_EFIELD, "true"},
    {BT("\"u\":1,\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"s\""},
    {BT("\"u\":1,\"s\":7,\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"s\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"b\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"B\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"A\":\"1\""), BF_EFIELD, "\"a\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\""), BF_EFIELD, "\"A\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":61837.63,\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_EFIELD, "61837.63"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":[],\"a\":\"1\",\"A\":\"1\""), BF_EFIELD,
     "array"},
    {BT("\"u\":1," BT_OK_REST ",\"E\":\"5\""), BF_EFIELD, "\"E\""},
    {"{\"e\":\"bookTicker\",\"s\":\"BTCUSDT\"}", BF_EFIELD, "\"u\""},
    {"{\"e\":7}", BF_EFIELD, "\"e\""},
    /* non-numeric prices and quantities */
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"-1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_ENUMBER,
     "\"-1\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1e5\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "1e5"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"\",\"A\":\"1\""), BF_ENUMBER,
     "\"a\""},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\".5\""), BF_ENUMBER,
     ".5"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"5.\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""), BF_ENUMBER,
     "5."},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"nan\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "nan"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"inf\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "inf"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1_0\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "1_0"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\" 1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, " 1"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"0x1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "0x1"},
    {BT("\"u\":1,\"s\":\"BTCUSDT\",\"b\":\"1\\u0000\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\""),
     BF_ENUMBER, "\"b\""},
    /* symbols */
    {"{\"u\":1,\"s\":\"BTC/USDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", BF_ESYMBOL,
     "BTC/USDT"},
    {"{\"u\":1,\"s\":\"\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", BF_ESYMBOL, "0 bytes"},
    {"{\"u\":1,\"s\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\","
     "\"A\":\"1\"}",
     BF_ESYMBOL, "33 bytes"},
    /* 33 bytes of valid UTF-8 (11 three-byte characters): too long (non-ASCII symbols are
     * allowed since format version 2, see test_parse_symbols.c) */
    {"{\"u\":1,\"s\":\"\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81"
     "\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\xe5\xb8\x81\",\"b\":\"1\",\"B\":\"1\","
     "\"a\":\"1\",\"A\":\"1\"}",
     BF_ESYMBOL, "33 bytes"},
    {"{\"u\":1,\"s\":\"BTC USDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", BF_ESYMBOL,
     "BTC USDT"},
    {"{\"u\":1,\"s\":\"BTC@USDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", BF_ESYMBOL,
     "BTC@USDT"},
    {"{\"u\":1,\"s\":\"BTC\\\"USDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"1\",\"A\":\"1\"}", BF_ESYMBOL,
     "symbol"},
    /* trade fields */
    {TR("\"s\":\"BTCUSDT\",\"t\":1," TR_OK_REST), BF_EFIELD, "\"E\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\"," TR_OK_REST), BF_EFIELD, "\"t\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":-5," TR_OK_REST), BF_EFIELD, "\"t\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"q\":\"2\",\"T\":2,\"m\":true"), BF_EFIELD, "\"p\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"T\":2,\"m\":true"), BF_EFIELD, "\"q\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"m\":true"), BF_EFIELD,
     "\"T\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":2"), BF_EFIELD, "\"m\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"2\",\"T\":2,\"m\":\"true\""),
     BF_EFIELD, "\"m\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1," TR_OK_REST ",\"M\":1"), BF_EFIELD, "\"M\""},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1,5\",\"q\":\"2\",\"T\":2,\"m\":true"),
     BF_ENUMBER, "1,5"},
    {TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"+2\",\"T\":2,\"m\":true"),
     BF_ENUMBER, "+2"},
};

static void test_bad_frames(void) {
    bf_writer *w = open_writer("bad", 0);
    bf_parser *p = new_parser(w, 0);
    const char *good = BT("\"u\":100," BT_OK_REST);
    size_t nbad = sizeof BAD / sizeof BAD[0];
    for (int fast = 1; fast >= 0; fast--) {
        bf_parser_set_fast_path(p, fast);
        for (size_t i = 0; i < nbad; i++) {
            uint64_t before = records_written(w);
            bf_ingest_info info;
            memset(&info, 0xAB, sizeof info);
            int rc = bf_ingest(p, BAD[i].frame, strlen(BAD[i].frame), 9, &info);
            const char *msg = bf_parser_error(p);
            if (rc != BAD[i].code || info.kind != rc || info.gaps != 0 ||
                records_written(w) != before || strstr(msg, BAD[i].mention) == NULL) {
                fprintf(stderr, "bad frame %zu %s\n  -> %d (want %d), wrote %llu, message: %s\n",
                        i, BAD[i].frame, rc, BAD[i].code,
                        (unsigned long long)(records_written(w) - before), msg);
                bf_test_failures++;
            }
        }
    }
    /* the parser is still usable, and nothing of the bad frames reached the queue */
    CHECK_RC(bf_ingest(p, good, strlen(good), 10, NULL), BF_FRAME_BOOK_TICKER);
    bf_parser_counters c;
    bf_parser_get_counters(p, &c);
    CHECK(c.errors == 2 * nbad && c.frames == 2 * nbad + 1 && c.book_tickers == 1);
    bf_parser_free(p);
    bf_writer_close(w);
    bf_slot *r;
    size_t n = read_records("bad", &r);
    CHECK(n == 1 && r[0].seq == 100);
    free(r);
}

/* ------------------------------------------------------------ limits and buffers */

static void test_limits_and_buffers(void) {
    bf_writer *w = open_writer("limits", 0);
    bf_parser *p = new_parser(w, 300);
    const char *good = BT("\"u\":1," BT_OK_REST);
    /* a frame over max_frame is refused before parsing, even if it is valid */
    char big[400];
    snprintf(big, sizeof big, "{\"u\":2,%s,\"pad\":\"%0250d\"}", BT_OK_REST, 0);
    uint64_t before = records_written(w);
    CHECK_RC(bf_ingest(p, big, strlen(big), 1, NULL), BF_ETOOBIG);
    CHECK(strstr(bf_parser_error(p), "max_frame") != NULL);
    CHECK(records_written(w) == before);
    bf_parser_free(p);

    /* buffers grow for a large frame and are reused; the caller's bytes stay untouched */
    p = new_parser(w, 0);
    size_t big_len = 600000;
    char *huge = malloc(big_len + 1);
    int n = snprintf(huge, big_len, "{\"stream\":\"btcusdt@depth\",\"data\":{\"e\":\"depthUpdate\","
                                    "\"E\":1,\"s\":\"BTCUSDT\",\"U\":1,\"u\":2,\"b\":[");
    size_t used = (size_t)n;
    while (used + 40 < big_len) used += (size_t)snprintf(huge + used, 40, "[\"1.5\",\"2.25\"],");
    memcpy(huge + used, "[\"1\",\"1\"]],\"a\":[]}}", 20);
    used += 19;
    huge[used] = '\0';
    char *copy = malloc(used + 1);
    memcpy(copy, huge, used + 1);
    CHECK_RC(bf_ingest(p, huge, used, 1, NULL), BF_FRAME_UNSTORED);
    CHECK(memcmp(copy, huge, used + 1) == 0);
    for (int i = 0; i < 3; i++) {
        char frame[256];
        snprintf(frame, sizeof frame, BT("\"u\":%d," BT_OK_REST), 10 + i);
        char frame_copy[256];
        memcpy(frame_copy, frame, sizeof frame);
        bf_parser_set_fast_path(p, i % 2);
        CHECK_RC(bf_ingest(p, frame, strlen(frame), 1, NULL), BF_FRAME_BOOK_TICKER);
        CHECK(memcmp(frame, frame_copy, sizeof frame) == 0);
    }
    /* a frame is only read up to len: a valid prefix followed by garbage */
    char prefixed[256];
    snprintf(prefixed, sizeof prefixed, "%sGARBAGE", BT("\"u\":20," BT_OK_REST));
    CHECK_RC(bf_ingest(p, prefixed, strlen(prefixed) - 7, 1, NULL), BF_FRAME_BOOK_TICKER);
    free(huge);
    free(copy);

    /* NULLs */
    bf_ingest_info info;
    CHECK_RC(bf_ingest(NULL, good, strlen(good), 1, &info), BF_EINVAL);
    CHECK(info.kind == BF_EINVAL);
    CHECK_RC(bf_ingest(p, NULL, 5, 1, &info), BF_EINVAL);
    bf_parser *none = NULL;
    CHECK_RC(bf_parser_new(NULL, NULL, &none), BF_EINVAL);
    CHECK(none == NULL);
    bf_parser_opts huge_opts = {.max_frame = (size_t)1 << 40};
    CHECK_RC(bf_parser_new(w, &huge_opts, &none), BF_EINVAL);
    bf_parser_counters c;
    CHECK_RC(bf_parser_get_counters(NULL, &c), BF_EINVAL);
    CHECK(strlen(bf_parser_error(NULL)) > 0);
    bf_parser_free(NULL);
    bf_parser_free(p);
    bf_writer_close(w);
}

static void test_batch(void) {
    bf_writer *w = open_writer("batch", 0);
    bf_parser *p = new_parser(w, 0);
    const char *frames[] = {
        BT("\"u\":1," BT_OK_REST),
        "{\"result\":null,\"id\":1}",
        BT("\"u\":\"x\"," BT_OK_REST),
        BT("\"u\":1," BT_OK_REST), /* duplicate */
        TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":5," TR_OK_REST),
        "",
        TR("\"E\":1,\"s\":\"BTCUSDT\",\"t\":7," TR_OK_REST), /* jump: gap + trade */
    };
    const int want[] = {BF_FRAME_BOOK_TICKER, BF_FRAME_CONTROL, BF_EFIELD, BF_FRAME_DUPLICATE,
                        BF_FRAME_TRADE, BF_EJSON, BF_FRAME_TRADE};
    enum { N = sizeof frames / sizeof frames[0] };
    char buf[4096];
    size_t offsets[N + 1];
    uint64_t recv[N];
    int32_t results[N];
    offsets[0] = 0;
    for (size_t i = 0; i < N; i++) {
        memcpy(buf + offsets[i], frames[i], strlen(frames[i]));
        offsets[i + 1] = offsets[i] + strlen(frames[i]);
        recv[i] = 1000 + i;
    }
    CHECK_RC(bf_ingest_batch(p, buf, offsets, recv, N, results), BF_OK);
    for (size_t i = 0; i < N; i++) CHECK(results[i] == want[i]);
    CHECK_RC(bf_ingest_batch(p, buf, offsets, NULL, 0, results), BF_OK);
    CHECK_RC(bf_ingest_batch(NULL, buf, offsets, recv, N, results), BF_EINVAL);
    bf_parser_free(p);
    bf_writer_close(w);
    bf_slot *r;
    size_t n = read_records("batch", &r);
    CHECK(n == 4);
    if (n == 4) {
        CHECK(r[0].type == BF_REC_BOOK_TICKER && r[0].recv_ts_ns == 1000);
        CHECK(r[1].type == BF_REC_TRADE && r[1].recv_ts_ns == 1004);
        CHECK(r[2].type == BF_REC_GAP && r[2].body.gap.reason == BF_GAP_SEQUENCE_JUMP);
        CHECK(r[2].body.gap.last_seq == 5 && r[2].body.gap.next_seq == 7);
        CHECK(r[3].type == BF_REC_TRADE && r[3].seq == 7 && r[3].recv_ts_ns == 1006);
    }
    free(r);
}

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    test_good_shapes();
    test_time_units();
    test_excerpts();
    test_unstored_and_control();
    test_bad_frames();
    test_limits_and_buffers();
    test_batch();
    TEST_MAIN_END();
}
