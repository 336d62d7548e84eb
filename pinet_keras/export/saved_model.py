"""SavedModel export with a named serving signature: ``images`` in, ``logits`` out."""

from __future__ import annotations

import os

import keras
import numpy as np

from pinet_keras import _io
from pinet_keras import _optional
from pinet_keras._finite import check_finite_pixels
from pinet_keras.export.metadata import METADATA_NAME
from pinet_keras.export.metadata import to_json
from pinet_keras.export.signature import INPUT_NAME
from pinet_keras.export.signature import METADATA_SIGNATURE_KEY
from pinet_keras.export.signature import OUTPUT_NAME
from pinet_keras.export.signature import model_input_shape
from pinet_keras.export.signature import prepare_model

SIGNATURE_KEY = "serving_default"


def _tf():
    return _optional.tensorflow("SavedModel export")


def serving_signature(model):
    """The TensorSpec of the serving input ``images``: ``(None,) + input_shape``, float32 pixels."""
    tf = _tf()
    return tf.TensorSpec((None,) + model_input_shape(model), tf.float32, name=INPUT_NAME)


def write_saved_model(model, path, metadata=None):
    """Writes a float32, built ``model`` as a SavedModel at ``path`` (no checks).

    With ``metadata`` (a dict), also the ``metadata`` signature and the
    files ``assets.extra/pinet_keras.json`` and ``assets.extra/labels.txt``.
    """
    tf = _tf()
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        logits = model(images, training=False)
        return {OUTPUT_NAME: tf.cast(logits, tf.float32)}

    archive.add_endpoint(name=SIGNATURE_KEY, fn=serve, input_signature=[serving_signature(model)])
    if metadata is not None:
        text = to_json(metadata)
        archive.add_endpoint(
            name=METADATA_SIGNATURE_KEY,
            fn=lambda: {METADATA_NAME: tf.constant(text)},
            input_signature=[],
        )
    archive.write_out(path, verbose=False)
    if metadata is not None:
        extra = os.path.join(path, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        _io.write_text(os.path.join(extra, f"{METADATA_NAME}.json"), text + "\n")
        if metadata.get("class_names"):
            labels = "\n".join(metadata["class_names"]) + "\n"
            _io.write_text(os.path.join(extra, "labels.txt"), labels)


def read_saved_model_metadata(path):
    """The metadata dict of a SavedModel from `export_saved_model`, or ``{}``."""
    import json

    file = os.path.join(os.fspath(path), "assets.extra", f"{METADATA_NAME}.json")
    if not os.path.isfile(file):
        return {}
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def export_saved_model(
    model, path, overwrite=False, metadata=None, representative_data=None, bound=None
):
    """Exports a Keras model as a TensorFlow SavedModel for serving.

    The SavedModel's signature ``serving_default``:

    - input ``images``: float32, shape ``(None, H, W, C)`` (any batch size),
      raw pixels ``0..255`` (the model normalizes them itself; values
      outside are clipped);
    - output ``logits``: float32, shape ``(None, num_classes)`` (no softmax).

    With ``metadata`` (see `model_metadata`) it also has the signature
    ``metadata`` (no input; output ``pinet_keras``, the JSON string) and
    the files ``assets.extra/pinet_keras.json`` and ``assets.extra/labels.txt``.
    With ``bound=p`` (and ``representative_data``), the polynomial layers are
    folded and their outputs clipped to ranges measured on those images (see
    `fold_polynomial_layers`): the logits are bounded for every input.

    It runs the model in inference mode (``training=False``: dropout off,
    batch normalization with its moving statistics). A mixed-precision model
    is exported in float32 with the same weights (see `as_float32`).

    Example:

    >>> export_saved_model(model, "exported/saved_model")  # doctest: +SKIP
    >>> loaded = tf.saved_model.load("exported/saved_model")  # doctest: +SKIP
    >>> serve = loaded.signatures["serving_default"]  # doctest: +SKIP
    >>> serve(images=tf.zeros((1, 28, 28, 1)))["logits"].shape  # doctest: +SKIP
    TensorShape([1, 10])

    Args:
        model: a `keras.Model`, or the path of a ``.keras`` file.
        path: the folder to create.
        overwrite: replace an existing SavedModel at ``path``. Otherwise an
            existing path raises ``FileExistsError``, and so does, even with
            ``overwrite``, a file or a folder holding anything a SavedModel
            does not (``SAVED_MODEL_PARTS``): it is not a SavedModel.

    Returns:
        ``path``. The SavedModel is written to a temporary folder beside it and
        renamed into place, so a failure leaves no partial folder.
    """
    from pinet_keras.export.fold import fold_polynomial_layers

    _io.check_overwrite(path, overwrite, folder=True, owns=_saved_model_part)
    model = prepare_model(model)
    if bound is not None:
        model = fold_polynomial_layers(model, _float_images(representative_data), bound=bound)
    with _io.atomic_output(path, overwrite, owns=_saved_model_part) as temporary:
        write_saved_model(model, temporary, metadata)
    return os.fspath(path)


# What a SavedModel folder holds (what overwrite may replace).
SAVED_MODEL_PARTS = (
    "saved_model.pb",
    "saved_model.pbtxt",
    "variables",
    "assets",
    "assets.extra",
    "fingerprint.pb",
)


def _saved_model_part(name):
    return name in SAVED_MODEL_PARTS


def _float_images(data):
    return None if data is None else np.asarray(data, "float32")


def load_saved_model(path):
    """Loads a SavedModel and checks it has the ``serving_default`` signature.

    Call it as ``loaded.signatures["serving_default"](images=...)["logits"]``.
    """
    tf = _tf()
    loaded = tf.saved_model.load(path)
    if SIGNATURE_KEY not in loaded.signatures:
        raise ValueError(
            f"{path} has no {SIGNATURE_KEY!r} signature; its signatures: {list(loaded.signatures)}"
        )
    return loaded


def predict_saved_model(path, images, batch_size: int = 256) -> np.ndarray:
    """Logits of a SavedModel from `export_saved_model` on ``images``, batch by batch.

    Images holding a NaN or an infinity are refused (``ValueError``).
    """
    check_finite_pixels(np.asarray(images), "predict_saved_model")
    tf = _tf()
    loaded = load_saved_model(path)  # keeps the variables alive while serving
    serve = loaded.signatures[SIGNATURE_KEY]
    images = np.asarray(images, dtype="float32")
    outputs = [
        serve(**{INPUT_NAME: tf.constant(images[start : start + batch_size])})[OUTPUT_NAME].numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs)
