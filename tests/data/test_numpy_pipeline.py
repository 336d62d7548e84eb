"""Tests of the NumPy pipeline of `make_datasets`, and of training without TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT
from conftest import TRAIN
from conftest import jax_env
from pinet_keras.data import dataset_info
from pinet_keras.data import make_datasets
from pinet_keras.data.numpy_pipeline import NumpyDataset


def collect(dataset):
    """All batches of `dataset` as NumPy `(images, labels)`, and the batch sizes."""
    batches = [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in dataset]
    images, labels = zip(*batches)
    return np.concatenate(images), np.concatenate(labels), [len(y) for y in labels]


def indexed_images(num_examples, shape=(8, 8, 1)):
    """Random pixels in 1..255 whose first two pixels spell the example's index."""
    images = np.random.default_rng(0).integers(1, 256, (num_examples,) + shape, np.uint8)
    images[:, 0, 0, 0] = np.arange(num_examples) % 256
    images[:, 0, 1, 0] = np.arange(num_examples) // 256
    return images


def indices_of(images):
    pixels = np.asarray(images).astype(int)
    return pixels[:, 0, 0, 0] + 256 * pixels[:, 0, 1, 0]


# The NumPy pipeline against the tf.data one.


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch_size=100),
        dict(batch_size=64, drop_remainder=True, validation_split=0.2),
        dict(batch_size=32, max_train_examples=100, seed=3),
    ],
)
def test_numpy_pipeline_matches_tf_data(kwargs):
    pytest.importorskip("tensorflow")
    reference = make_datasets("digits", shuffle=False, pipeline="tf.data", **kwargs)
    datasets = make_datasets("digits", shuffle=False, pipeline="numpy", **kwargs)
    assert datasets.info == reference.info
    for split in ("train", "validation", "test"):
        dataset = getattr(datasets, split)
        assert isinstance(dataset, NumpyDataset) and isinstance(dataset, keras.utils.PyDataset)
        x, y, sizes = collect(dataset)
        x_ref, y_ref, sizes_ref = collect(getattr(reference, split))
        assert sizes == sizes_ref and len(dataset) == len(sizes_ref)
        assert x.dtype == x_ref.dtype == np.uint8 and y.dtype == np.int64
        assert x.shape == x_ref.shape and x.shape[1:] == dataset_info("digits").input_shape
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(x, x_ref)  # the same raw pixels, batch by batch
    assert set(y) == set(range(10))


def test_auto_pipeline_without_tensorflow(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises
    datasets = make_datasets("digits", batch_size=32)
    assert isinstance(datasets.train, NumpyDataset)
    assert (datasets.info.num_train, datasets.info.num_validation, datasets.info.num_test) == (
        1293,
        144,
        360,
    )
    with pytest.raises(ImportError, match="pipeline='tf.data' needs TensorFlow"):
        make_datasets("digits", pipeline="tf.data")
    with pytest.raises(ValueError, match="batch_size=None .* TensorFlow is not installed"):
        make_datasets("digits", batch_size=None)


def test_pipeline_argument_errors():
    with pytest.raises(
        ValueError,
        match="pipeline must be one of 'auto', 'tf.data', 'numpy', 'device', got 'torch'",
    ):
        make_datasets("digits", pipeline="torch")
    with pytest.raises(ValueError, match="batch_size=None .* pipeline='numpy'"):
        make_datasets("digits", batch_size=None, pipeline="numpy")
    with pytest.raises(TypeError, match="normalization"):
        make_datasets("digits", normalization="unit", pipeline="numpy")
    with pytest.raises(ValueError, match="batch_size"):
        NumpyDataset(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        NumpyDataset(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4), batch_size=True)
    with pytest.raises(ValueError, match="differ in length"):
        NumpyDataset(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(3), batch_size=2)


def test_numpy_dataset_serves_the_raw_examples():
    images = indexed_images(10)
    dataset = NumpyDataset(images, np.arange(10), batch_size=4)
    assert len(dataset) == 3
    x, y = dataset[1]
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images[4:8])
    np.testing.assert_array_equal(y, [4, 5, 6, 7])
    with pytest.raises(IndexError):
        dataset[3]


# Shuffling.


def test_shuffling_covers_every_example_once_and_differs_between_epochs():
    images = indexed_images(300)
    labels = np.arange(300) % 10
    dataset = NumpyDataset(images, labels, batch_size=64, shuffle=True, seed=5)
    orders = []
    for _ in range(3):
        x, y, sizes = collect(dataset)
        assert sizes == [64] * 4 + [44]
        order = indices_of(x)
        assert sorted(order) == list(range(300))
        np.testing.assert_array_equal(y, labels[order])
        orders.append(order)
        dataset.on_epoch_end()
    assert not np.array_equal(orders[0], np.arange(300))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    # Seeded: a rebuilt dataset repeats the orders; another seed does not.
    again = NumpyDataset(images, labels, batch_size=64, shuffle=True, seed=5)
    np.testing.assert_array_equal(indices_of(collect(again)[0]), orders[0])
    other = NumpyDataset(images, labels, batch_size=64, shuffle=True, seed=6)
    assert not np.array_equal(indices_of(collect(other)[0]), orders[0])
    # drop_remainder drops a different remainder each epoch, never a batch.
    dropped = NumpyDataset(images, labels, batch_size=64, shuffle=True, drop_remainder=True)
    x, _, sizes = collect(dropped)
    assert sizes == [64] * 4 and len(set(indices_of(x))) == 256


def test_make_datasets_shuffles_only_the_training_split():
    plain = make_datasets("digits", batch_size=128, shuffle=False, pipeline="numpy")
    shuffled = make_datasets("digits", batch_size=128, pipeline="numpy")
    _, y_plain, _ = collect(plain.train)
    _, y_shuffled, _ = collect(shuffled.train)
    assert not np.array_equal(y_plain, y_shuffled)
    np.testing.assert_array_equal(np.bincount(y_plain), np.bincount(y_shuffled))
    for split in ("validation", "test"):
        np.testing.assert_array_equal(
            collect(getattr(plain, split))[0], collect(getattr(shuffled, split))[0]
        )


class RecordingDataset(NumpyDataset):
    """Records the labels (here the example indices) each epoch's batches served."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served = {}

    def __getitem__(self, index):
        images, labels = super().__getitem__(index)
        self.served.setdefault(self.epoch, {})[index] = labels
        return images, labels


def test_fit_reshuffles_every_epoch():
    dataset = RecordingDataset(indexed_images(160), np.arange(160), batch_size=32, shuffle=True)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(160)]
    )
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(dataset, epochs=3, verbose=0, shuffle=False)
    # fit calls on_epoch_end after every epoch, and once before the first.
    assert dataset.epoch == 4
    orders = []
    for epoch in (1, 2, 3):
        batches = dataset.served[epoch]
        assert sorted(batches) == list(range(5))
        orders.append(np.concatenate([batches[i] for i in range(5)]))
        assert sorted(orders[-1]) == list(range(160))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


# Training without TensorFlow.

# `scripts/without_tensorflow.py` runs the script with `import tensorflow`
# raising, as where TensorFlow is not installed.
WITHOUT_TF = os.path.join(ROOT, "scripts", "without_tensorflow.py")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_train_script_runs_without_tensorflow(tmp_path):
    out = tmp_path / "run"
    argv = [
        *TRAIN,
        "--dataset=digits",
        "--model=polynet",
        "--width=4",
        "--num_blocks=2",
        "--epochs=1",
        "--batch_size=64",
        "--augment",
        f"--output_dir={out}",
    ]
    env = jax_env(PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, WITHOUT_TF, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow imported: False" in result.stdout
    assert "Skipping TensorBoard logs: TensorFlow is not installed." in result.stdout
    assert (out / "model.keras").is_file() and not (out / "logs").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["epochs"] == 1 and metrics["config"]["augment"]
    # The model augments (and normalizes) the raw pixels itself, on JAX as on TensorFlow.
    assert metrics["input_normalization"] == "unit" and metrics["pixel_range"] == [0, 255]
    model = keras.saving.load_model(out / "model.keras")
    assert [type(layer).__name__ for layer in model.layers[:3]] == [
        "PixelRange",
        "RandomTranslation",
        "Rescaling",
    ]


def test_importing_the_training_code_does_not_import_tensorflow():
    code = (
        "import sys; import pinet_keras.data, pinet_keras.training; "
        "import pinet_keras.training.distribute; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs JAX: the TensorFlow backend imports TensorFlow")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_distributed_strategies_need_tensorflow(monkeypatch):
    from pinet_keras.training.distribute import NoStrategy
    from pinet_keras.training.distribute import get_strategy

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    strategy, is_chief = get_strategy("default")
    assert isinstance(strategy, NoStrategy) and is_chief
    with strategy.scope():
        pass
    with pytest.raises(ImportError, match="strategy='mirrored' needs TensorFlow"):
        get_strategy("mirrored")
    with pytest.raises(ValueError, match="Unknown strategy"):
        get_strategy("tpu")
