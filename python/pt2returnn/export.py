"""pt2returnn.export: torch.export.export, with the recurrent layers kept dynamic in time.

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


@contextlib.contextmanager
def routed_recurrent_layers():
    """Within the block, nn.LSTM/GRU/RNN run through the pt2returnn:: ops."""
    with _lock:
        real = _rnn_module._VF
        _rnn_module._VF = _RoutedVF(real)
        try:
            yield
        finally:
            _rnn_module._VF = real


def export(module, args, kwargs=None, dynamic_shapes=None, **options):
    """torch.export.export(module, args, kwargs, dynamic_shapes=..., **options), with nn.LSTM,
    nn.GRU and nn.RNN captured as pt2returnn:: ops whose time axis may stay dynamic. Returns the
    ExportedProgram; save it with torch.export.save as usual."""
    with routed_recurrent_layers(), warnings.catch_warnings():
        # nn.LSTM/GRU/RNN keep their parameters in the list _flat_weights too; the export swaps
        # the parameters and torch warns that the list was assigned. Expected, and harmless.
        warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights", category=UserWarning)
        return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic_shapes, **options)
