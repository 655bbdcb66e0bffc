/* The recurrent units pt2returnn writes as `rec` subnetworks (a dict unit, one frame per step),
 * for cells that no RETURNN unit computes as PyTorch does: GRU (PyTorch applies the reset gate
 * after the hidden matmul, r * (W_hn h + b_hn)) and the Elman RNN. Inner layers are `linear`
 * on "data:source" (the frame) or "prev:<layer>" (its last output; zeros before the first frame),
 * and `eval` layers with one of these expressions. The lowering (core/lower/lower_recurrent.c)
 * writes them, the interpreter (core/returnn/layers_rec.c) knows exactly these. */
#ifndef PT2_RETURNN_REC_UNITS_H
#define PT2_RETURNN_REC_UNITS_H

#define PT2_REC_EVAL_SIGMOID_SUM "tf.sigmoid(source(0) + source(1))"
#define PT2_REC_EVAL_TANH_SUM "tf.tanh(source(0) + source(1))"
#define PT2_REC_EVAL_RELU_SUM "tf.nn.relu(source(0) + source(1))"
/* GRU's candidate n = tanh(x_n + r * h_n), and its new state (1 - z) * n + z * h */
#define PT2_REC_EVAL_GRU_CANDIDATE "tf.tanh(source(0) + source(1) * source(2))"
#define PT2_REC_EVAL_GRU_STATE "(1 - source(0)) * source(1) + source(0) * source(2)"
/* An LSTM with a projection (proj_size), whose cell state is a unit layer "c" of its own:
 * c = f * prev:c + i * g, and the unprojected hidden state o * tanh(c) */
#define PT2_REC_EVAL_LSTM_CELL "source(0) * source(1) + source(2) * source(3)"
#define PT2_REC_EVAL_LSTM_HIDDEN "source(0) * tf.tanh(source(1))"

/* The backward direction of a dict unit: RecLayer ignores "direction" for subnetwork units, so
 * the sequence is reversed within each sequence's length before and after the rec layer (as
 * RecLayer does itself for its native units), by an eval layer with this expression. */
#define PT2_REC_EVAL_REVERSE                                                                                       \
    "tf.reverse_sequence(source(0), seq_lengths=source(0, as_data=True).get_sequence_lengths(), "                   \
    "seq_axis=source(0, as_data=True).time_dim_axis, batch_axis=source(0, as_data=True).batch_dim_axis)"

#endif
