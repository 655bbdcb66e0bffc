"""The exceptions pt2returnn.convert raises: one hierarchy, each carrying the core's own message.

    Pt2ReturnnError
    ├── BadInputError            the module, inputs or checkpoint cannot be converted as given
    │   └── CheckpointMismatchError  strict checkpoint loading: missing / unexpected keys, all named
    ├── UnsupportedOpsError      ops or constructs the converter does not lower (every one listed)
    ├── CheckFailedError         a verification step failed; .result holds the files and the report
    └── InternalError            a bug in pt2returnn
"""


class Pt2ReturnnError(Exception):
    """Base class. `details` holds the core's error record (file, entry, module_path, op,
    source_line, message) where the error came from the core."""

    def __init__(self, message, details=None):
        super().__init__(message)
        self.details = dict(details or {})


class BadInputError(Pt2ReturnnError, ValueError):
    pass


class CheckpointMismatchError(BadInputError):
    """Raised like torch's load_state_dict(strict=True): every missing and unexpected key is named."""

    def __init__(self, message, missing=(), unexpected=(), details=None):
        super().__init__(message, details)
        self.missing = list(missing)
        self.unexpected = list(unexpected)


class UnsupportedOpsError(Pt2ReturnnError):
    pass


class CheckFailedError(Pt2ReturnnError):
    """A comparison failed. The conversion's files are written all the same (as the CLI does);
    `result` is the Conversion, `failed_step` names the first failed step."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result
        self.failed_step = result.failed_step


class InternalError(Pt2ReturnnError):
    pass


def from_core(error):
    """The Python exception for a _core.CoreError(status, one-line message, details); the status
    values are core/base/error.h's pt2_status."""
    status, message, details = error.args
    cls = {2: BadInputError, 3: UnsupportedOpsError, 4: BadInputError, 5: BadInputError}.get(status, InternalError)
    return cls(message, details)
