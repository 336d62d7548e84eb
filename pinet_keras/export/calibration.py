"""int8 calibration that ignores the rare extremes of products: percentile ranges."""

import warnings

import numpy as np

from pinet_keras.export.runtime import interpreter_class

CALIBRATIONS = ("percentile", "minmax")
DEFAULT_PERCENTILE = 99.99
# Values kept per tensor and image to estimate the percentiles: enough for
# 99.99% on a couple of hundred images, bounded for wide models.
_SAMPLES_PER_IMAGE = 8192


def check_calibration(calibration, percentile):
    if calibration not in CALIBRATIONS:
        raise ValueError(
            f"Argument `calibration` must be one of {CALIBRATIONS}. "
            f"Received: calibration={calibration!r}"
        )
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not (
        50 < percentile <= 100
    ):
        raise ValueError(
            f"Argument `percentile` must be a number in (50, 100]. Received: percentile={percentile!r}"
        )


def quantize_int8(converter, representative, int8_io=False, calibration="percentile",
                  percentile=DEFAULT_PERCENTILE):
    """Full-integer conversion with min/max or percentile activation ranges.

    ``"minmax"`` is the TFLite converter's own calibration: each activation
    tensor's int8 range spans the smallest and largest value seen on the
    representative images. The product of two branches is heavy-tailed (a
    value far out in both factors is squared), so a few extreme values then
    set a coarse step for all the others, and more representative images
    only make it worse. ``"percentile"`` calibrates the same way, then narrows
    each activation range to the ``100 - p`` and ``p`` percentiles of the
    values seen (the model input keeps its full range); the rare values
    outside saturate. The quantization itself is the converter's.

    Args:
        converter: a `tf.lite.TFLiteConverter` for the float model, with its
            ops and optimizations set for int8.
        representative: float32 images ``(N, H, W, C)``.
        int8_io: int8 input and output tensors instead of float32.
        calibration: one of ``CALIBRATIONS``.
        percentile: ``p`` for ``"percentile"``.

    Returns:
        The bytes of the int8 ``.tflite`` model.
    """
    import tensorflow as tf

    check_calibration(calibration, percentile)
    converter.representative_dataset = lambda: ([image[None]] for image in representative)
    io_type = tf.int8 if int8_io else tf.float32
    if calibration == "minmax" or percentile == 100:
        if int8_io:
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type
        return converter.convert()

    # The two halves of what `converter.convert()` does for int8 (the same
    # private calls as tf.lite.experimental.QuantizationDebugger), with the
    # recorded ranges edited in between.
    from tensorflow.lite.python.convert import mlir_quantize

    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    calibrated = narrow_ranges(calibrated, representative, percentile)
    return mlir_quantize(calibrated, input_data_type=io_type, output_data_type=io_type)


def narrow_ranges(calibrated, images, percentile):
    """Sets each calibrated activation range of a TFLite model to its percentiles on ``images``.

    Args:
        calibrated: bytes of a float TFLite model with calibration ranges
            (``converter._experimental_calibrate_only = True``).
        images: the representative images, float32 ``(N, H, W, C)``.
        percentile: ``p``; each range becomes ``[P(100 - p), P(p)]``
            (widened to include 0, as int8 ranges must).

    Returns:
        The bytes of the model with the new ranges.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    subgraph = model.subgraphs[0]
    inputs = set(int(i) for i in subgraph.inputs)
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
        values = np.concatenate(samples[index])
        low, high = np.percentile(values, [100 - percentile, percentile])
        quantization = subgraph.tensors[index].quantization
        quantization.min = np.array([min(float(low), 0.0)], dtype=np.float32)
        quantization.max = np.array([max(float(high), 0.0)], dtype=np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
