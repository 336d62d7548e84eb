"""What both exporters share: the signature names and the model they export.

Below `saved_model`, `tflite` and `metadata`, which import from here (and
not from each other): the input, output and metadata names of every
exported file, and `prepare_model`, the float32 raw-pixel Keras model.
"""

import keras

from pinet_keras.export.files import load_keras_model
from pinet_keras.export.pixels import require_pixel_preprocessing
from pinet_keras.export.precision import as_float32

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
METADATA_SIGNATURE_KEY = "metadata"


def require_tensorflow_backend(what="Export"):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"{what} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); the current "
            f"backend is {keras.backend.backend()!r}. A `.keras` file saved under any "
            "backend can be loaded and exported under TensorFlow."
        )


def prepare_model(model):
    """A float32 `keras.Model` taking raw pixels, from a model or a ``.keras`` path.

    Raises ``ValueError`` for a model without a known input shape or
    without `PixelRange` first (see `add_pixel_preprocessing`).
    """
    require_tensorflow_backend()
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        model = load_keras_model(model)
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected a keras.Model or the path of a `.keras` file. "
            f"Received: {type(model).__name__}"
        )
    input_shape = model_input_shape(model)
    if not model.built:
        model.build((None,) + input_shape)
    require_pixel_preprocessing(model)
    return as_float32(model)


def model_input_shape(model):
    """The shape of one example, ``(H, W, C)`` for an image model, as a tuple of ints."""
    inputs = getattr(model, "inputs", None)
    try:
        shape = model.input_shape if inputs else None
    except (AttributeError, ValueError):
        shape = None
    if shape is None:
        raise ValueError(
            f"Model {model.name!r} has no known input shape: build it on an input "
            "(e.g. keras.Input((H, W, C))) before exporting."
        )
    if isinstance(shape, list) or (shape and isinstance(shape[0], (tuple, list))):
        raise ValueError(f"Model {model.name!r} has several inputs; export needs a single input.")
    example = tuple(shape[1:])
    if any(d is None for d in example):
        raise ValueError(
            f"Model {model.name!r} has input shape {tuple(shape)}: every dimension but the "
            "batch must be known to export it."
        )
    return tuple(int(d) for d in example)
