/*
 * writer_internal.h -- what the writer tells the parser (same library, not public API).
 *
 * The writer stores slots; it knows nothing of what they mean to an exchange. The parser
 * asks it which queue it writes and whether that queue had data before this writer
 * opened it, and reads those records itself (parse_resume.h).
 * Thread-safety: the values never change after bf_writer_open; any thread. A NULL writer
 * gives 0 / NULL.
 */
#ifndef BF_WRITER_INTERNAL_H
#define BF_WRITER_INTERNAL_H

#include "binfeed.h"

/* 1 if the queue already had segments when this writer opened it (a restart), else 0. */
int bf__writer_restarted(const bf_writer *w);

/* The seq of the newest segment the queue had when this writer opened it (recovered and
 * sealed by then), or 0 for a new queue. */
uint64_t bf__writer_newest_at_open(const bf_writer *w);

/* The queue directory, as given to bf_writer_open. Owned by the writer. */
const char *bf__writer_dir(const bf_writer *w);

/* Highest symbol id in use: ids 1..n (after a restart they come from the queue). */
uint64_t bf__writer_symbol_count(const bf_writer *w);

#endif
