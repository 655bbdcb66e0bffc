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

    /* Float scales (F.interpolate with scale_factor=0.5) and the torch functions around them. */
    snprintf(buf, sizeof buf,
             "TruncToInt(Mul(Float('0.5', precision=53), ToFloat(Add(Mul(Integer(4), %s), Integer(6)))))", s);
    check_expr(&arena, buf, 10, 23, "int(0.5*float(4*s35 + 6))");
    snprintf(buf, sizeof buf, "Max(Integer(1), TruncToInt(Mul(Float('0.5', precision=53), ToFloat(%s))))", s);
    check_expr(&arena, buf, 7, 3, "max(1, int(0.5*float(s35)))");
    snprintf(buf, sizeof buf, "CeilToInt(IntTrueDiv(%s, Integer(3)))", s);
    check_expr(&arena, buf, 10, 4, "ceil(s35/3)");
    snprintf(buf, sizeof buf, "FloorToInt(IntTrueDiv(%s, Integer(3)))", s);
    check_expr(&arena, buf, 10, 3, "floor(s35/3)");
    snprintf(buf, sizeof buf, "RoundToInt(Mul(Float('0.5', precision=53), ToFloat(%s)))", s);
    check_expr(&arena, buf, 5, 2, "round(0.5*float(s35))"); /* half to even, as Python's round() */
    check_expr(&arena, buf, 7, 4, "round(0.5*float(s35))");
    snprintf(buf, sizeof buf, "CeilDiv(%s, Integer(4))", s);
    check_expr(&arena, buf, 9, 3, "ceil_div(s35, 4)");
    snprintf(buf, sizeof buf, "CleanDiv(Mul(Integer(2), %s), Integer(2))", s);
    check_expr(&arena, buf, 9, 9, "2*s35//2");
    snprintf(buf, sizeof buf, "PowByNatural(%s, Integer(2))", s);
    check_expr(&arena, buf, 9, 81, "s35**2");
    snprintf(buf, sizeof buf, "Mul(Rational(4, 1), %s)", s);
    check_expr(&arena, buf, 9, 36, "4*s35");
    snprintf(buf, sizeof buf, "Add(%s, Mul(Integer(-2), FloorDiv(%s, Integer(2))))", s, s);
    check_expr(&arena, buf, 9, 1, "s35 - 2*(s35//2)");
    snprintf(buf, sizeof buf, "Mul(Integer(-1), FloorDiv(%s, Integer(2)))", s);
    check_expr(&arena, buf, 9, -4, "-(s35//2)");
    snprintf(buf, sizeof buf, "FloorDiv(Integer(-7), %s)", s);
    check_expr(&arena, buf, 2, -4, "-7//s35"); /* toward -inf */
    snprintf(buf, sizeof buf, "Mod(Integer(7), Mul(Integer(-1), %s))", s);
    check_expr(&arena, buf, 3, -2, "7 % (-s35)"); /* sign of the divisor */
    /* Relations and logic (SymBool values, runtime assertions). */
    snprintf(buf, sizeof buf, "StrictLessThan(%s, Integer(3))", s);
    check_expr(&arena, buf, 2, 1, "s35 < 3");
    snprintf(buf, sizeof buf, "And(GreaterThan(%s, Integer(2)), Unequality(%s, Integer(5)))", s, s);
    check_expr(&arena, buf, 5, 0, "s35 >= 2 and s35 != 5");
    snprintf(buf, sizeof buf, "And(Or(Equality(%s, Integer(1)), StrictGreaterThan(%s, Integer(4))), Not(LessThan(%s, Integer(8))))", s, s, s);
    check_expr(&arena, buf, 9, 1, "(s35 == 1 or s35 > 4) and not s35 <= 8");
    check_expr(&arena, "true", 1, 1, "True");
    check_expr(&arena, "false", 1, 0, "False");
    /* Writers before srepr gave str(expr): a bare symbol or integer. */
    check_expr(&arena, "s35", 12, 12, "s35");
    check_expr(&arena, "17", 12, 17, "17");


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
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Integer(99999999999999999999)", "t", &e, &err) == PT2_ERR_INPUT, "integer beyond 64 bits");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Add(Integer(1), Integer(2)", "t", &e, &err) == PT2_ERR_INPUT &&
              strstr(err.message, "Add(Integer(1)"),
          "an unclosed call is refused, quoting the text");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Integer(1) junk", "t", &e, &err) == PT2_ERR_INPUT, "trailing text refused");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Mul(Rational(1, 2), Symbol('s1'))", "t", &e, &err) == PT2_ERR_UNSUPPORTED, "a fraction refused");
    pt2_sym_binding big = {"s35", INT64_MAX / 2 + 1};
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Mul(Integer(2), Symbol('s35'))", "t", &e, &err) == PT2_OK &&
              pt2_sym_eval(e, &big, 1, &v, &err) == PT2_ERR_INPUT && strstr(err.message, "overflow"),
          "overflow detected");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "FloorDiv(Integer(3), Add(Symbol('s35'), Integer(-2)))", "t", &e, &err) == PT2_OK,
          "parse a division");
    pt2_sym_binding two = {"s35", 2};
    CHECK(pt2_sym_eval(e, &two, 1, &v, &err) == PT2_ERR_INPUT && strstr(err.message, "division by zero"),
          "division by zero detected");
    pt2_error_clear(&err);
    CHECK(pt2_sym_parse(&arena, "Mul(Float('0.5', precision=53), ToFloat(Symbol('s35')))", "t", &e, &err) == PT2_OK,
          "parse a float product");
    pt2_sym_binding three = {"s35", 3};
    CHECK(pt2_sym_eval(e, &three, 1, &v, &err) == PT2_ERR_INPUT && strstr(err.message, "whole number"),
          "a fractional size is refused");
    pt2_sym_binding four = {"s35", 4};
    pt2_error_clear(&err);
    CHECK(pt2_sym_eval(e, &four, 1, &v, &err) == PT2_OK && v == 2, "a whole float size is accepted");
    const char *symbols[4];
    CHECK(pt2_sym_parse(&arena, "Add(Symbol('s1'), Mul(Symbol('s2'), Symbol('s1')))", "t", &e, &err) == PT2_OK &&
              pt2_sym_symbols(e, symbols, 4) == 2 && !strcmp(symbols[0], "s1") && !strcmp(symbols[1], "s2"),
          "distinct symbols collected");

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
