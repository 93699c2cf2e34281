/* A connection's subscribed set (binfeed.h, "MARK: - Subscriptions"), read back from the
 * queue: only accepted streams are stored; pending ones write nothing and count nowhere
 * until they come again; every other stream (another symbol, another kind of the same
 * symbol, a kind binfeed does not store, a refused stream) is UNSUBSCRIBED, writes nothing,
 * not even a SYMBOL record, and is named as Binance names it. Both front ends (the compact
 * scanner and yyjson) give the same verdicts. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "binfeed.h"
#include "parse_internal.h"
#include "parse_test_util.h"

static char frame[1024];

static const char *book(const char *sym, uint64_t u, int spaced) {
    snprintf(frame, sizeof frame,
             spaced ? "{\"stream\": \"%s@bookTicker\", \"data\": {\"u\": %llu, \"s\": \"%s\", "
                      "\"b\": \"1.5\", \"B\": \"2\", \"a\": \"1.6\", \"A\": \"3\"}}"
                    : "{\"stream\":\"%s@bookTicker\",\"data\":{\"u\":%llu,\"s\":\"%s\","
                      "\"b\":\"1.5\",\"B\":\"2\",\"a\":\"1.6\",\"A\":\"3\"}}",
             sym, (unsigned long long)u, sym);
    return frame;
}

static const char *raw_trade(const char *sym, uint64_t t) {
    snprintf(frame, sizeof frame,
             "{\"e\":\"trade\",\"E\":1,\"s\":\"%s\",\"t\":%llu,\"p\":\"10.25\",\"q\":\"0.5\","
             "\"T\":1,\"m\":false,\"M\":true}",
             sym, (unsigned long long)t);
    return frame;
}

static int in(bf_parser *p, bf_subs *s, const char *f, bf_ingest_info *info) {
    return bf_ingest_subscribed(p, s, f, strlen(f), 1000, info);
}

static uint64_t symbols_defined(const bf_writer *w) {
    bf_writer_stats st;
    return bf_writer_get_stats(w, &st) == BF_OK ? st.symbols : UINT64_MAX;
}

static void verdicts(int fast) {
    char name[32];
    snprintf(name, sizeof name, "q-verdicts-%d", fast);
    bf_writer *w = open_writer(name, 0);
    bf_parser *p = new_parser(w, 0);
    bf_parser_set_fast_path(p, fast);
    bf_subs *s = NULL;
    bf_ingest_info info;
    CHECK_RC(bf_subs_new(&s), BF_OK);
    CHECK_RC(bf_subs_set(s, "btcusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), 0);
    CHECK_RC(bf_subs_set(s, "ETHUSDT", 7, BF_STREAM_BOOK_TICKER, BF_SUB_PENDING), 1);
    CHECK_RC(bf_subs_set(s, "solusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_PENDING), 2);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "") == 0);

    /* accepted: stored, also with the symbol in another case */
    CHECK_RC(in(p, s, book("btcusdt", 1, !fast), &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.subscription == 1);
    CHECK_RC(in(p, s, book("BTCUSDT", 2, !fast), &info), BF_FRAME_BOOK_TICKER);
    CHECK(symbols_defined(w) == 1);

    /* pending: nothing written, not counted */
    bf_parser_counters c;
    bf_parser_get_counters(p, &c);
    uint64_t frames = c.frames;
    CHECK_RC(in(p, s, book("ethusdt", 10, !fast), &info), BF_FRAME_PENDING);
    CHECK(info.subscription == 2 && info.stream == BF_STREAM_BOOK_TICKER);
    bf_parser_get_counters(p, &c);
    CHECK(c.frames == frames && c.unsubscribed == 0);
    CHECK(symbols_defined(w) == 1);

    /* another symbol; another kind of a subscribed symbol; a kind binfeed does not store */
    CHECK_RC(in(p, s, book("xrpusdt", 5, !fast), &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(info.subscription == 0);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "xrpusdt@bookTicker") == 0);
    CHECK_RC(in(p, s, raw_trade("BTCUSDT", 7), &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "btcusdt@trade") == 0);
    const char *depth = "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"BNBBTC\",\"U\":1,\"u\":2,"
                        "\"b\":[],\"a\":[]}";
    CHECK_RC(in(p, s, depth, &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "bnbbtc@depthUpdate") == 0);
    const char *agg = "{\"stream\":\"btcusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",\"E\":1,"
                      "\"s\":\"BTCUSDT\",\"a\":1,\"p\":\"1\",\"q\":\"1\",\"f\":1,\"l\":1,"
                      "\"T\":1,\"m\":true,\"M\":true}}";
    CHECK_RC(in(p, s, agg, &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "btcusdt@aggTrade") == 0);
    const char *arr = "{\"stream\":\"!ticker@arr\",\"data\":[{\"e\":\"24hrTicker\"}]}";
    CHECK_RC(in(p, s, arr, &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "!ticker@arr") == 0);
    CHECK(symbols_defined(w) == 1);

    /* replies, events and errors pass as with bf_ingest; bad symbols are errors */
    CHECK_RC(in(p, s, "{\"result\":null,\"id\":1}", &info), BF_FRAME_CONTROL);
    CHECK_RC(in(p, s, "{\"e\":\"serverShutdown\",\"E\":1}", &info), BF_FRAME_SERVER_SHUTDOWN);
    CHECK_RC(in(p, s, "{\"u\":1}", &info), BF_EFIELD);
    CHECK_RC(in(p, s, book("bad sym", 1, 0), &info), BF_ESYMBOL);
    CHECK_RC(in(p, s, raw_trade("bad sym", 1), &info), BF_ESYMBOL);

    /* the reply: accepted, the held frame comes again and is stored; refused: unsubscribed */
    CHECK_RC(bf_subs_set(s, "ethusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), 1);
    CHECK_RC(in(p, s, book("ethusdt", 10, !fast), &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.subscription == 2);
    CHECK_RC(in(p, s, book("solusdt", 3, !fast), &info), BF_FRAME_PENDING);
    CHECK_RC(bf_subs_set(s, "solusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_NONE), 2);
    CHECK_RC(in(p, s, book("solusdt", 3, !fast), &info), BF_FRAME_UNSUBSCRIBED);
    CHECK(info.subscription == 3);
    CHECK(strcmp(bf_parser_unsubscribed_stream(p), "solusdt@bookTicker") == 0);

    bf_parser_get_counters(p, &c);
    CHECK(c.unsubscribed == 6);
    CHECK(c.book_tickers == 3);
    CHECK(c.frames == c.book_tickers + c.trades + c.duplicates + c.unstored + c.control +
                          c.errors + c.unsubscribed);
    CHECK(symbols_defined(w) == 2); /* BTCUSDT, ETHUSDT: nothing of the others */

    bf_slot *recs;
    size_t n = read_records(name, &recs);
    CHECK(n == 3);
    if (n == 3) CHECK(recs[0].seq == 1 && recs[1].seq == 2 && recs[2].seq == 10);
    free(recs);
    bf_subs_free(s);
    bf_parser_free(p);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Two connections' sets over one parser: each frame is judged by its own connection's. */
static void two_sets(void) {
    bf_writer *w = open_writer("q-two", 0);
    bf_parser *p = new_parser(w, 0);
    bf_subs *a = NULL, *b = NULL;
    CHECK_RC(bf_subs_new(&a), BF_OK);
    CHECK_RC(bf_subs_new(&b), BF_OK);
    CHECK_RC(bf_subs_set(a, "btcusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), 0);
    CHECK_RC(bf_subs_set(b, "ethusdt", 7, BF_STREAM_TRADE, BF_SUB_ACCEPTED), 0);
    CHECK_RC(in(p, a, book("btcusdt", 1, 0), NULL), BF_FRAME_BOOK_TICKER);
    CHECK_RC(in(p, b, book("btcusdt", 2, 0), NULL), BF_FRAME_UNSUBSCRIBED);
    CHECK_RC(in(p, b, raw_trade("ETHUSDT", 1), NULL), BF_FRAME_TRADE);
    CHECK_RC(in(p, a, raw_trade("ETHUSDT", 2), NULL), BF_FRAME_UNSUBSCRIBED);
    bf_subs_free(a);
    bf_subs_free(b);
    bf_parser_free(p);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Three symbols interleaved (more than the two the set remembers), in both cases, with
 * states changing in between: every verdict is the set's current one. */
static void interleaved(void) {
    bf_writer *w = open_writer("q-interleaved", 0);
    bf_parser *p = new_parser(w, 0);
    bf_subs *s = NULL;
    CHECK_RC(bf_subs_new(&s), BF_OK);
    const char *syms[] = {"aaausdt", "BBBUSDT", "cccusdt"};
    uint32_t states[] = {BF_SUB_ACCEPTED, BF_SUB_PENDING, BF_SUB_NONE};
    int want[] = {BF_FRAME_BOOK_TICKER, BF_FRAME_PENDING, BF_FRAME_UNSUBSCRIBED};
    for (int i = 0; i < 3; i++)
        CHECK_RC(bf_subs_set(s, syms[i], 7, BF_STREAM_BOOK_TICKER, states[i]), i);
    uint64_t u = 1;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 30; k++) {
            int i = (k * 7 + round) % 3, j = k % 2 ? i : (i + 1) % 3;
            char upper[8];
            for (int c = 0; c < 7; c++) upper[c] = (char)(syms[j][c] & ~0x20);
            upper[7] = '\0';
            CHECK_RC(in(p, s, book(k % 3 ? syms[j] : upper, u++, 0), NULL), want[j]);
        }
        /* rotate the states: the remembered symbols must not keep the old ones */
        uint32_t first = states[0];
        int first_want = want[0];
        for (int i = 0; i < 2; i++) {
            states[i] = states[i + 1];
            want[i] = want[i + 1];
        }
        states[2] = first;
        want[2] = first_want;
        for (int i = 0; i < 3; i++)
            CHECK_RC(bf_subs_set(s, syms[i], 7, BF_STREAM_BOOK_TICKER, states[i]), i);
    }
    bf_subs_free(s);
    bf_parser_free(p);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Many streams: the table grows, indexes stay, every lookup finds its own state. */
static void many(void) {
    bf_writer *w = open_writer("q-many", 0);
    bf_parser *p = new_parser(w, 0);
    bf_subs *s = NULL;
    CHECK_RC(bf_subs_new(&s), BF_OK);
    char sym[32];
    for (int i = 0; i < 1024; i++) {
        snprintf(sym, sizeof sym, "sym%dusdt", i);
        CHECK_RC(bf_subs_set(s, sym, strlen(sym), BF_STREAM_BOOK_TICKER,
                             i % 2 ? BF_SUB_ACCEPTED : BF_SUB_PENDING), i);
    }
    snprintf(sym, sizeof sym, "sym%dusdt", 7);
    CHECK_RC(bf_subs_set(s, sym, strlen(sym), BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), 7);
    for (int i = 0; i < 1024; i++) {
        bf_ingest_info info;
        snprintf(sym, sizeof sym, "SYM%dUSDT", i);
        int want = (i % 2 || i == 7) ? BF_FRAME_BOOK_TICKER : BF_FRAME_PENDING;
        CHECK_RC(in(p, s, book(sym, 1, 0), &info), want);
        CHECK(info.subscription == (uint32_t)i + 1);
    }
    CHECK_RC(bf_subs_set(s, "", 0, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), BF_ESYMBOL);
    CHECK_RC(bf_subs_set(s, "a b", 3, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED), BF_ESYMBOL);
    CHECK_RC(bf_subs_set(s, "btcusdt", 7, 0, BF_SUB_ACCEPTED), BF_EINVAL);
    CHECK_RC(bf_subs_set(s, "btcusdt", 7, BF_STREAM_COUNT + 1, BF_SUB_ACCEPTED), BF_EINVAL);
    CHECK_RC(bf_subs_set(s, "btcusdt", 7, BF_STREAM_TRADE, 3), BF_EINVAL);
    CHECK_RC(bf_subs_set(NULL, "btcusdt", 7, BF_STREAM_TRADE, BF_SUB_NONE), BF_EINVAL);
    CHECK_RC(bf_subs_new(NULL), BF_EINVAL);
    CHECK_RC(bf_ingest_subscribed(p, NULL, "{}", 2, 0, NULL), BF_EINVAL);
    bf_subs_free(NULL);
    bf_subs_free(s);
    bf_parser_free(p);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    verdicts(1);
    verdicts(0);
    two_sets();
    interleaved();
    many();
    TEST_MAIN_END();
}
