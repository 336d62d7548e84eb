"""Quantization-aware fine-tuning: a folded model whose int8 file agrees better with the float one.

int8 rounds every activation tensor to 256 levels of its calibrated range
and every weight to 255 levels per output channel. Through the products of
a deep polynomial the rounding errors compound: the int8 file of the
CIFAR-10 `PiResNet` changes the top-1 class of 4.2% of the test images.
`finetune_for_int8` simulates that rounding in the folded model
(``keras.quantizers.fake_quant_with_min_max_vars``, the straight-through
estimator) and trains its weights, for an epoch at a small learning rate,
to give the float model's class probabilities on training images
(distillation: the float model is the teacher). The file made from the
result is still an ordinary int8 conversion of a float model, calibrated as
usual; only its weights moved, towards values that survive the rounding.

Backend-agnostic (``keras.ops``, ``keras.quantizers``, ``model.fit``).
"""

import keras
import numpy as np
from keras import ops

from pinet_keras.export.calibration import percentile_range
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.fold import _Absorbed
from pinet_keras.export.fold import _only_batch_norm_after
from pinet_keras.layers import PixelRange
from pinet_keras.layers import RandomFlip
from pinet_keras.layers import RandomTranslation

# Layers that int8 does not see as a tensor of their own: identities at
# inference, and the input guard (the uint8 input already is the pixel box).
_PASS_THROUGH = (keras.layers.InputLayer, PixelRange, _Absorbed)
# Augmentation is off at inference, and the teacher's logits are of the images as given.
_AUGMENTATION = (RandomFlip, RandomTranslation)
_LINEAR = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense)


class _Int8Simulation(keras.layers.Layer):
    """Runs ``layer`` with int8 rounding of its weights and outputs, as the int8 file does.

    Shares ``layer``'s weights. A `FoldedPolynomial` is computed step by
    step (its branches with per-channel int8 kernels, then each of
    ``a``, ``b``, ``a * b`` and ``+ offset`` rounded); any other layer's
    output is rounded once. A convolution or dense layer has its kernel
    rounded per output channel; followed by a batch normalization
    (``norm``), the kernel with the normalization folded in, as the
    converter folds it, and its output is not rounded (the normalization's
    is). The ranges are non-trainable variables that `calibrate` sets.
    """

    def __init__(self, layer, norm=None, **kwargs):
        super().__init__(name=f"int8_{layer.name}", **kwargs)
        self.layer = layer
        self.norm = norm
        self.round_output = norm is None
        if isinstance(layer, FoldedPolynomial):
            self.keys = ("a", "b", "product", "output")
        else:
            self.keys = ("output",) if self.round_output else ()
        self.recording = None

    def build(self, input_shape):
        self.ranges = self.add_weight(
            name="ranges", shape=(max(len(self.keys), 1), 2), initializer="zeros", trainable=False
        )

    def _round(self, key, x):
        if self.recording is not None:
            self.recording.setdefault(key, []).append(ops.convert_to_numpy(x))
            return x
        index = self.keys.index(key)
        low, high = self.ranges[index, 0], self.ranges[index, 1]
        return keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=8)

    def call(self, inputs, mask=None):
        layer = self.layer
        linear = isinstance(layer, _LINEAR) and layer.activation in (None, keras.activations.linear)
        if linear:
            outputs = _linear(layer, inputs, _folded_scale(self.norm))
            return self._round("output", outputs) if self.round_output else outputs
        if not isinstance(layer, FoldedPolynomial):
            # Inference behaviour (batch statistics, dropout) even inside `fit`.
            outputs = layer(inputs, training=False)
            return self._round("output", outputs) if self.round_output else outputs
        if layer.padding is not None:
            inputs = ops.pad(inputs, [[0, 0], *layer.padding, [0, 0]])
        a = self._round("a", _linear(layer.branch_a, inputs))
        b = self._round("b", _linear(layer.branch_b, inputs))
        y = self._round("product", ops.multiply(a, b))
        y = self._round("output", ops.add(y, _per_tensor(layer.offset)))
        if layer.output_range is not None:
            y = ops.clip(y, *layer.output_range)
        return y


def _per_tensor(constant):
    """A constant operand as an int8 operator holds it: one range for the whole tensor."""
    low = ops.stop_gradient(ops.minimum(ops.min(constant), 0.0))
    high = ops.stop_gradient(ops.maximum(ops.max(constant), 0.0))
    return keras.quantizers.fake_quant_with_min_max_vars(constant, low, high, num_bits=8)


def _folded_scale(norm):
    """The per-channel factor a batch normalization after a layer multiplies its kernel by."""
    if norm is None:
        return None
    scale = ops.rsqrt(ops.add(norm.moving_variance, norm.epsilon))
    gamma = getattr(norm, "gamma", None)
    return scale if gamma is None else ops.multiply(scale, gamma)


def _linear(branch, x, scale=None):
    """``branch(x)`` with its kernel (times ``scale``) rounded to int8 per output channel."""
    kernel = branch.kernel
    if scale is not None:
        kernel = ops.multiply(kernel, scale)
    axes = tuple(range(len(kernel.shape) - 1))
    limit = ops.stop_gradient(ops.maximum(ops.max(ops.abs(kernel), axis=axes), 1e-12))
    kernel = keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -limit, limit, num_bits=8, narrow_range=True, axis=-1
    )
    if scale is not None:
        kernel = ops.divide(kernel, scale)
    if isinstance(branch, keras.layers.Dense):
        y = ops.matmul(x, kernel)
    else:
        y = ops.conv(
            x,
            kernel,
            strides=branch.strides,
            padding=branch.padding,
            data_format=branch.data_format,
            dilation_rate=branch.dilation_rate,
        )
    return ops.add(y, branch.bias) if branch.use_bias else y


def int8_simulation(folded):
    """A model computing ``folded`` as its int8 file would (sharing its weights), and its layers."""
    simulated = []

    def wrap(layer):
        if isinstance(layer, _PASS_THROUGH):
            return layer
        if isinstance(layer, _AUGMENTATION):
            return keras.layers.Identity(name=layer.name)
        # A convolution or dense layer followed only by a batch normalization
        # is one int8 operator with it (the converter folds the normalization).
        norm = _only_batch_norm_after(layer) if isinstance(layer, _LINEAR) else None
        wrapper = _Int8Simulation(layer, norm=norm)
        simulated.append(wrapper)
        return wrapper

    model = keras.models.clone_model(folded, clone_function=wrap)
    return model, simulated


def calibrate(model, simulated, images, percentile):
    """Sets each simulated tensor's range to its ``[100 - p, p]`` percentiles on ``images``.

    As `set_ranges` calibrates the int8 file: the values of the float
    computation (weights rounded), each range widened to include 0.
    """
    for layer in simulated:
        layer.recording = {}
    try:
        model(ops.convert_to_tensor(np.asarray(images, "float32")), training=False)
        recorded = [layer.recording for layer in simulated]
    finally:
        for layer in simulated:
            layer.recording = None
    for layer, values in zip(simulated, recorded):
        ranges = np.zeros((max(len(layer.keys), 1), 2), "float32")
        for index, key in enumerate(layer.keys):
            flat = np.concatenate([np.ravel(part) for part in values[key]])
            ranges[index] = percentile_range(flat, percentile)
        layer.ranges.assign(ranges)


def _augmented(images, augmentation, batch_size):
    """``images`` through the model's own augmentation layers (a new draw each call), float32."""
    images = np.asarray(images, "float32")
    if not augmentation:
        return images
    batches = []
    for start in range(0, len(images), batch_size):
        batch = ops.convert_to_tensor(images[start : start + batch_size])
        for layer in augmentation:
            batch = layer(batch, training=True)
        batches.append(ops.convert_to_numpy(batch))
    return np.concatenate(batches)


class _Distillation(keras.utils.PyDataset):
    """Batches of (augmented) training images and the teacher's logits on them."""

    def __init__(self, images, logits, batch_size, seed):
        super().__init__()
        self.images, self.logits = images, logits
        self.batch_size = batch_size
        self.order = np.random.default_rng(seed).permutation(len(images))

    def __len__(self):
        return len(self.images) // self.batch_size

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.images[chosen], self.logits[chosen]


def _soft_targets(y_true, y_pred):
    """Cross-entropy to the teacher's softmax: the distillation (KL) loss up to a constant."""
    return keras.losses.categorical_crossentropy(ops.softmax(y_true), y_pred, from_logits=True)


def finetune_for_int8(
    model,
    folded,
    images,
    representative_data,
    epochs=1,
    learning_rate=1e-5,
    batch_size=128,
    percentile=99.99,
    recalibrate_every=0,
    seed=0,
    verbose=0,
):
    """A copy of ``folded`` trained so that its int8 file gives ``model``'s answers.

    ``folded`` (from `fold_polynomial_layers`, with or without ``bound``) is
    run with int8 rounding simulated at the tensors the converter quantizes,
    the activation ranges calibrated once, as the export calibrates them
    (percentiles on ``representative_data``), and trained with Adam (cosine
    decay from ``learning_rate``) to match ``model``'s class probabilities
    on ``images``, each epoch drawn anew through ``model``'s own
    augmentation layers (`RandomFlip`, `RandomTranslation`). ``model`` is
    not changed.

    Args:
        model: the float32 trained model (the teacher), taking raw pixels.
        folded: its folded copy (`fold_polynomial_layers`); not changed.
        images: training images, raw pixels ``(N, H, W, C)`` (uint8 or float).
        representative_data: the int8 calibration images.
        epochs, learning_rate, batch_size: of the fine-tuning.
        percentile: the activation ranges' percentile, as for `quantize_int8`.
        recalibrate_every: 0: the ranges are calibrated once, before
            training; ``N``: calibrated again every ``N`` training steps,
            so that they follow the weights as they move (as the int8 file
            is calibrated on the final weights).
        seed: of the batch order (the augmentation draws are the layers' own).
        verbose: ``fit``'s verbosity.

    Returns:
        A new folded model, sharing no layer with ``folded`` or ``model``,
        with the fine-tuned weights, ready for `convert_to_tflite`.
    """
    images = np.asarray(images)
    if images.ndim != 4 or not len(images):
        raise ValueError(
            "int8 fine-tuning needs training images (N, H, W, C); received an array of shape "
            f"{images.shape}."
        )
    check_recalibrate_every(recalibrate_every)
    batch_size = min(batch_size, len(images))
    augmentation = [layer for layer in model.layers if isinstance(layer, _AUGMENTATION)]
    # `fold_polynomial_layers` shares the layers it does not fold with ``model``:
    # train a copy of its own, or the teacher would move with the student.
    student = keras.models.clone_model(folded)
    student.set_weights(folded.get_weights())
    simulation, simulated = int8_simulation(student)
    calibrate(simulation, simulated, representative_data, percentile)
    steps = epochs * (len(images) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1))
    simulation.compile(optimizer=keras.optimizers.Adam(schedule), loss=_soft_targets)
    callbacks = []
    if recalibrate_every:
        callbacks.append(
            _Recalibrate(simulated, representative_data, percentile, recalibrate_every)
        )
    for epoch in range(epochs):
        epoch_images = _augmented(images, augmentation, batch_size)
        logits = model.predict(epoch_images, batch_size=256, verbose=0)
        data = _Distillation(epoch_images, logits, batch_size, seed + epoch)
        simulation.fit(data, epochs=1, verbose=verbose, callbacks=callbacks)
    return student


def check_recalibrate_every(value, argument="recalibrate_every"):
    """Raises ``ValueError`` unless ``value`` is an int, 0 (never) or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"Argument `{argument}` must be an int, 0 (never) or more. Received: {value!r}"
        )


class _Recalibrate(keras.callbacks.Callback):
    """Calibrates the simulated ranges again every ``every`` training steps."""

    def __init__(self, simulated, images, percentile, every):
        super().__init__()
        self.simulated, self.images = simulated, images
        self.percentile, self.every = percentile, every
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.every == 0:
            calibrate(self.model, self.simulated, self.images, self.percentile)
