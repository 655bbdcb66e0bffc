"""pt2returnn: PyTorch modules to RETURNN net dicts and TF checkpoints, verified step by step.

    result = pt2returnn.convert(module, (x,), dynamic_shapes=..., returnn=True)

runs the C core (the converter the CLI, the npm package and the page run) in this process;
docs/python.md describes the API."""
from .convert import convert
from .errors import (BadInputError, CheckFailedError, CheckpointMismatchError, InternalError, Pt2ReturnnError,
                     UnsupportedOpsError)
from .result import Conversion

__all__ = ["convert", "Conversion", "Pt2ReturnnError", "BadInputError", "CheckpointMismatchError",
           "UnsupportedOpsError", "CheckFailedError", "InternalError"]
