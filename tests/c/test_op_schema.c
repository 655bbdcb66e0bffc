/* Op schemas: every generated schema parses, the table is sorted for bisection, and the
 * defaults come out as PyTorch declares them (sizes broadcast to SymInt[N], strings, floats,
 * keyword-only arguments, alias annotations with spaces). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/load/op_schema.h"
#include "check.h"

static const pt2_schema_arg *arg_named(const pt2_op_schema *s, const char *name) {
    for (size_t i = 0; s && i < s->num_args; i++)
        if (!strcmp(s->args[i].name, name)) return &s->args[i];
    return NULL;
}

static const pt2_op_schema *find(pt2_arena *arena, const char *target) {
    pt2_error err;
    pt2_error_clear(&err);
    const pt2_op_schema *s = NULL;
    if (pt2_op_schema_find(arena, target, &s, &err) != PT2_OK) {
        printf("FAIL %s: %s\n", target, err.message);
        failures++;
    }
    if (!s) {
        printf("FAIL no schema for %s\n", target);
        failures++;
    }
    return s;
}

static int ints_are(const pt2_arg *a, size_t count, int64_t v0, int64_t v1) {
    if (a->kind != PT2_ARG_INTS || a->count != count) return 0;
    if (count > 0 && a->ints[0] != v0) return 0;
    if (count > 1 && a->ints[1] != v1) return 0;
    return 1;
}

static int is_identifier(const char *s) {
    if (!s[0] || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

static void check_table(pt2_arena *arena) {
    size_t count = pt2_op_schema_count();
    CHECK(count > 300, "the generated table has the listed ops");
    const char *previous = NULL;
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        const char *text;
        const char *target = pt2_op_schema_entry(i, &text);
        if (previous && strcmp(previous, target) >= 0) {
            printf("FAIL table not sorted at %s\n", target);
            failures++;
        }
        previous = target;
        pt2_op_schema s;
        pt2_error err;
        pt2_error_clear(&err);
        if (pt2_op_schema_parse(arena, target, text, &s, &err) != PT2_OK) {
            printf("FAIL %s: %s\n", target, err.message);
            bad++;
            continue;
        }
        for (size_t a = 0; a < s.num_args; a++)
            if (!is_identifier(s.args[a].name) || !is_identifier(s.args[a].type)) {
                printf("FAIL %s: argument %zu parsed as type '%s' name '%s'\n", target, a, s.args[a].type,
                       s.args[a].name);
                bad++;
            }
    }
    failures += (int)bad;
    CHECK(pt2_op_schema_entry(count, NULL) == NULL, "past the end is NULL");
}

static void check_defaults(pt2_arena *arena) {
    const pt2_op_schema *s = find(arena, "aten.conv1d.default");
    const pt2_schema_arg *a;
    if (s) {
        CHECK(s->num_args == 7 && s->num_returns == 1, "conv1d has 7 arguments and 1 return");
        CHECK((a = arg_named(s, "bias")) && a->optional && a->has_default && a->default_value.kind == PT2_ARG_NONE,
              "conv1d bias=None");
        CHECK((a = arg_named(s, "stride")) && a->is_list && a->list_size == 1 && ints_are(&a->default_value, 1, 1, 0),
              "conv1d stride=[1] (a scalar default broadcast to SymInt[1])");
        CHECK((a = arg_named(s, "padding")) && ints_are(&a->default_value, 1, 0, 0), "conv1d padding=[0]");
        CHECK((a = arg_named(s, "groups")) && a->default_value.kind == PT2_ARG_INT && a->default_value.int_value == 1,
              "conv1d groups=1");
        CHECK(!strcmp(s->args[0].type, "Tensor") && !s->args[0].has_default, "conv1d input has no default");
    }
    if ((s = find(arena, "aten.conv2d.default")))
        CHECK((a = arg_named(s, "dilation")) && ints_are(&a->default_value, 2, 1, 1), "conv2d dilation=[1, 1]");
    if ((s = find(arena, "aten.conv1d.padding")))
        CHECK((a = arg_named(s, "padding")) && a->default_value.kind == PT2_ARG_STRING &&
                  !strcmp(a->default_value.string, "valid"),
              "conv1d.padding padding=\"valid\"");
    if ((s = find(arena, "aten.gelu.default")))
        CHECK((a = arg_named(s, "approximate")) && a->keyword_only && a->default_value.kind == PT2_ARG_STRING &&
                  !strcmp(a->default_value.string, "none"),
              "gelu approximate=\"none\", keyword-only");
    if ((s = find(arena, "aten.layer_norm.default"))) {
        CHECK((a = arg_named(s, "eps")) && a->default_value.kind == PT2_ARG_FLOAT && a->default_value.float_value == 1e-5,
              "layer_norm eps=1e-05");
        CHECK((a = arg_named(s, "cudnn_enable")) && a->default_value.kind == PT2_ARG_BOOL && a->default_value.int_value == 1,
              "layer_norm cudnn_enable=True");
        CHECK((a = arg_named(s, "normalized_shape")) && a->is_list && !a->has_default, "layer_norm normalized_shape");
    }
    if ((s = find(arena, "aten.split.Tensor"))) {
        /* "Tensor(a -> *) self": the alias annotation has spaces. */
        CHECK(s->num_args == 3 && !strcmp(s->args[0].name, "self") && !strcmp(s->args[0].type, "Tensor"),
              "split.Tensor self through the alias annotation");
        CHECK((a = arg_named(s, "dim")) && a->default_value.kind == PT2_ARG_INT && a->default_value.int_value == 0,
              "split dim=0");
    }
    if ((s = find(arena, "aten.max_pool1d.default")))
        CHECK((a = arg_named(s, "stride")) && a->default_value.kind == PT2_ARG_INTS && a->default_value.count == 0,
              "max_pool1d stride=[] (empty: the kernel size)");
    if ((s = find(arena, "aten.contiguous.default")))
        CHECK((a = arg_named(s, "memory_format")) && a->keyword_only && a->default_value.kind == PT2_ARG_MEMORY_FORMAT &&
                  a->default_value.int_value == 1,
              "contiguous memory_format=contiguous_format, in the file's numbering");
    if ((s = find(arena, "aten._to_copy.default")))
        CHECK((a = arg_named(s, "non_blocking")) && a->keyword_only && a->default_value.kind == PT2_ARG_BOOL &&
                  a->default_value.int_value == 0,
              "_to_copy non_blocking=False, keyword-only");
    if ((s = find(arena, "aten.scaled_dot_product_attention.default"))) {
        CHECK((a = arg_named(s, "dropout_p")) && a->default_value.kind == PT2_ARG_FLOAT && a->default_value.float_value == 0,
              "sdpa dropout_p=0.");
        CHECK((a = arg_named(s, "scale")) && a->keyword_only && a->optional && a->default_value.kind == PT2_ARG_NONE,
              "sdpa scale=None, keyword-only");
    }
    if ((s = find(arena, "aten.leaky_relu.default")))
        CHECK((a = arg_named(s, "negative_slope")) && a->default_value.kind == PT2_ARG_FLOAT &&
                  a->default_value.float_value == 0.01,
              "leaky_relu negative_slope=0.01");
    if ((s = find(arena, "aten.native_layer_norm.default"))) CHECK(s->num_returns == 3, "native_layer_norm returns 3");
    if ((s = find(arena, "aten._assert_scalar.default"))) CHECK(s->num_returns == 0, "_assert_scalar returns ()");
}

static void check_parser(pt2_arena *arena) {
    pt2_op_schema s;
    pt2_error err;
    pt2_error_clear(&err);
    const char *text = "x::f(Tensor(a -> *) self, int[2] k=3, SymInt[]? sizes=None, *, float eps=1e-05, "
                       "str mode=\"a,b\", bool[3] mask=[True, False, True]) -> (Tensor, Tensor(a))";
    CHECK(pt2_op_schema_parse(arena, "x.f.default", text, &s, &err) == PT2_OK, "custom schema parses");
    if (!err.status) {
        CHECK(s.num_args == 6 && s.num_returns == 2, "6 arguments, 2 returns");
        CHECK(s.args[5].default_value.kind == PT2_ARG_BOOLS && s.args[5].default_value.count == 3 &&
                  s.args[5].default_value.ints[0] == 1 && s.args[5].default_value.ints[1] == 0,
              "bool[3] mask=[True, False, True]");
        CHECK(ints_are(&s.args[1].default_value, 2, 3, 3), "k=3 broadcast to [3, 3]");
        CHECK(s.args[2].optional && s.args[2].is_list && s.args[2].list_size == 0, "SymInt[]? sizes");
        CHECK(s.args[3].keyword_only && !s.args[2].keyword_only, "keyword-only after '*'");
        CHECK(s.args[4].default_value.kind == PT2_ARG_STRING && !strcmp(s.args[4].default_value.string, "a,b"),
              "a quoted default keeps its comma");
    }
    pt2_error_clear(&err);
    CHECK(pt2_op_schema_parse(arena, "x.g.default", "x::g(Tensor self", &s, &err) != PT2_OK, "unclosed schema refused");

    pt2_op_schema_cache cache = {0};
    const pt2_op_schema *first = NULL, *second = NULL;
    pt2_error_clear(&err);
    CHECK(pt2_op_schema_lookup(arena, &cache, "aten.relu.default", &first, &err) == PT2_OK && first,
          "cached lookup finds relu");
    CHECK(pt2_op_schema_lookup(arena, &cache, "aten.relu.default", &second, &err) == PT2_OK && second == first,
          "a schema is parsed once per cache");
    CHECK(pt2_op_schema_lookup(arena, &cache, "aten.no_such_op.default", &second, &err) == PT2_OK && !second,
          "an unknown op has no schema");
    CHECK(pt2_op_schema_lookup(arena, &cache, "_operator.getitem", &second, &err) == PT2_OK && !second,
          "python operators have no schema");
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    check_table(&arena);
    check_defaults(&arena);
    check_parser(&arena);
    pt2_arena_free(&arena);
    if (!failures) printf("op_schema: all passed (%zu schemas)\n", pt2_op_schema_count());
    return failures != 0;
}
