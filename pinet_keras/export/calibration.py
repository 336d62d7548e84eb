"""int8 calibration that ignores the rare extremes of products: percentile ranges."""

import warnings

import numpy as np

from pinet_keras import _optional
from pinet_keras.export.runtime import interpreter_class

CALIBRATIONS = ("percentile", "minmax")
DEFAULT_PERCENTILE = 99.99
# Values kept per tensor and image to estimate the percentiles: enough for
# 99.99% on a couple of hundred images, bounded for wide models.
_SAMPLES_PER_IMAGE = 8192


def choose_representative(images, count=200, seed=0):
    """``count`` images of ``images`` (all if fewer), drawn without replacement, in order, float32.

    The representative images of `pinet-keras export` (int8 calibration and
    the bound) and of the pretrained models' bound: one draw for both.
    """
    chosen = np.random.default_rng(seed).choice(len(images), min(count, len(images)), replace=False)
    return np.asarray(images)[np.sort(chosen)].astype("float32")


def percentile_range(values, percentile):
    """``[P(100 - p), P(p)]`` of ``values``, widened to include 0 (as an int8 range must)."""
    low, high = np.percentile(values, [100 - percentile, percentile])
    return min(float(low), 0.0), max(float(high), 0.0)


def check_calibration(calibration, percentile):
    if calibration not in CALIBRATIONS:
        raise ValueError(
            f"Argument `calibration` must be one of {CALIBRATIONS}. "
            f"Received: calibration={calibration!r}"
        )
    if (
        isinstance(percentile, bool)
        or not isinstance(percentile, (int, float))
        or not (50 < percentile <= 100)
    ):
        raise ValueError(
            "Argument `percentile` must be a number in (50, 100]. "
            f"Received: percentile={percentile!r}"
        )


def quantize_int8(
    converter,
    representative,
    int8_output=False,
    calibration="percentile",
    percentile=DEFAULT_PERCENTILE,
    input_range=(0.0, 255.0),
):
    """Full-integer conversion with uint8 raw-pixel input and min/max or percentile ranges.

    ``"minmax"`` is the TFLite converter's own calibration: each activation
    tensor's int8 range spans the smallest and largest value seen on the
    representative images. The product of two branches is heavy-tailed (a
    value far out in both factors is squared), so a few extreme values then
    set a coarse step for all the others, and more representative images
    only make it worse. ``"percentile"`` calibrates the same way, then narrows
    each activation range to the ``100 - p`` and ``p`` percentiles of the
    values seen; the rare values outside saturate. Either way the input's
    range is set to ``input_range``, the model's valid pixels, so that the
    uint8 input tensor holds raw pixels exactly (scale 1, zero point 0 for
    ``0..255``). The quantization itself is the converter's.

    Args:
        converter: a `tf.lite.TFLiteConverter` for the float model, with its
            ops and optimizations set for int8.
        representative: float32 raw-pixel images ``(N, H, W, C)``.
        int8_output: int8 logits (with their scale and zero point) instead
            of float32.
        calibration: one of ``CALIBRATIONS``.
        percentile: ``p`` for ``"percentile"``.
        input_range: ``(min, max)`` of a valid pixel.

    Returns:
        The bytes of the int8 ``.tflite`` model: uint8 input, int8
        activations and weights, float32 (or int8) output.
    """
    tf = _optional.tensorflow("int8 export")

    from pinet_keras._compat import calibrate_only
    from pinet_keras._compat import quantize_calibrated

    check_calibration(calibration, percentile)
    converter.representative_dataset = lambda: ([image[None]] for image in representative)
    calibrated = calibrate_only(converter)
    calibrated = set_ranges(
        calibrated,
        representative,
        percentile if calibration == "percentile" and percentile < 100 else None,
        input_range,
    )
    return quantize_calibrated(calibrated, tf.uint8, tf.int8 if int8_output else tf.float32)


def set_ranges(calibrated, images, percentile=None, input_range=None):
    """Edits the calibrated ranges of a TFLite model: the input's, and the activations' percentiles.

    Args:
        calibrated: bytes of a float TFLite model with calibration ranges
            (`pinet_keras._compat.calibrate_only`).
        images: the representative images, float32 ``(N, H, W, C)``.
        percentile: ``p``, or None to keep the calibrated min/max; each
            activation range becomes ``[P(100 - p), P(p)]`` (widened to
            include 0, as int8 ranges must).
        input_range: ``(min, max)`` for the model input, or None to keep it.

    Returns:
        The bytes of the model with the new ranges.
    """
    from pinet_keras._compat import flatbuffer_from_bytes
    from pinet_keras._compat import flatbuffer_to_bytes

    model = flatbuffer_from_bytes(calibrated)
    subgraph = model.subgraphs[0]
    inputs = set(int(i) for i in subgraph.inputs)
    if input_range is not None:
        for index in inputs:
            quantization = subgraph.tensors[index].quantization
            if quantization is not None and quantization.min is not None:
                quantization.min = np.array([float(input_range[0])], dtype=np.float32)
                quantization.max = np.array([float(input_range[1])], dtype=np.float32)
    if percentile is None:
        return flatbuffer_to_bytes(model)
    indices = [
        index
        for index, tensor in enumerate(subgraph.tensors)
        if index not in inputs
        and tensor.quantization is not None
        and tensor.quantization.min is not None
        and len(tensor.quantization.min) == 1
    ]
    with warnings.catch_warnings():
        # Reading every intermediate tensor is the point here.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
        interpreter = interpreter_class()[0](
            model_content=bytes(calibrated), experimental_preserve_all_tensors=True
        )
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    rng = np.random.default_rng(0)
    samples = {index: [] for index in indices}
    for image in np.asarray(images, "float32"):
        interpreter.set_tensor(input_index, image[None])
        interpreter.invoke()
        for index in indices:
            values = interpreter.get_tensor(index).ravel()
            if values.size > _SAMPLES_PER_IMAGE:
                values = values[rng.integers(0, values.size, _SAMPLES_PER_IMAGE)]
            samples[index].append(np.array(values, "float32"))
    for index in indices:
        low, high = percentile_range(np.concatenate(samples[index]), percentile)
        quantization = subgraph.tensors[index].quantization
        quantization.min = np.array([low], dtype=np.float32)
        quantization.max = np.array([high], dtype=np.float32)
    return flatbuffer_to_bytes(model)
