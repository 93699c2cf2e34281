/*
 * queue_internal.h -- declarations shared by the writer's source files (not public API).
 *
 * lock.c             the writer.lock file: OFD write lock and holder information
 * segment.c          segment files: create (reserve, map, prefault), open, seal, list
 * symbols.c          the symbol table: name -> id (open addressing) and id -> name
 * slot_crc.c         the writer's fast slot checksum (three interleaved CRC32C streams)
 * recovery.c         recovery of the queue a previous writer left, when a writer opens it
 * writer.c           the bf_writer handle: open, symbols, appends, publishing, close
 * writer_segments.c  the writer's segments: start, roll, seal, prepare_next, sync
 * status.c           status messages and the small helpers below
 *
 * The bf_writer struct is private to writer.c and writer_segments.c (writer_state.h).
 */
#ifndef BF_QUEUE_INTERNAL_H
#define BF_QUEUE_INTERNAL_H

#include "binfeed.h"

#if defined(__GNUC__) || defined(__clang__)
#define BF_LIKELY(x) __builtin_expect(!!(x), 1)
#define BF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define BF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BF_LIKELY(x) (x)
#define BF_UNLIKELY(x) (x)
#define BF_PRINTF(a, b)
#endif

#define BF_ERR_MAX 512 /* size of detailed error buffers */

/* snprintf into msg (never overflows, always terminated). */
void bf__fmt(char *msg, size_t len, const char *fmt, ...) BF_PRINTF(3, 4);

/* Copies NUL-terminated text into a fixed field of `size` bytes: at most size - 1 bytes,
 * cut before a UTF-8 sequence that would not fit whole, the rest NUL. */
void bf__copy_text(char *field, size_t size, const char *text);

/* ---------------------------------------------------------------- lock.c */

/* Takes the writer lock of the queue directory `dir` (open as dirfd): F_OFD_SETLK write
 * lock on writer.lock, then writes the holder information into it. Returns BF_OK with the
 * lock file's fd in *fd, BF_ELOCKED (message names the holder) or BF_EIO. */
int bf__lock_acquire(int dirfd, const char *dir, int *fd, char *err, size_t errlen);

/* Empties the holder information and closes fd (which drops the lock). */
void bf__lock_release(int fd);

/* ---------------------------------------------------------------- segment.c */

/* A segment file mapped read-write by the writer. */
typedef struct bf_segment {
    int fd;                   /* -1 when none */
    unsigned char *map;       /* mapping of map_len bytes, NULL when none */
    size_t map_len;
    bf_segment_header *hdr;   /* == map */
    uint64_t capacity;        /* slots the mapping holds */
    char tmp_name[BF_SEGMENT_NAME_MAX + 8]; /* ".<seq>.bfq.tmp" while not yet renamed */
} bf_segment;

#define BF_SEGMENT_NONE {-1, NULL, 0, NULL, 0, {0}}

/* Creates <dir>/.<seq>.bfq.tmp for `capacity` slots: reserves its space (posix_fallocate:
 * BF_ENOSPC with a message naming the file, its size and what to do), maps it and, if
 * prefault, touches every page. The header is left zero (see bf__segment_activate). */
int bf__segment_create_tmp(int dirfd, const char *dir, uint64_t seq, uint64_t capacity,
                           int prefault, bf_segment *out, char *err, size_t errlen);

/* Fills the header of a created segment (all immutable fields and header_crc). */
void bf__segment_init_header(bf_segment *s, uint64_t seq, uint64_t created_ns,
                             uint64_t first_index, uint32_t flags,
                             const uint8_t queue_id[BF_QUEUE_ID_SIZE]);

/* Renames the temporary file to its final name <dir>/<seq>.bfq (readers see it now). */
int bf__segment_publish(int dirfd, const char *dir, bf_segment *s, uint64_t seq, char *err,
                        size_t errlen);

/* Opens and maps an existing segment read-write and validates its header.
 * BF_ENOTFOUND, BF_ECORRUPT, BF_EVERSION, BF_EIO. With `torn_ok` (recovery of the newest
 * segment), a file shorter than its header claims (what a power cut can leave) is accepted:
 * out->capacity is then the slots the file holds, and *short_file (may be NULL) is set. */
int bf__segment_open(int dirfd, const char *dir, uint64_t seq, int torn_ok, bf_segment *out,
                     int *short_file, char *err, size_t errlen);

/* Seals a segment whose final write_index is `used`: sealed_ns, store-release sealed = 1,
 * then truncates the file to its used length. Does not unmap. The two steps are also
 * available alone (a roll defers the truncation to the thread calling prepare_next). */
int bf__segment_seal(bf_segment *s, uint64_t used, uint64_t now_ns, const char *dir,
                     char *err, size_t errlen);
void bf__segment_mark_sealed(bf_segment *s, uint64_t now_ns);
int bf__segment_truncate(bf_segment *s, uint64_t used, const char *dir, char *err,
                         size_t errlen);

/* Unmaps and closes (the file stays). */
void bf__segment_close(bf_segment *s);

/* Unmaps, closes and unlinks a temporary segment that was never published. */
void bf__segment_discard(int dirfd, bf_segment *s);

/* Lists the segments of the directory: lowest and highest seq (0, 0 if none), how many,
 * and deletes leftover temporary files when remove_tmp. */
int bf__segment_scan_dir(int dirfd, const char *dir, int remove_tmp, uint64_t *lowest,
                         uint64_t *highest, uint64_t *count, char *err, size_t errlen);

/* Address of slot i of a segment. */
static inline bf_slot *bf__segment_slot(const bf_segment *s, uint64_t i) {
    return (bf_slot *)(s->map + s->hdr->header_size + i * s->hdr->slot_size);
}

uint64_t bf__realtime_ns(void);

/* ---------------------------------------------------------------- symbols.c */

typedef struct bf_sym {
    uint32_t name_len;              /* 0: id not defined */
    char name[BF_SYMBOL_MAX + 1];   /* normalized (bf__symbol_normalize), NUL terminated */
} bf_sym;

typedef struct bf_symtab {
    bf_sym *defs;        /* defs[id - 1] */
    uint64_t count;      /* highest id in use (ids 1..count) */
    uint64_t defined;    /* ids with a name */
    uint64_t defs_cap;
    uint64_t *slots;     /* open addressing on the name: id, 0 = empty */
    uint64_t nslots;     /* power of two */
} bf_symtab;

/* Validates a symbol name (1..BF_SYMBOL_MAX bytes of UTF-8: ASCII [A-Za-z0-9_.-] and any
 * non-ASCII character) and writes it NUL padded into out, ASCII letters upper-case, every
 * other byte as it is. BF_ESYMBOL otherwise. */
int bf__symbol_normalize(const char *name, size_t len, char out[BF_SYMBOL_MAX]);

/* id of the normalized name (len bytes), or 0. */
uint64_t bf__symtab_find(const bf_symtab *t, const char *name, size_t len);

/* Defines id -> name (normalized). BF_ENOMEM; BF_ESYMBOL if the id or name is already
 * defined differently. */
int bf__symtab_set(bf_symtab *t, uint64_t id, const char *name, size_t len);

void bf__symtab_free(bf_symtab *t);

static inline int bf__symtab_defined(const bf_symtab *t, uint64_t id) {
    return id - 1 < t->count && t->defs[id - 1].name_len != 0;
}

/* ---------------------------------------------------------------- slot_crc.c */

/* The writer's slot checksum tables (binfeed_reader.h: bf_slot_crc_tables). */
typedef bf_slot_crc_tables bf_slot_crc;

void bf__slot_crc_init(bf_slot_crc *c);

/* crc32c field value for a 128-byte slot (identical to bf_slot_crc32c(slot, 128)). */
uint32_t bf__slot_crc(const bf_slot_crc *c, const bf_slot *slot);

/* Same for a BOOK_TICKER slot given by value (bytes 72..127 zero, flags 0). */
uint32_t bf__slot_crc_book_ticker(const bf_slot_crc *c, uint64_t seq, uint64_t recv_ts_ns,
                                  uint64_t timestamp, double bid_price, double bid_qty,
                                  double ask_price, double ask_qty, uint64_t symbol_id);

/* ---------------------------------------------------------------- recovery.c */

/* What recovery learnt of the queue a writer opened. */
typedef struct bf_recovery {
    uint64_t newest_at_open;   /* seq of the newest segment at open, 0 for a new queue */
    uint64_t next_first;       /* queue-wide index the writer's first segment starts at */
    uint64_t cut;              /* torn slots dropped */
    uint8_t queue_id[BF_QUEUE_ID_SIZE]; /* the queue's, or a new random one */
    bf_recovery_report reports[BF_RECOVERY_REPORTS_MAX]; /* findings, oldest first */
    size_t nreports;
    uint64_t reports_dropped;  /* findings beyond BF_RECOVERY_REPORTS_MAX */
} bf_recovery;

/* Recovers the queue in directory `dir` (open as dirfd, writer lock held): lists its
 * segments (deleting leftover temporary files), reports holes, finishes the newest segment
 * (and an unsealed predecessor) by the damage policy, and learns the symbols into `syms`
 * (which must be empty) and the queue_id. BF_OK with *out filled, or BF_ECORRUPT /
 * BF_EVERSION / BF_EIO / BF_ENOMEM with a message in err saying what to do. */
int bf__recover(int dirfd, const char *dir, bf_symtab *syms, bf_recovery *out, char *err,
                size_t errlen);

/* The RECOVERY record of finding i (i < r->nreports), received at now_ns, file names
 * relative to `dir`; crc32c not set. */
void bf__recovery_record(const bf_recovery *r, size_t i, const char *dir, uint64_t now_ns,
                         bf_slot *out);

/* Finding i for bf_writer_recovery: the last one says how many more were dropped.
 * BF_ENOTFOUND when i >= r->nreports. */
int bf__recovery_report(const bf_recovery *r, size_t i, bf_recovery_report *out);

#endif
