/*
 * verify_internal.h -- the bf_verify struct and the one call that fills it, shared by
 * verify.c and verify_findings.c (private to those two files; not public API).
 *
 * verify.c           the walk over a queue: its segment files, their headers and slots,
 *                    continuity across segments, unpublished slots
 * verify_findings.c  the findings it reports: the list, the totals by severity, the
 *                    public accessors and names
 *
 * The walk counts segments, slots and records in totals itself (once per slot, so in its
 * own translation unit) and calls across only to add a finding.
 */
#ifndef BF_VERIFY_INTERNAL_H
#define BF_VERIFY_INTERNAL_H

#include "queue_internal.h"

struct bf_verify {
    bf_finding *items;
    size_t count, cap;
    bf_verify_totals totals;
    int failed;                  /* out of memory while adding */
};

/* Adds a finding of `segment` (a segment file's name) at `slot` (-1: the file) and counts
 * it in the totals by severity; detail is formatted from fmt. Out of memory sets failed. */
void bf__verify_add(bf_verify *v, const char *segment, int64_t slot, uint32_t kind,
                    uint32_t severity, uint64_t count, const char *fmt, ...) BF_PRINTF(7, 8);

#endif
