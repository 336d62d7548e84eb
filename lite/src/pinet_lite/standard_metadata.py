"""The standard TFLite Model Metadata (``TFLITE_METADATA``) of a pinet_keras ``.tflite`` file.

Android's Task Library, the TFLite code generators and Model Maker read a
metadata entry named ``"TFLITE_METADATA"`` whose buffer is a ``ModelMetadata``
flatbuffer (file identifier ``M001``, schema version 1.x of
tensorflow_lite_support/metadata/metadata_schema.fbs), and its associated
files from a zip archive appended to the model file. `add_standard_metadata`
writes them from the file's own ``"pinet_keras"`` metadata, beside it:

- the model's name, description, version (the package version that wrote
  it), author and license;
- the input: an image (``ImageProperties``: grey or RGB, its size), its
  normalization (``NormalizationOptions`` mean 0, std 1: the file takes raw
  pixels 0..255 and normalizes inside the graph) and its range (``Stats``);
- the output: logits, one per class, and ``labels.txt`` (one class name a
  line) as a ``TENSOR_AXIS_LABELS`` associated file.

Written with the ``flatbuffers`` package's Builder (by field index; the
schema is stable and versioned by its file identifier) and the TFLite schema
that ``ai-edge-litert`` ships; `read_standard_metadata` reads it back.
"""

import io
import os
import zipfile

import flatbuffers

from pinet_lite import flatbuffer
from pinet_lite.metadata import metadata_entries
from pinet_lite.metadata import read_bytes
from pinet_lite.metadata import read_metadata

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # no field of a later schema version is written
LABELS_FILE = "labels.txt"

# Enum values of the schema.
ASSOCIATED_FILE_TYPES = {
    0: "UNKNOWN",
    1: "DESCRIPTIONS",
    2: "TENSOR_AXIS_LABELS",
    3: "TENSOR_VALUE_LABELS",
    4: "TENSOR_AXIS_SCORE_CALIBRATION",
    5: "VOCABULARY",
}
TENSOR_AXIS_LABELS = 2
COLOR_SPACES = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}
CONTENT_FEATURE = 1  # ContentProperties union: FeatureProperties
CONTENT_IMAGE = 2  # ImageProperties
PROCESS_NORMALIZATION = 1  # ProcessUnitOptions union: NormalizationOptions

# Field indices of the schema's tables (a union takes two: its type, then its value).
MODEL_NAME, MODEL_DESCRIPTION, MODEL_VERSION, MODEL_SUBGRAPHS = 0, 1, 2, 3
MODEL_AUTHOR, MODEL_LICENSE, MODEL_FILES, MODEL_MIN_PARSER = 4, 5, 6, 7
SUBGRAPH_NAME, SUBGRAPH_DESCRIPTION, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS = 0, 1, 2, 3
TENSOR_NAME, TENSOR_DESCRIPTION, TENSOR_DIMENSIONS, TENSOR_CONTENT = 0, 1, 2, 3
TENSOR_PROCESS_UNITS, TENSOR_STATS, TENSOR_FILES = 4, 5, 6
CONTENT_PROPERTIES_TYPE, CONTENT_PROPERTIES = 0, 1
IMAGE_COLOR_SPACE, IMAGE_DEFAULT_SIZE = 0, 1
SIZE_WIDTH, SIZE_HEIGHT = 0, 1
UNIT_OPTIONS_TYPE, UNIT_OPTIONS = 0, 1
NORMALIZATION_MEAN, NORMALIZATION_STD = 0, 1
STATS_MAX, STATS_MIN = 0, 1
FILE_NAME, FILE_DESCRIPTION, FILE_TYPE, FILE_LOCALE = 0, 1, 2, 3


def add_standard_metadata(
    path_or_bytes,
    output=None,
    *,
    name=None,
    description=None,
    version=None,
    author=None,
    license=None,
):
    """The bytes of a pinet_keras ``.tflite`` file with ``TFLITE_METADATA`` and ``labels.txt``.

    Everything else of the file, its ``"pinet_keras"`` entry included, is
    kept; an earlier ``TFLITE_METADATA`` entry and its associated files are
    replaced. With ``output`` (a path), the bytes are also written there.
    The texts default to what the file's metadata says (data set, class
    count, input, package version).
    """
    data = read_bytes(path_or_bytes)
    metadata = read_metadata(data)
    if not metadata.get("class_names"):
        raise ValueError("the file has no pinet_keras metadata with class names")
    model = _model_with_entry(
        data, _model_metadata(metadata, name, description, version, author, license)
    )
    labels = "".join(f"{label}\n" for label in metadata["class_names"]).encode("utf-8")
    content = model + _zip({LABELS_FILE: labels})
    if output is not None:
        with open(os.fspath(output), "wb") as f:
            f.write(content)
    return content


def _model_metadata(metadata, name, description, version, author, license):
    """The ``ModelMetadata`` flatbuffer (identifier M001) of a pinet_keras metadata dict."""
    classes = [str(c) for c in metadata["class_names"]]
    dataset = metadata.get("dataset") or "images"
    _, height, width, channels = metadata["input"]["shape"]
    low, high = metadata["input"].get("pixel_range", [0.0, 255.0])
    quantization = metadata.get("quantization") or "float32"
    name = name or f"pinet_keras {dataset} classifier ({quantization})"
    description = description or (
        f"A polynomial network (Π-net) that classifies {height}×{width} "
        f"{'grey' if channels == 1 else 'RGB'} images of {dataset} into {len(classes)} classes. "
        "Input: raw pixels 0..255 (normalized inside the model); output: logits "
        "(softmax gives probabilities)."
    )
    version = version or str(metadata.get("package_version") or "")
    author = author or "pinet_keras"
    license = license or "Apache-2.0"

    b = flatbuffers.Builder(1024)
    s = b.CreateString

    # Input tensor: an image of raw pixels.
    size = _table(b, [(SIZE_WIDTH, "Uint32", int(width)), (SIZE_HEIGHT, "Uint32", int(height))])
    image = _table(
        b,
        [
            (IMAGE_COLOR_SPACE, "Int8", 2 if channels == 1 else 1),
            (IMAGE_DEFAULT_SIZE, "offset", size),
        ],
    )
    image_content = _table(
        b,
        [
            (CONTENT_PROPERTIES_TYPE, "Uint8", CONTENT_IMAGE),
            (CONTENT_PROPERTIES, "offset", image),
        ],
    )
    normalization = _table(
        b,
        [
            (NORMALIZATION_MEAN, "offset", _floats(b, [0.0])),
            (NORMALIZATION_STD, "offset", _floats(b, [1.0])),
        ],
    )
    unit = _table(
        b,
        [
            (UNIT_OPTIONS_TYPE, "Uint8", PROCESS_NORMALIZATION),
            (UNIT_OPTIONS, "offset", normalization),
        ],
    )
    stats = _table(
        b,
        [
            (STATS_MAX, "offset", _floats(b, [float(high)])),
            (STATS_MIN, "offset", _floats(b, [float(low)])),
        ],
    )
    input_tensor = _table(
        b,
        [
            (TENSOR_NAME, "offset", s(metadata["input"].get("name") or "images")),
            (
                TENSOR_DESCRIPTION,
                "offset",
                s(
                    f"{height}×{width}×{channels} pixels, 0..255 "
                    f"({metadata['input'].get('dtype')}); "
                    "grey by ITU-R 601-2 luma, transparency on white, 16-bit scaled to 8."
                ),
            ),
            (TENSOR_CONTENT, "offset", image_content),
            (TENSOR_PROCESS_UNITS, "offset", _offsets(b, [unit])),
            (TENSOR_STATS, "offset", stats),
        ],
    )

    # Output tensor: logits, labelled by labels.txt.
    feature = _table(b, [])
    output_content = _table(
        b,
        [
            (CONTENT_PROPERTIES_TYPE, "Uint8", CONTENT_FEATURE),
            (CONTENT_PROPERTIES, "offset", feature),
        ],
    )
    labels_file = _table(
        b,
        [
            (FILE_NAME, "offset", s(LABELS_FILE)),
            (FILE_DESCRIPTION, "offset", s("The class of each output, one a line.")),
            (FILE_TYPE, "Int8", TENSOR_AXIS_LABELS),
        ],
    )
    output_tensor = _table(
        b,
        [
            (TENSOR_NAME, "offset", s(metadata.get("output", {}).get("name") or "logits")),
            (
                TENSOR_DESCRIPTION,
                "offset",
                s(f"Logits of the {len(classes)} classes; their softmax is the probabilities."),
            ),
            (TENSOR_CONTENT, "offset", output_content),
            (TENSOR_FILES, "offset", _offsets(b, [labels_file])),
        ],
    )

    subgraph = _table(
        b,
        [
            (SUBGRAPH_NAME, "offset", s("classifier")),
            (SUBGRAPH_INPUTS, "offset", _offsets(b, [input_tensor])),
            (SUBGRAPH_OUTPUTS, "offset", _offsets(b, [output_tensor])),
        ],
    )
    root = _table(
        b,
        [
            (MODEL_NAME, "offset", s(name)),
            (MODEL_DESCRIPTION, "offset", s(description)),
            (MODEL_VERSION, "offset", s(version)),
            (MODEL_SUBGRAPHS, "offset", _offsets(b, [subgraph])),
            (MODEL_AUTHOR, "offset", s(author)),
            (MODEL_LICENSE, "offset", s(license)),
            (MODEL_MIN_PARSER, "offset", s(MIN_PARSER_VERSION)),
        ],
    )
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _table(builder, fields):
    """A table of ``(index, kind, value)`` fields: kind ``"offset"`` or a Builder scalar kind."""
    builder.StartObject(max((index for index, _, _ in fields), default=-1) + 1)
    for index, kind, value in fields:
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(index, value, 0)
        else:
            getattr(builder, f"Prepend{kind}Slot")(index, value, 0 if value else -1)
    return builder.EndObject()


def _floats(builder, values):
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


def _offsets(builder, offsets):
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _model_with_entry(data, content):
    """The TFLite flatbuffer of ``data`` (no appended files) with entry ``TFLITE_METADATA``."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.metadata = list(model.metadata or [])
    model.buffers = list(model.buffers or [])
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(content, dtype=np.uint8)
    earlier = [m for m in model.metadata if _text(m.name) == METADATA_NAME]
    if earlier:  # its buffer takes the new content
        model.buffers[earlier[0].buffer] = buffer
        model.metadata = [m for m in model.metadata if m is earlier[0] or m not in earlier]
    else:
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(data) + len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _zip(files):
    """A zip archive (stored, not compressed, as TFLite's metadata writers do) of ``files``."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return stream.getvalue()


def _text(name):
    return name.decode("utf-8") if isinstance(name, bytes) else name


def associated_files(path_or_bytes):
    """``{name: bytes}`` of the files appended to a ``.tflite`` file (a zip archive), or {}."""
    data = read_bytes(path_or_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except zipfile.BadZipFile:
        return {}


def read_standard_metadata(path_or_bytes):
    """The ``TFLITE_METADATA`` of a ``.tflite`` file as a dict (``{}`` if it has none).

    Keys: ``name``, ``description``, ``version``, ``author``, ``license``,
    ``min_parser_version``, and ``subgraphs``: ``inputs`` and ``outputs``,
    each tensor's ``name``, ``description``, ``content`` (``"image"``: its
    ``color_space`` and ``size``; or ``"feature"``), ``normalization``
    (``mean``, ``std``), ``stats`` (``min``, ``max``) and ``associated_files``
    (``name``, ``description``, ``type``).
    """
    raw = metadata_entries(path_or_bytes).get(METADATA_NAME)
    if not raw:
        return {}
    root = flatbuffer.root(raw, FILE_IDENTIFIER)
    return {
        "name": root.string(MODEL_NAME),
        "description": root.string(MODEL_DESCRIPTION),
        "version": root.string(MODEL_VERSION),
        "author": root.string(MODEL_AUTHOR),
        "license": root.string(MODEL_LICENSE),
        "min_parser_version": root.string(MODEL_MIN_PARSER),
        "associated_files": [_file(f) for f in root.tables(MODEL_FILES)],
        "subgraphs": [
            {
                "name": g.string(SUBGRAPH_NAME),
                "description": g.string(SUBGRAPH_DESCRIPTION),
                "inputs": [_tensor(t) for t in g.tables(SUBGRAPH_INPUTS)],
                "outputs": [_tensor(t) for t in g.tables(SUBGRAPH_OUTPUTS)],
            }
            for g in root.tables(MODEL_SUBGRAPHS)
        ],
    }


def _tensor(table):
    tensor = {
        "name": table.string(TENSOR_NAME),
        "description": table.string(TENSOR_DESCRIPTION),
        "associated_files": [_file(f) for f in table.tables(TENSOR_FILES)],
    }
    content = table.table(TENSOR_CONTENT)
    if content is not None:
        kind = content.scalar(CONTENT_PROPERTIES_TYPE, "B")
        properties = content.table(CONTENT_PROPERTIES)
        if kind == CONTENT_IMAGE and properties is not None:
            size = properties.table(IMAGE_DEFAULT_SIZE)
            tensor["content"] = {
                "kind": "image",
                "color_space": COLOR_SPACES.get(properties.scalar(IMAGE_COLOR_SPACE, "b")),
                "size": None
                if size is None
                else [size.scalar(SIZE_HEIGHT, "I"), size.scalar(SIZE_WIDTH, "I")],
            }
        elif kind == CONTENT_FEATURE:
            tensor["content"] = {"kind": "feature"}
    for unit in table.tables(TENSOR_PROCESS_UNITS):
        options = unit.table(UNIT_OPTIONS)
        if unit.scalar(UNIT_OPTIONS_TYPE, "B") == PROCESS_NORMALIZATION and options is not None:
            tensor["normalization"] = {
                "mean": options.scalars(NORMALIZATION_MEAN, "f"),
                "std": options.scalars(NORMALIZATION_STD, "f"),
            }
    stats = table.table(TENSOR_STATS)
    if stats is not None:
        tensor["stats"] = {
            "min": stats.scalars(STATS_MIN, "f"),
            "max": stats.scalars(STATS_MAX, "f"),
        }
    return tensor


def _file(table):
    return {
        "name": table.string(FILE_NAME),
        "description": table.string(FILE_DESCRIPTION),
        "type": ASSOCIATED_FILE_TYPES.get(table.scalar(FILE_TYPE, "b"), "UNKNOWN"),
    }
