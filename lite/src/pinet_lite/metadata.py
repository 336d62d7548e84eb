"""What a ``.tflite`` file says about itself, read without TensorFlow or the schema.

A file exported by pinet_keras carries one JSON document in a metadata entry
named ``"pinet_keras"`` (``Model.metadata`` of the TFLite schema, whose
buffer holds the JSON in UTF-8): class names, data set, input shape, dtype
and pixel range, quantization. `read_metadata` returns it as a dict.
`metadata_entries` returns every entry's raw bytes (the converter's
``min_runtime_version``, the standard ``TFLITE_METADATA``...).
"""

import json
import os

from pinet_lite import flatbuffer

METADATA_NAME = "pinet_keras"

# Field indices of the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME = 0
_METADATA_BUFFER = 1
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


def read_bytes(path_or_bytes):
    """The bytes of a file (a path) or the bytes given."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes)
    with open(os.fspath(path_or_bytes), "rb") as f:
        return f.read()


def metadata_entries(path_or_bytes):
    """``{name: bytes}`` of every metadata entry of a ``.tflite`` file (in the file's order).

    Raises ``ValueError`` for bytes that are not a TFLite model or are truncated.
    """
    data = read_bytes(path_or_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite model (no TFL3 file identifier)")
    model = flatbuffer.root(data, b"TFL3")
    buffers = model.tables(_MODEL_BUFFERS)
    entries = {}
    for entry in model.tables(_MODEL_METADATA):
        name = entry.string(_METADATA_NAME) or ""
        index = entry.scalar(_METADATA_BUFFER, "I")
        if index >= len(buffers):
            raise ValueError(f"metadata {name!r} names buffer {index} of {len(buffers)}")
        entries[name] = _buffer_bytes(data, buffers[index])
    return entries


def _buffer_bytes(data, buffer):
    raw = buffer.bytes(_BUFFER_DATA)
    if raw:
        return raw
    # Files over 2 GB keep buffers after the flatbuffer, at an offset from its start.
    offset = buffer.scalar(_BUFFER_OFFSET, "Q")
    size = buffer.scalar(_BUFFER_SIZE, "Q")
    if offset > 1 and size:
        if offset + size > len(data):
            raise ValueError("a buffer points past the end of the file: the file is truncated")
        return bytes(data[offset : offset + size])
    return b""


def read_metadata(path_or_bytes):
    """The ``"pinet_keras"`` metadata dict of a ``.tflite`` file, or ``{}`` if it has none.

    The same dict as ``pinet_keras.export.read_tflite_metadata``. Raises
    ``ValueError`` for a file that is not a TFLite model, is truncated, or
    whose entry is not JSON.
    """
    raw = metadata_entries(path_or_bytes).get(METADATA_NAME)
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"its {METADATA_NAME!r} metadata is not JSON ({error})") from error
