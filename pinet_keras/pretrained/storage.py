"""Compact weight files for the shipped models: float16, or 8-bit per channel (private).

A model is stored as its Keras configuration (JSON, every dtype policy
float32) and its weights in one ``.npz`` archive (zip, deflated). Weights
are kept in the model's variable order. Large floating arrays (at least
`MIN_QUANTIZED_SIZE` values, two or more axes: kernels) are stored in the
chosen ``storage``:

- ``"float32"``: as they are.
- ``"float16"``: rounded to float16, cast back to float32 on loading.
- ``"int8"``: symmetric 8-bit per output channel (the last axis): ``q =
  round(w / s)`` in ``[-127, 127]`` with ``s = max|w| / 127`` per channel;
  loading computes ``q * s`` in float32.

Every other array (biases, batch-normalization statistics, normalization
means, seed states) is stored exactly. Loading needs NumPy and Keras only.
"""

import json
import os

import keras
import numpy as np

from pinet_keras import _io

STORAGES = ("int8", "float16", "float32")
MIN_QUANTIZED_SIZE = 1024
FORMAT = "pinet_keras.pretrained_weights/1"


def _is_quantizable(array):
    return (
        np.issubdtype(array.dtype, np.floating)
        and array.ndim >= 2
        and array.size >= MIN_QUANTIZED_SIZE
    )


def encode(arrays, storage):
    """``{key: array}`` for the ``.npz`` file storing ``arrays`` (a sequence) in ``storage``."""
    if storage not in STORAGES:
        raise ValueError(f"Unknown weight storage {storage!r}; expected one of {STORAGES}.")
    encoded = {}
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        key = f"w{i:04d}"
        if not _is_quantizable(array) or storage == "float32":
            encoded[key] = array
        elif storage == "float16":
            encoded[key] = array.astype(np.float16)
        else:
            axes = tuple(range(array.ndim - 1))
            scale = np.max(np.abs(array), axis=axes) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            encoded[key] = np.clip(np.round(array / scale), -127, 127).astype(np.int8)
            encoded[key + "_scale"] = scale
    encoded["format"] = np.array(FORMAT)
    encoded["storage"] = np.array(storage)
    encoded["count"] = np.array(len(arrays))
    return encoded


def decode(archive):
    """The list of float32 (or integer) arrays stored by `encode` (a mapping, e.g. ``np.load``)."""
    if str(archive["format"]) != FORMAT:
        raise ValueError(f"Not a {FORMAT} weight file (format {str(archive['format'])!r}).")
    arrays = []
    for i in range(int(archive["count"])):
        key = f"w{i:04d}"
        array = archive[key]
        if key + "_scale" in archive:
            array = array.astype(np.float32) * archive[key + "_scale"]
        elif array.dtype == np.float16:
            array = array.astype(np.float32)
        arrays.append(array)
    return arrays


def model_config(model):
    """The model's serialized configuration, every floating dtype policy float32."""
    from pinet_keras.export.precision import as_float32

    return keras.saving.serialize_keras_object(as_float32(model))


def save(model, config_path, weights_path, storage, overwrite=False):
    """Writes ``model``: its float32 configuration and its weights in ``storage``, atomically."""
    from pinet_keras.export.precision import as_float32

    model = as_float32(model)
    config = keras.saving.serialize_keras_object(model)
    encoded = encode(model.get_weights(), storage)
    with _io.atomic_output(weights_path, overwrite) as temporary:
        np.savez_compressed(temporary, **encoded)
    _io.write_text(config_path, json.dumps(config, indent=1, sort_keys=True) + "\n", overwrite)
    return config_path, weights_path


def load(config_path, weights_path):
    """The float32 Keras model stored by `save` (not compiled)."""
    import pinet_keras.layers  # noqa: F401  (registers the package's layers)

    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    model = keras.saving.deserialize_keras_object(config)
    with np.load(weights_path, allow_pickle=False) as archive:
        arrays = decode(archive)
    expected = [tuple(w.shape) for w in model.weights]
    if [tuple(a.shape) for a in arrays] != expected:
        raise ValueError(
            f"{os.path.basename(weights_path)} does not hold the weights of the model in "
            f"{os.path.basename(config_path)} ({len(arrays)} arrays for {len(expected)} weights)."
        )
    model.set_weights(arrays)
    return model
