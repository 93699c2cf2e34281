/* Helpers for the parser's C tests: queues in the scratch directory, reading records back
 * with the header-only reader (crc verified), frames from the real captures. */
#ifndef BF_PARSE_TEST_UTIL_H
#define BF_PARSE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf_test.h"
#include "binfeed.h"

static const char *scratch_dir = ".";

/* Opens a writer on <scratch>/<name> (a fresh or an existing queue); exits on failure. */
static inline bf_writer *open_writer(const char *name, uint64_t segment_slots) {
    char dir[1024], err[512];
    snprintf(dir, sizeof dir, "%s/%s", scratch_dir, name);
    bf_writer_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.segment_slots = segment_slots;
    bf_writer *w = NULL;
    if (bf_writer_open(dir, &opts, &w, err, sizeof err) != BF_OK) {
        fprintf(stderr, "bf_writer_open(%s): %s\n", dir, err);
        exit(2);
    }
    return w;
}

static inline bf_parser *new_parser(bf_writer *w, size_t max_frame) {
    bf_parser_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.max_frame = max_frame;
    bf_parser *p = NULL;
    if (bf_parser_new(w, &opts, &p) != BF_OK) {
        fprintf(stderr, "bf_parser_new failed\n");
        exit(2);
    }
    return p;
}

static inline uint64_t records_written(const bf_writer *w) {
    bf_writer_stats st;
    if (bf_writer_get_stats(w, &st) != BF_OK) return UINT64_MAX;
    return st.records_written;
}

/* All records of <scratch>/<name> except SYMBOL ones, in order, crc-checked. The caller
 * frees *out. Returns the count. */
static inline size_t read_records(const char *name, bf_slot **out) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", scratch_dir, name);
    bfr_reader r;
    size_t n = 0, cap = 64;
    bf_slot *slots = malloc(cap * sizeof *slots);
    if (bfr_open(&r, dir, BFR_FROM_START | BFR_VERIFY_CRC) != BF_OK) {
        fprintf(stderr, "bfr_open(%s): %s\n", dir, r.error);
        exit(2);
    }
    const bf_slot *s;
    int rc;
    while ((rc = bfr_next(&r, &s)) == 1) {
        if (s->type == BF_REC_SYMBOL) continue;
        if (n == cap) slots = realloc(slots, (cap *= 2) * sizeof *slots);
        slots[n++] = *s;
    }
    if (rc < 0) {
        fprintf(stderr, "bfr_next(%s): %s\n", dir, r.error);
        bf_test_failures++;
    }
    bfr_close(&r);
    *out = slots;
    return n;
}

/* Lines of a file under $BINFEED_TEST_DATA (newline removed). The caller frees each line
 * and the array. */
static inline size_t read_lines(const char *relative, char ***out) {
    const char *root = getenv("BINFEED_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root ? root : "tests/data", relative);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (set BINFEED_TEST_DATA)\n", path);
        exit(2);
    }
    size_t n = 0, cap = 64;
    char **lines = malloc(cap * sizeof *lines);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        if (n == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *out = lines;
    return n;
}

static inline void free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

#endif
