/* C ingest benchmark: real frames -> bf_ingest (parse + normalize + append) into a queue.
 *
 *   bench_parse [FRAMES_FILE SCRATCH_DIR ROUNDS]
 *
 * FRAMES_FILE holds one frame per line; without arguments the bookTicker frames of the two
 * real captures are used (tests/data/binance/spot_*.gz, read with `gzip -dc` from the
 * repository root or BINFEED_TEST_DATA), with a temporary scratch directory and 5
 * rounds. Each round ingests all frames into a fresh queue (segment prefaulted and large
 * enough, so no roll and no page fault is timed), once with the compact-form scanner,
 * once with it off (every frame through yyjson), and once through a connection's
 * subscribed set accepting every stream of the frames (bf_ingest_subscribed, as the
 * recorder calls it). Prints one JSON object: the best round of each, in frames per
 * second. Run by benchmarks/bench_ingest.py and benchmarks/run_all.py.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binfeed.h"
#include "parse_internal.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mode: 1 compact-form scanner, 0 yyjson only, 2 scanner through a subscribed set */
static double run(char **frames, const size_t *lens, size_t n, const char *dir, int mode) {
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
    bf_parser_set_fast_path(p, mode != 0);
    bf_subs *subs;
    if (bf_subs_new(&subs) != BF_OK ||
        bf_subs_set(subs, "btcusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED) < 0 ||
        bf_subs_set(subs, "ethusdt", 7, BF_STREAM_BOOK_TICKER, BF_SUB_ACCEPTED) < 0)
        exit(2);
    uint64_t recv = 1723161254087891268ull;
    double t = now();
    for (size_t i = 0; i < n; i++) {
        int rc = mode == 2 ? bf_ingest_subscribed(p, subs, frames[i], lens[i], recv + i, NULL)
                           : bf_ingest(p, frames[i], lens[i], recv + i, NULL);
        if (rc < 0) {
            fprintf(stderr, "frame %zu: %s\n", i, bf_parser_error(p));
            exit(2);
        }
        if (rc == BF_FRAME_UNSUBSCRIBED || rc == BF_FRAME_PENDING) {
            fprintf(stderr, "frame %zu: not in the subscribed set (%s)\n", i,
                    bf_parser_unsubscribed_stream(p));
            exit(2);
        }
    }
    t = now() - t;
    bf_subs_free(subs);
    bf_parser_free(p);
    bf_writer_close(w);
    DIR *d = opendir(dir); /* the queue is not needed any more */
    struct dirent *e;
    char path[2048];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.')) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
    return t;
}

int main(int argc, char **argv) {
    if (argc != 1 && argc != 4) {
        fprintf(stderr, "usage: %s [FRAMES_FILE SCRATCH_DIR ROUNDS]\n", argv[0]);
        return 2;
    }
    char scratch[] = "/tmp/binfeed-bench-parse-XXXXXX";
    FILE *f;
    if (argc == 4) {
        f = fopen(argv[1], "r");
    } else {
        const char *data = getenv("BINFEED_TEST_DATA");
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "gzip -dc %s/binance/spot_btcusdt_20240808.gz %s/binance/spot_ethusdt_20240808.gz",
                 data ? data : "tests/data", data ? data : "tests/data");
        f = popen(cmd, "r");
        if (mkdtemp(scratch) == NULL) return 2;
    }
    if (f == NULL) return 2;
    size_t n = 0, cap = 1024;
    char **frames = malloc(cap * sizeof *frames);
    size_t *lens = malloc(cap * sizeof *lens);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        char *frame = line;
        if (argc == 1) { /* capture lines: "<recv ns> <frame>", bookTicker only */
            char *space = strchr(line, ' ');
            if (space == NULL || strstr(space, "@bookTicker") == NULL) continue;
            frame = space + 1;
            len -= frame - line;
        }
        if (n == cap) {
            cap *= 2;
            frames = realloc(frames, cap * sizeof *frames);
            lens = realloc(lens, cap * sizeof *lens);
        }
        frames[n] = strdup(frame);
        lens[n++] = (size_t)len;
    }
    free(line);
    if (argc == 4) fclose(f);
    else if (pclose(f) != 0 || n == 0) {
        fprintf(stderr, "cannot read the real captures: run from the repository root\n");
        return 2;
    }
    const char *work = argc == 4 ? argv[2] : scratch;
    int rounds = argc == 4 ? atoi(argv[3]) : 5;
    double best_fast = 1e30, best_json = 1e30, best_subs = 1e30;
    for (int r = 0; r < rounds; r++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/fast-%d", work, r);
        double t = run(frames, lens, n, dir, 1);
        if (t < best_fast) best_fast = t;
        snprintf(dir, sizeof dir, "%s/yyjson-%d", work, r);
        t = run(frames, lens, n, dir, 0);
        if (t < best_json) best_json = t;
        snprintf(dir, sizeof dir, "%s/subscribed-%d", work, r);
        t = run(frames, lens, n, dir, 2);
        if (t < best_subs) best_subs = t;
    }
    printf("{\"frames\": %zu, \"fast_path_fps\": %.0f, \"yyjson_fps\": %.0f, "
           "\"subscribed_fps\": %.0f}\n",
           n, (double)n / best_fast, (double)n / best_json, (double)n / best_subs);
    for (size_t i = 0; i < n; i++) free(frames[i]);
    free(frames);
    free(lens);
    if (argc == 1) rmdir(scratch);
    return 0;
}
