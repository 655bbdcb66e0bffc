/* einsum: the equation parsed into labels (einsum.h), then computed directly: every output
 * element is the sum, over the labels that do not reach the output, of the product of the
 * operands' elements at those labels' coordinates (a label repeated in one operand reads its
 * diagonal; a size-1 axis broadcasts). The sum is kept in double, as a check of PyTorch's
 * float32 GEMM within the tolerance. */
#include "einsum.h"

#include <string.h>

#include "op_util.h"
#include "registry.h"

static int letter_label(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
    return -1;
}

/* One term's labels (letters and at most one "..."), the ellipsis covering `rank` minus the
 * letters; *ellipsis_at = -1 when there is none. */
static pt2_status parse_term(const char *term, size_t length, int rank, int max_ellipsis, int *labels,
                             int *ellipsis_length, pt2_error *err) {
    int letters = 0, has_ellipsis = 0;
    for (size_t i = 0; i < length; i++) {
        if (term[i] == '.') {
            if (has_ellipsis || i + 2 >= length + 0 || term[i + 1] != '.' || term[i + 2] != '.')
                return pt2_fail(err, PT2_ERR_INPUT, "einsum: a malformed ellipsis in '%.*s'", (int)length, term);
            has_ellipsis = 1, i += 2;
        } else if (letter_label(term[i]) < 0) {
            return pt2_fail(err, PT2_ERR_INPUT, "einsum: '%c' is not a letter", term[i]);
        } else {
            letters++;
        }
    }
    int covered = rank - letters;
    if (covered < 0 || (!has_ellipsis && covered))
        return pt2_fail(err, PT2_ERR_INPUT, "einsum: '%.*s' names %d axes of an operand of %d", (int)length, term, letters, rank);
    if (covered > max_ellipsis) return pt2_fail(err, PT2_ERR_INPUT, "einsum: too many axes under the ellipsis");
    *ellipsis_length = has_ellipsis ? covered : -1;
    int at = 0;
    for (size_t i = 0; i < length; i++) {
        if (term[i] == '.') {
            for (int k = 0; k < covered; k++) labels[at++] = PT2_EINSUM_ELLIPSIS + (max_ellipsis - covered) + k;
            i += 2;
        } else {
            labels[at++] = letter_label(term[i]);
        }
    }
    return PT2_OK;
}

pt2_status pt2_einsum_parse(const char *equation, const int *ranks, int num_operands, pt2_einsum_spec *out, pt2_error *err) {
    memset(out, 0, sizeof *out);
    if (num_operands < 1 || num_operands > PT2_EINSUM_MAX_OPERANDS)
        return pt2_fail(err, PT2_ERR_INPUT, "einsum: %d operands (1 to %d are supported)", num_operands, PT2_EINSUM_MAX_OPERANDS);
    char text[512];
    size_t n = 0;
    for (const char *c = equation; *c; c++)
        if (*c != ' ') {
            if (n + 1 >= sizeof text) return pt2_fail(err, PT2_ERR_INPUT, "einsum: the equation is too long");
            text[n++] = *c;
        }
    text[n] = 0;
    const char *arrow = strstr(text, "->");
    size_t inputs_length = arrow ? (size_t)(arrow - text) : n;
    /* The ellipsis covers as many axes as the longest one among the operands. */
    int max_ellipsis = 0;
    const char *term = text;
    for (int i = 0; i < num_operands; i++) {
        const char *end = memchr(term, ',', inputs_length - (size_t)(term - text));
        if (!end) end = text + inputs_length;
        if (i == num_operands - 1 && end != text + inputs_length)
            return pt2_fail(err, PT2_ERR_INPUT, "einsum: the equation has more terms than %d operands", num_operands);
        if (i < num_operands - 1 && end == text + inputs_length)
            return pt2_fail(err, PT2_ERR_INPUT, "einsum: the equation has fewer terms than %d operands", num_operands);
        if (ranks[i] > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_INPUT, "einsum: an operand of %d axes", ranks[i]);
        int letters = 0;
        for (const char *c = term; c < end; c++) letters += letter_label(*c) >= 0;
        if (ranks[i] - letters > max_ellipsis) max_ellipsis = ranks[i] - letters;
        term = end + 1;
    }
    int ellipsis_used = 0, count[PT2_EINSUM_LABELS] = {0};
    term = text;
    for (int i = 0; i < num_operands; i++) {
        const char *end = memchr(term, ',', inputs_length - (size_t)(term - text));
        if (!end) end = text + inputs_length;
        int ellipsis_length;
        pt2_status st = parse_term(term, (size_t)(end - term), ranks[i], max_ellipsis, out->labels[i], &ellipsis_length, err);
        if (st) return st;
        out->rank[i] = ranks[i];
        if (ellipsis_length >= 0) ellipsis_used = 1;
        for (int a = 0; a < ranks[i]; a++) count[out->labels[i][a]]++;
        term = end + 1;
    }
    out->num_operands = num_operands;
    if (arrow) {
        int ellipsis_length;
        const char *output = arrow + 2;
        int letters = 0, has_ellipsis = strstr(output, "...") != NULL;
        for (const char *c = output; *c; c++) letters += letter_label(*c) >= 0;
        int rank = letters + (has_ellipsis ? max_ellipsis : 0);
        if (rank > PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_INPUT, "einsum: an output of %d axes", rank);
        pt2_status st = parse_term(output, strlen(output), rank, max_ellipsis, out->out_labels, &ellipsis_length, err);
        if (st) return st;
        out->out_rank = rank;
        for (int a = 0; a < rank; a++) {
            int label = out->out_labels[a];
            if (!count[label] && label < PT2_EINSUM_ELLIPSIS)
                return pt2_fail(err, PT2_ERR_INPUT, "einsum: output letter '%c' is in no operand", label < 26 ? 'A' + label : 'a' + label - 26);
            for (int b = 0; b < a; b++)
                if (out->out_labels[b] == label) return pt2_fail(err, PT2_ERR_INPUT, "einsum: an output letter appears twice");
        }
        if (ellipsis_used && !has_ellipsis && max_ellipsis)
            return pt2_fail(err, PT2_ERR_INPUT, "einsum: the output must have the ellipsis the operands have");
    } else {
        for (int k = 0; k < max_ellipsis; k++) out->out_labels[out->out_rank++] = PT2_EINSUM_ELLIPSIS + k;
        for (int label = 0; label < PT2_EINSUM_ELLIPSIS; label++)
            if (count[label] == 1) {
                if (out->out_rank >= PT2_MAX_RANK) return pt2_fail(err, PT2_ERR_INPUT, "einsum: an output of too many axes");
                out->out_labels[out->out_rank++] = label;
            }
    }
    return PT2_OK;
}

int pt2_einsum_in_output(const pt2_einsum_spec *spec, int label) {
    for (int a = 0; a < spec->out_rank; a++)
        if (spec->out_labels[a] == label) return 1;
    return 0;
}

static pt2_status run_einsum(pt2_run_context *ctx, const pt2_node *node, pt2_error *err) {
    const char *equation;
    pt2_tensor *operands;
    size_t count;
    pt2_status st = pt2_op_string(ctx, node, "equation", &equation, err);
    if (!st) st = pt2_op_tensor_list(ctx, node, "tensors", &operands, &count, err);
    if (st) return st;
    if (!equation) return pt2_fail(err, PT2_ERR_INPUT, "einsum: no equation");
    int ranks[PT2_EINSUM_MAX_OPERANDS];
    if (count < 1 || count > PT2_EINSUM_MAX_OPERANDS) return pt2_fail(err, PT2_ERR_UNSUPPORTED, "einsum of %zu operands", count);
    for (size_t i = 0; i < count; i++) {
        if (operands[i].dtype != PT2_DTYPE_FLOAT32)
            return pt2_fail(err, PT2_ERR_UNSUPPORTED, "einsum: operand %zu is %s; float32 is run", i, pt2_dtype_name(operands[i].dtype));
        ranks[i] = operands[i].rank;
    }
    pt2_einsum_spec spec;
    if ((st = pt2_einsum_parse(equation, ranks, (int)count, &spec, err))) return st;
    /* Each label's size (size-1 axes broadcast) and each operand's stride per label (a label
     * repeated in an operand adds its strides: the diagonal). */
    int64_t size[PT2_EINSUM_LABELS], strides[PT2_EINSUM_MAX_OPERANDS][PT2_EINSUM_LABELS];
    int used[PT2_EINSUM_LABELS] = {0};
    for (int l = 0; l < PT2_EINSUM_LABELS; l++) size[l] = 1;
    memset(strides, 0, sizeof strides);
    for (size_t i = 0; i < count; i++)
        for (int a = 0; a < spec.rank[i]; a++) {
            int l = spec.labels[i][a];
            int64_t s = operands[i].shape[a];
            if (used[l] && s != size[l] && s != 1 && size[l] != 1)
                return pt2_fail(err, PT2_ERR_INPUT, "einsum: sizes %lld and %lld of one subscript do not match", (long long)size[l], (long long)s);
            if (!used[l] || size[l] == 1) size[l] = s;
            used[l] = 1;
        }
    for (size_t i = 0; i < count; i++)
        for (int a = 0; a < spec.rank[i]; a++)
            if (operands[i].shape[a] != 1) strides[i][spec.labels[i][a]] += operands[i].strides[a];
    int summed[PT2_EINSUM_LABELS], num_summed = 0;
    int64_t shape[PT2_MAX_RANK], total_sum = 1;
    for (int l = 0; l < PT2_EINSUM_LABELS; l++)
        if (used[l] && !pt2_einsum_in_output(&spec, l)) summed[num_summed++] = l, total_sum *= size[l];
    for (int a = 0; a < spec.out_rank; a++) shape[a] = used[spec.out_labels[a]] ? size[spec.out_labels[a]] : 1;
    pt2_tensor out;
    if ((st = pt2_op_new_float(ctx, spec.out_rank, shape, &out, err))) return st;
    float *po = pt2_f32(&out);
    const float *data[PT2_EINSUM_MAX_OPERANDS];
    for (size_t i = 0; i < count; i++) data[i] = pt2_f32(&operands[i]);
    int64_t total = pt2_tensor_numel(&out), out_index[PT2_MAX_RANK] = {0};
    for (int64_t flat = 0; flat < total; flat++) {
        int64_t base[PT2_EINSUM_MAX_OPERANDS] = {0};
        for (size_t i = 0; i < count; i++)
            for (int a = 0; a < spec.out_rank; a++) base[i] += out_index[a] * strides[i][spec.out_labels[a]];
        double acc = 0;
        int64_t sum_index[PT2_EINSUM_LABELS] = {0};
        for (int64_t k = 0; k < total_sum; k++) {
            double product = 1;
            for (size_t i = 0; i < count; i++) {
                int64_t offset = base[i];
                for (int s = 0; s < num_summed; s++) offset += sum_index[s] * strides[i][summed[s]];
                product *= data[i][offset];
            }
            acc += product;
            for (int s = num_summed - 1; s >= 0 && ++sum_index[s] == size[summed[s]]; s--) sum_index[s] = 0;
        }
        po[flat] = (float)acc;
        for (int a = spec.out_rank - 1; a >= 0 && ++out_index[a] == shape[a]; a--) out_index[a] = 0;
    }
    return pt2_op_set_output(ctx, node, 0, &out, err);
}

const pt2_op_def pt2_ops_einsum[] = {{"aten.einsum.default", run_einsum}, {NULL, NULL}};
