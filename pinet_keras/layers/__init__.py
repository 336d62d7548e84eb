"""Polynomial layers (two linear branches multiplied elementwise) and the input-range guard."""

from pinet_keras.layers.augmentation import RandomFlip
from pinet_keras.layers.augmentation import RandomTranslation
from pinet_keras.layers.pixel_range import PixelRange
from pinet_keras.layers.polynomial_base import PolynomialBase
from pinet_keras.layers.polynomial_conv2d import PolynomialConv2D
from pinet_keras.layers.polynomial_dense import PolynomialDense

__all__ = ["PixelRange", "PolynomialBase", "PolynomialConv2D", "PolynomialDense", "RandomFlip", "RandomTranslation"]
