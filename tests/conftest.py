"""Shared test helpers. Tests run on the backend that KERAS_BACKEND selects."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys

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


# -- The package's commands and scripts in subprocesses ------------------------


def command_env(env=None):
    """``os.environ`` for a command's subprocess; ``env`` adds or replaces variables.

    TensorFlow's C++ logging quiet (warnings and errors of its own would read as
    the command's), and the repository first on the import path.
    """
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT, **(env or {})}


def command_line(args, data_path=None):
    """``python ARGS``: a command (``[*TRAIN, flags...]``), a script and its flags, or ``-c`` code.

    With ``data_path`` (an .npz file of the tiny data set), through `SCRIPT_RUNNER`.
    """
    runner = ["-c", SCRIPT_RUNNER, data_path] if data_path else []
    return [sys.executable, *runner, *args]


def run_command(args, data_path=None, env=None, timeout=600, cwd=ROOT):
    """Runs ``python ARGS`` (`command_line`) to its end: a `subprocess.CompletedProcess`, text."""
    return subprocess.run(
        command_line(args, data_path),
        capture_output=True,
        text=True,
        env=command_env(env),
        cwd=cwd,
        timeout=timeout,
    )


def _default_sigint():
    # A suite started in the background by a shell without job control
    # (`bash -c "... &"`) ignores SIGINT, and so would the script it starts:
    # give the child Python's own Ctrl-C handling whatever the parent's.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_command(args, data_path=None, env=None, cwd=ROOT, default_sigint=False):
    """Starts ``python ARGS`` (`command_line`): a `subprocess.Popen`, text, output piped.

    ``default_sigint``: the child handles Ctrl-C (SIGINT) as Python does by
    default, even where this process ignores it.
    """
    return subprocess.Popen(
        command_line(args, data_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(env),
        cwd=cwd,
        preexec_fn=_default_sigint if default_sigint else None,
    )


def finish_command(process, timeout=600):
    """Waits for a `start_command` process: its `subprocess.CompletedProcess`."""
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_commands_in_parallel(runs, timeout=600):
    """Runs commands side by side; each run is ``(args,)``, ``(args, data_path)`` or
    ``(args, data_path, env)`` (`start_command`'s arguments).

    ``runs`` a dict ``{name: run}``: ``{name: CompletedProcess}``; a list of
    runs: their `subprocess.CompletedProcess` in order.
    """
    if isinstance(runs, dict):
        started = {name: start_command(*run) for name, run in runs.items()}
        return {name: finish_command(process, timeout) for name, process in started.items()}
    started = [start_command(*run) for run in runs]
    return [finish_command(process, timeout) for process in started]


def error_line(stderr):
    """The command's error line; asserts there is exactly one and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def one_error_line(result, status=2):
    """The one error line of a finished command (`error_line`), which exited with ``status``."""
    assert result.returncode == status, result.stdout[-2000:] + result.stderr[-3000:]
    return error_line(result.stderr)


# -- Run folders: what a failure may not change ----------------------------------------


def snapshot(folder):
    """``{relative path: sha256}`` of every file under ``folder`` (empty folders as ``"<dir>"``).

    Except the run folder's lock file, which holds the pid of its last holder.
    """
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in files:
            if name == ".lock":
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                result[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
        if not dirs and not files:
            result[os.path.relpath(root, folder) + "/"] = "<dir>"
    return result


def temporary_files(folder):
    """The temporary files and folders of `pinet_keras._io` under ``folder``."""
    from pinet_keras import _io

    return [
        os.path.join(r, n) for r, ds, fs in os.walk(folder) for n in ds + fs if _io.is_temporary(n)
    ]


# -- A tiny training run on digits -------------------------------------------------------

# The flags of `TRAIN` for the run of `tiny_train_config`.
TINY_TRAIN_FLAGS = [
    "--dataset=digits",
    "--width=2",
    "--num_blocks=2",
    "--batch_size=64",
    "--noaugment",
]


def tiny_train_config(output_dir, **kwargs):
    """A `TrainConfig` of two quiet epochs of a width-2, two-block PolyNet on digits."""
    from pinet_keras.training import TrainConfig

    defaults = dict(
        dataset="digits",
        model_overrides=dict(width=2, num_blocks=2),
        epochs=2,
        batch_size=64,
        output_dir=str(output_dir),
        verbose="0",
        tensorboard=False,
    )
    defaults.update(kwargs)
    return TrainConfig(**defaults)


def interrupt_at_epoch(monkeypatch, epoch, error=KeyboardInterrupt):
    """Makes training raise ``error`` at the beginning of ``epoch`` (0-based)."""
    from pinet_keras.training.callbacks import DivergenceGuard

    original = DivergenceGuard.on_epoch_begin

    def on_epoch_begin(self, e, logs=None):
        if e == epoch:
            raise error("stopped by the test")
        return original(self, e, logs)

    monkeypatch.setattr(DivergenceGuard, "on_epoch_begin", on_epoch_begin)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """A finished two-epoch run (`tiny_train_config`), trained once; tests copy it."""
    from pinet_keras.training import train

    folder = tmp_path_factory.mktemp("finished") / "run"
    train(tiny_train_config(folder))
    return folder


@pytest.fixture(scope="session")
def unfinished_run(tmp_path_factory):
    """A run stopped after its first of two epochs, trained once; tests copy it."""
    from pinet_keras.training import train

    folder = tmp_path_factory.mktemp("unfinished") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        interrupt_at_epoch(monkeypatch, 1)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_train_config(folder))
    assert os.path.exists(folder / "backup" / "chief" / "training_metadata.json")
    return folder


@pytest.fixture
def finished(finished_run, tmp_path):
    """A copy of `finished_run` in ``tmp_path``, the test's to change."""
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    return folder


@pytest.fixture
def unfinished(unfinished_run, tmp_path):
    """A copy of `unfinished_run` in ``tmp_path``, the test's to change."""
    folder = tmp_path / "run"
    shutil.copytree(unfinished_run, folder)
    return folder


# -- Raw-pixel models of digits and their exports ------------------------------------------

DIGITS_SHAPE = (8, 8, 1)
DIGITS_CLASS_NAMES = [str(i) for i in range(10)]


@pytest.fixture(scope="session")
def digits():
    """The digits data set: ``(x_train, y_train), (x_test, y_test)``, uint8 pixels."""
    from pinet_keras.data import load_arrays

    return load_arrays("digits")


def _train_digits(digits, input_normalization):
    from pinet_keras import PolyNet
    from pinet_keras.data import pixel_statistics
    from pinet_keras.models import pixel_preprocessing

    (x_train, y_train), _ = digits
    mean = variance = None
    if input_normalization == "standardize":
        mean, variance = pixel_statistics(x_train)
    keras.utils.set_random_seed(0)
    model = PolyNet(
        input_shape=DIGITS_SHAPE,
        width=4,
        num_blocks=2,
        normalization="batch",
        preprocessing=pixel_preprocessing(
            DIGITS_SHAPE, input_normalization, mean=mean, variance=variance
        ),
        name=f"digits_{input_normalization}",
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="session")
def unit_model(digits):
    """A PolyNet on raw digits pixels (``input_normalization="unit"``), trained two epochs."""
    return _train_digits(digits, "unit")


@pytest.fixture(scope="session")
def standardize_model(digits):
    """The same with ``input_normalization="standardize"``."""
    return _train_digits(digits, "standardize")


@pytest.fixture(scope="session")
def representative(digits):
    """100 training images of digits, float32 raw pixels."""
    (x_train, _), _ = digits
    return x_train[:100].astype("float32")


def digits_metadata(model):
    """The export metadata of a digits model, with a test ``source``."""
    from pinet_keras import export

    return export.model_metadata(
        model, dataset="digits", class_names=DIGITS_CLASS_NAMES, source={"test": 1}
    )


@pytest.fixture(scope="session")
def unit_files(unit_model, representative, tmp_path_factory):
    """Every format of `unit_model`, with metadata, plus a float32 file without ("bare")."""
    from pinet_keras import export

    folder = tmp_path_factory.mktemp("unit")
    metadata = digits_metadata(unit_model)
    paths = {}
    for quantization in export.QUANTIZATIONS:
        paths[quantization] = export.export_tflite(
            unit_model,
            str(folder / f"model_{quantization}.tflite"),
            quantization,
            representative_data=representative,
            metadata=metadata,
        )
    paths["saved_model"] = export.export_saved_model(
        unit_model, str(folder / "saved_model"), metadata=metadata
    )
    paths["bare"] = export.export_tflite(unit_model, str(folder / "bare.tflite"))
    return paths
