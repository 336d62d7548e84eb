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

import hashlib
import json
import os

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


def card(name):
    """The card of model ``name`` (a dict, the content of its ``card.json``)."""
    path = os.path.join(_model_dir(name), CARD_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: this copy of pinet_keras lacks its pretrained files "
            "(install the package with its package data)."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def list():  # noqa: A001  (the name the issue asks for, as keras-hub's presets)
    """``{name: card}`` for every shipped model."""
    return {name: card(name) for name in NAMES}


def load(name, bounded=True):
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


def tflite_path(name, format="int8"):
    """The path of model ``name``'s ``.tflite`` file in ``format`` (one of `FORMATS`).

    ``"int8"`` is shipped with the package. ``"float32"`` is converted from
    the shipped Keras model on the first request and written, all at once,
    to ``cache_dir()/pretrained/<name>-<digest of its files>/``; later requests
    return that file.
    """
    _check_name(name)
    if format not in FORMATS:
        raise ValueError(
            f"Unknown TFLite format {format!r} for pretrained model {name!r}; "
            f"available: {', '.join(FORMATS)}."
        )
    if format in SHIPPED_FORMATS:
        return os.path.join(_model_dir(name), _tflite_file_name(format))
    folder = os.path.join(cache_dir(), "pretrained", f"{name}-{_files_digest(name)}")
    path = os.path.join(folder, _tflite_file_name(format))
    if not os.path.isfile(path):
        _io.remove_leftovers(folder, recursive=False)
        convert(name, path, format)
    return path


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
