"""The standard TFLite Model Metadata (TFLITE_METADATA) that pinet_lite writes, read back.

Written by ``pinet_lite.standard_metadata.add_standard_metadata`` (the
``flatbuffers`` Builder) beside the file's ``"pinet_keras"`` entry; read back
by the schema's own reader, tflite-support's ``MetadataDisplayer``, in a
virtual environment of its own (tflite-support cannot be installed beside
TensorFlow 2.21: protobuf), and by pinet_lite's reader. The file still runs
and still says what it said.
"""

import json
import os
import subprocess
import venv

import numpy as np
import pytest
from litert_images import MODELS
from litert_images import import_pinet_lite
from litert_images import model_path

pinet_lite = import_pinet_lite()
from pinet_lite import standard_metadata  # noqa: E402

DISPLAY = """
import json, sys
from tflite_support import metadata
displayer = metadata.MetadataDisplayer.with_model_file(sys.argv[1])
print(json.dumps({
    "metadata": json.loads(displayer.get_metadata_json()),
    "files": displayer.get_packed_associated_file_list(),
    "labels": displayer.get_associated_file_buffer("labels.txt").decode("utf-8"),
}))
"""


def _expected(name):
    metadata = pinet_lite.read_metadata(model_path(name))
    _, height, width, channels = metadata["input"]["shape"]
    return metadata, height, width, channels


@pytest.mark.parametrize("name", sorted(MODELS))
def test_standard_metadata_reads_back_and_keeps_the_file(name, tmp_path):
    from pinet_keras.export import read_tflite_metadata
    from pinet_keras.export import run_tflite

    metadata, height, width, channels = _expected(name)
    content = standard_metadata.add_standard_metadata(model_path(name), tmp_path / "m.tflite")
    assert (tmp_path / "m.tflite").read_bytes() == content
    assert standard_metadata.add_standard_metadata(content) == content  # replaced, not added

    standard = standard_metadata.read_standard_metadata(content)
    assert standard["version"] == metadata["package_version"]
    assert standard["min_parser_version"] == "1.0.0"
    (subgraph,) = standard["subgraphs"]
    (tensor,) = subgraph["inputs"]
    assert tensor["content"] == {
        "kind": "image",
        "color_space": "GRAYSCALE" if channels == 1 else "RGB",
        "size": [height, width],
    }
    assert tensor["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert tensor["stats"] == {"min": [0.0], "max": [255.0]}
    (output,) = subgraph["outputs"]
    assert output["associated_files"][0]["name"] == "labels.txt"
    assert output["associated_files"][0]["type"] == "TENSOR_AXIS_LABELS"
    labels = standard_metadata.associated_files(content)["labels.txt"].decode()
    assert labels.splitlines() == metadata["class_names"]

    # The package's own entry and the model are as they were.
    assert read_tflite_metadata(content) == read_tflite_metadata(model_path(name))
    pixels = np.random.default_rng(0).integers(0, 256, (4, height, width, channels), np.uint8)
    np.testing.assert_array_equal(run_tflite(content, pixels), run_tflite(model_path(name), pixels))


@pytest.fixture(scope="session")
def tflite_support_python(tmp_path_factory):
    """Python of a fresh virtual environment with tflite-support (the schema's own reader)."""
    env_dir = tmp_path_factory.mktemp("tflite_support") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "tflite-support"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["(no output)"])[-1]
        pytest.skip(f"tflite-support cannot be installed in a fresh venv: {last}")
    return python


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_standard_metadata_reads_back_in_tflite_support(tflite_support_python, name, tmp_path):
    metadata, height, width, channels = _expected(name)
    path = tmp_path / f"{name}.tflite"
    standard_metadata.add_standard_metadata(model_path(name), path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [tflite_support_python, "-c", DISPLAY, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["files"] == ["labels.txt"]
    assert read["labels"].splitlines() == metadata["class_names"]
    standard = read["metadata"]
    assert standard["version"] == metadata["package_version"]
    assert metadata["dataset"] in standard["name"]
    assert standard["min_parser_version"] == "1.0.0"
    (subgraph,) = standard["subgraph_metadata"]
    (tensor,) = subgraph["input_tensor_metadata"]
    assert tensor["content"] == {
        "content_properties_type": "ImageProperties",
        "content_properties": {
            "color_space": "GRAYSCALE" if channels == 1 else "RGB",
            "default_size": {"width": width, "height": height},
        },
    }
    assert tensor["process_units"] == [
        {"options_type": "NormalizationOptions", "options": {"mean": [0.0], "std": [1.0]}}
    ]
    assert tensor["stats"] == {"max": [255.0], "min": [0.0]}
    (output,) = subgraph["output_tensor_metadata"]
    assert output["associated_files"] == [
        {
            "name": "labels.txt",
            "description": "The class of each output, one a line.",
            "type": "TENSOR_AXIS_LABELS",
        }
    ]
    # pinet_lite's reader says the same.
    mine = standard_metadata.read_standard_metadata(path)
    for key in ("name", "description", "version", "author", "license", "min_parser_version"):
        assert mine[key] == standard[key], key
