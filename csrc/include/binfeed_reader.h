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
 *   MARK: - Writer exclusion, rolls and recovery
 *   MARK: - Reader API
 *
 * Copyright (c) 2026 the binfeed developers. MIT licence.
 */
#ifndef BINFEED_READER_H
#define BINFEED_READER_H

#include <stdint.h>
#include <stddef.h>

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
 * |  0 | 8 | timestamp  u64 | exchange event time in ms when the stream carries one (USD-M     |
 * |    |   |                | futures `E`); Binance Spot bookTicker carries none: 0, never a   |
 * |    |   |                | made-up value. Use recv_ts_ns for time on spot.                  |
 * |  8 | 8 | bid_price  f64 | `b`    | 16 | 8 | bid_qty f64 | `B`                                 |
 * | 24 | 8 | ask_price  f64 | `a`    | 32 | 8 | ask_qty f64 | `A`                                 |
 * | 40 | 8 | symbol_id  u64 | id defined by an earlier BF_REC_SYMBOL of this segment            |
 *
 * BF_REC_TRADE (2), 56 bytes:
 * |  0 | 8 | price       f64 | `p`                                                             |
 * |  8 | 8 | qty         f64 | `q`                                                             |
 * | 16 | 8 | trade_id    u64 | `t` (also in the slot's seq)                                    |
 * | 24 | 8 | trade_ts_ms u64 | `T`                                                             |
 * | 32 | 8 | event_ts_ms u64 | `E`                                                             |
 * | 40 | 8 | symbol_id   u64 |                                                                 |
 * | 48 | 1 | flags       u8  | bit0 buyer_is_maker (`m`), bit1 best_match (`M`),               |
 * |    |   |                 | bit2 best_match present (futures trades carry no `M`)           |
 * | 49 | 7 | zero            |                                                                 |
 *
 * BF_REC_SYMBOL (16), 48 bytes: defines symbol_id -> name for the rest of the queue.
 * |  0 |  8 | symbol_id u64 | 1, 2, 3, ... stable for the life of the queue                  |
 * |  8 |  4 | name_len  u32 | 1..BF_SYMBOL_MAX                                               |
 * | 12 |  4 | zero          |                                                                |
 * | 16 | 32 | name          | upper-case ASCII [A-Z0-9_-], NUL padded                        |
 * Every segment begins with one SYMBOL record per symbol known when it was created,
 * and a new symbol's SYMBOL record precedes its first use; so a reader resolves every
 * id from the segment it is in, starting anywhere.
 *
 * BF_REC_GAP (17), 32 bytes: records of one stream may be missing between two seqs.
 * |  0 | 8 | symbol_id u64 |                                                                  |
 * |  8 | 4 | stream    u32 | BF_STREAM_*; the stream name is lower(symbol) "@" stream name    |
 * | 12 | 4 | reason    u32 | BF_GAP_*                                                         |
 * | 16 | 8 | last_seq  u64 | last seq stored before the gap (0 = none known)                 |
 * | 24 | 8 | next_seq  u64 | first seq stored after it (0 = not known yet)                   |
 *
 * BF_REC_CONNECTION (18), 104 bytes: a recorder's connection event, for audit.
 * |  0 |  4 | event   u32  | BF_CONN_*                                                        |
 * |  4 |  4 | conn_id u32  | recorder-local connection number                                 |
 * |  8 |  8 | code    i64  | close code, error code or stream count, per event                |
 * | 16 | 88 | detail       | UTF-8 text, NUL padded (truncated to 87 bytes)                   |
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
 *   seals segment seq and truncates it to its used length. A reader that finds a segment
 *   exhausted (i == write_index) moves to seq+1 when `sealed` is set, or when file seq+1
 *   exists (the writer may have died between the two steps): in both cases write_index is
 *   final once seen after that observation.
 * Recovery: a new writer seals the newest segment if it is not sealed, after checking the
 *   crc32c of every published slot and cutting write_index back to the first bad slot, and
 *   then always starts a new segment. It deletes leftover .tmp files.
 * Readers hold an F_OFD_SETLK read lock on each segment they map; retention deletes a
 *   sealed segment only after taking a write lock on it, so never one a reader has open.
 */

/* ========================================================================== */
/* MARK: - Reader API                                                          */
/* ========================================================================== */
/*
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

/* The reader implementation follows below (static inline, prefixed bfr_ / bf_). */

#ifdef __cplusplus
}
#endif

#endif /* BINFEED_READER_H */
