"""Shared test helpers. Tests run on the backend that KERAS_BACKEND selects."""

import os

# The algebra tests use float64, which JAX only provides when asked first.
os.environ.setdefault("JAX_ENABLE_X64", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()
# The package's commands, as `python -m pinet_keras <command>` runs them.
TRAIN = ("-m", "pinet_keras", "train")
EXPORT = ("-m", "pinet_keras", "export")
PREDICT = ("-m", "pinet_keras", "predict")
TUNE = ("-m", "pinet_keras", "tune")
# The repository, the stored test fixtures, and the real data sets beside the
# repository (../shared/data; the tests that need them skip without them).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")

tensorflow_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="needs the TensorFlow backend")


def jax_env(*xla_flags, **extra):
    """``os.environ`` for a subprocess on Keras' JAX backend, on the CPU.

    XLA compiles at optimization level 0: a test compiles each function once
    and runs it on a few images, so compiling is what costs (tests/models/test_polynet.py
    on JAX: 105 s of CPU at the default level, 36 s at 0, 2-core Xeon). Further
    XLA flags go after it; ``extra`` adds or replaces variables.
    """
    flags = " ".join(("--xla_backend_optimization_level=0", *xla_flags))
    return {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": flags,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra,
    }


def gradients(layer, x):
    """Gradients of sum(r * layer(x)), r fixed random, w.r.t. each trainable variable.

    A random projection rather than sum(y**2), whose gradient through a batch
    normalization is zero by construction.
    """
    if not layer.built:
        layer(x)
    r = np.random.default_rng(1).normal(size=layer.compute_output_shape(x.shape)).astype(x.dtype)
    variables = layer.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(r * layer(x, training=True))
        grads = tape.gradient(loss, variables)
    elif BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in variables]
        other = [v.value for v in layer.non_trainable_variables]

        def loss_fn(values):
            y, _ = layer.stateless_call(values, other, x, training=True)
            return jnp.sum(r * y)

        grads = jax.grad(loss_fn)(trainable)
    elif BACKEND == "torch":
        y = layer(x, training=True)
        import torch

        (torch.as_tensor(r) * y).sum().backward()
        grads = [v.value.grad for v in variables]
    else:
        pytest.skip(f"no gradient helper for backend {BACKEND}")
    return {v.path: keras.ops.convert_to_numpy(g) for v, g in zip(variables, grads)}


def random_images(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def homogeneity_rtol(y, float64=1e-10, float32=2e-5):
    """Tolerance honest for the dtype the backend actually computed in.

    The torch backend computes some float64 layers in float32.
    """
    return float64 if keras.backend.standardize_dtype(y.dtype) == "float64" else float32


FLOAT32_EPS = float(np.finfo(np.float32).eps)


def float32_tolerance(expected, degree=1, factor=16):
    """``(rtol, atol)`` for float32 outputs of a polynomial of ``degree`` computed
    again on another CPU, thread count or batch split.

    oneDNN and XLA pick kernels (and summation orders) by CPU and batch size, so
    each product rounds differently; the error grows with the degree and is
    relative to the largest value, not to each element (a small logit carries the
    rounding of the large terms that cancelled in it). ``factor`` ulps a degree.
    """
    tol = factor * max(int(degree), 1) * FLOAT32_EPS
    return tol, tol * float(np.abs(np.asarray(expected)).max())


def assert_float32_close(actual, expected, degree=1, factor=16):
    """``assert_allclose`` with :func:`float32_tolerance`."""
    rtol, atol = float32_tolerance(expected, degree, factor)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def float64_images(shape, seed=0):
    """A float64 backend tensor: NumPy float64 would be cast to float32 by some backends."""
    return keras.ops.convert_to_tensor(random_images(shape, seed, "float64"), dtype="float64")


# Runs a command (-m pinet_keras <command> ...) or a tool script with
# `pinet_keras.data` answering for a tiny data set in an .npz file (when
# given), and `export_tflite` failing for int8 when PINET_TEST_FAIL_INT8 is set.
SCRIPT_RUNNER = """
import os
import runpy
import sys
import types

import numpy as np

if sys.argv[1]:
    import pinet_keras.data as data

    arrays = np.load(sys.argv[1])

    def load_arrays(name, data_dir=None, image_size=None):
        assert name == "tiny", name
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])

    def dataset_info(name, data_dir=None, image_size=None):
        assert name == "tiny", name
        return types.SimpleNamespace(
            name="tiny", input_shape=tuple(arrays["x_train"].shape[1:]), num_classes=3,
            class_names=["circle", "square", "triangle"], mean=(0.5,), std=(0.25,),
        )

    data.load_arrays, data.dataset_info = load_arrays, dataset_info

if os.environ.get("PINET_TEST_FAIL_INT8"):
    from pinet_keras import export
    from pinet_keras.export import job

    original = export.export_tflite

    def export_tflite(model, path, quantization="float32", settings=None, **kwargs):
        if (settings.quantization if settings else quantization) == "int8":
            raise ValueError("injected failure of the int8 export")
        return original(model, path, quantization, settings=settings, **kwargs)

    export.export_tflite = job.export_tflite = export_tflite

sys.argv = sys.argv[2:]
if sys.argv[:2] == ["-m", "pinet_keras"]:
    from pinet_keras.cli import main

    sys.exit(main(["pinet-keras", *sys.argv[2:]]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""
