/* tables.c -- see tables.h. */
#include "tables.h"

#include <string.h>

void bf_py_slots_time_span(const void *slots, uint64_t n, uint32_t slot_size, uint64_t types,
                           bfr_time_span *out) {
    bf_slots_time_span((const unsigned char *)slots, n, slot_size, types, out);
}

uint64_t bf_py_slots_time_lower_bound(const void *slots, uint64_t n, uint32_t slot_size,
                                      uint64_t types, uint64_t t_ns, uint64_t lo, uint64_t hi) {
    return bf_slots_time_lower_bound((const unsigned char *)slots, n, slot_size, types, t_ns,
                                     lo, hi);
}

uint64_t bf_py_reader_lag(const bfr_reader *r) { return bfr_lag(r); }

uint64_t bf_py_gather_slots(const bfr_reader *r, uint64_t first, uint64_t count,
                            const bf_py_gather *g, uint64_t at) {
    if (!r->slots || g->nfields > BF_PY_GATHER_MAX ||
        (g->symbol_offset && g->symbol_offset + sizeof(uint64_t) > sizeof(bf_slot)))
        return 0;
    /* The spec in locals, 8-byte fields apart: the loop then loads each field once and
     * stores it, with nothing to reload after each store (stores through char pointers
     * could alias the spec). */
    uint32_t off8[BF_PY_GATHER_MAX], offn[BF_PY_GATHER_MAX], sizen[BF_PY_GATHER_MAX];
    unsigned char *out8[BF_PY_GATHER_MAX], *outn[BF_PY_GATHER_MAX];
    uint32_t n8 = 0, nn = 0;
    for (uint32_t k = 0; k < g->nfields; k++) {
        if (g->sizes[k] == 0 || g->offsets[k] > sizeof(bf_slot) ||
            g->sizes[k] > sizeof(bf_slot) - g->offsets[k])
            return 0; /* a field outside the slot: nothing is copied */
        if (g->sizes[k] == 8) {
            off8[n8] = g->offsets[k];
            out8[n8++] = (unsigned char *)g->out[k];
        } else {
            offn[nn] = g->offsets[k];
            sizen[nn] = g->sizes[k];
            outn[nn++] = (unsigned char *)g->out[k];
        }
    }
    const uint32_t type = g->type, symbol_offset = g->symbol_offset;
    const uint64_t start_ns = g->start_ns, end_ns = g->end_ns, keep_len = g->keep_len;
    const uint8_t *keep = symbol_offset ? g->keep : NULL;
    int32_t *codes_out = symbol_offset ? g->codes_out : NULL;
    const int32_t *codes = g->codes;
    const uint64_t codes_len = codes ? g->codes_len : 0;
    uint64_t n = bfr__published(r);
    if (first > n) return 0;
    if (count > n - first) count = n - first;
    const uint64_t begin = at;
    const uint32_t stride = r->slot_size;
    const int upgrade = r->version < 2;
    bf_slot upgraded;
    const unsigned char *p = r->slots + first * stride;
    for (uint64_t i = 0; i < count; i++, p += stride) {
        const bf_slot *s = (const bf_slot *)p;
        if (s->type != type || s->recv_ts_ns < start_ns || s->recv_ts_ns >= end_ns) continue;
        const unsigned char *src = p;
        if (BFR__UNLIKELY(upgrade)) {
            bf_slot_upgrade_v1(&upgraded, s);
            src = (const unsigned char *)&upgraded;
        }
        if (symbol_offset) {
            uint64_t id;
            memcpy(&id, src + symbol_offset, sizeof id);
            if (keep && (id >= keep_len || !keep[id])) continue;
            if (codes_out) codes_out[at] = id < codes_len ? codes[id] : -1;
        }
        for (uint32_t k = 0; k < n8; k++) memcpy(out8[k] + at * 8, src + off8[k], 8);
        for (uint32_t k = 0; k < nn; k++) {
            if (sizen[k] == 1)
                outn[k][at] = src[offn[k]];
            else
                memcpy(outn[k] + at * sizen[k], src + offn[k], sizen[k]); /* text, u32 */
        }
        at++;
    }
    return at - begin;
}
