/*
 * writer_internal.h -- what the writer tells the parser (same library, not public API).
 *
 * At open, recovery scans the newest pre-existing segment (and older ones while they hold
 * no market data) and remembers, per (symbol id, stream), the seq of the last record stored
 * (BOOK_TICKER: the slot seq `u`; TRADE: the trade id). The parser seeds its gap and
 * duplicate detection from it after a restart. These values never change after open.
 * Thread-safety: read-only after bf_writer_open; any thread.
 */
#ifndef BF_WRITER_INTERNAL_H
#define BF_WRITER_INTERNAL_H

#include "binfeed.h"

/* 1 if the queue already had segments when this writer opened it (a restart), else 0. */
int bf__writer_restarted(const bf_writer *w);

/* Highest symbol id in use: ids 1..n (after a restart they come from the queue). */
uint64_t bf__writer_symbol_count(const bf_writer *w);

/* Last seq stored for (symbol_id, stream) before this writer opened the queue.
 * BF_OK with *seq set; BF_ENOTFOUND if none was found (new symbol, new queue, or none in
 * the scanned segments); BF_EINVAL for a NULL argument or an unknown stream. */
int bf__writer_recovered_last_seq(const bf_writer *w, uint64_t symbol_id, uint32_t stream,
                                  uint64_t *seq);

#endif
