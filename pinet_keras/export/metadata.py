"""What an exported file says about itself: labels, input, data set, package version.

Every file `pinet_keras.export` writes carries one JSON document, the same
in each format (the export guide, "What the files carry"):

- TFLite: a metadata entry named ``"pinet_keras"`` in the model's
  flatbuffer (``Model.metadata``, the table the TFLite schema has for
  this), whose buffer holds the JSON in UTF-8. The interpreter ignores it;
  `read_tflite_metadata` (or any flatbuffer reader) returns it.
- SavedModel: ``assets.extra/pinet_keras.json`` and ``assets.extra/labels.txt``
  (files TensorFlow Serving copies along and never reads), and a second
  signature, ``metadata``, that returns the JSON as a string tensor.

The JSON's keys: ``format`` (``"pinet_keras.model_metadata/1"``),
``package_version``, ``dataset``, ``class_names``, ``input``
(``name``, ``shape`` with ``null`` for the batch, ``dtype``,
``pixel_range``, ``input_normalization``, ``mean``/``variance`` for
``"standardize"``), ``output`` (``name``, ``kind``: ``"logits"``),
``quantization``, ``bounded`` and ``source`` (the ``.keras`` file's
name and the training run's ``metrics.json`` summary, when known).
"""

from __future__ import annotations

import json

import numpy as np

from pinet_keras.export.runtime import _read
from pinet_keras.export.runtime import _schema

METADATA_NAME = "pinet_keras"
METADATA_FORMAT = "pinet_keras.model_metadata/1"


def model_metadata(
    model, dataset: str | None = None, class_names=None, source: dict | None = None, **extra
) -> dict:
    """The metadata dict of an export of ``model`` (a raw-pixel Keras model).

    Args:
        model: a `keras.Model` whose first layer is `PixelRange`.
        dataset: name of the training data set, or None.
        class_names: the label of each output, or None (then ``class <i>``
            in apps).
        source: dict of provenance (file, training run), or None.
        **extra: more top-level keys (``quantization``, ``bounded``...).
    """
    import pinet_keras
    from pinet_keras.export.signature import INPUT_NAME
    from pinet_keras.export.signature import OUTPUT_NAME
    from pinet_keras.models.preprocessing import preprocessing_config

    preprocessing = preprocessing_config(model)
    num_classes = int(model.output_shape[-1])
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"{len(class_names)} class names for a model with {num_classes} outputs."
            )
    metadata = {
        "format": METADATA_FORMAT,
        "package_version": pinet_keras.__version__,
        "dataset": dataset,
        "class_names": class_names,
        "input": {
            "name": INPUT_NAME,
            "shape": [None, *[int(d) for d in model.input_shape[1:]]],
            "dtype": "float32",
            **preprocessing,
        },
        "output": {"name": OUTPUT_NAME, "kind": "logits", "shape": [None, num_classes]},
        "source": source or {},
    }
    metadata.update(extra)
    return metadata


def to_json(metadata):
    return json.dumps(metadata, indent=1, sort_keys=True, default=_plain)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def add_tflite_metadata(content, metadata):
    """Returns the bytes of TFLite model ``content`` with ``metadata`` (a dict) attached.

    An earlier ``"pinet_keras"`` entry is replaced; the rest of the model
    (and any other metadata, such as the converter's) is kept as it is.
    """
    schema = _schema()
    if schema is None or not hasattr(schema, "ModelT"):  # pragma: no cover
        raise RuntimeError(
            "Writing TFLite metadata needs the TFLite schema of ai-edge-litert or TensorFlow."
        )
    from pinet_keras._compat import flatbuffer_from_bytes
    from pinet_keras._compat import flatbuffer_to_bytes

    model = flatbuffer_from_bytes(content)
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(to_json(metadata).encode("utf-8"), dtype=np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return flatbuffer_to_bytes(model)


def read_tflite_metadata(path_or_bytes) -> dict:
    """The ``"pinet_keras"`` metadata dict of a ``.tflite`` file, or ``{}`` if it has none.

    Needs only the flatbuffer schema that ai-edge-litert (or TensorFlow)
    ships, no interpreter. Raises ``ValueError`` for a file that is not a
    TFLite model.
    """
    data = _read(path_or_bytes)
    schema = _schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite model (no TFL3 file identifier)")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if _name(entry.Name()) == METADATA_NAME:
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            if isinstance(raw, int):  # an empty buffer
                return {}
            try:
                return json.loads(bytes(raw).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ValueError(f"its {METADATA_NAME!r} metadata is not JSON ({error})") from error
    return {}


def _name(name):
    return name.decode("utf-8") if isinstance(name, bytes) else name
