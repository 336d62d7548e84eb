"""MixUp and CutMix for a training pipeline: `mix_batches`, with Keras' own layers."""

import types

import keras

from pinet_keras import _optional


def _mixers(mixup, cutmix, seed):
    mixers = []
    if mixup:
        mixers.append(keras.layers.MixUp(alpha=float(mixup), seed=seed))
    if cutmix:
        mixers.append(keras.layers.CutMix(factor=float(cutmix), seed=seed))
    return mixers


def _mix(mixer, images, labels, num_classes, ops=keras.ops):
    # `ops`: keras.ops, or TensorFlow's own inside a tf.data graph.
    data = {
        "images": ops.cast(images, "float32"),
        "labels": ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), num_classes),
    }
    mixed = mixer(data, training=True)
    return mixed["images"], mixed["labels"]


class MixedDataset(keras.utils.PyDataset):
    """A `NumpyDataset` whose batches are mixed (see `mix_batches`)."""

    def __init__(self, dataset, mixers, num_classes):
        super().__init__()
        self.dataset = dataset
        self.mixers = mixers
        self.num_classes = num_classes

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        batch = self.dataset[index]
        mixer = self.mixers[index % len(self.mixers)]
        images, labels = _mix(mixer, batch[0], batch[1], self.num_classes)
        return (images, labels) + tuple(batch[2:])

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def mix_batches(dataset, num_classes, mixup=0.0, cutmix=0.0, seed=0):
    """Mixes the images of each training batch, and their labels, with MixUp or CutMix.

    `keras.layers.MixUp` (each image blended with another of the batch,
    weights from Beta(``mixup``, ``mixup``)) and `keras.layers.CutMix` (a
    rectangle pasted from another image, its area from Beta(``cutmix``,
    ``cutmix``)); with both, batches alternate between them. The labels
    become the mixed one-hot vectors (float32 ``(batch, num_classes)``),
    which `pinet_keras.LabelSmoothingCrossentropy` and
    `pinet_keras.Accuracy` take as well as integer labels;
    the images become float32 raw pixels (a blend of two images' pixels is
    still in the pixel range, so the model's own normalization applies).

    Args:
        dataset: a training pipeline from `make_datasets`: a batched
            `tf.data.Dataset` of ``(images, labels)``, or a `NumpyDataset`.
        num_classes: the labels' number of classes.
        mixup: MixUp's ``alpha`` (0: no MixUp).
        cutmix: CutMix's ``factor`` (0: no CutMix).
        seed: seed of the layers' random draws.

    Returns:
        ``dataset`` itself if both are 0, else a dataset of the same kind.
    """
    for name, value in (("mixup", mixup), ("cutmix", cutmix)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"Argument `{name}` must be a number >= 0. Received: {value!r}")
    mixers = _mixers(mixup, cutmix, seed)
    if not mixers:
        return dataset
    if isinstance(dataset, keras.utils.PyDataset):
        return MixedDataset(dataset, mixers, num_classes)
    tf = _optional.tensorflow("MixUp and CutMix on a tf.data pipeline")
    tf_ops = types.SimpleNamespace(cast=tf.cast, reshape=tf.reshape, one_hot=tf.one_hot)

    def mix(index, batch):
        images, labels = batch[0], batch[1]
        branches = [
            lambda mixer=mixer: _mix(mixer, images, labels, num_classes, tf_ops) for mixer in mixers
        ]
        if len(branches) == 1:
            return branches[0]()
        return tf.cond(index % 2 == 0, branches[0], branches[1])

    return dataset.enumerate().map(mix, num_parallel_calls=tf.data.AUTOTUNE)
