/* slot_crc.c -- the writer's slot checksum: CRC32C of slot bytes 4..127, computed as
 * three independent streams over bytes 4..39, 40..79 and 80..127 that run in parallel in
 * the CPU (the crc32 instruction has a latency of 3 cycles but a throughput of 1), then
 * combined by shifting the first two over the bytes that follow them:
 *   raw(A|B|C) = shift88(raw(~0, A)) ^ shift48(raw(0, B)) ^ raw(0, C)
 * where raw() is CRC32C without the final inversion and shiftN(x) = raw(x, N zero bytes),
 * which is linear in x, so four 256-entry tables per N give it. The result is identical
 * to bf_slot_crc32c() (checked by tests/c/test_queue_crc.c). */
#include "queue_internal.h"

#include <string.h>

#define SHIFT(t, x)                                                                        \
    ((t)[0][(x) & 0xffu] ^ (t)[1][((x) >> 8) & 0xffu] ^ (t)[2][((x) >> 16) & 0xffu] ^      \
     (t)[3][(x) >> 24])

/* raw CRC32C state x advanced over n zero bytes */
static uint32_t raw_shift(uint32_t x, size_t n) {
    static const unsigned char zeros[128];
    return ~bf_crc32c_sw(~x, zeros, n);
}

void bf__slot_crc_init(bf_slot_crc *c) {
    c->hw = bf_crc32c_hw_available();
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t x = b << (8 * k);
            c->shift88[k][b] = raw_shift(x, 88);
            c->shift48[k][b] = raw_shift(x, 48);
        }
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t bits(double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    return v;
}

#if BF_HAVE_CRC32C_HW
#define CRC64(c, v) __builtin_ia32_crc32di((c), (v))

__attribute__((target("sse4.2"))) static uint32_t slot_crc_hw(const bf_slot_crc *c,
                                                               const unsigned char *p) {
    unsigned long long a, b = 0, d = 0;
    uint32_t w;
    memcpy(&w, p + 4, 4);
    a = __builtin_ia32_crc32si(0xffffffffu, w);
    for (int i = 0; i < 4; i++) {
        a = CRC64(a, load64(p + 8 + 8 * i));
        b = CRC64(b, load64(p + 40 + 8 * i));
        d = CRC64(d, load64(p + 80 + 8 * i));
    }
    b = CRC64(b, load64(p + 72));
    d = CRC64(d, load64(p + 112));
    d = CRC64(d, load64(p + 120));
    uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;
    return ~(SHIFT(c->shift88, a32) ^ SHIFT(c->shift48, b32) ^ (uint32_t)d);
}

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
    uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;
    return ~(SHIFT(c->shift88, a32) ^ SHIFT(c->shift48, b32));
}
#endif

uint32_t bf__slot_crc(const bf_slot_crc *c, const bf_slot *slot) {
#if BF_HAVE_CRC32C_HW
    if (BF_LIKELY(c->hw)) return slot_crc_hw(c, (const unsigned char *)slot);
#endif
    (void)c;
    return bf_crc32c_sw(0, (const unsigned char *)slot + 4, BF_SLOT_SIZE - 4);
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
    memset(&s, 0, sizeof s);
    s.type = BF_REC_BOOK_TICKER;
    s.seq = seq;
    s.recv_ts_ns = recv_ts_ns;
    s.body.book_ticker.timestamp = timestamp;
    s.body.book_ticker.bid_price = bid_price;
    s.body.book_ticker.bid_qty = bid_qty;
    s.body.book_ticker.ask_price = ask_price;
    s.body.book_ticker.ask_qty = ask_qty;
    s.body.book_ticker.symbol_id = symbol_id;
    return bf__slot_crc(c, &s);
}
