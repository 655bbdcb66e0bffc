"""The pt2returnn:: custom ops that stand for PyTorch's recurrent layers in an exported graph.

torch.export specializes the time axis of aten.lstm/gru/rnn_* (their decompositions loop over
time). These ops take exactly the arguments of the aten ops (aten::lstm.input, aten::gru.input,
aten::rnn_tanh.input, aten::rnn_relu.input), run PyTorch's own op eagerly, so outputs are
identical, and describe their output shapes symbolically for the export. The graph thus holds one
node per recurrent layer call, with its parameters by their state-dict names.
"""
from typing import List, Tuple

import torch
from torch import Tensor

NAMESPACE = "pt2returnn"


def _sequence_shape(input: Tensor, hidden_width, bidirectional: bool):
    width = hidden_width * (2 if bidirectional else 1)
    return (*input.shape[:-1], width)


@torch.library.custom_op(f"{NAMESPACE}::lstm", mutates_args=())
def lstm(input: Tensor, hx: List[Tensor], params: List[Tensor], has_biases: bool, num_layers: int, dropout: float,
         train: bool, bidirectional: bool, batch_first: bool) -> Tuple[Tensor, Tensor, Tensor]:
    output, h_n, c_n = torch.lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                                  batch_first)
    return output, h_n, c_n


@lstm.register_fake
def _(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    # h0 is [layers*directions, batch, proj_size or hidden], c0 [layers*directions, batch, hidden].
    output = input.new_empty(_sequence_shape(input, hx[0].shape[-1], bidirectional))
    return output, hx[0].new_empty(hx[0].shape), hx[1].new_empty(hx[1].shape)


def _define_single_state(name, aten_function):
    @torch.library.custom_op(f"{NAMESPACE}::{name}", mutates_args=())
    def single_state(input: Tensor, hx: Tensor, params: List[Tensor], has_biases: bool, num_layers: int,
                     dropout: float, train: bool, bidirectional: bool, batch_first: bool) -> Tuple[Tensor, Tensor]:
        output, h_n = aten_function(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                                    batch_first)
        return output, h_n

    @single_state.register_fake
    def _(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return input.new_empty(_sequence_shape(input, hx.shape[-1], bidirectional)), hx.new_empty(hx.shape)

    return single_state


gru = _define_single_state("gru", torch.gru)
rnn_tanh = _define_single_state("rnn_tanh", torch.rnn_tanh)
rnn_relu = _define_single_state("rnn_relu", torch.rnn_relu)


@torch.library.custom_op(f"{NAMESPACE}::max_pool1d", mutates_args=())
def max_pool1d(self: Tensor, kernel_size: List[int], stride: List[int], padding: List[int], dilation: List[int],
               ceil_mode: bool) -> Tensor:
    """aten::max_pool1d's arguments; torch.export specializes its length, this op keeps it symbolic."""
    return torch.max_pool1d(self, kernel_size, stride, padding, dilation, ceil_mode).clone()


@max_pool1d.register_fake
def _(self, kernel_size, stride, padding, dilation, ceil_mode):
    if ceil_mode:
        raise ValueError("pt2returnn::max_pool1d is used without ceil_mode only")
    length = self.shape[-1]
    out = (length + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1
    return self.new_empty((*self.shape[:-1], out))
