/* The zip reader on archives assembled here byte by byte, the way PyTorch writes them (stored
 * entries under one folder, "FB" padding, ZIP64 records), and on damaged copies of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/load/zip.h"
#include "check.h"


/* A minimal zip writer: enough of the format to produce what torch.save produces. */
typedef struct writer {
    uint8_t bytes[8192];
    size_t length;
    uint8_t directory[4096];
    size_t directory_length;
    size_t count;
} writer;

static void put(uint8_t *buffer, size_t *length, uint64_t value, int width) {
    for (int i = 0; i < width; i++) buffer[(*length)++] = (uint8_t)(value >> (8 * i));
}

static void put_bytes(uint8_t *buffer, size_t *length, const void *data, size_t n) {
    memcpy(buffer + *length, data, n);
    *length += n;
}

typedef struct entry_options {
    uint16_t method;
    int zip64;      /* saturate the central directory's sizes and offset, give them in a ZIP64 extra */
    uint32_t crc32; /* used when nonzero instead of the real CRC */
    int no_crc;     /* write 0 as the CRC */
} entry_options;

static void add_entry(writer *w, const char *name, const void *data, size_t size, entry_options options) {
    size_t name_length = strlen(name);
    uint32_t crc = options.no_crc ? 0 : options.crc32 ? options.crc32 : pt2_crc32(0, data, size);
    size_t local_offset = w->length;
    /* PyTorch pads the local header with an "FB" extra field so the data starts 64-byte aligned. */
    size_t unpadded = local_offset + 30 + name_length + 4;
    size_t padding = (64 - unpadded % 64) % 64;
    put(w->bytes, &w->length, 0x04034b50u, 4);
    put(w->bytes, &w->length, 20, 2);
    put(w->bytes, &w->length, 0, 2);
    put(w->bytes, &w->length, options.method, 2);
    put(w->bytes, &w->length, 0, 4); /* time, date */
    put(w->bytes, &w->length, crc, 4);
    put(w->bytes, &w->length, size, 4);
    put(w->bytes, &w->length, size, 4);
    put(w->bytes, &w->length, name_length, 2);
    put(w->bytes, &w->length, 4 + padding, 2);
    put_bytes(w->bytes, &w->length, name, name_length);
    put(w->bytes, &w->length, 0x4246, 2); /* "FB" */
    put(w->bytes, &w->length, padding, 2);
    for (size_t i = 0; i < padding; i++) w->bytes[w->length++] = 'Z';
    put_bytes(w->bytes, &w->length, data, size);

    uint8_t *d = w->directory;
    size_t *n = &w->directory_length;
    put(d, n, 0x02014b50u, 4);
    put(d, n, 45, 2);
    put(d, n, 45, 2);
    put(d, n, 0, 2);
    put(d, n, options.method, 2);
    put(d, n, 0, 4);
    put(d, n, crc, 4);
    put(d, n, options.zip64 ? 0xFFFFFFFFu : size, 4);
    put(d, n, options.zip64 ? 0xFFFFFFFFu : size, 4);
    put(d, n, name_length, 2);
    put(d, n, options.zip64 ? 4 + 24 : 0, 2);
    put(d, n, 0, 2); /* comment */
    put(d, n, 0, 2); /* disk */
    put(d, n, 0, 2);
    put(d, n, 0, 4);
    put(d, n, options.zip64 ? 0xFFFFFFFFu : local_offset, 4);
    put_bytes(d, n, name, name_length);
    if (options.zip64) {
        put(d, n, 0x0001, 2);
        put(d, n, 24, 2);
        put(d, n, size, 8);
        put(d, n, size, 8);
        put(d, n, local_offset, 8);
    }
    w->count++;
}

static void finish(writer *w, int zip64) {
    size_t directory_offset = w->length;
    put_bytes(w->bytes, &w->length, w->directory, w->directory_length);
    if (zip64) {
        size_t record_offset = w->length;
        put(w->bytes, &w->length, 0x06064b50u, 4);
        put(w->bytes, &w->length, 44, 8);
        put(w->bytes, &w->length, 45, 2);
        put(w->bytes, &w->length, 45, 2);
        put(w->bytes, &w->length, 0, 4);
        put(w->bytes, &w->length, 0, 4);
        put(w->bytes, &w->length, w->count, 8);
        put(w->bytes, &w->length, w->count, 8);
        put(w->bytes, &w->length, w->directory_length, 8);
        put(w->bytes, &w->length, directory_offset, 8);
        put(w->bytes, &w->length, 0x07064b50u, 4);
        put(w->bytes, &w->length, 0, 4);
        put(w->bytes, &w->length, record_offset, 8);
        put(w->bytes, &w->length, 1, 4);
    }
    put(w->bytes, &w->length, 0x06054b50u, 4);
    put(w->bytes, &w->length, 0, 4);
    put(w->bytes, &w->length, zip64 ? 0xFFFF : w->count, 2);
    put(w->bytes, &w->length, zip64 ? 0xFFFF : w->count, 2);
    put(w->bytes, &w->length, zip64 ? 0xFFFFFFFFu : w->directory_length, 4);
    put(w->bytes, &w->length, zip64 ? 0xFFFFFFFFu : directory_offset, 4);
    put(w->bytes, &w->length, 0, 2);
}

static const char pickle_bytes[] = "\x80\x02}q\x00.";
static const float weights[5] = {1.5f, -2.0f, 3.25f, 0.0f, 8.0f};

static void make_archive(writer *w, int zip64) {
    memset(w, 0, sizeof *w);
    entry_options plain = {0, zip64, 0, 0};
    add_entry(w, "archive/data.pkl", pickle_bytes, sizeof pickle_bytes - 1, plain);
    add_entry(w, "archive/byteorder", "little", 6, plain);
    add_entry(w, "archive/data/0", weights, sizeof weights, plain);
    entry_options no_crc = {0, zip64, 0, 1};
    add_entry(w, "archive/version", "3\n", 2, no_crc);
    finish(w, zip64);
}

/* Opens and reads every entry; must never crash whatever the bytes are. */
static pt2_status open_and_read_all(const uint8_t *bytes, size_t length, pt2_error *err) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_zip zip;
    pt2_error_clear(err);
    pt2_status st = pt2_zip_open(&arena, bytes, length, "fuzz.pt", &zip, err);
    for (size_t i = 0; !st && i < zip.count; i++) {
        const pt2_zip_entry *e;
        const char *relative = zip.entries[i].name + strlen(zip.root);
        if (strncmp(zip.entries[i].name, zip.root, strlen(zip.root)) != 0) continue;
        pt2_error e_err;
        pt2_error_clear(&e_err);
        if (pt2_zip_read(&zip, relative, &e, &e_err) == PT2_OK) {
            volatile uint8_t sum = 0;
            for (uint64_t k = 0; k < e->size; k++) sum ^= e->data[k]; /* ASan checks the range */
            (void)sum;
        }
    }
    pt2_arena_free(&arena);
    return st;
}

static void check_reads_back(const writer *w, const char *what) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_error_clear(&err);
    pt2_zip zip;
    if (pt2_zip_open(&arena, w->bytes, w->length, "test.pt", &zip, &err) != PT2_OK) {
        printf("FAIL %s: open: %s\n", what, err.message);
        failures++;
    }
    if (!err.status) {
        CHECK(zip.count == 4, what);
        CHECK(!strcmp(zip.root, "archive/"), "root folder");
        const pt2_zip_entry *e = NULL;
        CHECK(pt2_zip_read(&zip, "data/0", &e, &err) == PT2_OK, err.message);
        CHECK(e && e->size == sizeof weights && !memcmp(e->data, weights, sizeof weights), "tensor bytes");
        CHECK(e && ((uintptr_t)(e->data - w->bytes)) % 64 == 0, "FB padding honoured: data 64-byte aligned");
        CHECK(pt2_zip_read(&zip, "data.pkl", &e, &err) == PT2_OK && e->size == sizeof pickle_bytes - 1, "pickle entry");
        CHECK(pt2_zip_read(&zip, "version", &e, &err) == PT2_OK && e->size == 2, "entry without CRC");
        CHECK(pt2_zip_find(&zip, "archive/data.pkl") == NULL, "find takes names relative to the root");
        pt2_error_clear(&err);
        CHECK(pt2_zip_read(&zip, "data/1", &e, &err) == PT2_ERR_INPUT && strstr(err.message, "archive/data/1") &&
                  !strcmp(err.file, "test.pt"),
              "missing entry named with the file");
    }
    pt2_arena_free(&arena);
}

int main(void) {
    pt2_error err;
    CHECK(pt2_crc32(0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    CHECK(pt2_crc32(pt2_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "CRC-32 is incremental");

    static writer w;
    make_archive(&w, 0);
    check_reads_back(&w, "plain zip");
    CHECK(pt2_is_zip(w.bytes, w.length) && !pt2_is_zip((const uint8_t *)"PK", 2), "is_zip");
    make_archive(&w, 1);
    check_reads_back(&w, "ZIP64 zip");

    /* Every prefix of the file fails cleanly (the end record is at the end) and says so. */
    int prefixes_ok = 1;
    for (size_t cut = 0; cut < w.length; cut++) {
        pt2_status st = open_and_read_all(w.bytes, cut, &err);
        if (st == PT2_OK || (cut >= 4 && !strstr(err.message, "truncated") && !strstr(err.message, "corrupt"))) {
            printf("prefix of %zu bytes: status %d, %s\n", cut, st, err.message);
            prefixes_ok = 0;
        }
    }
    CHECK(prefixes_ok, "truncated files are refused with a message saying so");

    /* Single-byte damage anywhere: any outcome but a crash (ASan/UBSan watch). */
    static uint8_t copy[sizeof w.bytes];
    const uint8_t patterns[] = {0x00, 0xFF, 0x7F, 0x80};
    for (size_t pos = 0; pos < w.length; pos++) {
        for (size_t k = 0; k < sizeof patterns; k++) {
            memcpy(copy, w.bytes, w.length);
            copy[pos] = patterns[k];
            (void)open_and_read_all(copy, w.length, &err);
        }
    }

    /* An entry count the central directory cannot hold is refused before anything is allocated. */
    make_archive(&w, 0);
    memcpy(copy, w.bytes, w.length);
    copy[w.length - 22 + 10] = 0xFF;
    copy[w.length - 22 + 11] = 0xFF;
    CHECK(open_and_read_all(copy, w.length, &err) == PT2_ERR_INPUT && strstr(err.message, "cannot fit"),
          "entry count bounded by the directory size");
    /* A directory offset past the end. */
    memcpy(copy, w.bytes, w.length);
    copy[w.length - 22 + 19] = 0x7F;
    CHECK(open_and_read_all(copy, w.length, &err) == PT2_ERR_INPUT && strstr(err.message, "truncated") &&
              strstr(err.message, "central directory"),
          "directory offset checked");

    /* CRC mismatch names the entry. */
    {
        pt2_arena arena;
        pt2_arena_init(&arena, 0);
        memcpy(copy, w.bytes, w.length);
        pt2_zip zip;
        pt2_error_clear(&err);
        CHECK(pt2_zip_open(&arena, copy, w.length, "test.pt", &zip, &err) == PT2_OK, err.message);
        const pt2_zip_entry *e = pt2_zip_find(&zip, "data/0");
        if (e) copy[e->data - copy] ^= 1;
        CHECK(pt2_zip_read(&zip, "data/0", &e, &err) == PT2_ERR_INPUT && strstr(err.message, "CRC-32 mismatch") &&
                  !strcmp(err.entry, "archive/data/0") && !strcmp(err.file, "test.pt"),
              "CRC mismatch with file and entry");
        pt2_arena_free(&arena);
    }

    /* Compressed entries are listed but refused when read. */
    {
        pt2_arena arena;
        pt2_arena_init(&arena, 0);
        memset(&w, 0, sizeof w);
        entry_options deflate = {8, 0, 0x12345678u, 0};
        add_entry(&w, "model/data.pkl", "\x03\x00", 2, deflate);
        entry_options plain = {0, 0, 0, 0};
        add_entry(&w, "other/x", "x", 1, plain);
        finish(&w, 0);
        pt2_zip zip;
        pt2_error_clear(&err);
        CHECK(pt2_zip_open(&arena, w.bytes, w.length, "deflated.pt", &zip, &err) == PT2_OK, err.message);
        CHECK(!strcmp(zip.root, ""), "no common folder: empty root");
        const pt2_zip_entry *e;
        CHECK(pt2_zip_read(&zip, "model/data.pkl", &e, &err) == PT2_ERR_UNSUPPORTED &&
                  strstr(err.message, "method 8 (deflate)") && strstr(err.message, "stored (uncompressed)"),
              "deflate refused with the reason");
        pt2_arena_free(&arena);
    }

    CHECK(open_and_read_all((const uint8_t *)"hello", 5, &err) == PT2_ERR_INPUT && strstr(err.message, "not a zip"),
          "not a zip");

    if (!failures) printf("zip: all passed\n");
    return failures != 0;
}
