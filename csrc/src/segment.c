/* segment.c -- segment files on the writer side: create (reserve, map, prefault),
 * publish (rename), open existing, seal (truncate to the used length), list. */
#include "queue_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static int is_space_error(int e) { return e == ENOSPC || e == EFBIG || e == EDQUOT; }

static void tmp_name(char *buf, size_t len, uint64_t seq) {
    snprintf(buf, len, ".%020llu" BF_SEGMENT_SUFFIX ".tmp", (unsigned long long)seq);
}

static void prefault(unsigned char *map, size_t len) {
    if (madvise(map, len, MADV_POPULATE_WRITE) == 0) return;
    /* Older kernels: write-fault every page (the bytes are zero already). */
    for (size_t off = 0; off < len; off += 4096) map[off] = 0;
}

int bf__segment_create_tmp(int dirfd, const char *dir, uint64_t seq, uint64_t capacity,
                           int want_prefault, bf_segment *out, char *err, size_t errlen) {
    bf_segment s = BF_SEGMENT_NONE;
    tmp_name(s.tmp_name, sizeof s.tmp_name, seq);
    uint64_t size = (uint64_t)BF_HEADER_SIZE + capacity * BF_SLOT_SIZE;
    char final[BF_SEGMENT_NAME_MAX];
    bf_segment_name(final, sizeof final, seq);

    (void)unlinkat(dirfd, s.tmp_name, 0); /* a leftover of a crashed predecessor */
    s.fd = openat(dirfd, s.tmp_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (s.fd < 0) {
        int e = errno;
        bf__fmt(err, errlen, "cannot create segment file %s/%s: %s%s", dir, s.tmp_name,
                strerror(e), is_space_error(e) ? "; free space on that filesystem and retry" : "");
        return is_space_error(e) ? BF_ENOSPC : BF_EIO;
    }
    int e = posix_fallocate(s.fd, 0, (off_t)size); /* returns the error; errno untouched */
    if (e != 0) {
        if (is_space_error(e))
            bf__fmt(err, errlen,
                    "cannot reserve %llu bytes (%.1f MiB) for new segment %s/%s (%s): %s; "
                    "free space on that filesystem (or raise the file size limit), move the "
                    "queue to a bigger one, or use smaller segments (segment_slots), then retry",
                    (unsigned long long)size, (double)size / 1048576.0, dir, final,
                    s.tmp_name, strerror(e));
        else
            bf__fmt(err, errlen, "cannot reserve %llu bytes for new segment %s/%s: "
                    "posix_fallocate: %s", (unsigned long long)size, dir, s.tmp_name,
                    strerror(e));
        close(s.fd);
        (void)unlinkat(dirfd, s.tmp_name, 0);
        return is_space_error(e) ? BF_ENOSPC : BF_EIO;
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    if (map == MAP_FAILED) {
        bf__fmt(err, errlen, "cannot map new segment %s/%s (%llu bytes): %s", dir, s.tmp_name,
                (unsigned long long)size, strerror(errno));
        close(s.fd);
        (void)unlinkat(dirfd, s.tmp_name, 0);
        return BF_EIO;
    }
    s.map = (unsigned char *)map;
    s.map_len = (size_t)size;
    s.hdr = (bf_segment_header *)map;
    s.capacity = capacity;
    if (want_prefault) prefault(s.map, s.map_len);
    *out = s;
    return BF_OK;
}

void bf__segment_init_header(bf_segment *s, uint64_t seq, uint64_t created_ns,
                             uint64_t first_index, uint32_t flags,
                             const uint8_t queue_id[BF_QUEUE_ID_SIZE]) {
    bf_segment_header *h = s->hdr;
    memcpy(h->magic, BF_MAGIC, 8);
    h->version = BF_FORMAT_VERSION;
    h->header_size = BF_HEADER_SIZE;
    h->slot_size = BF_SLOT_SIZE;
    h->flags = flags;
    h->capacity = s->capacity;
    h->segment_seq = seq;
    h->created_ns = created_ns;
    h->first_index = first_index;
    memcpy(h->queue_id, queue_id, BF_QUEUE_ID_SIZE);
    h->header_crc = bf_header_crc32c(h);
    bf_store_release_u64(&h->write_index, 0);
    bf_store_release_u32(&h->sealed, 0);
}

int bf__segment_publish(int dirfd, const char *dir, bf_segment *s, uint64_t seq, char *err,
                        size_t errlen) {
    char final[BF_SEGMENT_NAME_MAX];
    bf_segment_name(final, sizeof final, seq);
    /* Never replace an existing segment (we hold the lock, so none should exist). */
    int rc = renameat2(dirfd, s->tmp_name, dirfd, final, RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) { /* filesystem without RENAME_NOREPLACE */
        struct stat st;
        if (fstatat(dirfd, final, &st, 0) == 0)
            errno = EEXIST;
        else
            rc = renameat(dirfd, s->tmp_name, dirfd, final);
    }
    if (rc != 0) {
        bf__fmt(err, errlen, "cannot rename %s/%s to %s: %s", dir, s->tmp_name, final,
                strerror(errno));
        return BF_EIO;
    }
    s->tmp_name[0] = '\0';
    return BF_OK;
}

int bf__segment_open(int dirfd, const char *dir, uint64_t seq, int torn_ok, bf_segment *out,
                     int *short_file, char *err, size_t errlen) {
    bf_segment s = BF_SEGMENT_NONE;
    char name[BF_SEGMENT_NAME_MAX], path[4096 + BF_SEGMENT_NAME_MAX];
    bf_segment_name(name, sizeof name, seq);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (short_file) *short_file = 0;
    s.fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
    if (s.fd < 0) {
        int e = errno;
        bf__fmt(err, errlen, "cannot open segment %s: %s", path, strerror(e));
        return e == ENOENT ? BF_ENOTFOUND : BF_EIO;
    }
    struct stat st;
    if (fstat(s.fd, &st) != 0) {
        bf__fmt(err, errlen, "cannot stat segment %s: %s", path, strerror(errno));
        close(s.fd);
        return BF_EIO;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < BF_HEADER_SIZE) {
        int rc = bf_segment_check(NULL, size, seq, path, err, errlen);
        close(s.fd);
        return rc;
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    if (map == MAP_FAILED) {
        bf__fmt(err, errlen, "cannot map segment %s: %s", path, strerror(errno));
        close(s.fd);
        return BF_EIO;
    }
    s.map = (unsigned char *)map;
    s.map_len = (size_t)size;
    s.hdr = (bf_segment_header *)map;
    int rc = bf_segment_check(s.hdr, size, seq, path, err, errlen);
    if (rc == BF_ECORRUPT && torn_ok) {
        /* Judge every other field as if the file had its full length: only a short file
         * is forgiven (its missing tail is a torn tail, cut by recovery). */
        uint64_t full = (uint64_t)s.hdr->header_size + s.hdr->capacity * s.hdr->slot_size;
        if (s.hdr->slot_size >= BF_SLOT_SIZE && size < full &&
            bf_segment_check(s.hdr, full, seq, path, err, errlen) == BF_OK) {
            rc = BF_OK;
            if (short_file) *short_file = 1;
        }
    }
    if (rc != BF_OK) {
        bf__segment_close(&s);
        return rc;
    }
    uint64_t fit = (size - s.hdr->header_size) / s.hdr->slot_size;
    s.capacity = fit < s.hdr->capacity ? fit : s.hdr->capacity;
    *out = s;
    return BF_OK;
}

void bf__segment_mark_sealed(bf_segment *s, uint64_t now_ns) {
    s->hdr->sealed_ns = now_ns;
    bf_store_release_u32(&s->hdr->sealed, 1);
}

int bf__segment_truncate(bf_segment *s, uint64_t used, const char *dir, char *err,
                         size_t errlen) {
    bf_segment_header *h = s->hdr;
    off_t len = (off_t)(h->header_size + used * h->slot_size);
    if (ftruncate(s->fd, len) != 0) {
        bf__fmt(err, errlen, "cannot truncate sealed segment %llu in %s: %s",
                (unsigned long long)h->segment_seq, dir, strerror(errno));
        return BF_EIO;
    }
    return BF_OK;
}

int bf__segment_seal(bf_segment *s, uint64_t used, uint64_t now_ns, const char *dir,
                     char *err, size_t errlen) {
    bf__segment_mark_sealed(s, now_ns);
    return bf__segment_truncate(s, used, dir, err, errlen);
}

void bf__segment_close(bf_segment *s) {
    if (s->map) munmap(s->map, s->map_len);
    if (s->fd >= 0) close(s->fd);
    s->map = NULL;
    s->hdr = NULL;
    s->map_len = 0;
    s->fd = -1;
}

void bf__segment_discard(int dirfd, bf_segment *s) {
    if (s->tmp_name[0] && s->fd >= 0) (void)unlinkat(dirfd, s->tmp_name, 0);
    s->tmp_name[0] = '\0';
    bf__segment_close(s);
}

static int is_tmp_name(const char *n) {
    if (n[0] != '.') return 0;
    for (int i = 1; i <= BF_SEGMENT_NAME_DIGITS; i++)
        if (n[i] < '0' || n[i] > '9') return 0;
    return strcmp(n + 1 + BF_SEGMENT_NAME_DIGITS, BF_SEGMENT_SUFFIX ".tmp") == 0;
}

int bf__segment_scan_dir(int dirfd, const char *dir, int remove_tmp, uint64_t *lowest,
                         uint64_t *highest, uint64_t *count, char *err, size_t errlen) {
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        bf__fmt(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        if (fd >= 0) close(fd);
        return BF_EIO;
    }
    rewinddir(d);
    uint64_t lo = 0, hi = 0, n = 0, seq;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (bf_parse_segment_name(e->d_name, &seq)) {
            n++;
            if (lo == 0 || seq < lo) lo = seq;
            if (seq > hi) hi = seq;
        } else if (remove_tmp && is_tmp_name(e->d_name)) {
            (void)unlinkat(dirfd, e->d_name, 0);
        }
    }
    closedir(d);
    *lowest = lo;
    *highest = hi;
    *count = n;
    return BF_OK;
}
