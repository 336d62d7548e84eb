"""`NumpyDataset`: the NumPy twin of a `make_datasets` pipeline, for machines without TensorFlow."""

import keras
import numpy as np


class NumpyDataset(keras.utils.PyDataset):
    """Batches of `(uint8 images NHWC, int64 labels)` from in-memory arrays.

    What `make_datasets` returns when TensorFlow is not installed (or with
    `pipeline="numpy"`); `model.fit`, `evaluate` and `predict` take it on
    any backend. Like the `tf.data` pipeline it only shuffles and batches:
    the model normalizes and augments the raw pixels itself.

    The example order of epoch `e` is a permutation seeded by `(seed, e)`: a
    rebuilt dataset repeats its order. `on_epoch_end` moves to the next
    epoch: `fit` calls it after every epoch (and once before the first);
    iterating the dataset by hand does not.

    Args:
        images: uint8 array of shape `(num_examples, height, width, channels)`.
        labels: integer array of shape `(num_examples,)`.
        batch_size: examples per batch.
        shuffle: whether to shuffle all examples, differently each epoch.
        drop_remainder: whether to drop the last, smaller batch.
        seed: non-negative int seeding the shuffling.
        on_device: copy ``images`` and ``labels`` once to the backend's
            default device (`keras.ops.convert_to_tensor`) and gather each
            batch there (`keras.ops.take`): batches are backend tensors
            that never leave the device (a GPU's memory, on JAX).
        batch_multiple: pad each batch to a multiple of this many examples
            (repeating its first ones) and return ``(images, labels,
            sample_weights)`` with weight 0 on the padding: every batch then
            splits evenly over that many devices (`keras.distribution.DataParallel`)
            while losses and metrics count each example once.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size`; see
            `keras.utils.PyDataset`.

    Example:

    >>> images = np.zeros((10, 8, 8, 1), np.uint8)
    >>> dataset = NumpyDataset(images, np.arange(10), batch_size=4)
    >>> len(dataset), dataset[2][0].shape, dataset[2][1].dtype
    (3, (2, 8, 8, 1), dtype('int64'))
    """

    def __init__(
        self,
        images,
        labels,
        batch_size,
        shuffle=False,
        drop_remainder=False,
        seed=0,
        on_device=False,
        batch_multiple=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if len(images) != len(labels):
            raise ValueError(
                f"images and labels differ in length: {len(images)} and {len(labels)}."
            )
        self.images = images
        self.labels = np.asarray(labels).astype(np.int64, copy=False)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_remainder = drop_remainder
        self.seed = seed
        self.epoch = 0
        self.on_device = bool(on_device)
        self.batch_multiple = int(batch_multiple)
        if self.on_device:
            self.images = keras.ops.convert_to_tensor(np.asarray(images))
            self.labels = keras.ops.convert_to_tensor(self.labels)
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
        if self.batch_multiple > 1:
            size = len(indices)
            padding = -size % self.batch_multiple
            indices = np.concatenate([indices, np.resize(indices, padding)])
            weights = (np.arange(len(indices)) < size).astype("float32")
            return self._take(indices) + (weights,)
        return self._take(indices)

    def _take(self, indices):
        if self.on_device:
            indices = keras.ops.convert_to_tensor(indices.astype("int32"))
            return keras.ops.take(self.images, indices, 0), keras.ops.take(self.labels, indices, 0)
        return self.images[indices], self.labels[indices]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._epoch_order()
