#include "op_notes.h"

#include <stdio.h>
#include <string.h>

#include "lowerings.h"

/* The RETURNN layer classes of each lowered op (targets separated by spaces). An op lowered by
 * aliasing its input, or to nothing (sizes, assertions), becomes no layer. */
static const struct {
    const char *layers, *targets;
} lowered_layers[] = {
    {"`activation`",
     "aten.relu.default aten.tanh.default aten.sigmoid.default aten.exp.default aten.log.default aten.abs.default "
     "aten.sqrt.default aten.rsqrt.default aten.sin.default aten.cos.default aten.tan.default aten.asin.default "
     "aten.acos.default aten.atan.default aten.sinh.default aten.cosh.default aten.erf.default aten.log1p.default "
     "aten.expm1.default aten.floor.default aten.ceil.default aten.round.default aten.sign.default "
     "aten.reciprocal.default aten.square.default aten.relu6.default aten.selu.default aten.log_sigmoid.default "
     "aten.softmax.int aten._softmax.default aten.log_softmax.int"},
    {"`eval`",
     "aten.silu.default aten.neg.default aten.leaky_relu.default aten.gelu.default aten.trunc.default "
     "aten.log10.default aten.log2.default aten.mish.default aten.hardswish.default aten.hardsigmoid.default "
     "aten.clamp.default aten.clip.default aten.clamp_min.default aten.clamp_max.default aten.pow.Scalar"},
    {"`activation` (beta 1)", "aten.softplus.default"},
    {"`activation` (alpha 1), `eval` (other alpha)", "aten.elu.default"},
    {"`activation` (alpha 1), `eval` + `activation` + `eval` (other alpha)", "aten.celu.default"},
    {"`activation` (0..6), `eval` (other bounds)", "aten.hardtanh.default"},
    {"`combine` (between tensors), `eval` (with a number), `variable` (a constant tensor)",
     "aten.add.Tensor aten.sub.Tensor aten.mul.Tensor aten.div.Tensor aten.maximum.default aten.minimum.default "
     "aten.true_divide.Tensor aten.max.other aten.min.other aten.remainder.Tensor aten.fmod.Tensor "
     "aten.floor_divide.default aten.div.Tensor_mode aten.rsub.Tensor aten.clamp_min.Tensor aten.clamp_max.Tensor "
     "aten.clamp.Tensor"},
    {"`combine` (between tensors), `eval` or `activation` (with a number), `variable` (a constant tensor)",
     "aten.pow.Tensor_Tensor aten.pow.Tensor_Scalar"},
    {"`eval` (with a number)",
     "aten.add.Scalar aten.sub.Scalar aten.mul.Scalar aten.div.Scalar aten.remainder.Scalar aten.fmod.Scalar "
     "aten.floor_divide.Scalar aten.div.Scalar_mode aten.rsub.Scalar"},
    {"`compare` (a number as `value`), `variable` (a constant tensor)",
     "aten.eq.Scalar aten.eq.Tensor aten.ne.Scalar aten.ne.Tensor aten.lt.Scalar aten.lt.Tensor aten.le.Scalar "
     "aten.le.Tensor aten.gt.Scalar aten.gt.Tensor aten.ge.Scalar aten.ge.Tensor"},
    {"`compare` (equal False)", "aten.logical_not.default aten.bitwise_not.default"},
    {"`combine` (logical_and, logical_or, logical_xor)",
     "aten.logical_and.default aten.logical_or.default aten.logical_xor.default aten.bitwise_and.Tensor "
     "aten.bitwise_or.Tensor aten.bitwise_xor.Tensor aten.__and__.Tensor aten.__or__.Tensor aten.__xor__.Tensor"},
    {"`switch`, `variable` (a constant tensor branch)",
     "aten.where.self aten.where.ScalarOther aten.where.ScalarSelf aten.masked_fill.Scalar aten.masked_fill.Tensor"},
    {"`cast` (none to the same dtype)",
     "aten.to.dtype aten._to_copy.default aten.type_as.default aten.to.device aten.to.dtype_layout"},
    {"`gating`", "aten.glu.default"},
    {"`eval` (one slope), `activation` + `eval` + `variable` + `combine` (a slope per channel)",
     "aten.prelu.default aten._prelu_kernel.default"},
    {"`combine`, `reduce`, `activation`, `eval`", "aten.cosine_similarity.default"},
    {"`conv`", "aten.conv1d.default aten.conv1d.padding"},
    {"`transposed_conv`", "aten.conv_transpose1d.default"},
    {"`linear`", "aten.linear.default aten.embedding.default"},
    {"`layer_norm`", "aten.layer_norm.default"},
    {"`batch_norm`", "aten.batch_norm.default"},
    {"`pad`",
     "aten.pad.default aten.constant_pad_nd.default aten.reflection_pad1d.default aten.replication_pad1d.default"},
    {"`pool`", "aten.avg_pool1d.default"},
    {"`resize`", "aten.upsample_nearest1d.vec"},
    {"`reduce`", "aten.mean.dim aten.sum.dim_IntList aten.amax.default"},
    {"`copy`", "aten.cat.default"},
    {"none (the input itself)",
     "aten.dropout.default aten.clone.default aten.contiguous.default aten.alias.default aten.detach.default"},
    {"none (sizes and assertions)",
     "aten.sym_size.int aten.sym_numel.default aten.sym_stride.int _operator.add _operator.sub _operator.mul "
     "_operator.floordiv _operator.mod _operator.truediv _operator.pow _operator.neg _operator.eq _operator.ne "
     "_operator.lt _operator.le _operator.gt _operator.ge aten._assert_scalar.default "
     "aten.sym_constrain_range_for_size.default aten._assert_tensor_metadata.default"},
};

/* Why an op of the reference run has no lowering (yet). Reasons contain no "; " (the error lists
 * nodes separated by it). */
static const struct {
    const char *reason, *targets;
} unlowered_reasons[] = {
    {"recurrent layers are lowered by their own issue", "aten.lstm.input"},
    {"views, reshapes, permutes, slices and other changes of axes wait for the lowering's axis map",
     "aten.view.default aten.view_copy.default aten._unsafe_view.default aten.reshape.default aten.permute.default "
     "aten.permute_copy.default aten.transpose.int aten.transpose_copy.int aten.t.default aten.flatten.using_ints "
     "aten.unflatten.int aten.unsqueeze.default aten.unsqueeze_copy.default aten.squeeze.default aten.squeeze.dim "
     "aten.squeeze.dims aten.squeeze_copy.dim aten.squeeze_copy.dims aten.expand.default aten.expand_as.default "
     "aten.expand_copy.default aten.select.int aten.select_copy.int aten.slice.Tensor aten.slice_copy.Tensor "
     "aten.narrow.default aten.split.Tensor aten.split_copy.Tensor aten.split_with_sizes.default "
     "aten.split_with_sizes_copy.default aten.chunk.default aten.unbind.int aten.unbind_copy.int aten.stack.default "
     "aten.concat.default aten.repeat.default aten.flip.default"},
    {"2-D convolutions, 2-D and max pools, adaptive pools, linear and 2-D upsampling and 2-D pads are not lowered yet",
     "aten.conv2d.default aten.conv2d.padding aten.conv_transpose2d.input aten.convolution.default "
     "aten.max_pool1d.default aten.max_pool1d_with_indices.default aten.max_pool2d.default "
     "aten.max_pool2d_with_indices.default aten.avg_pool2d.default aten.adaptive_avg_pool1d.default "
     "aten.adaptive_avg_pool2d.default aten._adaptive_avg_pool2d.default aten.upsample_nearest1d.default "
     "aten.upsample_nearest2d.default aten.upsample_nearest2d.vec aten.upsample_linear1d.default "
     "aten.upsample_linear1d.vec aten.upsample_bilinear2d.default aten.upsample_bilinear2d.vec "
     "aten.reflection_pad2d.default aten.reflection_pad3d.default aten.replication_pad2d.default "
     "aten.replication_pad3d.default aten._pad_circular.default"},
    {"normalization over groups, instances or several dims, norms and statistics are not lowered yet",
     "aten.group_norm.default aten.native_group_norm.default aten.instance_norm.default "
     "aten.native_layer_norm.default aten._native_batch_norm_legit_no_training.default aten._weight_norm.default "
     "aten._weight_norm_interface.default aten.linalg_vector_norm.default aten.std.correction aten.std.default "
     "aten.std.dim aten.std_mean.correction aten.std_mean.default aten.std_mean.dim aten.var.correction "
     "aten.var.default aten.var.dim aten.var_mean.correction aten.var_mean.default aten.var_mean.dim "
     "aten.logsumexp.default aten._log_softmax.default"},
    {"reductions other than mean, sum and amax over one axis are not lowered yet",
     "aten.all.default aten.all.dim aten.all.dims aten.any.default aten.any.dim aten.any.dims aten.amin.default "
     "aten.argmax.default aten.argmin.default aten.max.default aten.max.dim aten.min.default aten.min.dim "
     "aten.prod.default aten.prod.dim_int aten.sum.default aten.mean.default aten.cumsum.default"},
    {"creation ops on the input's dims are not lowered yet",
     "aten.arange.default aten.arange.start aten.arange.start_step aten.full.default aten.full_like.default "
     "aten.ones.default aten.ones_like.default aten.zeros.default aten.zeros_like.default aten.empty.default "
     "aten.empty.memory_format aten.empty_like.default aten.empty_strided.default aten.new_empty.default "
     "aten.new_full.default aten.new_ones.default aten.new_zeros.default aten.scalar_tensor.default "
     "aten.fill.Scalar aten.fill.Tensor aten.tril.default aten.triu.default"},
    {"indexing with tensors is not lowered yet", "aten.gather.default aten.index.Tensor aten.index_select.default"},
    {"products of two layers (matmul, bmm, mm, addmm, baddbmm) are not lowered yet (nn.MultiheadAttention is, as a module)",
     "aten.matmul.default aten.bmm.default aten.mm.default aten.addmm.default aten.baddbmm.default "
     "aten.scaled_dot_product_attention.default"},
    {"in-place ops are not lowered (torch.export functionalizes them away)",
     "aten.add_.Scalar aten.add_.Tensor aten.mul_.Scalar aten.mul_.Tensor aten.sub_.Tensor aten.div_.Tensor "
     "aten.copy_.default aten.fill_.Scalar aten.fill_.Tensor aten.zero_.default aten.detach_.default"},
    {"copies other than clone and detach are not lowered yet",
     "aten.copy.default aten.alias_copy.default aten.detach_copy.default aten.lift_fresh_copy.default"},
    {"logical and bitwise ops are lowered between bool tensors, not with a number",
     "aten.bitwise_and.Scalar aten.bitwise_or.Scalar aten.bitwise_xor.Scalar aten.__and__.Scalar "
     "aten.__or__.Scalar aten.__xor__.Scalar"},
    {"where with two numbers is not lowered (RETURNN's switch needs a layer branch)", "aten.where.Scalar"},
    {"dropout variants other than dropout are not lowered yet", "aten.alpha_dropout.default aten.feature_dropout.default"},
    {"this symbolic size arithmetic is not lowered yet",
     "_operator.and_ _operator.or_ _operator.lshift _operator.rshift _operator.pos math.ceil math.floor math.trunc "
     "aten.sym_constrain_range.default torch.sym_float torch.sym_int torch.sym_ite torch.sym_max torch.sym_min "
     "torch.sym_not torch.sym_sqrt"},
};

/* Is `target` one of the space-separated `targets`? */
static int listed(const char *targets, const char *target) {
    size_t n = strlen(target);
    for (const char *p = targets; (p = strstr(p, target)); p += n)
        if ((p == targets || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

const char *pt2_op_lowered_layers(const char *target) {
    for (size_t i = 0; i < sizeof lowered_layers / sizeof lowered_layers[0]; i++)
        if (listed(lowered_layers[i].targets, target)) return lowered_layers[i].layers;
    return NULL;
}

int pt2_op_has_unlowered_reason(const char *target) {
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        if (listed(unlowered_reasons[i].targets, target)) return 1;
    return 0;
}

const char *pt2_op_unlowered_reason(const char *target) {
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        if (listed(unlowered_reasons[i].targets, target)) return unlowered_reasons[i].reason;
    return "no lowering is written for it yet";
}

pt2_status pt2_lower_require_lowerable(const pt2_graph *graph, const unsigned char *considered, pt2_error *err) {
    char list[1200];
    size_t missing = 0, used = 0;
    list[0] = 0;
    for (size_t i = 0; i < graph->num_nodes; i++) {
        const pt2_node *node = &graph->nodes[i];
        if ((considered && !considered[i]) || pt2_op_find_lowering(node->target)) continue;
        missing++;
        if (used + 1 >= sizeof list) continue;
        int n = snprintf(list + used, sizeof list - used, "%s%s (node '%s' in '%s'%s%s): %s", used ? "; " : "", node->target,
                         node->name, node->module_depth ? node->module_stack[node->module_depth - 1].path : "",
                         node->source_line ? " at " : "", node->source_line ? node->source_line : "",
                         pt2_op_unlowered_reason(node->target));
        used = n < 0 ? used : used + (size_t)n < sizeof list ? used + (size_t)n : sizeof list - 1;
    }
    if (!missing) return PT2_OK;
    return pt2_fail(err, PT2_ERR_UNSUPPORTED, "%zu node%s use ops that cannot be lowered to RETURNN yet: %s", missing,
                    missing == 1 ? "" : "s", list);
}

static void visit_targets(const char *targets, int lowered, void (*visit)(const char *, int, void *), void *user) {
    char target[160];
    for (const char *p = targets; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof target) {
            memcpy(target, p, n);
            target[n] = 0;
            visit(target, lowered, user);
        }
        p += n;
        while (*p == ' ') p++;
    }
}

void pt2_for_each_op_note(void (*visit)(const char *target, int lowered, void *user), void *user) {
    for (size_t i = 0; i < sizeof lowered_layers / sizeof lowered_layers[0]; i++) visit_targets(lowered_layers[i].targets, 1, visit, user);
    for (size_t i = 0; i < sizeof unlowered_reasons / sizeof unlowered_reasons[0]; i++)
        visit_targets(unlowered_reasons[i].targets, 0, visit, user);
}
