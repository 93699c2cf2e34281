/*
 * bench_queue.c -- C micro-benchmarks of the binfeed queue: append from C, reader scan,
 * and what the checksum costs.
 *
 * Build and run (from the repository root):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Icsrc/include -Icsrc/src -Icsrc/vendor/yyjson \
 *      -DYYJSON_DISABLE_WRITER=1 -DYYJSON_DISABLE_UTILS=1 -DYYJSON_DISABLE_INCR_READER=1 \
 *      benchmarks/c/bench_queue.c csrc/src/[!.]*.c csrc/vendor/yyjson/yyjson.c \
 *      -o build/bench_queue -lpthread -lm
 *   build/bench_queue [DIR] [RECORDS] [all|append|scan|latency|crc|memory]
 * DIR (default /dev/shm, else /tmp) gets a fresh queue directory that is removed at the
 * end; RECORDS defaults to 10000000. Output: one line per measurement,
 *   <name> <records> records <seconds> s <records/s> rec/s [<ns/record> ns/rec]
 * Throughput figures are the best of 3 runs; the latency line gives percentiles of 180000
 * records (after 20000 of warm-up), one appended every 5 us, read by another process.
 */
#include "binfeed.h"
#include "queue_internal.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *name, uint64_t n, double secs) {
    printf("%-34s %10llu records %8.4f s %12.1f M rec/s %7.2f ns/rec\n", name,
           (unsigned long long)n, secs, (double)n / secs / 1e6, secs * 1e9 / (double)n);
    fflush(stdout);
}

static void rm_queue(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void die(const char *what, int rc, const char *msg) {
    fprintf(stderr, "%s failed: %d %s: %s\n", what, rc, bf_status_message(rc), msg);
    exit(1);
}

/* What a recorder does: another thread keeps the next segment prepared (prefaulted). */
typedef struct preparer {
    bf_writer *w;
    atomic_int stop;
} preparer;

static void *prepare_loop(void *arg) {
    preparer *p = arg;
    struct timespec ts = {0, 200000};
    while (!atomic_load(&p->stop)) {
        int rc = bf_writer_prepare_next(p->w);
        if (rc) die("bf_writer_prepare_next", rc, bf_writer_error(p->w));
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Appends n book tickers to a fresh queue; returns seconds of the append loop only. */
static double bench_append(const char *dir, uint64_t n, uint64_t segment_slots, uint32_t flags,
                           int prepare) {
    rm_queue(dir);
    char err[512];
    bf_writer *w;
    bf_writer_opts o = {segment_slots, flags, 0};
    int rc = bf_writer_open(dir, &o, &w, err, sizeof err);
    if (rc) die("bf_writer_open", rc, err);
    uint64_t id;
    if ((rc = bf_writer_symbol(w, "BTCUSDT", 7, &id))) die("symbol", rc, bf_writer_error(w));
    preparer p = {w, 0};
    pthread_t th;
    if (prepare) pthread_create(&th, NULL, prepare_loop, &p);
    double t0 = now_s();
    uint64_t recv = 1723075200000000000ull;
    for (uint64_t i = 0; i < n; i++) {
        rc = bf_append_book_ticker(w, recv + i, 1000 + i, 0, 60000.0 + (double)(i & 1023) * 0.01,
                                   1.5, 60000.01 + (double)(i & 1023) * 0.01, 2.5, id);
        if (BF_UNLIKELY(rc)) die("append", rc, bf_writer_error(w));
    }
    double secs = now_s() - t0;
    if (prepare) {
        atomic_store(&p.stop, 1);
        pthread_join(th, NULL);
    }
    bf_writer_close(w);
    return secs;
}

static double best3(double (*f)(const char *, uint64_t, uint64_t, uint32_t, int), const char *dir,
                    uint64_t n, uint64_t slots, uint32_t flags, int prepare) {
    double best = 1e30;
    for (int i = 0; i < 3; i++) {
        double s = f(dir, n, slots, flags, prepare);
        if (s < best) best = s;
    }
    return best;
}

/* bf_verify_queue over the whole queue (best of 3). */
static double bench_verify(const char *dir, uint64_t expect) {
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        char err[256];
        bf_verify *v = NULL;
        double t0 = now_s();
        int rc = bf_verify_queue(dir, 0, &v, err, sizeof err);
        double secs = now_s() - t0;
        if (rc) die("bf_verify_queue", rc, err);
        bf_verify_totals t;
        bf_verify_get_totals(v, &t);
        if (t.records < expect || t.damage) die("verify", (int)t.damage, "unexpected findings");
        bf_verify_free(v);
        if (secs < best) best = secs;
    }
    return best;
}

/* Scans every record of the queue with the header-only reader. */
static double bench_scan(const char *dir, unsigned flags, uint64_t expect) {
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        bfr_reader r;
        double t0 = now_s(); /* the open (which maps the first segment) counts */
        int rc = bfr_open(&r, dir, flags);
        if (rc) die("bfr_open", rc, r.error);
        const bf_slot *s;
        uint64_t n = 0;
        double sum = 0;
        while ((rc = bfr_next(&r, &s)) == 1) {
            if (s->type == BF_REC_BOOK_TICKER) sum += s->body.book_ticker.bid_price;
            n++;
        }
        double secs = now_s() - t0;
        if (rc < 0) die("bfr_next", rc, r.error);
        if (n < expect || sum <= 0) die("scan count", (int)n, "fewer records than written");
        bfr_close(&r);
        if (secs < best) best = secs;
    }
    return best;
}

/* The checksum alone over 128-byte slots, three ways. */
static void bench_crc(uint64_t n) {
    enum { N = 4096 };
    bf_slot *slots = aligned_alloc(64, N * sizeof(bf_slot));
    for (size_t i = 0; i < N * sizeof(bf_slot); i++) ((unsigned char *)slots)[i] = (unsigned char)(i * 131u);
    bf_slot_crc c;
    bf__slot_crc_init(&c);
    uint32_t acc = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) acc ^= bf__slot_crc(&c, &slots[i & (N - 1)]);
    report("crc32c slot, 3 streams (writer)", n, now_s() - t0);
    t0 = now_s();
    for (uint64_t i = 0; i < n; i++) acc ^= bf_slot_crc32c(&slots[i & (N - 1)], BF_SLOT_SIZE);
    report("crc32c slot, 1 stream (reader)", n, now_s() - t0);
    uint64_t m = n / 16;
    t0 = now_s();
    for (uint64_t i = 0; i < m; i++)
        acc ^= bf_crc32c_sw(0, (const unsigned char *)&slots[i & (N - 1)] + 4, 124);
    report("crc32c slot, table (no SSE4.2)", m, now_s() - t0);
    if (acc == 0x12345678u) puts("");
    free(slots);
}

/* The same slot stores (and prefetches) as bf_append_book_ticker, with and without the
 * checksum, into a prefaulted anonymous buffer: what the checksum costs in the append path
 * and what the rest of the queue (validation, publication) costs on top. */
static void bench_store(uint64_t n) {
    uint64_t cap = 1u << 20;
    bf_slot *buf = aligned_alloc(4096, cap * sizeof(bf_slot));
    memset(buf, 0, cap * sizeof(bf_slot));
    bf_slot_crc c;
    bf__slot_crc_init(&c);
    for (int with_crc = 1; with_crc >= 0; with_crc--) {
        double best = 1e30;
        for (int k = 0; k < 3; k++) {
            double t0 = now_s();
            for (uint64_t i = 0; i < n; i++) {
                bf_slot *s = &buf[i & (cap - 1)];
                __builtin_prefetch((const char *)s + 4096, 1, 3); /* as the writer does */
                __builtin_prefetch((const char *)s + 4096 + 64, 1, 3);
                double bp = 60000.0 + (double)(i & 1023) * 0.01;
                uint32_t crc = with_crc ? bf__slot_crc_book_ticker(&c, i, i, 0, bp, 1.5, bp, 2.5, 1) : 0;
                s->type = BF_REC_BOOK_TICKER;
                s->flags = 0;
                s->seq = i;
                s->recv_ts_ns = i;
                s->body.book_ticker.timestamp = 0;
                s->body.book_ticker.bid_price = bp;
                s->body.book_ticker.bid_qty = 1.5;
                s->body.book_ticker.ask_price = bp;
                s->body.book_ticker.ask_qty = 2.5;
                s->body.book_ticker.symbol_id = 1;
                memset(s->body.raw + 48, 0, 56);
                s->crc32c = crc;
                __atomic_store_n(&buf[0].seq, i, __ATOMIC_RELEASE);
            }
            double secs = now_s() - t0;
            if (secs < best) best = secs;
        }
        report(with_crc ? "slot stores + crc (no queue)" : "slot stores, crc off (no queue)", n, best);
    }
    free(buf);
}

/* Baselines of this machine, same run: reading one word per 128 bytes and writing 128-byte
 * records with plain stores, over a buffer larger than the caches. Any queue figure is
 * bounded by these. */
static void bench_memory(uint64_t n) {
    size_t bytes = (size_t)n * 128;
    unsigned char *b = aligned_alloc(4096, bytes);
    memset(b, 1, bytes);
    double best_r = 1e30, best_w = 1e30;
    uint64_t acc = 0;
    for (int k = 0; k < 3; k++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, b + i * 128 + 32, 8);
            acc += v;
        }
        double t = now_s() - t0;
        if (t < best_r) best_r = t;
        t0 = now_s();
        for (size_t i = 0; i < n; i++) memset(b + i * 128, (int)i, 128);
        t = now_s() - t0;
        if (t < best_w) best_w = t;
    }
    report("baseline: memory read, 128 B stride", n, best_r);
    report("baseline: memory write, 128 B recs", n, best_w);
    if (acc == 42) puts("");
    free(b);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Append-to-visible latency across processes: the writer stamps each record with
 * CLOCK_MONOTONIC just before appending (in recv_ts_ns, as a carrier) and appends one every
 * gap_ns; a reader process spinning on bfr_next takes the clock when it sees the record.
 * Includes one clock read on each side (about 20 ns each). */
static void bench_latency(const char *dir, uint64_t n, uint64_t gap_ns) {
    rm_queue(dir);
    char err[512];
    bf_writer *w;
    bf_writer_opts o = {n + 1024, BF_WRITER_PREFAULT, 0};
    int rc = bf_writer_open(dir, &o, &w, err, sizeof err);
    if (rc) die("bf_writer_open", rc, err);
    uint64_t id;
    if ((rc = bf_writer_symbol(w, "BTCUSDT", 7, &id))) die("symbol", rc, bf_writer_error(w));
    int ready[2];
    if (pipe(ready) != 0) die("pipe", 0, "");
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        bfr_reader r;
        if ((rc = bfr_open(&r, dir, BFR_FROM_START))) die("bfr_open", rc, r.error);
        uint64_t *lat = malloc(n * sizeof *lat), got = 0;
        if (write(ready[1], "r", 1) != 1) _exit(1);
        const bf_slot *s;
        while (got < n) {
            if (bfr_next(&r, &s) != 1) continue;
            uint64_t t = mono_ns();
            if (s->type == BF_REC_BOOK_TICKER) lat[got++] = t - s->recv_ts_ns;
        }
        uint64_t skip = n / 10; /* warm-up */
        qsort(lat + skip, n - skip, sizeof *lat, cmp_u64);
        uint64_t m = n - skip, *l = lat + skip;
        printf("%-34s %10llu records  p50 %llu ns  p99 %llu ns  p99.9 %llu ns  max %llu ns"
               " (1 record / %llu ns)\n",
               "latency append->visible, 2 procs", (unsigned long long)m,
               (unsigned long long)l[m / 2], (unsigned long long)l[m * 99 / 100],
               (unsigned long long)l[m * 999 / 1000], (unsigned long long)l[m - 1],
               (unsigned long long)gap_ns);
        fflush(stdout);
        free(lat);
        bfr_close(&r);
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1) die("read", 0, "reader did not start");
    for (uint64_t i = 0; i < n; i++) {
        uint64_t until = mono_ns() + gap_ns;
        while (mono_ns() < until) {
        }
        uint64_t t = mono_ns();
        if ((rc = bf_append_book_ticker(w, t, i, 0, 1.0, 1.0, 1.0, 1.0, id)))
            die("append", rc, bf_writer_error(w));
    }
    int status;
    waitpid(child, &status, 0);
    close(ready[0]);
    close(ready[1]);
    bf_writer_close(w);
    rm_queue(dir);
}

/* Baseline for the latency line, same run: one 8-byte store-release of a timestamp seen
 * by another process spinning on it (one cache-line transfer between cores: the floor). */
static void bench_line_latency(uint64_t n, uint64_t gap_ns) {
    _Atomic uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                  -1, 0);
    if (line == MAP_FAILED) die("mmap", 0, "");
    atomic_store(line, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        uint64_t *lat = malloc(n * sizeof *lat), got = 0, last = 0;
        for (;;) { /* a store overwritten before it was seen is simply not sampled */
            uint64_t v = atomic_load_explicit(line, memory_order_acquire);
            if (v == last) continue;
            if (v == UINT64_MAX) break;
            if (got < n) lat[got++] = mono_ns() - v;
            last = v;
        }
        uint64_t skip = got / 10, m = got - skip, *l = lat + skip;
        if (m == 0) _exit(1);
        qsort(l, m, sizeof *lat, cmp_u64);
        printf("%-34s %10llu stores   p50 %llu ns  p99 %llu ns  p99.9 %llu ns  max %llu ns\n",
               "baseline: 1 cache line, 2 procs", (unsigned long long)m,
               (unsigned long long)l[m / 2], (unsigned long long)l[m * 99 / 100],
               (unsigned long long)l[m * 999 / 1000], (unsigned long long)l[m - 1]);
        fflush(stdout);
        free(lat);
        _exit(0);
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL); /* let the child start spinning */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t until = mono_ns() + gap_ns;
        while (mono_ns() < until) {
        }
        atomic_store_explicit(line, mono_ns(), memory_order_release);
    }
    atomic_store_explicit(line, UINT64_MAX, memory_order_release);
    int status;
    waitpid(child, &status, 0);
    munmap((void *)line, 4096);
}

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000ull;
    const char *only = argc > 3 ? argv[3] : "all";
    int all = strcmp(only, "all") == 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/binfeed-bench-%ld", base, (long)getpid());
    printf("binfeed C queue benchmark: %llu records, queue in %s, crc32c %s\n",
           (unsigned long long)n, dir, bf_crc32c_hw_available() ? "SSE4.2" : "table");

    if (all || strcmp(only, "append") == 0 || strcmp(only, "scan") == 0) {
        double s = best3(bench_append, dir, n, n + 1024, BF_WRITER_PREFAULT, 0);
        report("append book_ticker (prefaulted)", n, s);
        if (all || strcmp(only, "append") == 0) {
            s = best3(bench_append, dir, n, n + 1024, 0, 0);
            report("append book_ticker (page faults)", n, s);
            s = best3(bench_append, dir, n, 0, BF_WRITER_PREFAULT, 1);
            report("append, rolls, prepare_next thread", n, s);
            s = best3(bench_append, dir, n, 0, BF_WRITER_PREFAULT, 0);
            report("append, rolls, prefault at roll", n, s);
            s = best3(bench_append, dir, n, 0, 0, 0);
            report("append, rolls, page faults", n, s);
        }
        s = bench_scan(dir, BFR_FROM_START | BFR_NO_VERIFY, n);
        report("reader scan, BFR_NO_VERIFY (1 Mi-slot segs)", n, s);
        s = bench_scan(dir, BFR_FROM_START, n);
        report("reader scan, verified (the default)", n, s);
        s = bench_verify(dir, n);
        report("bf_verify_queue (whole queue, all checks)", n, s);
        rm_queue(dir);
    }
    if (all || strcmp(only, "latency") == 0) {
        bench_latency(dir, 200000, 5000);
        bench_line_latency(200000, 5000);
    }
    if (all || strcmp(only, "crc") == 0) {
        bench_store(n);
        bench_crc(n);
    }
    if (all || strcmp(only, "memory") == 0 || strcmp(only, "scan") == 0) bench_memory(n);
    return 0;
}
