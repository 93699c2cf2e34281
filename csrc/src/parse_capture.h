/*
 * parse_capture.h -- capture lines to frames for bf_ingest_batch, in place.
 *
 * A capture line is "<receive time: 1..19 ASCII digits> <frame>" or a bare frame (receive
 * time 0); lines end with "\n" (a "\r" before it is whitespace); empty lines are skipped.
 * This is the format of binfeed/capture.py (which also handles gzip and files).
 *
 * Used by binfeed/capture.py through cffi; declared here, not in binfeed.h, because it is
 * a helper of the import path rather than part of the queue or parser API.
 */
#ifndef BINFEED_PARSE_CAPTURE_H
#define BINFEED_PARSE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/** Splits buf[0..len) into frames for bf_ingest_batch without copying: in each line with a
 *  receive time, the digits and the space after them are overwritten with spaces, so frame
 *  i is buf[offsets[i] .. offsets[i+1]), the frame followed only by JSON whitespace (its
 *  line end, empty lines, the next line's blanked receive time), which the parser skips.
 *
 *  Stops after max_frames frames or at the end of the last complete line; a last line
 *  without "\n" counts as complete only if `final` is non-zero. Outputs for the n frames
 *  found: offsets[0..n] (n + 1 entries; offsets[n] = bytes consumed), recv_ts_ns[0..n) and
 *  line_nos[0..n) (first_line numbers buf's first line). *lines_out gets the number of
 *  lines consumed (empty ones included). Returns n. Thread-safe; writes only buf and the
 *  outputs. */
size_t bf_capture_split(char *buf, size_t len, int final, size_t max_frames,
                        uint64_t first_line, size_t *offsets, uint64_t *recv_ts_ns,
                        uint64_t *line_nos, uint64_t *lines_out);

#endif
