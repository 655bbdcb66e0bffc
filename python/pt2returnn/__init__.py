"""pt2returnn: PyTorch models to RETURNN net dicts and TensorFlow checkpoints, verified step by step.

`convert(module, args, ...)` converts a live module in this process through the binding to the C
core (the converter the CLI, the npm package and the page run), with real PyTorch as the
reference (docs/python.md). `export` is torch.export.export with the recurrent layers (nn.LSTM,
nn.GRU, nn.RNN) routed through shape-polymorphic ops of the `pt2returnn::` namespace, so that their
time axis can stay dynamic. Importing the package registers those ops, so
`torch.export.load(...).module()` runs such files.
"""
from . import ops  # noqa: F401  (registers the pt2returnn:: ops)
from .convert import convert
from .errors import (BadInputError, CheckFailedError, CheckpointMismatchError, InternalError, Pt2ReturnnError,
                     UnsupportedOpsError)
from .export import export
from .result import Conversion

__all__ = ["export", "convert", "Conversion", "Pt2ReturnnError", "BadInputError", "CheckpointMismatchError",
           "UnsupportedOpsError", "CheckFailedError", "InternalError"]
