/* Waiting readers: bfr_open_wait (a consumer started before its writer, in another
 * process) and bfr_wait's maximum sleep (bfr_set_max_sleep), measured by the voluntary
 * context switches of the waiting thread: each sleep is one, a spin none. */
#include "queue_test_util.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static long voluntary_switches(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A writer process: after delay_ms, creates the queue (mkdir_first: only its directory,
 * then the writer after as long again) and appends n book tickers; exits 0. */
static pid_t spawn_writer(const char *dir, unsigned delay_ms, int mkdir_first, uint64_t n) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    sleep_ms(delay_ms);
    if (mkdir_first) {
        if (mkdir(dir, 0755) != 0) _exit(3);
        sleep_ms(delay_ms);
    }
    bf_writer *w = qt_open(dir, 1024, 0);
    uint64_t sym = qt_symbol(w, "BTCUSDT");
    for (uint64_t i = 0; i < n; i++)
        if (qt_append_bt(w, i, sym) != BF_OK) _exit(4);
    _exit(bf_writer_close(w) == BF_OK ? 0 : 5);
}

/* Reads until n book tickers arrived (or 10 s passed); checks each is exactly record i. */
static uint64_t read_all(bfr_reader *r, uint64_t n) {
    uint64_t got = 0, start = mono_ms();
    const bf_slot *s;
    while (got < n && mono_ms() - start < 10000) {
        int rc = bfr_wait(r, &s, 100000000);
        if (rc < 0) {
            fprintf(stderr, "bfr_wait: %d %s\n", rc, r->error);
            break;
        }
        if (rc == 1 && s->type == BF_REC_BOOK_TICKER) {
            CHECK(qt_is_bt(s, got, 1));
            got++;
        }
    }
    return got;
}

static int writer_status(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_times_out(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "never");
    bfr_reader r;
    uint64_t t0 = mono_ms();
    CHECK_RC(bfr_open_wait(&r, dir, BFR_FROM_START, 150000000), BF_ETIMEOUT);
    uint64_t took = mono_ms() - t0;
    CHECK(took >= 150 && took < 5000);
    CHECK(strstr(r.error, "no queue appeared at") != NULL);
    CHECK(strstr(r.error, "within 150 ms") != NULL);
    bfr_close(&r); /* optional after a failure, and harmless */
    t0 = mono_ms();
    CHECK_RC(bfr_open_wait(&r, dir, BFR_FROM_END, 0), BF_ETIMEOUT); /* 0: just a look */
    CHECK(mono_ms() - t0 < 1000);
    /* not a queue at all: an error at once, no waiting */
    char file[4096];
    qt_dir(file, scratch, "a-file");
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    t0 = mono_ms();
    CHECK_RC(bfr_open_wait(&r, file, BFR_FROM_START, 5000000000), BF_EIO);
    CHECK(mono_ms() - t0 < 1000);
    CHECK_RC(bfr_open_wait(&r, NULL, BFR_FROM_START, 1000000), BF_EINVAL);
    CHECK_RC(bfr_open_wait(&r, dir, 0x80u, 1000000), BF_EINVAL);
    CHECK_RC(bfr_open_wait(NULL, dir, 0, 1000000), BF_EINVAL);
}

/* The consumer starts first; the writer process creates the queue 150 ms later. With
 * BFR_FROM_END, every record of the new queue is read (all were published after the
 * call); the call returns soon after the first segment appears. */
static void test_consumer_first(const char *scratch, int mkdir_first, unsigned flags) {
    char dir[4096];
    qt_dir(dir, scratch, mkdir_first ? "later-dir" : "later");
    const uint64_t n = 5000;
    pid_t pid = spawn_writer(dir, 150, mkdir_first, n);
    CHECK(pid > 0);
    bfr_reader r;
    uint64_t t0 = mono_ms();
    int rc = bfr_open_wait(&r, dir, flags, 20000000000);
    uint64_t took = mono_ms() - t0;
    CHECK_RC(rc, BF_OK);
    CHECK(took >= 100 && took < 10000);
    if (rc == BF_OK) {
        CHECK(read_all(&r, n) == n);
        bfr_close(&r);
    } else {
        fprintf(stderr, "bfr_open_wait: %s\n", r.error);
    }
    CHECK(writer_status(pid) == 0);
}

/* A queue that exists: bfr_open_wait is bfr_open (BFR_FROM_END skips what is there). */
static void test_existing_queue(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "now");
    bf_writer *w = qt_open(dir, 1024, 0);
    uint64_t sym = qt_symbol(w, "BTCUSDT");
    for (uint64_t i = 0; i < 10; i++) CHECK_RC(qt_append_bt(w, i, sym), BF_OK);
    bfr_reader r;
    CHECK_RC(bfr_open_wait(&r, dir, BFR_FROM_END, 0), BF_OK);
    const bf_slot *s;
    CHECK_RC(bfr_next(&r, &s), 0);
    CHECK_RC(qt_append_bt(w, 10, sym), BF_OK);
    CHECK_RC(bfr_wait(&r, &s, 1000000000), 1);
    CHECK(qt_is_bt(s, 10, sym));
    bfr_close(&r);
    CHECK_RC(bfr_open_wait(&r, dir, BFR_FROM_START, -1), BF_OK);
    qt_counts c = {0};
    CHECK_RC(qt_drain(&r, &c), 0);
    CHECK(c.book_tickers == 11);
    bfr_close(&r);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

/* Idle bfr_wait of `ms` with max sleep `max_ns` (< 0: the default): voluntary switches. */
static long idle_switches(bfr_reader *r, int64_t max_ns, unsigned ms) {
    if (max_ns >= 0) CHECK_RC(bfr_set_max_sleep(r, max_ns), BF_OK);
    const bf_slot *s;
    long before = voluntary_switches();
    uint64_t t0 = mono_ms();
    CHECK_RC(bfr_wait(r, &s, (int64_t)ms * 1000000), 0);
    uint64_t took = mono_ms() - t0;
    CHECK(took >= ms && took < ms + 2000);
    return voluntary_switches() - before;
}

typedef struct late_append {
    bf_writer *w;
    uint64_t sym;
    int rc;
} late_append;

static void *append_later(void *arg) {
    late_append *la = arg;
    sleep_ms(80);
    la->rc = qt_append_bt(la->w, 0, la->sym);
    return NULL;
}

static void test_max_sleep(const char *scratch) {
    char dir[4096];
    qt_dir(dir, scratch, "idle");
    bf_writer *w = qt_open(dir, 1024, 0);
    uint64_t sym = qt_symbol(w, "BTCUSDT");
    bfr_reader r;
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_END), BF_OK);
    CHECK(r.max_sleep_ns == BFR_WAIT_MAX_SLEEP_NS && BFR_WAIT_MAX_SLEEP_NS == 1000000u);
    CHECK_RC(bfr_set_max_sleep(&r, -1), BF_EINVAL);
    CHECK_RC(bfr_set_max_sleep(&r, (int64_t)BFR_WAIT_MAX_SLEEP_LIMIT_NS + 1), BF_EINVAL);
    CHECK_RC(bfr_set_max_sleep(NULL, 1000), BF_EINVAL);
    CHECK(r.max_sleep_ns == BFR_WAIT_MAX_SLEEP_NS); /* a refused value changes nothing */

    /* default, 300 ms idle: sleeps of 50, 100, 200, 400, 800 us, then 1 ms each, ~300 in
     * all; fewer only when the machine is so loaded that sleeps overrun */
    long def = idle_switches(&r, -1, 300);
    CHECK(def >= 60 && def <= 330);
    /* 100 ms max: 50 us doubling to 100 ms takes 11 sleeps (~100 ms), then ~2 more */
    long slow = idle_switches(&r, 100000000, 300);
    CHECK(slow <= 20);
    /* 0: spin, never sleep (a preempted spinner switches involuntarily, not voluntarily) */
    long spin = idle_switches(&r, 0, 100);
    CHECK(spin <= 3);
    printf("voluntary switches while idle: default %ld in 300 ms, 100 ms max %ld in 300 ms, "
           "spin %ld in 100 ms\n", def, slow, spin);

    /* a record published while it sleeps is returned, whatever the max sleep */
    CHECK_RC(bfr_set_max_sleep(&r, 20000000), BF_OK);
    late_append la = {w, sym, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, append_later, &la) == 0);
    const bf_slot *s;
    uint64_t t0 = mono_ms();
    CHECK_RC(bfr_wait(&r, &s, 5000000000), 1);
    CHECK(mono_ms() - t0 < 4000);
    CHECK(qt_is_bt(s, 0, sym));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_RC(la.rc, BF_OK);
    bfr_close(&r);
    CHECK_RC(bf_writer_close(w), BF_OK);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    test_times_out(argv[1]);
    test_consumer_first(argv[1], 0, BFR_FROM_END);
    test_consumer_first(argv[1], 1, BFR_FROM_START);
    test_existing_queue(argv[1]);
    test_max_sleep(argv[1]);
    TEST_MAIN_END();
}
