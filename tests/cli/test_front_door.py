"""The front door: your own image folder, the pinet-keras command, predict, export settings."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import EXPORT
from conftest import PREDICT
from conftest import TRAIN
from conftest import run_command
from conftest import tensorflow_only
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import load_folder
from pinet_keras.data import make_datasets
from pinet_keras.data import parse_image_size
from pinet_keras.export import ExportConfig
from pinet_keras.export import Int8Settings
from pinet_keras.inference import predict
from pinet_keras.training import TrainConfig


def draw(folder, classes=("circle", "square"), count=12, sizes=(20, 23), colour=False, seed=0):
    """PNG class folders of two shapes, of mixed sizes."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        for i in range(count):
            side = sizes[i % len(sizes)]
            y, x = np.mgrid[:side, :side]
            c = side / 2
            inside = (y - c) ** 2 + (x - c) ** 2 < (side / 4) ** 2
            if label:
                inside = (abs(y - c) < side / 4) & (abs(x - c) < side / 4)
            pixels = np.where(inside, 220, 30) + rng.integers(0, 10, (side, side))
            pixels = pixels.astype(np.uint8)
            if colour:
                pixels = np.stack([pixels, pixels // 2, 255 - pixels], -1)
            Image.fromarray(pixels).save(os.path.join(folder, name, f"{i:03d}.png"))
    return str(folder)


# -- Your own images ------------------------------------------------------------------


def test_folder_of_class_folders(tmp_path):
    folder = draw(tmp_path / "shapes")
    (x_train, y_train), (x_test, y_test), info = load_folder(folder, 16)
    assert info.class_names == ["circle", "square"] and info.input_shape == (16, 16, 1)
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (16, 16, 1)
    assert len(x_train) + len(x_test) == 24 and sorted(np.bincount(y_test)) == [1, 1]
    # The same split every time, whatever else changes.
    again = load_arrays("folder", folder, "16x16")
    np.testing.assert_array_equal(again[1][0], x_test)
    assert dataset_info("folder", folder, 16) == info
    with pytest.raises(ValueError, match="2 sizes .*pass image_size"):
        load_folder(folder)


def test_folder_with_splits_and_colour(tmp_path):
    draw(tmp_path / "train", colour=True, sizes=(12,))
    draw(tmp_path / "test", colour=True, count=3, sizes=(12,), seed=1)
    (x_train, _), (x_test, y_test), info = load_folder(tmp_path)
    assert info.input_shape == (12, 12, 3) and len(x_train) == 24 and len(x_test) == 6
    assert list(y_test) == [0, 0, 0, 1, 1, 1]
    data = make_datasets("folder", tmp_path, batch_size=8, validation_split=0.25)
    assert (data.info.num_train, data.info.num_validation, data.info.num_test) == (18, 6, 6)


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: os.makedirs(d / "only"), "at least two"),
        (lambda d: (draw(d, count=3), os.makedirs(d / "empty")), "holds no images"),
        (
            lambda d: (draw(d, count=3), (d / "circle" / "bad.png").write_bytes(b"not a png")),
            "Cannot read image .*bad.png",
        ),
        (lambda d: draw(d, count=1), "at least two"),
    ],
)
def test_folder_mistakes_are_one_clear_error(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_folder(tmp_path, 8)


def test_image_size_and_folder_settings_are_checked_once():
    assert parse_image_size("28x32") == (28, 32) and parse_image_size(7) == (7, 7)
    for bad in ("0", "big", "3x3x3", 5000):
        with pytest.raises(ValueError, match="image_size"):
            parse_image_size(bad)
    with pytest.raises(ValueError, match="--data_dir"):
        TrainConfig(dataset="folder").validate()
    with pytest.raises(ValueError, match="--image_size"):
        TrainConfig(dataset="mnist", image_size="32").validate()
    with pytest.raises(ValueError, match="--image_size"):
        TrainConfig(dataset="folder", data_dir="x", image_size="tiny").validate()
    with pytest.raises(ValueError, match="--dataset"):
        TrainConfig(dataset="fashion").validate()


# -- Export settings --------------------------------------------------------------------


def test_export_config_is_checked_once_and_serializable(tmp_path):
    config = ExportConfig(model="m.keras", output_dir=str(tmp_path / "out"), formats="int8,float32")
    assert config.formats == ("int8", "float32")
    assert ExportConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(AttributeError):
        config.int8.percentile = 50  # frozen
    bad = [
        (dict(formats=("int4",)), "--formats"),
        (dict(bound=20), "--bound"),
        (dict(int8=Int8Settings(fold=False)), "--nofold"),
        (dict(int8=Int8Settings(num_representative=0)), "--num_representative"),
        (dict(int8=Int8Settings(finetune_learning_rate=1e-4)), "--int8_finetune_epochs"),
        (dict(int8=Int8Settings(int8_output=True), formats=("float32",)), "--int8_output"),
        (dict(split="train"), "--split"),
    ]
    for changes, flag in bad:
        values = {**dict(model="m.keras", output_dir=str(tmp_path / "out")), **changes}
        with pytest.raises(ValueError, match=flag):
            ExportConfig(**values).validate()
    assert not (tmp_path / "out").exists()


# -- The command --------------------------------------------------------------------------


def test_command_help_and_typos(capsys):
    result = run_command(["-m", "pinet_keras", "--help"])  # python -m pinet_keras, once
    assert result.returncode == 0 and all(c in result.stdout for c in ("train", "export"))
    # The rest in this process: each command has flags of its own.
    from pinet_keras.cli import main

    assert main(["pinet-keras", "trian"]) == 2
    assert "unknown command 'trian'; did you mean 'train'?" in capsys.readouterr().err
    for command in ("train", "export", "predict", "tune"):
        with pytest.raises(SystemExit) as exit:
            main(["pinet-keras", command, "--help"])
        assert exit.value.code == 0, command
        out = capsys.readouterr().out
        headers = [line for line in out.splitlines() if line.startswith("pinet_keras")]
        assert headers == [f"pinet_keras.cli.{command}:", "pinet_keras.cli.boundary:"], command


@tensorflow_only
@pytest.mark.slow
def test_train_export_predict_your_own_images(tmp_path):
    """The three commands on a folder of PNGs, as a user runs them (one process each)."""
    images = draw(tmp_path / "shapes", count=16)
    run, exported = tmp_path / "run", tmp_path / "export"
    result = run_command(
        [
            *TRAIN,
            "--dataset=folder",
            f"--data_dir={images}",
            "--image_size=12",
            "--model=polynet_bn",
            "--width=4",
            "--num_blocks=2",
            "--epochs=3",
            "--batch_size=8",
            f"--output_dir={run}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dataset"] == "folder" and metrics["class_names"] == ["circle", "square"]
    assert metrics["config"]["image_size"] == "12"
    result = run_command(
        [
            *EXPORT,
            f"--model={run / 'model.keras'}",
            f"--output_dir={exported}",
            "--formats=int8",
            "--num_representative=16",
            "--latency_runs=0",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((exported / "report.json").read_text())
    assert report["dataset"] == "folder" and report["test_examples"] == 4
    image = os.path.join(images, "square", "000.png")
    result = run_command([*PREDICT, f"--model={exported / 'model_int8.tflite'}", image])
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith(image) and ("square" in line and "circle" in line)
    # The same answer in-process, from the .keras file and the int8 file.
    keras_answer = predict(str(run / "model.keras"), [image], top_k=2)[0]
    int8_answer = predict(str(exported / "model_int8.tflite"), [image], top_k=2)[0]
    assert {name for name, _ in keras_answer.top} == {"circle", "square"}
    assert line.split()[1] == int8_answer.label


@tensorflow_only
def test_predict_mistakes(tmp_path):
    from pinet_keras import pretrained

    path = pretrained.tflite_path("polynet_mnist", "int8")
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(image)
    (answer,) = predict(path, [str(image)], top_k=3)
    assert len(answer.top) == 3 and answer.label in [str(d) for d in range(10)]
    folder_answers = predict(path, [str(tmp_path)], top_k=1)
    assert [a.source for a in folder_answers] == [str(image)]
    with pytest.raises(ValueError, match="does not exist"):
        predict(path, [str(tmp_path / "nope.png")])
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        predict(path, [str(tmp_path / "text.png")])
    with pytest.raises(ValueError, match="top_k"):
        predict(path, [str(image)], top_k=0)
    with pytest.raises(ValueError, match="2 class names"):
        predict(path, [str(image)], labels=["a", "b"])


# -- Pretrained models outside the process that made them ------------------------------------


@tensorflow_only
def test_pretrained_model_saved_as_keras_loads_in_a_fresh_process(tmp_path):
    from pinet_keras import pretrained

    model = pretrained.load("polynet_mnist")
    path = tmp_path / "mnist.keras"
    model.save(path)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np, keras, pinet_keras\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, model.predict(np.load("
        f"{str(tmp_path / 'images.npy')!r}), verbose=0))\n"
    )
    result = run_command(["-c", script])
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), model.predict(images, verbose=0))
    assert any(type(layer).__name__ == "FoldedPolynomial" for layer in model.layers)
    assert keras.saving.get_registered_object("pinet_keras>FoldedPolynomial") is not None
