/* The TF checkpoint writer against the byte-level worked example (reference §5.9), CRC-32C
 * test vectors, round trips across several blocks, and corrupt inputs. */
#include <stdio.h>
#include <string.h>

#include "core/base/crc32c.h"
#include "core/emit/tf_checkpoint.h"
#include "check.h"


static const uint8_t expected_index[177] = {
    /* copied from the hex dump in the reference, byte for byte */
    0x00, 0x00, 0x06, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x01, 0x00, 0x0b, 0x0b, 0x67, 0x6c, 0x6f, 0x62, 0x61, 0x6c,
    0x5f, 0x73, 0x74, 0x65, 0x70, 0x08, 0x09, 0x12, 0x00, 0x28, 0x08, 0x35, 0x29, 0x03, 0x98, 0x07, 0x00, 0x05,
    0x15, 0x6c, 0x69, 0x6e, 0x2f, 0x57, 0x08, 0x01, 0x12, 0x08, 0x12, 0x02, 0x08, 0x02, 0x12, 0x02, 0x08, 0x02,
    0x20, 0x08, 0x28, 0x10, 0x35, 0x4c, 0x28, 0x98, 0x74, 0x04, 0x01, 0x11, 0x62, 0x08, 0x01, 0x12, 0x04, 0x12,
    0x02, 0x08, 0x02, 0x20, 0x18, 0x28, 0x08, 0x35, 0x42, 0x1e, 0xf0, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x7e, 0x45, 0x51, 0x8f, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xf2,
    0xa1, 0xb0, 0x00, 0x01, 0x02, 0x6d, 0x00, 0x5c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xfb,
    0x39, 0x3c, 0x64, 0x61, 0x08, 0x6e, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb,
};

static pt2_tensor make(pt2_dtype dtype, int rank, const int64_t *shape, void *data) {
    pt2_tensor t = {0};
    t.dtype = dtype;
    t.rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        t.shape[i] = shape[i];
        n *= shape[i];
    }
    pt2_contiguous_strides(t.shape, rank, t.strides);
    t.storage = data;
    t.storage_bytes = (size_t)n * pt2_dtype_size(dtype);
    return t;
}

/* A reflected CRC-32 one bit at a time, from its polynomial's definition: the oracle for every
 * length and alignment of the fast paths (tables, the x86-64 CRC-32C instruction, the zip CRC-32's
 * carry-less folding). */
#define CASTAGNOLI 0x82F63B78u
#define IEEE 0xEDB88320u

static uint32_t crc_bitwise(uint32_t polynomial, const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? polynomial ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

/* A weight [G*H, K] (PyTorch's layout of an LSTM's gates) written as a transposed view with its
 * gate blocks reordered (pt2_block_order, as the LSTM lowering hands NativeLstm2's W to the
 * writer): the checkpoint holds [K, G*H] with column g*H + j = row order[g]*H + j of the weight.
 * Also the blocks along the outer axis (the weight itself reordered by rows). */
static void test_reordered_blocks(pt2_arena *arena) {
    enum { G = 4, H = 3, K = 5 };
    static float weight[G * H][K];
    for (int r = 0; r < G * H; r++)
        for (int k = 0; k < K; k++) weight[r][k] = (float)(100 * r + k);
    static const pt2_block_order columns = {1, G, {2, 0, 1, 3}}, rows = {0, G, {2, 0, 1, 3}};
    int64_t shape[2] = {G * H, K};
    pt2_tensor w = make(PT2_DTYPE_FLOAT32, 2, shape, weight), wt = w;
    wt.shape[0] = K, wt.shape[1] = G * H, wt.strides[0] = 1, wt.strides[1] = K;
    pt2_tf_variable vars[2] = {{"rec/W", wt, &columns}, {"rows/W", w, &rows}};
    pt2_strbuf index, data;
    pt2_strbuf_init(&index);
    pt2_strbuf_init(&data);
    pt2_error err;
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_write(arena, vars, 2, &index, &data, &err) == PT2_OK, err.message);
    pt2_tf_variable *read = NULL;
    size_t count = 0;
    CHECK(pt2_tf_checkpoint_read(arena, (uint8_t *)index.data, index.length, (uint8_t *)data.data, data.length, PT2_TF_CHECK_DATA_CRC, "t",
                                 &read, &count, &err) == PT2_OK && count == 2, "reordered blocks read back");
    int wrong = 0;
    for (size_t v = 0; v < count; v++) {
        const float *got = (const float *)read[v].tensor.storage + read[v].tensor.storage_offset;
        int by_columns = !strcmp(read[v].name, "rec/W");
        CHECK(read[v].tensor.shape[0] == (by_columns ? K : G * H), "reordered variable's shape");
        for (int a = 0; a < G * H; a++)
            for (int k = 0; k < K; k++) {
                float want = weight[columns.order[a / H] * H + a % H][k];
                wrong += (by_columns ? got[k * G * H + a] : got[a * K + k]) != want;
            }
    }
    CHECK(wrong == 0, "each block where its order puts it, along the columns and along the rows");
    pt2_strbuf_free(&index);
    pt2_strbuf_free(&data);
}

int main(void) {
    static uint8_t noise[4096];
    uint32_t state = 12345;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)((state = state * 1103515245u + 12345u) >> 16);
    for (size_t start = 0; start < 9; start++)
        for (size_t length = 0; length + start <= sizeof noise; length += length < 40 ? 1 : 509)
            CHECK(pt2_crc32c(noise + start, length) == crc_bitwise(CASTAGNOLI, noise + start, length), "crc32c of noise");
    CHECK(pt2_crc32c_extend(pt2_crc32c(noise, 1000), noise + 1000, 3000) == pt2_crc32c(noise, 4000), "crc32c continued");
    for (size_t start = 0; start < 9; start++)
        for (size_t length = 0; length + start <= sizeof noise; length += length < 200 ? 1 : 509)
            CHECK(pt2_crc32_ieee_extend(0, noise + start, length) == crc_bitwise(IEEE, noise + start, length), "crc32 of noise");
    CHECK(pt2_crc32_ieee_extend(pt2_crc32_ieee_extend(0, noise, 1000), noise + 1000, 3000) ==
              pt2_crc32_ieee_extend(0, noise, 4000), "crc32 continued");
    CHECK(pt2_crc32_ieee_extend(0, "123456789", 9) == 0xcbf43926, "crc32 check value");
    uint8_t zeros[32] = {0}, ones[32], ascending[32], descending[32];
    memset(ones, 0xff, 32);
    for (int i = 0; i < 32; i++) {
        ascending[i] = (uint8_t)i;
        descending[i] = (uint8_t)(31 - i);
    }
    CHECK(pt2_crc32c(zeros, 32) == 0x8a9136aa, "crc32c of 32 zeros");
    CHECK(pt2_crc32c(ones, 32) == 0x62a8ab43, "crc32c of 32 0xff");
    CHECK(pt2_crc32c(ascending, 32) == 0x46dd794e, "crc32c of 0..31");
    CHECK(pt2_crc32c(descending, 32) == 0x113fdb5c, "crc32c of 31..0");
    CHECK(pt2_crc32c("123456789", 9) == 0xe3069283, "crc32c check value");
    CHECK(pt2_crc32c_unmask(pt2_crc32c_mask(0x12345678)) == 0x12345678, "mask round trip");

    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    int64_t step = 0;
    float w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -0.5f};
    int64_t shape_w[2] = {2, 2}, shape_b[1] = {2};
    /* The worked example lays the data out in key order; data follows the caller's order. */
    pt2_tf_variable vars[3] = {{"global_step", make(PT2_DTYPE_INT64, 0, NULL, &step), NULL},
                               {"lin/W", make(PT2_DTYPE_FLOAT32, 2, shape_w, w), NULL},
                               {"lin/b", make(PT2_DTYPE_FLOAT32, 1, shape_b, b), NULL}};
    pt2_strbuf index, data;
    pt2_strbuf_init(&index);
    pt2_strbuf_init(&data);
    CHECK(pt2_tf_checkpoint_write(&arena, vars, 3, &index, &data, &err) == PT2_OK, err.message);
    CHECK(index.length == sizeof expected_index && !memcmp(index.data, expected_index, sizeof expected_index),
          "index bytes equal the worked example");
    CHECK(data.length == 32, "data file is the 3 tensors back to back");

    pt2_tf_variable *read;
    size_t count;
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index.data, index.length, (uint8_t *)data.data, data.length, PT2_TF_CHECK_DATA_CRC, "t",
                                 &read, &count, &err) == PT2_OK && count == 3,
          "read back");
    if (count == 3) CHECK(!strcmp(read[2].name, "lin/b") && ((float *)read[2].tensor.storage)[1] == -0.5f, "values back");

    /* A corrupt byte in the data is caught by the entry CRC; a bad magic by the footer check. */
    data.data[12] ^= 1;
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index.data, index.length, (uint8_t *)data.data, data.length, PT2_TF_CHECK_DATA_CRC, "t",
                                 &read, &count, &err) == PT2_ERR_INPUT && strstr(err.message, "CRC"),
          "data corruption detected");
    /* Taken as written (the reload of bytes the writer summed): the sum is not computed again. */
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index.data, index.length, (uint8_t *)data.data, data.length,
                                 PT2_TF_DATA_CRC_AS_WRITTEN, "t", &read, &count, &err) == PT2_OK && count == 3,
          "entry CRCs taken as written are not checked again");
    index.data[index.length - 1] ^= 1;
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index.data, index.length, (uint8_t *)data.data, data.length, PT2_TF_CHECK_DATA_CRC, "t",
                                 &read, &count, &err) == PT2_ERR_INPUT && strstr(err.message, "magic"),
          "bad magic detected");
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index.data, 20, (uint8_t *)data.data, data.length, PT2_TF_CHECK_DATA_CRC, "t", &read,
                                 &count, &err) == PT2_ERR_INPUT,
          "truncated index detected");

    /* Many variables: several data blocks, prefix compression, separators in the index. */
    enum { MANY = 3000 };
    static float big[MANY][64];
    static char names[MANY][32];
    static pt2_tf_variable many[MANY];
    int64_t shape64[1] = {64};
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "layer%04d/W", (i * 7919) % MANY);
        for (int k = 0; k < 64; k++) big[i][k] = (float)(i * 64 + k);
        many[i].name = names[i];
        many[i].tensor = make(PT2_DTYPE_FLOAT32, 1, shape64, big[i]);
    }
    pt2_strbuf index2, data2;
    pt2_strbuf_init(&index2);
    pt2_strbuf_init(&data2);
    pt2_error_clear(&err);
    CHECK(pt2_tf_checkpoint_write(&arena, many, MANY, &index2, &data2, &err) == PT2_OK, err.message);
    CHECK(pt2_tf_checkpoint_read(&arena, (uint8_t *)index2.data, index2.length, (uint8_t *)data2.data, data2.length,
                                 PT2_TF_CHECK_DATA_CRC, "many", &read, &count, &err) == PT2_OK && count == MANY,
          "read back a multi-block checkpoint");
    int sorted_and_exact = 1;
    for (size_t i = 0; i < count; i++) {
        int original;
        sscanf(read[i].name, "layer%d", &original);
        int source = 0;
        while (source < MANY && strcmp(names[source], read[i].name)) source++;
        if (i && strcmp(read[i - 1].name, read[i].name) >= 0) sorted_and_exact = 0;
        if (source == MANY || memcmp(read[i].tensor.storage, big[source], sizeof big[0])) sorted_and_exact = 0;
    }
    CHECK(sorted_and_exact, "keys sorted, every tensor exact");
    pt2_strbuf index3, data3;
    pt2_strbuf_init(&index3);
    pt2_strbuf_init(&data3);
    CHECK(pt2_tf_checkpoint_write(&arena, many, MANY, &index3, &data3, &err) == PT2_OK &&
              index3.length == index2.length && !memcmp(index3.data, index2.data, index2.length),
          "writing twice gives identical bytes");
    /* Releasing while writing: two weights of blocks of their own in an owner arena (one of them
     * also read by a later variable, a view of it) and a view of memory elsewhere (the model file's
     * part): the bytes are those of the plain write, each block goes after its last variable, the
     * view's memory stays, and the peak counted is the owner's use plus the data so far. */
    {
        enum { N = 300000 };
        pt2_arena owner;
        pt2_arena_init(&owner, 0);
        float *first = pt2_arena_alloc_array(&owner, N, sizeof(float), &err);
        float *second = pt2_arena_alloc_array(&owner, N, sizeof(float), &err);
        CHECK(first && second, "owner blocks");
        for (int i = 0; i < N; i++) first[i] = (float)i * 0.5f, second[i] = (float)-i;
        static float elsewhere[64];
        for (int i = 0; i < 64; i++) elsewhere[i] = (float)(3 * i);
        int64_t n_shape[1] = {N}, half_shape[1] = {N / 2}, shape64b[1] = {64};
        pt2_tf_variable vars4[4] = {{"a/W", make(PT2_DTYPE_FLOAT32, 1, n_shape, first), NULL},
                                    {"b/W", make(PT2_DTYPE_FLOAT32, 1, n_shape, second), NULL},
                                    {"c/W", make(PT2_DTYPE_FLOAT32, 1, half_shape, first), NULL}, /* first's again */
                                    {"d/W", make(PT2_DTYPE_FLOAT32, 1, shape64b, elsewhere), NULL}};
        vars4[2].tensor.storage_offset = N / 2; /* its second half */
        pt2_strbuf plain_index, plain_data, index4, data4;
        pt2_strbuf_init(&plain_index), pt2_strbuf_init(&plain_data), pt2_strbuf_init(&index4), pt2_strbuf_init(&data4);
        CHECK(pt2_tf_checkpoint_write(&arena, vars4, 4, &plain_index, &plain_data, &err) == PT2_OK, err.message);
        size_t used_before = owner.used_bytes, peak = 0;
        CHECK(pt2_tf_checkpoint_write_releasing(&arena, vars4, 4, &owner, &peak, &index4, &data4, &err) == PT2_OK,
              err.message);
        CHECK(index4.length == plain_index.length && !memcmp(index4.data, plain_index.data, index4.length) &&
                  data4.length == plain_data.length && !memcmp(data4.data, plain_data.data, data4.length),
              "the releasing write gives the plain write's bytes");
        CHECK(owner.used_bytes + 2 * N * sizeof(float) <= used_before, "both blocks released");
        /* after a/W (first's block kept for c/W) and b/W (second's then released): the most is
         * there, both blocks alive beside a/W's and b/W's data */
        CHECK(peak >= used_before + 2 * N * sizeof(float) && peak < used_before + 2 * N * sizeof(float) + 65536,
              "the peak counts the owner's use and the data written");
        pt2_strbuf_free(&plain_index), pt2_strbuf_free(&plain_data), pt2_strbuf_free(&index4), pt2_strbuf_free(&data4);
        pt2_arena_free(&owner);
    }
    pt2_strbuf_free(&index);
    pt2_strbuf_free(&data);
    pt2_strbuf_free(&index2);
    pt2_strbuf_free(&data2);
    pt2_strbuf_free(&index3);
    pt2_strbuf_free(&data3);
    test_reordered_blocks(&arena);
    pt2_arena_free(&arena);
    if (!failures) printf("tf_checkpoint: all passed\n");
    return failures != 0;
}
