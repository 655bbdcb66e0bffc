/* Symbolic sizes: parsing torch.export's sympy srepr, evaluating with Python semantics,
 * printing; and op schemas: defaults filled as PyTorch declares them. */
#include <stdio.h>
#include <string.h>

#include "core/graph/sym_expr.h"
#include "core/load/op_schema.h"

static int failures;
#define CHECK(cond, ...)                    \
    do {                                    \
        if (!(cond)) {                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);            \
            printf("\n");                   \
            failures++;                     \
        }                                   \
    } while (0)

static void check_expr(pt2_arena *arena, const char *srepr, int64_t s, int64_t expected, const char *text) {
    pt2_error err;
    pt2_error_clear(&err);
    pt2_sym_expr *e;
    if (pt2_sym_parse(arena, srepr, "test", &e, &err)) {
        CHECK(0, "parse %s: %s", srepr, err.message);
        return;
    }
    pt2_sym_binding binding = {"s35", s};
    int64_t value = 0;
    CHECK(pt2_sym_eval(e, &binding, 1, &value, &err) == PT2_OK && value == expected, "%s at s35=%lld gave %lld, expected %lld",
          srepr, (long long)s, (long long)value, (long long)expected);
    pt2_strbuf sb;
    pt2_strbuf_init(&sb);
    pt2_sym_format(e, &sb);
    CHECK(!strcmp(sb.data, text), "%s printed as '%s', expected '%s'", srepr, sb.data, text);
    pt2_strbuf_free(&sb);
}

int main(void) {
    pt2_arena arena;
    pt2_arena_init(&arena, 0);
    const char *s = "Symbol('s35', integer=True, positive=True)";
    char buf[512];
    check_expr(&arena, s, 100, 100, "s35");
    snprintf(buf, sizeof buf, "Add(FloorDiv(Add(%s, Integer(-1)), Integer(2)), Integer(1))", s);
    check_expr(&arena, buf, 100, 50, "(s35 - 1)//2 + 1"); /* a stride-2 conv's output length */
    check_expr(&arena, buf, 7, 4, "(s35 - 1)//2 + 1");
    snprintf(buf, sizeof buf, "Add(Mul(Integer(4), FloorDiv(Add(%s, Integer(-3)), Integer(2))), Integer(4))", s);
    check_expr(&arena, buf, 50, 96, "4*((s35 - 3)//2) + 4");
    snprintf(buf, sizeof buf, "PythonMod(Add(%s, Integer(-7)), Integer(5))", s);
    check_expr(&arena, buf, 3, 1, "(s35 - 7) % 5"); /* Python: -4 % 5 == 1 */
    snprintf(buf, sizeof buf, "Max(Integer(1), Mul(Integer(2), %s))", s);
    check_expr(&arena, buf, 9, 18, "max(1, 2*s35)");


    pt2_error err;
    pt2_error_clear(&err);
    pt2_sym_expr *e;
    CHECK(pt2_sym_parse(&arena, "Add(Symbol('s9'), Integer(1))", "t", &e, &err) == PT2_OK, "parse");
    int64_t v;
    CHECK(pt2_sym_eval(e, NULL, 0, &v, &err) == PT2_ERR_INPUT && strstr(err.message, "'s9'"), "unbound symbol named");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Frobnicate(Integer(1))", "t", &e, &err) == PT2_ERR_UNSUPPORTED, "unknown function");
    pt2_error_clear(&err);
    char deep[2000] = "";
    for (int i = 0; i < 100; i++) strcat(deep, "Add(");
    CHECK(pt2_sym_parse(&arena, deep, "t", &e, &err) == PT2_ERR_INPUT && strstr(err.message, "deeper"), "depth bound");

    /* Op schemas: what PyTorch declares, with defaults. */
    const pt2_op_schema *schema;
    pt2_error_clear(&err);
    CHECK(pt2_op_schema_find(&arena, "aten.conv1d.default", &schema, &err) == PT2_OK && schema, "conv1d schema");
    if (schema) {
        CHECK(schema->num_args == 7 && !strcmp(schema->args[3].name, "stride") &&
                  schema->args[3].default_value.kind == PT2_ARG_INTS && schema->args[3].default_value.count == 1 &&
                  schema->args[3].default_value.ints[0] == 1,
              "conv1d stride default [1]");
        CHECK(schema->args[2].optional && schema->args[2].default_value.kind == PT2_ARG_NONE, "bias=None");
    }
    CHECK(pt2_op_schema_find(&arena, "aten.gelu.default", &schema, &err) == PT2_OK && schema &&
              schema->args[1].keyword_only && !strcmp(schema->args[1].default_value.string, "none"),
          "gelu approximate=\"none\", keyword-only");
    CHECK(pt2_op_schema_find(&arena, "aten.layer_norm.default", &schema, &err) == PT2_OK && schema &&
              schema->args[4].default_value.kind == PT2_ARG_FLOAT && schema->args[4].default_value.float_value == 1e-5,
          "layer_norm eps 1e-05");
    CHECK(pt2_op_schema_find(&arena, "aten.not_an_op.default", &schema, &err) == PT2_OK && !schema, "unknown op");
    pt2_arena_free(&arena);
    if (!failures) printf("sym_expr and op_schema: all passed\n");
    return failures != 0;
}
