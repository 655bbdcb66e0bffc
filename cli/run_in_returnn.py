#!/usr/bin/env python3
"""Runs what pt2returnn wrote in real RETURNN (TensorFlow net-dict backend): loads the config
(returnn.config.py, or returnn.config.json), builds the network, restores the checkpoint and
runs forward on an input, writing the output in the PyTorch tensor's axis order.

    python tests/returnn/run_in_returnn.py OUTDIR INPUT.npy OUTPUT.npy [py|json]
    python tests/returnn/run_in_returnn.py --jobs JOBS.json

JOBS.json lists {"out_dir", "input", "output", "config"[, "lengths"]} entries (lengths: the
sequence lengths of a padded batch), run in one process (TensorFlow
and RETURNN load once); a job that fails writes {"error": ...} to "output" + ".error".
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402


def run(out_dir, x, config_kind="py", lengths=None):
    import tensorflow as tf
    import returnn.tf.compat as tf_compat
    from returnn.config import Config
    from returnn.tf.network import TFNetwork
    from returnn.util.basic import BehaviorVersion

    if not tf.config.list_physical_devices("GPU"):
        # RETURNN compiles its native ops (NativeLSTM2) for CUDA whenever it finds a CUDA toolkit,
        # even one without a GPU to run on; this machine has one without nvcc. CPU only, then.
        from returnn.tf import native_op
        native_op.OpMaker.with_cuda = False
    config = Config()
    config.load_file(os.path.join(out_dir, f"returnn.config.{config_kind}"))
    BehaviorVersion.set(config.int("behavior_version", None))
    with tf.Graph().as_default() as graph, tf_compat.v1.Session(graph=graph) as session:
        net = TFNetwork(config=config, train_flag=False, eval_flag=False, search_flag=False)
        net.construct_from_dict(config.typed_dict["network"])
        net.load_params_from_file(os.path.abspath(os.path.join(out_dir, "model.001")), session=session)
        data = net.extern_data.get_default_input_data()
        output = net.get_default_output_layer().output
        feed = {data.placeholder: x}
        for axis, dim in enumerate(data.dims):
            if dim.dyn_size_ext is not None and not dim.is_batch_dim():
                # a padded batch: each sequence's own length (the job's "lengths"), else all full
                feed[dim.dyn_size_ext.placeholder] = (np.asarray(lengths, dtype="int32") if lengths is not None
                                                      else np.full([x.shape[0]], x.shape[axis], dtype="int32"))
        y = session.run(output.placeholder, feed_dict=feed)
        # Back to PyTorch's axis order, named in the config.
        order = [output.get_axis_from_description(axis) for axis in config.typed_dict["pt2returnn_output_axes"]]
        return np.transpose(y, order)


def run_jobs(path):
    import json
    import traceback
    with open(path) as f:
        jobs = json.load(f)
    for job in jobs:
        try:
            np.save(job["output"], run(job["out_dir"], np.load(job["input"]), job.get("config", "py"),
                                       job.get("lengths")))
        except Exception:  # reported per job, so one broken config does not hide the others
            with open(job["output"] + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    if sys.argv[1] == "--jobs":
        run_jobs(sys.argv[2])
    else:
        np.save(sys.argv[3], run(sys.argv[1], np.load(sys.argv[2]), sys.argv[4] if len(sys.argv) > 4 else "py"))
