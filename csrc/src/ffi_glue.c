/* ffi_glue.c -- see ffi_glue.h. */
#include "ffi_glue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binfeed.h"

uint64_t bf_py_load_acquire_u64(const void *addr) {
    return bf_load_acquire_u64((const BF_ATOMIC(uint64_t) *)addr);
}

uint32_t bf_py_load_acquire_u32(const void *addr) {
    return bf_load_acquire_u32((const BF_ATOMIC(uint32_t) *)addr);
}

uint32_t bf_py_crc32c(const void *buf, size_t len) { return bf_crc32c(0, buf, len); }

static int ofd_lock(int fd, short type, int cmd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    return fcntl(fd, cmd, &fl);
}

int bf_py_lock_shared(int fd) {
    return ofd_lock(fd, F_RDLCK, F_OFD_SETLK) == 0 ? 0 : -errno;
}

int bf_py_try_lock_exclusive(int fd) {
    if (ofd_lock(fd, F_WRLCK, F_OFD_SETLK) == 0) return 1;
    if (errno == EAGAIN || errno == EACCES) return 0;
    return -errno;
}

int bf_py_writer_live(const char *dir) {
    if (dir == NULL) return BF_EINVAL;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, BF_LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof path) return BF_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? BF_ENOTFOUND : BF_EIO;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    int rc = fcntl(fd, F_OFD_GETLK, &fl);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        errno = saved;
        return BF_EIO;
    }
    return fl.l_type == F_UNLCK ? 0 : 1;
}

int bf_py_segment_check(const void *header, uint64_t file_size, uint64_t seq, const char *path,
                        bf_py_segment_info *info, char *msg, size_t msglen) {
    const bf_segment_header *h = (const bf_segment_header *)header;
    int rc = bf_segment_check(h, file_size, seq, path ? path : "segment", msg, msglen);
    if (rc != BF_OK || !info) return rc;
    memset(info, 0, sizeof *info);
    info->version = h->version;
    info->header_size = h->header_size;
    info->slot_size = h->slot_size;
    info->flags = h->flags;
    info->capacity = h->capacity;
    info->segment_seq = h->segment_seq;
    info->created_ns = h->created_ns;
    info->first_index = h->first_index;
    if (h->version >= 2) {
        memcpy(info->queue_id, h->queue_id, BF_QUEUE_ID_SIZE);
        info->seal_flags = h->seal_flags;
        info->damage_first = h->damage_first;
        info->damage_count = h->damage_count;
    }
    info->sealed_ns = h->sealed_ns;
    return BF_OK;
}

int bf_py_segment_end_check(const void *header, uint64_t file_size, const void *after_last,
                            char *msg, size_t msglen) {
    return bf_segment_end_check((const bf_segment_header *)header, file_size, after_last, msg,
                                msglen);
}

uint64_t bf_py_slots_first_bad(const void *slots, uint64_t n, uint32_t slot_size) {
    const unsigned char *p = (const unsigned char *)slots;
    for (uint64_t i = 0; i < n; i++)
        if (bf_slot_check((const bf_slot *)(p + i * slot_size), slot_size) == BF_SLOT_BAD_CRC)
            return i;
    return n;
}

void bf_py_segment_name(char *buf, size_t len, uint64_t seq) { bf_segment_name(buf, len, seq); }

int bf_py_parse_segment_name(const char *name, uint64_t *seq) {
    return bf_parse_segment_name(name, seq);
}

const char *bf_py_lock_file_name(void) { return BF_LOCK_FILE; }

size_t bf_py_record_types(uint16_t *out, size_t max) {
    size_t n = 0;
    for (uint32_t t = 0; t <= UINT16_MAX; t++) { /* a slot's type is 16 bits */
        if (!bf_record_type_known(t)) continue;
        if (n < max) out[n] = (uint16_t)t;
        n++;
    }
    return n;
}

void bf_py_slots_upgrade_v1(void *slots, uint64_t n, uint32_t slot_size) {
    unsigned char *p = (unsigned char *)slots;
    for (uint64_t i = 0; i < n; i++) {
        bf_slot tmp;
        bf_slot_upgrade_v1(&tmp, (const bf_slot *)(p + i * slot_size));
        memcpy(p + i * slot_size, &tmp, sizeof tmp);
    }
}

/* A heap-allocated reader for one of the bfr_open* calls; NULL (and *rc, msg) when out of
 * memory. */
static bfr_reader *reader_alloc(const char *dir, int *rc, char *msg, size_t msglen) {
    bfr_reader *r = (bfr_reader *)malloc(sizeof *r);
    if (!r) {
        *rc = BF_ENOMEM;
        snprintf(msg, msglen, "out of memory opening a reader on %s", dir);
    }
    return r;
}

/* The reader r once its open returned rc: r itself, or NULL (freed, msg its reason). */
static bfr_reader *reader_opened(bfr_reader *r, int status, int *rc, char *msg,
                                 size_t msglen) {
    *rc = status;
    if (status != BF_OK) {
        snprintf(msg, msglen, "%s", r->error);
        free(r);
        return NULL;
    }
    return r;
}

bfr_reader *bf_py_reader_open(const char *dir, unsigned flags, int *rc, char *msg,
                              size_t msglen) {
    bfr_reader *r = reader_alloc(dir, rc, msg, msglen);
    return r ? reader_opened(r, bfr_open(r, dir, flags), rc, msg, msglen) : NULL;
}

bfr_reader *bf_py_reader_open_wait(const char *dir, unsigned flags, int64_t wait_ns, int *rc,
                                   char *msg, size_t msglen) {
    bfr_reader *r = reader_alloc(dir, rc, msg, msglen);
    return r ? reader_opened(r, bfr_open_wait(r, dir, flags, wait_ns), rc, msg, msglen) : NULL;
}

bfr_reader *bf_py_reader_open_at(const char *dir, uint64_t seq, uint64_t index, unsigned flags,
                                 int *rc, char *msg, size_t msglen) {
    bfr_reader *r = reader_alloc(dir, rc, msg, msglen);
    return r ? reader_opened(r, bfr_open_at(r, dir, seq, index, flags), rc, msg, msglen)
             : NULL;
}

int bf_py_reader_next_batch(bfr_reader *r, uint64_t max, uint64_t *seq, uint64_t *first,
                            uint64_t *count) {
    return bfr_next_batch(r, max, seq, first, count);
}

const char *bf_py_reader_error(const bfr_reader *r) { return r->error; }

void bf_py_reader_damage(const bfr_reader *r, bfr_damage *out) { *out = r->damage; }

uint32_t bf_py_reader_version(const bfr_reader *r) { return r->version; }

const char *bf_py_reader_symbol(const bfr_reader *r, uint64_t id) { return bfr_symbol(r, id); }

uint64_t bf_py_reader_symbol_capacity(const bfr_reader *r) { return r->symbols_cap; }

void bf_py_reader_tell(const bfr_reader *r, bfr_position *out) { bfr_tell(r, out); }

void bf_py_reader_close(bfr_reader *r) {
    if (!r) return;
    bfr_close(r);
    free(r);
}

uint64_t bf_py_segment_write_index(const void *header) {
    return bf_load_acquire_u64(&((const bf_segment_header *)header)->write_index);
}

uint32_t bf_py_segment_sealed(const void *header) {
    return bf_load_acquire_u32(&((const bf_segment_header *)header)->sealed);
}

const char *bf_py_damage_kind_name(uint32_t kind) { return bfr_damage_kind_name(kind); }

uint64_t bf_py_reader_symbols_seen(const bfr_reader *r) { return r->symbols_seen; }

uint64_t bf_py_reader_unknown_seen(const bfr_reader *r) { return r->unknown_seen; }
