/*
 * binfeed_reader.h -- the binfeed queue file format (version 1), as a specification
 * and as a header-only reader for C11 and C++ (no dependency beyond libc and POSIX).
 *
 * This header is the single source of truth for the on-disk format. docs/format.md
 * repeats its tables; if the two disagree, this file wins and the doc is a bug.
 * Any change to a layout below bumps BF_FORMAT_VERSION in the same commit.
 *
 * Contents (in this order):
 *   MARK: - Status codes
 *   MARK: - Directory layout
 *   MARK: - Segment header
 *   MARK: - Slots and records
 *   MARK: - Memory ordering (the publish protocol)
 *   MARK: - Checksum (CRC32C)
 *   MARK: - Writer exclusion, rolls and recovery
 *   MARK: - Segment names and header validation
 *   MARK: - Reader API
 *
 * Copyright (c) 2026 the binfeed developers. MIT licence.
 */
#ifndef BINFEED_READER_H
#define BINFEED_READER_H

/* The reader needs POSIX (mmap, openat, fcntl) and Linux's open-file-description locks.
 * In strict C (-std=c11) define _GNU_SOURCE (or _POSIX_C_SOURCE=200809L) before any
 * #include, or include this header first: it then asks for the default feature set. */
#if !defined(__cplusplus) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && !defined(_XOPEN_SOURCE)
#define _DEFAULT_SOURCE 1
#endif

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the binfeed format is defined for little-endian hosts only"
#endif

/* Linux open-file-description locks (values from <linux/fcntl.h>), for libcs or feature
 * sets that do not expose them. */
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

#if defined(__cplusplus)
#include <atomic>
#define BF_ATOMIC(T) std::atomic<T>
#else
#include <stdatomic.h>
#define BF_ATOMIC(T) _Atomic(T)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================== */
/* MARK: - Status codes                                                        */
/* ========================================================================== */
/*
 * Every binfeed C function returns an int: 0 (BF_OK) or a positive value on success,
 * a negative BF_E* code on failure. bf_status_message(code) gives a constant message;
 * handles also keep a detailed message of their last error (see each API).
 */
#define BF_OK 0
#define BF_EINVAL -1     /* an argument is invalid (NULL handle, bad option, NaN price) */
#define BF_ENOMEM -2     /* memory allocation failed */
#define BF_EIO -3        /* a system call failed; the detailed message names it and errno */
#define BF_ENOSPC -4     /* no space left to create a segment (ENOSPC, EFBIG, EDQUOT) */
#define BF_ELOCKED -5    /* another live writer holds the queue */
#define BF_ECORRUPT -6   /* a segment header or file is not valid binfeed data */
#define BF_EVERSION -7   /* written by a newer binfeed format than this code understands */
#define BF_ENOTFOUND -8  /* the queue directory or a segment does not exist */
#define BF_ESYMBOL -9    /* a symbol name is invalid, too long, or its id is not defined */
#define BF_EJSON -10     /* a frame is not valid JSON */
#define BF_EFIELD -11    /* a required field is missing or has the wrong JSON type */
#define BF_ENUMBER -12   /* a price or quantity is not a Binance decimal string */
#define BF_EUNKNOWN -13  /* a frame's event type is not one binfeed knows */
#define BF_ETOOBIG -14   /* a frame is larger than the parser's max_frame */
#define BF_ECLOSED -15   /* the handle was closed */
#define BF_ETIMEOUT -16  /* nothing arrived before the deadline */
#define BF_ESTATE -17    /* the operation is not valid in the handle's state */
#define BF_STATUS_MIN -17

/* ========================================================================== */
/* MARK: - Directory layout                                                    */
/* ========================================================================== */
/*
 * A queue is a directory:
 *
 *   <dir>/writer.lock                 exclusion lock file (see "Writer exclusion")
 *   <dir>/<seq:20 decimal digits>.bfq segments, seq = 1, 2, 3, ... without holes
 *   <dir>/.<seq>.bfq.tmp              a segment being prepared; readers ignore it
 *
 * Segment n+1 is created only after segment n received its last record. Readers
 * start at the lowest seq present (retention may have deleted older ones) and go to
 * seq+1 when a segment is finished (sealed, or a successor exists).
 */
#define BF_SEGMENT_SUFFIX ".bfq"
#define BF_SEGMENT_NAME_DIGITS 20
#define BF_LOCK_FILE "writer.lock"

/* ========================================================================== */
/* MARK: - Segment header                                                      */
/* ========================================================================== */
/*
 * Every segment starts with a 4096-byte header (one page, so slot 0 is page aligned).
 * All integers are little-endian (the format is defined for little-endian hosts only;
 * the reader refuses to build elsewhere). Hot fields sit on cache lines of their own.
 *
 * | offset | size | field         | written by            | ordering rule                           |
 * |-------:|-----:|---------------|-----------------------|-----------------------------------------|
 * |      0 |    8 | magic         | creator, once         | "BINFEEDQ"; immutable after rename      |
 * |      8 |    4 | version       | creator, once         | BF_FORMAT_VERSION; immutable            |
 * |     12 |    4 | header_size   | creator, once         | 4096; slots start here; immutable       |
 * |     16 |    4 | slot_size     | creator, once         | stride in bytes (128); immutable        |
 * |     20 |    4 | flags         | creator, once         | BF_SEG_F_*; immutable                   |
 * |     24 |    8 | capacity      | creator, once         | number of slots; immutable              |
 * |     32 |    8 | segment_seq   | creator, once         | equals the seq in the file name         |
 * |     40 |    8 | created_ns    | creator, once         | CLOCK_REALTIME ns at creation           |
 * |     48 |    8 | first_index   | creator, once         | queue-wide index of slot 0              |
 * |     56 |    4 | header_crc    | creator, once         | CRC32C of bytes 0..55                   |
 * |     60 |   68 | reserved      | -                     | zero                                    |
 * |    128 |    8 | write_index   | writer                | store-release; readers load-acquire     |
 * |    136 |   56 | padding       | -                     | zero (write_index owns its cache line)  |
 * |    192 |    4 | sealed        | writer                | store-release after the final           |
 * |        |      |               |                       | write_index; 1 = no more records        |
 * |    196 |    4 | reserved      | -                     | zero                                    |
 * |    200 |    8 | sealed_ns     | writer                | written before `sealed`                 |
 * |    208 | 3888 | reserved      | -                     | zero                                    |
 *
 * Slot i (0 <= i < capacity) starts at byte header_size + i * slot_size. Readers must
 * take the stride from slot_size, not from sizeof(bf_slot): a later format may grow it.
 * A sealed segment is truncated to header_size + write_index * slot_size bytes.
 */
#define BF_MAGIC "BINFEEDQ"
#define BF_FORMAT_VERSION 1u
#define BF_HEADER_SIZE 4096u
#define BF_SLOT_SIZE 128u
#define BF_SEG_F_UTC_DAY_ROLL 1u /* this writer rolls at every UTC midnight (recv time) */

typedef struct bf_segment_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint32_t slot_size;
    uint32_t flags;
    uint64_t capacity;
    uint64_t segment_seq;
    uint64_t created_ns;
    uint64_t first_index;
    uint32_t header_crc;
    uint8_t reserved0[68];
    BF_ATOMIC(uint64_t) write_index;
    uint8_t pad1[56];
    BF_ATOMIC(uint32_t) sealed;
    uint32_t reserved1;
    uint64_t sealed_ns;
    uint8_t reserved2[3888];
} bf_segment_header;

/* ========================================================================== */
/* MARK: - Slots and records                                                   */
/* ========================================================================== */
/*
 * A slot is 128 bytes: a 24-byte header and a body of up to 104 bytes.
 * Why not 64: the design's BookTicker body is 48 bytes and the slot header needs 24
 * (checksum, type, sequence, receive time), 72 in all. 128 is the next size that keeps
 * every slot on whole cache lines, so a record never shares a line with its neighbour
 * (no false sharing between the writer filling slot n+1 and a reader loading slot n),
 * and the 104-byte body leaves room for aggTrade (64) and kline (104) without a format
 * break. The cost is disk: 128 bytes per record, against 72 packed.
 *
 * Slot header:
 * | offset | size | field      | meaning                                                       |
 * |-------:|-----:|------------|---------------------------------------------------------------|
 * |      0 |    4 | crc32c     | CRC32C (Castagnoli) of bytes 4..slot_size-1 of this slot      |
 * |      4 |    2 | type       | BF_REC_* below                                                |
 * |      6 |    2 | flags      | zero in version 1                                             |
 * |      8 |    8 | seq        | exchange sequence: bookTicker `u`, trade `t`; 0 for control   |
 * |     16 |    8 | recv_ts_ns | local receive time, CLOCK_REALTIME ns; 0 when not known       |
 * |     24 |  104 | body       | per type; unused bytes are zero                               |
 *
 * Bodies (offsets relative to the body, i.e. slot offset 24 + x):
 *
 * BF_REC_BOOK_TICKER (1), 48 bytes, the design's BookTicker:
 * | body offset | size | field          | meaning                                             |
 * |------------:|-----:|----------------|-----------------------------------------------------|
 * |           0 |    8 | timestamp u64  | exchange event time, ms, when the stream carries    |
 * |             |      |                | one (USD-M futures `E`); Binance Spot bookTicker    |
 * |             |      |                | carries none: 0, never a made-up value (use         |
 * |             |      |                | recv_ts_ns for time on spot)                        |
 * |           8 |    8 | bid_price f64  | `b`                                                 |
 * |          16 |    8 | bid_qty f64    | `B`                                                 |
 * |          24 |    8 | ask_price f64  | `a`                                                 |
 * |          32 |    8 | ask_qty f64    | `A`                                                 |
 * |          40 |    8 | symbol_id u64  | defined by an earlier BF_REC_SYMBOL of this segment |
 *
 * BF_REC_TRADE (2), 56 bytes:
 * | body offset | size | field          | meaning                                             |
 * |------------:|-----:|----------------|-----------------------------------------------------|
 * |           0 |    8 | price f64      | `p`                                                 |
 * |           8 |    8 | qty f64        | `q`                                                 |
 * |          16 |    8 | trade_id u64   | `t` (also in the slot's seq)                        |
 * |          24 |    8 | trade_ts_ms u64| `T`                                                 |
 * |          32 |    8 | event_ts_ms u64| `E`                                                 |
 * |          40 |    8 | symbol_id u64  |                                                     |
 * |          48 |    1 | flags u8       | bit0 buyer_is_maker (`m`), bit1 best_match (`M`),   |
 * |             |      |                | bit2 best_match present (futures send no `M`)       |
 * |          49 |    7 | zero           |                                                     |
 *
 * BF_REC_SYMBOL (16), 48 bytes: defines symbol_id -> name for the rest of the queue.
 * | body offset | size | field          | meaning                                             |
 * |------------:|-----:|----------------|-----------------------------------------------------|
 * |           0 |    8 | symbol_id u64  | 1, 2, 3, ... stable for the life of the queue       |
 * |           8 |    4 | name_len u32   | 1..BF_SYMBOL_MAX                                    |
 * |          12 |    4 | zero           |                                                     |
 * |          16 |   32 | name           | upper-case ASCII [A-Z0-9_-], NUL padded             |
 * Every segment begins with one SYMBOL record per symbol known when it was created,
 * and a new symbol's SYMBOL record precedes its first use; so a reader resolves every
 * id from the segment it is in, starting anywhere.
 *
 * BF_REC_GAP (17), 32 bytes: records of one stream may be missing between two seqs.
 * | body offset | size | field          | meaning                                             |
 * |------------:|-----:|----------------|-----------------------------------------------------|
 * |           0 |    8 | symbol_id u64  |                                                     |
 * |           8 |    4 | stream u32     | BF_STREAM_*; the stream's name is lower(symbol) "@" |
 * |             |      |                | bookTicker or trade                                 |
 * |          12 |    4 | reason u32     | BF_GAP_*                                            |
 * |          16 |    8 | last_seq u64   | last seq stored before the gap (0 = none known)     |
 * |          24 |    8 | next_seq u64   | first seq stored after it (0 = not known)           |
 *
 * BF_REC_CONNECTION (18), 104 bytes: a recorder's connection event, for audit.
 * | body offset | size | field          | meaning                                             |
 * |------------:|-----:|----------------|-----------------------------------------------------|
 * |           0 |    4 | event u32      | BF_CONN_*                                           |
 * |           4 |    4 | conn_id u32    | recorder-local connection number                    |
 * |           8 |    8 | code i64       | close code, error code or stream count, per event   |
 * |          16 |   88 | detail         | UTF-8 text, NUL padded (truncated to 87 bytes)      |
 */
#define BF_SLOT_HEADER_SIZE 24u
#define BF_BODY_SIZE 104u
#define BF_SYMBOL_MAX 32u

#define BF_REC_BOOK_TICKER 1u
#define BF_REC_TRADE 2u
#define BF_REC_SYMBOL 16u
#define BF_REC_GAP 17u
#define BF_REC_CONNECTION 18u

#define BF_STREAM_BOOK_TICKER 1u
#define BF_STREAM_TRADE 2u

#define BF_TRADE_F_BUYER_IS_MAKER 1u
#define BF_TRADE_F_BEST_MATCH 2u
#define BF_TRADE_F_BEST_MATCH_KNOWN 4u

#define BF_GAP_SEQUENCE_JUMP 1u    /* trade id rose by more than 1 */
#define BF_GAP_DISCONNECTED 2u     /* the connection carrying the stream was lost */
#define BF_GAP_STALLED 3u          /* the connection went silent and was replaced */
#define BF_GAP_WRITER_RESTART 4u   /* the recorder restarted on this queue */
#define BF_GAP_SERVER_SHUTDOWN 5u  /* the server announced shutdown and rotation failed */

#define BF_CONN_CONNECTED 1u
#define BF_CONN_DISCONNECTED 2u
#define BF_CONN_SUBSCRIBED 3u
#define BF_CONN_SUBSCRIBE_REFUSED 4u
#define BF_CONN_ROTATED 5u
#define BF_CONN_SERVER_SHUTDOWN 6u
#define BF_CONN_STALLED 7u

typedef struct bf_book_ticker {
    uint64_t timestamp;
    double bid_price;
    double bid_qty;
    double ask_price;
    double ask_qty;
    uint64_t symbol_id;
} bf_book_ticker;

typedef struct bf_trade {
    double price;
    double qty;
    uint64_t trade_id;
    uint64_t trade_ts_ms;
    uint64_t event_ts_ms;
    uint64_t symbol_id;
    uint8_t flags;
    uint8_t zero[7];
} bf_trade;

typedef struct bf_symbol_def {
    uint64_t symbol_id;
    uint32_t name_len;
    uint32_t zero;
    char name[BF_SYMBOL_MAX];
} bf_symbol_def;

typedef struct bf_gap {
    uint64_t symbol_id;
    uint32_t stream;
    uint32_t reason;
    uint64_t last_seq;
    uint64_t next_seq;
} bf_gap;

typedef struct bf_connection_event {
    uint32_t event;
    uint32_t conn_id;
    int64_t code;
    char detail[88];
} bf_connection_event;

typedef struct bf_slot {
    uint32_t crc32c;
    uint16_t type;
    uint16_t flags;
    uint64_t seq;
    uint64_t recv_ts_ns;
    union {
        bf_book_ticker book_ticker;
        bf_trade trade;
        bf_symbol_def symbol;
        bf_gap gap;
        bf_connection_event connection;
        uint8_t raw[BF_BODY_SIZE];
    } body;
} bf_slot;

#if !defined(__cplusplus)
#define BF_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#define BF_STATIC_ASSERT(c, m) static_assert(c, m)
#endif
BF_STATIC_ASSERT(sizeof(bf_segment_header) == BF_HEADER_SIZE, "segment header is one page");
BF_STATIC_ASSERT(offsetof(bf_segment_header, version) == 8, "version at 8");
BF_STATIC_ASSERT(offsetof(bf_segment_header, slot_size) == 16, "slot_size at 16");
BF_STATIC_ASSERT(offsetof(bf_segment_header, capacity) == 24, "capacity at 24");
BF_STATIC_ASSERT(offsetof(bf_segment_header, segment_seq) == 32, "segment_seq at 32");
BF_STATIC_ASSERT(offsetof(bf_segment_header, created_ns) == 40, "created_ns at 40");
BF_STATIC_ASSERT(offsetof(bf_segment_header, first_index) == 48, "first_index at 48");
BF_STATIC_ASSERT(offsetof(bf_segment_header, header_crc) == 56, "header_crc at 56");
BF_STATIC_ASSERT(offsetof(bf_segment_header, write_index) == 128, "write_index on its own line");
BF_STATIC_ASSERT(offsetof(bf_segment_header, sealed) == 192, "sealed on its own line");
BF_STATIC_ASSERT(offsetof(bf_segment_header, sealed_ns) == 200, "sealed_ns at 200");
BF_STATIC_ASSERT(sizeof(BF_ATOMIC(uint64_t)) == 8, "atomic u64 is plain u64 in memory");
BF_STATIC_ASSERT(sizeof(bf_book_ticker) == 48, "BookTicker body is the design's 48 bytes");
BF_STATIC_ASSERT(offsetof(bf_book_ticker, bid_price) == 8, "bid_price at 8");
BF_STATIC_ASSERT(offsetof(bf_book_ticker, ask_qty) == 32, "ask_qty at 32");
BF_STATIC_ASSERT(offsetof(bf_book_ticker, symbol_id) == 40, "symbol_id at 40");
BF_STATIC_ASSERT(sizeof(bf_trade) == 56, "trade body is 56 bytes");
BF_STATIC_ASSERT(offsetof(bf_trade, flags) == 48, "trade flags at 48");
BF_STATIC_ASSERT(sizeof(bf_symbol_def) == 48, "symbol body is 48 bytes");
BF_STATIC_ASSERT(offsetof(bf_symbol_def, name) == 16, "symbol name at 16");
BF_STATIC_ASSERT(sizeof(bf_gap) == 32, "gap body is 32 bytes");
BF_STATIC_ASSERT(sizeof(bf_connection_event) == BF_BODY_SIZE, "connection body fills the slot");
BF_STATIC_ASSERT(offsetof(bf_slot, type) == 4, "type at 4");
BF_STATIC_ASSERT(offsetof(bf_slot, seq) == 8, "seq at 8");
BF_STATIC_ASSERT(offsetof(bf_slot, recv_ts_ns) == 16, "recv_ts_ns at 16");
BF_STATIC_ASSERT(offsetof(bf_slot, body) == BF_SLOT_HEADER_SIZE, "body at 24");
BF_STATIC_ASSERT(sizeof(bf_slot) == BF_SLOT_SIZE, "a slot is two cache lines");

/* ========================================================================== */
/* MARK: - Memory ordering (the publish protocol)                              */
/* ========================================================================== */
/*
 * One writer appends; any number of readers in any process map the same file.
 *
 * Writer, to publish slot i (i == write_index):
 *   1. plain stores of the whole slot (header fields, body, zero padding);
 *   2. crc32c stored last among the plain stores (it covers bytes 4..127);
 *   3. atomic_store_explicit(&hdr->write_index, i + 1, memory_order_release).
 *   A batch may publish several slots with one release store of the final count.
 * Reader:
 *   n = atomic_load_explicit(&hdr->write_index, memory_order_acquire);
 *   slots [0, n) are complete and immutable: read them with plain loads.
 *   Never read a slot at or beyond n: its bytes may be half written.
 * Sealing: sealed_ns (plain), then store-release sealed = 1, strictly after the last
 *   write_index store. A reader that load-acquires sealed == 1 and then loads
 *   write_index sees the final count.
 * The checksum is not needed for visibility (the release/acquire pair is); it lets a
 * recovering writer find slots torn by a power loss, when the page holding write_index
 * reached the disk but a page holding a slot did not. Readers may verify it
 * (BFR_VERIFY_CRC) at about 10 ns per record.
 * No `volatile` anywhere: ordering comes only from the acquire/release pairs,
 * wrapped in bf_load_acquire_u64 / bf_store_release_u64 below.
 */
#if defined(__cplusplus)
static inline uint64_t bf_load_acquire_u64(const BF_ATOMIC(uint64_t) *p) { return p->load(std::memory_order_acquire); }
static inline void bf_store_release_u64(BF_ATOMIC(uint64_t) *p, uint64_t v) { p->store(v, std::memory_order_release); }
static inline uint32_t bf_load_acquire_u32(const BF_ATOMIC(uint32_t) *p) { return p->load(std::memory_order_acquire); }
static inline void bf_store_release_u32(BF_ATOMIC(uint32_t) *p, uint32_t v) { p->store(v, std::memory_order_release); }
#else
static inline uint64_t bf_load_acquire_u64(const BF_ATOMIC(uint64_t) *p) {
    return atomic_load_explicit((BF_ATOMIC(uint64_t) *)p, memory_order_acquire);
}
static inline void bf_store_release_u64(BF_ATOMIC(uint64_t) *p, uint64_t v) {
    atomic_store_explicit(p, v, memory_order_release);
}
static inline uint32_t bf_load_acquire_u32(const BF_ATOMIC(uint32_t) *p) {
    return atomic_load_explicit((BF_ATOMIC(uint32_t) *)p, memory_order_acquire);
}
static inline void bf_store_release_u32(BF_ATOMIC(uint32_t) *p, uint32_t v) {
    atomic_store_explicit(p, v, memory_order_release);
}
#endif

/* ========================================================================== */
/* MARK: - Checksum (CRC32C)                                                   */
/* ========================================================================== */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF), the checksum of iSCSI, ext4 and SSE4.2's crc32 instruction:
 * bf_crc32c(0, "123456789", 9) == 0xE3069283. `crc` chains like zlib's crc32: pass 0 to
 * start, or a previous result to continue.
 * bf_crc32c uses the SSE4.2 instruction when the CPU has it (checked at run time) and a
 * table otherwise; both give identical results. Thread-safe, no state.
 * A slot's checksum: bf_slot_crc32c(slot, slot_size) = CRC32C of bytes 4..slot_size-1.
 */
static inline uint32_t bf_crc32c_sw(uint32_t crc, const void *buf, size_t len) {
    static const uint32_t table[256] = {
        0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
        0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
        0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
        0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
        0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
        0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
        0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
        0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
        0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
        0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
        0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
        0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
        0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
        0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
        0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
        0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
        0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
        0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
        0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
        0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
        0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
        0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
        0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
        0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
        0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
        0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
        0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
        0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
        0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
        0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
        0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
        0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
        0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
        0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
        0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
        0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
        0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
        0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
        0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
        0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
        0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
        0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
        0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
    };
    const unsigned char *p = (const unsigned char *)buf;
    crc = ~crc;
    while (len--) crc = table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BF_HAVE_CRC32C_HW 1
/* The SSE4.2 path; call only when bf_crc32c_hw_available(). */
__attribute__((target("sse4.2"))) static inline uint32_t bf_crc32c_hw(uint32_t crc,
                                                                       const void *buf,
                                                                       size_t len) {
    const unsigned char *p = (const unsigned char *)buf;
    unsigned long long c = (uint32_t)~crc;
    while (len >= 8) {
        unsigned long long v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
static inline int bf_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2"); }
#else
#define BF_HAVE_CRC32C_HW 0
static inline int bf_crc32c_hw_available(void) { return 0; }
#endif

static inline uint32_t bf_crc32c(uint32_t crc, const void *buf, size_t len) {
#if BF_HAVE_CRC32C_HW
    if (bf_crc32c_hw_available()) return bf_crc32c_hw(crc, buf, len);
#endif
    return bf_crc32c_sw(crc, buf, len);
}

/* CRC32C of bytes 4..slot_size-1 of a slot (the value its crc32c field must hold). */
static inline uint32_t bf_slot_crc32c(const void *slot, uint32_t slot_size) {
    return bf_crc32c(0, (const unsigned char *)slot + 4, (size_t)slot_size - 4);
}

/* CRC32C of header bytes 0..55 (the value of header_crc). */
static inline uint32_t bf_header_crc32c(const bf_segment_header *h) {
    return bf_crc32c(0, h, offsetof(bf_segment_header, header_crc));
}

/* ========================================================================== */
/* MARK: - Writer exclusion, rolls and recovery                                */
/* ========================================================================== */
/*
 * Exclusion: a writer holds an open-file-description write lock (fcntl F_OFD_SETLK,
 *   F_WRLCK, whole file) on <dir>/writer.lock for its whole life, and writes
 *   "pid=<pid>\nhost=<host>\nstarted_ns=<ns>\ncommand=<argv0>\n" into it. The kernel drops
 *   the lock when the process dies (kill -9 included), so a dead writer never blocks the
 *   next; a stopped one (SIGSTOP) keeps it, so it is never taken over. F_OFD_GETLK tells
 *   a reader whether a writer is live without taking the lock.
 * Segment creation: the writer creates .<seq>.bfq.tmp, reserves all of its space with
 *   posix_fallocate (so a full disk fails here, with BF_ENOSPC, never as SIGBUS during an
 *   append), writes the header and the SYMBOL records, publishes their write_index, then
 *   renames the file to its final name.
 * Roll: when a segment is full, or (BF_SEG_F_UTC_DAY_ROLL) a record's recv_ts_ns falls on
 *   a later UTC day than the segment's created_ns, the writer creates segment seq+1, then
 *   seals segment seq and truncates it to its used length (at once, or soon after on the
 *   thread that prepares segments; a next writer finishes it if this one died first). A reader that finds a segment
 *   exhausted (i == write_index) moves to seq+1 when `sealed` is set, or when file seq+1
 *   exists (the writer may have died between the two steps): in both cases write_index is
 *   final once seen after that observation.
 * Recovery: a new writer checks the crc32c of every published slot of the newest segment
 *   (and of its predecessor if that one is unsealed: a writer killed mid-roll), cuts
 *   write_index back to the first bad slot, seals and truncates them, and then always
 *   starts a new segment. It deletes leftover .tmp files, relearns the symbols from the
 *   SYMBOL records and continues first_index. A newest segment whose header is invalid
 *   stops the writer (BF_ECORRUPT naming the file): it never writes past data it cannot
 *   read. A segment's capacity is the writer's segment_slots, raised to twice the number
 *   of symbols when smaller (so its opening SYMBOL records never fill it); readers take
 *   it from the header.
 * Readers hold an F_OFD_SETLK read lock on each segment they map; retention deletes a
 *   sealed segment only after taking a write lock on it, so never one a reader has open.
 */

/* ========================================================================== */
/* MARK: - Segment names and header validation                                 */
/* ========================================================================== */
/* Shared by the writer and the reader, so both judge a file the same way. */

#define BF_SEGMENT_NAME_MAX 32 /* buffer size for a segment file name, NUL included */
#define BF_MAX_SEGMENT_SLOTS (1ull << 34) /* sanity bound on capacity (2 TiB of slots) */

/* Writes the file name of segment `seq` ("00000000000000000042.bfq") into buf. */
static inline void bf_segment_name(char *buf, size_t len, uint64_t seq) {
    snprintf(buf, len, "%020llu" BF_SEGMENT_SUFFIX, (unsigned long long)seq);
}

/* 1 if `name` is a segment file name (20 digits, ".bfq", seq >= 1), its seq in *seq;
 * else 0. Temporary files (".<seq>.bfq.tmp") and anything else give 0. */
static inline int bf_parse_segment_name(const char *name, uint64_t *seq) {
    uint64_t v = 0;
    for (int i = 0; i < BF_SEGMENT_NAME_DIGITS; i++) {
        char c = name[i];
        if (c < '0' || c > '9') return 0;
        uint64_t d = (uint64_t)(c - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (strcmp(name + BF_SEGMENT_NAME_DIGITS, BF_SEGMENT_SUFFIX) != 0 || v == 0) return 0;
    *seq = v;
    return 1;
}

/* Checks the header of a segment file of `file_size` bytes (as fstat saw it, before the
 * caller loaded `sealed`) whose name says `seq` (0: do not check). `path` only names the
 * file in the message. Returns BF_OK, BF_EVERSION (newer format) or BF_ECORRUPT, with a
 * message in msg. `h` must be readable for min(file_size, 4096) bytes; nothing is read
 * beyond file_size. */
static inline int bf_segment_check(const bf_segment_header *h, uint64_t file_size, uint64_t seq,
                                   const char *path, char *msg, size_t msglen) {
    if (file_size < BF_HEADER_SIZE) {
        snprintf(msg, msglen,
                 "%s is truncated: %llu bytes, shorter than the %u-byte segment header; "
                 "move it out of the queue directory",
                 path, (unsigned long long)file_size, BF_HEADER_SIZE);
        return BF_ECORRUPT;
    }
    if (memcmp(h->magic, BF_MAGIC, 8) != 0) {
        snprintf(msg, msglen, "%s is not a binfeed segment (bad magic); move it out of the "
                 "queue directory", path);
        return BF_ECORRUPT;
    }
    if (h->version > BF_FORMAT_VERSION) {
        snprintf(msg, msglen,
                 "%s was written by binfeed format version %u, newer than version %u that "
                 "this build understands; upgrade binfeed to read it",
                 path, (unsigned)h->version, BF_FORMAT_VERSION);
        return BF_EVERSION;
    }
    if (h->version == 0 || bf_header_crc32c(h) != h->header_crc) {
        snprintf(msg, msglen, "%s has a corrupt header (%s); move it out of the queue "
                 "directory", path, h->version == 0 ? "version 0" : "header checksum mismatch");
        return BF_ECORRUPT;
    }
    const char *bad = NULL;
    if (h->header_size < BF_HEADER_SIZE || h->header_size % 64 != 0 || h->header_size > (1u << 20))
        bad = "header_size";
    else if (h->slot_size < BF_SLOT_SIZE || h->slot_size % 64 != 0 || h->slot_size > (1u << 16))
        bad = "slot_size";
    else if (h->capacity == 0 || h->capacity > BF_MAX_SEGMENT_SLOTS)
        bad = "capacity";
    else if (seq != 0 && h->segment_seq != seq)
        bad = "segment_seq (differs from the file name)";
    if (bad) {
        snprintf(msg, msglen, "%s has a corrupt header (invalid %s); move it out of the queue "
                 "directory", path, bad);
        return BF_ECORRUPT;
    }
    uint64_t n = bf_load_acquire_u64(&h->write_index);
    if (n > h->capacity) {
        snprintf(msg, msglen, "%s has a corrupt header (write_index %llu > capacity %llu)",
                 path, (unsigned long long)n, (unsigned long long)h->capacity);
        return BF_ECORRUPT;
    }
    uint64_t need = (uint64_t)h->header_size + n * h->slot_size;
    if (file_size < need) {
        snprintf(msg, msglen,
                 "%s is truncated: %llu bytes, but its %llu published records need %llu; "
                 "move it out of the queue directory",
                 path, (unsigned long long)file_size, (unsigned long long)n,
                 (unsigned long long)need);
        return BF_ECORRUPT;
    }
    uint64_t full = (uint64_t)h->header_size + h->capacity * h->slot_size;
    if (file_size < full && !bf_load_acquire_u32(&h->sealed)) {
        snprintf(msg, msglen,
                 "%s is truncated: %llu bytes, but it is not sealed and its capacity of %llu "
                 "records needs %llu; move it out of the queue directory",
                 path, (unsigned long long)file_size, (unsigned long long)h->capacity,
                 (unsigned long long)full);
        return BF_ECORRUPT;
    }
    return BF_OK;
}

/* ========================================================================== */
/* MARK: - Reader API                                                          */
/* ========================================================================== */
/*
 * Functions (all static inline, no library needed):
 *   bfr_open / bfr_close       a cursor from the oldest record or from the end
 *   bfr_next                   the next record or 0 (never blocks, no syscall while tailing)
 *   bfr_wait                   the same with a timeout (spin, then sleep with backoff)
 *   bfr_symbol                 symbol id -> name, learnt from SYMBOL records
 *   bfr_tell / bfr_lag         where the cursor is; how far behind the writer
 *   bfr_list_segments          lowest / highest segment seq of a queue directory
 *   bfr_writer_status          is a writer live (F_OFD_GETLK), and its pid
 *   bf_crc32c, bf_slot_crc32c, bf_segment_check, bf_segment_name: see above
 *
 * A bfr_reader is a cursor over the records of one queue, in order, across segments.
 * Thread-safety: a reader is used by one thread at a time; any number of readers may
 * exist in any number of processes. It never writes to the queue's files.
 * Ownership: bfr_open fills a caller-owned bfr_reader; bfr_close releases what it holds.
 * Pointers returned by bfr_next stay valid until the reader moves past the segment
 * (the next bfr_next call that rolls) or bfr_close.
 *
 *   bfr_reader r;
 *   if (bfr_open(&r, "/data/q", BFR_FROM_START) != BF_OK) { puts(r.error); return 1; }
 *   const bf_slot *s;
 *   while (bfr_wait(&r, &s, 1000000000) == 1) {
 *       if (s->type == BF_REC_BOOK_TICKER)
 *           printf("%s %f\n", bfr_symbol(&r, s->body.book_ticker.symbol_id),
 *                  s->body.book_ticker.bid_price);
 *   }
 *   bfr_close(&r);
 */
#define BFR_FROM_START 0u /* start at the first record of the oldest segment */
#define BFR_FROM_END 1u   /* start after the last record published at open time */
#define BFR_VERIFY_CRC 2u /* check every record's crc32c; a mismatch is BF_ECORRUPT */

#define BFR_FLAGS_ALL (BFR_FROM_END | BFR_VERIFY_CRC)
#define BFR_ERROR_MAX 256
#define BFR_CHECK_INTERVAL_NS 1000000u /* successor-file checks while idle: at most ~1/ms */
#define BFR_CHECK_POLLS 1024u          /* ... or after this many idle polls */

/* A cursor over a queue. Caller-owned; fill it with bfr_open, release with bfr_close.
 * Fields are private except `error`, the detailed message of the last failure. */
typedef struct bfr_reader {
    /* the segment being read */
    const unsigned char *map;     /* read-only shared mapping, NULL if none */
    size_t map_len;
    const bf_segment_header *hdr; /* == map */
    const unsigned char *slots;   /* slot 0 */
    uint32_t slot_size;           /* stride, from the header */
    uint32_t sealed_seen;         /* `sealed` was observed set in this segment */
    uint64_t pos;                 /* next slot to return */
    uint64_t avail;               /* published slots known (cached write_index) */
    uint64_t limit;               /* slots the mapping can hold */
    uint64_t seg_seq;
    int seg_fd;                   /* holds the segment's F_OFD read lock */
    /* following rolls without syscalls while tailing */
    int dirfd;
    uint32_t idle_polls;
    uint64_t last_check_ns;
    unsigned flags;
    char *dir;
    /* symbol names, [id - 1], "" when not defined */
    char (*symbols)[BF_SYMBOL_MAX + 1];
    uint64_t symbols_cap;
    char error[BFR_ERROR_MAX];
} bfr_reader;

/* Where a reader is: the next record it will return. */
typedef struct bfr_position {
    uint64_t segment_seq;  /* seq of the segment being read */
    uint64_t index;        /* slot index in that segment */
    uint64_t global_index; /* queue-wide index: first_index of the segment + index */
} bfr_position;

#if defined(__GNUC__) || defined(__clang__)
#define BFR__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BFR__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BFR__LIKELY(x) __builtin_expect(!!(x), 1)
#define BFR__INLINE __attribute__((always_inline)) inline
#define BFR__COLD __attribute__((noinline, cold))
#else
#define BFR__PRINTF(a, b)
#define BFR__UNLIKELY(x) (x)
#define BFR__LIKELY(x) (x)
#define BFR__INLINE inline
#define BFR__COLD
#endif

static inline int bfr__fail(bfr_reader *r, int rc, const char *fmt, ...) BFR__PRINTF(3, 4);
static inline int bfr__fail(bfr_reader *r, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return rc;
}

static inline uint64_t bfr__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Lists the segments of queue `dir`: lowest and highest seq and their count (all 0 if
 * none). BF_ENOTFOUND if the directory does not exist, BF_EIO. Thread-safe. */
static inline int bfr_list_segments(const char *dir, uint64_t *lowest, uint64_t *highest,
                                    uint64_t *count) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT || errno == ENOTDIR ? BF_ENOTFOUND : BF_EIO;
    uint64_t lo = 0, hi = 0, n = 0, seq;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!bf_parse_segment_name(e->d_name, &seq)) continue;
        if (lo == 0 || seq < lo) lo = seq;
        if (seq > hi) hi = seq;
        n++;
    }
    closedir(d);
    if (lowest) *lowest = lo;
    if (highest) *highest = hi;
    if (count) *count = n;
    return BF_OK;
}

/* Is a writer live on queue `dir`? 1: yes (*pid = its pid from writer.lock, 0 if not yet
 * written); 0: no (a dead writer's lock is gone); BF_ENOTFOUND: no such directory; BF_EIO.
 * Uses F_OFD_GETLK: takes no lock. pid may be NULL. Thread-safe. */
static inline int bfr_writer_status(const char *dir, int64_t *pid) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, BF_LOCK_FILE) >= sizeof path)
        return BF_EINVAL;
    if (pid) *pid = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) return BF_EIO;
        struct stat st;
        return stat(dir, &st) == 0 ? 0 : BF_ENOTFOUND;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
        close(fd);
        return BF_EIO;
    }
    int live = fl.l_type != F_UNLCK;
    if (live && pid) {
        char text[256];
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        text[n > 0 ? n : 0] = '\0';
        if (strncmp(text, "pid=", 4) == 0) *pid = strtoll(text + 4, NULL, 10);
    }
    close(fd);
    return live;
}

static inline void bfr__unmap(bfr_reader *r) {
    if (r->map) munmap((void *)r->map, r->map_len);
    if (r->seg_fd >= 0) close(r->seg_fd); /* drops the segment's read lock */
    r->map = NULL;
    r->hdr = NULL;
    r->slots = NULL;
    r->map_len = 0;
    r->seg_fd = -1;
}

/* Maps segment `seq` (read lock, header checks) and makes it current at slot 0.
 * BF_ENOTFOUND when it does not exist or retention is deleting it; the current segment
 * stays as it was on any failure. */
static inline int bfr__map_segment(bfr_reader *r, uint64_t seq) {
    char name[BF_SEGMENT_NAME_MAX];
    char path[4096 + BF_SEGMENT_NAME_MAX];
    bf_segment_name(name, sizeof name, seq);
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return bfr__fail(r, e == ENOENT ? BF_ENOTFOUND : BF_EIO, "cannot open %s: %s", path,
                         strerror(e));
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES)
            return bfr__fail(r, BF_ENOTFOUND, "%s is being deleted (retention)", path);
        return bfr__fail(r, BF_EIO, "cannot lock %s for reading: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return bfr__fail(r, BF_EIO, "cannot stat %s: %s", path, strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < BF_HEADER_SIZE) {
        close(fd);
        return bf_segment_check(NULL, size, seq, path, r->error, sizeof r->error);
    }
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return bfr__fail(r, BF_EIO, "cannot map %s: %s", path, strerror(e));
    }
    const bf_segment_header *h = (const bf_segment_header *)m;
    int rc = bf_segment_check(h, size, seq, path, r->error, sizeof r->error);
    if (rc != BF_OK) {
        munmap(m, (size_t)size);
        close(fd);
        return rc;
    }
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older kernels say EINVAL: harmless */
#endif
    /* A sealed segment is read start to end: map all its pages now, in one call, rather
     * than fault them in one by one (a live one is left alone: populating 128 MiB would
     * delay a tailing reader at every roll). */
    if (bf_load_acquire_u32(&h->sealed)) (void)madvise(m, (size_t)size, MADV_POPULATE_READ);
    bfr__unmap(r);
    r->map = (const unsigned char *)m;
    r->map_len = (size_t)size;
    r->hdr = h;
    r->slots = r->map + h->header_size;
    r->slot_size = h->slot_size;
    uint64_t fit = (size - h->header_size) / h->slot_size;
    r->limit = fit < h->capacity ? fit : h->capacity;
    r->seg_fd = fd;
    r->seg_seq = seq;
    r->pos = 0;
    r->avail = 0;
    r->sealed_seen = 0;
    r->idle_polls = 0;
    r->last_check_ns = bfr__mono_ns();
    return BF_OK;
}

/* The segment's published count (acquire), checked against what the file holds. */
static inline int bfr__published(bfr_reader *r, uint64_t *n) {
    uint64_t v = bf_load_acquire_u64(&r->hdr->write_index);
    if (BFR__UNLIKELY(v > r->limit))
        return bfr__fail(r, BF_ECORRUPT,
                         "%s/%020llu%s: write_index %llu is beyond the %llu slots of the file "
                         "(truncated or corrupt segment)",
                         r->dir, (unsigned long long)r->seg_seq, BF_SEGMENT_SUFFIX,
                         (unsigned long long)v, (unsigned long long)r->limit);
    *n = v;
    return BF_OK;
}

static inline int bfr__learn_symbol(bfr_reader *r, const bf_slot *s) {
    const bf_symbol_def *d = &s->body.symbol;
    if (d->symbol_id == 0 || d->symbol_id > (1ull << 32) || d->name_len == 0 ||
        d->name_len > BF_SYMBOL_MAX)
        return bfr__fail(r, BF_ECORRUPT, "segment %llu of %s: invalid SYMBOL record (id %llu)",
                         (unsigned long long)r->seg_seq, r->dir,
                         (unsigned long long)d->symbol_id);
    if (d->symbol_id > r->symbols_cap) {
        uint64_t cap = r->symbols_cap ? r->symbols_cap : 64;
        while (cap < d->symbol_id) cap *= 2;
        char(*t)[BF_SYMBOL_MAX + 1] = (char(*)[BF_SYMBOL_MAX + 1])realloc(
            (void *)r->symbols, (size_t)cap * sizeof *r->symbols);
        if (!t) return bfr__fail(r, BF_ENOMEM, "out of memory for the symbol table");
        memset(t + r->symbols_cap, 0, (size_t)(cap - r->symbols_cap) * sizeof *t);
        r->symbols = t;
        r->symbols_cap = cap;
    }
    char *name = r->symbols[d->symbol_id - 1];
    memcpy(name, d->name, d->name_len);
    name[d->name_len] = '\0';
    return BF_OK;
}

/* Idle-poll rate limit for looking at the directory (the only syscalls of tailing). */
static inline int bfr__check_due(bfr_reader *r) {
    /* the clock only every 8th idle poll: a spinning reader stays light (bfr_wait makes
     * the poll after each of its sleeps look at the clock) */
    if ((++r->idle_polls & 7u) != 0) return 0;
    uint64_t now = bfr__mono_ns();
    if (r->idle_polls >= BFR_CHECK_POLLS || now - r->last_check_ns >= BFR_CHECK_INTERVAL_NS) {
        r->idle_polls = 0;
        r->last_check_ns = now;
        return 1;
    }
    return 0;
}

/* The current segment is exhausted as far as write_index said. Returns 1 if there is more
 * to read (new records here, or moved to the next segment), 0 if nothing now, or < 0. */
static inline int bfr__follow(bfr_reader *r) {
    uint64_t n = 0;
    int rc;
    if (bf_load_acquire_u32(&r->hdr->sealed)) {
        if ((rc = bfr__published(r, &n)) < 0) return rc; /* final, after sealed */
        if (n > r->pos) {
            r->avail = n;
            return 1;
        }
        /* the first time at once (the writer created the successor before sealing) */
        if (r->sealed_seen && !bfr__check_due(r)) return 0;
        r->sealed_seen = 1;
    } else {
        if (!bfr__check_due(r)) return 0;
        char name[BF_SEGMENT_NAME_MAX];
        bf_segment_name(name, sizeof name, r->seg_seq + 1);
        if (faccessat(r->dirfd, name, F_OK, 0) != 0) return 0;
        /* The successor exists, so this segment's write_index is final once loaded now
         * (its writer finished it or died). */
        if ((rc = bfr__published(r, &n)) < 0) return rc;
        if (n > r->pos) {
            r->avail = n;
            return 1;
        }
    }
    rc = bfr__map_segment(r, r->seg_seq + 1);
    if (rc == BF_ENOTFOUND) {
        r->error[0] = '\0';
        return 0; /* sealed by a writer that closed: wait for the next writer */
    }
    return rc < 0 ? rc : 1;
}

/* Frees what the reader holds (mappings, locks, memory). Safe after a failed bfr_open and
 * when called twice. */
static inline void bfr_close(bfr_reader *r) {
    if (!r) return;
    bfr__unmap(r);
    if (r->dirfd >= 0) close(r->dirfd);
    r->dirfd = -1;
    free((void *)r->symbols);
    r->symbols = NULL;
    r->symbols_cap = 0;
    free(r->dir);
    r->dir = NULL;
}

static inline int bfr__open(bfr_reader *r, const char *dir, unsigned flags) {
    memset(r, 0, sizeof *r);
    r->seg_fd = -1;
    r->dirfd = -1;
    if (!dir || !*dir || (flags & ~(unsigned)BFR_FLAGS_ALL))
        return bfr__fail(r, BF_EINVAL, "bfr_open: dir must be a path and flags BFR_*");
    r->flags = flags;
    size_t len = strlen(dir);
    r->dir = (char *)malloc(len + 1);
    if (!r->dir) return bfr__fail(r, BF_ENOMEM, "out of memory");
    memcpy(r->dir, dir, len + 1);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0) {
        int e = errno;
        return bfr__fail(r, e == ENOENT ? BF_ENOTFOUND : BF_EIO,
                         "cannot open queue directory %s: %s%s", dir, strerror(e),
                         e == ENOENT ? " (no queue there yet: start a writer first)" : "");
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t lo, hi, count;
        int rc = bfr_list_segments(dir, &lo, &hi, &count);
        if (rc != BF_OK)
            return bfr__fail(r, rc, "cannot list queue directory %s: %s", dir, strerror(errno));
        if (count == 0)
            return bfr__fail(r, BF_ENOTFOUND, "queue %s has no segment yet (no writer has "
                             "opened it): retry once a writer runs", dir);
        if (!(flags & BFR_FROM_END)) {
            for (uint64_t seq = lo; seq <= hi; seq++) {
                rc = bfr__map_segment(r, seq);
                if (rc != BF_ENOTFOUND) break; /* deleted by retention meanwhile: next */
            }
            if (rc == BF_ENOTFOUND) continue;
            if (rc != BF_OK) return rc;
            r->error[0] = '\0';
            return BF_OK;
        }
        rc = bfr__map_segment(r, hi);
        if (rc == BF_ENOTFOUND) continue;
        if (rc != BF_OK) return rc;
        uint64_t n = 0;
        if ((rc = bfr__published(r, &n)) < 0) return rc;
        for (uint64_t i = 0; i < n; i++) { /* symbols defined before the start point */
            const bf_slot *s = (const bf_slot *)(r->slots + i * r->slot_size);
            if (s->type == BF_REC_SYMBOL && (rc = bfr__learn_symbol(r, s)) < 0) return rc;
        }
        r->pos = r->avail = n;
        r->error[0] = '\0';
        return BF_OK;
    }
    return bfr__fail(r, BF_EIO, "queue %s: segments keep disappearing while opening", dir);
}

/* Opens a reader on queue `dir`. flags: BFR_FROM_START (the oldest record still present)
 * or BFR_FROM_END (after the last record published now), optionally | BFR_VERIFY_CRC.
 * Returns BF_OK; BF_ENOTFOUND if the directory does not exist or holds no segment yet
 * (retry later to wait for a writer); BF_ECORRUPT / BF_EVERSION for a bad segment header;
 * BF_EINVAL, BF_ENOMEM, BF_EIO. On failure r->error says which file and what to do, and r
 * holds nothing (bfr_close is then optional). */
static inline int bfr_open(bfr_reader *r, const char *dir, unsigned flags) {
    if (!r) return BF_EINVAL;
    int rc = bfr__open(r, dir, flags);
    if (rc != BF_OK) bfr_close(r); /* keeps r->error */
    return rc;
}

/* bfr_next's general path: verification, SYMBOL records, reloading write_index, rolls. */
static BFR__COLD int bfr__next_slow(bfr_reader *r, const bf_slot **out) {
    *out = NULL;
    for (;;) {
        if (r->pos < r->avail) {
            const bf_slot *s = (const bf_slot *)(r->slots + r->pos * r->slot_size);
            if ((r->flags & BFR_VERIFY_CRC) && bf_slot_crc32c(s, r->slot_size) != s->crc32c)
                return bfr__fail(r, BF_ECORRUPT,
                                 "%s/%020llu%s: slot %llu fails its crc32c check (torn or "
                                 "corrupt record)",
                                 r->dir, (unsigned long long)r->seg_seq, BF_SEGMENT_SUFFIX,
                                 (unsigned long long)r->pos);
            if (s->type == BF_REC_SYMBOL) {
                int rc = bfr__learn_symbol(r, s);
                if (rc < 0) return rc;
            }
            r->pos++;
            *out = s;
            return 1;
        }
        if (BFR__UNLIKELY(!r->hdr)) return bfr__fail(r, BF_ECLOSED, "reader is not open");
        uint64_t n = 0;
        int rc = bfr__published(r, &n);
        if (rc < 0) return rc;
        if (n > r->pos) {
            r->avail = n;
            continue;
        }
        rc = bfr__follow(r);
        if (rc <= 0) return rc;
    }
}

/* The next record. Returns 1 and sets *out (valid until the reader leaves the segment or
 * is closed), 0 if none is published yet (poll again), or < 0 on error (BF_ECORRUPT for a
 * bad crc with BFR_VERIFY_CRC or a truncated segment, BF_EIO, BF_ENOMEM, BF_ECLOSED; the
 * position does not move, so the same error repeats). SYMBOL records update the table of
 * bfr_symbol and are returned too. Follows rolls: at the end of a segment it moves on when
 * the segment is sealed or its successor exists (the successor is looked for at most about
 * once per millisecond or per BFR_CHECK_POLLS idle calls, the clock being read every 8th
 * idle call; otherwise polling makes no syscall). Never blocks. */
static BFR__INLINE int bfr_next(bfr_reader *r, const bf_slot **out) {
    /* Fast path: a published record that needs no bookkeeping (no memory barrier, no
     * syscall; write_index is reloaded only when the cached count is used up). */
    if (BFR__LIKELY(r->pos < r->avail && !(r->flags & BFR_VERIFY_CRC))) {
        const bf_slot *s = (const bf_slot *)(r->slots + r->pos * r->slot_size);
        if (BFR__LIKELY(s->type != BF_REC_SYMBOL)) {
            r->pos++;
            *out = s;
            return 1;
        }
    }
    return bfr__next_slow(r, out);
}

static inline void bfr__pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Like bfr_next, but waits up to timeout_ns (< 0: forever) for a record: spins for about
 * 20 us, then sleeps with a backoff from 50 us up to 1 ms (so a record published while
 * sleeping is seen within about 1 ms). Returns 1 with *out, 0 on timeout (not an error),
 * or < 0 as bfr_next. */
static inline int bfr_wait(bfr_reader *r, const bf_slot **out, int64_t timeout_ns) {
    int rc = bfr_next(r, out);
    if (rc != 0 || timeout_ns == 0) return rc;
    uint64_t start = bfr__mono_ns();
    uint64_t spin_until = start + 20000;
    uint64_t sleep_ns = 50000;
    for (;;) {
        uint64_t now = bfr__mono_ns();
        if (timeout_ns > 0 && now - start >= (uint64_t)timeout_ns) return 0;
        if (now < spin_until) {
            for (int i = 0; i < 64; i++) bfr__pause();
        } else {
            uint64_t left = timeout_ns > 0 ? (uint64_t)timeout_ns - (now - start) : sleep_ns;
            uint64_t d = sleep_ns < left ? sleep_ns : left;
            struct timespec ts;
            ts.tv_sec = (time_t)(d / 1000000000u);
            ts.tv_nsec = (long)(d % 1000000000u);
            nanosleep(&ts, NULL);
            if (sleep_ns < 1000000) sleep_ns *= 2;
            r->idle_polls |= 7u; /* after a sleep, the next idle poll reads the clock */
        }
        rc = bfr_next(r, out);
        if (rc != 0) return rc;
    }
}

/* Name of symbol id (defined by a SYMBOL record the reader has passed or, with
 * BFR_FROM_END, that precedes its start in the segment), or NULL. Owned by the reader. */
static inline const char *bfr_symbol(const bfr_reader *r, uint64_t id) {
    if (id == 0 || id > r->symbols_cap || r->symbols[id - 1][0] == '\0') return NULL;
    return r->symbols[id - 1];
}

/* Where the reader is (the next record it will return). */
static inline void bfr_tell(const bfr_reader *r, bfr_position *out) {
    out->segment_seq = r->seg_seq;
    out->index = r->pos;
    out->global_index = (r->hdr ? r->hdr->first_index : 0) + r->pos;
}

/* Records published but not yet returned in the current segment (a lag gauge; records in
 * later segments are not counted). */
static inline uint64_t bfr_lag(const bfr_reader *r) {
    if (!r->hdr) return 0;
    uint64_t n = bf_load_acquire_u64(&r->hdr->write_index);
    if (n > r->limit) n = r->limit;
    return n > r->pos ? n - r->pos : 0;
}


#ifdef __cplusplus
}
#endif

#endif /* BINFEED_READER_H */
