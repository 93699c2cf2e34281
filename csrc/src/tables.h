/*
 * tables.h -- what binfeed.open's tables need of the header's reader (binfeed/tables.py):
 * a reader opened at a slot, the receive-time span and search of a segment, and the
 * gather of one record type's fields into columns, in one pass over verified slots. Not
 * part of the public C API.
 */
#ifndef BINFEED_TABLES_H
#define BINFEED_TABLES_H

#include <stdint.h>
#include <stddef.h>

#include "binfeed_reader.h"

#define BF_PY_GATHER_MAX 16 /* fields one gather copies at most */

/** What bf_py_gather copies: the fields of the records of one type, kept by symbol and by
 *  receive time, each into its own array (a column), and the code of each record's symbol
 *  (a dictionary-encoded column without a column of ids first). */
typedef struct bf_py_gather {
    uint32_t type;                     /* BF_REC_* to keep */
    uint32_t nfields;                  /* fields to copy, at most BF_PY_GATHER_MAX */
    uint32_t offsets[BF_PY_GATHER_MAX]; /* byte offset of each field in a version-2 slot */
    uint32_t sizes[BF_PY_GATHER_MAX];  /* its size in bytes (at most the slot) */
    void *out[BF_PY_GATHER_MAX];       /* where its values go, one after the other */
    uint32_t symbol_offset;            /* offset of the type's symbol_id; 0: it has none */
    uint32_t reserved;
    const uint8_t *keep;               /* keep[id] != 0 keeps symbol id (NULL: every id) */
    uint64_t keep_len;                 /* ids >= keep_len are not kept */
    const int32_t *codes;              /* codes[id]: the symbol's dictionary code */
    uint64_t codes_len;                /* ids >= codes_len get -1 */
    int32_t *codes_out;                /* where each kept record's code goes (NULL: none) */
    uint64_t start_ns;                 /* keep records received in [start_ns, end_ns) */
    uint64_t end_ns;
} bf_py_gather;

/** bf_slots_time_span and bf_slots_time_lower_bound on n slots of a mapped segment. */
void bf_py_slots_time_span(const void *slots, uint64_t n, uint32_t slot_size, uint64_t types,
                           bfr_time_span *out);
uint64_t bf_py_slots_time_lower_bound(const void *slots, uint64_t n, uint32_t slot_size,
                                      uint64_t types, uint64_t t_ns, uint64_t lo, uint64_t hi);

/** Copies the fields of the kept records among slots [first, first + count) of the
 *  reader's current segment (a run bf_py_reader_next_batch returned: verified, in the
 *  mapping the reader holds) into g->out[k] from element `at` on, converting version-1
 *  slots. The arrays must have room for `at + count` values. Returns the records copied. */
uint64_t bf_py_gather_slots(const bfr_reader *r, uint64_t first, uint64_t count,
                            const bf_py_gather *g, uint64_t at);

/** bfr_lag. */
uint64_t bf_py_reader_lag(const bfr_reader *r);

#endif /* BINFEED_TABLES_H */
