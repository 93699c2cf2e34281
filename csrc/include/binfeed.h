/*
 * binfeed.h -- the binfeed C API: the queue writer and the Binance frame parser.
 *
 * The file format, status codes and the reader live in binfeed_reader.h, included here.
 *
 * Contents:
 *   MARK: - Version
 *   MARK: - Errors
 *   MARK: - Writer
 *   MARK: - Parser
 *
 * Conventions (every function):
 *   - returns int: BF_OK (0) or a positive result on success, a negative BF_E* code on
 *     failure; outputs go through pointers, which are written only on success;
 *   - a NULL handle is BF_EINVAL, never a crash;
 *   - a handle remembers a detailed message of its last failure (bf_writer_error,
 *     bf_parser_error); bf_status_message gives the constant text of a code.
 *
 * Copyright (c) 2026 the binfeed developers. MIT licence.
 */
#ifndef BINFEED_H
#define BINFEED_H

#include "binfeed_reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================== */
/* MARK: - Version                                                             */
/* ========================================================================== */
#define BINFEED_VERSION_STRING "0.1.0"

/** The format version this build writes and reads (BF_FORMAT_VERSION). Thread-safe. */
uint32_t bf_format_version(void);

/* ========================================================================== */
/* MARK: - Errors                                                              */
/* ========================================================================== */

/** Constant English text for a status code; never NULL; unknown codes get a generic text.
 *  Thread-safe; the string is static, do not free. */
const char *bf_status_message(int status);

/* ========================================================================== */
/* MARK: - Writer                                                              */
/* ========================================================================== */
/*
 * A bf_writer appends records to one queue directory. It is the queue's only writer
 * (see "Writer exclusion" in binfeed_reader.h).
 * Thread-safety: all calls from one thread, except bf_writer_prepare_next and
 * bf_writer_sync, which may run on another thread concurrently with appends.
 */
typedef struct bf_writer bf_writer;

typedef struct bf_writer_opts {
    uint64_t segment_slots; /* slots per segment; 0 = BF_DEFAULT_SEGMENT_SLOTS; at least
                               BF_MIN_SEGMENT_SLOTS; raised to 2 x symbols when smaller */
    uint32_t flags;         /* BF_WRITER_* */
    uint32_t reserved;      /* zero */
} bf_writer_opts;

#define BF_DEFAULT_SEGMENT_SLOTS (1u << 20) /* 1 Mi slots = 128 MiB + 4 KiB per segment */
#define BF_MIN_SEGMENT_SLOTS 64u
#define BF_WRITER_UTC_DAY_ROLL 1u /* also roll when recv time crosses UTC midnight */
#define BF_WRITER_PREFAULT 2u     /* touch every page of a new segment when creating it */
#define BF_WRITER_SYNC_SEAL 4u    /* make every sealed segment durable: fdatasync it and fsync
                                     the directory when it is sealed (on the thread calling
                                     bf_writer_prepare_next when one keeps segments ready, else
                                     at the roll), and at close */

typedef struct bf_writer_stats {
    uint64_t segment_seq;      /* seq of the segment being written */
    uint64_t write_index;      /* published slots in that segment */
    uint64_t capacity;         /* slots in that segment */
    uint64_t records_written;  /* slots this writer published (all types) */
    uint64_t segments_created; /* by this writer */
    uint64_t symbols;          /* symbols defined in the queue */
    uint64_t recovered_cut;    /* torn slots dropped by recovery at open */
    uint64_t recovery_events;  /* what recovery found: bf_writer_recovery(0 .. n-1) */
} bf_writer_stats;

/* One finding of the recovery a writer did at open (see "Damage" in binfeed_reader.h):
 * the same facts as the BF_REC_RECOVERY record it wrote, with a longer message. */
typedef struct bf_recovery_report {
    uint32_t event;       /* BF_RECOVERY_* */
    uint32_t reserved;
    uint64_t segment_seq; /* the segment concerned (the first missing one for a hole) */
    uint64_t slot;        /* first slot concerned, 0 if none */
    uint64_t count;       /* slots cut or damaged, segments missing */
    char message[256];    /* what was found and done, naming the file; for a log */
} bf_recovery_report;

#define BF_RECOVERY_REPORTS_MAX 16 /* further findings are counted in the last message */

/** Opens (creating if needed) the queue at `dir` for writing and takes the writer lock.
 *  Recovers from a crashed predecessor (see binfeed_reader.h) and starts a new segment.
 *  On failure *out is untouched and, when errbuf is not NULL, a message naming the cause
 *  (for BF_ELOCKED: the holder's pid, host and command) is written to errbuf.
 *  opts may be NULL for defaults. Ownership: the caller closes *out with bf_writer_close. */
int bf_writer_open(const char *dir, const bf_writer_opts *opts, bf_writer **out, char *errbuf,
                   size_t errlen);

/** Seals the current segment, truncates it to its used length, releases the lock and
 *  frees the writer. NULL is a no-op returning BF_OK. The handle is invalid afterwards. */
int bf_writer_close(bf_writer *w);

/** Detailed message of the writer's last failure ("" if none). Owned by the writer. */
const char *bf_writer_error(const bf_writer *w);

/** Looks up `name` (len bytes of UTF-8; ASCII letters are case-insensitive and stored
 *  upper-case, every other character as it is) and defines it with a SYMBOL record if new.
 *  Writes the id to *id. BF_ESYMBOL for an empty name, one longer than BF_SYMBOL_MAX bytes,
 *  one that is not valid UTF-8, or one with an ASCII character outside [A-Za-z0-9_.-]. */
int bf_writer_symbol(bf_writer *w, const char *name, size_t len, uint64_t *id);

/** Writes the stored form of a symbol name to out[0..len) (ASCII letters upper-case, every
 *  other character as it is; the length does not change) and NUL pads out to
 *  BF_SYMBOL_MAX bytes: what bf_writer_symbol stores and what every name lookup compares.
 *  BF_OK, or BF_ESYMBOL for the names bf_writer_symbol refuses (empty, longer than
 *  BF_SYMBOL_MAX bytes, not valid UTF-8, or an ASCII character outside [A-Za-z0-9_.-]).
 *  Thread-safe, no allocation; out NULL is BF_EINVAL. */
int bf_symbol_normalize(const char *name, size_t len, char out[BF_SYMBOL_MAX]);

/** Name of a defined symbol id, or NULL. Owned by the writer. */
const char *bf_writer_symbol_name(const bf_writer *w, uint64_t id);

/** Appends one record. The writer fills crc32c and ignores the caller's value; type must be
 *  BF_REC_BOOK_TICKER, BF_REC_TRADE, BF_REC_GAP or BF_REC_CONNECTION (SYMBOL records are
 *  written by bf_writer_symbol only); symbol ids must be defined; prices and quantities
 *  finite. Anything else is BF_EINVAL / BF_ESYMBOL and nothing is written. */
int bf_writer_append(bf_writer *w, const bf_slot *slot);

/** Appends n records with one publish (all or nothing for validation: the batch is checked
 *  first). Returns BF_OK. Slots are taken with a stride of sizeof(bf_slot). If the batch
 *  needs a roll and the next segment cannot be created (BF_ENOSPC, BF_EIO), the records
 *  before the roll are stored and published, the rest are not (bf_writer_get_stats tells
 *  how many were written). */
int bf_writer_append_many(bf_writer *w, const bf_slot *slots, size_t n);

/** Record constructors: each fills the whole slot *s as one record of its type (the body
 *  as in "Slots and records" of binfeed_reader.h, flags 0, unused bytes zero, crc32c 0: the
 *  writer sets it), for bf_writer_append and bf_writer_append_many. The typed appends
 *  below store their records with these too. They validate nothing (the appends do).
 *  s must not be NULL. Thread-safe: they touch *s only. */
static inline void bf_slot_book_ticker(bf_slot *s, uint64_t recv_ts_ns, uint64_t update_id,
                                       uint64_t timestamp_us, double bid_price, double bid_qty,
                                       double ask_price, double ask_qty, uint64_t symbol_id) {
    s->crc32c = 0;
    s->type = BF_REC_BOOK_TICKER;
    s->flags = 0;
    s->seq = update_id;
    s->recv_ts_ns = recv_ts_ns;
    s->body.book_ticker.timestamp = timestamp_us;
    s->body.book_ticker.bid_price = bid_price;
    s->body.book_ticker.bid_qty = bid_qty;
    s->body.book_ticker.ask_price = ask_price;
    s->body.book_ticker.ask_qty = ask_qty;
    s->body.book_ticker.symbol_id = symbol_id;
    memset(s->body.raw + sizeof(bf_book_ticker), 0, BF_BODY_SIZE - sizeof(bf_book_ticker));
}

/** A TRADE record (flags: BF_TRADE_F_*; the slot's seq is the trade id). */
static inline void bf_slot_trade(bf_slot *s, uint64_t recv_ts_ns, uint64_t trade_id,
                                 double price, double qty, uint64_t trade_ts_us,
                                 uint64_t event_ts_us, uint32_t flags, uint64_t symbol_id) {
    memset(s, 0, sizeof *s);
    s->type = BF_REC_TRADE;
    s->seq = trade_id;
    s->recv_ts_ns = recv_ts_ns;
    s->body.trade.price = price;
    s->body.trade.qty = qty;
    s->body.trade.trade_id = trade_id;
    s->body.trade.trade_ts_us = trade_ts_us;
    s->body.trade.event_ts_us = event_ts_us;
    s->body.trade.symbol_id = symbol_id;
    s->body.trade.flags = (uint8_t)flags;
}

/** A GAP record: records of (symbol_id, stream) may be missing between last_seq and
 *  next_seq (BF_GAP_* reason; 0 = a seq not known). */
static inline void bf_slot_gap(bf_slot *s, uint64_t recv_ts_ns, uint64_t symbol_id,
                               uint32_t stream, uint32_t reason, uint64_t last_seq,
                               uint64_t next_seq) {
    memset(s, 0, sizeof *s);
    s->type = BF_REC_GAP;
    s->recv_ts_ns = recv_ts_ns;
    s->body.gap.symbol_id = symbol_id;
    s->body.gap.stream = stream;
    s->body.gap.reason = reason;
    s->body.gap.last_seq = last_seq;
    s->body.gap.next_seq = next_seq;
}

/** Typed appends (the fast path used by the parser). Same validation as above. Exchange
 *  times are microseconds (a millisecond source multiplies by 1000). */
int bf_append_book_ticker(bf_writer *w, uint64_t recv_ts_ns, uint64_t update_id,
                          uint64_t timestamp_us, double bid_price, double bid_qty,
                          double ask_price, double ask_qty, uint64_t symbol_id);
int bf_append_trade(bf_writer *w, uint64_t recv_ts_ns, uint64_t trade_id, double price,
                    double qty, uint64_t trade_ts_us, uint64_t event_ts_us, uint32_t flags,
                    uint64_t symbol_id);
int bf_append_gap(bf_writer *w, uint64_t recv_ts_ns, uint64_t symbol_id, uint32_t stream,
                  uint32_t reason, uint64_t last_seq, uint64_t next_seq);
int bf_append_connection(bf_writer *w, uint64_t recv_ts_ns, uint32_t event, uint32_t conn_id,
                         int64_t code, const char *detail);

/** Creates and prefaults the next segment ahead of time under its temporary name, so the
 *  roll that follows only renames it (tens of microseconds instead of milliseconds); also
 *  truncates and unmaps the segment the last roll sealed, which such a roll leaves to it.
 *  Blocking (disk I/O): call it off the event loop, e.g. every few hundred ms or when
 *  bf_writer_get_stats shows the segment filling. Safe concurrently with appends.
 *  BF_OK if one is ready or was made ready. */
int bf_writer_prepare_next(bf_writer *w);

/** Durability point: fdatasync of the current segment (its mapped pages reach the disk) and
 *  fsync of the queue directory (segment names). Blocking: call it off the event loop.
 *  Safe concurrently with appends, which it never blocks. */
int bf_writer_sync(bf_writer *w);

/** Seals the current segment now and starts the next one. */
int bf_writer_roll(bf_writer *w);

/** Fills *out. */
int bf_writer_get_stats(const bf_writer *w, bf_writer_stats *out);

/** Finding i (0 <= i < stats.recovery_events) of the recovery done at open. BF_ENOTFOUND
 *  past the end. Thread-safe after open (the findings never change). */
int bf_writer_recovery(const bf_writer *w, size_t i, bf_recovery_report *out);

/** The queue's random 16-byte identity (the same in every segment; see queue_id). */
int bf_writer_queue_id(const bf_writer *w, uint8_t out[BF_QUEUE_ID_SIZE]);

/* ========================================================================== */
/* MARK: - Verify                                                              */
/* ========================================================================== */
/*
 * bf_verify_queue checks a whole queue offline, with the judge of binfeed_reader.h, and
 * lists what it finds (see "Damage" there): holes, invalid headers, index mismatches,
 * write_index inconsistent with the file, records failing their checksum, symbols used
 * before their definition (damage); unknown record types, per-stream duplicate and
 * reversed sequences (warnings); unpublished complete slots of an unsealed segment,
 * sealed segments not yet truncated or sealed as damaged (information).
 * It only reads (safe while a writer appends; the newest segment is checked as far as it
 * was published when it was reached). Thread-safety: a bf_verify is used by one thread.
 */
#define BF_SEVERITY_DAMAGE 1u  /* data lost or altered: a reader reports it */
#define BF_SEVERITY_WARNING 2u /* legal but worth knowing (duplicates, newer record types) */
#define BF_SEVERITY_INFO 3u    /* a legal state (an unsealed tail after a crash, ...) */

#define BF_FINDING_HOLE 1u         /* segments missing (count: how many) */
#define BF_FINDING_HEADER 2u       /* unreadable file or invalid header */
#define BF_FINDING_VERSION 3u      /* written by a newer format: cannot be checked */
#define BF_FINDING_INDEX 4u        /* first_index does not continue the previous segment */
#define BF_FINDING_WRITE_INDEX 5u  /* write_index disagrees with the file */
#define BF_FINDING_CHECKSUM 6u     /* records failing their checksum (count: how many) */
#define BF_FINDING_RECORD 7u       /* an invalid record with a good checksum (bad SYMBOL) */
#define BF_FINDING_SYMBOL 8u       /* a symbol id used before its SYMBOL record */
#define BF_FINDING_UNKNOWN_TYPE 9u /* a record type this build does not know */
#define BF_FINDING_DUPLICATE 10u   /* a stream's seq repeated (count: how many) */
#define BF_FINDING_REVERSAL 11u    /* a stream's seq went back (count: how many) */
#define BF_FINDING_UNPUBLISHED 12u /* complete slots past write_index of an unsealed segment */
#define BF_FINDING_UNTRUNCATED 13u /* sealed, not yet truncated to its used length */
#define BF_FINDING_DAMAGED_SEAL 14u /* sealed as damaged by a recovering writer */
#define BF_FINDING_RECOVERY 15u    /* a RECOVERY record: what a writer's recovery found */

typedef struct bf_finding {
    char segment[BF_SEGMENT_NAME_MAX]; /* the segment file's name */
    int64_t slot;                      /* the slot (the first one of a run), -1: the file */
    uint32_t kind;                     /* BF_FINDING_* */
    uint32_t severity;                 /* BF_SEVERITY_* */
    uint64_t count;                    /* records, slots or segments concerned */
    char detail[320];                  /* what was found, in words */
} bf_finding;

typedef struct bf_verify_totals {
    uint64_t segments; /* segment files whose header could be read */
    uint64_t records;  /* published records with a good checksum */
    uint64_t slots;    /* published slots checked */
    uint64_t damage;   /* findings by severity */
    uint64_t warnings;
    uint64_t info;
} bf_verify_totals;

typedef struct bf_verify bf_verify;

/** Verifies the queue at `dir`. flags: 0. On BF_OK, *out holds the findings (free it with
 *  bf_verify_free) whatever they are. BF_ENOTFOUND: no such directory, or no segment file
 *  in it (not a queue); BF_EIO: the directory cannot be listed; BF_ENOMEM; BF_EINVAL.
 *  Then errbuf says why and *out is untouched. */
int bf_verify_queue(const char *dir, uint32_t flags, bf_verify **out, char *errbuf,
                    size_t errlen);

/** The number of findings, finding i (owned by v), the totals. */
size_t bf_verify_count(const bf_verify *v);
const bf_finding *bf_verify_finding(const bf_verify *v, size_t i);
void bf_verify_get_totals(const bf_verify *v, bf_verify_totals *out);

/** "hole", "header", ... for a BF_FINDING_* kind; "damage", "warning", "info" for a
 *  severity. Static strings. */
const char *bf_finding_kind_name(uint32_t kind);
const char *bf_severity_name(uint32_t severity);

/** Frees the findings. NULL is a no-op. */
void bf_verify_free(bf_verify *v);

/* ========================================================================== */
/* MARK: - Parser                                                              */
/* ========================================================================== */
/*
 * A bf_parser turns Binance Spot WebSocket frames into records of one writer: one call
 * per frame parses (yyjson, on a private padded copy, never the caller's buffer in place),
 * normalizes, detects gaps and duplicates, and appends.
 * Frames: a raw payload or a combined-stream envelope {"stream":..,"data":..}.
 * Prices and quantities: strings of digits with an optional '.' and digits, converted to
 * the correctly rounded double (what Python's float() gives). Anything else is an error.
 * Thread-safety: one thread at a time per parser; the writer must not be used by another
 * thread during a call. Ownership: bf_parser_free; the writer must outlive the parser.
 */
typedef struct bf_parser bf_parser;

typedef struct bf_parser_opts {
    size_t max_frame; /* bytes; 0 = BF_DEFAULT_MAX_FRAME; larger frames are BF_ETOOBIG */
    uint32_t flags;   /* BF_PARSER_* */
    uint32_t reserved; /* zero */
} bf_parser_opts;

#define BF_DEFAULT_MAX_FRAME (1u << 20)
/* Store market data whose seq is not above the stream's last one, instead of dropping it as
 * a duplicate (BF_FRAME_DUPLICATE). Live recording wants the drop (it removes the overlap of
 * a connection rotation); importing captures given in any order wants every frame kept. A
 * trade id that goes backwards writes no GAP record (nothing is missing). */
#define BF_PARSER_KEEP_OLDER 1u

/* Exchange times (trade T and E, futures bookTicker E) come in milliseconds, or in
 * microseconds on streams opened with timeUnit=MICROSECOND; records keep microseconds. The
 * magnitude tells the unit of each value: below this bound a time is milliseconds (before
 * the year 5138) and is multiplied by 1000; at or above it, it is microseconds (after
 * 1973-03-03) and is kept exactly. Live streams and captures of either unit alike. */
#define BF_MICROSECOND_TIMES_FROM 100000000000000ull

/* Non-negative results of bf_ingest: what the frame was. */
#define BF_FRAME_BOOK_TICKER 1  /* stored a BOOK_TICKER record */
#define BF_FRAME_TRADE 2        /* stored a TRADE record (maybe preceded by a GAP) */
#define BF_FRAME_DUPLICATE 3    /* market data already stored (seq <= last): nothing written */
#define BF_FRAME_UNSTORED 4     /* a known Binance message binfeed does not store
                                   (depthUpdate, aggTrade, kline, REST snapshot...) */
#define BF_FRAME_CONTROL 5      /* a reply to a control message ({"result"..,"id"..},
                                   {"error"..}, {"code"..,"msg"..}): the caller handles it */
#define BF_FRAME_SERVER_SHUTDOWN 6 /* {"e":"serverShutdown"}: reconnect now */
/* Results of bf_ingest_subscribed only (see "MARK: - Subscriptions"): */
#define BF_FRAME_UNSUBSCRIBED 7 /* market data of a stream not in the set (never subscribed,
                                   refused, unsubscribed) or of a kind binfeed does not
                                   store: nothing written; bf_parser_unsubscribed_stream
                                   names the stream */
#define BF_FRAME_PENDING 8      /* market data of a stream whose SUBSCRIBE waits for its
                                   reply: nothing written and not counted; the caller keeps
                                   the frame and ingests it again once the reply came */

/** What one bf_ingest call did (filled on every call, also on errors). */
typedef struct bf_ingest_info {
    int32_t kind;        /* the return value */
    uint32_t stream;     /* BF_STREAM_* of market data, else 0 */
    uint64_t symbol_id;  /* of market data, else 0 */
    uint64_t seq;        /* u or t of market data, else 0 */
    uint32_t gaps;       /* GAP records written before the record (0 or 1) */
    uint32_t subscription; /* bf_ingest_subscribed: 1 + the set's index of the frame's
                              stream (bf_subs_set), 0 when the stream is not in the set */
} bf_ingest_info;

typedef struct bf_parser_counters {
    uint64_t frames;
    uint64_t book_tickers;
    uint64_t trades;
    uint64_t duplicates;
    uint64_t unstored;
    uint64_t control;
    uint64_t errors;
    uint64_t gaps;
    uint64_t unsubscribed; /* BF_FRAME_UNSUBSCRIBED results (BF_FRAME_PENDING counts nowhere,
                              not even in frames: the frame comes again) */
} bf_parser_counters;

int bf_parser_new(bf_writer *w, const bf_parser_opts *opts, bf_parser **out);
void bf_parser_free(bf_parser *p);

/** Detailed message of the parser's last error, naming the field and value. */
const char *bf_parser_error(const bf_parser *p);

/** Parses one frame and appends what it carries. Returns BF_FRAME_* (>= 0) or a negative
 *  code: parse errors (BF_EJSON, BF_EFIELD, BF_ENUMBER, BF_EUNKNOWN, BF_ETOOBIG,
 *  BF_ESYMBOL) write nothing and leave the parser usable; writer errors (BF_EIO,
 *  BF_ENOSPC) are fatal for the writer. info may be NULL. */
int bf_ingest(bf_parser *p, const char *frame, size_t len, uint64_t recv_ts_ns,
              bf_ingest_info *info);

/** Parses n frames: frame i is buf[offsets[i] .. offsets[i+1]) with receive time
 *  recv_ts_ns[i] (recv_ts_ns may be NULL: 0). results[i] gets bf_ingest's return value.
 *  Returns BF_OK, or the first writer error (frames after it are not processed and
 *  their results are BF_ECLOSED). */
int bf_ingest_batch(bf_parser *p, const char *buf, const size_t *offsets,
                    const uint64_t *recv_ts_ns, size_t n, int32_t *results);

/** Marks a stream as possibly missing frames from now on (its connection was lost):
 *  the next stored record of that stream is preceded by a GAP with `reason`, unless the
 *  stream proves continuity (a trade id exactly last + 1). Unknown symbols are ignored. */
int bf_parser_stream_lost(bf_parser *p, const char *symbol, size_t len, uint32_t stream,
                          uint32_t reason);

/** Last seq seen for a stream (0 if none). */
int bf_parser_last_seq(const bf_parser *p, uint64_t symbol_id, uint32_t stream, uint64_t *out);

int bf_parser_get_counters(const bf_parser *p, bf_parser_counters *out);

/** One stream's figures, as seen by this parser (see bf_parser_stream_stats). */
typedef struct bf_stream_stat {
    uint64_t symbol_id;
    uint32_t stream;       /* BF_STREAM_* */
    uint32_t reserved;
    uint64_t stored;       /* records stored by this parser */
    uint64_t duplicates;   /* frames dropped as duplicates by this parser */
    uint64_t last_seq;     /* last seq in the queue (also from before a restart), 0 if none */
    uint64_t last_recv_ns; /* receive time of the last record this parser stored, 0 if none */
    uint64_t gaps;         /* GAP records of the stream written by this parser */
} bf_stream_stat;

/** Fills out[0 .. min(cap, *total)) with the streams the parser has a last seq or a
 *  duplicate for, in no particular order, and sets *total to how many there are (call with
 *  cap 0 to size the array). For a status display: a scan of the symbol table, not for
 *  the per-frame path. */
int bf_parser_stream_stats(const bf_parser *p, bf_stream_stat *out, size_t cap, size_t *total);

/* ========================================================================== */
/* MARK: - Subscriptions                                                       */
/* ========================================================================== */
/*
 * A bf_subs is one connection's subscribed streams: (symbol, BF_STREAM_*) pairs, each
 * BF_SUB_ACCEPTED (confirmed: its market data is stored), BF_SUB_PENDING (its SUBSCRIBE
 * waits for the reply: its market data is held by the caller) or BF_SUB_NONE. A recorder
 * keeps one set per connection and ingests that connection's frames through
 * bf_ingest_subscribed, so the symbol and stream are read once, by the parser, and a frame
 * of any other stream never reaches the queue (not even as a SYMBOL record).
 * Symbols are matched as the queue names them (ASCII letters in any case, every other
 * byte as it is). Thread-safety: one thread at a time per set, and bf_ingest_subscribed
 * under the parser's rule. Ownership: bf_subs_free; a set does not refer to any parser.
 */
typedef struct bf_subs bf_subs;

#define BF_SUB_NONE 0u     /* not subscribed (never, refused, or unsubscribed) */
#define BF_SUB_PENDING 1u  /* SUBSCRIBE sent or queued, no reply yet */
#define BF_SUB_ACCEPTED 2u /* in the connect URL, or SUBSCRIBE confirmed */

/** An empty set (every stream BF_SUB_NONE). BF_OK, BF_EINVAL (out NULL), BF_ENOMEM. */
int bf_subs_new(bf_subs **out);

/** Frees the set. NULL is a no-op. */
void bf_subs_free(bf_subs *s);

/** Sets the state of the stream (symbol[0..len), stream BF_STREAM_*) to BF_SUB_*. Returns
 *  the stream's index in the set (>= 0: the order in which streams were first set; the
 *  same stream keeps its index for the set's life), or BF_ESYMBOL (an invalid symbol
 *  name), BF_EINVAL (unknown stream or state, NULL), BF_ENOMEM. */
int bf_subs_set(bf_subs *s, const char *symbol, size_t len, uint32_t stream, uint32_t state);

/** bf_ingest, for the frames of the connection whose set is `s`: market data of an
 *  accepted stream is stored as bf_ingest stores it; that of a pending stream is
 *  BF_FRAME_PENDING and that of any other stream (also every kind binfeed does not store)
 *  BF_FRAME_UNSUBSCRIBED, both writing nothing (info->subscription and info->stream say
 *  which stream). Every other frame (replies, serverShutdown, errors) as bf_ingest. */
int bf_ingest_subscribed(bf_parser *p, bf_subs *s, const char *frame, size_t len,
                         uint64_t recv_ts_ns, bf_ingest_info *info);

/** The stream of the last BF_FRAME_UNSUBSCRIBED result, as Binance names it: the
 *  envelope's "stream", else the payload's symbol (ASCII letters lower-cased) "@" its
 *  event type (at most 127 bytes, NUL terminated); "" before the first one. Owned by the
 *  parser, valid until its next call. */
const char *bf_parser_unsubscribed_stream(const bf_parser *p);

#ifdef __cplusplus
}
#endif

#endif /* BINFEED_H */
