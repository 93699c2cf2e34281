/*
 * ffi_glue.h -- what binfeed's Python layer needs of binfeed_reader.h that cffi cannot call
 * directly (its functions are static inline): the header's reader (binfeed/queue.py reads
 * through it, so Python and C follow a queue with the same code), the one judge of segment
 * files, acquire loads, segment locks and the writer-lock probe. Not part of the public C
 * API.
 */
#ifndef BINFEED_FFI_GLUE_H
#define BINFEED_FFI_GLUE_H

#include <stdint.h>
#include <stddef.h>

#include "binfeed_reader.h"

/** A segment header's fields, read by C (Python never re-types the layout). */
typedef struct bf_py_segment_info {
    uint32_t version;
    uint32_t header_size;
    uint32_t slot_size;
    uint32_t flags;
    uint64_t capacity;
    uint64_t segment_seq;
    uint64_t created_ns;
    uint64_t first_index;
    uint8_t queue_id[BF_QUEUE_ID_SIZE];
    uint32_t seal_flags;
    uint32_t reserved;
    uint64_t sealed_ns;
    uint64_t damage_first;
    uint64_t damage_count;
} bf_py_segment_info;

/** bf_segment_check on `header` (at least min(file_size, 4096) readable bytes: a mapping
 *  or a pread copy), then its fields into *info (may be NULL). Returns as bf_segment_check. */
int bf_py_segment_check(const void *header, uint64_t file_size, uint64_t seq, const char *path,
                        bf_py_segment_info *info, char *msg, size_t msglen);

/** A mapped segment's write_index and sealed (acquire loads). */
uint64_t bf_py_segment_write_index(const void *header);
uint32_t bf_py_segment_sealed(const void *header);

/** The directory layout's names: segment seq's file name into buf (bf_segment_name;
 *  BF_SEGMENT_NAME_MAX bytes suffice); 1 and *seq if `name` is a segment file name, else 0
 *  (bf_parse_segment_name); the writer lock file's name (BF_LOCK_FILE, static). */
void bf_py_segment_name(char *buf, size_t len, uint64_t seq);
int bf_py_parse_segment_name(const char *name, uint64_t *seq);
const char *bf_py_lock_file_name(void);

/** "checksum", "hole", ... for a BFR_DAMAGE_* kind (bfr_damage_kind_name). */
const char *bf_py_damage_kind_name(uint32_t kind);

/** bf_segment_end_check for a sealed segment (after_last: NULL or slot_size bytes). */
int bf_py_segment_end_check(const void *header, uint64_t file_size, const void *after_last,
                            char *msg, size_t msglen);

/** The first of n slots (stride slot_size) failing bf_slot_check with BF_SLOT_BAD_CRC, or n. */
uint64_t bf_py_slots_first_bad(const void *slots, uint64_t n, uint32_t slot_size);

/** The record types of this format version (bf_record_type_known), ascending, into out
 *  (room for max; NULL when max is 0); returns how many there are (more than max: out holds
 *  the first max). */
size_t bf_py_record_types(uint16_t *out, size_t max);

/** Converts n version-1 slots in place to version 2 (bf_slot_upgrade_v1). */
void bf_py_slots_upgrade_v1(void *slots, uint64_t n, uint32_t slot_size);

/** The header's reader, heap-allocated. On failure NULL, *rc the status and msg the reason. */
bfr_reader *bf_py_reader_open(const char *dir, unsigned flags, int *rc, char *msg,
                              size_t msglen);
/** The same through bfr_open_wait: waits up to wait_ns for the queue to appear (called with
 *  the GIL released, in slices, so that Python sees its signals between them). */
bfr_reader *bf_py_reader_open_wait(const char *dir, unsigned flags, int64_t wait_ns, int *rc,
                                   char *msg, size_t msglen);
/** The same through bfr_open_at: a reader from slot ``index`` of segment ``seq``. */
bfr_reader *bf_py_reader_open_at(const char *dir, uint64_t seq, uint64_t index, unsigned flags,
                                 int *rc, char *msg, size_t msglen);
/** bfr_next_batch. */
int bf_py_reader_next_batch(bfr_reader *r, uint64_t max, uint64_t *seq, uint64_t *first,
                            uint64_t *count);
/** The reader's last message, its last damage, the version of its segment, a symbol. */
const char *bf_py_reader_error(const bfr_reader *r);
void bf_py_reader_damage(const bfr_reader *r, bfr_damage *out);
uint32_t bf_py_reader_version(const bfr_reader *r);
const char *bf_py_reader_symbol(const bfr_reader *r, uint64_t id);
uint64_t bf_py_reader_symbol_capacity(const bfr_reader *r);
/** SYMBOL records and records of unknown types the reader has passed (counters). */
uint64_t bf_py_reader_symbols_seen(const bfr_reader *r);
uint64_t bf_py_reader_unknown_seen(const bfr_reader *r);
void bf_py_reader_tell(const bfr_reader *r, bfr_position *out);
/** bfr_close and free. NULL is a no-op. */
void bf_py_reader_close(bfr_reader *r);

/** Load-acquire of the u64 / u32 at addr (8- / 4-byte aligned, inside a mapped segment). */
uint64_t bf_py_load_acquire_u64(const void *addr);
uint32_t bf_py_load_acquire_u32(const void *addr);

/** CRC32C of len bytes at buf (binfeed_reader.h's bf_crc32c; hardware path when present). */
uint32_t bf_py_crc32c(const void *buf, size_t len);

/** Takes an F_OFD_SETLK read lock on the whole file behind fd (a reader's claim on a
 *  segment, see "Writer exclusion" in binfeed_reader.h). 0, or -errno. */
int bf_py_lock_shared(int fd);

/** Tries to take an F_OFD_SETLK write lock on the whole file behind fd without waiting:
 *  1 taken, 0 held by someone else, -errno on failure. Used by retention. */
int bf_py_try_lock_exclusive(int fd);

/** Whether a live writer holds <dir>/writer.lock: 1 held, 0 free, BF_ENOTFOUND when the
 *  lock file does not exist, BF_EIO on other failures. Takes no lock. */
int bf_py_writer_live(const char *dir);

#endif
