"""The shipped pretrained models: files, cards, errors, and their accuracy against the cards."""

import json
import os

import numpy as np
import pytest

from conftest import ROOT
from conftest import SHARED_DATA
from conftest import tensorflow_only
from pinet_keras import pretrained
from pinet_keras.pretrained import storage

MB = 1_000_000
EXPECTED_FILES = {
    pretrained.CARD_FILE,
    pretrained.CARD_MARKDOWN,
    pretrained.CONFIG_FILE,
    pretrained.WEIGHTS_FILE,
    pretrained.BOUND_FILE,
    pretrained._tflite_file_name("int8"),
}


def test_list_names_the_models_with_their_cards():
    cards = pretrained.list()
    assert (
        sorted(cards)
        == sorted(pretrained.NAMES)
        == ["pi_resnet_cifar10", "polynet_fashion_mnist", "polynet_mnist"]
    )
    for name, card in cards.items():
        assert card["name"] == name
        assert card["dataset"] in ("mnist", "fashion_mnist", "cifar10")
        assert len(card["class_names"]) == 10
        assert card["params"] > 0 and card["degree"] >= 2
        assert card["training"]["command"].startswith("python examples/train.py")
        assert card["training"]["commit"]["base"]
        assert card["package_version"] and card["date_packaged"]
        assert abs(card["storage"]["change_points"]) <= 0.05
        assert set(card["tflite"]) == set(pretrained.FORMATS)
        for result in [*card["accuracy"].values(), *card["tflite"].values()]:
            assert 0.5 < result["test"]["accuracy"] <= 1
            assert 0.5 < result["check"]["accuracy"] <= 1


def test_files_fit_the_size_limits():
    total = 0
    for name in pretrained.NAMES:
        folder = pretrained._model_dir(name)
        assert set(os.listdir(folder)) == EXPECTED_FILES, name
        for file_name in os.listdir(folder):
            size = os.path.getsize(os.path.join(folder, file_name))
            assert size <= 3 * MB, (name, file_name, size)
            total += size
    assert total <= 8 * MB, total


def test_unknown_names_and_formats_are_one_clear_line():
    with pytest.raises(ValueError) as error:
        pretrained.load("resnet50")
    message = str(error.value)
    assert "\n" not in message and "'resnet50'" in message
    assert all(name in message for name in pretrained.NAMES)
    with pytest.raises(ValueError, match="Unknown pretrained model 'x'; available: pi_resnet"):
        pretrained.tflite_path("x")
    with pytest.raises(ValueError) as error:
        pretrained.tflite_path("polynet_mnist", "int4")
    message = str(error.value)
    assert "\n" not in message and "'int4'" in message
    assert "int8" in message and "float32" in message


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    assert pretrained.cache_dir() == str(tmp_path / "cache")
    monkeypatch.delenv(pretrained.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert pretrained.cache_dir() == str(tmp_path / ".cache" / "pinet_keras")


def test_int8_file_carries_the_class_names():
    from pinet_keras.export import read_tflite_metadata

    for name in pretrained.NAMES:
        metadata = read_tflite_metadata(pretrained.tflite_path(name, "int8"))
        assert metadata["class_names"] == pretrained.card(name)["class_names"]


@pytest.mark.parametrize("kind", storage.STORAGES)
def test_storage_round_trip(kind):
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(3, 3, 8, 64)).astype("float32"),
        rng.normal(size=(64,)).astype("float32"),
        np.array([7, 11], dtype="uint32"),
    ]
    decoded = storage.decode(storage.encode(arrays, kind))
    tolerance = {"float32": 0, "float16": 1e-3, "int8": 0.5 / 127}[kind]
    scale = np.abs(arrays[0]).max(axis=(0, 1, 2))
    assert np.all(np.abs(decoded[0] - arrays[0]) <= tolerance * scale + 1e-7)
    assert decoded[0].dtype == np.float32
    np.testing.assert_array_equal(decoded[1], arrays[1])  # small arrays are kept exactly
    np.testing.assert_array_equal(decoded[2], arrays[2])
    assert decoded[2].dtype == np.uint32


def _extreme_images(shape, seed=0):
    """Inputs far from any training image, inside the pixel box: frames, patterns, binary noise."""
    from pinet_keras.export.robustness import patterns

    frames = np.stack([np.zeros(shape), np.full(shape, 255.0)])
    noise = 255.0 * np.random.default_rng(seed).integers(0, 2, size=(8, *shape))
    return np.concatenate([frames, patterns(shape), noise]).astype("float32")


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_loaded_model_is_bounded_in_float32_and_float16(name):
    from pinet_keras.export.fold import FoldedPolynomial
    from pinet_keras.export.precision import with_float_dtype
    from pinet_keras.models import polynomial_layers

    model = pretrained.load(name)
    folded = [layer for layer in model.layers if isinstance(layer, FoldedPolynomial)]
    assert folded and all(layer.output_range is not None for layer in folded)
    images = _extreme_images(model.input_shape[1:])
    logits = model.predict(images, verbose=0)
    # Bounded: no logit beyond what the clipped layers allow on these inputs.
    assert np.isfinite(logits).all() and np.abs(logits).max() < 1e3
    half = with_float_dtype(model, "float16").predict(images, verbose=0)
    assert np.isfinite(half).all()
    np.testing.assert_allclose(half, logits, atol=0.05 * np.abs(logits).max())
    # The trained model as the trainer wrote it: layers unfolded, each clipped
    # at inference to its output range; bounded too, in float16 as well.
    trained = pretrained.load(name, bounded=False)
    assert not any(isinstance(layer, FoldedPolynomial) for layer in trained.layers)
    layers = polynomial_layers(trained)
    assert layers and all(layer.output_range is not None for layer in layers)
    logits = np.asarray(trained(images, training=False))
    assert np.isfinite(logits).all() and np.abs(logits).max() < 1e3
    assert np.isfinite(with_float_dtype(trained, "float16").predict(images, verbose=0)).all()
    # Without the ranges the extremes go far higher (CIFAR-10: 4e20).
    for layer in layers:
        layer.output_range = None
    unbounded = np.asarray(trained(images, training=False))
    assert np.abs(unbounded).max() > 10 * np.abs(logits).max()


def test_a_bound_file_that_does_not_match_is_one_clear_line(tmp_path):
    folder = pretrained._model_dir("polynet_mnist")
    with open(os.path.join(folder, pretrained.BOUND_FILE), encoding="utf-8") as f:
        bound = json.load(f)
    bound["ranges"].pop(sorted(bound["ranges"])[0])
    with open(tmp_path / pretrained.BOUND_FILE, "w", encoding="utf-8") as f:
        json.dump(bound, f)
    model = pretrained.load("polynet_mnist", bounded=False)
    with pytest.raises(ValueError) as error:
        pretrained._bounded(model, str(tmp_path))
    assert "\n" not in str(error.value) and "reinstall pinet_keras" in str(error.value)
    # A damaged or missing file: the same one line, naming the file.
    for content in ("{not json", '{"percentile": 100}', None):
        path = tmp_path / pretrained.BOUND_FILE
        if content is None:
            path.unlink()
        else:
            path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError) as error:
            pretrained._bounded(model, str(tmp_path))
        message = str(error.value)
        assert "\n" not in message and str(path) in message and "reinstall" in message


def _check_images(dataset, step):
    from pinet_keras.data import load_arrays

    folder = os.path.join(SHARED_DATA, dataset)
    if not os.path.isdir(folder):
        pytest.skip(f"no {dataset} data in {os.path.abspath(folder)} (../shared/data)")
    (_, _), (x_test, y_test) = load_arrays(dataset, data_dir=folder)
    return x_test[::step], y_test[::step]


# CIFAR-10's reader decodes the whole archive (about 10 s).
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "pi_resnet_cifar10" else n
        for n in pretrained.NAMES
    ],
)
def test_pretrained_model_reproduces_its_card(name):
    from pinet_keras.export import compare_logits
    from pinet_keras.export import run_tflite

    card = pretrained.card(name)
    step = card["test_examples"] // 1000
    assert card["check_subset"].startswith(f"test[::{step}]")
    images, labels = _check_images(card["dataset"], step)
    assert len(images) == 1000

    model = pretrained.load(name)
    logits = model.predict(images, batch_size=250, verbose=0)
    keras_result = compare_logits(logits, labels=labels)
    expected = card["accuracy"]["keras_bounded"]["check"]["accuracy"]
    assert abs(keras_result["accuracy"] - expected) <= 0.003, (keras_result, expected)

    int8 = card["tflite"]["int8"]["check"]
    int8_logits = run_tflite(pretrained.tflite_path(name, "int8"), images, batch_size=250)
    int8_result = compare_logits(int8_logits, logits, labels)
    assert int8_result["top1_agreement"] >= int8["top1_agreement"] - 0.005, int8_result
    assert abs(int8_result["accuracy"] - int8["accuracy"]) <= 0.003, int8_result


@tensorflow_only
def test_float32_tflite_is_converted_once_into_the_cache(monkeypatch, tmp_path):
    from pinet_keras.export import read_tflite_metadata
    from pinet_keras.export import run_tflite

    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path))
    name = "pi_resnet_cifar10"
    path = pretrained.tflite_path(name, "float32")
    assert path.startswith(str(tmp_path)) and os.path.isfile(path)
    assert read_tflite_metadata(path)["class_names"] == pretrained.card(name)["class_names"]
    # Found, not converted again; nothing else left in the cache folder.
    modified = os.path.getmtime(path)
    assert pretrained.tflite_path(name, "float32") == path
    assert os.path.getmtime(path) == modified
    # The file and its record (hash, size, model, format), nothing else.
    assert sorted(os.listdir(os.path.dirname(path))) == [
        os.path.basename(path),
        os.path.basename(path) + ".json",
    ]

    images = np.random.default_rng(0).integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    reference = pretrained.load(name).predict(images, verbose=0)
    np.testing.assert_allclose(run_tflite(path, images), reference, atol=1e-3, rtol=1e-3)


def test_cards_are_json_and_markdown():
    for name in pretrained.NAMES:
        folder = pretrained._model_dir(name)
        with open(os.path.join(folder, pretrained.CARD_FILE), encoding="utf-8") as f:
            assert json.load(f) == pretrained.card(name)
        with open(os.path.join(folder, pretrained.CARD_MARKDOWN), encoding="utf-8") as f:
            text = f.read()
        assert text.startswith(f"# {name}:") and "TFLite int8" in text


def test_shipped_files_are_the_measured_ones():
    import hashlib

    for name in pretrained.NAMES:
        digests = pretrained.card(name)["sha256"]
        assert set(digests) == EXPECTED_FILES - {pretrained.CARD_FILE, pretrained.CARD_MARKDOWN}
        for file_name, digest in digests.items():
            with open(os.path.join(pretrained._model_dir(name), file_name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, (name, file_name)


def test_readme_table_matches_the_cards():
    # The documentation's table (docs/guides/pretrained.md includes it), which
    # scripts/results_tables.py makes from the cards.
    readme = os.path.join(ROOT, "docs", "results", "tables", "pretrained.md")
    with open(readme, encoding="utf-8") as f:
        rows = {line.split("`")[1]: line for line in f if line.startswith("| `")}
    for name, card in pretrained.list().items():
        row = rows[name]
        numbers = [
            card["accuracy"]["keras_float32_original"]["test"]["accuracy"],
            card["accuracy"]["keras_stored"]["test"]["accuracy"],
            card["accuracy"]["keras_bounded"]["test"]["accuracy"],
            card["accuracy"]["keras_bounded"]["test"]["top1_agreement"],
            card["tflite"]["int8"]["test"]["accuracy"],
            card["tflite"]["int8"]["test"]["top1_agreement"],
        ]
        for number in numbers:
            assert f"{100 * number:.2f}%" in row, (name, number, row)
        assert f"{card['params']:,}" in row and card["storage"]["weights"] in row


@pytest.mark.slow
def test_make_pretrained_script_errors_are_one_line(tmp_path):
    import subprocess
    import sys

    root = ROOT
    # This checkout's package, whichever copy is installed.
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(
            [root] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
    }

    def make_pretrained(models):
        return subprocess.run(
            [
                sys.executable,
                "tools/make_pretrained.py",
                f"--models={models}",
                f"--runs_dir={tmp_path / 'runs'}",
                f"--output_dir={tmp_path / 'out'}",
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    result = make_pretrained("resnet50,polynet_mnist")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: --models: unknown ['resnet50']" in result.stderr
    result = make_pretrained("polynet_mnist")
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--runs_dir" in lines[0] and "model.keras" in lines[0], lines
    assert "examples/train.py --dataset=mnist" in lines[0]
    assert not os.path.exists(tmp_path / "out")
