#!/usr/bin/env python3
"""Runs what pt2returnn wrote in real RETURNN (TensorFlow net-dict backend): loads the config
(returnn.config.py, or returnn.config.json), builds the network, restores the checkpoint and
runs forward on an input, writing the output in the PyTorch tensor's axis order.

    python cli/run_in_returnn.py OUTDIR INPUT.npy OUTPUT.npy [py|json]
    python cli/run_in_returnn.py --jobs JOBS.json

A program with several outputs has them all listed in the config (pt2returnn_outputs: layer,
name, axes); they are fetched in the same session.run. The first goes to OUTPUT.npy as always,
output k >= 1 to OUTPUT.npy with ".npy" replaced by ".<k>.npy" (e.g. y.npy, y.1.npy, y.2.npy);
see output_paths.

JOBS.json lists jobs run in one process (TensorFlow and RETURNN load once):
  {"out_dir", "input", "output", "config"}   the run (config "py" or "json")
  "lengths": LENGTHS.npy or a list (optional) a padded batch: the input length of each batch
                                             entry (RETURNN's sequence lengths of the input's
                                             dynamic axis; the input is zero after them)
  "layers": LAYERS.json (optional)           every emitted layer's output too, fetched in the
  "layer_results": RESULTS.json              same session.run and compared with the reference
                                             values the file names (see compare_layers)
A job that fails writes {"error": ...} to "output" + ".error".

RETURNN's axes are mapped to PyTorch's by dim tags: the batch dim, the dynamic dim (the one
with sequence lengths), the feature dim, a static dim by its size, and where several axes are of
one kind, the dim tag's name (see map_axes).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402


def axis_specs_from_descriptions(descriptions):
    """The config's pt2returnn_output_axes ("B", "T", "dyn", "F", "dim:N", "stag:NAME") as
    dim-tag specs."""
    specs = []
    for d in descriptions:
        if d in ("B", "batch"):
            specs.append({"kind": "batch"})
        elif d in ("T", "time", "dyn", "dynamic"):
            # "dyn": the one dynamic axis when it is a derived dim (e.g. T*2 after frame stacking)
            specs.append({"kind": "dynamic"})
        elif d in ("F", "feature"):
            specs.append({"kind": "static", "feature": True})
        elif d.startswith("dim:"):
            specs.append({"kind": "static", "size": int(d[4:])})
        elif d.startswith("stag:"):  # a dim tag by its name, of either kind
            specs.append({"kind": "tag", "name": d[5:]})
        else:
            raise ValueError(f"output axis {d!r}: expected B, T, dyn, F, dim:N or stag:NAME")
    return specs


def _tag_names(dim):
    """The names a dim tag answers to: its own description and its same-base's (RETURNN's
    "stag:" matching looks at both)."""
    names = {dim.description}
    base = dim.get_same_base()
    if base is not None:
        names.add(base.description)
    return names


def map_axes(data, specs):
    """For each PyTorch axis (a spec), the axis of RETURNN's Data holding that dim tag, or None
    for a size-1 axis RETURNN does not have (a broadcast).

    A spec says what the dim is (the batch, a dynamic dim, a static dim of a size, the feature
    dim) and, when known, the dim tag's name. Where several free axes are of the spec's kind (the
    queries' and the keys' time of attention scores, two static dims of one size), the name
    decides: the axis whose tag has exactly that name, else the one whose tag contains it (as
    RETURNN's "stag:" does). Should the name not settle it, the first free axis is taken (RETURNN
    keeps the axes' relative order): a wrong pick compares the values in another order
    and so fails the layer, it cannot make a wrong layer pass."""
    dims = list(data.dim_tags)
    used = set()
    order = []

    def take(candidates, spec):
        free = [a for a in candidates if a not in used]
        if len(free) > 1 and spec.get("name"):
            named = [a for a in free if spec["name"] in _tag_names(dims[a])]
            if not named:  # RETURNN's own "stag:" matching: the name within the description
                named = [a for a in free if any(spec["name"].lower() in n.lower() for n in _tag_names(dims[a]))]
            if len(named) == 1:
                free = named
        if not free:
            return None
        used.add(free[0])
        return free[0]

    feature = data.feature_dim_axis
    for spec in specs:
        kind = spec["kind"]
        if kind == "none":  # a size-1 axis of PyTorch's that RETURNN does not keep
            order.append(None)
        elif kind == "batch":
            order.append(take([a for a, d in enumerate(dims) if d.is_batch_dim()], spec))
        elif kind == "tag":
            order.append(take([a for a, d in enumerate(dims) if not d.is_batch_dim()], spec))
        elif kind == "dynamic":
            order.append(take([a for a, d in enumerate(dims)
                               if not d.is_batch_dim() and d.dimension is None], spec))
        elif spec.get("feature") and feature is not None and feature not in used and \
                ("size" not in spec or dims[feature].dimension == spec["size"]):
            used.add(feature)
            order.append(feature)
        else:
            order.append(take([a for a, d in enumerate(dims) if d.dimension is not None and
                               d.dimension == spec.get("size")], spec))
    if len(used) != len(dims):
        raise ValueError(f"axes {sorted(set(range(len(dims))) - used)} of {data} have no PyTorch axis ({specs})")
    return order


def to_torch_order(value, order):
    """Transposes RETURNN's value to PyTorch's axis order, adding size-1 axes it lacks."""
    present = [a for a in order if a is not None]
    y = np.transpose(value, present)
    for i, a in enumerate(order):
        if a is None:
            y = np.expand_dims(y, i)
    return np.ascontiguousarray(y)


def config_outputs(typed_dict):
    """Every result the config lists, as [(layer, name, axis descriptions)]: pt2returnn_outputs,
    or (a config of one output) the layer "output" with pt2returnn_output_axes."""
    listed = typed_dict.get("pt2returnn_outputs")
    if not listed:
        return [("output", "output", typed_dict["pt2returnn_output_axes"])]
    return [(entry["layer"], entry["name"], entry["axes"]) for entry in listed]


def output_paths(path, count):
    """Where the results of a run go: `path` for the first, path with ".npy" replaced by ".<k>.npy"
    for result k >= 1."""
    stem = path[:-4] if path.endswith(".npy") else path
    return [path] + [f"{stem}.{k}.npy" for k in range(1, count)]


def layer_on_demand(net, name, construct):
    """The layer `name` ("a/b/c" inside subnetworks), constructed if RETURNN has not: it builds only
    the layers an output needs, and the per-layer check also looks at a layer none needs (e.g. a
    size computation whose result folded away). `construct` builds a layer of `net` by its name."""
    try:
        return net.get_layer(name)
    except Exception:
        pass
    root, _, rest = name.partition("/")
    if not rest:
        return construct(name)
    layer_on_demand(net, root, construct)
    subnet = net.subnets[root]
    return layer_on_demand(subnet.net, rest, subnet.construct_layer)


def compare_layers(fetched, manifest):
    """Every layer of the manifest ({"atol", "rtol", "layers": [{"name", "reference": .npy, "axes":
    [spec]}]}) against its reference value: max abs/rel and whether |ours - ref| <= atol + rtol *
    |ref| everywhere, or the two shapes when they differ."""
    results = []
    for entry in manifest["layers"]:
        result = {"layer": entry["name"]}
        try:
            data, value = fetched[entry["name"]]
            ours = to_torch_order(value, map_axes(data, entry["axes"]))
            reference = np.load(entry["reference"])
            if ours.shape != reference.shape:
                result["shape"] = list(ours.shape)
                result["reference_shape"] = list(reference.shape)
            else:
                diff = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
                scale = np.abs(reference.astype(np.float64))
                result["max_abs"] = float(diff.max()) if diff.size else 0.0
                rel = diff[scale > 0] / scale[scale > 0]
                result["max_rel"] = float(rel.max()) if rel.size else 0.0
                result["passed"] = bool(np.all(diff <= manifest["atol"] + manifest["rtol"] * scale))
        except Exception as e:  # reported per layer, so that one does not hide the others
            result["error"] = f"{type(e).__name__}: {e}"
        results.append(result)
    return results


def run(out_dir, x, config_kind="py", lengths=None, manifest=None):
    """The first result in PyTorch's axis order, and the per-layer results (or None)."""
    ys, layer_results = run_outputs(out_dir, x, config_kind, lengths, manifest)
    return ys[0], layer_results


def run_outputs(out_dir, x, config_kind="py", lengths=None, manifest=None):
    """Every result the config lists (config_outputs), each in PyTorch's axis order, from one
    session.run, and the per-layer results (or None)."""
    import tensorflow as tf
    import returnn.tf.compat as tf_compat
    from returnn.config import Config
    from returnn.tf.network import TFNetwork
    from returnn.util.basic import BehaviorVersion

    if not tf.config.list_physical_devices("GPU"):
        # RETURNN compiles its native ops (NativeLSTM2) for CUDA whenever it finds a CUDA toolkit,
        # even one without a GPU to run on; a machine may have one without nvcc. CPU only, then.
        from returnn.tf import native_op
        native_op.OpMaker.with_cuda = False
    config = Config()
    config.load_file(os.path.join(out_dir, f"returnn.config.{config_kind}"))
    BehaviorVersion.set(config.int("behavior_version", None))
    with tf.Graph().as_default() as graph, tf_compat.v1.Session(graph=graph) as session:
        net = TFNetwork(config=config, train_flag=False, eval_flag=False, search_flag=False)
        net.construct_from_dict(config.typed_dict["network"])
        layers = {}
        for entry in (manifest or {}).get("layers", []):
            try:  # before the parameters load: a layer built on demand may have some
                layers[entry["name"]] = layer_on_demand(
                    net, entry["name"], lambda name: net.construct_layer(config.typed_dict["network"], name)).output
            except Exception:  # compare_layers reports it
                pass
        net.load_params_from_file(os.path.abspath(os.path.join(out_dir, "model.001")), session=session)
        data = net.extern_data.get_default_input_data()
        results = config_outputs(config.typed_dict)
        outputs = [net.get_default_output_layer().output] + [net.get_layer(layer).output for layer, _, _ in results[1:]]
        feed = {data.placeholder: x}
        for axis, dim in enumerate(data.dims):
            if dim.dyn_size_ext is not None and not dim.is_batch_dim():
                sizes = lengths if lengths is not None else np.full([x.shape[0]], x.shape[axis])
                feed[dim.dyn_size_ext.placeholder] = np.asarray(sizes, dtype="int32")
        fetches = {"outputs": [o.placeholder for o in outputs], "layers": {k: v.placeholder for k, v in layers.items()}}
        values = session.run(fetches, feed_dict=feed)
        ys = [to_torch_order(value, map_axes(o, axis_specs_from_descriptions(axes)))
              for value, o, (_, _, axes) in zip(values["outputs"], outputs, results)]
        fetched = {k: (layers[k], v) for k, v in values["layers"].items()}
        return ys, (compare_layers(fetched, manifest) if manifest else None)


def run_jobs(path):
    import traceback
    with open(path) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            lengths = job.get("lengths")  # a .npy file, or the lengths themselves
            lengths = np.load(lengths) if isinstance(lengths, str) else lengths
            manifest = None
            if job.get("layers"):
                with open(job["layers"]) as f:
                    manifest = json.load(f)
            ys, layer_results = run_outputs(job["out_dir"], np.load(job["input"]), job.get("config", "py"), lengths,
                                            manifest)
            for path, y in zip(output_paths(job["output"], len(ys)), ys):
                np.save(path, y)
            if layer_results is not None:
                with open(job["layer_results"], "w") as f:
                    json.dump(layer_results, f)
        except Exception:  # reported per job, so one broken config does not hide the others
            with open(job["output"] + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    if sys.argv[1] == "--jobs":
        run_jobs(sys.argv[2])
    else:
        ys = run_outputs(sys.argv[1], np.load(sys.argv[2]), sys.argv[4] if len(sys.argv) > 4 else "py")[0]
        for path, y in zip(output_paths(sys.argv[3], len(ys)), ys):
            np.save(path, y)
