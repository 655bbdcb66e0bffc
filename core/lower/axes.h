/* The axis map: which RETURNN dim each axis of each PyTorch value is (pt2_lowered_value.dims),
 * and the one set of operations every lowering uses on it, so that a lowering describes what it
 * computes and not a layout:
 *   - naming an axis in a layer option (B, T, F, dim:N or stag:...);
 *   - a permutation, which adds no layer (RETURNN does not care about axis order);
 *   - view/reshape, factorised into squeeze, merge_dims and split_dims on the sizes of the reference run
 *     (its new size-1 axes are broadcast axes),
 *     a dynamic dim carried through as a derived dim (T*k, ceil(T/k));
 *   - requiring an axis to be the feature dim (a reinterpret_data with set_axes when it is not);
 *   - finishing an output's map: the same axes, one replaced, one dropped, one appended.
 *   - broadcast axes (dims[a] = PT2_AXIS_BROADCAST): a PyTorch axis along which the value is
 *     constant and which RETURNN's value lacks: a size-1 axis (a keepdim reduction's, an
 *     unsqueeze's) or one expand made of any size (the batch, the time, a static size: which one
 *     does not matter, as the value does not vary along it). An elementwise op broadcasts against
 *     it as PyTorch does (the other operand's dim wins) with no layer; only an op that needs a
 *     real axis gets one (pt2_axes_materialise);
 * An axis pattern RETURNN cannot express fails with the op, its module path, source line and
 * the axes (pt2_lower_fail). */
#ifndef PT2_LOWER_AXES_H
#define PT2_LOWER_AXES_H

#include "lower.h"

/* A PyTorch axis along which the value is constant and that RETURNN's value does not have. */
#define PT2_AXIS_BROADCAST (-1)

/* Is axis `axis` of `v` a dim of v's layer (not a broadcast axis)? */
int pt2_axes_is_real(const pt2_lowered_value *v, int axis);
/* Does every axis of `v` have its dim in v's layer? */
int pt2_axes_all_real(const pt2_lowered_value *v);

/* The batch dim when v's layer has it and no PyTorch axis of v maps to it, else -1: a run of one
 * sequence whose batch a view merged with other axes ([1, T, F] viewed as its rows [T, F],
 * [1, H, T, D] as [H, T, D]). PyTorch's value is then that sequence's, and RETURNN's each
 * sequence's: the layers keep the batch, the map has no axis for it, and the check reads its
 * one entry. pt2_axes_materialise gives it back to the first broadcast axis of size 1 (the rows
 * viewed back to [1, T, F]). */
int pt2_axes_hidden_batch(const pt2_lower_context *ctx, const pt2_lowered_value *v);

/* Graph value `value_id` with every axis real: each broadcast axis gets an expand_dims (and a
 * tile when an expand made it of a static size), named and checked as the value's producer, so
 * that an unsqueeze consumed by e.g. a conv looks as it always did. A broadcast axis of a dynamic
 * size (an expand to the time) is the value added to zeros along that dim: a range_in_axis over
 * an axis of that size of a value lowered before, times 0 (RETURNN has no layer repeating a
 * value along a dim it lacks, but broadcasts it in a combine). It is kept beside the map
 * (ctx->real_values), so later consumers share the layers and earlier ones keep their map. */
pt2_status pt2_axes_materialise(pt2_lower_context *ctx, const pt2_node *consumer, int value_id, pt2_error *err);
/* `in` (a graph value's map) with broadcast axis `axis` alone made real as pt2_axes_materialise
 * makes it, the others kept broadcast: for an op along one axis (cumsum over the positions of
 * a mask of ones [B, T] made by torch.ones, whose batch stays broadcast). *out = `in` itself when
 * the axis is real (so that the check feeds a layer reading it PyTorch's tensor), else `storage`
 * filled. */
pt2_status pt2_axes_materialise_axis(pt2_lower_context *ctx, const pt2_node *consumer, const pt2_lowered_value *in,
                                     int axis, pt2_lowered_value *storage, const pt2_lowered_value **out,
                                     pt2_error *err);
/* The layers pt2_axes_materialise adds, which any lowering may add through it. */
#define PT2_AXES_MATERIALISE_EMITS "expand_dims tile range_in_axis eval:mul_scalar combine"

/* The positions 0, 1, ... along axis `axis` of `holder` in `dtype`: a range_in_axis layer named
 * `name` (in `node`'s network; NULL: the node's own layer, arange's), as a value of that one
 * axis. */
pt2_status pt2_axes_positions(pt2_lower_context *ctx, const pt2_node *node, const char *name,
                              const pt2_lowered_value *holder, int axis, pt2_dtype dtype, pt2_lowered_value *out,
                              pt2_error *err);

/* A lowered value, and its axis, of the symbolic size `size` on a dynamic dim (the first in graph
 * order): where a size taken from the input (torch.arange(x.shape[1]), an expand to it) finds its
 * RETURNN dim. 0 when no value lowered so far has such an axis. */
int pt2_axes_find_size(const pt2_lower_context *ctx, const pt2_dim *size, const pt2_lowered_value **value, int *axis);

/* The lowered value `value_id` as the op being lowered takes it (with real axes when it needs
 * them); for lowerings that read a list of tensors without pt2_lower_input. */
const pt2_lowered_value *pt2_axes_value(const pt2_lower_context *ctx, int value_id);

/* Does the op's lowering follow broadcast axes itself (elementwise ops, views, permutes,
 * expand, reductions)? Others get their inputs materialised first. */
int pt2_axes_op_follows_broadcast(const char *target);

/* The RETURNN axis description of axis `axis` of `v` (for options such as "axes", "axis"). */
pt2_status pt2_axes_describe(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, int axis,
                             const char **out, pt2_error *err);

/* The axes a reduction over PyTorch's `dims` (negative from the end) takes: each one's RETURNN
 * description in `axes`, and reduced[axis] = 1 for each. The batch cannot be reduced in RETURNN;
 * `what` names the reduction in that error ("reducing", "a norm"). */
pt2_status pt2_axes_reduced(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *v, const int64_t *dims,
                            size_t count, const char *what, const char **axes, int *reduced, pt2_error *err);

/* The map of a reduction's result: `in`'s axes without the reduced ones, or with keepdim each
 * reduced axis a broadcast axis (PyTorch's kept size-1 axis, which RETURNN's reduce drops). */
void pt2_axes_after_reduction(const pt2_lowered_value *in, const int *reduced, int keepdim, int *dims, int *rank);

/* Output `index` of the node (0 for a single tensor output, else the index into a list output). */
pt2_status pt2_axes_set_output_at(pt2_lower_context *ctx, const pt2_node *node, size_t index, const pt2_lowered_value *v,
                                  pt2_error *err);

/* `dims` as the map of graph value `value_id` computed by `layer`: each of the layer's dims once,
 * the rest broadcast axes. */
pt2_status pt2_axes_check_output(pt2_lower_context *ctx, const pt2_node *node, int value_id, const pt2_rt_layer *layer,
                                 int rank, const int *dims, pt2_error *err);

/* Output `index` of the node is the output of `layer` (checked against it), with these dims. */
pt2_status pt2_axes_set_layer_output_at(pt2_lower_context *ctx, const pt2_node *node, size_t index, pt2_rt_layer *layer,
                                        int rank, const int *dims, pt2_error *err);

/* Node output 0 = `in` with its axes permuted: output axis a is input axis perm[a]. No layer. */
pt2_status pt2_axes_permute(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, const int *perm,
                            pt2_error *err);

/* Node output 0 = `in` viewed with the sizes of graph value `out_value` (as the reference run
 * computed them): squeeze, merge_dims, split_dims layers as the factorisation needs, or none;
 * the output's size-1 axes are broadcast axes. Merging or splitting the batch is refused (RETURNN's dims cannot follow it). */
pt2_status pt2_axes_view(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int out_value,
                         pt2_error *err);

/* `in` with axis `axis` as its feature dim: *out = `in` itself when it already is, else `storage`
 * filled with a reinterpret_data layer (set_axes F) on it. */
pt2_status pt2_axes_require_feature(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *in, int axis,
                                    pt2_lowered_value *storage, const pt2_lowered_value **out, pt2_error *err);

/* The one dim of the layer's output that `in` does not have (-1 if none or several). */
int pt2_axes_new_dim(const pt2_rt_layer *layer, const pt2_lowered_value *in);

/* Finishing node output 0 from a layer computed on `in`:
 * replace: in's axes with axis `axis` now `dim` (axis -1: in's axes unchanged);
 * drop: in's axes without axis `axis`. */
pt2_status pt2_axes_finish_replace(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer,
                                   const pt2_lowered_value *in, int axis, int dim, pt2_error *err);
pt2_status pt2_axes_finish_drop(pt2_lower_context *ctx, const pt2_node *node, pt2_rt_layer *layer,
                                const pt2_lowered_value *in, int axis, pt2_error *err);

/* The output map of an elementwise op on `count` operands (PyTorch broadcasts aligned from the
 * last axis): each axis takes the dim of an operand that is not of size 1 there and that the
 * layer's output has (a constant's size-1 axes have no dim: -1). */
pt2_status pt2_axes_broadcast(pt2_lower_context *ctx, const pt2_node *node, const pt2_rt_layer *layer,
                              const pt2_lowered_value *const *operands, int count, int rank, int *dims, pt2_error *err);

/* RETURNN's combine and compare need one source with every dim of the result unless told to
 * broadcast all of them ([B,F] * [B,T] -> [B,T,F], which broadcast axes make common): sets
 * allow_broadcast_all_sources on `layer` (of one of those classes) when no source has them all. */
pt2_status pt2_axes_allow_broadcast_all(pt2_lower_context *ctx, pt2_rt_layer *layer,
                                        const pt2_lowered_value *const *sources, size_t count, pt2_error *err);

/* Two operands on one time length reached along different paths carry different dim tags in
 * RETURNN: `second` with a reinterpret_data (size_base `first`'s layer) that makes its time dim
 * the first one's. out->is_set = 0 when nothing is needed. */
pt2_status pt2_axes_same_time(pt2_lower_context *ctx, const pt2_node *node, const pt2_lowered_value *first,
                              const pt2_lowered_value *second, pt2_lowered_value *out, pt2_error *err);

/* A lowered value for a helper layer's output with the given PyTorch axes. */
void pt2_axes_value_of(const pt2_rt_layer *layer, int rank, const int *dims, pt2_lowered_value *out);

#endif
