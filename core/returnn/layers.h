/* The RETURNN layer classes pt2returnn emits, each with two halves, as RETURNN's own layers:
 * `infer` gives the output's dims from the sources' dims and the options (RETURNN's
 * get_out_data_from_opts, including which dims are new and how derived dims are computed), and
 * `compute` does the arithmetic TensorFlow does (TF's layouts and padding rules), independently
 * of the PyTorch-semantics kernels. The lowering infers every layer it adds; the per-layer check
 * and the reload compute them. One file per family: layers_<family>.c. */
#ifndef PT2_RETURNN_LAYERS_H
#define PT2_RETURNN_LAYERS_H

#include "net.h"

/* A tensor whose axes are the dims of `shape` (in any order). */
typedef struct pt2_rt_tensor {
    pt2_tensor tensor;
    pt2_rt_shape shape;
    /* The caller reads the data no more (a run's value at its last reader): a layer may write its
     * result over it (an elementwise layer on a dense source), so that it costs no second buffer. */
    int writable;
} pt2_rt_tensor;

typedef pt2_status (*pt2_rt_infer_fn)(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                      const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out,
                                      pt2_error *err);
/* `out` gets the layer's output in the axis order of layer->shape. */
typedef pt2_status (*pt2_rt_compute_fn)(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *out,
                                        pt2_error *err);

typedef struct pt2_rt_layer_class {
    const char *name;
    pt2_rt_infer_fn infer;
    pt2_rt_compute_fn compute;
} pt2_rt_layer_class;

const pt2_rt_layer_class *pt2_rt_find_layer_class(const char *name);
/* 0 for a class that reads only its sources' shapes (so a check can give it a source whose
 * values are gone: core/verify/verify_layers.c). */
int pt2_rt_layer_reads_source_data(const char *layer_class);

/* Sets layer->shape from its sources' shapes. */
pt2_status pt2_rt_infer_layer(pt2_arena *arena, pt2_rt_net *net, pt2_rt_layer *layer, const pt2_rt_shape *inputs,
                              size_t num_inputs, pt2_error *err);
/* Runs the layer; the result's axes follow layer->shape. */
pt2_status pt2_rt_compute_layer(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                const pt2_rt_tensor *inputs, size_t num_inputs, pt2_rt_tensor *out, pt2_error *err);

/* Puts a tensor's axes into the order of `dims` (each dim must be one of the tensor's, except
 * that extra dims of size 1 may be added), contiguous. */
pt2_status pt2_rt_transpose_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                               pt2_error *err);

/* The same, but the input itself when it is already contiguous in that order: for a compute
 * that only reads it. */
pt2_status pt2_rt_view_to(pt2_arena *arena, const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out,
                          pt2_error *err);

/* The same order as a strided view of the input, never copied: for a kernel that reads any
 * strides (the GEMM's packing), so that a rearranged input costs no pass of its own. */
pt2_status pt2_rt_strided_view(const pt2_rt_tensor *in, int rank, const int *dims, pt2_tensor *out, pt2_error *err);

/* ---- helpers for the layer classes ---- */
pt2_status pt2_rt_layer_fail(const pt2_rt_layer *layer, pt2_error *err, const char *fmt, ...);
/* The one source a layer class expects. */
pt2_status pt2_rt_single_input(const pt2_rt_layer *layer, size_t num_inputs, pt2_error *err);
/* A float32 tensor of the given shape. */
pt2_status pt2_rt_alloc_output(pt2_arena *arena, const pt2_rt_shape *shape, const int64_t *sizes, pt2_tensor *out,
                               pt2_error *err);
/* The same, not zeroed: for a compute that writes every element. */
pt2_status pt2_rt_alloc_output_uninit(pt2_arena *arena, const pt2_rt_shape *shape, const int64_t *sizes,
                                      pt2_tensor *out, pt2_error *err);

/* Elementwise layers with several sources (combine, compare, switch) broadcast them by dim tags,
 * as RETURNN does: the output has every dim of the largest source plus the others' extra dims. */
pt2_status pt2_rt_broadcast_infer(pt2_arena *arena, pt2_rt_net *net, const pt2_rt_layer *layer,
                                  const pt2_rt_shape *inputs, size_t num_inputs, pt2_rt_shape *out, pt2_error *err);
/* Fails unless every source has the first's dtype, as RETURNN's combine (each source checked
 * against its output) and compare (both handed to one TF op) need: `what` names the layer class. */
pt2_status pt2_rt_sources_one_dtype(const pt2_rt_layer *layer, const pt2_rt_shape *inputs, size_t num_inputs,
                                    const char *what, pt2_error *err);
/* Each source in the output's axis order (size 1 where it lacks a dim), and the output's sizes; read only: a
 * source already in that order is itself, not a copy. */
pt2_status pt2_rt_broadcast_sources(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *inputs, size_t num_inputs, pt2_tensor *expanded,
                                    int64_t *sizes, pt2_error *err);
/* The element of an expanded source at the output's `index`. */
int64_t pt2_rt_broadcast_offset(const pt2_tensor *expanded, const int64_t *index);
/* Stores element i of a contiguous tensor, converted to its dtype. */
void pt2_rt_store(pt2_tensor *t, int64_t i, double v);
/* The eval forms "reflect_end"/"replicate_end" on a pad's output: its last `right` frames of the
 * time axis redone at each sequence's own end (as tf.reverse_sequence by the lengths does). */
pt2_status pt2_rt_pad_sequence_ends(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                    const pt2_rt_tensor *in, int reflect, int64_t right, pt2_tensor *out, pt2_error *err);

/* The eval form "linear_align_corners_time": on a nearest upsampling of the time by `factor`, each
 * sequence interpolated linearly with align_corners=True (core/returnn/layers_resize_time.c). */
pt2_status pt2_rt_linear_align_corners_time(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                            const pt2_rt_tensor *in, int64_t factor, pt2_tensor *out, pt2_error *err);

/* The eval form "roll_time_back": frame t of the time axis is frame (t + shift) mod T. */
pt2_status pt2_rt_roll_time_back(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *in, int64_t shift, pt2_tensor *out, pt2_error *err);

/* The eval form "concat_time_per_sequence" on a concat of [a, c] along the time: in a padded
 * batch, each sequence's frames of c moved back to the end of its own frames of a
 * (core/returnn/layers_concat_packed.c). */
pt2_status pt2_rt_pack_joined_sequences(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                        const pt2_rt_tensor *in, pt2_tensor *out, pt2_error *err);
/* The eval forms "prod_feature"/"prod_time": the product over the feature axis or over the time
 * (each sequence's own frames), at every position of that axis (core/returnn/layers_prod.c). */
pt2_status pt2_rt_prod_broadcast(pt2_arena *arena, const pt2_rt_net *net, const pt2_rt_layer *layer,
                                 const pt2_rt_tensor *in, int over_time, pt2_tensor *out, pt2_error *err);

/* The eval expressions pt2returnn writes (by name), each with at most one number in it ("%s"),
 * so that the interpreter knows every one it may meet. */
const char *pt2_rt_eval_form(const char *name);
#endif
