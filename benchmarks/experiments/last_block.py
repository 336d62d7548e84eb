"""The last-block variants of `polynet_variants.py`: layers with the package's weights.

Kept apart from that script (which defines command-line flags) so that
`tests/test_benchmarks.py` can check them against `PolynomialConv2D`.
"""

from keras import ops

import pinet_keras
from pinet_keras.layers.polynomial_conv import same_padding


class PatchesBlock(pinet_keras.PolynomialConv2D):
    """`PolynomialConv2D` whose branches are, in training, one matmul over image patches.

    ``method``: ``"tf"`` (``tf.image.extract_patches``), ``"slices"`` or
    ``"s2d"`` (keras.ops). Inference keeps the two convolutions.
    """

    def __init__(self, *args, method="tf", **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method

    def call(self, inputs, training=None):
        self.fuse_branches = bool(training)  # `_apply_kernel` below runs both branches at once
        return super().call(inputs, training=training)

    def _apply_kernel(self, inputs, kernel, bias):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if self._branch_padding == "same":
            pads = [
                same_padding(n, k, s, 1) for n, k, s in zip(inputs.shape[1:3], (kh, kw), (sh, sw))
            ]
            inputs = ops.pad(inputs, [[0, 0], *map(list, pads), [0, 0]])
        h, w, channels = inputs.shape[1:]
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        if self.method == "tf":
            import tensorflow as tf

            patches = tf.image.extract_patches(
                inputs, [1, kh, kw, 1], [1, sh, sw, 1], [1, 1, 1, 1], "VALID"
            )
        elif self.method == "s2d":
            # (h/s, w/s) cells of s*s pixels; a patch is kh/sh x kw/sw cells.
            cells = ops.reshape(inputs, (-1, h // sh, sh, w // sw, sw, channels))
            cells = ops.reshape(
                ops.transpose(cells, (0, 1, 3, 2, 4, 5)), (-1, h // sh, w // sw, sh * sw * channels)
            )
            patches = ops.concatenate(
                [
                    cells[:, i : i + oh, j : j + ow, :]
                    for i in range(kh // sh)
                    for j in range(kw // sw)
                ],
                axis=-1,
            )
            kernel = ops.reshape(kernel, (kh // sh, sh, kw // sw, sw, channels, -1))
            kernel = ops.transpose(kernel, (0, 2, 1, 3, 4, 5))
        else:
            patches = ops.concatenate(
                [
                    inputs[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
                    for i in range(kh)
                    for j in range(kw)
                ],
                axis=-1,
            )
        fan_in = kh * kw * channels
        z = ops.matmul(ops.reshape(patches, (-1, fan_in)), ops.reshape(kernel, (fan_in, -1)))
        # An add, not tf.nn.bias_add: BiasAddGrad sums over the batch in bfloat16.
        return ops.reshape(ops.add(z, bias), (-1, oh, ow, z.shape[-1]))


class HalvesBlock(pinet_keras.PolynomialConv2D):
    """`PolynomialConv2D` that, in training, runs its branches on each half of the batch."""

    def call(self, inputs, training=None):
        self._split = bool(training)
        return super().call(inputs, training=training)

    def _branch_outputs(self, inputs):
        if not self._split:
            return super()._branch_outputs(inputs)
        halves = [super(HalvesBlock, self)._branch_outputs(x) for x in ops.split(inputs, 2)]
        return [ops.concatenate(pair, axis=0) for pair in zip(*halves)]
