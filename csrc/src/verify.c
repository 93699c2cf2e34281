/* verify.c -- bf_verify_queue's walk over a whole queue: every segment file, its header and
 * slots judged by the one judge of binfeed_reader.h, continuity across segments, streams and
 * symbols, unpublished slots. The list of findings it reports is verify_findings.c's. */
#include "verify_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Per (symbol, stream): the last seq seen, and this segment's duplicates and reversals.
 * Stream states are kept at STREAM_INDEX(id, stream). */
#define STREAM_INDEX(id, stream) ((id) * BF_STREAM_COUNT + (stream) - 1)
typedef struct stream_state {
    uint64_t last;
    uint64_t dup, rev;           /* in the current segment */
    int64_t dup_slot, rev_slot;  /* first slot of each in the current segment */
    int seen;
    int touched;                 /* listed in touched[] for the end of the segment */
} stream_state;

typedef struct ctx {
    bf_verify *v;
    const char *dir;
    char name[BF_SEGMENT_NAME_MAX];
    /* symbols: defined in the current segment, streams of the queue */
    uint8_t *defined;            /* [id] */
    stream_state *streams;       /* [STREAM_INDEX(id, stream)] */
    uint64_t ids_cap;
    uint64_t *touched;           /* stream indexes touched in this segment */
    size_t ntouched, touched_cap;
    uint32_t unknown_types_seen[8]; /* bitmap of reported unknown types (0..255) */
    uint64_t undefined_first, undefined_count; /* symbol used before definition, this segment */
    uint64_t undefined_id;
} ctx;

static int grow_ids(ctx *c, uint64_t id) {
    if (id < c->ids_cap) return BF_OK;
    uint64_t cap = c->ids_cap ? c->ids_cap : 256;
    while (cap <= id) cap *= 2;
    uint8_t *d = realloc(c->defined, cap);
    if (!d) return BF_ENOMEM;
    c->defined = d;
    memset(d + c->ids_cap, 0, cap - c->ids_cap);
    stream_state *s = realloc(c->streams, cap * BF_STREAM_COUNT * sizeof *s);
    if (!s) return BF_ENOMEM;
    c->streams = s;
    memset(s + c->ids_cap * BF_STREAM_COUNT, 0,
           (cap - c->ids_cap) * BF_STREAM_COUNT * sizeof *s);
    c->ids_cap = cap;
    return BF_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment seqs present, sorted. */
static int list_seqs(const char *dir, uint64_t **out, size_t *n, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        bf__fmt(err, errlen, "cannot read queue directory %s: %s", dir, strerror(e));
        return e == ENOENT || e == ENOTDIR ? BF_ENOTFOUND : BF_EIO;
    }
    uint64_t *seqs = NULL, seq;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!bf_parse_segment_name(e->d_name, &seq)) continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *t = realloc(seqs, cap * sizeof *t);
            if (!t) {
                free(seqs);
                closedir(d);
                bf__fmt(err, errlen, "out of memory listing %s", dir);
                return BF_ENOMEM;
            }
            seqs = t;
        }
        seqs[count++] = seq;
    }
    closedir(d);
    if (count) qsort(seqs, count, sizeof *seqs, cmp_u64);
    *out = seqs;
    *n = count;
    return BF_OK;
}

static void note_stream(ctx *c, uint64_t id, uint32_t stream, uint64_t seq, uint64_t slot) {
    stream_state *s = &c->streams[STREAM_INDEX(id, stream)];
    if (s->seen) {
        if (seq == s->last) {
            if (s->dup++ == 0) s->dup_slot = (int64_t)slot;
        } else if (seq < s->last) {
            if (s->rev++ == 0) s->rev_slot = (int64_t)slot;
        }
        if ((s->dup || s->rev) && !s->touched) {
            if (c->ntouched == c->touched_cap) {
                size_t cap = c->touched_cap ? c->touched_cap * 2 : 64;
                uint64_t *t = realloc(c->touched, cap * sizeof *t);
                if (!t) {
                    c->v->failed = 1;
                    return;
                }
                c->touched = t;
                c->touched_cap = cap;
            }
            c->touched[c->ntouched++] = STREAM_INDEX(id, stream);
            s->touched = 1;
        }
    }
    if (!s->seen || seq > s->last) s->last = seq;
    s->seen = 1;
}

/* Ends a segment: its per-stream duplicate / reversal warnings, undefined symbols. */
static void end_segment(ctx *c) {
    for (size_t i = 0; i < c->ntouched; i++) {
        stream_state *s = &c->streams[c->touched[i]];
        uint64_t id = c->touched[i] / BF_STREAM_COUNT;
        uint32_t kind = (uint32_t)(c->touched[i] % BF_STREAM_COUNT) + 1;
        const char *stream = kind == BF_STREAM_BOOK_TICKER ? "bookTicker" : "trade";
        if (s->dup)
            bf__verify_add(c->v, c->name, s->dup_slot, BF_FINDING_DUPLICATE,
                BF_SEVERITY_WARNING, s->dup,
                "%llu duplicate %s record(s) of symbol id %llu (the same sequence again; an "
                "import without --dedup stores them on purpose)", (unsigned long long)s->dup,
                stream, (unsigned long long)id);
        if (s->rev)
            bf__verify_add(c->v, c->name, s->rev_slot, BF_FINDING_REVERSAL,
                BF_SEVERITY_WARNING, s->rev,
                "%llu %s record(s) of symbol id %llu go back in sequence",
                (unsigned long long)s->rev, stream, (unsigned long long)id);
        s->dup = s->rev = 0;
        s->touched = 0;
    }
    c->ntouched = 0;
    if (c->undefined_count)
        bf__verify_add(c->v, c->name, (int64_t)c->undefined_first, BF_FINDING_SYMBOL,
            BF_SEVERITY_DAMAGE, c->undefined_count,
            "%llu record(s) use symbol id %llu (and maybe others) before its SYMBOL record in "
            "this segment", (unsigned long long)c->undefined_count,
            (unsigned long long)c->undefined_id);
    c->undefined_count = 0;
    if (c->ids_cap) memset(c->defined, 0, c->ids_cap);
}

static void check_symbol_use(ctx *c, uint64_t id, uint64_t slot) {
    if (id < c->ids_cap && c->defined[id]) return;
    if (c->undefined_count++ == 0) {
        c->undefined_first = slot;
        c->undefined_id = id;
    }
}

/* Checks the published slots [0, n) of a mapped segment. */
static void check_slots(ctx *c, const unsigned char *slots, uint64_t n, uint32_t slot_size) {
    uint64_t run_start = 0, run = 0;
    for (uint64_t i = 0; i <= n; i++) {
        int verdict = BF_SLOT_OK;
        const bf_slot *s = NULL;
        if (i < n) {
            s = (const bf_slot *)(slots + i * slot_size);
            verdict = bf_slot_check(s, slot_size);
            c->v->totals.slots++;
        }
        if (i < n && verdict == BF_SLOT_BAD_CRC) {
            if (run++ == 0) run_start = i;
            continue;
        }
        if (run) {
            if (run == 1)
                bf__verify_add(c->v, c->name, (int64_t)run_start, BF_FINDING_CHECKSUM,
                    BF_SEVERITY_DAMAGE, 1, "fails its checksum (a damaged record)");
            else
                bf__verify_add(c->v, c->name, (int64_t)run_start, BF_FINDING_CHECKSUM,
                    BF_SEVERITY_DAMAGE, run,
                    "%llu records from here to slot %llu fail their checksum (damaged)",
                    (unsigned long long)run, (unsigned long long)(run_start + run - 1));
            run = 0;
        }
        if (i == n) break;
        if (verdict == BF_SLOT_UNKNOWN_TYPE) {
            uint32_t t = s->type;
            if (t < 256 && !(c->unknown_types_seen[t / 32] & (1u << (t % 32)))) {
                c->unknown_types_seen[t / 32] |= 1u << (t % 32);
                bf__verify_add(c->v, c->name, (int64_t)i, BF_FINDING_UNKNOWN_TYPE,
                    BF_SEVERITY_WARNING, 1,
                    "record type %u is unknown to this binfeed (written by a newer one?): "
                    "readers skip such records", (unsigned)t);
            }
            continue;
        }
        c->v->totals.records++;
        switch (s->type) {
        case BF_REC_SYMBOL: {
            const bf_symbol_def *d = &s->body.symbol;
            if (d->symbol_id == 0 || d->symbol_id > BF_SYMBOL_ID_MAX || d->name_len == 0 ||
                d->name_len > BF_SYMBOL_MAX) {
                bf__verify_add(c->v, c->name, (int64_t)i, BF_FINDING_RECORD,
                    BF_SEVERITY_DAMAGE, 1,
                    "invalid SYMBOL record (id %llu, name length %u)",
                    (unsigned long long)d->symbol_id, (unsigned)d->name_len);
                break;
            }
            if (grow_ids(c, d->symbol_id) != BF_OK) {
                c->v->failed = 1;
                return;
            }
            c->defined[d->symbol_id] = 1;
            break;
        }
        case BF_REC_BOOK_TICKER:
        case BF_REC_TRADE: {
            uint64_t id = s->type == BF_REC_TRADE ? s->body.trade.symbol_id
                                                  : s->body.book_ticker.symbol_id;
            check_symbol_use(c, id, i);
            if (id < c->ids_cap && c->defined[id])
                note_stream(c, id, s->type == BF_REC_TRADE ? BF_STREAM_TRADE
                                                           : BF_STREAM_BOOK_TICKER, s->seq, i);
            break;
        }
        case BF_REC_GAP:
            check_symbol_use(c, s->body.gap.symbol_id, i);
            break;
        case BF_REC_RECOVERY: {
            const bf_recovery_event *r = &s->body.recovery;
            bf__verify_add(c->v, c->name, (int64_t)i, BF_FINDING_RECOVERY, BF_SEVERITY_INFO,
                r->count, "a writer's recovery: %.*s",
                (int)strnlen(r->detail, sizeof r->detail), r->detail);
            break;
        }
        default:
            break;
        }
    }
}

/* Complete, checksum-valid slots past write_index of an unsealed segment (read with pread:
 * a live writer may seal and truncate the file meanwhile). */
static uint64_t unpublished_slots(int fd, const bf_segment_header *h, uint64_t n,
                                  uint64_t file_size) {
    uint64_t count = 0;
    unsigned char buf[BF_SLOT_SIZE * 4];
    if (h->slot_size > sizeof buf) return 0;
    for (uint64_t i = n; i < h->capacity; i++) {
        uint64_t off = (uint64_t)h->header_size + i * h->slot_size;
        if (off + h->slot_size > file_size) break;
        if (pread(fd, buf, h->slot_size, (off_t)off) != (ssize_t)h->slot_size) break;
        if (!bf_slot_written(buf, h->slot_size) ||
            bf_slot_check((const bf_slot *)buf, h->slot_size) == BF_SLOT_BAD_CRC)
            break;
        count++;
    }
    return count;
}

typedef struct prev_segment {
    int have;            /* the previous seq was read and is the one before */
    uint64_t seq;
    uint64_t first_index;
    uint64_t n;
} prev_segment;

static void check_segment(ctx *c, uint64_t seq, prev_segment *prev) {
    char path[4096 + BF_SEGMENT_NAME_MAX];
    bf_segment_name(c->name, sizeof c->name, seq);
    snprintf(path, sizeof path, "%s/%s", c->dir, c->name);
    int had_prev = prev->have && prev->seq + 1 == seq;
    prev->have = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *why = fd >= 0 && S_ISDIR(st.st_mode) ? "a directory, not a file"
                          : fd >= 0 && errno == 0      ? "not a regular file"
                                                       : strerror(errno);
        bf__verify_add(c->v, c->name, -1, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, 1,
            "cannot be read: %s", why);
        if (fd >= 0) close(fd);
        return;
    }
    uint64_t size = (uint64_t)st.st_size;
    char msg[2048];
    if (size < BF_HEADER_SIZE) {
        bf_segment_check(NULL, size, seq, c->name, msg, sizeof msg);
        bf__verify_add(c->v, c->name, -1, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, 1, "%s", msg);
        close(fd);
        return;
    }
    size_t map_size = (size_t)size;
    void *m = mmap(NULL, map_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        bf__verify_add(c->v, c->name, -1, BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, 1,
            "cannot be mapped: %s", strerror(errno));
        close(fd);
        return;
    }
    const bf_segment_header *h = (const bf_segment_header *)m;
    int rc = bf_segment_check(h, size, seq, c->name, msg, sizeof msg);
    if (rc != BF_OK) {
        bf__verify_add(c->v, c->name, -1,
            rc == BF_EVERSION ? BF_FINDING_VERSION : BF_FINDING_HEADER, BF_SEVERITY_DAMAGE, 1,
            "%s", msg);
        munmap(m, map_size);
        close(fd);
        return;
    }
    c->v->totals.segments++;
    int sealed = bf_load_acquire_u32(&h->sealed) != 0;
    uint64_t n = bf_load_acquire_u64(&h->write_index);
    uint64_t missing = 0;
    if (had_prev &&
        bf_segment_continuity_check(prev->seq, prev->first_index, prev->n, h, &missing, msg,
                                    sizeof msg) != BF_OK)
        bf__verify_add(c->v, c->name, -1, BF_FINDING_INDEX, BF_SEVERITY_DAMAGE, missing, "%s",
            msg);
    (void)madvise(m, (size_t)size, MADV_SEQUENTIAL);
    check_slots(c, (const unsigned char *)m + h->header_size, n, h->slot_size);
    if (sealed) {
        unsigned char after[BF_SLOT_SIZE * 4];
        const void *after_last = NULL;
        uint64_t off = (uint64_t)h->header_size + n * h->slot_size;
        if (h->slot_size <= sizeof after &&
            pread(fd, after, h->slot_size, (off_t)off) == (ssize_t)h->slot_size)
            after_last = after;
        if (fstat(fd, &st) == 0) size = (uint64_t)st.st_size;
        if (bf_segment_end_check(h, size, after_last, msg, sizeof msg) != BF_OK)
            bf__verify_add(c->v, c->name, -1, BF_FINDING_WRITE_INDEX, BF_SEVERITY_DAMAGE, 0,
                "%s", msg);
        else if (size != (uint64_t)h->header_size + n * h->slot_size)
            bf__verify_add(c->v, c->name, -1, BF_FINDING_UNTRUNCATED, BF_SEVERITY_INFO, 0,
                "sealed but not yet truncated to its %llu records (a roll's truncation the "
                "writer did not finish; the next writer does it)", (unsigned long long)n);
        if (h->version >= 2 && (h->seal_flags & BF_SEAL_F_DAMAGED))
            bf__verify_add(c->v, c->name, (int64_t)h->damage_first, BF_FINDING_DAMAGED_SEAL,
                BF_SEVERITY_INFO, h->damage_count,
                "sealed as damaged by a recovering writer (%llu damaged slot(s) from here); "
                "its good records were kept", (unsigned long long)h->damage_count);
    } else {
        uint64_t extra = unpublished_slots(fd, h, n, size);
        if (extra)
            bf__verify_add(c->v, c->name, (int64_t)n, BF_FINDING_UNPUBLISHED,
                BF_SEVERITY_INFO, extra,
                "%llu complete record(s) past write_index were never published (a writer "
                "killed before publishing them, or one still writing: the next writer drops "
                "them)", (unsigned long long)extra);
    }
    end_segment(c);
    prev->have = 1;
    prev->seq = seq;
    prev->first_index = h->first_index;
    prev->n = n;
    munmap(m, map_size);
    close(fd);
}

int bf_verify_queue(const char *dir, uint32_t flags, bf_verify **out, char *errbuf,
                    size_t errlen) {
    if (!dir || !*dir || !out || flags != 0) {
        bf__fmt(errbuf, errlen, "bf_verify_queue: dir and out must be given, flags 0");
        return BF_EINVAL;
    }
    uint64_t *seqs = NULL;
    size_t nseqs = 0;
    int rc = list_seqs(dir, &seqs, &nseqs, errbuf, errlen);
    if (rc != BF_OK) return rc;
    if (nseqs == 0) {
        free(seqs);
        bf__fmt(errbuf, errlen, "%s is not a binfeed queue: it holds no segment file "
                "(<20 digits>.bfq)", dir);
        return BF_ENOTFOUND;
    }
    bf_verify *v = calloc(1, sizeof *v);
    if (!v) {
        free(seqs);
        bf__fmt(errbuf, errlen, "out of memory verifying %s", dir);
        return BF_ENOMEM;
    }
    ctx c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.dir = dir;
    prev_segment prev = {0, 0, 0, 0};
    for (size_t i = 0; i < nseqs && !v->failed; i++) {
        if (i > 0 && seqs[i] != seqs[i - 1] + 1) {
            char first[BF_SEGMENT_NAME_MAX];
            bf_segment_name(first, sizeof first, seqs[i - 1] + 1);
            uint64_t missing = seqs[i] - seqs[i - 1] - 1;
            bf__verify_add(v, first, -1, BF_FINDING_HOLE, BF_SEVERITY_DAMAGE, missing,
                "missing: %llu segment file(s) from here to %020llu%s are not in the queue "
                "(deleted?); readers skip to %020llu%s", (unsigned long long)missing,
                (unsigned long long)(seqs[i] - 1), BF_SEGMENT_SUFFIX,
                (unsigned long long)seqs[i], BF_SEGMENT_SUFFIX);
        }
        check_segment(&c, seqs[i], &prev);
    }
    free(seqs);
    free(c.defined);
    free(c.streams);
    free(c.touched);
    if (v->failed) {
        bf_verify_free(v);
        bf__fmt(errbuf, errlen, "out of memory verifying %s", dir);
        return BF_ENOMEM;
    }
    *out = v;
    return BF_OK;
}
