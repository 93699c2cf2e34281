/*
 * parse_internal.h -- parser hooks for binfeed's own tests and benchmarks (not in binfeed.h,
 * not in the cffi declarations).
 */
#ifndef BINFEED_PARSE_INTERNAL_H
#define BINFEED_PARSE_INTERNAL_H

#include "binfeed.h"

/** Turns the compact-form scanner (parse_fast.c) on (the default) or off, so that tests can
 *  compare it with the yyjson path and benchmarks can measure both. */
void bf_parser_set_fast_path(bf_parser *p, int enabled);

#endif
