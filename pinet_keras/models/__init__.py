"""Models built from polynomial layers."""

from pinet_keras.models.degree import polynomial_degree
from pinet_keras.models.pi_resnet import PiResNet
from pinet_keras.models.polynet import DEFAULT_BLOCKS
from pinet_keras.models.polynet import PolyNet
from pinet_keras.models.registry import MODELS
from pinet_keras.models.registry import get_model
from pinet_keras.models.registry import register_model

__all__ = [
    "DEFAULT_BLOCKS",
    "MODELS",
    "PiResNet",
    "PolyNet",
    "get_model",
    "polynomial_degree",
    "register_model",
]
