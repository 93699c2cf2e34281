/* slot_crc.c -- the writer's slot checksums: the three-stream CRC32C of binfeed_reader.h
 * (bf_slot_crc32c_fast), and a BOOK_TICKER slot's checksum computed from its values before
 * the slot is written (the same three streams; bytes 72..127 are zero). The results are
 * identical to bf_slot_crc32c() (checked by tests/c/test_queue_crc.c). */
#include "queue_internal.h"

#include <string.h>

void bf__slot_crc_init(bf_slot_crc *c) { bf_slot_crc_tables_init(c); }

static inline uint64_t bits(double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    return v;
}

#if BF_HAVE_CRC32C_HW
#define CRC64(c, v) __builtin_ia32_crc32di((c), (v))

__attribute__((target("sse4.2"))) static uint32_t
book_ticker_crc_hw(const bf_slot_crc *c, uint64_t seq, uint64_t recv, uint64_t ts, double bp,
                   double bq, double ap, double aq, uint64_t sym) {
    unsigned long long a, b;
    a = __builtin_ia32_crc32si(0xffffffffu, BF_REC_BOOK_TICKER); /* type | flags << 16 */
    b = CRC64(0, bits(bq));
    a = CRC64(a, seq);
    b = CRC64(b, bits(ap));
    a = CRC64(a, recv);
    b = CRC64(b, bits(aq));
    a = CRC64(a, ts);
    b = CRC64(b, sym);
    a = CRC64(a, bits(bp));
    b = CRC64(b, 0);
    /* bytes 80..127 are zero: raw(0, zeros) == 0 */
    return bf_slot_crc_combine(c, (uint32_t)a, (uint32_t)b, 0);
}
#endif

uint32_t bf__slot_crc(const bf_slot_crc *c, const bf_slot *slot) {
    return bf_slot_crc32c_fast(c, slot, BF_SLOT_SIZE);
}

uint32_t bf__slot_crc_book_ticker(const bf_slot_crc *c, uint64_t seq, uint64_t recv_ts_ns,
                                  uint64_t timestamp, double bid_price, double bid_qty,
                                  double ask_price, double ask_qty, uint64_t symbol_id) {
#if BF_HAVE_CRC32C_HW
    if (BF_LIKELY(c->hw))
        return book_ticker_crc_hw(c, seq, recv_ts_ns, timestamp, bid_price, bid_qty, ask_price,
                                  ask_qty, symbol_id);
#endif
    bf_slot s;
    bf_slot_book_ticker(&s, recv_ts_ns, seq, timestamp, bid_price, bid_qty, ask_price, ask_qty,
                        symbol_id);
    return bf__slot_crc(c, &s);
}
