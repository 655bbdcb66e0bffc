"""pt2returnn: PyTorch models to RETURNN net dicts and TensorFlow checkpoints.

`export` is torch.export.export with the recurrent layers (nn.LSTM, nn.GRU, nn.RNN) routed through
shape-polymorphic ops of the `pt2returnn::` namespace, so that their time axis can stay dynamic.
Importing the package registers those ops, so `torch.export.load(...).module()` runs such files.
"""
from . import ops  # noqa: F401  (registers the pt2returnn:: ops)
from .export import export

__all__ = ["export"]
