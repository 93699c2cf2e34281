/* writer_segments.c -- the writer's segments: starting one (from the prepared spare or a new
 * file), rolling to the next, sealing and making sealed ones durable, and the calls that may
 * run on another thread (prepare_next, sync). The appends that fill them are writer.c's. */
#include "writer_state.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NS_PER_DAY 86400000000000ull

/* ------------------------------------------------------------------ helpers */

static uint64_t day_end(uint64_t ns) { return (ns / NS_PER_DAY + 1) * NS_PER_DAY; }

static void set_current(bf_writer *w, uint64_t index) {
    w->hdr = w->cur.hdr;
    w->slots = w->cur.map + w->cur.hdr->header_size;
    w->capacity = w->cur.capacity;
    w->index = index;
    w->first_index = w->cur.hdr->first_index;
    w->roll_at_ns = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) ? day_end(w->cur.hdr->created_ns)
                                                             : UINT64_MAX;
}

/* ------------------------------------------------------------------ segments */

/* Lets prepare_next run again (after start_segment, once w->seq is updated or on failure). */
static void end_segment_switch(bf_writer *w) {
    pthread_mutex_lock(&w->mu);
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    pthread_mutex_unlock(&w->mu);
}

/* Takes the prepared spare if it is big enough (waiting for a prepare_next in progress),
 * else creates a new temporary segment; fills its header and SYMBOL records and renames
 * it to its final name. On success *out is the new, published, current-to-be segment, and
 * prepare_next stays blocked until the caller makes it current and calls
 * end_segment_switch (on failure start_segment calls it). */
static int start_segment(bf_writer *w, uint64_t seq, uint64_t created_ns, uint64_t first_index,
                         bf_segment *out, uint64_t *used, int *from_spare, char *err,
                         size_t errlen) {
    /* The SYMBOL records open every segment: keep at least half of it for data. */
    uint64_t cap = w->opts.segment_slots;
    if (cap < 2 * w->syms.defined) cap = 2 * w->syms.defined;
    bf_segment s = BF_SEGMENT_NONE;
    pthread_mutex_lock(&w->mu);
    while (w->preparing) pthread_cond_wait(&w->spare_done, &w->mu);
    /* Keep prepare_next out until the caller has made this segment current (and w->seq
     * names it): it would otherwise prepare a file under the same temporary name. */
    w->preparing = 1;
    if (w->spare.fd >= 0) {
        if (w->spare.capacity >= cap) {
            s = w->spare;
        } else {
            bf__segment_discard(w->dirfd, &w->spare);
        }
        bf_segment none = BF_SEGMENT_NONE;
        w->spare = none;
    }
    pthread_mutex_unlock(&w->mu);
    *from_spare = s.fd >= 0;
    if (s.fd < 0) {
        int rc = bf__segment_create_tmp(w->dirfd, w->dir, seq, cap,
                                        (w->opts.flags & BF_WRITER_PREFAULT) != 0, &s, err, errlen);
        if (rc != BF_OK) {
            end_segment_switch(w);
            return rc;
        }
    }
    uint32_t flags = (w->opts.flags & BF_WRITER_UTC_DAY_ROLL) ? BF_SEG_F_UTC_DAY_ROLL : 0;
    bf__segment_init_header(&s, seq, created_ns, first_index, flags, w->rec.queue_id);
    uint64_t n = 0;
    for (uint64_t id = 1; id <= w->syms.count; id++) {
        const bf_sym *d = &w->syms.defs[id - 1];
        if (!d->name_len) continue;
        bf_slot *slot = bf__segment_slot(&s, n++);
        bf__fill_symbol_slot(slot, id, d, created_ns);
        slot->crc32c = bf__slot_crc(&w->crc, slot);
    }
    bf_store_release_u64(&s.hdr->write_index, n);
    int rc = bf__segment_publish(w->dirfd, w->dir, &s, seq, err, errlen);
    if (rc != BF_OK) {
        bf__segment_discard(w->dirfd, &s);
        end_segment_switch(w);
        return rc;
    }
    w->segments_created++;
    *out = s;
    *used = n;
    return BF_OK;
}

/* With BF_WRITER_SYNC_SEAL: a sealed segment's pages and the directory entry reach the disk. */
static int make_sealed_durable(bf_writer *w, const bf_segment *s, char *err, size_t errlen) {
    if (!(w->opts.flags & BF_WRITER_SYNC_SEAL)) return BF_OK;
    if (fdatasync(s->fd) != 0 || fsync(w->dirfd) != 0) {
        bf__fmt(err, errlen, "cannot sync sealed segment %llu of %s: %s",
                (unsigned long long)s->hdr->segment_seq, w->dir, strerror(errno));
        return BF_EIO;
    }
    return BF_OK;
}

/* The order readers rely on: the next segment exists before the current one is sealed
 * (see "Roll" in binfeed_reader.h). */
int bf__writer_roll_segment(bf_writer *w, uint64_t day_recv_ns) {
    char err[BF_ERR_MAX] = "";
    uint64_t now = bf__realtime_ns();
    /* A day roll must land in the record's day even if this clock lags the receive time. */
    uint64_t created = day_recv_ns > now ? day_recv_ns : now;
    bf__writer_publish(w);
    bf_segment next, old;
    uint64_t used;
    int from_spare = 0;
    int rc = start_segment(w, w->seq + 1, created, w->first_index + w->index, &next, &used,
                           &from_spare, err, sizeof err);
    if (rc != BF_OK) return bf__writer_fail(w, rc, err);
    pthread_mutex_lock(&w->mu);
    bf__segment_mark_sealed(&w->cur, now);
    old = w->cur;
    uint64_t old_used = w->index;
    /* Truncating and unmapping 128 MiB takes milliseconds: when a thread keeps segments
     * prepared, it does that too, so the appending thread never waits on it. */
    int deferred = from_spare && w->retired.fd < 0;
    if (deferred) {
        w->retired = old;
        w->retired_used = old_used;
    }
    w->cur = next;
    w->seq++;
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    pthread_mutex_unlock(&w->mu);
    set_current(w, used);
    if (!deferred) {
        rc = bf__segment_truncate(&old, old_used, w->dir, err, sizeof err);
        if (rc == BF_OK) rc = make_sealed_durable(w, &old, err, sizeof err);
        bf__segment_close(&old);
        if (rc != BF_OK) bf__writer_fail(w, BF_OK, err); /* the data is written: report, go on */
    }
    return BF_OK;
}

/* Truncates and unmaps a segment a roll left behind (called off the appending thread by
 * prepare_next, or at close). */
static int finish_retired(bf_writer *w) {
    pthread_mutex_lock(&w->mu);
    bf_segment r = w->retired;
    uint64_t used = w->retired_used;
    bf_segment none = BF_SEGMENT_NONE;
    w->retired = none;
    pthread_mutex_unlock(&w->mu);
    if (r.fd < 0) return BF_OK;
    char err[BF_ERR_MAX] = "";
    int rc = bf__segment_truncate(&r, used, w->dir, err, sizeof err);
    if (rc == BF_OK) rc = make_sealed_durable(w, &r, err, sizeof err);
    bf__segment_close(&r);
    return rc == BF_OK ? BF_OK : bf__writer_fail(w, rc, err);
}

/* ------------------------------------------------------------------ open / close */

int bf__writer_start_first(bf_writer *w, char *err, size_t errlen) {
    uint64_t now = bf__realtime_ns(), used = 0, seq = w->rec.newest_at_open + 1;
    int from_spare;
    int rc = start_segment(w, seq, now, w->rec.next_first, &w->cur, &used, &from_spare, err,
                           errlen);
    if (rc != BF_OK) return rc;
    w->seq = seq;
    set_current(w, used);
    end_segment_switch(w);
    return BF_OK;
}

int bf__writer_seal_current(bf_writer *w, char *err, size_t errlen) {
    bf__writer_publish(w);
    int rc = bf__segment_seal(&w->cur, w->index, bf__realtime_ns(), w->dir, err, errlen);
    if (rc == BF_OK) rc = make_sealed_durable(w, &w->cur, err, errlen);
    return rc;
}

void bf__writer_release_segments(bf_writer *w) {
    finish_retired(w);
    pthread_mutex_lock(&w->mu);
    if (w->spare.fd >= 0) bf__segment_discard(w->dirfd, &w->spare);
    pthread_mutex_unlock(&w->mu);
    bf__segment_close(&w->cur);
}

/* ------------------------------------------------------------------ prepare_next, sync, roll */

int bf_writer_prepare_next(bf_writer *w) {
    if (!w) return BF_EINVAL;
    int retired_rc = finish_retired(w);
    pthread_mutex_lock(&w->mu);
    if (w->spare.fd >= 0 || w->preparing) {
        pthread_mutex_unlock(&w->mu);
        return retired_rc;
    }
    w->preparing = 1;
    uint64_t seq = w->seq + 1;
    pthread_mutex_unlock(&w->mu);

    char err[BF_ERR_MAX] = "";
    bf_segment s = BF_SEGMENT_NONE;
    int rc = bf__segment_create_tmp(w->dirfd, w->dir, seq, w->opts.segment_slots,
                                    (w->opts.flags & BF_WRITER_PREFAULT) != 0, &s, err, sizeof err);
    pthread_mutex_lock(&w->mu);
    if (rc == BF_OK) w->spare = s;
    w->preparing = 0;
    pthread_cond_broadcast(&w->spare_done);
    if (rc != BF_OK) snprintf(w->err, sizeof w->err, "%s", err);
    pthread_mutex_unlock(&w->mu);
    return rc != BF_OK ? rc : retired_rc;
}

int bf_writer_sync(bf_writer *w) {
    if (!w) return BF_EINVAL;
    char err[BF_ERR_MAX];
    /* fdatasync of our own descriptor of the current file (on Linux it writes back the
     * shared mapping's dirty pages, as msync would), outside the lock: a roll meanwhile
     * never waits for the disk. */
    pthread_mutex_lock(&w->mu);
    int fd = w->cur.fd >= 0 ? dup(w->cur.fd) : -1;
    uint64_t seq = w->seq;
    pthread_mutex_unlock(&w->mu);
    if (fd < 0) {
        bf__fmt(err, sizeof err, "cannot sync %s: %s", w->dir, strerror(errno));
        return bf__writer_fail(w, BF_EIO, err);
    }
    int rc = BF_OK;
    if (fdatasync(fd) != 0 || fsync(w->dirfd) != 0) {
        bf__fmt(err, sizeof err, "cannot sync segment %llu of %s: %s", (unsigned long long)seq,
                w->dir, strerror(errno));
        rc = bf__writer_fail(w, BF_EIO, err);
    }
    close(fd);
    return rc;
}

int bf_writer_roll(bf_writer *w) {
    if (!w) return BF_EINVAL;
    return bf__writer_roll_segment(w, 0);
}
