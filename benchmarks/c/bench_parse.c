/* C ingest benchmark: real frames -> bf_ingest (parse + normalize + append) into a queue.
 *
 *   bench_parse FRAMES_FILE SCRATCH_DIR ROUNDS
 *
 * FRAMES_FILE holds one frame per line. Each round ingests all of them into a fresh queue
 * (segment prefaulted and large enough, so no roll and no page fault is timed), once with
 * the compact-form scanner and once with it off (every frame through yyjson). Prints one
 * JSON object: the best round of each, in frames per second. Built and run by
 * benchmarks/bench_ingest.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binfeed.h"
#include "parse_internal.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double run(char **frames, const size_t *lens, size_t n, const char *dir, int fast) {
    bf_writer_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.segment_slots = n + 4096;
    opts.flags = BF_WRITER_PREFAULT;
    bf_writer *w;
    char err[512];
    if (bf_writer_open(dir, &opts, &w, err, sizeof err) != BF_OK) {
        fprintf(stderr, "bf_writer_open %s: %s\n", dir, err);
        exit(2);
    }
    bf_parser *p;
    if (bf_parser_new(w, NULL, &p) != BF_OK) exit(2);
    bf_parser_set_fast_path(p, fast);
    uint64_t recv = 1723161254087891268ull;
    double t = now();
    for (size_t i = 0; i < n; i++) {
        int rc = bf_ingest(p, frames[i], lens[i], recv + i, NULL);
        if (rc < 0) {
            fprintf(stderr, "frame %zu: %s\n", i, bf_parser_error(p));
            exit(2);
        }
    }
    t = now() - t;
    bf_parser_free(p);
    bf_writer_close(w);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s FRAMES_FILE SCRATCH_DIR ROUNDS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) return 2;
    size_t n = 0, cap = 1024;
    char **frames = malloc(cap * sizeof *frames);
    size_t *lens = malloc(cap * sizeof *lens);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        if (n == cap) {
            cap *= 2;
            frames = realloc(frames, cap * sizeof *frames);
            lens = realloc(lens, cap * sizeof *lens);
        }
        frames[n] = strdup(line);
        lens[n++] = (size_t)len;
    }
    free(line);
    fclose(f);
    int rounds = atoi(argv[3]);
    double best_fast = 1e30, best_json = 1e30;
    for (int r = 0; r < rounds; r++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fast-%d", argv[2], r);
        double t = run(frames, lens, n, dir, 1);
        if (t < best_fast) best_fast = t;
        snprintf(dir, sizeof dir, "%s/yyjson-%d", argv[2], r);
        t = run(frames, lens, n, dir, 0);
        if (t < best_json) best_json = t;
    }
    printf("{\"frames\": %zu, \"fast_path_fps\": %.0f, \"yyjson_fps\": %.0f}\n", n,
           (double)n / best_fast, (double)n / best_json);
    for (size_t i = 0; i < n; i++) free(frames[i]);
    free(frames);
    free(lens);
    return 0;
}
