"""pt2returnn.convert: a live PyTorch module to RETURNN in one call, in process, with real PyTorch
as the reference (the original pytorch-to-returnn's verify_torch_and_convert_to_returnn)."""
import io
import os
import sys
import time

from . import _core
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


def _check_strict(model, checkpoint, checkpoint_name, checkpoint_key, module_keys):
    """load_state_dict(strict=True)'s rule on the checkpoint as the core matches it (prefix found,
    weight norm folded): every parameter and buffer of the program (of the submodule the checkpoint
    belongs to) must come from the checkpoint,
    and every checkpoint key must be used (keys the live module has, such as BatchNorm's
    num_batches_tracked that torch.export may drop, count as used)."""
    try:
        keys = _core.checkpoint_keys(model, checkpoint, checkpoint_name, checkpoint_key)
    except _core.CoreError as e:
        raise from_core(e) from None
    unexpected = [k for k in keys["unexpected"] if keys["prefix"] + k not in module_keys and k not in module_keys]
    # A checkpoint of a submodule (the core found the prefix, e.g. "generator.") answers for that
    # submodule only, as its own load_state_dict would.
    missing = [k for k in keys["missing"] if k.startswith(keys["prefix"])]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing key(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected key(s): {', '.join(unexpected)}")
        raise CheckpointMismatchError(f"checkpoint {checkpoint_name}: does not match the model (strict=True): "
                                      f"{'; '.join(parts)}. Pass strict=False to keep the model's own values "
                                      "for the missing ones.", missing, unexpected)
    return keys


def _run_core(model, model_name, args, references, checkpoint, checkpoint_name, checkpoint_key, atol, rtol, as_layer,
              progress):
    inputs = [pytorch_side.tensor_record(a, f"args[{i}]") for i, a in enumerate(args)]
    refs = [pytorch_side.tensor_record(t, "the module's output") for t in references]
    try:
        return _core.convert(model, model_name, inputs, refs, checkpoint, checkpoint_name, checkpoint_key, atol, rtol,
                             as_layer, progress, 1)
    except _core.CoreError as e:
        raise from_core(e) from None


def convert(module, args, *, dynamic_shapes=None, checkpoint=None, checkpoint_key=None, out_dir=None, atol=1e-4,
            rtol=1e-4, strict=True, returnn=False, as_layer=None):
    """Converts `module` (an nn.Module, exported here with pt2returnn's export, or an
    ExportedProgram) to a RETURNN config and TF checkpoint, through the C core in process.

    PyTorch's own outputs, from running the module on `args` and on `args` cut to a second
    length of every dynamic dim, are the reference the core's steps compare with. `checkpoint`
    (a path to a torch.save or .safetensors file, or a state dict; `checkpoint_key` is the dotted
    path to the state dict inside it) gives the weights to convert: the module should hold the
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
    checkpoint_keys = None
    if checkpoint_data is not None:
        module_keys = set(reference.state_dict().keys()) if hasattr(reference, "state_dict") else set()
        if strict:
            checkpoint_keys = _check_strict(model, checkpoint_data, checkpoint_name, checkpoint_key, module_keys)
    progress = _progress_printer()

    started = time.perf_counter()
    outputs = pytorch_side.run_pytorch(reference, args)
    pytorch_seconds = time.perf_counter() - started
    core = _run_core(model, model_name, args, outputs, checkpoint_data, checkpoint_name, checkpoint_key, atol, rtol,
                     as_layer, progress)
    runs = [(args, outputs, None)]

    second_args, described = pytorch_side.second_length_args(program, args, dynamic_shapes)
    if second_args is not None:
        second_outputs = pytorch_side.run_pytorch(reference, second_args)
        if progress:
            progress("second length", described)
        second = _run_core(model, model_name, second_args, second_outputs, checkpoint_data, checkpoint_name,
                           checkpoint_key, atol, rtol, as_layer, None)
        _add_second_length_steps(core, second, described)
        runs.append((second_args, second_outputs, described))

    result = Conversion(core, out_dir=out_dir, as_layer=as_layer, strict=strict, checkpoint_keys=checkpoint_keys,
                        rerun=lambda name: _run_core(model, model_name, args, outputs, checkpoint_data,
                                                     checkpoint_name, checkpoint_key, atol, rtol, name, None),
                        pytorch_seconds=pytorch_seconds)
    result.write_files()
    if returnn:
        from ._returnn_check import check_in_returnn
        check_in_returnn(result, runs, atol, rtol, progress)
        result.write_files()
    if not result.passed:
        raise CheckFailedError(f"{model_name}: the '{result.failed_step}' check failed (report in "
                               f"{result.out_dir}/report.txt)", result)
    return result


def _add_second_length_steps(core, second, described):
    """The second run's comparisons join the first run's report as steps of their own."""
    import json
    for step in json.loads(second.outputs()["report_json"])["steps"]:
        if step["step"] not in ("reference", "layers", "reload"):
            continue
        compared = "max_abs" in step
        # null in report.json is a non-finite difference (e.g. shapes that differ)
        max_abs = step.get("max_abs", 0.0)
        max_rel = step.get("max_rel", 0.0)
        core.add_step(f"{step['step']}@{described}", f"{step['what']} (at {described})", 0.0, compared,
                      step["passed"], float("inf") if max_abs is None else max_abs,
                      float("inf") if max_rel is None else max_rel)
