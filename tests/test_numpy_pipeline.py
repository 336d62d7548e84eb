"""Tests of the NumPy pipeline of `make_datasets`, and of training without TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from pinet_keras.data import AUGMENTATIONS
from pinet_keras.data import augment_batch
from pinet_keras.data import dataset_info
from pinet_keras.data import make_datasets
from pinet_keras.data.numpy_pipeline import NumpyDataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "examples", "train.py")


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
    pixels = np.round(images * 255).astype(int)
    return pixels[:, 0, 0, 0] + 256 * pixels[:, 0, 1, 0]


def translated(image, dy, dx):
    """`out[i, j] = image[i + dy, j + dx]`, zero where that falls outside `image`."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    out[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)] = image[
        max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)
    ]
    return out


def explain(original, augmented, padding):
    """The `(dy, dx, flipped)` that turn `original` into `augmented`, or `None`."""
    for flipped in (False, True):
        for dy in range(-padding, padding + 1):
            for dx in range(-padding, padding + 1):
                candidate = translated(original, dy, dx)
                if flipped:
                    candidate = candidate[:, ::-1]
                if np.array_equal(candidate, augmented):
                    return dy, dx, flipped
    return None


# The NumPy pipeline against the tf.data one.


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch_size=100),
        dict(batch_size=64, normalization="standardize", drop_remainder=True, validation_split=0.2),
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
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == x_ref.shape and x.shape[1:] == dataset_info("digits").input_shape
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_allclose(x, x_ref, rtol=1e-6, atol=1e-6)
    assert set(y) == set(range(10))


def test_auto_pipeline_without_tensorflow(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises
    datasets = make_datasets("digits", batch_size=32)
    assert isinstance(datasets.train, NumpyDataset)
    assert (datasets.info.num_train, datasets.info.num_validation, datasets.info.num_test) == (1293, 144, 360)
    with pytest.raises(ImportError, match="pipeline='tf.data' needs TensorFlow"):
        make_datasets("digits", pipeline="tf.data")
    with pytest.raises(ValueError, match="batch_size=None .* TensorFlow is not installed"):
        make_datasets("digits", batch_size=None)


def test_pipeline_argument_errors():
    with pytest.raises(ValueError, match="pipeline must be one of 'auto', 'tf.data', 'numpy', got 'torch'"):
        make_datasets("digits", pipeline="torch")
    with pytest.raises(ValueError, match="batch_size=None .* pipeline='numpy'"):
        make_datasets("digits", batch_size=None, pipeline="numpy")
    with pytest.raises(ValueError, match="unit, standardize"):
        make_datasets("digits", normalization="minmax", pipeline="numpy")
    with pytest.raises(ValueError, match="batch_size"):
        NumpyDataset(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4), "digits", batch_size=0)


# Shuffling.


def test_shuffling_covers_every_example_once_and_differs_between_epochs():
    images = indexed_images(300)
    labels = np.arange(300) % 10
    dataset = NumpyDataset(images, labels, "digits", batch_size=64, shuffle=True, seed=5)
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
    again = NumpyDataset(images, labels, "digits", batch_size=64, shuffle=True, seed=5)
    np.testing.assert_array_equal(indices_of(collect(again)[0]), orders[0])
    other = NumpyDataset(images, labels, "digits", batch_size=64, shuffle=True, seed=6)
    assert not np.array_equal(indices_of(collect(other)[0]), orders[0])
    # drop_remainder drops a different remainder each epoch, never a batch.
    dropped = NumpyDataset(images, labels, "digits", batch_size=64, shuffle=True, drop_remainder=True)
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
    dataset = RecordingDataset(
        indexed_images(160), np.arange(160), "digits", batch_size=32, shuffle=True, augment=True
    )
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(160)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
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


# Augmentation.


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augment_batch_translates_with_zeros_and_flips_where_the_policy_does(name):
    policy = AUGMENTATIONS[name]
    shape = dataset_info(name).input_shape
    # Pixels 1..255: zeros in the output can only come from the padding.
    images = np.random.default_rng(1).integers(1, 256, (64,) + shape, np.uint8)
    augmented = augment_batch(images, np.random.default_rng(2), name)
    assert augmented.shape == images.shape and augmented.dtype == np.uint8
    moves = [explain(a, b, policy.padding) for a, b in zip(images, augmented)]
    assert None not in moves  # each output is its image shifted (and maybe flipped)
    assert {dy for dy, _, _ in moves} == set(range(-policy.padding, policy.padding + 1))
    assert {dx for _, dx, _ in moves} == set(range(-policy.padding, policy.padding + 1))
    assert {flipped for _, _, flipped in moves} == ({False, True} if policy.flip else {False})
    assert sum(move != (0, 0, False) for move in moves) > 32
    # Seeded.
    np.testing.assert_array_equal(augment_batch(images, np.random.default_rng(2), name), augmented)
    assert not np.array_equal(augment_batch(images, 3, name), augmented)


def test_augment_batch_errors():
    with pytest.raises(ValueError, match="batch of shape"):
        augment_batch(np.zeros((8, 8, 1), np.uint8), 0, "digits")
    with pytest.raises(ValueError, match="Unknown data set"):
        augment_batch(np.zeros((1, 8, 8, 1), np.uint8), 0, "svhn")


def test_make_datasets_augments_the_training_split_only():
    kwargs = dict(batch_size=256, shuffle=False, pipeline="numpy")
    plain = make_datasets("digits", **kwargs)
    augmented = make_datasets("digits", augment=True, **kwargs)
    assert augmented.info.augment
    x_plain, y_plain, _ = collect(plain.train)
    x_aug, y_aug, _ = collect(augmented.train)
    np.testing.assert_array_equal(y_aug, y_plain)
    padding = AUGMENTATIONS["digits"].padding
    moves = [explain(np.round(a * 255), np.round(b * 255), padding) for a, b in zip(x_plain[:100], x_aug[:100])]
    assert None not in moves and sum(move != (0, 0, False) for move in moves) > 50
    # A rebuilt pipeline repeats its draws; the next epoch draws new ones.
    again = make_datasets("digits", augment=True, **kwargs)
    np.testing.assert_array_equal(collect(again.train)[0], x_aug)
    augmented.train.on_epoch_end()
    assert not np.array_equal(collect(augmented.train)[0], x_aug)
    # Validation and test are never augmented.
    for split in ("validation", "test"):
        np.testing.assert_array_equal(collect(getattr(augmented, split))[0], collect(getattr(plain, split))[0])


# Training without TensorFlow.

CHILD = """
import runpy, sys
sys.modules["tensorflow"] = None  # from here on, `import tensorflow` raises ImportError
sys.argv = {argv!r}
try:
    runpy.run_path({script!r}, run_name="__main__")
    code = 0
except SystemExit as exit:
    code = exit.code
print("tensorflow module:", repr(sys.modules.get("tensorflow")))
sys.exit(code)
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_train_script_runs_without_tensorflow(tmp_path):
    out = tmp_path / "run"
    argv = [
        TRAIN,
        "--dataset=digits",
        "--model=polynet",
        "--width=4",
        "--num_blocks=2",
        "--epochs=1",
        "--batch_size=64",
        "--augment",
        f"--output_dir={out}",
    ]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(argv=argv, script=TRAIN)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow module: None" in result.stdout
    assert "Skipping TensorBoard logs: TensorFlow is not installed." in result.stdout
    assert (out / "model.keras").is_file() and not (out / "logs").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["epochs"] == 1 and metrics["config"]["augment"]


def test_importing_the_training_code_does_not_import_tensorflow():
    code = (
        "import sys; import pinet_keras.data, pinet_keras.training, pinet_keras.training.distribute; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": ROOT}
    if importlib.util.find_spec("jax") is None:
        pytest.skip("needs JAX: the TensorFlow backend imports TensorFlow")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
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
    with pytest.raises(ImportError, match="strategy='mirrored' uses tf.distribute"):
        get_strategy("mirrored")
    with pytest.raises(ValueError, match="Unknown strategy"):
        get_strategy("tpu")
