/* queue_checks.h -- the queue-reader fuzz checks, shared by the libFuzzer harness
 * fuzz/fuzz_segment.c and the regression test tests/c/test_fuzz_regressions.c (which
 * replays the saved inputs of tests/data/fuzz/segment/ through exactly this code).
 * See docs/fuzzing.md.
 *
 * An input is the bytes of one to three segment files:
 *
 *   byte 0        layout: bits 0-1 file count (1 + (b & 3) % 3), bits 2-4 the seqs the
 *                 files are named by (FQ_LAYOUTS: 1,2,3 / holes / a start above 1 / ...)
 *   byte 1        which further checks run (FQ_OPT_*: the bfr_next_batch walk, the
 *                 BFR_NO_VERIFY walks, a BFR_FROM_END reader, the writer's recovery; the
 *                 plain reader, the judge and verify always run), bits 4-7 the
 *                 bfr_next_batch max (FQ_BATCH_MAX)
 *   per file      ctl (FQ_FIX_* fix-ups applied, in this order, before the file is
 *                 written), skip (a slot FQ_FIX_SLOT_CRC leaves alone; 255: none),
 *                 a 3-byte little-endian length, then that many bytes (cut at the input's
 *                 end); an input that ends before a file's ctl byte has fewer files
 *
 * The fix-ups let the fuzzer get past the checksums (it cannot compute a CRC32C) and keep
 * inputs small (an unsealed 64-slot segment is 12 KiB, mostly zeros).
 *
 * For each input, in a fresh queue directory: (b) the one judge (bf_segment_check,
 * bf_slot_check, bf_segment_end_check, bf_segment_continuity_check) on the raw bytes, in
 * buffers of exactly the file's size so that ASan sees any read past the end; that gives
 * the expected findings; (c) bf_verify_queue must list exactly those; (a) bfr_next from
 * the start (and bfr_next_batch, BFR_NO_VERIFY, BFR_FROM_END) must return exactly the good
 * records, each inside its mapping and passing its checksum, report exactly the expected
 * damage, and end (at most slots + 8 * files + 100 calls); (d) bf_writer_open must recover
 * the queue (it refuses only when the newest segment is invalid), append one record and
 * close; afterwards the reader must return every good record it returned before plus the
 * new segment's records, ending with the appended one, all with good checksums, and
 * bf_verify_queue must list the same damage as before less the torn tail recovery cut.
 * A failed check prints what and aborts (libFuzzer saves the input).
 */
#ifndef BF_FUZZ_QUEUE_CHECKS_H
#define BF_FUZZ_QUEUE_CHECKS_H

#include "binfeed.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FQ_MAX_FILES 3
#define FQ_FILES_CAP (FQ_MAX_FILES + 1) /* with the segment recovery adds */
#define FQ_MAX_FILE (256u * 1024u) /* bytes of one file after the fix-ups */
#define FQ_WRITER_SLOTS 64u         /* the writer's segment_slots (its minimum) */

/* per-file fix-ups (the ctl byte) */
#define FQ_FIX_SEQ 1u          /* segment_seq = the seq of the file's name */
#define FQ_FIX_FIRST_INDEX 2u  /* first_index continues the previous file */
#define FQ_FIX_EXTEND 4u       /* zero-extend to its full capacity (when that is small) */
#define FQ_FIX_SLOT_CRC 8u     /* crc32c of the published slots, except slot `skip` */
#define FQ_FIX_TAIL_CRC 16u    /* crc32c of the written slots past write_index too */
#define FQ_FIX_HEADER_CRC 32u  /* header_crc (last, after the fields above) */

/* global options (byte 1) */
#define FQ_OPT_NO_VERIFY 1u
#define FQ_OPT_FROM_END 2u
#define FQ_OPT_BATCH 4u
#define FQ_OPT_RECOVER 8u
static const uint64_t FQ_BATCH_MAX[16] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 63, 64, 65, 1000,
                                          UINT64_MAX};

#define FQ_MARKER_CONN_ID 0xF22u
#define FQ_MARKER_DETAIL "fuzz: recovery marker"

static const uint64_t FQ_LAYOUTS[8][FQ_MAX_FILES] = {
    {1, 2, 3},
    {1, 3, 4},       /* a hole of one after the first */
    {1, 2, 4},       /* a hole of one after the second */
    {2, 3, 4},       /* retention removed seq 1 (not a hole) */
    {1, 3, 5},       /* two holes */
    {1, 1000, 1001}, /* a long hole */
    {10, 11, 12},
    {UINT64_MAX - 3, UINT64_MAX - 2, UINT64_MAX - 1}, /* the top of the seq range */
};

typedef struct fq_input {
    size_t nfiles;
    uint64_t seq[FQ_FILES_CAP];
    unsigned char *bytes[FQ_FILES_CAP]; /* malloc'd, exactly len bytes (at least 1) */
    size_t len[FQ_FILES_CAP];
    unsigned opts;
    uint64_t batch_max;
} fq_input;

/* What the one judge says about one raw file. */
typedef struct fq_file_verdict {
    int check;                     /* bf_segment_check */
    int short_ok;                  /* ECORRUPT only for being short: recovery may take it */
    int sealed;
    uint64_t n;                    /* published slots (valid files) */
    uint64_t bad_crc, bad_symbol, write_index;
} fq_file_verdict;

/* What the one judge says about the raw files (the expectation for verify and readers). */
typedef struct fq_expect {
    fq_file_verdict file[FQ_FILES_CAP];
    uint64_t slots;                /* published slots of the valid files */
    uint64_t bad_crc;              /* of which failing their checksum */
    uint64_t bad_symbol;           /* good checksum, invalid SYMBOL */
    uint64_t holes, header, version, index, write_index;
} fq_expect;

/* What a reader met. */
typedef struct fq_seen {
    int open_rc;
    int end_rc;                    /* 0, or the error that ended the walk */
    uint64_t records;
    uint64_t damage[8];            /* BF_EDAMAGED by BFR_DAMAGE_* kind */
    uint64_t damage_total;
    int last_is_marker;            /* the last record returned is the recovery marker */
} fq_seen;

/* What verify listed. */
typedef struct fq_verified {
    int rc;
    bf_verify_totals totals;
    uint64_t holes, header, version, index, write_index, checksum, record, symbol;
    uint64_t damaged_seal, unpublished;
} fq_verified;

/* ------------------------------------------------------------ failing */

static const char *fq_context = ""; /* the regression test names the input file here */

static void fq_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fq_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "queue fuzz check failed%s%s: ", fq_context[0] ? " on " : "", fq_context);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

#define FQ_CHECK(cond, ...)                                                                \
    do {                                                                                   \
        if (!(cond)) fq_fail(__VA_ARGS__);                                                 \
    } while (0)

/* ------------------------------------------------------------ decoding */

static uint64_t fq_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t fq_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void fq_put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static void fq_put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* header_crc a header in these bytes must hold (bf_header_crc32c on a copy). */
static uint32_t fq_header_crc(const unsigned char *b) {
    bf_segment_header h;
    memcpy(&h, b, 128); /* bf_header_crc32c reads bytes 0..127 only */
    return bf_header_crc32c(&h);
}

static void fq_free(fq_input *in) {
    for (size_t i = 0; i < in->nfiles; i++) free(in->bytes[i]);
    in->nfiles = 0;
}

/* Applies the fix-ups of `ctl` to file i (whose bytes may be reallocated). */
static void fq_fixup(fq_input *in, size_t i, unsigned ctl, unsigned skip) {
    unsigned char *b = in->bytes[i];
    size_t len = in->len[i];
    if (len < 128) return; /* not even the immutable header fields */
    uint32_t hsize = fq_u32(b + 12), ssize = fq_u32(b + 16);
    uint64_t cap = fq_u64(b + 24);
    int geometry = hsize == BF_HEADER_SIZE && ssize >= BF_SLOT_SIZE && ssize % 64 == 0 &&
                   ssize <= 4096;
    if ((ctl & FQ_FIX_EXTEND) && geometry && cap <= 4096) {
        uint64_t full = (uint64_t)hsize + cap * ssize;
        if (full > len && full <= FQ_MAX_FILE) {
            unsigned char *t = (unsigned char *)realloc(b, (size_t)full);
            if (!t) abort();
            memset(t + len, 0, (size_t)full - len);
            b = in->bytes[i] = t;
            len = in->len[i] = (size_t)full;
        }
    }
    if (ctl & FQ_FIX_SEQ) fq_put_u64(b + 32, in->seq[i]);
    if ((ctl & FQ_FIX_FIRST_INDEX) && i > 0 && in->len[i - 1] >= 136) {
        const unsigned char *p = in->bytes[i - 1];
        fq_put_u64(b + 48, fq_u64(p + 48) + fq_u64(p + 128));
    }
    if ((ctl & (FQ_FIX_SLOT_CRC | FQ_FIX_TAIL_CRC)) && geometry && len >= 136) {
        uint64_t n = fq_u64(b + 128);
        uint64_t fit = len > hsize ? (len - hsize) / ssize : 0;
        uint64_t end = (ctl & FQ_FIX_TAIL_CRC) ? fit : (n < fit ? n : fit);
        for (uint64_t k = 0; k < end; k++) {
            unsigned char *s = b + hsize + k * ssize;
            if (k == skip) continue;
            if (k >= n && !bf_slot_written(s, ssize)) continue; /* keep unwritten zeros */
            if (k < n || (ctl & FQ_FIX_TAIL_CRC)) fq_put_u32(s, bf_slot_crc32c(s, ssize));
        }
    }
    if (ctl & FQ_FIX_HEADER_CRC) fq_put_u32(b + 56, fq_header_crc(b));
}

/* Splits an input into files (see the top of this file). 0 if it holds none. */
static int fq_decode(const uint8_t *data, size_t size, fq_input *in) {
    memset(in, 0, sizeof *in);
    if (size < 2) return 0;
    size_t want = 1 + (data[0] & 3u) % 3u;
    unsigned layout = (data[0] >> 2) & 7u;
    in->opts = data[1] & 15u;
    in->batch_max = FQ_BATCH_MAX[data[1] >> 4];
    size_t at = 2;
    unsigned ctl[FQ_MAX_FILES], skip[FQ_MAX_FILES];
    while (in->nfiles < want && at + 5 <= size) {
        size_t i = in->nfiles;
        ctl[i] = data[at];
        skip[i] = data[at + 1];
        size_t len = (size_t)data[at + 2] | (size_t)data[at + 3] << 8 |
                     (size_t)data[at + 4] << 16;
        at += 5;
        if (len > size - at) len = size - at;
        if (len > FQ_MAX_FILE) len = FQ_MAX_FILE;
        in->bytes[i] = (unsigned char *)malloc(len ? len : 1);
        if (!in->bytes[i]) abort();
        memcpy(in->bytes[i], data + at, len);
        in->len[i] = len;
        in->seq[i] = FQ_LAYOUTS[layout][i];
        at += len;
        in->nfiles++;
    }
    for (size_t i = 0; i < in->nfiles; i++) fq_fixup(in, i, ctl[i], skip[i]);
    return in->nfiles > 0;
}

/* ------------------------------------------------------------ files */

static void fq_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096 + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno == EISDIR) fq_remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

static void fq_write_files(const char *dir, const fq_input *in) {
    if (mkdir(dir, 0755) != 0) fq_fail("cannot create %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < in->nfiles; i++) {
        char name[BF_SEGMENT_NAME_MAX], path[4096 + BF_SEGMENT_NAME_MAX];
        bf_segment_name(name, sizeof name, in->seq[i]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, in->bytes[i], in->len[i]) != (ssize_t)in->len[i])
            fq_fail("cannot write %s: %s", path, strerror(errno));
        close(fd);
    }
}

/* ------------------------------------------------------------ (b) the one judge, raw */

static void fq_judge(const fq_input *in, fq_expect *x) {
    memset(x, 0, sizeof *x);
    int prev_ok = 0;
    uint64_t prev_seq = 0, prev_first = 0, prev_n = 0;
    char msg[512];
    for (size_t i = 0; i < in->nfiles; i++) {
        const unsigned char *b = in->bytes[i];
        uint64_t len = in->len[i];
        if (i > 0 && in->seq[i] != in->seq[i - 1] + 1) x->holes++;
        /* exactly len bytes: ASan reports any read past the end of the file */
        const bf_segment_header *h = (const bf_segment_header *)b;
        int rc = bf_segment_check(len ? h : NULL, len, in->seq[i], "raw", msg, sizeof msg);
        fq_file_verdict *f = &x->file[i];
        f->check = rc;
        FQ_CHECK(rc == BF_OK || rc == BF_ECORRUPT || rc == BF_EVERSION,
                 "bf_segment_check returned %d", rc);
        FQ_CHECK(rc == BF_OK || msg[0], "bf_segment_check failed without a message");
        if (rc != BF_OK) {
            if (rc == BF_EVERSION) x->version++;
            else x->header++;
            prev_ok = 0;
            /* what the writer's recovery forgives in the newest segment: a file shorter
             * than its header says, every other field valid (segment.c, torn_ok) */
            if (rc == BF_ECORRUPT && len >= BF_HEADER_SIZE && h->slot_size >= BF_SLOT_SIZE) {
                uint64_t full = (uint64_t)h->header_size + h->capacity * h->slot_size;
                f->short_ok = len < full && bf_segment_check(h, full, in->seq[i], "raw", msg,
                                                             sizeof msg) == BF_OK;
            }
            continue;
        }
        /* also without a seq to compare (the writer's and retention's use) */
        FQ_CHECK(bf_segment_check(h, len, 0, "raw", msg, sizeof msg) == BF_OK,
                 "bf_segment_check(seq 0) refused what bf_segment_check(seq) accepted");
        uint64_t n = bf_load_acquire_u64(&h->write_index);
        uint32_t ssize = h->slot_size;
        FQ_CHECK(h->header_size + n * ssize <= len, "accepted header: slots past the file");
        if (prev_ok && in->seq[i] == prev_seq + 1) {
            uint64_t missing = 0;
            if (bf_segment_continuity_check(prev_seq, prev_first, prev_n, h, &missing, msg,
                                            sizeof msg) != BF_OK)
                x->index++;
        }
        for (uint64_t k = 0; k < n; k++) {
            const bf_slot *s = (const bf_slot *)(b + h->header_size + k * ssize);
            int v = bf_slot_check(s, ssize);
            FQ_CHECK(v == BF_SLOT_OK || v == BF_SLOT_BAD_CRC || v == BF_SLOT_UNKNOWN_TYPE,
                     "bf_slot_check returned %d", v);
            if (v == BF_SLOT_BAD_CRC) {
                f->bad_crc++;
            } else if (v == BF_SLOT_OK && s->type == BF_REC_SYMBOL) {
                const bf_symbol_def *d = &s->body.symbol;
                if (d->symbol_id == 0 || d->symbol_id > BF_SYMBOL_ID_MAX || d->name_len == 0 ||
                    d->name_len > BF_SYMBOL_MAX)
                    f->bad_symbol++;
            }
        }
        f->n = n;
        f->sealed = bf_load_acquire_u32(&h->sealed) != 0;
        if (f->sealed) {
            uint64_t off = (uint64_t)h->header_size + n * ssize;
            const void *after = ssize <= BF_SLOT_SIZE * 4 && off + ssize <= len ? b + off : NULL;
            if (bf_segment_end_check(h, len, after, msg, sizeof msg) != BF_OK) f->write_index = 1;
        }
        x->slots += n;
        x->bad_crc += f->bad_crc;
        x->bad_symbol += f->bad_symbol;
        x->write_index += f->write_index;
        prev_ok = 1;
        prev_seq = in->seq[i];
        prev_first = h->first_index;
        prev_n = n;
    }
}

/* Only the files a reader from the start reaches: it stops at the first segment of a newer
 * format (bfr_open or bfr_next return BF_EVERSION), before reporting a hole in front of it. */
static void fq_judge_reader(const fq_input *in, fq_expect *x) {
    fq_input head = *in;
    for (size_t i = 0; i < in->nfiles; i++) {
        char msg[512];
        const bf_segment_header *h = (const bf_segment_header *)in->bytes[i];
        if (bf_segment_check(in->len[i] ? h : NULL, in->len[i], in->seq[i], "raw", msg,
                             sizeof msg) == BF_EVERSION) {
            head.nfiles = i;
            break;
        }
    }
    fq_judge(&head, x);
}

static int fq_same_verdict(const fq_file_verdict *a, const fq_file_verdict *b) {
    return a->check == b->check && a->sealed == b->sealed && a->n == b->n &&
           a->bad_crc == b->bad_crc && a->bad_symbol == b->bad_symbol &&
           a->write_index == b->write_index;
}

/* ------------------------------------------------------------ (c) verify */

static void fq_verify(const char *dir, fq_verified *out) {
    memset(out, 0, sizeof *out);
    bf_verify *v = NULL;
    char err[512];
    out->rc = bf_verify_queue(dir, 0, &v, err, sizeof err);
    if (out->rc != BF_OK) return;
    bf_verify_get_totals(v, &out->totals);
    uint64_t damage = 0, warnings = 0, info = 0;
    for (size_t i = 0; i < bf_verify_count(v); i++) {
        const bf_finding *f = bf_verify_finding(v, i);
        FQ_CHECK(f != NULL, "bf_verify_finding(%zu) is NULL", i);
        FQ_CHECK(strcmp(bf_finding_kind_name(f->kind), "unknown") != 0 &&
                     strcmp(bf_severity_name(f->severity), "unknown") != 0,
                 "finding of unknown kind %u or severity %u", f->kind, f->severity);
        FQ_CHECK(memchr(f->detail, '\0', sizeof f->detail) && f->detail[0] &&
                     memchr(f->segment, '\0', sizeof f->segment),
                 "finding %s without a terminated detail", bf_finding_kind_name(f->kind));
        damage += f->severity == BF_SEVERITY_DAMAGE;
        warnings += f->severity == BF_SEVERITY_WARNING;
        info += f->severity == BF_SEVERITY_INFO;
        switch (f->kind) {
        case BF_FINDING_HOLE: out->holes++; break;
        case BF_FINDING_HEADER: out->header++; break;
        case BF_FINDING_VERSION: out->version++; break;
        case BF_FINDING_INDEX: out->index++; break;
        case BF_FINDING_WRITE_INDEX: out->write_index++; break;
        case BF_FINDING_CHECKSUM: out->checksum += f->count; break;
        case BF_FINDING_RECORD: out->record++; break;
        case BF_FINDING_SYMBOL: out->symbol++; break;
        case BF_FINDING_DAMAGED_SEAL: out->damaged_seal++; break;
        case BF_FINDING_UNPUBLISHED: out->unpublished++; break;
        default: break;
        }
    }
    FQ_CHECK(damage == out->totals.damage && warnings == out->totals.warnings &&
                 info == out->totals.info,
             "verify totals (%llu damage) disagree with its findings (%llu)",
             (unsigned long long)out->totals.damage, (unsigned long long)damage);
    bf_verify_free(v);
}

static void fq_verify_matches(const fq_verified *v, const fq_expect *x, const char *when) {
    FQ_CHECK(v->rc == BF_OK, "%s: bf_verify_queue returned %d", when, v->rc);
#define FQ_SAME(field, got)                                                                \
    FQ_CHECK((got) == x->field, "%s: verify lists %llu " #field " finding(s), the judge %llu", \
             when, (unsigned long long)(got), (unsigned long long)x->field)
    FQ_SAME(holes, v->holes);
    FQ_SAME(header, v->header);
    FQ_SAME(version, v->version);
    FQ_SAME(index, v->index);
    FQ_SAME(write_index, v->write_index);
    FQ_SAME(bad_crc, v->checksum);
    FQ_SAME(bad_symbol, v->record);
    FQ_SAME(slots, v->totals.slots);
#undef FQ_SAME
}

/* ------------------------------------------------------------ (a) readers */

/* Checks a record bfr_next returned: inside the mapping, at the slot the reader just
 * passed, and (verifying) with a good checksum. */
static void fq_check_record(const bfr_reader *r, const bf_slot *s, int verify) {
    FQ_CHECK(r->map && r->hdr && r->pos >= 1 && r->pos <= r->limit,
             "record returned with no mapping or position %llu of %llu",
             (unsigned long long)r->pos, (unsigned long long)r->limit);
    const unsigned char *slot = r->slots + (r->pos - 1) * r->slot_size;
    FQ_CHECK(slot >= r->map + r->hdr->header_size && slot + r->slot_size <= r->map + r->map_len,
             "slot %llu lies outside the %zu-byte mapping", (unsigned long long)(r->pos - 1),
             r->map_len);
    if (r->version >= 2)
        FQ_CHECK((const unsigned char *)s == slot,
                 "bfr_next returned %p, not slot %llu at %p", (const void *)s,
                 (unsigned long long)(r->pos - 1), (const void *)slot);
    else
        FQ_CHECK(s == &r->upgraded, "a version-1 record not returned as its upgraded copy");
    if (verify)
        FQ_CHECK(bf_slot_crc32c(slot, r->slot_size) == ((const bf_slot *)slot)->crc32c,
                 "bfr_next returned slot %llu of segment %llu with a bad checksum",
                 (unsigned long long)(r->pos - 1), (unsigned long long)r->seg_seq);
    /* the lookups a consumer makes must be safe for any id */
    if (s->type == BF_REC_BOOK_TICKER) (void)bfr_symbol(r, s->body.book_ticker.symbol_id);
    if (s->type == BF_REC_TRADE) (void)bfr_symbol(r, s->body.trade.symbol_id);
    if (s->type == BF_REC_GAP) (void)bfr_symbol(r, s->body.gap.symbol_id);
    if (s->type == BF_REC_SYMBOL && verify) {
        const char *name = bfr_symbol(r, s->body.symbol.symbol_id);
        FQ_CHECK(name == NULL || strlen(name) <= BF_SYMBOL_MAX, "symbol name too long");
    }
    bfr_position p;
    bfr_tell(r, &p);
    FQ_CHECK(p.segment_seq == r->seg_seq && p.index == r->pos, "bfr_tell disagrees");
    (void)bfr_lag(r);
}

static int fq_is_marker(const bf_slot *s) {
    return s->type == BF_REC_CONNECTION && s->body.connection.conn_id == FQ_MARKER_CONN_ID &&
           strcmp(s->body.connection.detail, FQ_MARKER_DETAIL) == 0;
}

static void fq_note_damage(const bfr_reader *r, fq_seen *seen) {
    FQ_CHECK(r->damage.kind >= BFR_DAMAGE_CHECKSUM && r->damage.kind <= BFR_DAMAGE_RECORD,
             "BF_EDAMAGED of unknown kind %u", r->damage.kind);
    FQ_CHECK(r->error[0] != '\0', "BF_EDAMAGED (%s) without a message",
             bfr_damage_kind_name(r->damage.kind));
    seen->damage[r->damage.kind]++;
    seen->damage_total++;
}

/* bfr_next until it returns 0 (then a few more calls, which must find nothing new: the
 * queue does not change) or an error other than BF_EDAMAGED. */
static void fq_read(const char *dir, unsigned flags, uint64_t bound, fq_seen *seen) {
    memset(seen, 0, sizeof *seen);
    bfr_reader r;
    seen->open_rc = bfr_open(&r, dir, flags);
    if (seen->open_rc != BF_OK) {
        FQ_CHECK(r.error[0], "bfr_open failed (%d) without a message", seen->open_rc);
        return;
    }
    int verify = !(flags & BFR_NO_VERIFY);
    uint64_t calls = 0;
    int extra = -1; /* calls left after the first 0 */
    for (;;) {
        const bf_slot *s = NULL;
        int rc = bfr_next(&r, &s);
        FQ_CHECK(++calls <= bound, "bfr_next does not end: %llu calls (%llu records, %llu "
                 "damage reports, last: %s)", (unsigned long long)calls,
                 (unsigned long long)seen->records, (unsigned long long)seen->damage_total,
                 r.error);
        if (rc == 1) {
            FQ_CHECK(extra < 0, "bfr_next returned a record after it had returned 0 (the "
                     "queue did not change)");
            fq_check_record(&r, s, verify);
            seen->records++;
            seen->last_is_marker = fq_is_marker(s);
        } else if (rc == BF_EDAMAGED) {
            FQ_CHECK(extra < 0, "bfr_next reported damage (%s) after it had returned 0: %s",
                     bfr_damage_kind_name(r.damage.kind), r.error);
            fq_note_damage(&r, seen);
        } else if (rc == 0) {
            if (extra < 0) extra = 20;
            if (extra-- == 0) break;
        } else {
            FQ_CHECK(rc >= BF_STATUS_MIN && r.error[0], "bfr_next returned %d (%s)", rc,
                     r.error);
            seen->end_rc = rc;
            break;
        }
    }
    bfr_close(&r);
    bfr_close(&r); /* documented as safe */
}

/* The same walk with bfr_next_batch (version-1 slots come unconverted). */
static void fq_read_batch(const char *dir, unsigned flags, uint64_t max, uint64_t bound,
                          fq_seen *seen) {
    memset(seen, 0, sizeof *seen);
    bfr_reader r;
    seen->open_rc = bfr_open(&r, dir, flags);
    if (seen->open_rc != BF_OK) return;
    int verify = !(flags & BFR_NO_VERIFY);
    for (uint64_t calls = 1;; calls++) {
        uint64_t seq = 0, first = 0, count = 0;
        int rc = bfr_next_batch(&r, max, &seq, &first, &count);
        FQ_CHECK(calls <= bound, "bfr_next_batch does not end (%s)", r.error);
        if (rc == 1) {
            FQ_CHECK(count >= 1 && count <= max && seq == r.seg_seq && r.map &&
                         first + count == r.pos && first + count <= r.limit,
                     "bfr_next_batch returned a run [%llu, +%llu) of segment %llu at pos %llu",
                     (unsigned long long)first, (unsigned long long)count,
                     (unsigned long long)seq, (unsigned long long)r.pos);
            const unsigned char *a = r.slots + first * r.slot_size;
            FQ_CHECK(a >= r.map + r.hdr->header_size &&
                         a + count * r.slot_size <= r.map + r.map_len,
                     "bfr_next_batch run lies outside the mapping");
            for (uint64_t k = 0; k < count && verify; k++) {
                const unsigned char *sl = a + k * r.slot_size;
                FQ_CHECK(bf_slot_crc32c(sl, r.slot_size) == ((const bf_slot *)sl)->crc32c,
                         "bfr_next_batch returned a slot with a bad checksum");
            }
            seen->records += count;
        } else if (rc == BF_EDAMAGED) {
            fq_note_damage(&r, seen);
        } else if (rc == 0) {
            break;
        } else {
            seen->end_rc = rc;
            break;
        }
    }
    bfr_close(&r);
}

/* A reader from the end of a queue that does not change returns no record. */
static void fq_read_from_end(const char *dir, uint64_t bound) {
    bfr_reader r;
    if (bfr_open(&r, dir, BFR_FROM_END) != BF_OK) return;
    for (uint64_t calls = 1; calls <= 40; calls++) {
        const bf_slot *s = NULL;
        int rc = bfr_next(&r, &s);
        FQ_CHECK(calls <= bound, "BFR_FROM_END: bfr_next does not end");
        FQ_CHECK(rc != 1, "BFR_FROM_END returned a record (slot %llu of segment %llu) from a "
                 "queue that did not change", (unsigned long long)(r.pos - 1),
                 (unsigned long long)r.seg_seq);
        if (rc < 0 && rc != BF_EDAMAGED) break;
    }
    bfr_close(&r);
}

/* The reader from the start saw exactly what the judge expects. */
static void fq_reader_matches(const fq_seen *s, const fq_expect *x, const char *when) {
    uint64_t want = x->slots - x->bad_crc - x->bad_symbol;
    FQ_CHECK(s->records == want,
             "%s: bfr_next returned %llu records, the judge counts %llu good ones (%llu slots, "
             "%llu bad checksums, %llu bad SYMBOLs)", when, (unsigned long long)s->records,
             (unsigned long long)want, (unsigned long long)x->slots,
             (unsigned long long)x->bad_crc, (unsigned long long)x->bad_symbol);
#define FQ_KIND(kind, field)                                                               \
    FQ_CHECK(s->damage[kind] == x->field, "%s: the reader reported %llu %s damage, the judge " \
             "finds %llu", when, (unsigned long long)s->damage[kind], bfr_damage_kind_name(kind), \
             (unsigned long long)x->field)
    FQ_KIND(BFR_DAMAGE_CHECKSUM, bad_crc);
    FQ_KIND(BFR_DAMAGE_HOLE, holes);
    FQ_KIND(BFR_DAMAGE_HEADER, header);
    FQ_KIND(BFR_DAMAGE_INDEX, index);
    FQ_KIND(BFR_DAMAGE_WRITE_INDEX, write_index);
    FQ_KIND(BFR_DAMAGE_RECORD, bad_symbol);
#undef FQ_KIND
}

/* ------------------------------------------------------------ one input */

static uint64_t fq_bound(const fq_input *in) {
    uint64_t slots = 0;
    for (size_t i = 0; i < in->nfiles; i++)
        if (in->len[i] > BF_HEADER_SIZE) slots += (in->len[i] - BF_HEADER_SIZE) / BF_SLOT_SIZE;
    return slots + 8 * (in->nfiles + 1) + 100;
}

static int fq_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Loads the segment files of dir (after recovery) as an fq_input, in seq order. */
static void fq_load_dir(const char *dir, fq_input *in) {
    memset(in, 0, sizeof *in);
    DIR *d = opendir(dir);
    FQ_CHECK(d != NULL, "cannot list %s", dir);
    uint64_t seqs[FQ_FILES_CAP], seq;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!bf_parse_segment_name(e->d_name, &seq)) continue;
        FQ_CHECK(n < FQ_FILES_CAP, "recovery left more than %d segment files", FQ_FILES_CAP);
        seqs[n++] = seq;
    }
    closedir(d);
    qsort(seqs, n, sizeof seqs[0], fq_cmp_u64);
    for (size_t i = 0; i < n; i++) {
        char name[BF_SEGMENT_NAME_MAX], path[4096 + BF_SEGMENT_NAME_MAX];
        bf_segment_name(name, sizeof name, seqs[i]);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        FQ_CHECK(fd >= 0 && fstat(fd, &st) == 0, "cannot open %s", path);
        size_t len = (size_t)st.st_size;
        in->bytes[i] = (unsigned char *)malloc(len ? len : 1);
        if (!in->bytes[i]) abort();
        FQ_CHECK(pread(fd, in->bytes[i], len, 0) == (ssize_t)len, "cannot read %s", path);
        close(fd);
        in->len[i] = len;
        in->seq[i] = seqs[i];
        in->nfiles++;
    }
}

/* (d) the writer's recovery, then everything read again. */
static void fq_recover(const char *dir, const fq_input *in, const fq_expect *all,
                       const fq_seen *r0, int reader_complete) {
    size_t newest = in->nfiles - 1;
    const fq_file_verdict *nv = &all->file[newest];
    bf_writer_opts o = {FQ_WRITER_SLOTS, 0, 0};
    bf_writer *w = NULL;
    char err[512] = "";
    int rc = bf_writer_open(dir, &o, &w, err, sizeof err);
    if (nv->check != BF_OK && !nv->short_ok) {
        /* it never writes after a file it cannot read */
        FQ_CHECK(rc == nv->check, "bf_writer_open of a queue whose newest segment is invalid "
                 "(%d) returned %d", nv->check, rc);
        FQ_CHECK(err[0], "bf_writer_open failed without a message");
        return;
    }
    FQ_CHECK(rc == BF_OK, "bf_writer_open returned %d: %s", rc, err);
    rc = bf_append_connection(w, 1, BF_CONN_CONNECTED, FQ_MARKER_CONN_ID, 0, FQ_MARKER_DETAIL);
    FQ_CHECK(rc == BF_OK, "append after recovery returned %d: %s", rc, bf_writer_error(w));
    bf_writer_stats st;
    FQ_CHECK(bf_writer_get_stats(w, &st) == BF_OK, "bf_writer_get_stats failed");
    int older_cut = 0; /* recovery cut a torn tail off a segment other than the newest */
    for (size_t i = 0; i < st.recovery_events; i++) {
        bf_recovery_report rep;
        FQ_CHECK(bf_writer_recovery(w, i, &rep) == BF_OK &&
                     memchr(rep.message, '\0', sizeof rep.message),
                 "bf_writer_recovery(%zu)", i);
        if (rep.event == BF_RECOVERY_TORN_TAIL && rep.segment_seq != in->seq[newest])
            older_cut = 1;
    }
    rc = bf_writer_close(w);
    FQ_CHECK(rc == BF_OK, "bf_writer_close after recovery returned %d", rc);
    FQ_CHECK(st.segment_seq == in->seq[newest] + 1 && st.segments_created == 1,
             "the writer started segment %llu (%llu created) after segment %llu",
             (unsigned long long)st.segment_seq, (unsigned long long)st.segments_created,
             (unsigned long long)in->seq[newest]);

    fq_input after;
    fq_load_dir(dir, &after);
    FQ_CHECK(after.nfiles == in->nfiles + 1, "after recovery %zu segment files, not %zu",
             after.nfiles, in->nfiles + 1);
    fq_expect x1, h1;
    fq_judge(&after, &x1);
    fq_judge_reader(&after, &h1);
    fq_verified v1;
    fq_verify(dir, &v1);
    fq_verify_matches(&v1, &x1, "after recovery");

    int revived = 0; /* a file cut short became readable */
    /* file by file: recovery seals what was unsealed, cutting only bad slots; it takes a
     * newest file cut short; it leaves everything else as it was */
    for (size_t i = 0; i < in->nfiles; i++) {
        const fq_file_verdict *a = &all->file[i], *b = &x1.file[i];
        unsigned long long seq = (unsigned long long)in->seq[i];
        if (a->check == BF_OK && !a->sealed && (i == newest || b->sealed)) {
            FQ_CHECK(b->check == BF_OK && b->sealed && b->n <= a->n &&
                         a->n - b->n == a->bad_crc - b->bad_crc && b->bad_crc <= a->bad_crc &&
                         b->bad_symbol == a->bad_symbol,
                     "recovery of unsealed segment %llu: %llu slots (%llu bad) became %llu "
                     "(%llu bad), check %d, sealed %d", seq, (unsigned long long)a->n,
                     (unsigned long long)a->bad_crc, (unsigned long long)b->n,
                     (unsigned long long)b->bad_crc, b->check, b->sealed);
        } else if (a->check != BF_OK && a->short_ok && (i == newest || b->check == BF_OK)) {
            FQ_CHECK(b->check == BF_OK && b->sealed, "recovery took segment %llu (cut short) "
                     "but left it invalid (%d) or unsealed", seq, b->check);
            revived = 1;
        } else {
            FQ_CHECK(fq_same_verdict(a, b), "recovery changed segment %llu: check %d -> %d, "
                     "sealed %d -> %d, %llu -> %llu slots, %llu -> %llu bad checksums, %llu -> "
                     "%llu bad SYMBOLs, write_index damage %llu -> %llu", seq, a->check,
                     b->check, a->sealed, b->sealed, (unsigned long long)a->n,
                     (unsigned long long)b->n, (unsigned long long)a->bad_crc,
                     (unsigned long long)b->bad_crc, (unsigned long long)a->bad_symbol,
                     (unsigned long long)b->bad_symbol, (unsigned long long)a->write_index,
                     (unsigned long long)b->write_index);
        }
    }
    const fq_file_verdict *made = &x1.file[after.nfiles - 1];
    FQ_CHECK(made->check == BF_OK && made->sealed && made->bad_crc == 0 &&
                 made->bad_symbol == 0 && made->write_index == 0 && made->n == st.write_index,
             "the writer's new segment is not a clean sealed segment of %llu records",
             (unsigned long long)st.write_index);
    FQ_CHECK(x1.holes == all->holes && x1.version == all->version,
             "recovery changed the holes (%llu -> %llu) or newer-format segments (%llu -> %llu)",
             (unsigned long long)all->holes, (unsigned long long)x1.holes,
             (unsigned long long)all->version, (unsigned long long)x1.version);
    FQ_CHECK(older_cut || revived || x1.index == all->index,
             "recovery changed the index damage: %llu before, %llu after",
             (unsigned long long)all->index, (unsigned long long)x1.index);

    fq_seen r1;
    fq_read(dir, BFR_FROM_START, fq_bound(&after), &r1);
    if (x1.file[0].check == BF_EVERSION) {
        FQ_CHECK(r1.open_rc == BF_EVERSION, "bfr_open after recovery returned %d", r1.open_rc);
    } else {
        FQ_CHECK(r1.open_rc == BF_OK, "bfr_open after recovery returned %d", r1.open_rc);
        fq_reader_matches(&r1, &h1, "after recovery");
        if (!x1.version) {
            FQ_CHECK(r1.end_rc == 0 && r1.last_is_marker, "after recovery the reader ended "
                     "with %d and %s the appended record last", r1.end_rc,
                     r1.last_is_marker ? "returned" : "did not return");
            /* no good record is lost (a newest file cut short gives back what it holds) */
            if (reader_complete)
                FQ_CHECK(revived ? r1.records >= r0->records + st.write_index
                                            : r1.records == r0->records + st.write_index,
                         "recovery lost records: %llu before, %llu after, %llu new",
                         (unsigned long long)r0->records, (unsigned long long)r1.records,
                         (unsigned long long)st.write_index);
        }
    }
    fq_free(&after);
}

/* Runs every check on one input in directory `dir` (created, and removed at the end). */
static void fq_run(const uint8_t *data, size_t size, const char *dir) {
    fq_input in;
    if (!fq_decode(data, size, &in)) return;
    fq_remove_tree(dir);
    fq_write_files(dir, &in);

    /* (b) the judge on the raw bytes: what everything else must agree with */
    fq_expect all, head;
    fq_judge(&in, &all);
    fq_judge_reader(&in, &head);
    uint64_t bound = fq_bound(&in);

    /* (c) verify */
    fq_verified v0;
    fq_verify(dir, &v0);
    fq_verify_matches(&v0, &all, "before recovery");

    /* (a) the readers */
    fq_seen r0;
    fq_read(dir, BFR_FROM_START, bound, &r0);
    int reader_complete = 0;
    if (all.file[0].check == BF_EVERSION) {
        FQ_CHECK(r0.open_rc == BF_EVERSION, "bfr_open of a queue whose first segment is of "
                 "a newer format returned %d", r0.open_rc);
    } else {
        FQ_CHECK(r0.open_rc == BF_OK, "bfr_open returned %d: the first segment is not of a "
                 "newer format", r0.open_rc);
        FQ_CHECK(r0.end_rc == (all.version ? BF_EVERSION : 0),
                 "the reader ended with %d (segments of a newer format: %llu)", r0.end_rc,
                 (unsigned long long)all.version);
        fq_reader_matches(&r0, &head, "before recovery");
        /* the one judge: no damage for verify, none for the reader (and the reverse) */
        FQ_CHECK(all.version || (v0.totals.damage - v0.symbol == 0) == (r0.damage_total == 0),
                 "verify lists %llu damage finding(s), the reader reported %llu",
                 (unsigned long long)v0.totals.damage, (unsigned long long)r0.damage_total);
        reader_complete = r0.end_rc == 0;
    }
    if (r0.open_rc == BF_OK && (in.opts & FQ_OPT_BATCH)) {
        fq_seen b0;
        fq_read_batch(dir, BFR_FROM_START, in.batch_max, bound, &b0);
        FQ_CHECK(b0.open_rc == BF_OK && b0.records == r0.records &&
                     b0.damage_total == r0.damage_total && b0.end_rc == r0.end_rc,
                 "bfr_next_batch(max %llu): %llu records, %llu damage, end %d; bfr_next: "
                 "%llu, %llu, %d", (unsigned long long)in.batch_max,
                 (unsigned long long)b0.records, (unsigned long long)b0.damage_total,
                 b0.end_rc, (unsigned long long)r0.records,
                 (unsigned long long)r0.damage_total, r0.end_rc);
        for (unsigned k = 1; k <= BFR_DAMAGE_RECORD; k++)
            FQ_CHECK(b0.damage[k] == r0.damage[k], "bfr_next_batch reported %llu %s damage, "
                     "bfr_next %llu", (unsigned long long)b0.damage[k],
                     bfr_damage_kind_name(k), (unsigned long long)r0.damage[k]);
    }
    if (in.opts & FQ_OPT_NO_VERIFY) {
        fq_seen nv;
        fq_read(dir, BFR_FROM_START | BFR_NO_VERIFY, bound, &nv);
        FQ_CHECK(nv.open_rc == r0.open_rc, "bfr_open(BFR_NO_VERIFY) returned %d, not %d",
                 nv.open_rc, r0.open_rc);
        fq_seen nb;
        if (in.opts & FQ_OPT_BATCH)
            fq_read_batch(dir, BFR_FROM_START | BFR_NO_VERIFY, in.batch_max, bound, &nb);
    }
    if (in.opts & FQ_OPT_FROM_END) fq_read_from_end(dir, bound);

    /* (d) the writer's recovery */
    if (in.opts & FQ_OPT_RECOVER) fq_recover(dir, &in, &all, &r0, reader_complete);
    fq_free(&in);
    fq_remove_tree(dir);
}

#endif
