/* parse_capture.c -- see parse_capture.h. */
#include "parse_capture.h"

#include <string.h>

#define MAX_STAMP_DIGITS 19 /* < 10^19 < 2^64: no overflow */

size_t bf_capture_split(char *buf, size_t len, int final, size_t max_frames,
                        uint64_t first_line, size_t *offsets, uint64_t *recv_ts_ns,
                        uint64_t *line_nos, uint64_t *lines_out) {
    size_t n = 0, pos = 0;
    uint64_t line = first_line;
    while (pos < len && n < max_frames) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len; /* the line is buf[pos .. end) */
        if (nl == NULL && !final) break;            /* incomplete: for the next call */
        size_t content = end;
        if (content > pos && buf[content - 1] == '\r') content--;
        if (content > pos) {
            size_t i = pos;
            uint64_t stamp = 0;
            while (i < content && i - pos < MAX_STAMP_DIGITS &&
                   (unsigned)(buf[i] - '0') <= 9u)
                stamp = stamp * 10u + (uint64_t)(buf[i++] - '0');
            size_t frame = pos;
            if (i > pos && i < content && buf[i] == ' ') { /* "<digits> <frame>" */
                memset(buf + pos, ' ', i + 1 - pos);
                frame = i + 1;
            } else {
                stamp = 0; /* a bare frame (or more than 19 digits: not a receive time) */
            }
            offsets[n] = frame;
            recv_ts_ns[n] = stamp;
            line_nos[n] = line;
            n++;
        }
        line++;
        pos = nl ? end + 1 : len;
    }
    offsets[n] = pos;
    *lines_out = line - first_line;
    return n;
}
