// Compiled as C++17 by tests/c/test_reader_cpp.py: binfeed's headers work from C++ (the
// reader's std::atomic branch, extern "C" linkage of the C writer), and a queue written by
// the C writer reads back through the header-only reader compiled as C++.
#include "binfeed.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

static int failures = 0;
#define EXPECT(cond)                                                        \
    do {                                                                    \
        if (!(cond)) {                                                      \
            std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                     \
        }                                                                   \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    std::string dir = std::string(argv[1]) + "/q";
    char err[512];
    bf_writer *w = nullptr;
    bf_writer_opts opts = {64, 0, 0};
    EXPECT(bf_writer_open(dir.c_str(), &opts, &w, err, sizeof err) == BF_OK);
    if (!w) return 1;
    uint64_t id = 0;
    EXPECT(bf_writer_symbol(w, "ethusdt", 7, &id) == BF_OK && id == 1);
    for (int i = 0; i < 300; i++)
        EXPECT(bf_append_book_ticker(w, 1000 + i, 7 + i, 0, 2500.25 + i, 1.5, 2500.5 + i, 0.1,
                                     id) == BF_OK);
    EXPECT(bf_append_trade(w, 5000, 99, 2501.0, 0.2, 1, 2, BF_TRADE_F_BUYER_IS_MAKER, id) ==
           BF_OK);

    bfr_reader r;
    EXPECT(bfr_open(&r, dir.c_str(), BFR_FROM_START | BFR_VERIFY_CRC) == BF_OK);
    const bf_slot *s = nullptr;
    int books = 0, trades = 0, symbols = 0, wrong = 0, rc;
    while ((rc = bfr_next(&r, &s)) == 1) {
        if (s->type == BF_REC_SYMBOL) {
            symbols++;
        } else if (s->type == BF_REC_BOOK_TICKER) {
            if (s->body.book_ticker.bid_price != 2500.25 + books ||
                s->seq != static_cast<uint64_t>(7 + books) ||
                std::strcmp(bfr_symbol(&r, s->body.book_ticker.symbol_id), "ETHUSDT") != 0)
                wrong++;
            books++;
        } else if (s->type == BF_REC_TRADE) {
            trades++;
            EXPECT(s->body.trade.trade_id == 99 && s->body.trade.flags == 1);
        }
    }
    EXPECT(rc == 0 && wrong == 0 && books == 300 && trades == 1);
    EXPECT(symbols >= 5); // 64-slot segments: one SYMBOL record at the start of each
    bfr_position pos;
    bfr_tell(&r, &pos);
    EXPECT(pos.global_index == static_cast<uint64_t>(books + trades + symbols));
    int64_t pid = 0;
    EXPECT(bfr_writer_status(dir.c_str(), &pid) == 1 && pid > 0);
    EXPECT(bfr_wait(&r, &s, 1000000) == 0);
    EXPECT(bf_writer_close(w) == BF_OK);
    bfr_close(&r);
    EXPECT(bf_crc32c(0, "123456789", 9) == 0xE3069283u);
    EXPECT(std::strcmp(bf_status_message(BF_ELOCKED), "the queue is held by another writer") == 0);
    if (failures) return 1;
    std::puts("ok");
    return 0;
}
