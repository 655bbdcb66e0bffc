/* The in-place ops an export keeps and their functional forms, which take the same arguments:
 * `acc += block(x)` in a loop (parallel_wavegan's HiFiGAN sums its residual blocks so) and the
 * activations of modules built with inplace=True (nn.ReLU(inplace=True) and its kin), a mask
 * written over a softmax's result (transformers' SEW-D and DeBERTa-v2: output.masked_fill_(rmask, 0)). One list
 * for the three places that name them: the rewrite to the functional op
 * (core/graph/functionalize.c), the reference run's in-place runner (core/ops/symbolic.c) and the
 * lowering's reason where the write is seen (core/lower/op_notes.c). X(in_place, functional). */
#ifndef PT2_GRAPH_IN_PLACE_OPS_H
#define PT2_GRAPH_IN_PLACE_OPS_H

#define PT2_IN_PLACE_OPS(X)                                                                                      \
    X("aten.add_.Tensor", "aten.add.Tensor") X("aten.add_.Scalar", "aten.add.Scalar")                           \
    X("aten.sub_.Tensor", "aten.sub.Tensor") X("aten.mul_.Tensor", "aten.mul.Tensor")                           \
    X("aten.mul_.Scalar", "aten.mul.Scalar") X("aten.div_.Tensor", "aten.div.Tensor")                           \
    X("aten.relu_.default", "aten.relu.default") X("aten.leaky_relu_.default", "aten.leaky_relu.default")       \
    X("aten.silu_.default", "aten.silu.default") X("aten.hardtanh_.default", "aten.hardtanh.default")           \
    X("aten.elu_.default", "aten.elu.default") X("aten.selu_.default", "aten.selu.default")                     \
    X("aten.celu_.default", "aten.celu.default") X("aten.gelu_.default", "aten.gelu.default")                   \
    X("aten.mish_.default", "aten.mish.default") X("aten.hardswish_.default", "aten.hardswish.default")         \
    X("aten.hardsigmoid_.default", "aten.hardsigmoid.default")                                                   \
    X("aten.sigmoid_.default", "aten.sigmoid.default") X("aten.tanh_.default", "aten.tanh.default")             \
    X("aten.clamp_.default", "aten.clamp.default") X("aten.clamp_.Tensor", "aten.clamp.Tensor")                 \
    X("aten.clamp_min_.default", "aten.clamp_min.default") X("aten.clamp_max_.default", "aten.clamp_max.default") \
    X("aten.masked_fill_.Scalar", "aten.masked_fill.Scalar") X("aten.masked_fill_.Tensor", "aten.masked_fill.Tensor")

#endif
