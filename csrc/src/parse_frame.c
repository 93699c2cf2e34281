/* parse_frame.c -- see parse_frame.h.
 *
 * Shapes (Binance Spot; USD-M futures variants accepted where they share the shape):
 *   combined envelope  {"stream":"btcusdt@bookTicker","data":{...}}  -> decode "data"
 *   spot bookTicker    {"u":..,"s":..,"b":..,"B":..,"a":..,"A":..}   (no "e")
 *   futures bookTicker {"e":"bookTicker","u":..,"E":..,"T":..,...}  timestamp = E
 *   trade              {"e":"trade","E":..,"s":..,"t":..,"p":..,"q":..,"T":..,"m":..,"M":..}
 *                      ("M" absent on futures; "b"/"a" order ids on pre-2024-06 spot: ignored)
 *   serverShutdown     {"e":"serverShutdown","E":..}
 *   control replies    {"result":..,"id":..} {"error":{..},"id":..} {"code":..,"msg":..}
 *   known, not stored  "e" in KNOWN_UNSTORED, REST/partial depth {"lastUpdateId":..},
 *                      arrays of such events (!ticker@arr, !markPrice@arr)
 * Anything else is BF_EUNKNOWN. Unknown extra keys in a known shape are ignored, so that a
 * field Binance adds later does not stop a recorder.
 */
#include "parse_frame.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfeed.h"
#include "parse_decimal.h"
#include "utf8.h"

/* Event types binfeed recognizes but does not store (spot and USD-M futures streams). */
static const char *const KNOWN_UNSTORED[] = {
    "aggTrade",         "depthUpdate",    "kline",           "24hrTicker",
    "24hrMiniTicker",   "1hTicker",       "4hTicker",        "1dTicker",
    "avgPrice",         "markPriceUpdate", "forceOrder",     "continuous_kline",
    "indexPriceUpdate", "markPriceKline", "indexPriceKline", "compositeIndex",
    "contractInfo",     "assetIndexUpdate",
};

static int jv_is(const bf_jv *v, const char *lit, size_t lit_len) {
    return v->type == BF_JV_STR && v->num == lit_len && memcmp(v->str, lit, lit_len) == 0;
}

int bf_event_known_unstored(const char *e, size_t len) {
    for (size_t i = 0; i < sizeof KNOWN_UNSTORED / sizeof KNOWN_UNSTORED[0]; i++)
        if (strlen(KNOWN_UNSTORED[i]) == len && memcmp(KNOWN_UNSTORED[i], e, len) == 0) return 1;
    return 0;
}

static int has(const bf_fields *f, bf_key k) { return (f->present >> k) & 1u; }

/* "number <x>" with the fewest digits that give x back (61837.63, not 61837.629999...). */
static void shortest_real(double x, char *out, size_t n) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(out, n, "number %.*g", digits, x);
        if (digits == 17 || strtod(out + 7, NULL) == x) return;
    }
}

/* A short, printable rendering of a value for error messages. */
static void describe(const bf_jv *v, char *out, size_t n) {
    switch (v->type) {
    case BF_JV_STR: {
        char clean[41];
        size_t shown = bf_utf8_printable(clean, sizeof clean, v->str, (size_t)v->num);
        snprintf(out, n, "string \"%s\"%s", clean, v->num > shown ? "..." : "");
        break;
    }
    case BF_JV_UINT: snprintf(out, n, "%" PRIu64, v->num); break;
    case BF_JV_BOOL: snprintf(out, n, "%s", v->num ? "true" : "false"); break;
    case BF_JV_OTHER:
        if (yyjson_is_sint(v->val))
            snprintf(out, n, "%" PRId64, unsafe_yyjson_get_sint(v->val));
        else if (yyjson_is_real(v->val))
            shortest_real(unsafe_yyjson_get_real(v->val), out, n);
        else
            snprintf(out, n, "%s", v->val ? yyjson_get_type_desc(v->val) : "a JSON value");
        break;
    default: snprintf(out, n, "nothing"); break;
    }
}

typedef struct ctx {
    const char *event; /* "bookTicker" or "trade", for messages */
    locale_t c_locale;
    char *err;
    size_t errlen;
} ctx;

static int missing(const ctx *c, const char *key, const char *what) {
    snprintf(c->err, c->errlen, "%s field \"%s\" (%s) is missing", c->event, key, what);
    return BF_EFIELD;
}

static int wrong(const ctx *c, int code, const char *key, const char *what, const char *want,
                 const bf_jv *v) {
    char got[80];
    describe(v, got, sizeof got);
    snprintf(c->err, c->errlen, "%s field \"%s\" (%s) must be %s, got %s", c->event, key, what,
             want, got);
    return code;
}

static int get_uint(const ctx *c, const bf_jv *v, const char *key, const char *what,
                    uint64_t *out) {
    if (v->type == BF_JV_NONE) return missing(c, key, what);
    if (v->type != BF_JV_UINT) return wrong(c, BF_EFIELD, key, what, "an unsigned integer", v);
    *out = v->num;
    return BF_OK;
}

static int get_decimal(const ctx *c, const bf_jv *v, const char *key, const char *what,
                       double *out) {
    if (v->type == BF_JV_NONE) return missing(c, key, what);
    if (v->type != BF_JV_STR) return wrong(c, BF_EFIELD, key, what, "a decimal string", v);
    if (bf_decimal_parse(v->str, v->num, c->c_locale, out) != BF_OK)
        return wrong(c, BF_ENUMBER, key, what,
                     "a decimal string (digits with an optional '.' and digits)", v);
    return BF_OK;
}

static int get_bool(const ctx *c, const bf_jv *v, const char *key, const char *what, int *out) {
    if (v->type == BF_JV_NONE) return missing(c, key, what);
    if (v->type != BF_JV_BOOL) return wrong(c, BF_EFIELD, key, what, "true or false", v);
    *out = v->num;
    return BF_OK;
}

static int get_symbol(const ctx *c, const bf_jv *v, bf_msg *msg) {
    if (v->type == BF_JV_NONE) return missing(c, "s", "symbol");
    if (v->type != BF_JV_STR) return wrong(c, BF_EFIELD, "s", "symbol", "a string", v);
    msg->symbol = v->str;
    msg->symbol_len = v->num;
    return BF_OK;
}

/* An error path: kept out of line so that check_stream stays small enough to inline. */
__attribute__((noinline, cold)) static int stream_mismatch(const ctx *c, const bf_jv *stream,
                                                          const bf_msg *msg) {
    char got[80], sym[BF_SYMBOL_MAX + 1];
    describe(stream, got, sizeof got);
    size_t shown = bf_utf8_printable(sym, sizeof sym, msg->symbol, msg->symbol_len);
    snprintf(c->err, c->errlen,
             "envelope \"stream\" %s does not match its %s payload for symbol \"%s\"%s", got,
             c->event, sym, msg->symbol_len > shown ? "..." : "");
    return BF_EFIELD;
}

/* An envelope's stream name must be "<symbol>@<suffix>" (symbol case-insensitive) or the
 * all-market "!<suffix>", so that a payload is never stored under another stream. */
static inline int check_stream(const ctx *c, const bf_jv *stream, const char *suffix,
                               size_t slen, const bf_msg *msg) {
    if (stream == NULL) return BF_OK;
    const char *s = stream->str, *sym = msg->symbol;
    size_t len = (size_t)stream->num, n = msg->symbol_len;
    if (len == n + 1 + slen && s[n] == '@' && memcmp(s + n + 1, suffix, slen) == 0) {
        for (size_t i = 0; i < n; i++) {
            char diff = (char)(s[i] ^ sym[i]), low = (char)(s[i] | 0x20);
            /* equal, or the same letter in the other case (ASCII letters differ by 0x20) */
            if (diff != 0 && !(diff == 0x20 && low >= 'a' && low <= 'z'))
                return stream_mismatch(c, stream, msg);
        }
        return BF_OK;
    }
    if (len == 1 + slen && s[0] == '!' && memcmp(s + 1, suffix, slen) == 0) return BF_OK;
    return stream_mismatch(c, stream, msg);
}

#define FIELD(k) bf_field(f, BF_KEY_##k)

/* Milliseconds to microseconds, microseconds as they are (BF_MICROSECOND_TIMES_FROM). */
static uint64_t exchange_time_us(uint64_t t) {
    return t < BF_MICROSECOND_TIMES_FROM ? t * 1000u : t;
}

static int decode_book_ticker(const bf_fields *f, const bf_jv *stream, locale_t loc,
                              bf_msg *msg, char *err, size_t errlen) {
    ctx c = {"bookTicker", loc, err, errlen};
    double *v = msg->values;
    int rc;
    if ((rc = get_uint(&c, FIELD(u), "u", "order book update id", &msg->seq)) != BF_OK ||
        (rc = get_symbol(&c, FIELD(s), msg)) != BF_OK ||
        (rc = get_decimal(&c, FIELD(b), "b", "best bid price", &v[0])) != BF_OK ||
        (rc = get_decimal(&c, FIELD(B), "B", "best bid quantity", &v[1])) != BF_OK ||
        (rc = get_decimal(&c, FIELD(a), "a", "best ask price", &v[2])) != BF_OK ||
        (rc = get_decimal(&c, FIELD(A), "A", "best ask quantity", &v[3])) != BF_OK)
        return rc;
    /* Spot carries no exchange time: 0. USD-M futures carry the event time E. */
    if (has(f, BF_KEY_E) &&
        (rc = get_uint(&c, FIELD(E), "E", "event time", &msg->timestamp_us)) != BF_OK)
        return rc;
    msg->timestamp_us = exchange_time_us(msg->timestamp_us);
    if ((rc = check_stream(&c, stream, "bookTicker", 10, msg)) != BF_OK) return rc;
    msg->event = c.event;
    msg->event_len = 10;
    msg->kind = BF_FRAME_BOOK_TICKER;
    msg->stream = BF_STREAM_BOOK_TICKER;
    return BF_OK;
}

static int decode_trade(const bf_fields *f, const bf_jv *stream, locale_t loc, bf_msg *msg,
                        char *err, size_t errlen) {
    ctx c = {"trade", loc, err, errlen};
    int rc, maker = 0, best = 0;
    if ((rc = get_uint(&c, FIELD(E), "E", "event time", &msg->event_ts_us)) != BF_OK ||
        (rc = get_symbol(&c, FIELD(s), msg)) != BF_OK ||
        (rc = get_uint(&c, FIELD(t), "t", "trade id", &msg->seq)) != BF_OK ||
        (rc = get_decimal(&c, FIELD(p), "p", "price", &msg->values[0])) != BF_OK ||
        (rc = get_decimal(&c, FIELD(q), "q", "quantity", &msg->values[1])) != BF_OK ||
        (rc = get_uint(&c, FIELD(T), "T", "trade time", &msg->trade_ts_us)) != BF_OK ||
        (rc = get_bool(&c, FIELD(m), "m", "buyer is maker", &maker)) != BF_OK)
        return rc;
    msg->trade_ts_us = exchange_time_us(msg->trade_ts_us);
    msg->event_ts_us = exchange_time_us(msg->event_ts_us);
    msg->trade_flags = maker ? BF_TRADE_F_BUYER_IS_MAKER : 0;
    if (has(f, BF_KEY_M)) { /* spot only; futures trades carry no M */
        if ((rc = get_bool(&c, FIELD(M), "M", "best match", &best)) != BF_OK) return rc;
        msg->trade_flags |= BF_TRADE_F_BEST_MATCH_KNOWN | (best ? BF_TRADE_F_BEST_MATCH : 0);
    }
    /* "b" and "a" (buyer / seller order ids, spot before 2024-06) are not stored: ignored. */
    if ((rc = check_stream(&c, stream, "trade", 5, msg)) != BF_OK) return rc;
    msg->event = c.event;
    msg->event_len = 5;
    msg->kind = BF_FRAME_TRADE;
    msg->stream = BF_STREAM_TRADE;
    return BF_OK;
}

static int unknown_shape(const bf_fields *f, const bf_jv *stream, char *err, size_t errlen) {
    char keys[120] = "";
    size_t used = 0;
    for (size_t i = 0; i < f->n_keys && i < 3; i++) {
        size_t klen = f->first_key_lens[i] > 24 ? 24 : f->first_key_lens[i];
        int n = snprintf(keys + used, sizeof keys - used, "%s\"", i ? ", " : "");
        if (n < 0 || (size_t)n >= sizeof keys - used) break;
        used += (size_t)n;
        for (size_t j = 0; j < klen && used + 2 < sizeof keys; j++) {
            char ch = f->first_keys[i][j];
            keys[used++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
        }
        if (used + 2 >= sizeof keys) break;
        keys[used++] = '"';
        keys[used] = '\0';
    }
    snprintf(err, errlen,
             "%s has no event type \"e\" and is no known Binance message (keys: %s%s)",
             stream ? "the envelope's \"data\"" : "the frame", f->n_keys ? keys : "none",
             f->n_keys > 3 ? ", ..." : "");
    return BF_EUNKNOWN;
}

int bf_fields_decode(const bf_fields *f, const bf_jv *stream, locale_t loc, bf_msg *msg,
                     char *err, size_t errlen) {
    memset(msg, 0, sizeof *msg);
    if (stream != NULL) {
        msg->envelope = stream->str;
        msg->envelope_len = (size_t)stream->num;
    }
    const bf_jv *e = FIELD(e);
    if (e->type != BF_JV_NONE) {
        char got[80];
        if (e->type != BF_JV_STR) {
            describe(e, got, sizeof got);
            snprintf(err, errlen, "event type \"e\" must be a string, got %s", got);
            return BF_EFIELD;
        }
        if (jv_is(e, "bookTicker", 10)) return decode_book_ticker(f, stream, loc, msg, err, errlen);
        if (jv_is(e, "trade", 5)) return decode_trade(f, stream, loc, msg, err, errlen);
        if (jv_is(e, "serverShutdown", 14)) {
            msg->kind = BF_FRAME_SERVER_SHUTDOWN;
            return BF_OK;
        }
        if (bf_event_known_unstored(e->str, (size_t)e->num)) {
            /* named for a recorder that did not subscribe to it (BF_FRAME_UNSUBSCRIBED) */
            const bf_jv *sym = FIELD(s);
            if (sym->type == BF_JV_STR) {
                msg->symbol = sym->str;
                msg->symbol_len = (size_t)sym->num;
            }
            msg->event = e->str;
            msg->event_len = (size_t)e->num;
            msg->kind = BF_FRAME_UNSTORED;
            return BF_OK;
        }
        describe(e, got, sizeof got);
        snprintf(err, errlen, "unknown event type \"e\": %s", got);
        return BF_EUNKNOWN;
    }
    if (has(f, BF_KEY_u)) return decode_book_ticker(f, stream, loc, msg, err, errlen);
    if ((has(f, BF_KEY_result) && has(f, BF_KEY_id)) ||
        (has(f, BF_KEY_error) && has(f, BF_KEY_id)) || (has(f, BF_KEY_code) && has(f, BF_KEY_msg))) {
        msg->kind = BF_FRAME_CONTROL;
        return BF_OK;
    }
    if (has(f, BF_KEY_lastUpdateId)) { /* REST /api/v3/depth, partial depth stream */
        msg->kind = BF_FRAME_UNSTORED;
        return BF_OK;
    }
    /* The envelope names a bookTicker stream: report the missing field, not "unknown". */
    if (stream != NULL && stream->num > 11 &&
        memcmp(stream->str + stream->num - 11, "@bookTicker", 11) == 0)
        return decode_book_ticker(f, stream, loc, msg, err, errlen);
    return unknown_shape(f, stream, err, errlen);
}
