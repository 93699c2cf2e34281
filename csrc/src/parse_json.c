/* parse_json.c -- the reference front end of parse_frame.h: a yyjson document to bf_fields.
 *
 * Top level: an object with the key "stream" is a combined-stream envelope and its "data"
 * is the payload; any other object is the payload itself. A JSON array (an all-market
 * stream such as !ticker@arr) is known when every element is a known, unstored event.
 */
#include <stdio.h>
#include <string.h>

#include "binfeed.h"
#include "parse_frame.h"
#include "utf8.h"

static void to_jv(yyjson_val *v, bf_jv *out) {
    memset(out, 0, sizeof *out);
    if (yyjson_is_str(v)) {
        out->type = BF_JV_STR;
        out->str = unsafe_yyjson_get_str(v);
        out->num = unsafe_yyjson_get_len(v);
    } else if (yyjson_is_uint(v)) {
        out->type = BF_JV_UINT;
        out->num = unsafe_yyjson_get_uint(v);
    } else if (yyjson_is_bool(v)) {
        out->type = BF_JV_BOOL;
        out->num = unsafe_yyjson_get_bool(v) ? 1 : 0;
    } else {
        out->type = BF_JV_OTHER;
        out->val = v;
    }
}

static void scan_object(yyjson_val *obj, bf_fields *f) {
    bf_fields_init(f);
    size_t idx, max;
    yyjson_val *key, *val;
    yyjson_obj_foreach(obj, idx, max, key, val) {
        bf_jv jv;
        to_jv(val, &jv);
        bf_fields_put(f, unsafe_yyjson_get_str(key), unsafe_yyjson_get_len(key), &jv);
    }
}

/* The value of the last `key` in obj (Python's json keeps the last duplicate too). */
static yyjson_val *get_last(yyjson_val *obj, const char *key, size_t key_len) {
    size_t idx, max;
    yyjson_val *k, *v, *found = NULL;
    yyjson_obj_foreach(obj, idx, max, k, v) {
        if (unsafe_yyjson_get_len(k) == key_len && memcmp(unsafe_yyjson_get_str(k), key, key_len) == 0)
            found = v;
    }
    return found;
}

static int decode_array(yyjson_val *arr, bf_msg *msg, char *err, size_t errlen) {
    size_t idx, max;
    yyjson_val *item;
    memset(msg, 0, sizeof *msg);
    if (yyjson_arr_size(arr) == 0) {
        snprintf(err, errlen, "an empty JSON array is no known Binance message");
        return BF_EUNKNOWN;
    }
    yyjson_arr_foreach(arr, idx, max, item) {
        yyjson_val *e = yyjson_is_obj(item) ? get_last(item, "e", 1) : NULL;
        if (e == NULL || !yyjson_is_str(e) ||
            !bf_event_known_unstored(unsafe_yyjson_get_str(e), unsafe_yyjson_get_len(e))) {
            snprintf(err, errlen,
                     "array element %zu is not a known Binance event (an object with a known "
                     "\"e\")",
                     idx);
            return BF_EUNKNOWN;
        }
    }
    msg->kind = BF_FRAME_UNSTORED;
    return BF_OK;
}

int bf_frame_decode_json(yyjson_val *root, locale_t c_locale, bf_msg *msg, char *err,
                         size_t errlen) {
    bf_fields f;
    memset(msg, 0, sizeof *msg);
    if (yyjson_is_arr(root)) return decode_array(root, msg, err, errlen);
    if (!yyjson_is_obj(root)) {
        snprintf(err, errlen, "a frame must be a JSON object, got %s",
                 root ? yyjson_get_type_desc(root) : "nothing");
        return BF_EUNKNOWN;
    }
    /* Combined stream: {"stream":"<name>","data":<payload>}. The key "stream" makes it one. */
    yyjson_val *stream = get_last(root, "stream", 6);
    if (stream == NULL) {
        scan_object(root, &f);
        return bf_fields_decode(&f, NULL, c_locale, msg, err, errlen);
    }
    bf_jv name;
    to_jv(stream, &name);
    if (name.type != BF_JV_STR) {
        snprintf(err, errlen, "envelope field \"stream\" must be a string, got %s",
                 yyjson_get_type_desc(stream));
        return BF_EFIELD;
    }
    yyjson_val *data = get_last(root, "data", 4);
    if (data == NULL) {
        char shown[65];
        bf_utf8_printable(shown, sizeof shown, name.str, (size_t)name.num);
        snprintf(err, errlen, "envelope field \"data\" is missing (stream \"%s\")", shown);
        return BF_EFIELD;
    }
    if (yyjson_is_arr(data)) {
        int rc = decode_array(data, msg, err, errlen);
        msg->envelope = name.str; /* names the stream (!ticker@arr) if it is not wanted */
        msg->envelope_len = (size_t)name.num;
        return rc;
    }
    if (!yyjson_is_obj(data)) {
        snprintf(err, errlen, "envelope field \"data\" must be an object, got %s",
                 yyjson_get_type_desc(data));
        return BF_EFIELD;
    }
    scan_object(data, &f);
    return bf_fields_decode(&f, &name, c_locale, msg, err, errlen);
}
