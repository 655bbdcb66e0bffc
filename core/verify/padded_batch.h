/* Step 6's second half: the reloaded network on a padded batch. RETURNN trains and decodes on
 * batches of sequences of different lengths, zeros after each sequence's end (as its datasets
 * pad), so every layer must give each sequence, within its own length, what the model gives on
 * that sequence alone. The batch holds the example input cut (or, for lack of room below it,
 * extended) to three lengths within the export's range, the longest at most 16 frames; each is also run alone through the
 * reference run (PyTorch semantics), and the two are compared sequence by sequence. */
#ifndef PT2_VERIFY_PADDED_BATCH_H
#define PT2_VERIFY_PADDED_BATCH_H

#include "../base/strbuf.h"
#include "../reload/read_config.h"
#include "../run/executor.h"

#define PT2_PADDED_BATCH_LENGTHS 3

typedef struct pt2_padded_batch_sequence {
    int64_t length;          /* input frames */
    pt2_tensor input;        /* the sequence alone, [B, ...] as the example (the reload runs the first) */
    int64_t output_length;   /* the first output's dynamic axis in the reference run (-1: it has none) */
    double max_abs, max_rel; /* within the sequence's own length, the worst of the outputs */
    int passed;
} pt2_padded_batch_sequence;

/* One of the network's results on the batch. */
typedef struct pt2_padded_batch_output {
    const char *name;
    int batch_axis; /* its batch axis (PyTorch's order); -1: none, so nothing per sequence to compare */
    int passed;
    double max_abs, max_rel, worst_ratio; /* worst sequence */
    double sequence_max_abs[PT2_PADDED_BATCH_LENGTHS];
    pt2_tensor references[PT2_PADDED_BATCH_LENGTHS]; /* the reference run's, per sequence alone [B, ...] */
    pt2_tensor result; /* the reloaded network's on the batch [N*B, ...] (pt2_verify_padded_batch), or no storage */
} pt2_padded_batch_output;

typedef struct pt2_padded_batch {
    int applicable;         /* the input has a dynamic axis */
    const char *inapplicable; /* why not, when not for want of a dynamic axis (e.g. the export accepts one length), or NULL */
    int passed;
    double max_abs, max_rel; /* worst sequence */
    double worst_ratio;      /* worst |a-b| / (atol + rtol*|b|) of any sequence */
    size_t num_sequences;
    pt2_padded_batch_sequence sequences[PT2_PADDED_BATCH_LENGTHS];
    const char *problem;    /* a mismatch that is not a number (an output length), or NULL */
    /* The batch (arena-owned, for checks the caller adds, e.g. real RETURNN): input [N*B, ...]
     * with zeros after each end, the input length of each batch entry, and per result the
     * reference run's outputs of each sequence. */
    pt2_tensor input;
    int64_t *entry_lengths;
    int input_time_axis;
    size_t num_outputs;
    pt2_padded_batch_output outputs[PT2_RT_MAX_OUTPUTS];
} pt2_padded_batch;

/* The batch and each sequence's reference run, for the emitted network `net` (its input's dynamic
 * axis, its results' batch axes): done before the weights may go (core/pipeline/convert.c frees the
 * model file after the emit when its caller lets it). `main_run` (may be NULL): the conversion's
 * reference run, whose values not depending on the input the sequences' runs take instead of
 * computing them again. out->applicable = 0: no dynamic axis, or no result with a batch axis, or
 * the program refuses the batch's lengths (out->inapplicable says how). */
pt2_status pt2_padded_batch_prepare(pt2_arena *arena, const pt2_graph *graph, const pt2_run_context *main_run,
                                    const pt2_rt_net *net, const pt2_tensor *example, const pt2_run_options *run_options,
                                    pt2_padded_batch *out, pt2_error *err);
/* The reloaded network on the prepared batch, against the references. Fails only on errors; a
 * mismatch is batch->passed = 0 (with batch->problem for a length). */
pt2_status pt2_verify_padded_batch(pt2_arena *arena, pt2_reloaded_net *reloaded, double atol, double rtol,
                                   pt2_padded_batch *batch, pt2_error *err);

/* The reloaded network's results for the first sequence, the longest (so unpadded), as it ran in
 * the batch: views of each result's entries of that sequence, the shapes of its references. 0
 * when there are none to give (the batch did not run, a result has no batch axis, the first is
 * not the longest or its shapes differ): the reload then runs the sequence alone. */
int pt2_padded_batch_first_sequence(const pt2_padded_batch *batch, pt2_tensor *results);

/* Compares the padded batch's results (outputs[batch->num_outputs], each [N*B, ...] in PyTorch's
 * axis order) with the reference outputs, each sequence cropped to its own sizes; a shape that
 * cannot hold a sequence is a problem. */
void pt2_padded_batch_compare(pt2_arena *arena, pt2_padded_batch *batch, const pt2_tensor *outputs, double atol,
                              double rtol, pt2_error *err);

/* "lengths 50, 34, 17: max abs 1e-07, 2e-07, 1e-07"; with several results each by name:
 * "lengths 50, 34, 17: 'a' max abs ...; 'b' max abs ...; 'c' not compared (no batch axis)" */
void pt2_padded_batch_format(const pt2_padded_batch *batch, pt2_strbuf *out);

#endif
