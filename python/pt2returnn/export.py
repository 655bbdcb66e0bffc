"""pt2returnn.export: torch.export.export, with the recurrent layers kept dynamic in time.

F.max_pool1d (without ceil_mode or indices; nn.MaxPool1d calls it) goes to pt2returnn::max_pool1d
during the export too, restored likewise.

nn.LSTM/GRU/RNN call their kernels through `torch.nn.modules.rnn._VF` (lstm, gru, rnn_tanh,
rnn_relu). During the export only, that name points to a stand-in whose padded-input overloads
call the pt2returnn:: ops instead; everything else (the packed-sequence overloads, the cells)
goes to the real `_VF`. The module code itself (default zero states, unbatched inputs, proj_size,
the flat weights under their state-dict names) runs unchanged. Afterwards `_VF` is restored, also
when the export fails.
"""
import contextlib
import threading
import warnings

import torch
import torch.nn.functional as _functional
import torch.nn.modules.rnn as _rnn_module

from . import ops

_lock = threading.Lock()


class _RoutedVF:
    """Forwards every attribute to the real _VF except the recurrent kernels on padded input."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _route(self, name, custom, args, kwargs):
        # The padded overloads are (input, hx, params, has_biases, num_layers, dropout, train,
        # bidirectional, batch_first): 9 arguments whose 3rd is the parameter list. The packed
        # overloads (data, batch_sizes, hx, params, ...) have a tensor there.
        if len(args) == 9 and not kwargs and isinstance(args[2], (list, tuple)):
            input, hx, params = args[0], args[1], list(args[2])
            if isinstance(hx, (list, tuple)):
                hx = list(hx)
            return custom(input, hx, params, *args[3:])
        return getattr(self._real, name)(*args, **kwargs)

    def lstm(self, *args, **kwargs):
        return self._route("lstm", ops.lstm, args, kwargs)

    def gru(self, *args, **kwargs):
        return self._route("gru", ops.gru, args, kwargs)

    def rnn_tanh(self, *args, **kwargs):
        return self._route("rnn_tanh", ops.rnn_tanh, args, kwargs)

    def rnn_relu(self, *args, **kwargs):
        return self._route("rnn_relu", ops.rnn_relu, args, kwargs)


def _one(value, default=None):
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return default
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _routed_max_pool1d(real):
    def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        if ceil_mode or return_indices:
            return real(input, kernel_size, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=return_indices)
        kernel = _one(kernel_size)
        return ops.max_pool1d(input, kernel, _one(stride, kernel), _one(padding), _one(dilation), False)

    return max_pool1d


@contextlib.contextmanager
def routed_recurrent_layers():
    """Within the block, nn.LSTM/GRU/RNN and F.max_pool1d run through the pt2returnn:: ops."""
    with _lock:
        real_vf, real_max_pool1d = _rnn_module._VF, _functional.max_pool1d
        _rnn_module._VF = _RoutedVF(real_vf)
        _functional.max_pool1d = _routed_max_pool1d(real_max_pool1d)
        try:
            yield
        finally:
            _rnn_module._VF = real_vf
            _functional.max_pool1d = real_max_pool1d


def export(module, args, kwargs=None, dynamic_shapes=None, **options):
    """torch.export.export(module, args, kwargs, dynamic_shapes=..., **options), with nn.LSTM,
    nn.GRU and nn.RNN captured as pt2returnn:: ops whose time axis may stay dynamic. Returns the
    ExportedProgram; save it with torch.export.save as usual."""
    with routed_recurrent_layers(), warnings.catch_warnings():
        # nn.LSTM/GRU/RNN keep their parameters in the list _flat_weights too; the export swaps
        # the parameters and torch warns that the list was assigned. Expected, and harmless.
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights", category=UserWarning)
        return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic_shapes, **options)
