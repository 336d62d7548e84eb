"""Hyperparameter search: the search space, built models, tiny searches, resume, the test split."""

import ast
import csv
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import pinet_keras
from conftest import ROOT
from conftest import TUNE
from conftest import tensorflow_only

pytestmark = tensorflow_only

# Small models and few examples keep each trial to a few seconds on CPU; the
# other hyperparameters are searched as usual.
TINY = dict(
    dataset="digits",
    epochs=1,
    max_train_examples=200,
    fixed={"width": 4, "num_blocks": 2},
    verbose="0",
)
OUTPUTS = (
    "best_hyperparameters.json",
    "best_model.keras",
    "trials.csv",
    "trials.png",
    "metrics.json",
)


def _config(out, **kwargs):
    from pinet_keras.tuning import TuneConfig

    return TuneConfig(**{**TINY, "output_dir": str(out), **kwargs})


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _docstring_table(doc):
    """Rows of the markdown table in ``doc``, as dicts keyed by its header."""
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").strip()) <= set("-: "), lines[1]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]
    ]


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def test_search_space_is_what_the_docs_say():
    import keras_tuner

    from pinet_keras.tuning import SEARCH_SPACE
    from pinet_keras.tuning import PolyNetHyperModel

    # 1. The docstring's table describes SEARCH_SPACE, row by row.
    rows = _docstring_table(PolyNetHyperModel.__doc__)
    assert [r["hyperparameter"] for r in rows] == list(SEARCH_SPACE)
    for row in rows:
        spec = SEARCH_SPACE[row["hyperparameter"]]
        kind = row["kind"].split(",")[0].strip()
        assert kind == spec["type"], row
        assert (row["kind"].endswith(", log")) == (spec.get("sampling") == "log"), row
        if kind in ("int", "float"):
            low, high = (float(v) for v in row["values"].split(".."))
            assert (low, high) == (spec["min"], spec["max"]), row
        elif kind == "boolean":
            assert row["values"] == "False, True", row
        else:
            assert tuple(_literal(v.strip()) for v in row["values"].split(",")) == spec["values"], (
                row
            )
        assert _literal(row["default"]) == spec["default"], row
        when = spec.get("when")
        expected_active = f"{when[0]} in {', '.join(when[1])}" if when else "always"
        assert row["active"] == expected_active, row

    # 2. What build() registers is SEARCH_SPACE, in kind, range and condition.
    hp = keras_tuner.HyperParameters()
    PolyNetHyperModel((8, 8, 1), 10).build(hp)
    registered = {p.name: p for p in hp.space}
    assert list(registered) == list(SEARCH_SPACE)
    kinds = {"choice": "Choice", "int": "Int", "float": "Float", "boolean": "Boolean"}
    for name, spec in SEARCH_SPACE.items():
        p = registered[name]
        config = p.get_config()
        assert type(p).__name__ == kinds[spec["type"]], name
        assert config["default"] == spec["default"], name
        if spec["type"] == "choice":
            assert tuple(config["values"]) == spec["values"], name
        if spec["type"] in ("int", "float"):
            assert (config["min_value"], config["max_value"]) == (spec["min"], spec["max"]), name
            assert config["sampling"] == spec.get("sampling", "linear"), name
        conditions = [
            (c["config"]["name"], tuple(c["config"]["values"])) for c in config["conditions"]
        ]
        assert conditions == ([spec["when"]] if "when" in spec else []), name
    # The defaults are the original experiment: examples/train.py's default run.
    from pinet_keras.training import TrainConfig

    defaults = TrainConfig()
    assert hp.values["optimizer"] == defaults.optimizer
    assert hp.values["learning_rate"] == defaults.learning_rate
    assert hp.values["batch_size"] == defaults.batch_size
    assert "weight_decay" not in hp.values  # inactive with adam


def test_built_model_has_the_hyperparameters(monkeypatch):
    import keras_tuner

    from pinet_keras import LabelSmoothingCrossentropy
    from pinet_keras import polynomial_degree
    from pinet_keras.tuning import PolyNetHyperModel

    hypermodel = PolyNetHyperModel((28, 28, 1), 10)
    hp = keras_tuner.HyperParameters()
    values = dict(
        width=8,
        num_blocks=3,
        use_skip=True,
        batch_norm=True,
        dropout=0.25,
        optimizer="sgd",
        learning_rate=0.005,
        weight_decay=1e-3,
        batch_size=64,
    )
    hp.values.update(values)
    model = hypermodel.build(hp)
    blocks = [layer for layer in model.layers if layer.name.startswith("block")]
    assert [b.name for b in blocks] == ["block1", "block2", "block3"]
    assert [b.filters for b in blocks] == [8, 16, 32]
    assert all(b.use_skip and b.normalization == "batch" for b in blocks)
    assert polynomial_degree(model) == 2**3
    assert model.get_layer("dropout").rate == 0.25
    assert model.output_shape == (None, 10)
    # Compiled as examples/train.py compiles: build_optimizer and the package's loss.
    assert isinstance(model.optimizer, keras.optimizers.SGD) and model.optimizer.nesterov
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    assert model.optimizer.weight_decay == pytest.approx(1e-3)
    assert isinstance(model.loss, LabelSmoothingCrossentropy) and model.loss.from_logits

    # Plain Adam has no weight decay; the default hyperparameters give the original network.
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert polynomial_degree(model) == 32 and model.count_params() == 1220362
    assert isinstance(model.optimizer, keras.optimizers.Adam) and not model.optimizer.weight_decay
    # It takes raw pixels, as a trained model does: pixels / 255 by default.
    assert [layer.name for layer in model.layers[:3]] == ["pixel_range", "rescaling", "block1"]

    # fit() batches an unbatched dataset, and re-batches a batched one, with the trial's batch size.
    import tensorflow as tf

    seen = []

    def fake_fit(self, x, y=None, **kwargs):
        seen.append((x.element_spec[0].shape.as_list(), [len(b[1]) for b in x], kwargs["epochs"]))
        return None

    monkeypatch.setattr(keras.Model, "fit", fake_fit)
    data = tf.data.Dataset.from_tensor_slices(
        (np.zeros((10, 28, 28, 1), "uint8"), np.zeros(10, "int64"))
    )
    hp = keras_tuner.HyperParameters()
    hp.values["batch_size"] = 4
    hypermodel.fit(hp, model, data, validation_data=data, epochs=1)
    hypermodel.fit(hp, model, data.batch(3), validation_data=data, epochs=2)
    assert seen == [([None, 28, 28, 1], [4, 4, 2], 1), ([None, 28, 28, 1], [4, 4, 2], 2)]
    with pytest.raises(ValueError, match="validation_data"):
        hypermodel.fit(hp, model, data)


def test_built_model_takes_raw_pixels_with_the_search_preprocessing():
    import keras_tuner

    from pinet_keras.layers import PixelRange
    from pinet_keras.tuning import PolyNetHyperModel

    mean, variance = (80.0,), (900.0,)
    hypermodel = PolyNetHyperModel(
        (8, 8, 1),
        10,
        fixed={"width": 4, "num_blocks": 2},
        input_normalization="standardize",
        pixel_mean=mean,
        pixel_variance=variance,
        augmentation=(1, False),
        seed=3,
    )
    model = hypermodel.build(keras_tuner.HyperParameters())
    first = model.layers[:3]
    assert [type(layer) for layer in first] == [
        PixelRange,
        pinet_keras.layers.RandomTranslation,
        keras.layers.Normalization,
    ]
    np.testing.assert_allclose(np.ravel(first[2].mean), mean)
    np.testing.assert_allclose(np.ravel(first[2].variance), variance)
    # Every trial gets new layers, with the same settings.
    again = hypermodel.build(keras_tuner.HyperParameters())
    assert again.layers[0] is not first[0] and again.layers[1].get_config() == first[1].get_config()
    # Raw uint8 pixels and their float values give the same logits.
    pixels = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), np.uint8)
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0),
        model.predict(pixels.astype("float32"), verbose=0),
        rtol=1e-6,
    )

    with pytest.raises(ValueError, match="input_normalization"):
        PolyNetHyperModel((8, 8, 1), 10, input_normalization="minmax")
    with pytest.raises(ValueError, match="mean"):
        PolyNetHyperModel((8, 8, 1), 10, input_normalization="standardize")


def test_tune_config_rejects_an_unknown_input_normalization(tmp_path):
    from pinet_keras.tuning import tune

    with pytest.raises(ValueError, match="input_normalization"):
        tune(_config(tmp_path / "bad", input_normalization="minmax"))
    assert not (tmp_path / "bad").exists()  # rejected before the folder is made


@pytest.mark.slow
def test_random_search_writes_outputs_resumes_and_never_reads_the_test_split(tmp_path, monkeypatch):
    import tensorflow as tf

    from pinet_keras.tuning import PolyNetHyperModel
    from pinet_keras.tuning import search as search_module
    from pinet_keras.tuning import tune

    events = []
    real_search_datasets = search_module.search_datasets
    real_fit = PolyNetHyperModel.fit

    def spied_search_datasets(*args, **kwargs):
        data = real_search_datasets(*args, **kwargs)

        def record(x, y):
            flag = tf.py_function(lambda: events.append("test") or 0, [], tf.int64)
            with tf.control_dependencies([flag]):
                return tf.identity(x), y

        return data._replace(test=data.test.map(record))

    def spied_fit(self, hp, model, *args, **kwargs):
        events.append("fit")
        history = real_fit(self, hp, model, *args, **kwargs)
        events.append("fit done")
        return history

    monkeypatch.setattr(search_module, "search_datasets", spied_search_datasets)
    monkeypatch.setattr(PolyNetHyperModel, "fit", spied_fit)
    out = tmp_path / "search"

    metrics = tune(_config(out, max_trials=2))
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The test split is read once, after every trial, and never by the search.
    assert events.count("fit") == 2
    last_fit = max(i for i, e in enumerate(events) if e == "fit done")
    assert "test" not in events[:last_fit]
    assert events[last_fit + 1 :] == ["test"] * 2  # 360 test digits, batches of 256

    rows = _read_csv(out / "trials.csv")
    assert [r["status"] for r in rows] == ["COMPLETED"] * 2
    assert len({r["trial_id"] for r in rows}) == 2
    assert all(float(r["seconds"]) > 0 and 0 <= float(r["val_accuracy"]) <= 1 for r in rows)
    assert all(r["width"] == "4" for r in rows)
    best_row = max(rows, key=lambda r: float(r["val_accuracy"]))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in (
        "test_accuracy",
        "test_loss",
        "dataset",
        "tuner",
        "max_trials",
        "trials_completed",
        "params",
    ):
        assert key in saved, key
    assert (saved["dataset"], saved["tuner"], saved["max_trials"], saved["trials_completed"]) == (
        "digits",
        "random",
        2,
        2,
    )
    assert saved["best_trial_id"] == best_row["trial_id"]
    assert saved["best_val_accuracy"] == pytest.approx(float(best_row["val_accuracy"]))
    best = json.loads((out / "best_hyperparameters.json").read_text())
    assert best == saved["best_hyperparameters"]
    assert (
        best["num_blocks"] == int(best_row["num_blocks"])
        and best["optimizer"] == best_row["optimizer"]
    )

    # best_model.keras is the best trial's model at its best epoch: it has
    # the best hyperparameters and reproduces the best validation accuracy.
    from pinet_keras import polynomial_degree
    from pinet_keras.tuning import search_datasets

    model = keras.saving.load_model(out / "best_model.keras")
    assert model.count_params() == saved["params"]
    assert polynomial_degree(model) == 2 ** best["num_blocks"]
    assert model.get_layer("block1").filters == 4
    # It takes raw pixels (uint8 batches of the search's data), as a trained model does.
    assert [layer.name for layer in model.layers[:2]] == ["pixel_range", "rescaling"]
    data = search_datasets("digits", max_train_examples=200)
    assert data.validation.element_spec[0].dtype.name == "uint8"
    _, val_accuracy = model.evaluate(data.validation.batch(256), verbose=0)
    assert val_accuracy == pytest.approx(saved["best_val_accuracy"], abs=1e-6)

    # Same max_trials again: nothing is trained, the finished trials are kept.
    events.clear()
    again = tune(_config(out, max_trials=2))
    assert events.count("fit") == 0 and again["trials_run_now"] == 0
    assert _read_csv(out / "trials.csv") == rows

    # A larger max_trials runs only the new trial.
    events.clear()
    more = tune(_config(out, max_trials=3))
    assert events.count("fit") == 1 and more["trials_run_now"] == 1
    rows3 = _read_csv(out / "trials.csv")
    assert rows3[:2] == rows and len(rows3) == 3 and rows3[2]["status"] == "COMPLETED"
    assert more["trials_completed"] == 3

    # Resuming with other search settings is refused before anything runs.
    events.clear()
    with pytest.raises(ValueError, match="epochs: 1 -> 2"):
        tune(_config(out, max_trials=4, epochs=2))
    with pytest.raises(ValueError, match="input_normalization: 'unit' -> 'standardize'"):
        tune(_config(out, max_trials=4, input_normalization="standardize"))
    assert events == []


@pytest.mark.slow
def test_bayesian_search_runs_past_its_random_trials(tmp_path):
    from pinet_keras.tuning import PolyNetHyperModel
    from pinet_keras.tuning import make_tuner
    from pinet_keras.tuning import search_datasets
    from pinet_keras.tuning import trial_rows

    # Bayesian: one random trial, then one proposed by the Gaussian process.
    data = search_datasets("digits", max_train_examples=200)
    hypermodel = PolyNetHyperModel(
        data.info.input_shape, data.info.num_classes, fixed=TINY["fixed"]
    )
    tuner = make_tuner(
        "bayesian",
        hypermodel,
        str(tmp_path),
        "bayes",
        max_trials=2,
        epochs=1,
        seed=0,
        num_initial_points=1,
    )
    tuner.search(data.train, validation_data=data.validation, epochs=1, verbose=0)
    rows = trial_rows(tuner)
    assert [r["status"] for r in rows] == ["COMPLETED"] * 2, [r["error"] for r in rows]
    assert hasattr(tuner.oracle.gpr, "X_train_")  # the second trial came from the fitted GP
    assert all(r["seconds"] > 0 for r in rows)


@pytest.mark.slow
def test_script_runs_a_tiny_hyperband_search(tmp_path):
    out = tmp_path / "run"
    args = [
        "--dataset=digits",
        "--tuner=hyperband",
        "--max_trials=1",
        "--epochs=1",
        "--max_train_examples=150",
        "--input_normalization=standardize",
        "--augment",
        "--fix=width=4",
        "--fix=num_blocks=2",
        f"--output_dir={out}",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    result = subprocess.run(
        [sys.executable, *TUNE, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["tuner"] == "hyperband" and summary["trials_completed"] == 1
    assert summary["best_hyperparameters"]["num_blocks"] == 2
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["max_train_examples"] == 150 and config["fixed"] == {"width": 4, "num_blocks": 2}
    assert config["input_normalization"] == "standardize" and config["augment"]
    # best_model.keras takes raw pixels: the guard, digits' augmentation (a
    # translation by up to 1 pixel, no flip), the training pixels' statistics.
    from pinet_keras.layers import PixelRange
    from pinet_keras.tuning import search_datasets

    model = keras.saving.load_model(out / "best_model.keras")
    first = model.layers[:3]
    assert [type(layer) for layer in first] == [
        PixelRange,
        pinet_keras.layers.RandomTranslation,
        keras.layers.Normalization,
    ]
    assert first[1].height_factor == first[1].width_factor == 1 / 8 and first[1].fill_value == 0
    info = search_datasets("digits", max_train_examples=150).info
    np.testing.assert_allclose(np.ravel(first[2].mean), info.pixel_mean, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(first[2].variance), info.pixel_variance, rtol=1e-6)
    # Hyperband's bookkeeping stays in trials.csv, out of the best hyperparameters.
    rows = _read_csv(out / "trials.csv")
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETED" and rows[0]["tuner/epochs"] == "1"
    assert not any(
        k.startswith("tuner/") for k in json.loads((out / "best_hyperparameters.json").read_text())
    )


def test_parse_fixed_and_make_tuner_reject_bad_input(tmp_path):
    from pinet_keras.tuning import PolyNetHyperModel
    from pinet_keras.tuning import make_tuner
    from pinet_keras.tuning import parse_fixed

    assert parse_fixed(
        ["width=8", "use_skip=true", "batch_norm=true", "dropout=0", "learning_rate=3e-3"]
    ) == {
        "width": 8,
        "use_skip": True,
        "batch_norm": True,
        "dropout": 0.0,
        "learning_rate": 0.003,
    }
    with pytest.raises(ValueError, match="name=value"):
        parse_fixed(["width"])
    with pytest.raises(ValueError, match=r"'wide' as a value of width .*--fix=width=.*8, 16, 32"):
        parse_fixed(["width=wide"])
    with pytest.raises(ValueError, match="use_skip=<value>, true or false"):
        parse_fixed(["use_skip=maybe"])
    # The second of two values used to win silently.
    with pytest.raises(ValueError, match=r"width is fixed twice \(--fix=width=8 and 'width=16'\)"):
        parse_fixed(["width=8", "width=16"])
    hypermodel = PolyNetHyperModel((8, 8, 1), 10)
    with pytest.raises(ValueError, match="Unknown tuner 'grid'"):
        make_tuner("grid", hypermodel, str(tmp_path), "p", max_trials=1, epochs=1, seed=0)
    with pytest.raises(ValueError, match="max_trials"):
        make_tuner("random", hypermodel, str(tmp_path), "p", max_trials=0, epochs=1, seed=0)


def test_core_package_does_not_import_keras_tuner():
    package = os.path.join(ROOT, "pinet_keras")
    offenders = []
    for folder, _, files in os.walk(package):
        if os.path.relpath(folder, package).split(os.sep)[0] == "tuning":
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    if re.search(
                        r"^\s*(import|from)\s+(keras_tuner|pinet_keras\.tuning)\b", f.read(), re.M
                    ):
                        offenders.append(os.path.relpath(path, ROOT))
    # The tune command imports it, and is imported only when it runs (pinet_keras.cli.main).
    assert offenders == [os.path.join("pinet_keras", "cli", "tune.py")]
