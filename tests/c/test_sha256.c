/* SHA-256 against the FIPS 180-4 example vectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/sha256.h"

static int check(const char *label, const void *data, size_t length, const char *expected) {
    char hex[65];
    pt2_sha256_hex(data, length, hex);
    if (strcmp(hex, expected) != 0) {
        printf("FAIL %s: got %s, expected %s\n", label, hex, expected);
        return 1;
    }
    return 0;
}

int main(void) {
    int failures = 0;
    failures += check("empty", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    failures += check("abc", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    failures += check("448 bits", two_blocks, strlen(two_blocks),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    failures += check("million a", million, 1000000,
                      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Lengths around the padding boundaries (one or two final blocks). */
    static const struct {
        size_t length;
        const char *digest;
    } boundaries[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++)
        failures += check("padding boundary", million, boundaries[i].length, boundaries[i].digest);
    /* Incremental updates in odd pieces must give the same digest. */
    pt2_sha256_state s;
    uint8_t digest[32], whole[32];
    pt2_sha256_init(&s);
    for (size_t off = 0; off < 1000000;) {
        size_t n = (off % 7) * 13 + 1;
        if (n > 1000000 - off) n = 1000000 - off;
        pt2_sha256_update(&s, million + off, n);
        off += n;
    }
    pt2_sha256_final(&s, digest);
    pt2_sha256(million, 1000000, whole);
    if (memcmp(digest, whole, 32) != 0) {
        printf("FAIL incremental digest differs\n");
        failures++;
    }
    free(million);
    if (!failures) printf("sha256: all passed\n");
    return failures != 0;
}
