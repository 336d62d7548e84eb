"""Models built from polynomial layers."""

from pinet_keras.models.degree import polynomial_degree
from pinet_keras.models.polynet import DEFAULT_BLOCKS
from pinet_keras.models.polynet import PolyNet

__all__ = ["DEFAULT_BLOCKS", "PolyNet", "polynomial_degree"]
