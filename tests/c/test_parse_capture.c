/* Capture lines to frames in place (csrc/src/parse_capture.c), then through the parser. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "binfeed.h"
#include "parse_capture.h"
#include "parse_test_util.h"

static void test_split(void) {
    char buf[] = "1723161254087891268 {\"a\":1}\n"
                 "\n"
                 "{\"bare\":2}\r\n"
                 "12 \n"                          /* a receive time and an empty frame */
                 "123456789012345678901 {\"x\":3}\n" /* 21 digits: not a receive time */
                 "42 {\"y\":4}";                  /* no final newline */
    size_t len = strlen(buf);
    size_t offsets[16];
    uint64_t recv[16], lines[16], nlines = 0;
    size_t n = bf_capture_split(buf, len, 0, 16, 10, offsets, recv, lines, &nlines);
    CHECK(n == 4);     /* the last line is incomplete without `final` */
    CHECK(nlines == 5);
    CHECK(recv[0] == 1723161254087891268ull && lines[0] == 10);
    CHECK(recv[1] == 0 && lines[1] == 12);
    CHECK(recv[2] == 12 && lines[2] == 13);
    CHECK(recv[3] == 0 && lines[3] == 14);
    /* frames are followed only by whitespace */
    char frame[64];
    size_t flen = offsets[1] - offsets[0];
    memcpy(frame, buf + offsets[0], flen);
    frame[flen] = '\0';
    CHECK(strcmp(frame, "{\"a\":1}\n\n") == 0);
    flen = offsets[2] - offsets[1];
    memcpy(frame, buf + offsets[1], flen);
    frame[flen] = '\0';
    CHECK(strcmp(frame, "{\"bare\":2}\r\n   ") == 0); /* "12 " blanked */
    CHECK(buf[0] == ' ' && buf[19] == ' ' && buf[20] == '{');
    size_t consumed = offsets[n];
    CHECK(strncmp(buf + consumed, "42 {", 4) == 0);

    /* the rest, as the final piece */
    n = bf_capture_split(buf + consumed, len - consumed, 1, 16, 15, offsets, recv, lines,
                         &nlines);
    CHECK(n == 1 && nlines == 1 && recv[0] == 42 && lines[0] == 15);
    CHECK(offsets[0] == 3 && offsets[1] == len - consumed);

    /* max_frames */
    char two[] = "1 {}\n2 {}\n3 {}\n";
    n = bf_capture_split(two, strlen(two), 1, 2, 1, offsets, recv, lines, &nlines);
    CHECK(n == 2 && nlines == 2 && offsets[2] == 10 && recv[1] == 2);
    n = bf_capture_split(two, 0, 1, 2, 1, offsets, recv, lines, &nlines);
    CHECK(n == 0 && nlines == 0 && offsets[0] == 0);
}

static void test_split_then_ingest(void) {
    char buf[] =
        "1723161254087891268 {\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":50093239212,\"s\":"
        "\"BTCUSDT\",\"b\":\"61837.63000000\",\"B\":\"3.78826000\",\"a\":\"61837.64000000\",\"A\":"
        "\"1.54698000\"}}\r\n"
        "\n"
        "1723161254087896568 {\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":"
        "1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,\"p\":\"61837.63000000\",\"q\":"
        "\"0.02000000\",\"T\":1723161255342,\"m\":true,\"M\":true}}\n"
        "7 {\"u\":1,\n"
        "{\"result\":null,\"id\":1}\n";
    size_t offsets[8];
    uint64_t recv[8], lines[8], nlines;
    size_t n = bf_capture_split(buf, strlen(buf), 1, 8, 1, offsets, recv, lines, &nlines);
    CHECK(n == 4 && nlines == 5);
    bf_writer *w = open_writer("capture", 0);
    bf_parser *p = new_parser(w, 0);
    int32_t results[8];
    CHECK_RC(bf_ingest_batch(p, buf, offsets, recv, n, results), BF_OK);
    CHECK(results[0] == BF_FRAME_BOOK_TICKER && results[1] == BF_FRAME_TRADE);
    CHECK(results[2] == BF_EJSON && results[3] == BF_FRAME_CONTROL);
    bf_parser_free(p);
    bf_writer_close(w);
    bf_slot *r;
    size_t got = read_records("capture", &r);
    CHECK(got == 2);
    if (got == 2) {
        CHECK(r[0].recv_ts_ns == 1723161254087891268ull && r[0].seq == 50093239212ull);
        CHECK(r[1].recv_ts_ns == 1723161254087896568ull && r[1].seq == 3735683259ull);
    }
    free(r);
}

int main(int argc, char **argv) {
    if (argc > 1) scratch_dir = argv[1];
    test_split();
    test_split_then_ingest();
    TEST_MAIN_END();
}
