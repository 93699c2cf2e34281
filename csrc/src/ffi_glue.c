/* ffi_glue.c -- see ffi_glue.h. */
#include "ffi_glue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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
