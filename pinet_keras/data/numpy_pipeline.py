"""`NumpyDataset`: the NumPy twin of a `make_datasets` pipeline, for machines without TensorFlow."""

import keras
import numpy as np

from pinet_keras.data.augmentation import augment_batch
from pinet_keras.data.info import check_name
from pinet_keras.data.normalization import check_normalization
from pinet_keras.data.normalization import normalize


class NumpyDataset(keras.utils.PyDataset):
    """Batches of `(float32 images NHWC, int64 labels)` from in-memory arrays.

    What `make_datasets` returns when TensorFlow is not installed (or with
    `pipeline="numpy"`); `model.fit`, `evaluate` and `predict` take it on
    any backend. Each batch is gathered from uint8 pixels, augmented (with
    `augment_batch`), then normalized (with `normalize`), like the
    `tf.data` pipeline.

    The example order of epoch `e` is a permutation seeded by `(seed, e)`
    and the augmentation of batch `i` of epoch `e` is seeded by
    `(seed, e, i)`: a batch does not depend on the order batches are asked
    for, and a rebuilt dataset repeats its draws. `on_epoch_end` moves to the
    next epoch: `fit` calls it after every epoch (and once before the
    first); iterating the dataset by hand does not.

    Args:
        images: uint8 array of shape `(num_examples, height, width, channels)`.
        labels: integer array of shape `(num_examples,)`.
        name: one of `DATASETS`; selects the normalization constants and
            `augmentation.AUGMENTATIONS[name]`.
        batch_size: examples per batch.
        normalization: `"unit"` or `"standardize"`; see `normalize`.
        shuffle: whether to shuffle all examples, differently each epoch.
        augment: whether to augment the examples.
        drop_remainder: whether to drop the last, smaller batch.
        seed: non-negative int seeding the shuffling and the augmentation.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`; see
            `keras.utils.PyDataset`.

    Example:

    >>> images = np.zeros((10, 8, 8, 1), np.uint8)
    >>> dataset = NumpyDataset(images, np.arange(10), "digits", batch_size=4)
    >>> len(dataset), dataset[2][0].shape, dataset[2][1].dtype
    (3, (2, 8, 8, 1), dtype('int64'))
    """

    def __init__(
        self,
        images,
        labels,
        name,
        batch_size,
        normalization="unit",
        shuffle=False,
        augment=False,
        drop_remainder=False,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_name(name)
        check_normalization(normalization)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if len(images) != len(labels):
            raise ValueError(f"images and labels differ in length: {len(images)} and {len(labels)}.")
        self.images = images
        self.labels = np.asarray(labels).astype(np.int64, copy=False)
        self.name = name
        self.batch_size = int(batch_size)
        self.normalization = normalization
        self.shuffle = shuffle
        self.augment = augment
        self.drop_remainder = drop_remainder
        self.seed = seed
        self.epoch = 0
        self._order = self._epoch_order()

    def _epoch_order(self):
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng((self.seed, self.epoch, 0)).permutation(len(self.images))

    def __len__(self):
        if self.drop_remainder:
            return len(self.images) // self.batch_size
        return -(-len(self.images) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for {len(self)} batches.")
        indices = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.images[indices]
        if self.augment:
            # index + 1: the epoch's permutation used the stream (seed, epoch, 0).
            rng = np.random.default_rng((self.seed, self.epoch, index + 1))
            images = augment_batch(images, rng, self.name)
        return normalize(images, self.name, self.normalization), self.labels[indices]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._epoch_order()
