/* parse_resume.c -- see parse_resume.h. */
#include "parse_resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Notes (sym, stream) = seq from segment `segment`. Segments are read newest first and
 * each from start to end: a later record of the same segment wins, an older segment
 * never overrides a newer one. */
static int note(bf_resume *r, uint64_t sym, uint32_t stream, uint64_t seq, uint64_t segment) {
    if (sym == 0 || sym > BF_SYMBOL_ID_MAX) return BF_OK; /* not a valid id: never sized by */
    if (sym > r->cap) {
        uint64_t cap = r->cap ? r->cap : 64;
        while (cap < sym) cap *= 2;
        bf_resume_entry *ids = realloc(r->ids, cap * sizeof *ids);
        if (!ids) return BF_ENOMEM;
        memset(ids + r->cap, 0, (cap - r->cap) * sizeof *ids);
        r->ids = ids;
        r->cap = cap;
    }
    bf_resume_entry *e = &r->ids[sym - 1];
    if (e->segment[stream - 1] == 0 || e->segment[stream - 1] == segment) {
        e->seq[stream - 1] = seq;
        e->segment[stream - 1] = segment;
    }
    return BF_OK;
}

/* 1 if every stream of symbols 1..symbols has its last seq. */
static int complete(const bf_resume *r, uint64_t symbols) {
    if (symbols == 0 || symbols > r->cap) return symbols == 0;
    for (uint64_t id = 1; id <= symbols; id++)
        for (uint32_t k = 0; k < BF_STREAM_COUNT; k++)
            if (r->ids[id - 1].segment[k] == 0) return 0;
    return 1;
}

/* Reads segment `seq` alone. *symbols: the highest symbol id it defines. *market: it held
 * market data. *readable: it could be read. */
static int scan_one(bf_resume *out, const char *dir, uint64_t seq, uint64_t *symbols,
                    int *market, int *readable) {
    bfr_reader r;
    *symbols = 0;
    *market = 0;
    int rc = bfr_open_segment(&r, dir, seq, 0);
    *readable = rc == BF_OK;
    if (!*readable) return rc == BF_ENOMEM ? BF_ENOMEM : BF_OK;
    /* bfr_lag: what is left of this segment (it is sealed: the writer recovered it) */
    while (rc == BF_OK && bfr_lag(&r) > 0) {
        const bf_slot *s;
        int got = bfr_next(&r, &s);
        if (got == BF_EDAMAGED) continue; /* a damaged record: skipped */
        if (got <= 0) {
            if (got == BF_ENOMEM) rc = BF_ENOMEM;
            break;
        }
        /* only ids the segment defines (a SYMBOL record before them) are tracked */
        if (s->type == BF_REC_SYMBOL && s->body.symbol.symbol_id > *symbols) {
            *symbols = s->body.symbol.symbol_id;
        } else if (s->type == BF_REC_BOOK_TICKER) {
            *market = 1;
            if (bfr_symbol(&r, s->body.book_ticker.symbol_id))
                rc = note(out, s->body.book_ticker.symbol_id, BF_STREAM_BOOK_TICKER, s->seq,
                          seq);
        } else if (s->type == BF_REC_TRADE) {
            *market = 1;
            if (bfr_symbol(&r, s->body.trade.symbol_id))
                rc = note(out, s->body.trade.symbol_id, BF_STREAM_TRADE, s->seq, seq);
        }
    }
    bfr_close(&r);
    return rc;
}

int bf_resume_scan(const char *dir, uint64_t newest, bf_resume *out, char *err, size_t errlen) {
    if (!dir || !out) return BF_EINVAL;
    memset(out, 0, sizeof *out);
    uint64_t with_market = 0;
    for (uint64_t seq = newest, read = 0; seq >= 1 && read < BF_RESUME_MAX_SEGMENTS &&
                                          with_market <= BF_RESUME_DEPTH;
         seq--, read++) {
        int readable = 0, market = 0;
        uint64_t symbols = 0;
        int rc = scan_one(out, dir, seq, &symbols, &market, &readable);
        with_market += market != 0;
        if (rc != BF_OK) {
            bf_resume_free(out);
            if (err && errlen)
                snprintf(err, errlen, "out of memory reading the last records of %s", dir);
            return rc;
        }
        if (!readable || complete(out, symbols)) break;
    }
    return BF_OK;
}

int bf_resume_last_seq(const bf_resume *r, uint64_t symbol_id, uint32_t stream,
                       uint64_t *seq) {
    if (!r || !seq || stream == 0 || stream > BF_STREAM_COUNT) return BF_EINVAL;
    if (symbol_id == 0 || symbol_id > r->cap) return BF_ENOTFOUND;
    const bf_resume_entry *e = &r->ids[symbol_id - 1];
    if (e->segment[stream - 1] == 0) return BF_ENOTFOUND;
    *seq = e->seq[stream - 1];
    return BF_OK;
}

void bf_resume_free(bf_resume *r) {
    if (!r) return;
    free(r->ids);
    r->ids = NULL;
    r->cap = 0;
}
