/* Gap and duplicate detection of the parser (csrc/src/parse.c), read back from the queue:
 *   - trade ids: +1 is continuous, a jump writes GAP(SEQUENCE_JUMP) before the trade, an
 *     old or repeated id is a DUPLICATE that writes nothing;
 *   - bookTicker u: jumps are normal (no gap), u <= last is a DUPLICATE;
 *   - bf_parser_stream_lost: a pending gap written before the stream's next stored record,
 *     unless a trade id proves continuity; duplicates leave it pending;
 *   - writer restart: last seqs come back from the queue, WRITER_RESTART gaps;
 *   - batches stop at a writer error (a full disk) and mark the rest BF_ECLOSED.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "binfeed.h"
#include "parse_test_util.h"

static int book(bf_parser *p, const char *sym, uint64_t u, bf_ingest_info *info) {
    char f[512];
    snprintf(f, sizeof f,
             "{\"stream\":\"%s@bookTicker\",\"data\":{\"u\":%llu,\"s\":\"%s\",\"b\":\"1.5\",\"B\":"
             "\"2\",\"a\":\"1.6\",\"A\":\"3\"}}",
             sym, (unsigned long long)u, sym);
    return bf_ingest(p, f, strlen(f), 100 + u, info);
}

static int trade(bf_parser *p, const char *sym, uint64_t t, bf_ingest_info *info) {
    char f[512];
    snprintf(f, sizeof f,
             "{\"e\":\"trade\",\"E\":1,\"s\":\"%s\",\"t\":%llu,\"p\":\"10.25\",\"q\":\"0.5\","
             "\"T\":1,\"m\":false,\"M\":true}",
             sym, (unsigned long long)t);
    return bf_ingest(p, f, strlen(f), 200 + t, info);
}

typedef struct expect {
    uint16_t type;
    uint64_t seq;       /* record seq, or for a GAP its next_seq */
    uint32_t reason;    /* GAP only */
    uint64_t last_seq;  /* GAP only */
    uint32_t stream;    /* GAP only */
} expect;

static void check_records(const char *name, const expect *want, size_t n_want) {
    bf_slot *r;
    size_t n = read_records(name, &r);
    if (n != n_want) {
        fprintf(stderr, "%s: %zu records, want %zu\n", name, n, n_want);
        bf_test_failures++;
    }
    for (size_t i = 0; i < n && i < n_want; i++) {
        int ok = r[i].type == want[i].type;
        if (ok && want[i].type == BF_REC_GAP)
            ok = r[i].body.gap.next_seq == want[i].seq && r[i].body.gap.reason == want[i].reason &&
                 r[i].body.gap.last_seq == want[i].last_seq &&
                 r[i].body.gap.stream == want[i].stream && r[i].seq == 0;
        else if (ok)
            ok = r[i].seq == want[i].seq;
        if (!ok) {
            fprintf(stderr, "%s record %zu: type %u seq %llu", name, i, r[i].type,
                    (unsigned long long)r[i].seq);
            if (r[i].type == BF_REC_GAP)
                fprintf(stderr, " gap(reason %u, %llu -> %llu, stream %u)", r[i].body.gap.reason,
                        (unsigned long long)r[i].body.gap.last_seq,
                        (unsigned long long)r[i].body.gap.next_seq, r[i].body.gap.stream);
            fprintf(stderr, "; want type %u seq %llu\n", want[i].type,
                    (unsigned long long)want[i].seq);
            bf_test_failures++;
        }
    }
    free(r);
}

#define BT_REC(u) {BF_REC_BOOK_TICKER, (u), 0, 0, 0}
#define TR_REC(t) {BF_REC_TRADE, (t), 0, 0, 0}
#define GAP_REC(stream, reason, last, next) {BF_REC_GAP, (next), (reason), (last), (stream)}

static void test_trades_and_books(void) {
    bf_writer *w = open_writer("seq", 0);
    bf_parser *p = new_parser(w, 0);
    bf_ingest_info info;
    CHECK_RC(trade(p, "BTCUSDT", 100, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 0);
    CHECK_RC(trade(p, "BTCUSDT", 101, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 0);
    CHECK_RC(trade(p, "BTCUSDT", 105, &info), BF_FRAME_TRADE); /* 102..104 missing */
    CHECK(info.gaps == 1 && info.seq == 105);
    uint64_t before = records_written(w);
    CHECK_RC(trade(p, "BTCUSDT", 105, &info), BF_FRAME_DUPLICATE);
    CHECK(info.seq == 105 && info.symbol_id == 1 && info.stream == BF_STREAM_TRADE);
    CHECK_RC(trade(p, "BTCUSDT", 103, &info), BF_FRAME_DUPLICATE); /* late: not stored */
    CHECK(records_written(w) == before);
    CHECK_RC(trade(p, "btcusdt", 106, &info), BF_FRAME_TRADE); /* same symbol, any case */
    CHECK(info.symbol_id == 1 && info.gaps == 0);

    CHECK_RC(book(p, "BTCUSDT", 5000, &info), BF_FRAME_BOOK_TICKER);
    CHECK_RC(book(p, "BTCUSDT", 5017, &info), BF_FRAME_BOOK_TICKER); /* u jumps: normal */
    CHECK(info.gaps == 0);
    CHECK_RC(book(p, "BTCUSDT", 5017, &info), BF_FRAME_DUPLICATE);
    CHECK_RC(book(p, "BTCUSDT", 5001, &info), BF_FRAME_DUPLICATE);
    /* another symbol has its own state */
    CHECK_RC(book(p, "ETHUSDT", 3, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.symbol_id == 2);
    CHECK_RC(trade(p, "ETHUSDT", 100, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 0);

    /* stream lost: a bookTicker always gets the gap */
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, BF_STREAM_BOOK_TICKER, BF_GAP_DISCONNECTED), 1);
    CHECK_RC(book(p, "BTCUSDT", 5017, &info), BF_FRAME_DUPLICATE); /* overlap: still pending */
    CHECK_RC(book(p, "BTCUSDT", 5020, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.gaps == 1);
    CHECK_RC(book(p, "BTCUSDT", 5021, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.gaps == 0);
    /* a trade exactly last + 1 proves nothing was lost */
    CHECK_RC(bf_parser_stream_lost(p, "btcusdt", 7, BF_STREAM_TRADE, BF_GAP_STALLED), 1);
    CHECK_RC(trade(p, "BTCUSDT", 107, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 0);
    /* ... else one gap with the pending reason (not a second SEQUENCE_JUMP) */
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, BF_STREAM_TRADE, BF_GAP_SERVER_SHUTDOWN), 1);
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, BF_STREAM_TRADE, BF_GAP_DISCONNECTED), 1);
    CHECK_RC(trade(p, "BTCUSDT", 120, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 1);
    /* a stream of a known symbol with nothing stored yet: gap from "none known" (0) */
    CHECK_RC(bf_parser_stream_lost(p, "ETHUSDT", 7, BF_STREAM_BOOK_TICKER, BF_GAP_STALLED), 1);
    CHECK_RC(book(p, "ETHUSDT", 9, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.gaps == 1);
    /* a symbol defined through the writer, not yet seen by the parser */
    uint64_t sol = 0;
    CHECK_RC(bf_writer_symbol(w, "SOLUSDT", 7, &sol), BF_OK);
    CHECK_RC(bf_parser_stream_lost(p, "SOLUSDT", 7, BF_STREAM_TRADE, BF_GAP_DISCONNECTED), 1);
    CHECK_RC(trade(p, "SOLUSDT", 1, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 1 && info.symbol_id == sol);
    /* unknown symbols are ignored; bad arguments refused */
    CHECK_RC(bf_parser_stream_lost(p, "XRPUSDT", 7, BF_STREAM_TRADE, BF_GAP_DISCONNECTED), 0);
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, 9, BF_GAP_DISCONNECTED), BF_EINVAL);
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, BF_STREAM_TRADE, 0), BF_EINVAL);
    CHECK_RC(bf_parser_stream_lost(p, "BTCUSDT", 7, BF_STREAM_TRADE, 99), BF_EINVAL);
    CHECK_RC(bf_parser_stream_lost(p, "BTC/USDT", 8, BF_STREAM_TRADE, BF_GAP_STALLED), BF_ESYMBOL);
    CHECK_RC(bf_parser_stream_lost(NULL, "BTCUSDT", 7, BF_STREAM_TRADE, 2), BF_EINVAL);

    uint64_t last = 0;
    CHECK_RC(bf_parser_last_seq(p, 1, BF_STREAM_TRADE, &last), BF_OK);
    CHECK(last == 120);
    CHECK_RC(bf_parser_last_seq(p, 1, BF_STREAM_BOOK_TICKER, &last), BF_OK);
    CHECK(last == 5021);
    CHECK_RC(bf_parser_last_seq(p, 99, BF_STREAM_BOOK_TICKER, &last), BF_OK);
    CHECK(last == 0);
    CHECK_RC(bf_parser_last_seq(p, 1, 0, &last), BF_EINVAL);

    bf_parser_counters c;
    CHECK_RC(bf_parser_get_counters(p, &c), BF_OK);
    CHECK(c.trades == 8 && c.book_tickers == 6 && c.duplicates == 5 && c.gaps == 5);
    CHECK(c.errors == 0 && c.frames == 19);
    bf_parser_free(p);
    bf_writer_close(w);

    const expect want[] = {
        TR_REC(100), TR_REC(101),
        GAP_REC(BF_STREAM_TRADE, BF_GAP_SEQUENCE_JUMP, 101, 105), TR_REC(105),
        TR_REC(106), BT_REC(5000), BT_REC(5017), BT_REC(3), TR_REC(100),
        GAP_REC(BF_STREAM_BOOK_TICKER, BF_GAP_DISCONNECTED, 5017, 5020), BT_REC(5020),
        BT_REC(5021), TR_REC(107),
        GAP_REC(BF_STREAM_TRADE, BF_GAP_SERVER_SHUTDOWN, 107, 120), TR_REC(120),
        GAP_REC(BF_STREAM_BOOK_TICKER, BF_GAP_STALLED, 3, 9), BT_REC(9),
        GAP_REC(BF_STREAM_TRADE, BF_GAP_DISCONNECTED, 0, 1), TR_REC(1),
    };
    check_records("seq", want, sizeof want / sizeof want[0]);
}

/* A new writer on the same queue: what was stored is recognised, and the first new
 * record of each stream that had records gets a WRITER_RESTART gap unless it continues. */
static void test_restart(void) {
    bf_writer *w = open_writer("restart", 0);
    bf_parser *p = new_parser(w, 0);
    CHECK_RC(book(p, "BTCUSDT", 10, NULL), BF_FRAME_BOOK_TICKER);
    CHECK_RC(book(p, "BTCUSDT", 20, NULL), BF_FRAME_BOOK_TICKER);
    CHECK_RC(trade(p, "BTCUSDT", 7, NULL), BF_FRAME_TRADE);
    CHECK_RC(trade(p, "ETHUSDT", 50, NULL), BF_FRAME_TRADE);
    bf_parser_free(p);
    bf_writer_close(w);

    w = open_writer("restart", 0);
    p = new_parser(w, 0);
    bf_ingest_info info;
    uint64_t last = 0;
    CHECK_RC(bf_parser_last_seq(p, 1, BF_STREAM_BOOK_TICKER, &last), BF_OK);
    CHECK(last == 20);
    CHECK_RC(book(p, "BTCUSDT", 20, &info), BF_FRAME_DUPLICATE);
    CHECK_RC(trade(p, "BTCUSDT", 7, &info), BF_FRAME_DUPLICATE);
    CHECK_RC(book(p, "BTCUSDT", 25, &info), BF_FRAME_BOOK_TICKER);
    CHECK(info.gaps == 1);
    CHECK_RC(trade(p, "BTCUSDT", 8, &info), BF_FRAME_TRADE); /* continues: no gap */
    CHECK(info.gaps == 0);
    CHECK_RC(trade(p, "ETHUSDT", 60, &info), BF_FRAME_TRADE);
    CHECK(info.gaps == 1);
    CHECK_RC(book(p, "ETHUSDT", 1, &info), BF_FRAME_BOOK_TICKER); /* no book before: no gap */
    CHECK(info.gaps == 0);
    bf_parser_free(p);
    bf_writer_close(w);

    const expect want[] = {
        BT_REC(10), BT_REC(20), TR_REC(7), TR_REC(50),
        GAP_REC(BF_STREAM_BOOK_TICKER, BF_GAP_WRITER_RESTART, 20, 25), BT_REC(25), TR_REC(8),
        GAP_REC(BF_STREAM_TRADE, BF_GAP_WRITER_RESTART, 50, 60), TR_REC(60), BT_REC(1),
    };
    check_records("restart", want, sizeof want / sizeof want[0]);
}

/* A batch that hits a writer error (no space for the next segment) stops there. */
static void test_batch_writer_error(void) {
    bf_writer *w = open_writer("full", BF_MIN_SEGMENT_SLOTS);
    bf_parser *p = new_parser(w, 0);
    enum { N = 200 };
    static char buf[N * 256];
    size_t offsets[N + 1];
    int32_t results[N];
    offsets[0] = 0;
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(buf + offsets[i], 256,
                         "{\"u\":%zu,\"s\":\"BTCUSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":"
                         "\"1\"}",
                         i + 1);
        offsets[i + 1] = offsets[i] + (size_t)n;
    }
    /* Files may not grow past 4 KiB from now on: the current segment is mapped and already
     * sized, the next one cannot be created. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = bf_ingest_batch(p, buf, offsets, NULL, N, results);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc == BF_ENOSPC || rc == BF_EIO);
    size_t stored = 0, closed = 0, failed_at = N;
    for (size_t i = 0; i < N; i++) {
        if (results[i] == BF_FRAME_BOOK_TICKER) stored++;
        if (results[i] == rc && failed_at == N) failed_at = i;
        if (results[i] == BF_ECLOSED) closed++;
    }
    CHECK(failed_at < N && stored == failed_at && closed == N - failed_at - 1);
    CHECK(stored > 0 && stored < BF_MIN_SEGMENT_SLOTS);
    CHECK(strlen(bf_parser_error(p)) > 0);
    bf_parser_free(p);
    bf_writer_close(w);
}

/* BF_PARSER_KEEP_OLDER (binfeed import's default): older seqs are stored, going back writes
 * no gap, a forward jump after that still does; unknown flags are refused. */
static void test_keep_older(void) {
    bf_writer *w = open_writer("keep_older", 0);
    bf_parser_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = 0x80;
    bf_parser *p = NULL;
    CHECK_RC(bf_parser_new(w, &opts, &p), BF_EINVAL);
    CHECK(p == NULL);
    opts.flags = BF_PARSER_KEEP_OLDER;
    CHECK_RC(bf_parser_new(w, &opts, &p), BF_OK);
    bf_ingest_info info;
    CHECK_RC(trade(p, "BTCUSDT", 100, &info), BF_FRAME_TRADE);
    CHECK_RC(trade(p, "BTCUSDT", 100, &info), BF_FRAME_TRADE); /* same id again: kept */
    CHECK_RC(trade(p, "BTCUSDT", 50, &info), BF_FRAME_TRADE);  /* older: kept, no gap */
    CHECK(info.gaps == 0);
    CHECK_RC(trade(p, "BTCUSDT", 51, &info), BF_FRAME_TRADE);
    CHECK_RC(trade(p, "BTCUSDT", 60, &info), BF_FRAME_TRADE);  /* forward jump: gap */
    CHECK(info.gaps == 1);
    CHECK_RC(book(p, "BTCUSDT", 7, &info), BF_FRAME_BOOK_TICKER);
    CHECK_RC(book(p, "BTCUSDT", 3, &info), BF_FRAME_BOOK_TICKER);
    bf_parser_counters c;
    CHECK_RC(bf_parser_get_counters(p, &c), BF_OK);
    CHECK(c.duplicates == 0);
    /* per-stream figures: sized with cap 0, then filled; bad arguments refused */
    size_t total = 99;
    CHECK_RC(bf_parser_stream_stats(NULL, NULL, 0, &total), BF_EINVAL);
    CHECK_RC(bf_parser_stream_stats(p, NULL, 1, &total), BF_EINVAL);
    CHECK_RC(bf_parser_stream_stats(p, NULL, 0, NULL), BF_EINVAL);
    CHECK_RC(bf_parser_stream_stats(p, NULL, 0, &total), BF_OK);
    CHECK(total == 2);
    bf_stream_stat stats[2];
    memset(stats, 0xff, sizeof stats);
    CHECK_RC(bf_parser_stream_stats(p, stats, 1, &total), BF_OK); /* room for one only */
    CHECK(total == 2);
    CHECK_RC(bf_parser_stream_stats(p, stats, 2, &total), BF_OK);
    for (size_t i = 0; i < 2; i++) {
        if (stats[i].stream == BF_STREAM_TRADE) {
            CHECK(stats[i].stored == 5 && stats[i].last_seq == 60 && stats[i].last_recv_ns == 260);
            CHECK(stats[i].gaps == 1); /* the jump 51 -> 60 */
        } else {
            CHECK(stats[i].stream == BF_STREAM_BOOK_TICKER);
            CHECK(stats[i].stored == 2 && stats[i].last_seq == 3 && stats[i].last_recv_ns == 103);
            CHECK(stats[i].gaps == 0);
        }
        CHECK(stats[i].duplicates == 0 && stats[i].reserved == 0);
    }
    bf_parser_free(p);
    bf_writer_close(w);
    const expect want[] = {
        TR_REC(100), TR_REC(100), TR_REC(50), TR_REC(51),
        GAP_REC(BF_STREAM_TRADE, BF_GAP_SEQUENCE_JUMP, 51, 60), TR_REC(60),
        BT_REC(7), BT_REC(3),
    };
    check_records("keep_older", want, sizeof want / sizeof want[0]);
}

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    test_keep_older();
    test_trades_and_books();
    test_restart();
    test_batch_writer_error();
    TEST_MAIN_END();
}
