#include "sym_expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/python_int.h"

typedef struct sym_parser {
    const char *text;
    size_t pos;
    const char *what;
    pt2_arena *arena;
    pt2_error *err;
} sym_parser;

static pt2_status sym_error(sym_parser *p, const char *expected) {
    return pt2_fail(p->err, PT2_ERR_INPUT, "symbolic size of %s: cannot parse \"%.120s\" at character %zu: expected %s",
                    p->what, p->text, p->pos, expected);
}

static void skip_space(sym_parser *p) {
    while (p->text[p->pos] == ' ') p->pos++;
}

static const struct {
    const char *name;
    pt2_sym_kind kind;
    int min_args, max_args; /* max -1: any */
} functions[] = {
    {"Add", PT2_SYM_ADD, 1, -1},
    {"Mul", PT2_SYM_MUL, 1, -1},
    {"Pow", PT2_SYM_POW, 2, 2},
    {"PowByNatural", PT2_SYM_POW, 2, 2},
    {"FloatPow", PT2_SYM_POW, 2, 2},
    {"FloorDiv", PT2_SYM_FLOOR_DIV, 2, 2},
    {"CleanDiv", PT2_SYM_FLOOR_DIV, 2, 2}, /* exact division: floor gives the same */
    {"IntTrueDiv", PT2_SYM_TRUE_DIV, 2, 2},
    {"FloatTrueDiv", PT2_SYM_TRUE_DIV, 2, 2},
    {"Mod", PT2_SYM_MOD, 2, 2},
    {"PythonMod", PT2_SYM_MOD, 2, 2},
    {"CeilDiv", PT2_SYM_CEIL_DIV, 2, 2},
    {"Max", PT2_SYM_MAX, 1, -1},
    {"Min", PT2_SYM_MIN, 1, -1},
    {"Eq", PT2_SYM_EQ, 2, 2},
    {"Equality", PT2_SYM_EQ, 2, 2},
    {"Ne", PT2_SYM_NE, 2, 2},
    {"Unequality", PT2_SYM_NE, 2, 2},
    {"StrictLessThan", PT2_SYM_LT, 2, 2},
    {"LessThan", PT2_SYM_LE, 2, 2},
    {"StrictGreaterThan", PT2_SYM_GT, 2, 2},
    {"GreaterThan", PT2_SYM_GE, 2, 2},
    {"Lt", PT2_SYM_LT, 2, 2},
    {"Le", PT2_SYM_LE, 2, 2},
    {"Gt", PT2_SYM_GT, 2, 2},
    {"Ge", PT2_SYM_GE, 2, 2},
    {"And", PT2_SYM_AND, 1, -1},
    {"Or", PT2_SYM_OR, 1, -1},
    {"Not", PT2_SYM_NOT, 1, 1},
    {"ToFloat", PT2_SYM_TO_FLOAT, 1, 1},
    {"TruncToInt", PT2_SYM_TRUNC_TO_INT, 1, 1},
    {"FloorToInt", PT2_SYM_FLOOR_TO_INT, 1, 1},
    {"CeilToInt", PT2_SYM_CEIL_TO_INT, 1, 1},
    {"RoundToInt", PT2_SYM_ROUND_TO_INT, 1, 1},
};

static pt2_sym_expr *new_node(sym_parser *p, pt2_sym_kind kind) {
    pt2_sym_expr *e = pt2_arena_alloc(p->arena, sizeof *e, p->err);
    if (e) e->kind = kind;
    return e;
}

static pt2_status parse_integer(sym_parser *p, int64_t *out) {
    skip_space(p);
    const char *start = p->text + p->pos;
    char *end;
    errno = 0;
    long long v = strtoll(start, &end, 10);
    if (end == start) return sym_error(p, "an integer");
    if (errno == ERANGE) return sym_error(p, "an integer within 64 bits");
    p->pos += (size_t)(end - start);
    *out = v;
    return PT2_OK;
}

static pt2_status parse_expr(sym_parser *p, int depth, pt2_sym_expr **out);

/* Skips keyword assumptions such as ", integer=True, positive=True" up to the closing ')'. */
static pt2_status skip_to_close(sym_parser *p) {
    int level = 0;
    while (p->text[p->pos]) {
        char c = p->text[p->pos];
        if (c == '(') level++;
        if (c == ')') {
            if (level == 0) {
                p->pos++;
                return PT2_OK;
            }
            level--;
        }
        p->pos++;
    }
    return sym_error(p, "')'");
}

static pt2_status parse_expr(sym_parser *p, int depth, pt2_sym_expr **out) {
    if (depth > PT2_SYM_MAX_DEPTH)
        return pt2_fail(p->err, PT2_ERR_INPUT, "symbolic size of %s is nested deeper than %d levels", p->what,
                        PT2_SYM_MAX_DEPTH);
    skip_space(p);
    char c = p->text[p->pos];
    if (c == '-' || isdigit((unsigned char)c)) {
        pt2_sym_expr *e = new_node(p, PT2_SYM_INTEGER);
        if (!e) return p->err->status;
        *out = e;
        return parse_integer(p, &e->value);
    }
    size_t start = p->pos;
    while (isalnum((unsigned char)p->text[p->pos]) || p->text[p->pos] == '_') p->pos++;
    size_t name_length = p->pos - start;
    if (!name_length) return sym_error(p, "a name or an integer");
    const char *name = p->text + start;
#define NAME_IS(s) (name_length == strlen(s) && !strncmp(name, s, name_length))
    if (p->text[p->pos] != '(') {
        if (NAME_IS("true") || NAME_IS("True") || NAME_IS("false") || NAME_IS("False")) {
            *out = new_node(p, (name[0] == 't' || name[0] == 'T') ? PT2_SYM_TRUE : PT2_SYM_FALSE);
            return *out ? PT2_OK : p->err->status;
        }
        /* Writers before srepr (torch 2.2/2.3) gave bare symbol names. */
        pt2_sym_expr *e = new_node(p, PT2_SYM_SYMBOL);
        if (!e || !(e->symbol = pt2_arena_strndup(p->arena, name, name_length, p->err))) return p->err->status;
        *out = e;
        return PT2_OK;
    }
    p->pos++; /* '(' */
    skip_space(p);
    if (NAME_IS("Symbol")) {
        char quote = p->text[p->pos];
        if (quote != '\'' && quote != '"') return sym_error(p, "a quoted symbol name");
        const char *begin = p->text + p->pos + 1;
        const char *end = strchr(begin, quote);
        if (!end) return sym_error(p, "a closing quote");
        pt2_sym_expr *e = new_node(p, PT2_SYM_SYMBOL);
        if (!e || !(e->symbol = pt2_arena_strndup(p->arena, begin, (size_t)(end - begin), p->err)))
            return p->err->status;
        p->pos = (size_t)(end - p->text) + 1;
        *out = e;
        return skip_to_close(p);
    }
    if (NAME_IS("Integer")) {
        pt2_sym_expr *e = new_node(p, PT2_SYM_INTEGER);
        if (!e) return p->err->status;
        pt2_status st = parse_integer(p, &e->value);
        if (st) return st;
        *out = e;
        skip_space(p);
        if (p->text[p->pos] != ')') return sym_error(p, "')'");
        p->pos++;
        return PT2_OK;
    }
    if (NAME_IS("Float")) {
        /* Float('0.5', precision=53) */
        char quote = p->text[p->pos];
        int quoted = quote == '\'' || quote == '"';
        const char *start = p->text + p->pos + quoted;
        char *end;
        double d = strtod(start, &end);
        if (end == start || (quoted && *end != quote)) return sym_error(p, "a float literal");
        pt2_sym_expr *e = new_node(p, PT2_SYM_FLOAT);
        if (!e) return p->err->status;
        e->float_value = d;
        p->pos = (size_t)(end - p->text) + (size_t)quoted;
        *out = e;
        return skip_to_close(p);
    }
    if (NAME_IS("Identity")) {
        pt2_status st = parse_expr(p, depth + 1, out);
        if (st) return st;
        skip_space(p);
        if (p->text[p->pos] != ')') return sym_error(p, "')'");
        p->pos++;
        return PT2_OK;
    }
    if (NAME_IS("Rational")) {
        int64_t numerator = 0, denominator = 1;
        pt2_status st = parse_integer(p, &numerator);
        if (st) return st;
        skip_space(p);
        if (p->text[p->pos++] != ',') return sym_error(p, "','");
        if ((st = parse_integer(p, &denominator))) return st;
        if (denominator != 1)
            return pt2_fail(p->err, PT2_ERR_UNSUPPORTED, "symbolic size of %s uses the fraction %lld/%lld", p->what,
                            (long long)numerator, (long long)denominator);
        pt2_sym_expr *e = new_node(p, PT2_SYM_INTEGER);
        if (!e) return p->err->status;
        e->value = numerator;
        *out = e;
        return skip_to_close(p);
    }
    for (size_t f = 0; f < sizeof functions / sizeof functions[0]; f++) {
        if (!NAME_IS(functions[f].name)) continue;
        pt2_sym_expr *args[64];
        size_t count = 0;
        for (;;) {
            skip_space(p);
            if (p->text[p->pos] == ')') {
                p->pos++;
                break;
            }
            if (count == 64) return sym_error(p, "at most 64 operands");
            pt2_status st = parse_expr(p, depth + 1, &args[count++]);
            if (st) return st;
            skip_space(p);
            if (p->text[p->pos] == ',') p->pos++;
            else if (p->text[p->pos] != ')') return sym_error(p, "',' or ')'");
        }
        if ((int)count < functions[f].min_args || (functions[f].max_args >= 0 && (int)count > functions[f].max_args))
            return sym_error(p, "the right number of operands");
        pt2_sym_expr *e = new_node(p, functions[f].kind);
        if (!e) return p->err->status;
        e->count = count;
        e->args = pt2_arena_alloc_array(p->arena, count, sizeof *e->args, p->err);
        if (!e->args) return p->err->status;
        memcpy(e->args, args, count * sizeof *args);
        *out = e;
        return PT2_OK;
    }
    return pt2_fail(p->err, PT2_ERR_UNSUPPORTED, "symbolic size of %s uses the function '%.*s', which pt2returnn does not know",
                    p->what, (int)name_length, name);
#undef NAME_IS
}

pt2_status pt2_sym_parse(pt2_arena *arena, const char *srepr, const char *what, pt2_sym_expr **out, pt2_error *err) {
    sym_parser p = {srepr, 0, what ? what : "a value", arena, err};
    pt2_status st = parse_expr(&p, 0, out);
    if (st) return st;
    skip_space(&p);
    if (p.text[p.pos]) return sym_error(&p, "the end of the expression");
    return PT2_OK;
}

/* A value during evaluation: sizes are integers, but a float scale can enter and leave
 * through ToFloat / TruncToInt. Mixed operands give a float, as in sympy. */
typedef struct sym_number {
    int is_float;
    int64_t i;
    double f;
} sym_number;

static double as_double(sym_number n) { return n.is_float ? n.f : (double)n.i; }

static sym_number make_int(int64_t i) {
    sym_number n = {0, i, 0};
    return n;
}

static sym_number make_float(double f) {
    sym_number n = {1, 0, f};
    return n;
}

/* Float to integer, refusing what an int64 cannot hold (NaN, infinities, huge values). */
static pt2_status float_to_int(double f, int64_t *out, pt2_error *err) {
    if (!(f >= -9.2e18 && f <= 9.2e18))
        return pt2_fail(err, PT2_ERR_INPUT, "a symbolic size converts %g to an integer", f);
    *out = (int64_t)f;
    return PT2_OK;
}

static pt2_status binary(pt2_sym_kind kind, sym_number a, sym_number b, sym_number *out, pt2_error *err) {
    int is_float = a.is_float || b.is_float;
    double x = as_double(a), y = as_double(b);
    int64_t r = 0;
    switch (kind) {
    case PT2_SYM_ADD:
        if (is_float) break;
        if (__builtin_add_overflow(a.i, b.i, &r)) goto overflow;
        *out = make_int(r);
        return PT2_OK;
    case PT2_SYM_MUL:
        if (is_float) break;
        if (__builtin_mul_overflow(a.i, b.i, &r)) goto overflow;
        *out = make_int(r);
        return PT2_OK;
    case PT2_SYM_POW:
        if (is_float) break;
        if (b.i < 0) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "negative integer power in a symbolic size");
        if (a.i == 0 || a.i == 1) {
            r = b.i == 0 ? 1 : a.i;
        } else if (a.i == -1) {
            r = (b.i % 2) ? -1 : 1;
        } else {
            r = 1; /* |a| >= 2 overflows within 63 steps, so the loop is short */
            for (int64_t k = 0; k < b.i; k++)
                if (__builtin_mul_overflow(r, a.i, &r)) goto overflow;
        }
        *out = make_int(r);
        return PT2_OK;
    case PT2_SYM_FLOOR_DIV:
    case PT2_SYM_MOD:
    case PT2_SYM_CEIL_DIV:
        if (is_float ? y == 0 : b.i == 0) return pt2_fail(err, PT2_ERR_INPUT, "division by zero in a symbolic size");
        if (is_float) break;
        if (a.i == INT64_MIN && b.i == -1) goto overflow;
        if (kind == PT2_SYM_FLOOR_DIV) r = pt2_floor_div(a.i, b.i);
        else if (kind == PT2_SYM_MOD) r = pt2_floor_mod(a.i, b.i);
        else r = -pt2_floor_div(-a.i, b.i);
        *out = make_int(r);
        return PT2_OK;
    case PT2_SYM_TRUE_DIV:
        if (y == 0) return pt2_fail(err, PT2_ERR_INPUT, "division by zero in a symbolic size");
        *out = make_float(x / y);
        return PT2_OK;
    case PT2_SYM_MAX:
    case PT2_SYM_MIN: {
        int take_a = kind == PT2_SYM_MAX ? (is_float ? x >= y : a.i >= b.i) : (is_float ? x <= y : a.i <= b.i);
        *out = take_a ? a : b;
        return PT2_OK;
    }
    case PT2_SYM_EQ: *out = make_int(is_float ? x == y : a.i == b.i); return PT2_OK;
    case PT2_SYM_NE: *out = make_int(is_float ? x != y : a.i != b.i); return PT2_OK;
    case PT2_SYM_LT: *out = make_int(is_float ? x < y : a.i < b.i); return PT2_OK;
    case PT2_SYM_LE: *out = make_int(is_float ? x <= y : a.i <= b.i); return PT2_OK;
    case PT2_SYM_GT: *out = make_int(is_float ? x > y : a.i > b.i); return PT2_OK;
    case PT2_SYM_GE: *out = make_int(is_float ? x >= y : a.i >= b.i); return PT2_OK;
    case PT2_SYM_AND: *out = make_int((a.is_float ? x != 0 : a.i != 0) && (b.is_float ? y != 0 : b.i != 0)); return PT2_OK;
    case PT2_SYM_OR: *out = make_int((a.is_float ? x != 0 : a.i != 0) || (b.is_float ? y != 0 : b.i != 0)); return PT2_OK;
    default: return pt2_fail(err, PT2_ERR_INTERNAL, "symbolic operation %d is not binary", (int)kind);
    }
    /* Float forms of the arithmetic operations. */
    switch (kind) {
    case PT2_SYM_ADD: *out = make_float(x + y); break;
    case PT2_SYM_MUL: *out = make_float(x * y); break;
    case PT2_SYM_POW: *out = make_float(pow(x, y)); break;
    case PT2_SYM_FLOOR_DIV: *out = make_float(floor(x / y)); break;
    case PT2_SYM_MOD: *out = make_float(x - floor(x / y) * y); break;
    case PT2_SYM_CEIL_DIV: *out = make_float(ceil(x / y)); break;
    default: return pt2_fail(err, PT2_ERR_INTERNAL, "symbolic operation %d has no float form", (int)kind);
    }
    return PT2_OK;
overflow:
    return pt2_fail(err, PT2_ERR_INPUT, "a symbolic size overflows 64 bits");
}

static pt2_status eval_number(const pt2_sym_expr *e, const pt2_sym_binding *bindings, size_t count, sym_number *out,
                              pt2_error *err) {
    switch (e->kind) {
    case PT2_SYM_INTEGER: *out = make_int(e->value); return PT2_OK;
    case PT2_SYM_FLOAT: *out = make_float(e->float_value); return PT2_OK;
    case PT2_SYM_TRUE: *out = make_int(1); return PT2_OK;
    case PT2_SYM_FALSE: *out = make_int(0); return PT2_OK;
    case PT2_SYM_SYMBOL:
        for (size_t i = 0; i < count; i++)
            if (!strcmp(bindings[i].symbol, e->symbol)) {
                *out = make_int(bindings[i].value);
                return PT2_OK;
            }
        return pt2_fail(err, PT2_ERR_INPUT, "the size symbol '%s' has no value (no input dimension defines it)",
                        e->symbol);
    default: break;
    }
    if (e->count == 0) return pt2_fail(err, PT2_ERR_INTERNAL, "symbolic operation without operands");
    sym_number a = {0, 0, 0}, b = {0, 0, 0};
    pt2_status st = eval_number(e->args[0], bindings, count, &a, err);
    if (st) return st;
    switch (e->kind) {
    case PT2_SYM_NOT: *out = make_int(a.is_float ? a.f == 0 : a.i == 0); return PT2_OK;
    case PT2_SYM_TO_FLOAT: *out = make_float(as_double(a)); return PT2_OK;
    case PT2_SYM_TRUNC_TO_INT:
    case PT2_SYM_FLOOR_TO_INT:
    case PT2_SYM_CEIL_TO_INT:
    case PT2_SYM_ROUND_TO_INT: {
        if (!a.is_float) {
            *out = a;
            return PT2_OK;
        }
        double f = e->kind == PT2_SYM_TRUNC_TO_INT   ? trunc(a.f)
                   : e->kind == PT2_SYM_FLOOR_TO_INT ? floor(a.f)
                   : e->kind == PT2_SYM_CEIL_TO_INT  ? ceil(a.f)
                                                     : nearbyint(a.f); /* ties to even in the default mode */
        out->is_float = 0;
        return float_to_int(f, &out->i, err);
    }
    default: break;
    }
    for (size_t i = 1; i < e->count; i++) {
        if ((st = eval_number(e->args[i], bindings, count, &b, err))) return st;
        if ((st = binary(e->kind, a, b, &a, err))) return st;
    }
    *out = a;
    return PT2_OK;
}

pt2_status pt2_sym_eval(const pt2_sym_expr *expr, const pt2_sym_binding *bindings, size_t count, int64_t *out,
                        pt2_error *err) {
    sym_number n = {0, 0, 0};
    pt2_status st = eval_number(expr, bindings, count, &n, err);
    if (st) return st;
    if (!n.is_float) {
        *out = n.i;
        return PT2_OK;
    }
    if (n.f != floor(n.f))
        return pt2_fail(err, PT2_ERR_INPUT, "a symbolic size evaluates to %g, which is not a whole number", n.f);
    return float_to_int(n.f, out, err);
}

/* Python's precedence levels, for minimal parentheses. */
enum {
    LEVEL_OR = 1,
    LEVEL_AND,
    LEVEL_NOT,
    LEVEL_COMPARE,
    LEVEL_SUM,
    LEVEL_PRODUCT,
    LEVEL_UNARY, /* a negative literal */
    LEVEL_POWER,
    LEVEL_ATOM
};

static int precedence(const pt2_sym_expr *e) {
    switch (e->kind) {
    case PT2_SYM_INTEGER: return e->value < 0 ? LEVEL_UNARY : LEVEL_ATOM;
    case PT2_SYM_FLOAT: return e->float_value < 0 ? LEVEL_UNARY : LEVEL_ATOM;
    case PT2_SYM_POW: return LEVEL_POWER;
    case PT2_SYM_MUL:
    case PT2_SYM_FLOOR_DIV:
    case PT2_SYM_TRUE_DIV:
    case PT2_SYM_MOD: return LEVEL_PRODUCT;
    case PT2_SYM_ADD: return LEVEL_SUM;
    case PT2_SYM_EQ:
    case PT2_SYM_NE:
    case PT2_SYM_LT:
    case PT2_SYM_LE:
    case PT2_SYM_GT:
    case PT2_SYM_GE: return LEVEL_COMPARE;
    case PT2_SYM_NOT: return LEVEL_NOT;
    case PT2_SYM_AND: return LEVEL_AND;
    case PT2_SYM_OR: return LEVEL_OR;
    default: return LEVEL_ATOM; /* symbols, True/False, function calls */
    }
}

/* Shortest text that reads back as the same double, always with a '.' or exponent so it
 * reads as a float, as Python's repr does. */
static void format_float(double value, pt2_strbuf *out) {
    char text[40];
    pt2_format_shortest(text, sizeof text, value, 17, 0);
    pt2_strbuf_puts(out, text);
    if (!strpbrk(text, ".eEn")) pt2_strbuf_puts(out, ".0"); /* 'n': nan and inf stay as they are */
}

static void format_operand(const pt2_sym_expr *e, int min_level, pt2_strbuf *out) {
    int wrap = precedence(e) < min_level;
    if (wrap) pt2_strbuf_putc(out, '(');
    pt2_sym_format(e, out);
    if (wrap) pt2_strbuf_putc(out, ')');
}

/* A product; with `negate`, of the negated leading coefficient (for "a - 2*b"). */
static void format_product(const pt2_sym_expr *e, int negate, pt2_strbuf *out) {
    size_t first = 0;
    int prefixed = 0; /* something printed before the first operand: it is a right operand */
    if (e->count > 1 && e->args[0]->kind == PT2_SYM_INTEGER) {
        int64_t c = e->args[0]->value;
        if (negate) c = -c;
        if (c == -1) pt2_strbuf_putc(out, '-');
        else if (c != 1) pt2_strbuf_printf(out, "%lld*", (long long)c);
        prefixed = c != 1;
        first = 1;
    }
    for (size_t i = first; i < e->count; i++) {
        if (i > first) pt2_strbuf_putc(out, '*');
        /* Left-associative: 2*((s - 1)//2) and -(s//2) keep their parentheses. */
        format_operand(e->args[i], i > first || prefixed ? LEVEL_PRODUCT + 1 : LEVEL_PRODUCT, out);
    }
}

static int is_negative_product(const pt2_sym_expr *e) {
    return e->kind == PT2_SYM_MUL && e->count > 1 && e->args[0]->kind == PT2_SYM_INTEGER && e->args[0]->value < 0 &&
           e->args[0]->value != INT64_MIN;
}

void pt2_sym_format(const pt2_sym_expr *e, pt2_strbuf *out) {
    static const char *infix[] = {[PT2_SYM_FLOOR_DIV] = "//", [PT2_SYM_TRUE_DIV] = "/",  [PT2_SYM_MOD] = " % ",
                                  [PT2_SYM_POW] = "**",        [PT2_SYM_EQ] = " == ",      [PT2_SYM_NE] = " != ",
                                  [PT2_SYM_LT] = " < ",        [PT2_SYM_LE] = " <= ",      [PT2_SYM_GT] = " > ",
                                  [PT2_SYM_GE] = " >= ",       [PT2_SYM_AND] = " and ",    [PT2_SYM_OR] = " or "};
    const size_t num_infix = sizeof infix / sizeof infix[0];
    switch (e->kind) {
    case PT2_SYM_INTEGER: pt2_strbuf_printf(out, "%lld", (long long)e->value); return;
    case PT2_SYM_SYMBOL: pt2_strbuf_puts(out, e->symbol); return;
    case PT2_SYM_TRUE: pt2_strbuf_puts(out, "True"); return;
    case PT2_SYM_FALSE: pt2_strbuf_puts(out, "False"); return;
    case PT2_SYM_FLOAT: format_float(e->float_value, out); return;
    case PT2_SYM_NOT:
        pt2_strbuf_puts(out, "not ");
        format_operand(e->args[0], LEVEL_NOT, out);
        return;
    case PT2_SYM_ADD: {
        /* Constants last, as sympy prints them: "2*s0 + 1"; negative terms subtract. */
        int first = 1;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < e->count; i++) {
                const pt2_sym_expr *a = e->args[i];
                if ((a->kind == PT2_SYM_INTEGER) != pass) continue;
                if (a->kind == PT2_SYM_INTEGER && !first && a->value != INT64_MIN) {
                    pt2_strbuf_printf(out, a->value < 0 ? " - %lld" : " + %lld",
                                      (long long)(a->value < 0 ? -a->value : a->value));
                } else if (!first && is_negative_product(a)) {
                    pt2_strbuf_puts(out, " - ");
                    format_product(a, 1, out);
                } else {
                    if (!first) pt2_strbuf_puts(out, " + ");
                    format_operand(a, LEVEL_SUM, out);
                }
                first = 0;
            }
        return;
    }
    case PT2_SYM_MUL: format_product(e, 0, out); return;
    case PT2_SYM_MAX:
    case PT2_SYM_MIN:
    case PT2_SYM_CEIL_DIV:
    case PT2_SYM_TO_FLOAT:
    case PT2_SYM_TRUNC_TO_INT:
    case PT2_SYM_FLOOR_TO_INT:
    case PT2_SYM_CEIL_TO_INT:
    case PT2_SYM_ROUND_TO_INT: {
        const char *name = e->kind == PT2_SYM_MAX            ? "max("
                           : e->kind == PT2_SYM_MIN          ? "min("
                           : e->kind == PT2_SYM_CEIL_DIV     ? "ceil_div("
                           : e->kind == PT2_SYM_TO_FLOAT     ? "float("
                           : e->kind == PT2_SYM_TRUNC_TO_INT ? "int("
                           : e->kind == PT2_SYM_FLOOR_TO_INT ? "floor("
                           : e->kind == PT2_SYM_CEIL_TO_INT  ? "ceil("
                                                             : "round(";
        pt2_strbuf_puts(out, name);
        for (size_t i = 0; i < e->count; i++) {
            if (i) pt2_strbuf_puts(out, ", ");
            pt2_sym_format(e->args[i], out);
        }
        pt2_strbuf_putc(out, ')');
        return;
    }
    default: {
        int level = precedence(e);
        /* Left-associative products (a//(b//c)), right-associative powers ((a**b)**c),
         * non-chaining comparisons, associative and/or. */
        int left = e->kind == PT2_SYM_POW || e->kind == PT2_SYM_NOT || level == LEVEL_COMPARE ? level + 1 : level;
        int right = level == LEVEL_AND || level == LEVEL_OR || e->kind == PT2_SYM_POW ? level : level + 1;
        for (size_t i = 0; i < e->count; i++) {
            if (i) pt2_strbuf_puts(out, (size_t)e->kind < num_infix && infix[e->kind] ? infix[e->kind] : " ? ");
            format_operand(e->args[i], i ? right : left, out);
        }
    }
    }
}

int pt2_sym_same(const pt2_sym_expr *a, const pt2_sym_expr *b) {
    if (!a || !b) return 0;
    pt2_strbuf x, y;
    pt2_strbuf_init(&x);
    pt2_strbuf_init(&y);
    pt2_sym_format(a, &x);
    pt2_sym_format(b, &y);
    int same = !x.failed && !y.failed && x.data && y.data && !strcmp(x.data, y.data);
    pt2_strbuf_free(&x);
    pt2_strbuf_free(&y);
    return same;
}

const char *pt2_sym_as_symbol(const pt2_sym_expr *expr) {
    return (expr && expr->kind == PT2_SYM_SYMBOL) ? expr->symbol : NULL;
}

static void collect(const pt2_sym_expr *e, const char **symbols, size_t max, size_t *count) {
    if (e->kind == PT2_SYM_SYMBOL) {
        for (size_t i = 0; i < *count && i < max; i++)
            if (!strcmp(symbols[i], e->symbol)) return;
        if (*count < max) symbols[*count] = e->symbol;
        (*count)++;
        return;
    }
    for (size_t i = 0; i < e->count; i++) collect(e->args[i], symbols, max, count);
}

size_t pt2_sym_symbols(const pt2_sym_expr *expr, const char **symbols, size_t max) {
    size_t count = 0;
    collect(expr, symbols, max, &count);
    return count;
}
