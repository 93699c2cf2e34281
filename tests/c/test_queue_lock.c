/* One writer per queue: a second writer is refused with BF_ELOCKED and a message naming the
 * holder (also within one process: OFD locks belong to open file descriptions); a stopped
 * (SIGSTOP) holder keeps the queue; a killed (SIGKILL) one releases it. */
#include "queue_test_util.h"
#include "writer_internal.h"

#include <signal.h>
#include <sys/wait.h>

static int try_open(const char *dir, bf_writer **w, char *err, size_t errlen) {
    bf_writer_opts o = {64, 0, 0};
    return bf_writer_open(dir, &o, w, err, errlen);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char dir[4096], err[512], want[64];
    qt_dir(dir, argv[1], "q");

    /* in-process */
    bf_writer *w1 = qt_open(dir, 64, 0), *w2 = NULL;
    CHECK_RC(try_open(dir, &w2, err, sizeof err), BF_ELOCKED);
    CHECK(w2 == NULL);
    snprintf(want, sizeof want, "pid %ld ", (long)getpid());
    CHECK(strstr(err, want) != NULL);
    CHECK(strstr(err, "host ") != NULL && strstr(err, "command: ") != NULL);
    CHECK(strstr(err, "test_queue_lock") != NULL); /* the holder's command line */
    int64_t pid = 0;
    CHECK_RC(bfr_writer_status(dir, &pid), 1);
    CHECK(pid == (int64_t)getpid());
    CHECK_RC(bf_writer_close(w1), BF_OK);
    CHECK_RC(try_open(dir, &w2, err, sizeof err), BF_OK);
    CHECK_RC(bf_writer_close(w2), BF_OK);

    /* a stopped holder in another process */
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        bf_writer *cw = qt_open(dir, 64, 0);
        uint64_t id = qt_symbol(cw, "AAAUSDT");
        if (qt_append_bt(cw, 1, id) != BF_OK) _exit(3);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        raise(SIGSTOP);
        _exit(0); /* never reached: killed while stopped */
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    int status = 0;
    CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
    CHECK_RC(try_open(dir, &w2, err, sizeof err), BF_ELOCKED);
    snprintf(want, sizeof want, "pid %ld ", (long)child);
    CHECK(strstr(err, want) != NULL);
    CHECK(strstr(err, "stopped") != NULL); /* says what is going on and what to do */
    CHECK_RC(bfr_writer_status(dir, &pid), 1);
    CHECK(pid == (int64_t)child);
    /* readers are not blocked by the writer lock */
    bfr_reader r;
    qt_counts n;
    memset(&n, 0, sizeof n);
    CHECK_RC(bfr_open(&r, dir, BFR_FROM_START), BF_OK);
    CHECK_RC(qt_drain(&r, &n), 0);
    bfr_close(&r);
    /* still refused a moment later: a stopped writer is never taken over */
    usleep(20000);
    CHECK_RC(try_open(dir, &w2, err, sizeof err), BF_ELOCKED);

    kill(child, SIGKILL);
    CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
    CHECK_RC(bfr_writer_status(dir, &pid), 0);
    CHECK_RC(try_open(dir, &w2, err, sizeof err), BF_OK);
    if (w2) {
        CHECK(bf__writer_restarted(w2) == 1);
        uint64_t seq = 0;
        CHECK_RC(qt_resumed_seq(w2, 1, BF_STREAM_BOOK_TICKER, &seq), BF_OK);
        CHECK(seq == 1001);
        CHECK_RC(bf_writer_close(w2), BF_OK);
    }
    close(ready[0]);
    close(ready[1]);
    /* writer status of a missing queue */
    CHECK_RC(bfr_writer_status(qt_path(argv[1], "nope"), &pid), BF_ENOTFOUND);
    TEST_MAIN_END();
}
