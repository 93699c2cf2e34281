/*
 * bf_tail -- print the records of a binfeed queue, one line each; optionally follow it.
 * The example consumer to copy: it uses only the header-only reader binfeed_reader.h.
 *
 * Build:  cc -O2 -Wall -Wextra -Werror -I csrc/include examples/c/bf_tail.c -o bf_tail
 * Usage:  bf_tail DIR [--follow] [--timeout-ms N] [--from-end] [--max-sleep-us N]
 *                [--no-verify]
 *   (default)        print every record present now, oldest first, then exit 0
 *   --follow         then keep printing new records as they are published, across
 *                    segment rolls; if the queue does not exist yet (or has no segment
 *                    yet), wait for it (bfr_open_wait): a consumer may start before the
 *                    recorder; SIGINT / SIGTERM end it (exit 0, output flushed)
 *   --timeout-ms N   with --follow: exit 0 once no record arrived for N ms (waiting for
 *                    the queue to appear included)
 *   --from-end       start after the last record published at start (a queue that did
 *                    not exist yet is printed from its first record)
 *   --max-sleep-us N with --follow: sleep at most N us between looks while idle
 *                    (bfr_set_max_sleep; default 1000; 0: spin, one busy core)
 *   --no-verify      do not check records (by default every record's checksum and type
 *                    are checked, and damage is never printed as a record)
 * Damage (a record failing its checksum, missing segment files, an unreadable segment) is
 * reported on stderr ("bf_tail: damage: <file> slot <n>: ...") where it is met, every good
 * record is still printed, and the exit status is 1. Records of a type this header does not
 * know (a newer writer) are skipped, reported once per type ("bf_tail: warning: ...").
 * Exit status: 0 ok, 1 error or damage (messages on stderr), 2 bad usage.
 *
 * Output format (fixed; binfeed's Python reader reproduces it byte for byte). One line per
 * record, fields separated by one space, integers in decimal, doubles with printf "%.17g"
 * (round-trip exact; Python: format(x, ".17g")). SYM is the symbol's name (UTF-8 as stored:
 * "BTCUSDT", "币安人生USDT"; escaped like detail below), or "#<id>" if the reader has not
 * seen its definition.
 *   symbol <id> <NAME>
 *   book_ticker SYM seq=<u> recv=<recv_ts_ns> ts=<timestamp> bid=<d> bidq=<d> ask=<d> askq=<d>
 *   trade SYM seq=<t> recv=<recv_ts_ns> price=<d> qty=<d> trade_ts=<us> event_ts=<us>
 *         maker=<0|1> best_match=<0|1|->            ("-": the stream does not say)
 *   gap SYM stream=<STREAM> reason=<REASON> last=<u64> next=<u64> recv=<recv_ts_ns>
 *   connection conn=<id> event=<EVENT> code=<i64> recv=<recv_ts_ns> detail=<text>
 *   recovery event=<RECOVERY> segment=<seq> slot=<n> count=<n> recv=<recv_ts_ns> detail=<text>
 * (the trade line is one line; it is wrapped here only.)
 * STREAM: bookTicker | trade | <number>. REASON: sequence_jump | disconnected | stalled |
 * writer_restart | server_shutdown | <number>. EVENT: connected | disconnected | subscribed |
 * subscribe_refused | rotated | server_shutdown | stalled | <number>. RECOVERY: torn_tail |
 * damaged | hole | older_format | <number>. Times (trade_ts, event_ts, ts) are microseconds.
 * detail (and SYM): the UTF-8 text up to its first NUL, with '\' written as "\\" and every
 * byte below 0x20 or equal to 0x7f written as "\x" and two lower-case hex digits (so a line
 * never breaks, even on a name written by another program); other bytes as they are.
 */
#define _GNU_SOURCE 1
#include "binfeed_reader.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested = 0; /* signal flag, not memory ordering */

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static const char *name_of(unsigned v, const char *const *names, unsigned count, char *buf,
                           size_t len) {
    if (v >= 1 && v <= count) return names[v - 1];
    snprintf(buf, len, "%u", v);
    return buf;
}

static const char *const STREAMS[] = {"bookTicker", "trade"};
static const char *const REASONS[] = {"sequence_jump", "disconnected", "stalled",
                                      "writer_restart", "server_shutdown"};
static const char *const EVENTS[] = {"connected", "disconnected", "subscribed",
                                     "subscribe_refused", "rotated", "server_shutdown",
                                     "stalled"};
static const char *const RECOVERIES[] = {"torn_tail", "damaged", "hole", "older_format"};

static void print_text(const char *d, size_t max) {
    for (size_t i = 0; i < max && d[i]; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void print_symbol_name(const bfr_reader *r, uint64_t id) {
    const char *name = bfr_symbol(r, id);
    if (name)
        print_text(name, BF_SYMBOL_MAX);
    else
        printf("#%llu", (unsigned long long)id);
}

static unsigned long long damaged = 0;      /* damage reports met */
static unsigned char unknown_seen[65536 / 8]; /* unknown record types already reported */

static void print_record(const bfr_reader *r, const bf_slot *s) {
    char b1[16], b2[16];
    unsigned long long seq = (unsigned long long)s->seq, recv = (unsigned long long)s->recv_ts_ns;
    switch (s->type) {
    case BF_REC_SYMBOL: {
        const bf_symbol_def *d = &s->body.symbol;
        printf("symbol %llu ", (unsigned long long)d->symbol_id);
        print_text(d->name, d->name_len <= BF_SYMBOL_MAX ? d->name_len : BF_SYMBOL_MAX);
        putchar('\n');
        break;
    }
    case BF_REC_BOOK_TICKER: {
        const bf_book_ticker *b = &s->body.book_ticker;
        fputs("book_ticker ", stdout);
        print_symbol_name(r, b->symbol_id);
        printf(" seq=%llu recv=%llu ts=%llu bid=%.17g bidq=%.17g ask=%.17g askq=%.17g\n", seq,
               recv, (unsigned long long)b->timestamp, b->bid_price, b->bid_qty, b->ask_price,
               b->ask_qty);
        break;
    }
    case BF_REC_TRADE: {
        const bf_trade *t = &s->body.trade;
        fputs("trade ", stdout);
        print_symbol_name(r, t->symbol_id);
        printf(" seq=%llu recv=%llu price=%.17g qty=%.17g trade_ts=%llu event_ts=%llu "
               "maker=%d best_match=%s\n",
               seq, recv, t->price, t->qty, (unsigned long long)t->trade_ts_us,
               (unsigned long long)t->event_ts_us, (t->flags & BF_TRADE_F_BUYER_IS_MAKER) ? 1 : 0,
               !(t->flags & BF_TRADE_F_BEST_MATCH_KNOWN) ? "-"
               : (t->flags & BF_TRADE_F_BEST_MATCH)      ? "1"
                                                         : "0");
        break;
    }
    case BF_REC_GAP: {
        const bf_gap *g = &s->body.gap;
        fputs("gap ", stdout);
        print_symbol_name(r, g->symbol_id);
        printf(" stream=%s reason=%s last=%llu next=%llu recv=%llu\n",
               name_of(g->stream, STREAMS, 2, b1, sizeof b1),
               name_of(g->reason, REASONS, 5, b2, sizeof b2), (unsigned long long)g->last_seq,
               (unsigned long long)g->next_seq, recv);
        break;
    }
    case BF_REC_CONNECTION: {
        const bf_connection_event *c = &s->body.connection;
        printf("connection conn=%u event=%s code=%lld recv=%llu detail=", (unsigned)c->conn_id,
               name_of(c->event, EVENTS, 7, b1, sizeof b1), (long long)c->code, recv);
        print_text(c->detail, sizeof c->detail);
        putchar('\n');
        break;
    }
    case BF_REC_RECOVERY: {
        const bf_recovery_event *v = &s->body.recovery;
        printf("recovery event=%s segment=%llu slot=%llu count=%llu recv=%llu detail=",
               name_of(v->event, RECOVERIES, 4, b1, sizeof b1),
               (unsigned long long)v->segment_seq, (unsigned long long)v->slot,
               (unsigned long long)v->count, recv);
        print_text(v->detail, sizeof v->detail);
        putchar('\n');
        break;
    }
    default: /* a newer writer's record: skipped, said once per type */
        if (!(unknown_seen[s->type / 8] & (1u << (s->type % 8)))) {
            unknown_seen[s->type / 8] |= (unsigned char)(1u << (s->type % 8));
            fflush(stdout);
            fprintf(stderr, "bf_tail: warning: record type %u is unknown to this reader "
                    "(written by a newer binfeed?): such records are skipped\n",
                    (unsigned)s->type);
        }
        break;
    }
}

static int usage(void) {
    fputs("usage: bf_tail DIR [--follow] [--timeout-ms N] [--from-end] [--max-sleep-us N] "
          "[--no-verify]\n", stderr);
    return 2;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    int follow = 0;
    long long timeout_ms = -1;
    long long max_sleep_us = -1; /* -1: the reader's default */
    unsigned flags = BFR_FROM_START;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0) {
            follow = 1;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            char *end;
            timeout_ms = strtoll(argv[++i], &end, 10);
            if (*end || timeout_ms < 0) return usage();
        } else if (strcmp(argv[i], "--max-sleep-us") == 0 && i + 1 < argc) {
            char *end;
            max_sleep_us = strtoll(argv[++i], &end, 10);
            if (*end || max_sleep_us < 0 || max_sleep_us > BFR_WAIT_MAX_SLEEP_LIMIT_NS / 1000)
                return usage();
        } else if (strcmp(argv[i], "--from-end") == 0) {
            flags |= BFR_FROM_END;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            flags |= BFR_NO_VERIFY;
        } else if (strcmp(argv[i], "--verify-crc") == 0) {
            flags |= BFR_VERIFY_CRC; /* the default now; kept for old scripts */
        } else if (argv[i][0] == '-' || dir) {
            return usage();
        } else {
            dir = argv[i];
        }
    }
    if (!dir) return usage();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    bfr_reader r;
    uint64_t idle_since = now_ms();
    int rc;
    if (!follow) {
        rc = bfr_open(&r, dir, flags);
    } else {
        /* Wait for the queue (or its first segment) to appear, in slices of 100 ms so that
         * a signal ends the wait. */
        for (;;) {
            int64_t slice = 100000000;
            if (timeout_ms >= 0) {
                uint64_t waited = now_ms() - idle_since;
                uint64_t left_ns =
                    waited < (uint64_t)timeout_ms ? ((uint64_t)timeout_ms - waited) * 1000000u : 0;
                if (left_ns < (uint64_t)slice) slice = (int64_t)left_ns;
            }
            rc = bfr_open_wait(&r, dir, flags, slice);
            if (rc != BF_ETIMEOUT || stop_requested) break;
            if (timeout_ms >= 0 && now_ms() - idle_since >= (uint64_t)timeout_ms) break;
            flags &= ~BFR_FROM_END; /* nothing was published when the wait began */
        }
    }
    if (rc != BF_OK) {
        int status = rc == BF_ETIMEOUT ? 0 : 1; /* --follow timed out or stopped waiting */
        if (status) fprintf(stderr, "bf_tail: %s\n", r.error);
        bfr_close(&r);
        return status;
    }
    if (max_sleep_us >= 0) bfr_set_max_sleep(&r, max_sleep_us * 1000);

    const bf_slot *s;
    int status = 0;
    idle_since = now_ms();
    while (!stop_requested) {
        rc = bfr_next(&r, &s);
        if (rc == 1) {
            print_record(&r, s);
            idle_since = 0;
            continue;
        }
        if (rc == BF_EDAMAGED) { /* skipped: report it and go on */
            fflush(stdout);
            fprintf(stderr, "bf_tail: damage: %s\n", r.error);
            damaged++;
            continue;
        }
        if (rc < 0) {
            fflush(stdout);
            fprintf(stderr, "bf_tail: %s\n", r.error);
            status = 1;
            break;
        }
        /* nothing new right now */
        fflush(stdout);
        if (!follow) break;
        if (idle_since == 0) idle_since = now_ms();
        int64_t slice = 100000000; /* wake up at least every 100 ms to see signals */
        if (timeout_ms >= 0) {
            uint64_t waited = now_ms() - idle_since;
            if (waited >= (uint64_t)timeout_ms) break;
            uint64_t left_ns = ((uint64_t)timeout_ms - waited) * 1000000u;
            if (left_ns < (uint64_t)slice) slice = (int64_t)left_ns;
        }
        rc = bfr_wait(&r, &s, slice);
        if (rc == 1) {
            print_record(&r, s);
            idle_since = 0;
        } else if (rc == BF_EDAMAGED) {
            fflush(stdout);
            fprintf(stderr, "bf_tail: damage: %s\n", r.error);
            damaged++;
            idle_since = 0;
        } else if (rc < 0) {
            fprintf(stderr, "bf_tail: %s\n", r.error);
            status = 1;
            break;
        }
    }
    fflush(stdout);
    if (damaged) {
        fprintf(stderr, "bf_tail: %llu damaged record(s) or segment(s) of %s were skipped "
                "(listed above); run `binfeed verify %s`\n", damaged, dir, dir);
        status = 1;
    }
    bfr_close(&r);
    return status;
}
