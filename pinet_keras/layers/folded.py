"""A polynomial layer folded to ``A'(x) ⊙ B'(x) + c`` (`fold_polynomial_layers`).

Registered with Keras on ``import pinet_keras``, so that a folded model (an
int8 export's Keras twin, `pinet_keras.pretrained.load`) saved as ``.keras``
loads in any process that imported the package.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class FoldedPolynomial(keras.layers.Layer):
    """``y = A(x) ⊙ B(x) + offset``: a polynomial layer with everything linear folded in.

    Built by `fold_polynomial_layers` from a trained `PolynomialBase` layer;
    ``branch_a`` and ``branch_b`` are plain ``Conv2D`` (or ``Dense``) layers
    and ``offset`` a per-channel constant. With ``output_range=(low, high)``
    the output is clipped to that range (see `fold_polynomial_layers`'s
    ``bound``). Only for export: it has no training-time behaviour of its
    own (no batch statistics).
    """

    def __init__(
        self,
        branch_a_config,
        branch_b_config,
        branch_class,
        output_range=None,
        padding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if output_range is not None:
            low, high = (float(v) for v in output_range)
            if not low <= high:
                raise ValueError(
                    "`output_range` must be (low, high) with low <= high. "
                    f"Received: {output_range!r}"
                )
            output_range = (low, high)
        self.output_range = output_range
        # Explicit (before, after) pairs of the spatial axes, padded before the branches.
        self.padding = None if padding is None else [list(pair) for pair in padding]
        self.branch_a_config = branch_a_config
        self.branch_b_config = branch_b_config
        self.branch_class = branch_class
        cls = getattr(keras.layers, branch_class)
        self.branch_a = cls.from_config({**branch_a_config, "name": "branch_a"})
        self.branch_b = cls.from_config({**branch_b_config, "name": "branch_b"})

    def _padded_shape(self, input_shape):
        if self.padding is None:
            return input_shape
        spatial = [
            None if size is None else size + sum(pair)
            for size, pair in zip(input_shape[1:-1], self.padding)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def build(self, input_shape):
        input_shape = self._padded_shape(input_shape)
        self.branch_a.build(input_shape)
        self.branch_b.build(input_shape)
        channels = self.branch_a.compute_output_shape(input_shape)[-1]
        self.offset = self.add_weight(name="offset", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        if self.padding is not None:
            inputs = ops.pad(inputs, [[0, 0], *self.padding, [0, 0]])
        y = ops.multiply(self.branch_a(inputs), self.branch_b(inputs))
        y = ops.add(y, ops.cast(self.offset, y.dtype))
        if self.output_range is not None:
            y = ops.clip(y, *self.output_range)
        return y

    def compute_output_shape(self, input_shape):
        return self.branch_a.compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "branch_a_config": self.branch_a_config,
                "branch_b_config": self.branch_b_config,
                "branch_class": self.branch_class,
                "output_range": None if self.output_range is None else list(self.output_range),
                "padding": self.padding,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="pinet_keras")
class _Absorbed(keras.layers.Layer):
    """Stands for a batch normalization folded into the polynomial layer before it."""

    def call(self, inputs, mask=None):
        return inputs
