/* Symbolic sizes as torch.export writes them: sympy srepr strings such as
 * "Add(FloorDiv(Add(Symbol('s35', integer=True, positive=True), Integer(-1)), Integer(2)), Integer(1))".
 * Parsed into a small tree that can be printed ("(s35 - 1)//2 + 1") and evaluated for a
 * given binding of the symbols (e.g. a time length other than the export's example). */
#ifndef PT2_GRAPH_SYM_EXPR_H
#define PT2_GRAPH_SYM_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/error.h"
#include "../base/strbuf.h"

typedef enum pt2_sym_kind {
    PT2_SYM_INTEGER,
    PT2_SYM_SYMBOL,
    PT2_SYM_ADD,
    PT2_SYM_MUL,
    PT2_SYM_POW,       /* integer exponent only */
    PT2_SYM_FLOOR_DIV, /* FloorDiv(a, b) */
    PT2_SYM_MOD,       /* Mod / PythonMod: sign of the divisor */
    PT2_SYM_CEIL_DIV,  /* CeilToInt(a/b) and CleanDiv forms normalised to this where possible */
    PT2_SYM_MAX,
    PT2_SYM_MIN,
    PT2_SYM_EQ, PT2_SYM_NE, PT2_SYM_LT, PT2_SYM_LE, PT2_SYM_GT, PT2_SYM_GE, /* SymBool */
    PT2_SYM_AND, PT2_SYM_OR, PT2_SYM_NOT,
    PT2_SYM_TRUE, PT2_SYM_FALSE,
    /* Float arithmetic appears where a size comes from a float scale (F.interpolate with
     * scale_factor): TruncToInt(Mul(Float('0.5'), ToFloat(s9))). */
    PT2_SYM_FLOAT,         /* float_value */
    PT2_SYM_TO_FLOAT,      /* ToFloat(a) */
    PT2_SYM_TRUE_DIV,      /* IntTrueDiv / FloatTrueDiv: a float quotient */
    PT2_SYM_TRUNC_TO_INT,  /* TruncToInt(a): toward zero */
    PT2_SYM_FLOOR_TO_INT,  /* FloorToInt(a) */
    PT2_SYM_CEIL_TO_INT,   /* CeilToInt(a) */
    PT2_SYM_ROUND_TO_INT   /* RoundToInt(a): half to even, as Python's round() */
} pt2_sym_kind;

typedef struct pt2_sym_expr pt2_sym_expr;
struct pt2_sym_expr {
    pt2_sym_kind kind;
    int64_t value;      /* INTEGER */
    double float_value; /* FLOAT */
    const char *symbol; /* SYMBOL: "s35" */
    size_t count;       /* operands */
    pt2_sym_expr **args;
};

#define PT2_SYM_MAX_DEPTH 64

/* `what` names the text for errors (e.g. the tensor value name). */
pt2_status pt2_sym_parse(pt2_arena *arena, const char *srepr, const char *what, pt2_sym_expr **out,
                         pt2_error *err);

/* A binding of symbols to integer values. */
typedef struct pt2_sym_binding {
    const char *symbol;
    int64_t value;
} pt2_sym_binding;

/* Fails (naming the symbol) when a symbol is unbound, on division by zero or overflow, and
 * when the result is a float that is not a whole number. */
pt2_status pt2_sym_eval(const pt2_sym_expr *expr, const pt2_sym_binding *bindings, size_t count, int64_t *out,
                        pt2_error *err);

/* Human-readable Python-like form: "s35", "2*s35 + 1", "(s35 - 1)//2 + 1". */
void pt2_sym_format(const pt2_sym_expr *expr, pt2_strbuf *out);

/* Whether two expressions are written alike (pt2_sym_format gives the same text): torch.export
 * writes one size it unified as one expression. 0 for NULL or when formatting runs out of memory. */
int pt2_sym_same(const pt2_sym_expr *a, const pt2_sym_expr *b);

/* If the expression is exactly one symbol, its name; otherwise NULL. */
const char *pt2_sym_as_symbol(const pt2_sym_expr *expr);
/* Collects the distinct symbols used (up to max); returns how many there are. */
size_t pt2_sym_symbols(const pt2_sym_expr *expr, const char **symbols, size_t max);

#endif
