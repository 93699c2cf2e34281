/*
 * ffi_glue.h -- small helpers that let the Python reader (binfeed/queue.py) follow the
 * publish protocol of binfeed_reader.h from Python: acquire loads on a mapped segment,
 * segment read locks and the writer-lock probe. Not part of the public C API.
 */
#ifndef BINFEED_FFI_GLUE_H
#define BINFEED_FFI_GLUE_H

#include <stdint.h>
#include <stddef.h>

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
