"""Training-time regularizers of residual networks: `DropBlock2D` and `StochasticDepth`."""

import numbers

import keras
from keras import ops


class _RandomDrop(keras.layers.Layer):
    """What both share: a drop ``rate``, a seed, the identity at inference."""

    # The identity at inference: a model with it keeps its polynomial degree.
    degree = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Argument `rate` must be a number in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        return self.drop(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="pinet_keras")
class DropBlock2D(_RandomDrop):
    """Drops square blocks of a feature map during training (Ghiasi et al., 2018).

    Dropout of single activations does little to a convolutional feature map,
    whose neighbours carry the same information; DropBlock zeroes contiguous
    ``block_size × block_size`` regions instead, for each example and channel,
    so that about a fraction ``rate`` of the map is dropped, and rescales the
    rest to keep the mean. The R-PolyNets authors put it (rate 0.1, block 7)
    after the first two stages of their CIFAR networks. At inference it is
    the identity (so a model with it keeps its polynomial degree).

    Args:
        rate: fraction of the feature map to drop, in ``[0, 1)``.
        block_size: side of the dropped squares (clipped to the map's size).
        seed: seed of the random masks.
        **kwargs: base layer keyword arguments, such as ``name`` and ``dtype``.

    Input shape:
        4D tensor ``(batch, height, width, channels)`` (channels last).

    Output shape:
        The same.

    Example:

    >>> import numpy as np
    >>> layer = DropBlock2D(rate=0.3, block_size=3, seed=0)
    >>> x = np.ones((2, 8, 8, 4), "float32")
    >>> bool((np.asarray(layer(x, training=False)) == x).all())
    True
    >>> dropped = np.asarray(layer(x, training=True))
    >>> bool((dropped == 0).any()), round(float(dropped.mean()), 1)
    (True, 1.0)
    """

    def __init__(self, rate=0.1, block_size=7, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        if (
            isinstance(block_size, bool)
            or not isinstance(block_size, numbers.Integral)
            or block_size < 1
        ):
            raise ValueError(
                f"Argument `block_size` must be a positive int. Received: block_size={block_size!r}"
            )
        self.block_size = int(block_size)

    def drop(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        block = min(self.block_size, height, width)
        # Probability of a block centre, so that blocks cover about `rate`
        # of the map (the paper's gamma, centres anywhere in the map).
        gamma = self.rate / (block * block)
        noise = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator)
        centres = ops.cast(noise < gamma, self.compute_dtype)
        dropped = ops.max_pool(centres, pool_size=block, strides=1, padding="same")
        keep = 1.0 - dropped
        kept = ops.maximum(ops.sum(keep), 1.0)
        scale = ops.cast(ops.size(keep), self.compute_dtype) / kept
        return inputs * keep * ops.cast(scale, inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config["block_size"] = self.block_size
        return config


@keras.saving.register_keras_serializable(package="pinet_keras")
class StochasticDepth(_RandomDrop):
    """Drops a residual branch for whole examples during training (Huang et al., 2016).

    Called on the output of a residual branch before it is added to the
    shortcut: in training, each example's branch is kept with probability
    ``1 - rate`` and scaled by ``1 / (1 - rate)``, or zeroed (the block is
    then the shortcut alone for that example). At inference it is the
    identity.

    Args:
        rate: probability of dropping the branch, in ``[0, 1)``.
        seed: seed of the random draws.
        **kwargs: base layer keyword arguments, such as ``name`` and ``dtype``.

    Input shape:
        Any tensor whose first axis is the batch.

    Output shape:
        The same.

    Example:

    >>> import numpy as np
    >>> layer = StochasticDepth(rate=0.5, seed=0)
    >>> out = np.asarray(layer(np.ones((1000, 2, 2, 3), "float32"), training=True))
    >>> sorted(set(out.ravel().tolist()))
    [0.0, 2.0]
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def drop(self, inputs):
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator)
        keep = ops.cast(noise >= self.rate, inputs.dtype)
        return inputs * keep / ops.cast(1.0 - self.rate, inputs.dtype)
