"""Polynomial layers: two linear branches multiplied elementwise."""

from pinet_keras.layers.polynomial_base import PolynomialBase
from pinet_keras.layers.polynomial_conv2d import PolynomialConv2D
from pinet_keras.layers.polynomial_dense import PolynomialDense

__all__ = ["PolynomialBase", "PolynomialConv2D", "PolynomialDense"]
