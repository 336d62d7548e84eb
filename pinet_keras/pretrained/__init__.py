"""Pretrained Π-nets, shipped with the package: a trained model in one line, offline.

Each model was trained by ``pinet-keras train`` on a 2-core CPU and
packaged by ``tools/make_pretrained.py``; its card (`card`) says the
data set, the exact command and commit that trained it, and the measured
test accuracies (Keras, stored weights, each TFLite format). The files are
package data: nothing is downloaded.

- `list`: ``{name: card}`` of the shipped models.
- `load(name)`: the Keras model (float32, not compiled). It takes **raw
  pixels** ``0..255`` (uint8 or float), shape ``(batch, H, W, C)``; its
  preprocessing (range guard, normalization) is inside it, and it returns
  logits. The class names are on the card (``card(name)["class_names"]``).
  It is **bounded**: each polynomial layer is folded and clipped to the
  range of its outputs on 200 training images (`pinet_keras.export.bound_model`,
  the ranges shipped in ``bound.json``), so that no input in the pixel
  box, however far from the training images, gives huge or non-finite
  logits (in float16 too). ``load(name, bounded=False)`` gives the trained
  model as the trainer wrote it, layers unfolded, to fine-tune: bounded at
  inference too, by each polynomial layer's ``output_range`` (its range on
  2,000 training images, `pinet_keras.models.set_output_ranges`), which
  training ignores.
- `tflite_path(name, format)`: the path of a ``.tflite`` file of the
  model, with its class names in its metadata
  (`pinet_keras.export.read_tflite_metadata`). ``"int8"`` (uint8 pixels
  in, for phones) is shipped; ``"float32"`` is converted from the shipped
  bounded Keras model on first request (TensorFlow needed) and kept in the
  cache folder (`cache_dir`). Both are bounded.

The weights are stored compactly (float16, or 8 bits per channel,
dequantized on loading: see the card's ``storage``); the card gives the
accuracy of the stored model next to the float32 original's.

Example:

>>> from pinet_keras import pretrained
>>> sorted(pretrained.list())
['pi_resnet_cifar10', 'polynet_fashion_mnist', 'polynet_mnist']
>>> model = pretrained.load("polynet_mnist")
>>> model.input_shape, model.output_shape
((None, 28, 28, 1), (None, 10))
>>> pretrained.card("polynet_mnist")["class_names"][:3]
['0', '1', '2']
>>> pretrained.load("resnet50")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Unknown pretrained model 'resnet50'; available: pi_resnet_cifar10, ...
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import warnings

import numpy as np

from pinet_keras import _io

NAMES = ("polynet_mnist", "polynet_fashion_mnist", "pi_resnet_cifar10")
SHIPPED_FORMATS = ("int8",)
CONVERTED_FORMATS = ("float32",)
FORMATS = SHIPPED_FORMATS + CONVERTED_FORMATS

CACHE_ENV = "PINET_KERAS_CACHE"
FILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")

CARD_FILE = "card.json"
CARD_MARKDOWN = "CARD.md"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
BOUND_FILE = "bound.json"


def _tflite_file_name(format):
    return f"model_{format}.tflite"


def _check_name(name):
    if name not in NAMES:
        raise ValueError(
            f"Unknown pretrained model {name!r}; available: {', '.join(sorted(NAMES))}."
        )
    return name


def _model_dir(name):
    """The package folder holding model ``name``'s files."""
    return os.path.join(FILES_DIR, _check_name(name))


def card(name: str) -> dict:
    """The card of model ``name`` (a dict, the content of its ``card.json``)."""
    path = os.path.join(_model_dir(name), CARD_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: this copy of pinet_keras lacks its pretrained files "
            "(install the package with its package data)."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def list() -> builtins.list[str]:  # noqa: A001  (the name the issue asks for, as keras-hub's presets)
    """``{name: card}`` for every shipped model."""
    return {name: card(name) for name in NAMES}


def load(name: str, bounded: bool = True) -> keras.Model:  # noqa: F821 (imported when called)
    """The pretrained Keras model ``name`` (float32, not compiled), raw pixels in, logits out.

    Args:
        name: one of `NAMES`.
        bounded: fold each polynomial layer and clip its output to the
            shipped range (``bound.json``): an inference model whose logits
            are bounded on every input. ``False``: the trained model itself
            (batch normalizations and all), for fine-tuning; at inference
            each polynomial layer clips to its ``output_range`` (set by the
            trainer), so it is bounded too; call
            `pinet_keras.models.set_output_ranges` again after fine-tuning.
    """
    from pinet_keras.pretrained import storage

    if not isinstance(bounded, (bool, np.bool_)):
        raise ValueError(f"Argument `bounded` must be True or False. Received: bounded={bounded!r}")
    folder = _model_dir(name)
    model = storage.load(os.path.join(folder, CONFIG_FILE), os.path.join(folder, WEIGHTS_FILE))
    return _bounded(model, folder) if bounded else model


def _bounded(model, folder):
    """``model`` folded, each polynomial layer clipped to its range in ``folder``'s bound file."""
    from pinet_keras.export.fold import FoldedPolynomial
    from pinet_keras.export.fold import fold_polynomial_layers

    path = os.path.join(folder, BOUND_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            ranges = dict(json.load(f)["ranges"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} cannot be read ({type(error).__name__}: {error}); reinstall pinet_keras "
            "(its files are missing or damaged), or pass bounded=False."
        ) from error
    folded = fold_polynomial_layers(model)
    layers = {layer.name: layer for layer in folded.layers if isinstance(layer, FoldedPolynomial)}
    if set(layers) != set(ranges):
        raise ValueError(
            f"{path} gives ranges for layers {sorted(ranges)} but the model's polynomial "
            f"layers are {sorted(layers)}; reinstall pinet_keras (its files do not match)."
        )
    for layer_name, (low, high) in ranges.items():
        layers[layer_name].output_range = (float(low), float(high))
    return folded


def cache_dir():
    """Where converted files are kept: ``$PINET_KERAS_CACHE``, else ``~/.cache/pinet_keras``."""
    path = os.environ.get(CACHE_ENV)
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "pinet_keras")
    return os.path.abspath(os.path.expanduser(path))


def _files_digest(name):
    """A digest of the files a converted file is made from (weights and bound)."""
    digest = hashlib.sha256()
    for file_name in (WEIGHTS_FILE, BOUND_FILE):
        with open(os.path.join(_model_dir(name), file_name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def tflite_path(name: str, format: str = "int8") -> str:
    """The path of model ``name``'s ``.tflite`` file in ``format`` (one of `FORMATS`).

    ``"int8"`` is shipped with the package. ``"float32"`` is converted from
    the shipped Keras model on the first request and written, all at once,
    to ``cache_dir()/pretrained/<name>-<digest of its files>/``, with a
    record of it (``model_float32.tflite.json``: its SHA-256, size, model
    and format). Later requests return that file once it matches its
    record; a file that does not (truncated, damaged, replaced) is converted
    again, with a warning.

    Raises:
        OSError: naming ``PINET_KERAS_CACHE`` and what to do, when the cache
            folder cannot be created or written (it is a file, it is
            read-only, the home folder is not writable).
    """
    _check_name(name)
    if format not in FORMATS:
        raise ValueError(
            f"Unknown TFLite format {format!r} for pretrained model {name!r}; "
            f"available: {', '.join(FORMATS)}."
        )
    if format in SHIPPED_FORMATS:
        return os.path.join(_model_dir(name), _tflite_file_name(format))
    digest = _files_digest(name)
    folder = os.path.join(cache_dir(), "pretrained", f"{name}-{digest}")
    path = os.path.join(folder, _tflite_file_name(format))
    expected = {"model": name, "format": format, "files_digest": digest}
    if os.path.lexists(path) or os.path.lexists(_record_path(path)):
        problem = _cache_problem(path, expected)
        if problem is None:
            return path
        warnings.warn(
            f"{path} is not the file recorded when it was written ({problem}); converting it again",
            stacklevel=2,
        )
    try:
        _prepare_cache_folder(folder)
        for stale in (path, _record_path(path)):
            _io.remove(stale)
    except OSError as error:
        raise _cache_error(error, folder) from error
    convert(name, path, format)
    try:
        _io.write_json(_record_path(path), {**expected, **_file_record(path)}, overwrite=True)
    except OSError as error:
        raise _cache_error(error, folder) from error
    return path


CACHE_RECORD_FORMAT = "pinet_keras.pretrained_cache/1"


def _record_path(path):
    return path + ".json"


def _file_record(path):
    """``{"sha256": ..., "size": ...}`` of the file at ``path``."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"record": CACHE_RECORD_FORMAT, "sha256": digest.hexdigest(), "size": size}


def _cache_problem(path, expected):
    """Why the cached file at ``path`` cannot be trusted, or None when it matches its record."""
    record_path = _record_path(path)
    if not os.path.isfile(path):
        return "the file is missing"
    try:
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return f"no record {os.path.basename(record_path)} beside it"
    except (OSError, ValueError) as error:
        return f"its record cannot be read: {error}"
    if not isinstance(record, dict):
        return "its record is not a JSON object"
    for key, value in expected.items():
        if record.get(key) != value:
            return f"its record names {key} {record.get(key)!r}, not {value!r}"
    try:
        actual = _file_record(path)
    except OSError as error:
        return f"it cannot be read: {error}"
    if record.get("size") != actual["size"]:
        return f"{actual['size']} bytes, recorded {record.get('size')}"
    if record.get("sha256") != actual["sha256"]:
        return "its SHA-256 differs from the recorded one"
    return None


def _prepare_cache_folder(folder):
    """Creates ``folder`` and checks that it can be written, before any conversion."""
    root = cache_dir()
    if os.path.lexists(root) and not os.path.isdir(root):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", root)
    os.makedirs(folder, exist_ok=True)
    _io.check_writable_folder(folder, flag=CACHE_ENV)
    _io.remove_leftovers(folder, recursive=False)


def _cache_error(error, folder):
    """``error`` (an ``OSError`` of the cache folder) in one line naming `CACHE_ENV`."""
    value = os.environ.get(CACHE_ENV)
    where = (
        f"{CACHE_ENV}={value}"
        if value
        else f"the default cache folder {cache_dir()} ({CACHE_ENV} is not set)"
    )
    reason = error.strerror or str(error)
    if isinstance(error, NotADirectoryError):
        reason = f"{error.filename or cache_dir()} is a file, not a folder"
    message = (
        f"Cannot write the converted pretrained model in {folder}: {reason}; {where}: set "
        f"{CACHE_ENV} to a writable folder (export {CACHE_ENV}=/path/to/cache)"
    )
    return type(error)(error.errno, message, None)


def convert(name, path, format="float32", overwrite=True):
    """Converts the bounded model ``name`` (`load`) to a ``.tflite`` file at ``path`` atomically."""
    return _export(load(name), card(name), path, format, overwrite)


def _export(model, info, path, format, overwrite=True):
    """Writes the bounded ``model`` (shipped as ``info``, its card) to ``path`` in ``format``."""
    from pinet_keras.export import export_tflite
    from pinet_keras.export import model_metadata

    metadata = model_metadata(
        model,
        dataset=info["dataset"],
        class_names=info["class_names"],
        source={"pretrained": info["name"], "weights_storage": info["storage"]["weights"]},
        quantization=format,
        bounded=True,
    )
    return export_tflite(model, path, format, metadata=metadata, overwrite=overwrite)


# `list` is left out so that `from pinet_keras.pretrained import *` keeps the builtin.
__all__ = ["FORMATS", "NAMES", "cache_dir", "card", "convert", "load", "tflite_path"]
