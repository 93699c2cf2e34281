/*
 * writer_state.h -- the bf_writer struct and what writer.c and writer_segments.c ask of
 * each other (private to those two files; not public API, not the parser's view, which is
 * writer_internal.h).
 *
 * writer.c           the handle: open, close, symbols, appends (the hot path), errors, stats
 * writer_segments.c  its segments: start, roll, seal, retire, prepare_next, sync
 *
 * The per-append code stays in writer.c, in one translation unit: an append checks for
 * room there and calls across only to roll.
 */
#ifndef BF_WRITER_STATE_H
#define BF_WRITER_STATE_H

#include "queue_internal.h"

#include <pthread.h>
#include <string.h>

struct bf_writer {
    /* hot: read by every append, written only by the appending thread */
    unsigned char *slots;      /* slot 0 of the current segment */
    bf_segment_header *hdr;    /* header of the current segment */
    uint64_t index;            /* next slot; equals the published write_index between calls */
    uint64_t capacity;         /* slots in the current segment */
    uint64_t roll_at_ns;       /* recv time that forces a day roll; UINT64_MAX if none */
    bf_symtab syms;
    uint64_t records_written;
    bf_slot_crc crc;

    /* cold */
    bf_writer_opts opts;
    char *dir;
    int dirfd;
    int lock_fd;
    uint64_t first_index;      /* queue-wide index of slot 0 of the current segment */
    uint64_t segments_created;
    bf_recovery rec;           /* what recovery found at open; holds the queue_id */

    /* Shared with bf_writer_prepare_next / bf_writer_sync on other threads. The appending
     * thread changes `cur` and `seq` only while holding mu (at a roll). */
    pthread_mutex_t mu;
    pthread_cond_t spare_done;
    bf_segment cur;            /* the segment being written */
    uint64_t seq;              /* its seq */
    bf_segment spare;          /* a prepared next segment (temporary file), fd < 0 if none */
    bf_segment retired;        /* a sealed segment whose truncation and unmapping a roll left
                                  to the next prepare_next call; fd < 0 if none */
    uint64_t retired_used;
    int preparing;             /* a prepare_next call is creating `spare`, or a roll is
                                  switching segments: no other may start one */
    char err[BF_ERR_MAX];
};

/* Makes w->index visible to readers (store-release of the segment's write_index). */
static inline void bf__writer_publish(bf_writer *w) {
    bf_store_release_u64(&w->hdr->write_index, w->index);
}

/* The SYMBOL record of id (name d), crc32c not set: written by bf_writer_symbol and at the
 * start of every segment. */
static inline void bf__fill_symbol_slot(bf_slot *s, uint64_t id, const bf_sym *d,
                                        uint64_t recv_ts_ns) {
    memset(s, 0, sizeof *s);
    s->type = BF_REC_SYMBOL;
    s->recv_ts_ns = recv_ts_ns;
    s->body.symbol.symbol_id = id;
    s->body.symbol.name_len = d->name_len;
    memcpy(s->body.symbol.name, d->name, d->name_len);
}

/* ---------------------------------------------------------------- writer.c */

/* Sets the writer's error message (bf_writer_error) and returns rc. */
int bf__writer_fail(bf_writer *w, int rc, const char *msg);

/* ---------------------------------------------------------------- writer_segments.c */

/* At open, after recovery: creates the first segment (seq newest_at_open + 1, starting at
 * the queue-wide index recovery found) and makes it current. BF_OK, or a status with a
 * message in err. */
int bf__writer_start_first(bf_writer *w, char *err, size_t errlen);

/* Creates segment seq+1, then seals and truncates the current one. day_recv_ns: the
 * receive time of the record that starts a new UTC day, 0 for other rolls. The message of
 * a failure is in w->err. */
int bf__writer_roll_segment(bf_writer *w, uint64_t day_recv_ns);

/* At close: publishes, seals and truncates the current segment (and with
 * BF_WRITER_SYNC_SEAL makes it durable). Does not unmap. */
int bf__writer_seal_current(bf_writer *w, char *err, size_t errlen);

/* Finishes a retired segment, discards the spare and unmaps the current segment (which
 * stays on disk as it is). */
void bf__writer_release_segments(bf_writer *w);

#endif
