/* lock.c -- the writer lock: an OFD write lock on <dir>/writer.lock plus holder info. */
#include "queue_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void read_cmdline(char *out, size_t len) {
    out[0] = '\0';
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    while (n > 0 && out[n - 1] == '\0') n--;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == '\0' || out[i] == '\n' || out[i] == '\r') out[i] = ' ';
    out[n] = '\0';
}

/* Value of "key=" in the holder text, copied into out ("" if absent). */
static void holder_field(const char *text, const char *key, char *out, size_t len) {
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t llen = end ? (size_t)(end - line) : strlen(line);
        if (llen > klen && memcmp(line, key, klen) == 0 && line[klen] == '=') {
            size_t vlen = llen - klen - 1;
            if (vlen >= len) vlen = len - 1;
            memcpy(out, line + klen + 1, vlen);
            out[vlen] = '\0';
            return;
        }
        line = end ? end + 1 : NULL;
    }
}

/* " (stopped: ...)" when the holder is a stopped process on this host. */
static const char *holder_state_hint(const char *pid, const char *host) {
    char myhost[256] = "";
    if (!pid[0] || strspn(pid, "0123456789") != strlen(pid)) return "";
    if (gethostname(myhost, sizeof myhost - 1) != 0 || strcmp(myhost, host) != 0) return "";
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) return "";
    stat[n] = '\0';
    const char *p = strrchr(stat, ')');
    if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
        return " (that process is stopped: resume it with kill -CONT or end it; a stopped "
               "writer keeps its lock)";
    return "";
}

static void describe_holder(int fd, const char *dir, char *err, size_t errlen) {
    char text[1024];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    char pid[32], host[256], cmd[512];
    holder_field(text, "pid", pid, sizeof pid);
    holder_field(text, "host", host, sizeof host);
    holder_field(text, "command", cmd, sizeof cmd);
    if (!pid[0]) {
        bf__fmt(err, errlen,
                "queue %s is already open by another writer (it is starting up; holder "
                "unknown); only one writer per queue: stop it or use another directory",
                dir);
        return;
    }
    bf__fmt(err, errlen,
            "queue %s is already open by another writer: pid %s on host %s, command: %s%s; "
            "only one writer per queue: stop that process or use another directory",
            dir, pid, host[0] ? host : "?", cmd[0] ? cmd : "?", holder_state_hint(pid, host));
}

int bf__lock_acquire(int dirfd, const char *dir, int *out_fd, char *err, size_t errlen) {
    int fd = openat(dirfd, BF_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        bf__fmt(err, errlen, "cannot open %s/%s: %s", dir, BF_LOCK_FILE, strerror(errno));
        return errno == ENOSPC || errno == EDQUOT ? BF_ENOSPC : BF_EIO;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            describe_holder(fd, dir, err, errlen);
            close(fd);
            return BF_ELOCKED;
        }
        bf__fmt(err, errlen, "cannot lock %s/%s: %s", dir, BF_LOCK_FILE, strerror(e));
        close(fd);
        return BF_EIO;
    }
    char host[256] = "", cmd[512], text[1024];
    if (gethostname(host, sizeof host - 1) != 0) strcpy(host, "?");
    read_cmdline(cmd, sizeof cmd);
    int len = snprintf(text, sizeof text, "pid=%ld\nhost=%s\nstarted_ns=%llu\ncommand=%s\n",
                       (long)getpid(), host, (unsigned long long)bf__realtime_ns(), cmd);
    if (len < 0 || (size_t)len >= sizeof text) len = (int)strlen(text);
    /* Best effort: the information only improves the message a second writer gets. */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        /* keep the lock anyway */
    }
    *out_fd = fd;
    return BF_OK;
}

void bf__lock_release(int fd) {
    if (fd < 0) return;
    if (ftruncate(fd, 0) != 0) {
        /* the kernel drops the lock anyway; stale text only misleads a message */
    }
    close(fd);
}
