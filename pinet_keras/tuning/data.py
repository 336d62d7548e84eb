"""`search_datasets`: unbatched training and validation data for a search, and the test split kept apart."""

import collections

import numpy as np

from pinet_keras.data import PipelineInfo
from pinet_keras.data import augment_image
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import normalize
from pinet_keras.data import split_validation
from pinet_keras.data.normalization import check_normalization

SearchData = collections.namedtuple("SearchData", ["train", "validation", "test", "info"])
SearchData.__doc__ = """What `search_datasets` returns.

Attributes:
    train: unbatched `tf.data.Dataset` of `(float32 image HWC, int64 label)`,
        shuffled every epoch (and augmented, if asked); `PolyNetHyperModel.fit`
        batches it with the trial's batch size.
    validation: the same, carved from the training split, not shuffled.
    test: batched dataset of the untouched test split, for the one final
        evaluation; the search never receives it.
    info: a `pinet_keras.data.PipelineInfo` (`batch_size` is the test's).
"""


def search_datasets(
    name,
    data_dir=None,
    validation_split=0.1,
    seed=0,
    augment=False,
    normalization="unit",
    max_train_examples=None,
    test_batch_size=256,
):
    """Loads ``name`` for a hyperparameter search.

    The validation split is the one `make_datasets` (and so
    `examples/train.py`) uses for the same ``validation_split`` and ``seed``:
    `split_validation` of the training split. ``max_train_examples`` then
    keeps a random subset of the remaining training examples (drawn once,
    seeded, the same for every trial) for quick searches; the validation
    split stays whole. Augmentation (`augment_image`) and normalization
    (`normalize`) are those of `make_datasets`, applied per example.

    Example:

    >>> data = search_datasets("digits", max_train_examples=500)  # doctest: +SKIP
    >>> data.info.num_train, data.info.num_validation, data.info.num_test  # doctest: +SKIP
    (500, 144, 360)
    """
    import tensorflow as tf

    info = dataset_info(name)
    check_normalization(normalization)
    if not 0.0 < validation_split < 1.0:
        raise ValueError(
            "`validation_split` must be in (0, 1): the search is scored on it, never on the test split. "
            f"Received: {validation_split!r}"
        )
    if max_train_examples is not None and (
        isinstance(max_train_examples, bool) or not isinstance(max_train_examples, int) or max_train_examples < 1
    ):
        raise ValueError(f"`max_train_examples` must be a positive int or None. Received: {max_train_examples!r}")
    (x_train, y_train), (x_test, y_test) = load_arrays(name, data_dir)
    train_indices, validation_indices = split_validation(len(x_train), validation_split, seed)
    if max_train_examples is not None and max_train_examples < len(train_indices):
        rng = np.random.default_rng(seed)
        train_indices = np.sort(rng.choice(train_indices, size=max_train_examples, replace=False))

    def normalize_example(image, label):
        return normalize(image, name, normalization), label

    train = tf.data.Dataset.from_tensor_slices((x_train[train_indices], y_train[train_indices]))
    train = train.shuffle(len(train_indices), seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        train = tf.data.Dataset.zip((train, seeds)).map(
            lambda example, s: (augment_image(example[0], s, name), example[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    train = train.map(normalize_example, num_parallel_calls=tf.data.AUTOTUNE)

    validation = tf.data.Dataset.from_tensor_slices((x_train[validation_indices], y_train[validation_indices]))
    validation = validation.map(normalize_example, num_parallel_calls=tf.data.AUTOTUNE).cache()

    test = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(test_batch_size)
    test = test.map(lambda x, y: (normalize(x, name, normalization), y), num_parallel_calls=tf.data.AUTOTUNE)
    test = test.prefetch(tf.data.AUTOTUNE)

    pipeline_info = PipelineInfo(
        *info,
        num_train=len(train_indices),
        num_validation=len(validation_indices),
        num_test=len(x_test),
        normalization=normalization,
        augment=bool(augment),
        batch_size=int(test_batch_size),
    )
    return SearchData(train, validation, test, pipeline_info)
