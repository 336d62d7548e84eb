"""Polynomial layers (linear maps of one input multiplied elementwise) and the input-range guard."""

from pinet_keras.layers.augmentation import RandomFlip
from pinet_keras.layers.augmentation import RandomTranslation
from pinet_keras.layers.pixel_range import PixelRange
from pinet_keras.layers.polynomial_base import FORMS
from pinet_keras.layers.polynomial_base import PRODUCT_NORMALIZATIONS
from pinet_keras.layers.polynomial_base import PolynomialBase
from pinet_keras.layers.polynomial_conv import PolynomialConv1D
from pinet_keras.layers.polynomial_conv import PolynomialConv2D
from pinet_keras.layers.polynomial_conv import PolynomialConv3D
from pinet_keras.layers.polynomial_dense import PolynomialDense

__all__ = [
    "FORMS",
    "PRODUCT_NORMALIZATIONS",
    "PixelRange",
    "PolynomialBase",
    "PolynomialConv1D",
    "PolynomialConv2D",
    "PolynomialConv3D",
    "PolynomialDense",
    "RandomFlip",
    "RandomTranslation",
]
