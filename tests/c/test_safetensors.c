/* The safetensors reader on files assembled here: a valid one with metadata, then headers that
 * lie about sizes, offsets, dtypes and lengths. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/load/safetensors.h"
#include "check.h"


static uint8_t file[4096];

/* 8-byte little-endian header length, the JSON header, then `data`. */
static size_t make_file(const char *header, const void *data, size_t data_length) {
    size_t n = strlen(header);
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(file + 8, header, n);
    memcpy(file + 8 + n, data, data_length);
    return 8 + n + data_length;
}

static pt2_status load(size_t length, pt2_named_tensors *list, pt2_safetensors_metadata *metadata, pt2_error *err,
                       pt2_arena *arena) {
    memset(list, 0, sizeof *list);
    pt2_error_clear(err);
    return pt2_safetensors_load_with_metadata(arena, file, length, "model.safetensors", list, metadata, err);
}

static const uint8_t data[40] = {0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64, 0, 0, 192, 64,
                                 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x80, 0x3f, 0xAA, 0xBB, 0xCC, 0xDD};

/* Expects failure with `status` and a message containing `needle`. */
static void expect_failure(const char *header, size_t data_length, pt2_status status, const char *needle,
                           const char *what) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_named_tensors list;
    pt2_error err;
    size_t length = make_file(header, data, data_length);
    pt2_status st = load(length, &list, NULL, &err, &arena);
    if (st != status || !strstr(err.message, needle) || strcmp(err.file, "model.safetensors") != 0) {
        printf("FAIL %s: status %d, message '%s'\n", what, st, err.message);
        failures++;
    }
    pt2_arena_free(&arena);
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_named_tensors list;
    pt2_safetensors_metadata metadata;
    pt2_error err;

    const char *valid = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]},"
                        "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[32,34]},"
                        "\"h\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[34,36]},"
                        "\"empty\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[36,36]}}";
    size_t length = make_file(valid, data, 36);
    CHECK(pt2_is_safetensors(file, length), "detected");
    CHECK(load(length, &list, &metadata, &err, &arena) == PT2_OK, err.message);
    if (!err.status) {
        CHECK(list.count == 5, "five tensors");
        const pt2_named_tensor *w = pt2_named_tensors_find(&list, "w");
        CHECK(w && w->tensor.dtype == PT2_DTYPE_FLOAT32 && w->tensor.rank == 2 && w->tensor.shape[1] == 3 &&
                  w->tensor.strides[0] == 3 && ((const float *)pt2_tensor_data(&w->tensor))[5] == 6.0f,
              "float tensor");
        const pt2_named_tensor *step = pt2_named_tensors_find(&list, "step");
        CHECK(step && step->tensor.rank == 0 && (uintptr_t)pt2_tensor_data(&step->tensor) % 8 == 0 &&
                  *(const int64_t *)pt2_tensor_data(&step->tensor) == 7,
              "scalar int64, aligned although its offset in the file is not");
        const pt2_named_tensor *mask = pt2_named_tensors_find(&list, "mask");
        CHECK(mask && mask->tensor.dtype == PT2_DTYPE_BOOL && ((const uint8_t *)pt2_tensor_data(&mask->tensor))[0] == 1,
              "bool");
        const pt2_named_tensor *h = pt2_named_tensors_find(&list, "h");
        CHECK(h && h->tensor.dtype == PT2_DTYPE_BFLOAT16, "bfloat16");
        const pt2_named_tensor *empty = pt2_named_tensors_find(&list, "empty");
        CHECK(empty && pt2_tensor_numel(&empty->tensor) == 0, "empty tensor");
        CHECK(!strcmp(list.items[0].name, "w") && !strcmp(list.items[4].name, "empty"), "header order kept");
        CHECK(metadata.count == 2 && !strcmp(metadata.keys[0], "format") && !strcmp(metadata.values[0], "pt") &&
                  !strcmp(metadata.values[1], "x"),
              "metadata");
    }
    memset(&list, 0, sizeof list);
    pt2_error_clear(&err);
    CHECK(pt2_safetensors_load(&arena, file, length, "model.safetensors", &list, &err) == PT2_OK && list.count == 5,
          "load without metadata");

    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16,
                   PT2_ERR_INPUT, "element count", "shape overflow");
    expect_failure("{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,16]}}", 16,
                   PT2_ERR_INPUT, "overflows", "byte count overflow");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, PT2_ERR_INPUT,
                   "non-negative", "negative size");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, PT2_ERR_INPUT, "truncated",
                   "data past the end");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 16, PT2_ERR_INPUT,
                   "need 16", "span differs from the shape");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16, PT2_ERR_INPUT,
                   "begin <= end", "reversed offsets");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16, PT2_ERR_INPUT,
                   "begin <= end", "negative offset");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4.5]}}", 16, PT2_ERR_INPUT,
                   "integers", "fractional offset");
    expect_failure("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   16, PT2_ERR_INPUT, "overlap", "overlapping tensors");
    expect_failure("{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, PT2_ERR_UNSUPPORTED, "C64",
                   "unsupported dtype named");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                   PT2_ERR_UNSUPPORTED, "rank", "rank above 8");
    expect_failure("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, PT2_ERR_INPUT, "data_offsets", "missing field");
    expect_failure("{\"w\":[1,2]}", 0, PT2_ERR_INPUT, "dtype", "tensor entry not an object");
    expect_failure("[1,2]", 0, PT2_ERR_INPUT, "not a JSON object", "header not an object");
    expect_failure("{\"__metadata__\":{\"n\":3}}", 0, PT2_ERR_INPUT, "not a string", "metadata values are strings");
    expect_failure("{\"w\":{\"dtype\":\"F32\",", 0, PT2_ERR_INPUT, "", "broken JSON");

    /* Header lengths that lie. */
    length = make_file(valid, data, 36);
    file[0] = (uint8_t)(file[0] + 1);
    pt2_error_clear(&err);
    memset(&list, 0, sizeof list);
    CHECK(pt2_safetensors_load(&arena, file, length, "model.safetensors", &list, &err) == PT2_ERR_INPUT,
          "header length one too long (JSON then has junk or misses data)");
    memset(file, 0xFF, 8);
    pt2_error_clear(&err);
    CHECK(pt2_safetensors_load(&arena, file, length, "model.safetensors", &list, &err) == PT2_ERR_INPUT &&
              strstr(err.message, "truncated") && strstr(err.message, "header length"),
          "huge header length");
    pt2_error_clear(&err);
    CHECK(pt2_safetensors_load(&arena, file, 5, "model.safetensors", &list, &err) == PT2_ERR_INPUT &&
              strstr(err.message, "truncated"),
          "shorter than the length field");

    /* Every prefix of the valid file is refused cleanly. */
    length = make_file(valid, data, 36);
    int prefixes_ok = 1;
    for (size_t cut = 0; cut < length; cut++) {
        pt2_arena prefix_arena;
        pt2_arena_init(&prefix_arena, 0);
        memset(&list, 0, sizeof list);
        pt2_error_clear(&err);
        if (pt2_safetensors_load(&prefix_arena, file, cut, "model.safetensors", &list, &err) == PT2_OK) {
            printf("prefix of %zu bytes was accepted\n", cut);
            prefixes_ok = 0;
        }
        pt2_arena_free(&prefix_arena);
    }
    CHECK(prefixes_ok, "truncated files refused");

    pt2_arena_free(&arena);
    if (!failures) printf("safetensors: all passed\n");
    return failures != 0;
}
