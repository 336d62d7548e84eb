"""A robustness sweep: every input a user can give, on every format of a model.

A polynomial of high degree explodes outside the range it was trained on.
The files `pinet_keras.export` writes clip their input to the pixel box
(`PixelRange`); inside the box, a model trained on digits can still meet
noise, a blank frame, a photo of something else. `sweep` runs such inputs
through a Keras model and its exported files and counts, per format, the
largest |logit|, the outputs that are not finite, and the agreement with the
Keras model (float32). `tools/robustness.py` is the script.

The probes (raw pixels, float32, inside ``[0, 255]``), see `probe_sets`:

- ``test``: the test split;
- ``gaussian``: Gaussian noise around mid-grey (std 64), and the test images
  plus Gaussian noise (std 48), clipped to the box;
- ``uniform``: uniform noise over the box;
- ``extremes``: black, white, mid-grey frames; the test images with their
  brightness shifted by ±128, contrast multiplied by 4 and 16, inverted;
- ``patterns``: black-and-white checkerboards and horizontal and vertical
  stripes of periods 2 to 16 pixels, and their inverses (`patterns`): high
  frequencies no training image has (a 2-pixel checkerboard gives the
  unbounded CIFAR-10 `PiResNet` a logit of 2.5e35);
- ``other``: another data set's test images, resized and converted to the
  model's input (grey to RGB and back);
- ``gradient``: a projected-gradient search for the largest |logit| of the
  Keras model within the box (`gradient_search`).
"""

import numpy as np

from pinet_keras import _optional


def probe_sets(x_test, other=None, seed=0, size=1000):
    """``{name: raw-pixel images}`` of the sweep (the ``gradient`` set is `gradient_search`'s).

    Args:
        x_test: test images ``(N, H, W, C)``, raw pixels.
        other: another data set's images, already in the model's input shape, or None.
        seed: seeds the noise.
        size: images per noise set (and per transformation of the test images).
    """
    rng = np.random.default_rng(seed)
    x_test = np.asarray(x_test, "float32")
    shape = x_test.shape[1:]
    some = x_test[rng.choice(len(x_test), min(size, len(x_test)), replace=False)]
    box = lambda x: np.clip(x, 0.0, 255.0).astype("float32")  # noqa: E731
    sets = {
        "test": x_test,
        "gaussian": np.concatenate(
            [
                box(rng.normal(127.5, 64.0, (size, *shape))),
                box(some + rng.normal(0.0, 48.0, some.shape)),
            ]
        ),
        "uniform": box(rng.uniform(0.0, 255.0, (size, *shape))),
        "extremes": np.concatenate(
            [
                np.stack([np.full(shape, value, "float32") for value in (0.0, 127.5, 255.0)]),
                box(some + 128.0),
                box(some - 128.0),
                box((some - 127.5) * 4.0 + 127.5),
                box((some - 127.5) * 16.0 + 127.5),
                box(255.0 - some),
            ]
        ),
    }
    sets["patterns"] = patterns(shape)
    if other is not None:
        sets["other"] = np.asarray(other, "float32")
    return sets


def patterns(shape):
    """Checkerboards and stripes of 1, 2, 4 and 8-pixel squares, and their inverses: 0 or 255.

    Only the sizes that repeat at least twice across the image (8×8 digits:
    up to 4 pixels).
    """
    height, width, channels = shape
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    images = []
    for block in [b for b in (1, 2, 4, 8) if 2 * b <= min(height, width)]:
        for pattern in (rows // block + columns // block, rows // block, columns // block):
            images.append(255.0 * (pattern % 2))
    images = np.stack(images + [255.0 - image for image in images])
    return np.repeat(images[..., None], channels, axis=-1).astype("float32")


def to_input_shape(images, shape):
    """Raw-pixel images resized (bilinear) and converted (grey ↔ RGB) to ``shape`` ``(H, W, C)``."""
    tf = _optional.tensorflow("to_input_shape")
    images = np.asarray(images, "float32")
    height, width, channels = shape
    if images.shape[-1] != channels:
        if channels == 3:
            images = np.repeat(images, 3, axis=-1)
        else:
            images = images.mean(axis=-1, keepdims=True)
    if images.shape[1:3] != (height, width):
        images = tf.image.resize(images, (height, width), method="bilinear").numpy()
    return np.clip(images, 0.0, 255.0).astype("float32")


def gradient_search(model, starts, steps=200, step_size=8.0, box=(0.0, 255.0)):
    """Projected gradient ascent on the largest |logit| of ``model`` within the pixel box.

    Each start image is moved ``steps`` times by a signed gradient step (of
    ``step_size`` pixels, decreasing linearly to 1) and projected back into
    the box; the image of the largest |logit| seen is kept per start. A
    non-finite logit (or gradient) is the worst case: it is kept, and its
    search stops there.

    Args:
        model: a Keras model taking raw pixels (TensorFlow backend).
        starts: float32 images ``(K, H, W, C)`` in the box.
        steps: gradient steps (≥ 200 for the sweep).
        step_size: first step, in pixels.
        box: ``(min, max)`` of a pixel.

    Returns:
        ``(images, values)``: the K images found and the largest |logit| of each.
    """
    tf = _optional.tensorflow("The search for large logits")
    low, high = box
    x = tf.Variable(np.asarray(starts, "float32"))
    best = np.full(len(starts), -np.inf)
    found = np.array(starts, "float32")
    done = np.zeros(len(starts), bool)

    @tf.function
    def step(size):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(model(x, training=False), tf.float32)
            value = tf.reduce_max(tf.abs(logits), axis=-1)
            objective = tf.reduce_sum(tf.where(tf.math.is_finite(value), tf.math.log1p(value), 0.0))
        gradient = tape.gradient(objective, x)
        gradient = tf.where(tf.math.is_finite(gradient), gradient, 0.0)
        return value, gradient

    for i in range(steps):
        size = step_size + (1.0 - step_size) * i / max(steps - 1, 1)
        value, gradient = step(tf.constant(size))
        value = value.numpy().astype("float64")
        value = np.where(np.isfinite(value), value, np.inf)
        current = x.numpy()
        better = (value > best) & ~done
        found[better] = current[better]
        best = np.where(better, value, best)
        done |= ~np.isfinite(value)
        moved = np.clip(current + size * np.sign(gradient.numpy()), low, high)
        x.assign(np.where(done[:, None, None, None], current, moved).astype("float32"))
    return found, best


def summarize(logits, reference):
    """Per-format numbers of one probe set: max |logit|, non-finite rows, top-1 agreement."""
    logits = np.asarray(logits, "float64")
    reference = np.asarray(reference, "float64")
    finite = np.isfinite(logits).all(-1)
    reference_finite = np.isfinite(reference).all(-1)
    agree = finite & reference_finite & (logits.argmax(-1) == reference.argmax(-1))
    return {
        "examples": int(len(logits)),
        "max_abs_logit": float(np.abs(logits[finite]).max()) if finite.any() else None,
        "non_finite": int((~finite).sum()),
        "top1_agreement": float(agree.mean()) if len(agree) else None,
    }


def sweep(predictors, sets, reference="keras"):
    """Runs every probe set through every predictor.

    Args:
        predictors: ``{format name: function(images) -> logits}``; the one
            named ``reference`` gives the logits the others are compared with.
        sets: ``{probe name: images}``.

    Returns:
        ``{format: {probe: summarize(...)}}``, and ``{format: {"all": ...}}``
        over all probes together.
    """
    results = {name: {} for name in predictors}
    totals = {name: [] for name in predictors}
    for probe, images in sets.items():
        outputs = {
            name: np.asarray(predict(images), "float64") for name, predict in predictors.items()
        }
        for name, logits in outputs.items():
            results[name][probe] = summarize(logits, outputs[reference])
            totals[name].append((logits, outputs[reference]))
    for name, parts in totals.items():
        results[name]["all"] = summarize(
            np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        )
    return results
