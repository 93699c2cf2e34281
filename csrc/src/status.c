/* status.c -- status code messages, the format version, small shared helpers. */
#include "queue_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *bf_status_message(int status) {
    switch (status) {
    case BF_OK: return "success";
    case BF_EINVAL: return "invalid argument";
    case BF_ENOMEM: return "out of memory";
    case BF_EIO: return "input/output error (a system call failed)";
    case BF_ENOSPC: return "no space left to create a queue segment";
    case BF_ELOCKED: return "the queue is held by another writer";
    case BF_ECORRUPT: return "corrupt queue file";
    case BF_EVERSION: return "queue written by a newer binfeed format version";
    case BF_ENOTFOUND: return "queue or segment not found";
    case BF_ESYMBOL: return "invalid or undefined symbol";
    case BF_EJSON: return "frame is not valid JSON";
    case BF_EFIELD: return "a required field is missing or has the wrong type";
    case BF_ENUMBER: return "a price or quantity is not a decimal number string";
    case BF_EUNKNOWN: return "unknown event type";
    case BF_ETOOBIG: return "frame too large";
    case BF_ECLOSED: return "handle closed";
    case BF_ETIMEOUT: return "timed out";
    case BF_ESTATE: return "operation not valid in this state";
    case BF_EDAMAGED: return "damaged data was met and skipped (run binfeed verify)";
    default: return status > 0 ? "success" : "unknown binfeed status code";
    }
}

uint32_t bf_format_version(void) { return BF_FORMAT_VERSION; }

void bf__fmt(char *msg, size_t len, const char *fmt, ...) {
    if (!msg || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}

void bf__copy_text(char *field, size_t size, const char *text) {
    size_t n = strnlen(text, size - 1);
    /* do not cut a UTF-8 sequence in half */
    if (text[n] != '\0')
        while (n > 0 && ((unsigned char)text[n] & 0xC0u) == 0x80u) n--;
    memcpy(field, text, n);
    memset(field + n, 0, size - n);
}

uint64_t bf__realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
