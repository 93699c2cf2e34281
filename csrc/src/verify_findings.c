/* verify_findings.c -- the findings bf_verify_queue reports: the growing list, the totals
 * by severity, the public accessors and the names of kinds and severities. Walking the
 * queue to find them is verify.c's. */
#include "verify_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bf__verify_add(bf_verify *v, const char *segment, int64_t slot, uint32_t kind,
                    uint32_t severity, uint64_t count, const char *fmt, ...) {
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        bf_finding *items = realloc(v->items, cap * sizeof *items);
        if (!items) {
            v->failed = 1;
            return;
        }
        v->items = items;
        v->cap = cap;
    }
    bf_finding *f = &v->items[v->count++];
    memset(f, 0, sizeof *f);
    snprintf(f->segment, sizeof f->segment, "%s", segment);
    f->slot = slot;
    f->kind = kind;
    f->severity = severity;
    f->count = count;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof f->detail, fmt, ap);
    va_end(ap);
    if (severity == BF_SEVERITY_DAMAGE) v->totals.damage++;
    else if (severity == BF_SEVERITY_WARNING) v->totals.warnings++;
    else v->totals.info++;
}

size_t bf_verify_count(const bf_verify *v) { return v ? v->count : 0; }

const bf_finding *bf_verify_finding(const bf_verify *v, size_t i) {
    return v && i < v->count ? &v->items[i] : NULL;
}

void bf_verify_get_totals(const bf_verify *v, bf_verify_totals *out) {
    if (v && out) *out = v->totals;
}

const char *bf_finding_kind_name(uint32_t kind) {
    switch (kind) {
    case BF_FINDING_HOLE: return "hole";
    case BF_FINDING_HEADER: return "header";
    case BF_FINDING_VERSION: return "version";
    case BF_FINDING_INDEX: return "index";
    case BF_FINDING_WRITE_INDEX: return "write_index";
    case BF_FINDING_CHECKSUM: return "checksum";
    case BF_FINDING_RECORD: return "record";
    case BF_FINDING_SYMBOL: return "symbol";
    case BF_FINDING_UNKNOWN_TYPE: return "unknown_type";
    case BF_FINDING_DUPLICATE: return "duplicate";
    case BF_FINDING_REVERSAL: return "reversal";
    case BF_FINDING_UNPUBLISHED: return "unpublished";
    case BF_FINDING_UNTRUNCATED: return "untruncated";
    case BF_FINDING_DAMAGED_SEAL: return "damaged_seal";
    case BF_FINDING_RECOVERY: return "recovery";
    default: return "unknown";
    }
}

const char *bf_severity_name(uint32_t severity) {
    switch (severity) {
    case BF_SEVERITY_DAMAGE: return "damage";
    case BF_SEVERITY_WARNING: return "warning";
    case BF_SEVERITY_INFO: return "info";
    default: return "unknown";
    }
}

void bf_verify_free(bf_verify *v) {
    if (!v) return;
    free(v->items);
    free(v);
}
