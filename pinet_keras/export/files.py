"""Files: loading a Keras model, and writing outputs all at once or not at all."""

from __future__ import annotations

import json
import os
import re
import zipfile

import keras

# Registers the pinet_keras layers with Keras' serialization before any load.
import pinet_keras.layers  # noqa: F401

KERAS_EXTENSIONS = (".keras", ".h5", ".hdf5")
_LOAD_ADVICE = (
    "its pinet_keras layers are registered by `import pinet_keras` (done here; "
    "keras.saving.load_model alone needs that import first), so a class it names that is "
    "still unknown comes from a newer pinet_keras (upgrade it) or from your own code "
    "(import the module that defines it)"
)


def load_keras_model(path) -> keras.Model:
    """Loads a ``.keras`` (or legacy ``.h5``) model, without its optimizer.

    A model saved under any backend (TensorFlow, JAX, PyTorch) loads here:
    the file holds the configuration and the weights, not backend code.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: naming the file, when it is not a Keras model file (for
            example a SavedModel folder, a ``.tflite`` file, a text file) or
            when Keras cannot rebuild the model from it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Keras model file not found: {path}")
    if os.path.isdir(path):
        what = (
            "a TensorFlow SavedModel folder"
            if os.path.exists(os.path.join(path, "saved_model.pb"))
            else "a folder"
        )
        raise ValueError(
            f"{path} is {what}, not a Keras model file. Pass the `.keras` file the "
            "model was saved to with `model.save(...)`."
        )
    extension = os.path.splitext(path)[1].lower()
    if extension not in KERAS_EXTENSIONS:
        raise ValueError(
            f"{path} is not a Keras model file: expected a `.keras` file "
            f"(or legacy `.h5`), got a file ending in {extension or '(no extension)'!r}."
        )
    if extension == ".keras" and not _is_keras_archive(path):
        raise ValueError(
            f"{path} is not a Keras model file: a `.keras` file is a zip archive holding "
            "config.json and model.weights.h5, and this file is not."
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types; name the file in one.
        raise ValueError(f"Cannot load the Keras model {path}: {_load_failure(error)}") from error
    if not isinstance(model, keras.Model):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a Keras model.")
    return model


def _load_failure(error):
    """Keras' load error in a few words: the unknown class it names, and what to do."""
    text = " ".join(str(error).split())
    cause = error
    while cause is not None:  # the innermost cause names the class
        text += " " + " ".join(str(cause).split())
        cause = cause.__cause__ or cause.__context__
    unknown = re.findall(r"Could not locate class '([^']+)'", text)
    if unknown:
        return f"it names the class {unknown[-1]!r}, which is not registered; {_LOAD_ADVICE}"
    first = " ".join(str(error).split())
    return f"{first[:300]}{'...' if len(first) > 300 else ''}; {_LOAD_ADVICE}"


def _is_keras_archive(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return "config.json" in archive.namelist()


def read_training_metadata(model_path, filename="metrics.json"):
    """The JSON object saved beside a model (e.g. ``metrics.json``), or ``{}``."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), filename)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    return data if isinstance(data, dict) else {}


def training_run(model_path, dataset=None):
    """``(dataset, metrics)`` of the run that trained the ``.keras`` file at ``model_path``.

    ``metrics`` is the ``metrics.json`` beside the file (``{}`` without
    one); ``dataset`` is the given one, else the run's. The scripts never
    guess a data set.

    Raises:
        FileNotFoundError: no file at ``model_path`` (checked first, so that
            a mistyped path is not reported as a missing data set).
        ValueError: no ``dataset`` given and no ``metrics.json`` names one.
    """
    if not os.path.isfile(model_path):
        what = "a folder, not a file" if os.path.isdir(model_path) else "not found"
        raise FileNotFoundError(
            2, f"--model: {model_path} is {what}; pass the trained .keras file", model_path
        )
    metrics = read_training_metadata(model_path)
    dataset = dataset or metrics.get("dataset")
    if not dataset:
        raise ValueError(
            f"--dataset: no metrics.json beside {model_path} says which data set the model was "
            "trained on; pass --dataset"
        )
    return dataset, metrics


def output_size(path):
    """Size in bytes of a file, or of all files under a folder."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )
