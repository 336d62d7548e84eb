"""The metadata of exports: carried in every format, read back, absent from bare files."""

import json
import os

import numpy as np
import pytest

import pinet_keras
from conftest import DIGITS_CLASS_NAMES
from conftest import DIGITS_SHAPE
from conftest import digits_metadata
from conftest import tensorflow_only
from pinet_keras import export
from pinet_keras.data import pixel_statistics

pytestmark = tensorflow_only


def _check_metadata(metadata, input_normalization="unit"):
    assert metadata["format"] == "pinet_keras.model_metadata/1"
    assert metadata["package_version"] == pinet_keras.__version__
    assert metadata["dataset"] == "digits" and metadata["class_names"] == DIGITS_CLASS_NAMES
    assert metadata["input"]["shape"] == [None, *DIGITS_SHAPE]
    assert metadata["input"]["pixel_range"] == [0.0, 255.0]
    assert metadata["input"]["input_normalization"] == input_normalization
    assert metadata["input"]["name"] == "images"
    assert metadata["output"]["kind"] == "logits" and metadata["output"]["shape"] == [None, 10]
    assert metadata["source"] == {"test": 1}


@pytest.mark.parametrize("quantization", export.QUANTIZATIONS)
def test_tflite_metadata_round_trip(unit_files, quantization):
    metadata = export.read_tflite_metadata(unit_files[quantization])
    _check_metadata(metadata)
    assert metadata["quantization"] == quantization and metadata["bounded"] is False
    assert metadata["input"]["dtype"] == ("uint8" if quantization == "int8" else "float32")
    with open(unit_files[quantization], "rb") as f:
        assert export.read_tflite_metadata(f.read()) == metadata
    # The interpreter ignores it: the file runs as before.
    assert export.TFLiteRunner(unit_files[quantization]).num_classes == 10


def test_saved_model_metadata_round_trip(unit_files):
    import tensorflow as tf

    path = unit_files["saved_model"]
    metadata = export.read_saved_model_metadata(path)
    _check_metadata(metadata)
    with open(os.path.join(path, "assets.extra", "labels.txt")) as f:
        assert f.read().splitlines() == DIGITS_CLASS_NAMES
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures) == ["metadata", "serving_default"]
    text = loaded.signatures["metadata"]()["pinet_keras"].numpy().decode("utf-8")
    assert json.loads(text) == metadata


def test_standardize_metadata(standardize_model, digits):
    (x_train, _), _ = digits
    metadata = export.read_tflite_metadata(
        export.convert_to_tflite(
            standardize_model, "float16", metadata=digits_metadata(standardize_model)
        )
    )
    _check_metadata(metadata, "standardize")
    mean, variance = pixel_statistics(x_train)
    np.testing.assert_allclose(metadata["input"]["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(metadata["input"]["variance"], variance, rtol=1e-5)


def test_files_without_metadata_and_not_tflite(unit_model, unit_files, tmp_path):
    assert export.read_tflite_metadata(unit_files["bare"]) == {}
    bare = export.export_saved_model(unit_model, str(tmp_path / "saved_model"))
    assert export.read_saved_model_metadata(bare) == {}
    text = tmp_path / "notes.tflite"
    text.write_text("these are not the weights you are looking for\n")
    with pytest.raises(ValueError, match="not a TFLite model"):
        export.read_tflite_metadata(str(text))
    with pytest.raises(ValueError, match="class names"):
        export.model_metadata(unit_model, class_names=["a", "b"])
