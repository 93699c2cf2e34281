/*
 * parse_subs.h -- the parser's side of a bf_subs (binfeed.h, "MARK: - Subscriptions"):
 * the state of a frame's stream, looked up per frame. Not part of the public API.
 */
#ifndef BINFEED_PARSE_SUBS_H
#define BINFEED_PARSE_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "binfeed.h"

/** The BF_SUB_* state of (symbol[0..len) as the frame spells it, stream BF_STREAM_*) in
 *  `s`, and through *index 1 + its index in the set (0: not in the set); -1 when the
 *  symbol is no valid symbol name. Frames of one symbol come in runs, often of two
 *  symbols interleaved: the last two symbols' bytes are remembered, so such runs cost a
 *  comparison or two per frame, and a hash lookup only when another symbol comes. */
int bf__subs_state(bf_subs *s, const char *symbol, size_t len, uint32_t stream,
                   uint32_t *index);

#endif
