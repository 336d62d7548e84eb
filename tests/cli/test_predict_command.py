"""pinet-keras predict on PNG files of digits, 8-bit and 16-bit, and its one-line errors."""

import os

import numpy as np
import pytest

from conftest import DIGITS_CLASS_NAMES
from conftest import PREDICT
from conftest import digits_metadata
from conftest import one_error_line
from conftest import run_commands_in_parallel
from conftest import tensorflow_only
from pinet_keras import export

pytestmark = tensorflow_only


def _write_pngs(folder, images, prefix="digit"):
    from PIL import Image

    paths = []
    for i, image in enumerate(images):
        path = str(folder / f"{prefix}_{i}.png")
        Image.fromarray(image[:, :, 0]).save(path)
        paths.append(path)
    return paths


def _confident(model, images, count):
    """Indices of the images on which the model's top-1 is clearest."""
    logits = model.predict(images, verbose=0)
    top2 = np.sort(logits, -1)[:, -2:]
    margin = (top2[:, 1] - top2[:, 0]) / np.abs(logits).max()
    return np.argsort(-margin)[:count]


@pytest.mark.slow
def test_predict_tflite_script(
    unit_model, standardize_model, unit_files, representative, digits, tmp_path
):
    pytest.importorskip("PIL.Image")
    _, (x_test, _) = digits
    standardize_path = export.export_tflite(
        standardize_model,
        str(tmp_path / "standardize.tflite"),
        "int8",
        representative_data=representative,
        metadata=digits_metadata(standardize_model),
    )
    runs, expected, chosen = {}, {}, {}
    for name, model, path in (
        ("unit", unit_model, unit_files["int8"]),
        ("standardize", standardize_model, standardize_path),
    ):
        chosen[name] = x_test[_confident(model, x_test, 4)]
        folder = tmp_path / name
        folder.mkdir()
        pngs = _write_pngs(folder, chosen[name])
        expected[name] = (pngs, model.predict(chosen[name], verbose=0).argmax(-1))
        runs[name] = ([*PREDICT, f"--model={path}"] + pngs, None, {})
    # The same digits as 16-bit PNGs, as scanners and some editors save them.
    pngs16 = _write_pngs(tmp_path / "unit", chosen["unit"].astype(np.uint16) * 257, "digit16")
    runs["unit16"] = (
        [*PREDICT, f"--model={unit_files['int8']}"] + pngs16,
        None,
        {},
    )
    text_image = tmp_path / "photo.png"
    text_image.write_text("not an image\n")
    runs["no_metadata"] = (
        [*PREDICT, f"--model={unit_files['bare']}", expected["unit"][0][0]],
        None,
        {},
    )
    runs["text_image"] = (
        [*PREDICT, f"--model={unit_files['int8']}", str(text_image)],
        None,
        {},
    )
    runs["folder"] = (  # the export's folder instead of one of its files
        [*PREDICT, f"--model={os.path.dirname(unit_files['int8'])}"] + expected["unit"][0][:1],
        None,
        {},
    )
    results = run_commands_in_parallel(runs)
    for name in ("unit", "standardize"):
        result = results[name]
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        pngs, labels = expected[name]
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == len(pngs)
        for line, png, label in zip(lines, pngs, labels):
            fields = line.split()
            assert fields[0] == png and fields[1] == DIGITS_CLASS_NAMES[label], (name, line)
            assert 0 < float(fields[2]) <= 1 and len(fields) == 7  # top 3
    assert results["unit16"].returncode == 0, results["unit16"].stderr[-3000:]
    unit_lines = [line.split()[1:] for line in results["unit"].stdout.splitlines() if line.strip()]
    unit16_lines = [line.split()[1:] for line in results["unit16"].stdout.splitlines() if line]
    assert unit16_lines == unit_lines  # same classes, same probabilities
    assert "no pinet_keras metadata" in one_error_line(results["no_metadata"])
    assert "not a readable image" in one_error_line(results["text_image"])
    folder_error = one_error_line(results["folder"])
    assert "is a folder" in folder_error and os.path.basename(unit_files["int8"]) in folder_error


def test_float_tiff_is_read_with_its_range_or_refused(unit_files, digits, tmp_path, capsys):
    """A float TIFF that states no range: refused in one line, or read with --float_range."""
    from PIL import Image

    from pinet_keras.cli import main
    from pinet_keras.inference import predict

    (x_train, _), _ = digits
    pixels = x_train[:3, :, :, 0]  # uint8 0..255
    tiffs, pngs = [], []
    for i, image in enumerate(pixels):
        tiffs.append(str(tmp_path / f"{i}.tif"))
        Image.fromarray(image.astype(np.float32) / 255, "F").save(tiffs[-1])
        pngs.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(pngs[-1])
    model = unit_files["float32"]
    with pytest.raises(ValueError, match="states no range.*--float_range=0,1"):
        predict(model, tiffs)
    as_floats = predict(model, tiffs, float_range=(0, 1))
    as_pngs = predict(model, pngs)
    for a, b in zip(as_floats, as_pngs):
        np.testing.assert_array_equal(a.logits, b.logits)
    # A folder takes .tif files too.
    assert len(predict(model, [str(tmp_path)], float_range=(0, 1))) == 6

    command = ["pinet-keras", "predict", f"--model={model}"]
    with pytest.raises(SystemExit) as exit:
        main([*command, "--float_range=1,0", tiffs[0]])
    assert exit.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--float_range=1,0: pass two finite numbers" in err[0], err
    with pytest.raises(SystemExit) as exit:
        main([*command, "--float_range=0,1", "--top_k=1", tiffs[0]])
    assert not exit.value.code
    assert capsys.readouterr().out.startswith(tiffs[0])
