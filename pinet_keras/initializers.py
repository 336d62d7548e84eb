"""Initializers for the two branches of a polynomial block.

Why the defaults matter: a block multiplies two branches, ``a = W_a x + b_a``
and ``b = W_b x + b_b``. For independent zero-mean weights the second moment
of the product is the product of the branches' second moments,
``E[(a b)^2] = E[a^2] E[b^2]``, so whatever factor a branch applies to the
signal is *squared* by every block: after ``n`` blocks an input of second
moment ``q`` has become roughly ``(c q)^(2^n)``. Below 1 the signal vanishes
doubly exponentially, above 1 it explodes. Keras' default (Glorot kernel,
zero bias) has ``c < 1`` and no constant term, so the five-block PolyNet's
logits are ~0 for every input and it stays at chance.

A constant term in each branch is what keeps a deep product trainable: with
biases the product contains the lower-degree terms ``b_b W_a x + b_a W_b x``,
whose scale does not collapse with depth, and gradients reach every block
from the first step.
"""

import math
import numbers
import random

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="pinet_keras")
class BranchUniform(keras.initializers.Initializer):
    """Uniform initializer ``U(-scale/sqrt(fan_in), scale/sqrt(fan_in))``.

    With ``scale=1`` it is PyTorch's default for ``nn.Conv2d`` and
    ``nn.Linear``, kernel and bias alike. ``fan_in`` is read from the shape
    (the product of every axis but the last). A bias has no fan-in of its
    own: pass the kernel's as ``fan_in``; the layers of this package do that.

    Args:
        scale: multiplier of the bound ``1/sqrt(fan_in)``.
        fan_in: optional fixed fan-in, used instead of the shape's.
        seed: optional int or `keras.random.SeedGenerator`, as for Keras'
            random initializers (without one, an int drawn from Python's
            random module, which `keras.utils.set_random_seed` seeds). Two
            branches must never draw from one seeded instance, or they start
            identical and the block degenerates to a square.

    Example:

    >>> init = BranchUniform(seed=1)
    >>> w = init((3, 3, 1, 16))  # bound 1/sqrt(3*3*1) = 1/3
    >>> float(keras.ops.max(keras.ops.abs(w))) <= 1 / 3
    True
    >>> BranchUniform(scale=0.5, fan_in=9, seed=1).get_config()
    {'scale': 0.5, 'fan_in': 9, 'seed': 1}
    """

    def __init__(self, scale=1.0, fan_in=None, seed=None):
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or scale <= 0:
            raise ValueError(
                f"Argument `scale` must be a positive number. Received: scale={scale!r}"
            )
        if fan_in is not None and (
            isinstance(fan_in, bool) or not isinstance(fan_in, numbers.Integral) or fan_in <= 0
        ):
            raise ValueError(
                f"Argument `fan_in` must be a positive int or None. Received: fan_in={fan_in!r}"
            )
        self.scale = float(scale)
        self.fan_in = None if fan_in is None else int(fan_in)
        self._init_seed = seed
        if seed is None:
            seed = random.randint(1, int(1e9))  # what Keras' random initializers draw
        elif isinstance(seed, dict):
            seed = keras.saving.deserialize_keras_object(seed)
        elif isinstance(seed, bool) or not isinstance(seed, (int, keras.random.SeedGenerator)):
            raise ValueError(
                "Argument `seed` must be None, an int or a `keras.random.SeedGenerator`. "
                f"Received: seed={seed!r}"
            )
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in = self.fan_in or int(np.prod(shape[:-1] if len(shape) > 1 else shape))
        bound = self.scale / math.sqrt(fan_in)
        return keras.random.uniform(shape, minval=-bound, maxval=bound, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {
            "scale": self.scale,
            "fan_in": self.fan_in,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
        }


def branch_initializer(initializer, branch_index, fan_in=None):
    """Returns a fresh initializer instance for branch ``branch_index``.

    Keras initializers, seeded or not, return the same values on every call
    of one instance, so two branches sharing an instance would be identical.
    Each branch therefore gets a clone built from the config; an int
    ``seed`` is offset by ``branch_index`` so that one seeded initializer
    still gives two different, reproducible branches. A `BranchUniform`
    without a fixed ``fan_in`` receives ``fan_in`` (the kernel's, for biases).
    """
    init = keras.initializers.get(initializer)
    config = keras.initializers.serialize(init)
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, dict):
        if isinstance(inner.get("seed"), int):
            inner["seed"] += branch_index
        if isinstance(init, BranchUniform) and inner.get("fan_in") is None and fan_in:
            inner["fan_in"] = int(fan_in)
    return keras.initializers.deserialize(config)
