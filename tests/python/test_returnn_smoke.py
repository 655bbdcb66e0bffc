"""Real RETURNN runs here on real TensorFlow: a small net dict with a dynamic time axis
(conv + linear), weights set by us, forward in graph mode, compared with numpy.
This pins the TF/RETURNN/numpy combination of tests/requirements.txt (docs/dependencies.md)."""
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_returnn_conv_and_linear_match_numpy():
    import tensorflow as tf
    import returnn.tf.compat as tf_compat
    from returnn.config import Config
    from returnn.tf.network import TFNetwork
    from returnn.util.basic import BehaviorVersion

    config = Config({
        "behavior_version": 21,
        "extern_data": {"data": {"shape": (None, 3), "dim": 3}},
        "network": {
            "conv": {"class": "conv", "from": "data", "filter_size": [3], "padding": "valid", "n_out": 4,
                     "with_bias": True},
            "output": {"class": "linear", "from": "conv", "n_out": 2, "activation": None, "with_bias": True},
        },
    })
    BehaviorVersion.set(21)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 3)).astype("float32")
    lengths = np.array([7, 7], dtype="int32")
    conv_w = rng.standard_normal((3, 3, 4)).astype("float32")  # [K, in, out]
    conv_b = rng.standard_normal(4).astype("float32")
    lin_w = rng.standard_normal((4, 2)).astype("float32")
    lin_b = rng.standard_normal(2).astype("float32")
    with tf.Graph().as_default() as graph, tf_compat.v1.Session(graph=graph) as session:
        net = TFNetwork(config=config, train_flag=False)
        net.construct_from_dict(config.typed_dict["network"])
        net.initialize_params(session)
        values = {"conv/W": conv_w, "conv/bias": conv_b, "output/W": lin_w, "output/b": lin_b}
        for layer in ("conv", "output"):
            for name, param in net.layers[layer].params.items():
                param.load(values[f"{layer}/{name}"], session=session)
        data = net.extern_data.get_default_input_data()
        out = net.get_default_output_layer().output.copy_as_batch_spatial_major()
        y = session.run(out.placeholder, feed_dict={data.placeholder: x, data.get_sequence_lengths(): lengths})
    # The same computation in numpy: a valid 1-D convolution over time, then an affine map.
    conv = np.stack([sum(x[:, t + k, :] @ conv_w[k] for k in range(3)) for t in range(5)], axis=1) + conv_b
    expected = conv @ lin_w + lin_b
    assert y.shape == (2, 5, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
