"""Checking exported files against the Keras model: agreement, accuracy, size, ops, latency."""

from __future__ import annotations

import numpy as np

from pinet_keras._finite import check_finite_pixels
from pinet_keras.export.files import output_size
from pinet_keras.export.runtime import TFLiteRunner
from pinet_keras.export.runtime import tflite_ops
from pinet_keras.export.saved_model import predict_saved_model


def compare_logits(logits, reference=None, labels=None) -> dict:
    """Agreement with reference logits and accuracy on labels; a non-finite output is never right.

    Returns a dict with ``non_finite`` (rows of ``logits`` holding a NaN or
    an infinity) and ``max_abs_logit`` (over the finite rows); with
    ``reference``: ``max_abs_diff`` (over the rows finite in both, or
    ``inf`` where one side is non-finite and the other is not) and
    ``top1_agreement`` (a non-finite row on either side disagrees); with
    ``labels``: ``accuracy`` (a non-finite row is wrong, whatever its
    argmax).

    Example:

    >>> import numpy as np
    >>> compare_logits(np.array([[np.nan, 0.0], [0.0, 1.0]]), labels=[0, 1])["accuracy"]
    0.5
    """
    logits = np.asarray(logits, dtype="float32")
    # Per row; `all` over the other axes also works for zero rows (a reshape to (0, -1) does not).
    finite = np.isfinite(logits).all(axis=tuple(range(1, logits.ndim)))
    result = {
        "non_finite": int((~finite).sum()),
        "max_abs_logit": float(np.abs(logits[finite]).max()) if finite.any() else float("nan"),
    }
    if reference is not None:
        reference = np.asarray(reference, dtype="float32")
        if reference.shape != logits.shape:
            raise ValueError(
                f"Reference logits of shape {reference.shape} do not match logits {logits.shape}."
            )
        reference_finite = np.isfinite(reference).all(axis=tuple(range(1, reference.ndim)))
        both = finite & reference_finite
        if (finite != reference_finite).any():
            result["max_abs_diff"] = float("inf")
        elif both.any():
            result["max_abs_diff"] = float(np.max(np.abs(logits[both] - reference[both])))
        else:
            result["max_abs_diff"] = 0.0
        agree = both & (logits.argmax(-1) == reference.argmax(-1))
        result["top1_agreement"] = _mean(agree)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(logits):
            raise ValueError(
                f"{len(labels)} labels for {len(logits)} rows of logits; pass one label per row"
            )
        result["accuracy"] = _mean(finite & (logits.argmax(-1) == labels))
    return result


def _mean(values):
    return float(np.mean(values)) if len(values) else float("nan")


def evaluate_tflite(
    path, images, labels=None, reference=None, latency_runs: int = 50, batch_size: int = 64
) -> dict:
    """Everything `pinet-keras export` reports for one ``.tflite`` file.

    Returns a dict: ``size_bytes``, ``ops`` (sorted), ``input_dtype``,
    ``output_dtype``, ``accuracy`` (with ``labels``), ``max_abs_diff`` and
    ``top1_agreement`` (with the Keras ``reference`` logits), ``latency_ms``
    (mean per image at batch 1, after warm-up) and ``interpreter``.
    Images holding a NaN or an infinity are refused (``ValueError``).
    """
    check_finite_pixels(images, f"evaluate_tflite({path})")
    runner = TFLiteRunner(path)
    logits = runner.predict(images, batch_size=batch_size)
    result = {
        "size_bytes": output_size(path),
        "ops": sorted(tflite_ops(path)),
        "input_dtype": runner.input_dtype.name,
        "output_dtype": runner.output_dtype.name,
    }
    result.update(compare_logits(logits, reference, labels))
    if latency_runs and len(images):
        latency = TFLiteRunner(path).latency_ms(np.asarray(images[:1]), runs=latency_runs)
        result["latency_ms"] = latency
    result["interpreter"] = runner.interpreter_name
    return result


def evaluate_saved_model(path, images, labels=None, reference=None, batch_size=256):
    """Size, and the reloaded SavedModel against the Keras logits: ``reload_max_abs_diff``...

    Images holding a NaN or an infinity are refused (``ValueError``).
    """
    check_finite_pixels(images, f"evaluate_saved_model({path})")
    logits = predict_saved_model(path, images, batch_size=batch_size)
    result = {"size_bytes": output_size(path)}
    compared = compare_logits(logits, reference, labels)
    if "max_abs_diff" in compared:
        compared["reload_max_abs_diff"] = compared.pop("max_abs_diff")
    result.update(compared)
    return result


def format_table(formats, keras_accuracy=None):
    """A text table of a report's formats (a dict of format name to `evaluate_*` results)."""
    columns = [
        ("format", lambda name, r: name),
        ("size", lambda name, r: _size(r.get("size_bytes"))),
        ("accuracy", lambda name, r: _number(r.get("accuracy"), "{:.4f}")),
        (
            "max|Δ logits|",
            lambda name, r: _number(r.get("max_abs_diff", r.get("reload_max_abs_diff")), "{:.2e}"),
        ),
        ("top-1 agree", lambda name, r: _number(r.get("top1_agreement"), "{:.2%}")),
        ("non-finite", lambda name, r: _number(r.get("non_finite"), "{}")),
        ("ms/image", lambda name, r: _number(r.get("latency_ms"), "{:.3f}")),
        ("io", lambda name, r: r.get("input_dtype", "")),
    ]
    rows = []
    if keras_accuracy is not None:
        rows.append(["keras", "", _number(keras_accuracy, "{:.4f}"), "", "", "", "", ""])
    rows += [[cell(name, result) for _, cell in columns] for name, result in formats.items()]
    header = [title for title, _ in columns]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header] + rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value, pattern):
    return "" if value is None else pattern.format(value)


def _size(size):
    if size is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
