"""What convert() does in real PyTorch: export the module, find the dynamic dims, make inputs at a
second length of each, and run the module for the reference outputs the core compares with."""
import io

import torch

from .errors import BadInputError


def as_args(args):
    return tuple(args) if isinstance(args, (tuple, list)) else (args,)


def export_program(module, args, dynamic_shapes):
    """The ExportedProgram to convert, and the callable that is PyTorch's reference."""
    if isinstance(module, torch.export.ExportedProgram):
        if dynamic_shapes is not None:
            raise BadInputError("dynamic_shapes: an ExportedProgram has its dims already; pass a module to export it anew")
        return module, module.module()
    if not isinstance(module, torch.nn.Module):
        raise BadInputError(f"module: expected a torch.nn.Module or a torch.export.ExportedProgram, got {type(module).__name__}")
    try:
        from .export import export  # routes recurrent layers through ops that keep time dynamic
    except ImportError:
        export = torch.export.export
    try:
        program = export(module, args, dynamic_shapes=dynamic_shapes)
    except Exception as e:  # torch.export's own errors (guards, unsupported Python) say what to change
        raise BadInputError(f"torch.export could not export {type(module).__name__}: {e}") from e
    return program, module


def program_bytes(program):
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def tensor_record(t, what):
    """(dtype name, shape, bytes) as the binding takes it."""
    if not isinstance(t, torch.Tensor):
        raise BadInputError(f"{what}: expected a tensor, got {type(t).__name__}")
    t = t.detach().cpu().contiguous()
    name = str(t.dtype).removeprefix("torch.")
    return (name, tuple(t.shape), t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())


def flat_tensors(value, what):
    """The tensors of a (possibly nested) output, in order."""
    leaves, _ = torch.utils._pytree.tree_flatten(value)
    tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
    if not tensors:
        raise BadInputError(f"{what}: the module returned no tensor")
    return tensors


def run_pytorch(reference, args):
    with torch.no_grad():
        return flat_tensors(reference(*args), "the module's output")


def dynamic_dims(program, args):
    """[(symbol, [(input index, axis)], example size, lower, upper)] for every dynamic dim of the
    user inputs, from the exported graph's symbolic shapes and range constraints."""
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    dims = {}
    tensor_inputs = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    for index, name in zip(tensor_inputs, program.graph_signature.user_inputs):
        value = placeholders[name].meta.get("val")
        for axis, size in enumerate(getattr(value, "shape", ())):
            if not isinstance(size, torch.SymInt):
                continue
            expr = size.node.expr
            if not expr.is_Symbol:  # a derived size (e.g. 2*s): follows from the plain ones
                continue
            entry = dims.setdefault(expr, [[], int(args[index].shape[axis])])
            entry[0].append((index, axis))
    out = []
    for symbol, (places, size) in dims.items():
        ranges = program.range_constraints.get(symbol)
        lower = int(ranges.lower) if ranges is not None else 2
        upper = ranges.upper if ranges is not None else None
        # torch's own infinity for an unbounded size (int_oo) says is_finite; a bound is an Integer
        upper = int(upper) if upper is not None and getattr(upper, "is_Integer", False) else None
        out.append((str(symbol), places, size, lower, upper))
    return out


def second_length(size, lower, upper):
    """A second length for a dynamic dim: about a third of the example's (as the flagship's 37 of
    100 frames), else longer, within the exported range; None when the range allows only one."""
    for candidate in (max(lower, 2, size * 37 // 100), size + max(1, size // 2)):
        if candidate != size and candidate >= lower and (upper is None or candidate <= upper):
            return candidate
    return None


def resized(t, axis, length):
    """The example input cut (or repeated, then cut) to `length` along `axis`: real data of the
    example, not noise, so integer inputs such as indices stay valid."""
    if length > t.shape[axis]:
        repeats = [1] * t.dim()
        repeats[axis] = -(-length // t.shape[axis])
        t = t.repeat(*repeats)
    return t.narrow(axis, 0, length).contiguous()


def _dim_names(dynamic_shapes):
    """{(input index, axis): the torch.export.Dim's name} from a positional dynamic_shapes."""
    names = {}
    if isinstance(dynamic_shapes, dict):
        dynamic_shapes = list(dynamic_shapes.values())
    for index, spec in enumerate(dynamic_shapes or ()):
        items = spec.items() if isinstance(spec, dict) else enumerate(spec or ()) if isinstance(spec, (list, tuple)) else ()
        for axis, dim in items:
            if getattr(dim, "__name__", None):
                names[(index, axis)] = dim.__name__
    return names


def second_length_args(program, args, dynamic_shapes=None):
    """(args at a second length of every dynamic dim, "frames=37, ...") or (None, None)."""
    dims = dynamic_dims(program, args)
    names = _dim_names(dynamic_shapes)
    changed = list(args)
    described = []
    for symbol, places, size, lower, upper in dims:
        symbol = names.get(places[0], symbol)
        length = second_length(size, lower, upper)
        if length is None:
            continue
        for index, axis in places:
            changed[index] = resized(changed[index], axis, length)
        described.append(f"{symbol}={length}")
    if not described:
        return None, None
    return tuple(changed), ", ".join(described)
