/* The allow-listed unpickler on hand-assembled pickles: plain data, memo references,
 * tensors through a storage resolver, and refusals (foreign globals, depth, bad lengths). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/load/pyobj.h"
#include "check.h"


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
    static const char rebuild_v3[] = "\x80\x02\x63torch._utils\n_rebuild_tensor_v3\n.";
    CHECK(RUN(rebuild_v3, &o, &err) == PT2_ERR_UNSUPPORTED && strstr(err.message, "not supported"),
          "a genuine but unsupported torch global is reported as unsupported");
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

    /* 100000 levels three ways: MARKs, tuples built inside out, and lists filled after being placed
     * in their parent (which would leave a stale depth if it were allowed). */
    static char huge[700000];
    n = 0;
    huge[n++] = '\x80';
    huge[n++] = 2;
    for (int i = 0; i < 100000; i++) huge[n++] = '(';
    huge[n++] = '.';
    CHECK(run(&arena, huge, n, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "nested deeper than 1000 levels"),
          "MARK depth bound");
    n = 2;
    huge[n++] = ')';
    for (int i = 0; i < 100000; i++) huge[n++] = '\x85';
    huge[n++] = '.';
    CHECK(run(&arena, huge, n, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "nested deeper than 1000 levels"),
          "tuple depth bound");
    n = 2;
    for (int i = 0; i < 2000; i++) {
        huge[n++] = ']';
        huge[n++] = 'r'; /* LONG_BINPUT i */
        memcpy(huge + n, &(uint32_t){(uint32_t)i}, 4);
        n += 4;
        if (i) huge[n++] = 'a'; /* list i-1 gets list i while list i is still empty */
        huge[n++] = '0';
        huge[n++] = 'j'; /* LONG_BINGET i, so list i is on top for the next APPEND */
        memcpy(huge + n, &(uint32_t){(uint32_t)i}, 4);
        n += 4;
    }
    huge[n++] = '.';
    CHECK(run(&arena, huge, n, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "after being placed"),
          "filling a list after placing it in its parent is refused");

    static const char self_cycle[] = "\x80\x02]q\x00h\x00" "a.";
    CHECK(RUN(self_cycle, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "cyclic"), "a list holding itself");
    static const char two_cycle[] = "\x80\x02]q\x00]q\x01" "a0h\x01h\x00" "a.";
    CHECK(RUN(two_cycle, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "cyclic"), "two lists holding each other");
    static const char big_memo[] = "\x80\x02Nr\x00\x00\x00\x40.";
    CHECK(RUN(big_memo, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "memo key"), "memo key bounded");
    static const char protocol1_list[] = "\x80\x02(K\x01l.";
    CHECK(RUN(protocol1_list, &o, &err) == PT2_ERR_UNSUPPORTED && strstr(err.message, "LIST") &&
              strstr(err.message, "byte 5"),
          "LIST refused by name and offset");
    static const char unknown[] = "\x80\x02\xf0.";
    CHECK(RUN(unknown, &o, &err) == PT2_ERR_UNSUPPORTED && strstr(err.message, "0xf0"), "unknown opcode");
    static const char short_string[] = "\x80\x02\x8c\x09" "abc.";
    CHECK(RUN(short_string, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "claims 9 bytes but only 4 remain"),
          "SHORT_BINUNICODE length checked");
    static const char wide_long[] = "\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.";
    CHECK(RUN(wide_long, &o, &err) == PT2_ERR_UNSUPPORTED, "LONG1 wider than 64 bits");
    static const char reduce_dtype[] = "\x80\x02\x63torch\nfloat32\n)R.";
    CHECK(RUN(reduce_dtype, &o, &err) == PT2_ERR_INPUT, "REDUCE on a non-callable");
    static const char no_resolver_storage[] =
        "\x80\x02(X\x07\x00\x00\x00storage\x63torch\nFloatStorage\nX\x01\x00\x00\x00\x31X\x03\x00\x00\x00" "cpuK\x06tQ.";
    CHECK(RUN(no_resolver_storage, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "bad storage"),
          "the resolver's refusal is passed on");

    /* Numbers, strings, bytes and the state-dict shapes torch writes. */
    static const char values[] =
        "\x80\x02}q\x00(X\x01\x00\x00\x00n\x8a\x02\x00\xffX\x01\x00\x00\x00m\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"
        "X\x01\x00\x00\x00iJ\xfe\xff\xff\xffX\x01\x00\x00\x00t\x88X\x01\x00\x00\x00z"
        "\x63_codecs\nencode\nX\x05\x00\x00\x00" "a\xc3\xbf\xc2\x80X\x06\x00\x00\x00latin1\x86R"
        "X\x01\x00\x00\x00s\x63torch\nSize\nK\x02K\x03\x86\x85R"
        "X\x01\x00\x00\x00" "d\x63torch\nfloat16\n"
        "X\x01\x00\x00\x00" "e\x63\x62uiltins\nset\n]q\x01(K\x01K\x02" "e\x85R"
        "X\x01\x00\x00\x00u\x8c\x02\xc3\xa9" "u.";
    o = NULL;
    CHECK(RUN(values, &o, &err) == PT2_OK, err.message);
    if (o) {
        const pt2_pyobj *v;
        CHECK((v = pt2_pyobj_dict_get(o, "n")) && v->int_value == -256, "negative LONG1");
        CHECK((v = pt2_pyobj_dict_get(o, "m")) && v->int_value == INT64_MAX, "8-byte LONG1");
        CHECK((v = pt2_pyobj_dict_get(o, "i")) && v->int_value == -2, "negative BININT");
        CHECK((v = pt2_pyobj_dict_get(o, "t")) && v->kind == PT2_PY_BOOL && v->int_value == 1, "True");
        CHECK((v = pt2_pyobj_dict_get(o, "z")) && v->kind == PT2_PY_BYTES && v->length == 3 &&
                  !memcmp(v->string, "a\xff\x80", 3),
              "bytes via _codecs.encode latin1");
        CHECK((v = pt2_pyobj_dict_get(o, "s")) && v->kind == PT2_PY_SIZE && v->count == 2 && v->items[1]->int_value == 3,
              "torch.Size");
        CHECK((v = pt2_pyobj_dict_get(o, "d")) && v->kind == PT2_PY_DTYPE && v->dtype == PT2_DTYPE_FLOAT16, "dtype");
        CHECK((v = pt2_pyobj_dict_get(o, "e")) && v->kind == PT2_PY_SET && v->count == 2, "set");
        CHECK((v = pt2_pyobj_dict_get(o, "u")) && v->kind == PT2_PY_STRING && !strcmp(v->string, "\xc3\xa9"),
              "SHORT_BINUNICODE");
    }
    static const char not_latin1[] = "\x80\x02\x63_codecs\nencode\nX\x03\x00\x00\x00\xe2\x82\xacX\x06\x00\x00\x00latin1\x86R.";
    CHECK(RUN(not_latin1, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "latin1"), "latin1 range checked");

    /* OrderedDict() with a parameter inside, then BUILD with {'_metadata': ...} as torch writes it. */
    static const char state_dict[] =
        "\x80\x02\x63\x63ollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00w"
        "\x63torch._utils\n_rebuild_parameter\n"
        "\x63torch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
        "X\x01\x00\x00\x00\x30X\x03\x00\x00\x00" "cpuK\x06tQK\x00K\x06\x85K\x01\x85\x89h\x00)RtR"
        "\x88h\x00)R\x87R"
        "u}X\t\x00\x00\x00_metadata}sb.";
    o = NULL;
    CHECK(RUN(state_dict, &o, &err) == PT2_OK, err.message);
    if (o) {
        const pt2_pyobj *w = pt2_pyobj_dict_get(o, "w");
        CHECK(o->kind == PT2_PY_DICT && o->count == 1, "BUILD state dropped");
        CHECK(w && w->kind == PT2_PY_TENSOR && w->is_parameter && w->requires_grad && w->tensor.shape[0] == 6 &&
                  ((float *)pt2_tensor_data(&w->tensor))[5] == 6.0f,
              "parameter");
    }
    static const char stateful_parameter[] =
        "\x80\x02\x63torch._utils\n_rebuild_parameter_with_state\n("
        "\x63torch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
        "X\x01\x00\x00\x00\x30X\x03\x00\x00\x00" "cpuK\x06tQK\x00K\x06\x85K\x01\x85\x89}tR"
        "\x88}}X\x01\x00\x00\x00xK\x01stR.";
    CHECK(RUN(stateful_parameter, &o, &err) == PT2_ERR_UNSUPPORTED && strstr(err.message, "state"),
          "Parameter attribute state refused");

    /* torch.export's sample inputs: _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, args,
     * {'_specialize_on': {}}) is a plain tensor (the attributes dropped); another type is refused. */
#define FROM_TYPE(type)                                                                                            \
    "\x80\x02\x63torch._tensor\n_rebuild_from_type_v2\n(\x63torch._utils\n_rebuild_tensor_v2\n" type           \
    "((X\x07\x00\x00\x00storage\x63torch\nFloatStorage\nX\x01\x00\x00\x00\x30X\x03\x00\x00\x00"              \
    "cpuK\x06tQK\x00K\x06\x85K\x01\x85\x89}t}X\x0e\x00\x00\x00_specialize_on}stR."
    static const char from_type[] = FROM_TYPE("\x63torch\nTensor\n");
    o = NULL;
    CHECK(RUN(from_type, &o, &err) == PT2_OK, err.message);
    CHECK(o && o->kind == PT2_PY_TENSOR && !o->is_parameter && o->tensor.rank == 1 && o->tensor.shape[0] == 6 &&
              ((float *)pt2_tensor_data(&o->tensor))[5] == 6.0f,
          "_rebuild_from_type_v2 on torch.Tensor gives the tensor");
    static const char from_other_type[] = FROM_TYPE("\x63torch.nn.parameter\nParameter\n");
    CHECK(RUN(from_other_type, &o, &err) == PT2_ERR_INPUT && strstr(err.message, "_rebuild_from_type_v2"),
          "_rebuild_from_type_v2 of another type refused");
#undef FROM_TYPE

    pt2_arena_free(&arena);
    if (!failures) printf("pickle: all passed\n");
    return failures != 0;
}
