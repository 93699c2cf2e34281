/* recovery.c -- recovery of an existing queue when a writer opens it: lists its segments,
 * reports holes, checks the newest segment (and an unsealed predecessor), cuts a torn
 * tail, seals damaged segments whole, relearns symbols and the queue_id, and turns what it
 * found into RECOVERY records (see "Recovery" and "Damage" in binfeed_reader.h). */
#include "queue_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* One recovery: the queue it works on, what it learns and what it found. */
typedef struct run {
    int dirfd;
    const char *dir;
    bf_symtab *syms;
    bf_recovery *r;
} run;

/* Records a finding of recovery (reported to the caller and written as a RECOVERY record). */
static void add_report(run *x, uint32_t event, uint64_t seq, uint64_t slot, uint64_t count,
                       const char *fmt, ...) BF_PRINTF(6, 7);
static void add_report(run *x, uint32_t event, uint64_t seq, uint64_t slot, uint64_t count,
                       const char *fmt, ...) {
    bf_recovery *rec = x->r;
    if (rec->nreports == BF_RECOVERY_REPORTS_MAX) {
        rec->reports_dropped++;
        return;
    }
    bf_recovery_report *r = &rec->reports[rec->nreports++];
    memset(r, 0, sizeof *r);
    r->event = event;
    r->segment_seq = seq;
    r->slot = slot;
    r->count = count;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* What a scan of a segment's published slots found. */
typedef struct bf_scan {
    uint64_t n;          /* published slots scanned */
    uint64_t first_bad;  /* first slot failing its checksum; n if none */
    uint64_t good_end;   /* one past the last good slot (0 if none) */
    uint64_t bad_before; /* bad slots before good_end: damage, not a torn tail */
    uint64_t bad;        /* bad slots in all */
} bf_scan;

/* Checks every published slot of an open segment and learns the symbols of the good ones. */
static int scan_segment(run *x, bf_segment *s, bf_scan *out) {
    uint64_t n = bf_load_acquire_u64(&s->hdr->write_index);
    if (n > s->capacity) n = s->capacity;
    uint32_t slot_size = s->hdr->slot_size;
    bf_scan r = {n, n, 0, 0, 0};
    for (uint64_t i = 0; i < n; i++) {
        const bf_slot *slot = bf__segment_slot(s, i);
        int verdict = bf_slot_check(slot, slot_size);
        if (verdict == BF_SLOT_BAD_CRC) {
            if (r.bad++ == 0) r.first_bad = i;
            continue;
        }
        r.good_end = i + 1;
        r.bad_before = r.bad;
        /* a newer writer's record (verdict not OK) teaches nothing */
        if (verdict != BF_SLOT_OK || slot->type != BF_REC_SYMBOL) continue;
        const bf_symbol_def *d = &slot->body.symbol;
        int rc = BF_OK;
        if (d->name_len >= 1 && d->name_len <= BF_SYMBOL_MAX)
            rc = bf__symtab_set(x->syms, d->symbol_id, d->name, d->name_len);
        if (rc == BF_ESYMBOL) rc = BF_OK; /* conflicting definition: keep the newest */
        if (rc != BF_OK) return rc;
    }
    *out = r;
    return BF_OK;
}

/* Truncates a sealed segment that a roll or a dying writer left at its full size, unless
 * a record follows its write_index (then write_index was lowered: keep the file as it is,
 * so that nothing is thrown away, and report it). */
static void finish_sealed_truncation(run *x, bf_segment *s, uint64_t seq, char *err,
                                     size_t errlen) {
    uint64_t n = bf_load_acquire_u64(&s->hdr->write_index);
    uint64_t used = s->hdr->header_size + n * s->hdr->slot_size;
    if (s->map_len <= used) return;
    char what[256];
    const void *after = s->map_len >= used + s->hdr->slot_size ? s->map + used : NULL;
    if (bf_segment_end_check(s->hdr, s->map_len, after, what, sizeof what) != BF_OK) {
        add_report(x, BF_RECOVERY_DAMAGED, seq, n, 0,
                   "%s/%020llu%s: %s; left as it is", x->dir, (unsigned long long)seq,
                   BF_SEGMENT_SUFFIX, what);
        return;
    }
    (void)bf__segment_truncate(s, n, x->dir, err, errlen);
}

/* Zeroes the written slots from slot n on (up to the first empty one) of a segment recovery
 * is about to seal with write_index n: records a killed writer wrote but never published,
 * or a torn tail just cut. Sealing comes first and truncation after it, so without this a
 * reader (or `binfeed verify`, or the next recovery if this writer dies in between) could
 * see a sealed, untruncated segment with a record past write_index: the sign of a lowered
 * write_index, reported as damage. Zeroed, it is the legal "sealed, not yet truncated". */
static void clear_unpublished(bf_segment *s, uint64_t n) {
    uint32_t size = s->hdr->slot_size;
    for (uint64_t i = n; i < s->capacity; i++) {
        unsigned char *slot = s->map + s->hdr->header_size + i * size;
        if (!bf_slot_written(slot, size)) break;
        memset(slot, 0, size);
    }
}

/* Applies the damage policy (binfeed_reader.h, "Damage") to a segment recovery must
 * finish: the newest one, or an unsealed predecessor. Returns its final write_index. */
static int finish_segment(run *x, bf_segment *s, uint64_t seq, const bf_scan *sc,
                          uint64_t *final_n, char *err, size_t errlen) {
    bf_segment_header *h = s->hdr;
    int sealed = bf_load_acquire_u32(&h->sealed) != 0;
    uint64_t n = sc->n;
    char name[BF_SEGMENT_NAME_MAX];
    bf_segment_name(name, sizeof name, seq);
    if (!sealed && sc->good_end < n) { /* a torn tail: slots after the last good one */
        uint64_t cut = n - sc->good_end;
        x->r->cut += cut;
        add_report(x, BF_RECOVERY_TORN_TAIL, seq, sc->good_end, cut,
                   "%s/%s: cut a torn tail of %llu slot(s) from slot %llu (written when the "
                   "previous writer died)", x->dir, name, (unsigned long long)cut,
                   (unsigned long long)sc->good_end);
        n = sc->good_end;
        bf_store_release_u64(&h->write_index, n);
    }
    uint64_t damaged = sealed ? sc->bad : sc->bad_before;
    if (damaged) { /* damaged slots followed by good ones: keep every good record */
        add_report(x, BF_RECOVERY_DAMAGED, seq, sc->first_bad, damaged,
                   "%s/%s: %llu damaged slot(s) from slot %llu, followed by good records: "
                   "the segment is kept whole and sealed as damaged; run `binfeed verify %s`",
                   x->dir, name, (unsigned long long)damaged,
                   (unsigned long long)sc->first_bad, x->dir);
        if (h->version >= 2) {
            h->damage_first = sc->first_bad;
            h->damage_count = damaged;
            h->seal_flags |= BF_SEAL_F_DAMAGED;
        }
    }
    *final_n = n;
    if (!sealed) {
        clear_unpublished(s, n);
        return bf__segment_seal(s, n, bf__realtime_ns(), x->dir, err, errlen);
    }
    finish_sealed_truncation(x, s, seq, err, errlen);
    return BF_OK;
}

/* Walks the segments from the newest down: checks the newest segment (and an unsealed
 * predecessor: a writer killed mid-roll), cuts a torn tail, keeps damaged segments whole,
 * seals and truncates; relearns the symbols and the queue_id. Sets next_first, the
 * queue-wide index the new segment starts at. What the records say (the last seq of each
 * stream) is for their readers: see parse_resume.h. */
static int recover_segments(run *x, uint64_t lowest, uint64_t highest, int *have_queue_id,
                            char *err, size_t errlen) {
    bf_recovery *rec = x->r;
    for (uint64_t seq = highest; seq >= lowest && seq >= 1; seq--) {
        int newest = seq == highest;
        bf_segment s;
        int short_file = 0;
        int rc = bf__segment_open(x->dirfd, x->dir, seq, 1, &s, &short_file, err, errlen);
        if (rc != BF_OK) {
            if (newest) {
                /* the user must look at it: never write after a file it cannot read */
                size_t used = strlen(err);
                if (used + 1 < errlen)
                    bf__fmt(err + used, errlen - used,
                            "; the writer will not append after it: move the file out of "
                            "the queue directory (or record into a new one) and run "
                            "`binfeed verify %s`", x->dir);
                return rc;
            }
            break; /* older data only informs; stop at the first bad or missing file */
        }
        if (newest) {
            if (s.hdr->version >= 2) {
                memcpy(rec->queue_id, s.hdr->queue_id, BF_QUEUE_ID_SIZE);
                *have_queue_id = 1;
            } else {
                add_report(x, BF_RECOVERY_OLDER_FORMAT, seq, 0, 0,
                           "%s holds segments of format version %u: they stay readable as "
                           "they are, and new segments are written in version %u",
                           x->dir, (unsigned)s.hdr->version, BF_FORMAT_VERSION);
            }
        }
        int sealed = bf_load_acquire_u32(&s.hdr->sealed) != 0;
        if (!newest && sealed) /* a roll's deferred truncation the writer did not live to do */
            finish_sealed_truncation(x, &s, seq, err, errlen);
        int need = newest || !sealed || x->syms->defined < x->syms->count;
        if (!need) {
            bf__segment_close(&s);
            break;
        }
        bf_scan sc;
        uint64_t final_n = 0;
        if (short_file && (newest || !sealed)) {
            /* a power cut lost the file's tail: the slots it no longer holds are torn */
            uint64_t n = bf_load_acquire_u64(&s.hdr->write_index);
            if (n > s.capacity) {
                rec->cut += n - s.capacity;
                add_report(x, BF_RECOVERY_TORN_TAIL, seq, s.capacity, n - s.capacity,
                           "%s/%020llu%s: the file was cut short (%zu bytes): %llu published "
                           "slot(s) from slot %llu are lost", x->dir, (unsigned long long)seq,
                           BF_SEGMENT_SUFFIX, s.map_len,
                           (unsigned long long)(n - s.capacity),
                           (unsigned long long)s.capacity);
                bf_store_release_u64(&s.hdr->write_index, s.capacity);
            }
        } else if (short_file) {
            bf__segment_close(&s); /* a sealed, truncated older segment: nothing to do */
            continue;
        }
        rc = scan_segment(x, &s, &sc);
        if (rc == BF_OK && (newest || !sealed))
            rc = finish_segment(x, &s, seq, &sc, &final_n, err, errlen);
        if (newest) rec->next_first = s.hdr->first_index + final_n;
        bf__segment_close(&s);
        if (rc != BF_OK) {
            if (rc == BF_ENOMEM) bf__fmt(err, errlen, "out of memory while recovering %s", x->dir);
            return rc;
        }
    }
    return BF_OK;
}

/* Reports every run of missing segments between lowest and highest (a hole). */
static void find_holes(run *x, uint64_t lowest, uint64_t highest, uint64_t count) {
    if (highest == 0 || count == highest - lowest + 1) return;
    uint64_t run_start = 0;
    for (uint64_t seq = lowest; seq <= highest + 1; seq++) {
        char name[BF_SEGMENT_NAME_MAX];
        bf_segment_name(name, sizeof name, seq);
        int present = seq > highest || faccessat(x->dirfd, name, F_OK, 0) == 0;
        if (!present && run_start == 0) run_start = seq;
        if (present && run_start != 0) {
            add_report(x, BF_RECOVERY_HOLE, run_start, 0, seq - run_start,
                       "%s: %llu segment file(s) are missing, %020llu%s to %020llu%s "
                       "(deleted?): readers report the hole and read past it; run "
                       "`binfeed verify %s`", x->dir, (unsigned long long)(seq - run_start),
                       (unsigned long long)run_start, BF_SEGMENT_SUFFIX,
                       (unsigned long long)(seq - 1), BF_SEGMENT_SUFFIX, x->dir);
            run_start = 0;
        }
    }
}

/* A random queue identity (getrandom; clocks and pid as a last resort). */
static void new_queue_id(uint8_t id[BF_QUEUE_ID_SIZE]) {
    ssize_t got = getrandom(id, BF_QUEUE_ID_SIZE, GRND_NONBLOCK);
    if (got == (ssize_t)BF_QUEUE_ID_SIZE) return;
    uint64_t a = bf__realtime_ns() ^ ((uint64_t)getpid() << 32);
    uint64_t b = a * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)id;
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

int bf__recover(int dirfd, const char *dir, bf_symtab *syms, bf_recovery *out, char *err,
                size_t errlen) {
    memset(out, 0, sizeof *out);
    run x = {dirfd, dir, syms, out};
    uint64_t lowest = 0, highest = 0, count = 0;
    int rc = bf__segment_scan_dir(dirfd, dir, 1, &lowest, &highest, &count, err, errlen);
    if (rc != BF_OK) return rc;
    out->newest_at_open = highest;
    int have_queue_id = 0;
    if (highest != 0) {
        find_holes(&x, lowest, highest, count);
        rc = recover_segments(&x, lowest, highest, &have_queue_id, err, errlen);
        if (rc != BF_OK) return rc;
    }
    if (!have_queue_id) new_queue_id(out->queue_id);
    return BF_OK;
}

void bf__recovery_record(const bf_recovery *r, size_t i, const char *dir, uint64_t now_ns,
                         bf_slot *out) {
    const bf_recovery_report *f = &r->reports[i];
    memset(out, 0, sizeof *out);
    out->type = BF_REC_RECOVERY;
    out->recv_ts_ns = now_ns;
    out->body.recovery.event = f->event;
    out->body.recovery.segment_seq = f->segment_seq;
    out->body.recovery.slot = f->slot;
    out->body.recovery.count = f->count;
    /* the file is named by segment_seq: keep the part after the queue's path */
    const char *text = f->message;
    size_t dlen = strlen(dir);
    if (strncmp(text, dir, dlen) == 0 && text[dlen] == '/') text += dlen + 1;
    bf__copy_text(out->body.recovery.detail, sizeof out->body.recovery.detail, text);
}

int bf__recovery_report(const bf_recovery *r, size_t i, bf_recovery_report *out) {
    if (i >= r->nreports) return BF_ENOTFOUND;
    *out = r->reports[i];
    if (i + 1 == r->nreports && r->reports_dropped) {
        size_t used = strlen(out->message);
        bf__fmt(out->message + used, sizeof out->message - used,
                " (and %llu more findings: run `binfeed verify`)",
                (unsigned long long)r->reports_dropped);
    }
    return BF_OK;
}
