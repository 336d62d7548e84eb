"""`make_datasets`: batched `tf.data` (or NumPy) pipelines for training, validation and test."""

import collections

import numpy as np

from pinet_keras import _optional
from pinet_keras.data.arrays import load_arrays
from pinet_keras.data.info import DatasetInfo
from pinet_keras.data.info import dataset_info

Datasets = collections.namedtuple("Datasets", ["train", "validation", "test", "info"])
Datasets.__doc__ = """What `make_datasets` returns.

Attributes:
    train: batched `tf.data.Dataset` of `(uint8 images NHWC, int64 labels)`:
        raw pixels, which the models that `pinet_keras` trains normalize
        (and augment) themselves (`pinet_keras.models.pixel_preprocessing`),
        or a `numpy_pipeline.NumpyDataset` (a `keras.utils.PyDataset`)
        yielding the same as NumPy arrays; see `make_datasets`'s `pipeline`.
    validation: the same, carved from the training split, or `None`.
    test: the same, from the untouched test split.
    info: a `PipelineInfo`.
"""

PipelineInfo = collections.namedtuple(
    "PipelineInfo",
    DatasetInfo._fields
    + ("num_train", "num_validation", "num_test", "pixel_mean", "pixel_variance", "batch_size"),
)
PipelineInfo.__doc__ = """`DatasetInfo` plus what `make_datasets` made.

Attributes:
    name, input_shape, num_classes, class_names, mean, std: as in `DatasetInfo`.
    num_train, num_validation, num_test: examples in each split (before
        batching; `num_validation` is 0 without a validation split).
    pixel_mean, pixel_variance: per-channel mean and variance of the raw
        training pixels (0..255), for `keras.layers.Normalization`.
    batch_size: the batch size of the three datasets.
"""

PIPELINES = ("auto", "tf.data", "numpy", "device")


def split_validation(num_examples, validation_split, seed=0):
    """Splits `range(num_examples)` into training and validation indices.

    The validation part is `round(num_examples * validation_split)` indices
    drawn with a permutation seeded by `seed`; both parts are returned
    sorted, so they keep the original order of the examples.

    Example:

    >>> train, validation = split_validation(10, 0.2, seed=0)
    >>> len(train), len(validation), set(train) & set(validation)
    (8, 2, set())
    """
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}.")
    num_validation = int(round(num_examples * validation_split))
    if validation_split > 0 and not 0 < num_validation < num_examples:
        raise ValueError(
            f"validation_split={validation_split} of {num_examples} training examples leaves "
            f"{num_validation} for validation and {num_examples - num_validation} for training."
        )
    permutation = np.random.default_rng(seed).permutation(num_examples)
    return np.sort(permutation[num_validation:]), np.sort(permutation[:num_validation])


def pixel_statistics(images, chunk=4096):
    """Per-channel mean and variance of raw pixels ``(N, H, W, C)``, in float64.

    What ``keras.layers.Normalization.adapt`` computes, without holding a
    float copy of the whole training split.

    Example:

    >>> mean, variance = pixel_statistics(np.array([[[[0], [255]]]], np.uint8))
    >>> mean.tolist(), variance.tolist()
    ([127.5], [16256.25])
    """
    images = np.asarray(images)
    channels = images.shape[-1]
    total = np.zeros(channels)
    squares = np.zeros(channels)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].reshape(-1, channels).astype("float64")
        total += part.sum(0)
        squares += np.square(part).sum(0)
    count = images.size // channels
    mean = total / count
    return mean, np.maximum(squares / count - np.square(mean), 0.0)


def make_datasets(
    name,
    data_dir=None,
    batch_size=128,
    validation_split=0.1,
    seed=0,
    cache=True,
    shuffle=True,
    drop_remainder=False,
    max_train_examples=None,
    pipeline="auto",
    batch_multiple=1,
    image_size=None,
):
    """Builds batched training, validation and test pipelines of raw pixels.

    The arrays come from `load_arrays(name, data_dir)`. The validation split
    is carved from the training split (`split_validation`); the test split
    is used as is. Each dataset yields `(uint8 images NHWC, int64 labels)`:
    read arrays, shuffle (training only), batch. Normalization and
    augmentation are Keras layers inside the model
    (`pinet_keras.models.pixel_preprocessing`), the same on every backend
    and in every exported file.

    Without TensorFlow (or with `pipeline="numpy"`) the datasets are
    `numpy_pipeline.NumpyDataset`s, `keras.utils.PyDataset`s that `fit`
    takes on any backend: the same splits, subset and batches, the training
    examples shuffled (seeded, reshuffled at each `on_epoch_end`).

    Args:
        name: one of `DATASETS`.
        data_dir: see `load_arrays`.
        batch_size: examples per batch.
        validation_split: fraction of the training split held out for
            validation; 0 means no validation dataset (`None`).
        seed: seeds the validation split and the shuffling.
        cache: whether to cache the examples in memory after the first epoch
            (the NumPy pipeline always holds them in memory).
        shuffle: whether to shuffle the training examples.
        drop_remainder: whether to drop the last, smaller training batch.
            Validation and test always keep every example.
        max_train_examples: keep a seeded random subset of this many
            training examples (drawn once, after the validation split, which
            stays whole), for quick runs and searches. None keeps all.
        pipeline: `"tf.data"`, `"numpy"`, or `"auto"`: `"tf.data"` when
            TensorFlow can be imported, else `"numpy"`. `"device"`: the
            NumPy pipeline with the arrays copied once to the backend's
            default device (a GPU's memory), each batch gathered there
            (`NumpyDataset(..., on_device=True)`): no per-step copy from
            the host, for short GPU runs.
        image_size: ``name="folder"`` only: ``(height, width)`` to resize
            the images to (see `pinet_keras.data.folder`).
        batch_multiple: NumPy pipelines only: pad every batch to a multiple
            of this many examples, with sample weights 0 on the padding (see
            `NumpyDataset`), for `keras.distribution.DataParallel`.

    ``batch_size=None`` gives unbatched datasets of single examples, for
    callers that batch later, such as the tuner; it needs the `tf.data`
    pipeline.

    Returns:
        A `Datasets` `(train, validation, test, info)`, `info` a `PipelineInfo`.

    Example:

    >>> datasets = make_datasets("digits", batch_size=32)
    >>> datasets.info.num_train, datasets.info.num_validation, datasets.info.num_test
    (1293, 144, 360)
    >>> images, labels = next(iter(datasets.train))
    >>> tuple(images.shape), images.dtype.name, labels.dtype.name
    ((32, 8, 8, 1), 'uint8', 'int64')
    """
    if pipeline not in PIPELINES:
        raise ValueError(
            f"pipeline must be one of {', '.join(map(repr, PIPELINES))}, got {pipeline!r}."
        )
    tf = None
    if pipeline == "tf.data" or pipeline == "auto" and _optional.available("tensorflow"):
        tf = _optional.tensorflow(f"pipeline={pipeline!r}", "use pipeline='numpy'")

    info = dataset_info(name) if name != "folder" else None
    if batch_size is not None and (
        isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}.")
    if max_train_examples is not None and (
        isinstance(max_train_examples, bool)
        or not isinstance(max_train_examples, int)
        or max_train_examples < 1
    ):
        raise ValueError(
            f"max_train_examples must be a positive int or None, got {max_train_examples!r}."
        )
    if tf is not None and batch_multiple != 1:
        raise ValueError(
            f"batch_multiple={batch_multiple} pads NumPy batches; it needs pipeline='numpy' or "
            f"'device', not {pipeline!r}."
        )
    if tf is None and batch_size is None:
        why = "pipeline='numpy'" if pipeline == "numpy" else "TensorFlow is not installed"
        raise ValueError(
            f"batch_size=None (unbatched examples) needs the tf.data pipeline, and {why}; "
            "pass a batch size."
        )
    (x_train, y_train), (x_test, y_test) = load_arrays(name, data_dir, image_size)
    if info is None:
        info = dataset_info(name, data_dir, image_size)
    train_indices, validation_indices = split_validation(len(x_train), validation_split, seed)
    if max_train_examples is not None and max_train_examples < len(train_indices):
        rng = np.random.default_rng(seed)
        train_indices = np.sort(rng.choice(train_indices, size=max_train_examples, replace=False))

    def tf_pipeline(images, labels, training):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        if cache:
            dataset = dataset.cache()
        if training and shuffle:
            dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        if batch_size is not None:
            dataset = dataset.batch(int(batch_size), drop_remainder=training and drop_remainder)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def numpy_pipeline(images, labels, training):
        from pinet_keras.data.numpy_pipeline import NumpyDataset

        return NumpyDataset(
            images,
            labels,
            int(batch_size),
            shuffle=training and shuffle,
            drop_remainder=training and drop_remainder,
            seed=seed,
            on_device=pipeline == "device",
            batch_multiple=batch_multiple,
        )

    make = numpy_pipeline if tf is None else tf_pipeline
    x_fit = x_train[train_indices]
    train = make(x_fit, y_train[train_indices], training=True)
    validation = None
    if len(validation_indices):
        validation = make(x_train[validation_indices], y_train[validation_indices], training=False)
    test = make(x_test, y_test, training=False)
    mean, variance = pixel_statistics(x_fit)
    pipeline_info = PipelineInfo(
        *info,
        num_train=len(train_indices),
        num_validation=len(validation_indices),
        num_test=len(x_test),
        pixel_mean=tuple(mean.tolist()),
        pixel_variance=tuple(variance.tolist()),
        batch_size=None if batch_size is None else int(batch_size),
    )
    return Datasets(train, validation, test, pipeline_info)
