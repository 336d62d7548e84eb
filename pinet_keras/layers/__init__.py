"""Polynomial layers (linear maps of one input multiplied elementwise) and the input-range guard."""

from pinet_keras.layers.augmentation import RandomFlip
from pinet_keras.layers.augmentation import RandomTranslation
from pinet_keras.layers.folded import FoldedPolynomial
from pinet_keras.layers.normalization import InstanceBatchNormalization
from pinet_keras.layers.pixel_range import PixelRange
from pinet_keras.layers.polynomial_base import FORMS
from pinet_keras.layers.polynomial_base import PRODUCT_NORMALIZATIONS
from pinet_keras.layers.polynomial_base import PolynomialBase
from pinet_keras.layers.polynomial_conv import PolynomialConv1D
from pinet_keras.layers.polynomial_conv import PolynomialConv2D
from pinet_keras.layers.polynomial_conv import PolynomialConv3D
from pinet_keras.layers.polynomial_dense import PolynomialDense
from pinet_keras.layers.regularization import DropBlock2D
from pinet_keras.layers.regularization import StochasticDepth
from pinet_keras.layers.whitening import PatchWhitening

__all__ = [
    "DropBlock2D",
    "FORMS",
    "FoldedPolynomial",
    "InstanceBatchNormalization",
    "PRODUCT_NORMALIZATIONS",
    "PatchWhitening",
    "PixelRange",
    "PolynomialBase",
    "PolynomialConv1D",
    "PolynomialConv2D",
    "PolynomialConv3D",
    "PolynomialDense",
    "RandomFlip",
    "RandomTranslation",
    "StochasticDepth",
]
