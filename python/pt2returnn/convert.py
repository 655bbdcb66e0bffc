"""pt2returnn.convert: a live PyTorch module to RETURNN in one call, in process, with real PyTorch
as the reference (the original pytorch-to-returnn's verify_torch_and_convert_to_returnn)."""
import io
import os
import sys
import time

from . import _pytorch_side as pytorch_side
from .errors import BadInputError, CheckFailedError, CheckpointMismatchError, from_core
from .result import Conversion


def _progress_printer():
    """Progress lines on stderr when it is a terminal; nothing in scripts, logs and tests."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None

    def show(step, message):
        print(f"[{step}] {message}", file=sys.stderr, flush=True)
    return show


def _checkpoint_bytes(checkpoint):
    """(bytes, name) of a checkpoint given as a path (torch.save or .safetensors) or a state dict."""
    if checkpoint is None:
        return None, None
    if isinstance(checkpoint, (str, os.PathLike)):
        try:
            with open(checkpoint, "rb") as f:
                return f.read(), os.fspath(checkpoint)
        except OSError as e:
            raise BadInputError(f"checkpoint: cannot read {os.fspath(checkpoint)}: {e.strerror}") from e
    if isinstance(checkpoint, dict):
        import torch
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)  # read back by the core's allow-listed reader, as a file would be
        return buffer.getvalue(), "state dict"
    raise BadInputError(f"checkpoint: expected a path or a state dict, got {type(checkpoint).__name__}")


STRICT_REFUSAL = "(strict, as load_state_dict(strict=True))"  # in the core's message (core/load/apply_checkpoint.c)


def _binding():
    """The compiled binding; imported on first use, so that `export` also works from a source tree."""
    try:
        from . import _core
    except ImportError as e:
        raise ImportError("pt2returnn._core, the binding to the C core, is not built here: install the package "
                          "with `pip install ./python` from the repository") from e
    return _core


def _run_core(model, model_name, args, references, checkpoint, checkpoint_name, checkpoint_key, atol, rtol, as_layer,
              progress, strict):
    _core = _binding()
    inputs = [pytorch_side.tensor_record(a, f"args[{i}]") for i, a in enumerate(args)]
    refs = [pytorch_side.tensor_record(t, "the module's output") for t in references]
    try:
        return _core.convert(model, model_name, inputs, refs, checkpoint, checkpoint_name, checkpoint_key, atol, rtol,
                             as_layer, progress, 1, strict)
    except _core.CoreError as e:
        error = from_core(e)
    if STRICT_REFUSAL in str(error):
        # The core's strict rule refused the checkpoint (naming every key); the lists as data too.
        keys = _core.checkpoint_keys(model, checkpoint, checkpoint_name, checkpoint_key)
        raise CheckpointMismatchError(str(error), keys["missing"], keys["unexpected"], error.details) from None
    raise error


def convert(module, args, *, dynamic_shapes=None, checkpoint=None, checkpoint_key=None, out_dir=None, atol=1e-4,
            rtol=1e-4, strict=True, returnn=False, as_layer=None):
    """Converts `module` (an nn.Module, exported here with pt2returnn's export, or an
    ExportedProgram) to a RETURNN config and TF checkpoint, through the C core in process.

    PyTorch's own outputs, from running the module on `args` and on `args` cut to a second
    length of every dynamic dim, are the reference the core's steps compare with. `checkpoint`
    (a path to a torch.save or .safetensors file, or a state dict; `checkpoint_key` is the dotted
    path to the state dict inside it) gives the weights to convert, loaded strictly as
    load_state_dict(strict=True) unless strict=False: the module should hold the
    same weights (load them as your training code does), so that the comparison is meaningful.

    Returns a Conversion (files in `out_dir`, or in a temporary directory it owns). Raises
    BadInputError (CheckpointMismatchError for a checkpoint that does not match under strict),
    UnsupportedOpsError (every unsupported op listed), CheckFailedError (a comparison failed;
    its .result holds the files and the report)."""
    if checkpoint_key is not None and checkpoint is None:
        raise BadInputError("checkpoint_key needs a checkpoint")
    if not (atol >= 0 and rtol >= 0):
        raise BadInputError(f"atol and rtol must be non-negative numbers, got {atol!r} and {rtol!r}")
    args = pytorch_side.as_args(args)
    program, reference = pytorch_side.export_program(module, args, dynamic_shapes)
    model = pytorch_side.program_bytes(program)
    model_name = type(module).__name__
    checkpoint_data, checkpoint_name = _checkpoint_bytes(checkpoint)
    progress = _progress_printer()

    outputs = pytorch_side.run_pytorch(reference, args)
    core = _run_core(model, model_name, args, outputs, checkpoint_data, checkpoint_name, checkpoint_key, atol, rtol,
                     as_layer, progress, strict)
    runs = [(args, outputs, None)]

    second_args, described = pytorch_side.second_length_args(program, args, dynamic_shapes)
    if second_args is not None:
        second_outputs = pytorch_side.run_pytorch(reference, second_args)
        if progress:
            progress("second length", described)
        second_progress = progress and (lambda step, message: progress(f"{step}@{described}", message))
        started = time.perf_counter()
        second = _run_core(model, model_name, second_args, second_outputs, checkpoint_data, checkpoint_name,
                           checkpoint_key, atol, rtol, as_layer, second_progress, strict)
        _add_second_length_steps(core, second, described, time.perf_counter() - started)
        runs.append((second_args, second_outputs, described))

    result = Conversion(core, out_dir=out_dir, as_layer=as_layer,
                        rerun=lambda name: _run_core(model, model_name, args, outputs, checkpoint_data,
                                                     checkpoint_name, checkpoint_key, atol, rtol, name, None, strict))
    result.write_files()
    if returnn:
        from ._returnn_check import check_in_returnn
        check_in_returnn(result, runs, atol, rtol, progress)
        result.write_files()
    if not result.passed:
        raise CheckFailedError(f"{model_name}: the '{result.failed_step}' check failed (report in "
                               f"{result.out_dir}/report.txt)", result)
    return result


def _add_second_length_steps(core, second, described, seconds):
    """The second run's comparisons (each step that compared something, or failed) join the first
    run's report as steps of their own, e.g. "reference@frames=37"."""
    import json
    steps = [s for s in json.loads(second.outputs()["report_json"])["steps"] if "max_abs" in s or not s["passed"]]
    for step in steps:
        # null in report.json is a non-finite difference (e.g. shapes that differ)
        numbers = [step.get(key, 0.0) for key in ("max_abs", "max_rel", "worst_ratio")]
        core.add_step(f"{step['step']}@{described}", f"{step['what']} (at {described})", seconds / len(steps),
                      "max_abs" in step, step["passed"], *(float("inf") if n is None else n for n in numbers))
