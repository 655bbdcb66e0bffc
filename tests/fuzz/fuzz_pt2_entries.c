/* The .pt2 archive, structure-aware: the input is a list of entries and the harness writes a
 * valid stored zip from them (CRCs right), so that mutations reach the graph JSON, the payload
 * configs and the pickles instead of dying in the container.
 *
 * Input: one flags byte (bit 0: pad entry data to 64 bytes as torch.export.save does; clear:
 * pack it, as other zip writers do, so storages are misaligned), then entries, each
 * [u8 name length][name][u32 little-endian data length][data]. tests/fuzz/make_corpus.py
 * writes the fixtures' archives in this form. */
#include "core/load/pt2_archive.h"
#include "core/load/zip.h"
#include "fuzz_graph_check.h"

#define MAX_ENTRIES 64

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int aligned = data[0] & 1;
    fuzz_reader r = {data + 1, size - 1};
    const uint8_t *names[MAX_ENTRIES], *datas[MAX_ENTRIES];
    size_t name_lengths[MAX_ENTRIES], data_lengths[MAX_ENTRIES], count = 0;
    while (r.left && count < MAX_ENTRIES) {
        size_t n = r.p[0];
        r.p++, r.left--;
        names[count] = fuzz_bytes(&r, n, &name_lengths[count]);
        datas[count] = fuzz_bytes(&r, fuzz_u32(&r), &data_lengths[count]);
        count++;
    }
    /* Local headers (30 + name + padding), data, central directory (46 + name each), end record. */
    size_t total = 22;
    for (size_t i = 0; i < count; i++) total += 30 + 2 * name_lengths[i] + 4 + 63 + data_lengths[i] + 46;
    pt2_arena *arena = fuzz_arena_begin();
    uint8_t *zip = fuzz_zeroed(total);
    size_t offsets[MAX_ENTRIES], pos = 0;
    for (size_t i = 0; i < count; i++) {
        offsets[i] = pos;
        size_t header_end = pos + 30 + name_lengths[i];
        size_t padding = aligned && header_end % 64 ? 64 - header_end % 64 : 0;
        if (padding && padding < 4) padding += 64; /* an extra field needs its 4-byte header */
        uint8_t *h = zip + pos;
        put32(h, 0x04034b50u);
        put16(h + 4, 20);
        put32(h + 14, pt2_crc32(0, datas[i], data_lengths[i]));
        put32(h + 18, (uint32_t)data_lengths[i]);
        put32(h + 22, (uint32_t)data_lengths[i]);
        put16(h + 26, (uint32_t)name_lengths[i]);
        put16(h + 28, (uint32_t)padding);
        memcpy(h + 30, names[i], name_lengths[i]);
        if (padding) put16(h + 30 + name_lengths[i], 0xbeef), put16(h + 32 + name_lengths[i], (uint32_t)padding - 4);
        pos = header_end + padding;
        memcpy(zip + pos, datas[i], data_lengths[i]);
        pos += data_lengths[i];
    }
    size_t directory = pos;
    for (size_t i = 0; i < count; i++) {
        uint8_t *h = zip + pos;
        put32(h, 0x02014b50u);
        put16(h + 4, 20);
        put16(h + 6, 20);
        put32(h + 16, pt2_crc32(0, datas[i], data_lengths[i]));
        put32(h + 20, (uint32_t)data_lengths[i]);
        put32(h + 24, (uint32_t)data_lengths[i]);
        put16(h + 28, (uint32_t)name_lengths[i]);
        put32(h + 42, (uint32_t)offsets[i]);
        memcpy(h + 46, names[i], name_lengths[i]);
        pos += 46 + name_lengths[i];
    }
    uint8_t *end = zip + pos;
    put32(end, 0x06054b50u);
    put16(end + 8, (uint32_t)count);
    put16(end + 10, (uint32_t)count);
    put32(end + 12, (uint32_t)(pos - directory));
    put32(end + 16, (uint32_t)directory);
    pos += 22;
    if (pos < 4) pos = 4; /* no entries: still hand over a (refused) file */
    pt2_error err;
    pt2_error_clear(&err);
    pt2_graph graph;
    pt2_status st = pt2_archive_load(arena, zip, pos, "fuzz.pt2", &graph, &err);
    fuzz_check_status(st, &err);
    if (st == PT2_OK) fuzz_check_graph(&graph);
    fuzz_arena_end(arena);
    return 0;
}
