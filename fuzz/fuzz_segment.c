/* fuzz_segment.c -- libFuzzer harness for the queue's readers: the header-only reader
 * (bfr_open / bfr_next / bfr_next_batch, BFR_FROM_END, BFR_NO_VERIFY), the one judge of
 * binfeed_reader.h on raw bytes, bf_verify_queue, and the writer's recovery
 * (bf_writer_open on whatever the files hold). The input format and every check are in
 * fuzz/queue_checks.h, shared with tests/c/test_fuzz_regressions.c. See docs/fuzzing.md.
 *
 * Build and run: ./dev fuzz segment (or by hand, see docs/fuzzing.md).
 * BINFEED_FUZZ_MAKE_SEEDS=DIR ./fuzz_segment writes a seed corpus made by the real writer
 * into DIR and exits.
 * fuzz-flags: -max_len=40000 -len_control=0 -rss_limit_mb=2048
 */
#include "queue_checks.h"

#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <sys/wait.h>

static char fs_scratch[512];
static char fs_queue[600];

static void fs_cleanup(void) {
    if (fs_scratch[0]) fq_remove_tree(fs_scratch);
}

/* ------------------------------------------------------------ seeds */

static char seed_dir[512];
static int seed_count;

static bf_writer *seed_open(const char *dir) {
    bf_writer_opts o = {FQ_WRITER_SLOTS, 0, 0};
    bf_writer *w = NULL;
    char err[512];
    if (bf_writer_open(dir, &o, &w, err, sizeof err) != BF_OK) {
        fprintf(stderr, "seed writer %s: %s\n", dir, err);
        exit(2);
    }
    return w;
}

static uint64_t seed_symbol(bf_writer *w, const char *name) {
    uint64_t id = 0;
    if (bf_writer_symbol(w, name, strlen(name), &id) != BF_OK) exit(2);
    return id;
}

/* n mixed records: book tickers, trades, now and then a gap and a connection event. */
static void seed_records(bf_writer *w, uint64_t n, uint64_t a, uint64_t b) {
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sym = i % 3 == 2 ? b : a;
        int rc;
        if (i % 11 == 10)
            rc = bf_append_gap(w, 1700000000000000000ull + i, sym, BF_STREAM_TRADE,
                               BF_GAP_SEQUENCE_JUMP, 100 + i, 140 + i);
        else if (i % 17 == 16)
            rc = bf_append_connection(w, 1700000000000000000ull + i, BF_CONN_CONNECTED, 1, 2,
                                      "wss://stream.binance.com:9443");
        else if (i % 2)
            rc = bf_append_trade(w, 1700000000000000000ull + i, 5000 + i, 60000.5 + (double)i,
                                 0.001 * (double)i, 1700000000000000ull + i,
                                 1700000000000001ull + i, BF_TRADE_F_BUYER_IS_MAKER, sym);
        else
            rc = bf_append_book_ticker(w, 1700000000000000000ull + i, 9000 + i, 0,
                                       60000.0 + (double)i, 1.5, 60000.01 + (double)i, 2.5, sym);
        if (rc != BF_OK) exit(2);
    }
}

/* A writer that dies without closing (in a child process, so its lock goes with it). */
static void seed_crash(const char *dir, uint64_t n) {
    pid_t pid = fork();
    if (pid == 0) {
        bf_writer *w = seed_open(dir);
        seed_records(w, n, seed_symbol(w, "BTCUSDT"), seed_symbol(w, "ETHUSDT"));
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) exit(2);
}

static void seed_close(const char *dir, uint64_t n) {
    bf_writer *w = seed_open(dir);
    seed_records(w, n, seed_symbol(w, "BTCUSDT"), seed_symbol(w, "ETHUSDT"));
    bf_writer_close(w);
}

static const char *seed_path(const char *dir, uint64_t seq) {
    static char path[1024];
    char name[BF_SEGMENT_NAME_MAX];
    bf_segment_name(name, sizeof name, seq);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void seed_flip(const char *dir, uint64_t seq, uint64_t off) {
    int fd = open(seed_path(dir, seq), O_RDWR);
    unsigned char c = 0;
    if (fd < 0 || pread(fd, &c, 1, (off_t)off) != 1) exit(2);
    c ^= 0x10;
    if (pwrite(fd, &c, 1, (off_t)off) != 1) exit(2);
    close(fd);
}

/* A file's bytes as packed into a seed: an unsealed file loses its trailing zeros
 * (FQ_FIX_EXTEND restores them). */
typedef struct seed_file {
    unsigned ctl;
    unsigned char *bytes;
    size_t len;
} seed_file;

static seed_file seed_load(const char *dir, uint64_t seq) {
    seed_file f = {0, NULL, 0};
    int fd = open(seed_path(dir, seq), O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) exit(2);
    f.len = (size_t)st.st_size;
    f.bytes = malloc(f.len + 1);
    if (pread(fd, f.bytes, f.len, 0) != (ssize_t)f.len) exit(2);
    close(fd);
    if (f.len > 196 && fq_u32(f.bytes + 192) == 0) {
        while (f.len > BF_HEADER_SIZE && f.bytes[f.len - 1] == 0) f.len--;
        f.ctl |= FQ_FIX_EXTEND;
    }
    return f;
}

static void seed_write(const char *what, unsigned layout, unsigned opts, seed_file *files,
                       size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-%02d-%s", seed_dir, seed_count++, what);
    FILE *fp = fopen(path, "wb");
    if (!fp) exit(2);
    fputc((int)((n - 1) | layout << 2), fp);
    fputc((int)opts, fp);
    for (size_t i = 0; i < n; i++) {
        fputc((int)files[i].ctl, fp);
        fputc(255, fp);
        fputc((int)(files[i].len & 0xff), fp);
        fputc((int)(files[i].len >> 8 & 0xff), fp);
        fputc((int)(files[i].len >> 16 & 0xff), fp);
        fwrite(files[i].bytes, 1, files[i].len, fp);
        free(files[i].bytes);
    }
    fclose(fp);
}

static void seed_queue(const char *what, const char *dir, uint64_t nseg, unsigned opts) {
    seed_file f[FQ_MAX_FILES];
    for (uint64_t i = 0; i < nseg; i++) f[i] = seed_load(dir, i + 1);
    seed_write(what, 0, opts, f, (size_t)nseg);
}

static void make_seeds(const char *out) {
    snprintf(seed_dir, sizeof seed_dir, "%s", out);
    mkdir(out, 0755);
    char q[700];
    const unsigned batch8 = 6u << 4 | FQ_OPT_BATCH, rec = FQ_OPT_RECOVER;

    snprintf(q, sizeof q, "%s/closed", fs_scratch);
    seed_close(q, 17); /* one sealed, truncated segment */
    seed_queue("closed", q, 1, FQ_OPT_NO_VERIFY | FQ_OPT_FROM_END | batch8 | rec);

    snprintf(q, sizeof q, "%s/full", fs_scratch);
    seed_close(q, 140); /* three full segments, two rolls */
    seed_queue("full-rolls", q, 3, batch8 | rec);

    snprintf(q, sizeof q, "%s/rolls", fs_scratch);
    { /* three small segments (bf_writer_roll): sealed, truncated */
        bf_writer *w = seed_open(q);
        uint64_t a = seed_symbol(w, "BTCUSDT"), b = seed_symbol(w, "ETHUSDT");
        seed_records(w, 6, a, b);
        bf_writer_roll(w);
        seed_records(w, 5, a, b);
        bf_writer_roll(w);
        seed_records(w, 4, a, b);
        bf_writer_close(w);
    }
    seed_queue("rolls", q, 3, batch8 | rec);
    { /* the same with a hole: segments named 1, 3, 4 */
        seed_file f[3] = {seed_load(q, 1), seed_load(q, 2), seed_load(q, 3)};
        f[1].ctl |= FQ_FIX_SEQ | FQ_FIX_HEADER_CRC;
        f[2].ctl |= FQ_FIX_SEQ | FQ_FIX_HEADER_CRC;
        seed_write("hole", 1, rec, f, 3);
    }
    { /* a writer killed mid-roll: segment 2 unsealed while 3 exists */
        seed_file f[3] = {seed_load(q, 1), seed_load(q, 2), seed_load(q, 3)};
        fq_put_u32(f[1].bytes + 192, 0);
        f[1].ctl |= FQ_FIX_EXTEND; /* an unsealed segment has its full size */
        seed_write("midroll", 0, FQ_OPT_FROM_END | rec, f, 3);
    }

    snprintf(q, sizeof q, "%s/crash", fs_scratch);
    seed_crash(q, 20); /* unsealed, full size */
    seed_queue("crash", q, 1, FQ_OPT_FROM_END | rec);
    { /* the same with an unknown record type (checksum fixed up) and a unicode symbol */
        seed_file f = seed_load(q, 1);
        unsigned char *s = f.bytes + BF_HEADER_SIZE + 7 * BF_SLOT_SIZE;
        s[4] = 99;
        s = f.bytes + BF_HEADER_SIZE + 1 * BF_SLOT_SIZE; /* ETHUSDT -> "ÉTHUSDT" */
        memmove(s + 24 + 16 + 1, s + 24 + 16, 7);
        s[24 + 16] = 0xC3;
        s[24 + 16 + 1] = 0x89;
        fq_put_u32(s + 24 + 8, 8);
        f.ctl |= FQ_FIX_SLOT_CRC;
        seed_write("unknown-type", 0, batch8 | rec, &f, 1);
    }
    seed_flip(q, 1, BF_HEADER_SIZE + 22 * BF_SLOT_SIZE - 40); /* last published slot: torn */
    seed_flip(q, 1, BF_HEADER_SIZE + 6 * BF_SLOT_SIZE + 30);  /* a damaged slot in the middle */
    seed_queue("crash-damaged", q, 1, FQ_OPT_NO_VERIFY | rec);
    seed_close(q, 3); /* recovery: torn tail cut, sealed as damaged, RECOVERY records */
    seed_queue("recovered", q, 2, batch8);

    snprintf(q, sizeof q, "%s/v1", fs_scratch);
    seed_close(q, 17);
    { /* segment 1 rewritten as format version 1, and a version-2 successor */
        seed_file f[2] = {seed_load(q, 1), seed_load(q, 1)};
        fq_put_u32(f[0].bytes + 8, 1);
        memset(f[0].bytes + 60, 0, 68);
        memset(f[0].bytes + 196, 0, 28);
        f[0].ctl |= FQ_FIX_HEADER_CRC;
        f[1].ctl |= FQ_FIX_SEQ | FQ_FIX_FIRST_INDEX | FQ_FIX_HEADER_CRC;
        seed_write("v1", 0, FQ_OPT_NO_VERIFY | rec, f, 2);
    }
    { /* a short last file: the writer must refuse */
        seed_file f[2] = {seed_load(q, 1), seed_load(q, 1)};
        f[1].len = 100;
        seed_write("short", 0, rec, f, 2);
    }
    printf("wrote %d seeds to %s\n", seed_count, out);
}

/* ------------------------------------------------------------ libFuzzer */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* ./dev fuzz gives a directory it removes afterwards (libFuzzer's exit at
     * -max_total_time skips atexit) */
    const char *base = getenv("BINFEED_FUZZ_SCRATCH");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fs_scratch, sizeof fs_scratch, "%s/binfeed-fuzz-segment-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(fs_scratch)) {
        perror("mkdtemp");
        exit(2);
    }
    atexit(fs_cleanup);
    __sanitizer_set_death_callback(fs_cleanup); /* also after a crash or failed check */
    snprintf(fs_queue, sizeof fs_queue, "%s/q", fs_scratch);
    const char *seeds = getenv("BINFEED_FUZZ_MAKE_SEEDS");
    if (seeds && *seeds) {
        make_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fq_run(data, size, fs_queue);
    return 0;
}
