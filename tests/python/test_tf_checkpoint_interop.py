"""The TF checkpoint writer and reader against TensorFlow itself, in both directions: TF reads
every tensor we write exactly, and we read every tensor TF writes exactly; for the same
variables our .index and .data files equal TensorFlow's byte for byte."""
import os
import subprocess

import numpy as np
import pytest

from conftest import BUILD_DIR

TOOL = os.path.join(BUILD_DIR, "tool_tf_checkpoint")

VARIABLES = {
    "global_step": np.array(1234, dtype=np.int64),
    "conv/W": np.random.default_rng(0).standard_normal((5, 80, 64)).astype(np.float32),
    "conv/bias": np.random.default_rng(1).standard_normal(64).astype(np.float32),
    "output/W": np.random.default_rng(2).standard_normal((64, 3)).astype(np.float64),
    "output/b": np.arange(3, dtype=np.int32),
    "mask": np.array([True, False, True]),
    "big/W": np.random.default_rng(3).standard_normal((300, 500)).astype(np.float32),  # > one 256 KiB block
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def write_ours(tmp_path, variables):
    args = []
    for i, (name, value) in enumerate(variables.items()):
        np.save(tmp_path / f"v{i}.npy", value)
        args.append(f"{name}={tmp_path / f'v{i}.npy'}")
    prefix = str(tmp_path / "ours" / "model.001")
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    subprocess.run([TOOL, "write", prefix, *args], check=True)
    return prefix


def write_tensorflow(tmp_path, variables):
    import tensorflow as tf
    prefix = str(tmp_path / "tf" / "model.001")
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    names = list(variables)

    def save():
        return tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                                 tensors=[tf.constant(variables[n]) for n in names])

    if tf.executing_eagerly():
        save()
    else:  # RETURNN's import switches TensorFlow to graph mode for the whole process
        with tf.Graph().as_default(), tf.compat.v1.Session() as session:
            session.run(save())
    return prefix


def test_tensorflow_reads_what_we_write(tmp_path):
    import tensorflow as tf
    prefix = write_ours(tmp_path, VARIABLES)
    reader = tf.train.load_checkpoint(prefix)
    assert set(reader.get_variable_to_shape_map()) == set(VARIABLES)
    for name, value in VARIABLES.items():
        got = reader.get_tensor(name)
        assert got.dtype == value.dtype and got.shape == value.shape, name
        assert np.array_equal(got, value), name


def test_we_read_what_tensorflow_writes(tmp_path):
    prefix = write_tensorflow(tmp_path, VARIABLES)
    out = tmp_path / "dump"
    out.mkdir()
    subprocess.run([TOOL, "dump", prefix, str(out)], check=True)
    assert (out / "names.txt").read_text().split() == sorted(VARIABLES)
    for name, value in VARIABLES.items():
        got = np.load(out / (name.replace("/", "__") + ".npy"))
        assert got.dtype == value.dtype and got.shape == value.shape, name
        assert np.array_equal(got, value), name


def test_bytes_equal_tensorflows(tmp_path):
    ours = write_ours(tmp_path, VARIABLES)
    theirs = write_tensorflow(tmp_path, VARIABLES)
    for suffix in (".index", ".data-00000-of-00001"):
        with open(ours + suffix, "rb") as a, open(theirs + suffix, "rb") as b:
            assert a.read() == b.read(), suffix


def test_tensorflow_saver_checkpoint(tmp_path):
    """A checkpoint written by tf.compat.v1's Saver from graph variables, as RETURNN writes them."""
    import tensorflow as tf
    prefix = str(tmp_path / "saver" / "model.001")
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        w = tf.compat.v1.get_variable("layer1/W", initializer=VARIABLES["conv/W"])
        step = tf.compat.v1.train.get_or_create_global_step()
        session.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver([w, step]).save(session, prefix, write_meta_graph=False)
    out = tmp_path / "dump"
    out.mkdir()
    subprocess.run([TOOL, "dump", prefix, str(out)], check=True)
    assert np.array_equal(np.load(out / "layer1__W.npy"), VARIABLES["conv/W"])
    assert np.load(out / "global_step.npy").dtype == np.int64
