"""`.keras` files of pinet_keras 0.1.0 (tests/fixtures/v0_1_0): they load, predict and train.

0.1.0's models take *normalized* pixels (the data pipeline normalized them):
``"unit"`` is pixels / 255, ``"standardize"`` then subtracts
``dataset_info("digits").mean`` and divides by ``.std``, in float32.
"""

import json
import os

import keras
import numpy as np
import pytest

import conftest
import pinet_keras
from pinet_keras.data import dataset_info
from pinet_keras.models import has_pixel_preprocessing
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models import polynomial_degree

FIXTURES = os.path.join(conftest.FIXTURES, "v0_1_0")
NAMES = ("digits_unit", "digits_standardize")


def fixture(name):
    folder = os.path.join(FIXTURES, name)
    with open(os.path.join(folder, "metrics.json")) as f:
        metrics = json.load(f)
    expected = dict(np.load(os.path.join(folder, "expected.npz")))
    return os.path.join(folder, "model.keras"), metrics, expected


def normalized(pixels, normalization):
    """What 0.1.0's `normalize(pixels, "digits", normalization)` gave."""
    x = np.asarray(pixels).astype(np.float32) / np.float32(255.0)
    if normalization == "standardize":
        info = dataset_info("digits")
        x = (x - np.asarray(info.mean, np.float32)) / np.asarray(info.std, np.float32)
    return x


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_what_the_readme_says(name):
    _, metrics, expected = fixture(name)
    assert metrics["dataset"] == "digits" and metrics["model"] == "polynet_bn"
    assert metrics["normalization"] == name.split("_")[1]  # 0.1.0's field name
    assert expected["pixels"].shape == (32, 8, 8, 1) and expected["pixels"].dtype == np.uint8
    assert expected["logits"].shape == (32, 10) and expected["labels"].shape == (32,)
    # The first 32 test digits.
    from pinet_keras.data import load_arrays

    _, (x_test, y_test) = load_arrays("digits")
    np.testing.assert_array_equal(expected["pixels"], x_test[:32])
    np.testing.assert_array_equal(expected["labels"], y_test[:32])


@pytest.mark.parametrize("name", NAMES)
def test_loads_and_gives_the_0_1_0_logits(name):
    path, metrics, expected = fixture(name)
    model = keras.saving.load_model(path)  # its layers are registered by `import pinet_keras`
    assert model.count_params() == metrics["params"]
    assert not has_pixel_preprocessing(model)  # it takes normalized pixels, as it did
    assert polynomial_degree(model) == 32
    x = normalized(expected["pixels"], metrics["normalization"])
    logits = model.predict(x, verbose=0)
    # float32 rounding: oneDNN's kernels differ between CPUs (AMD Zen 4 and Intel Xeon
    # runs of the fixture differ by 3e-7 of a logit of 50).
    np.testing.assert_allclose(logits, expected["logits"], rtol=1e-6, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_trains(name):
    path, metrics, expected = fixture(name)
    x = normalized(expected["pixels"], metrics["normalization"])
    labels = expected["labels"]
    # As saved (its optimizer and the package's loss), and compiled anew.
    for compile in (False, True):
        model = keras.saving.load_model(path)
        assert model.compiled
        if compile:
            model.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss=pinet_keras.LabelSmoothingCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
        before = [np.array(w) for w in model.trainable_weights]
        history = model.fit(x, labels, batch_size=32, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert any(
            not np.array_equal(a, np.array(w)) for a, w in zip(before, model.trainable_weights)
        )
        assert np.isfinite(model.predict(x, verbose=0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_raw_pixel_model_from_a_0_1_0_model(name):
    # The upgrade path: the 0.1.0 model behind the preprocessing layers takes
    # raw pixels and gives its logits.
    path, metrics, expected = fixture(name)
    info = dataset_info("digits")
    preprocessing = pixel_preprocessing(
        (8, 8, 1),
        metrics["normalization"],
        mean=255 * np.asarray(info.mean),
        variance=np.square(255 * np.asarray(info.std)),
    )
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), *preprocessing, keras.saving.load_model(path)]
    )
    assert has_pixel_preprocessing(model) and polynomial_degree(model) == 32
    logits = model.predict(expected["pixels"], verbose=0)
    np.testing.assert_allclose(logits, expected["logits"], rtol=1e-5, atol=1e-5)
