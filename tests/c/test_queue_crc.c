/* The writer's fast slot checksum (three interleaved CRC32C streams combined by shift
 * tables) equals the reference bf_slot_crc32c of binfeed_reader.h, with and without
 * SSE4.2, on random slots and on book tickers given by value. */
#include "queue_test_util.h"
#include "queue_internal.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static double rand_double(void) {
    uint64_t b = next_rand();
    double d;
    memcpy(&d, &b, 8);
    return d; /* any bit pattern, NaN included: the checksum does not care */
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    static bf_slot_crc hw, sw;
    bf__slot_crc_init(&hw);
    bf__slot_crc_init(&sw);
    sw.hw = 0;
    uint64_t mismatches = 0;
    for (int i = 0; i < 20000; i++) {
        bf_slot s;
        unsigned char *p = (unsigned char *)&s;
        for (size_t k = 0; k < sizeof s; k += 8) {
            uint64_t v = next_rand();
            memcpy(p + k, &v, 8);
        }
        if (i % 3 == 0) memset(p + 40, 0, 88); /* mostly-zero slots too */
        uint32_t ref = bf_slot_crc32c(&s, BF_SLOT_SIZE);
        uint32_t ref_sw = bf_crc32c_sw(0, p + 4, BF_SLOT_SIZE - 4);
        mismatches += ref != ref_sw;
        mismatches += bf__slot_crc(&hw, &s) != ref;
        mismatches += bf__slot_crc(&sw, &s) != ref;

        memset(&s, 0, sizeof s);
        s.type = BF_REC_BOOK_TICKER;
        s.seq = next_rand();
        s.recv_ts_ns = next_rand();
        s.body.book_ticker.timestamp = next_rand();
        s.body.book_ticker.bid_price = rand_double();
        s.body.book_ticker.bid_qty = rand_double();
        s.body.book_ticker.ask_price = rand_double();
        s.body.book_ticker.ask_qty = rand_double();
        s.body.book_ticker.symbol_id = next_rand();
        ref = bf_slot_crc32c(&s, BF_SLOT_SIZE);
        const bf_book_ticker *b = &s.body.book_ticker;
        mismatches += bf__slot_crc_book_ticker(&hw, s.seq, s.recv_ts_ns, b->timestamp,
                                               b->bid_price, b->bid_qty, b->ask_price,
                                               b->ask_qty, b->symbol_id) != ref;
        mismatches += bf__slot_crc_book_ticker(&sw, s.seq, s.recv_ts_ns, b->timestamp,
                                               b->bid_price, b->bid_qty, b->ask_price,
                                               b->ask_qty, b->symbol_id) != ref;
    }
    CHECK(mismatches == 0);
    /* unaligned starts and odd lengths agree between the two paths */
    unsigned char buf[300];
    for (size_t k = 0; k < sizeof buf; k++) buf[k] = (unsigned char)next_rand();
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 200; n += 7)
            mismatches += bf_crc32c(0, buf + off, n) != bf_crc32c_sw(0, buf + off, n);
    CHECK(mismatches == 0);
    TEST_MAIN_END();
}
