/*
 * parse_resume.h -- where a parser resumes after a writer restart: the last seq stored for
 * each (symbol id, stream) in the newest segments of the queue, read with the reader of
 * binfeed_reader.h (bfr_open_segment), so that the writer never has to know what a seq is.
 *
 * Segments read: `newest` (the newest one the queue had when the writer opened it), then
 * older ones until every stream of every symbol the segments define has its last seq (a
 * quiet symbol's trades may lie several segments back), going back over at most
 * BF_RESUME_DEPTH segments that hold market data (segments without any, which a
 * crash-looping writer leaves one per start, do not count) and BF_RESUME_MAX_SEGMENTS in
 * all; reading stops at the first segment that is missing or cannot be read. A stream's last seq comes from the newest of those segments that has a record
 * of it (BOOK_TICKER: the slot seq `u`; TRADE: the trade id). Damaged records are skipped
 * (the reader never returns them).
 * Not part of the public API. Thread-safety: a bf_resume is used by one thread.
 */
#ifndef BINFEED_PARSE_RESUME_H
#define BINFEED_PARSE_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "binfeed.h"

#define BF_RESUME_DEPTH 8u /* older segments with market data read, for unknown streams */
#define BF_RESUME_MAX_SEGMENTS 256u /* segments read in all, empty ones included */

typedef struct bf_resume_entry {
    uint64_t seq[BF_STREAM_COUNT];     /* index: BF_STREAM_* - 1 */
    uint64_t segment[BF_STREAM_COUNT]; /* the segment seq came from; 0 = none found */
} bf_resume_entry;

/* What a scan found. Caller-owned; release with bf_resume_free. */
typedef struct bf_resume {
    bf_resume_entry *ids; /* [symbol id - 1] */
    uint64_t cap;         /* entries in ids */
} bf_resume;

/** Reads the segments of queue `dir` described above, from `newest` down, into *out
 *  (emptied first). BF_OK (also when nothing was found or a segment could not be read:
 *  what it would have told is then unknown); BF_ENOMEM with a message in err (may be
 *  NULL); BF_EINVAL for a NULL dir or out. On failure *out holds nothing. */
int bf_resume_scan(const char *dir, uint64_t newest, bf_resume *out, char *err, size_t errlen);

/** The last seq of (symbol_id, stream) found by the scan: BF_OK with *seq; BF_ENOTFOUND if
 *  none was found (a new symbol, or none in the segments read); BF_EINVAL for a NULL
 *  argument or an unknown stream. */
int bf_resume_last_seq(const bf_resume *r, uint64_t symbol_id, uint32_t stream,
                       uint64_t *seq);

/** Frees what the scan holds. NULL and a second call are no-ops. */
void bf_resume_free(bf_resume *r);

#endif
