/* The allow-listed unpickler on hand-assembled pickles: plain data, memo references,
 * tensors through a storage resolver, and refusals (foreign globals, depth, bad lengths). */
#include <stdio.h>
#include <string.h>

#include "core/load/pyobj.h"

static int failures;
#define CHECK(cond, msg)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, msg);   \
            failures++;                                            \
        }                                                          \
    } while (0)

static float storage_values[6] = {1, 2, 3, 4, 5, 6};

static pt2_status resolve(void *context, const char *key, pt2_dtype dtype, uint64_t numel, void **storage,
                          size_t *bytes, pt2_error *err) {
    (void)context;
    if (strcmp(key, "0") || dtype != PT2_DTYPE_FLOAT32 || numel > 6) return pt2_fail(err, PT2_ERR_INPUT, "bad storage");
    *storage = storage_values;
    *bytes = (size_t)numel * 4;
    return PT2_OK;
}

static pt2_status run(pt2_arena *arena, const char *bytes, size_t length, pt2_pyobj **out, pt2_error *err) {
    pt2_error_clear(err);
    pt2_pickle_source source = {(const uint8_t *)bytes, length, "test.pt", "archive/data.pkl", resolve, NULL};
    return pt2_unpickle(arena, &source, out, err);
}

#define RUN(literal, out, err) run(&arena, literal, sizeof(literal) - 1, out, err)

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    pt2_error err;
    pt2_pyobj *o = NULL;

    /* {'a': 1, 'b': [2.5, 'x'], 'c': <memo of the list>} */
    static const char plain[] =
        "\x80\x02}q\x00(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "b]q\x01(G\x40\x04\x00\x00\x00\x00\x00\x00"
        "X\x01\x00\x00\x00xeX\x01\x00\x00\x00" "ch\x01u.";
    CHECK(RUN(plain, &o, &err) == PT2_OK, err.message);
    if (o) {
        const pt2_pyobj *a = pt2_pyobj_dict_get(o, "a"), *b = pt2_pyobj_dict_get(o, "b"), *c = pt2_pyobj_dict_get(o, "c");
        CHECK(a && a->kind == PT2_PY_INT && a->int_value == 1, "int value");
        CHECK(b && b->kind == PT2_PY_LIST && b->count == 2 && b->items[0]->float_value == 2.5, "list with float");
        CHECK(b && b->items[1]->kind == PT2_PY_STRING && !strcmp(b->items[1]->string, "x"), "string in list");
        CHECK(c == b, "memo returns the same object");
    }

    /* _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 6), 1, (2, 2), (1, 2), False, OrderedDict()) */
    static const char tensor[] =
        "\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
        "X\x01\x00\x00\x00\x30X\x03\x00\x00\x00" "cpuK\x06tQK\x01K\x02K\x02\x86K\x01K\x02\x86\x89"
        "\x63\x63ollections\nOrderedDict\n)RtR.";
    o = NULL;
    CHECK(RUN(tensor, &o, &err) == PT2_OK, err.message);
    if (o) {
        CHECK(o->kind == PT2_PY_TENSOR && o->tensor.rank == 2 && o->tensor.shape[0] == 2 && o->tensor.strides[0] == 1 &&
                  o->tensor.storage_offset == 1,
              "tensor view");
        CHECK(((float *)pt2_tensor_data(&o->tensor))[0] == 2.0f, "tensor data at the storage offset");
    }

    static const char foreign[] = "\x80\x02\x63posix\nsystem\n(X\x02\x00\x00\x00lstR.";
    CHECK(RUN(foreign, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "'posix.system' is not allowed"),
          "a foreign global is refused before anything is applied");
    static const char stack_global[] = "\x80\x04\x8c\x02os\x8c\x06system\x93.";
    CHECK(RUN(stack_global, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "'os.system'"), "STACK_GLOBAL too");
    static const char long_string[] = "\x80\x02X\xff\xff\xff\x7f" "abc.";
    CHECK(RUN(long_string, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "length field claims"), "length checked");
    static const char inst[] = "\x80\x02i__builtin__\nobject\n.";
    CHECK(RUN(inst, &o, &err) == PT2_ERR_UNSUPPORTED && strstr(err.message, "INST"), "INST refused by name");
    static const char no_stop[] = "\x80\x02K\x01";
    CHECK(RUN(no_stop, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "truncated"), "missing STOP");
    static const char bad_memo[] = "\x80\x02h\x05.";
    CHECK(RUN(bad_memo, &o, &err) == PT2_ERR_INPUT, "memo get before put");
    static const char out_of_range[] =
        "\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
        "X\x01\x00\x00\x00\x30X\x03\x00\x00\x00" "cpuK\x06tQK\x00K\x07\x85K\x01\x85\x89"
        "\x63\x63ollections\nOrderedDict\n)RtR.";
    CHECK(RUN(out_of_range, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "storage"),
          "a view past its storage is refused");

    static char deep[20000];
    size_t n = 0;
    deep[n++] = '\x80';
    deep[n++] = 2;
    for (int i = 0; i < 5000; i++) deep[n++] = ']';
    for (int i = 0; i < 4999; i++) deep[n++] = 'a';
    deep[n++] = '.';
    CHECK(run(&arena, deep, n, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "nested deeper"), "depth bound");

    pt2_arena_free(&arena);
    if (!failures) printf("pickle: all passed\n");
    return failures != 0;
}
