"""Models built from polynomial layers, and the named presets of the scripts (`get_model`)."""

from pinet_keras.models.bounds import polynomial_layers
from pinet_keras.models.bounds import set_output_ranges
from pinet_keras.models.degree import polynomial_degree
from pinet_keras.models.fast_net import FastNet
from pinet_keras.models.fast_net import adapt_whitening
from pinet_keras.models.pi_resnet import PiResNet
from pinet_keras.models.polynet import DEFAULT_BLOCKS
from pinet_keras.models.polynet import ORIGINAL_BLOCKS
from pinet_keras.models.polynet import PolyNet
from pinet_keras.models.preprocessing import INPUT_NORMALIZATIONS
from pinet_keras.models.preprocessing import has_pixel_preprocessing
from pinet_keras.models.preprocessing import pixel_preprocessing
from pinet_keras.models.preprocessing import preprocessing_config
from pinet_keras.models.registry import MODELS
from pinet_keras.models.registry import get_model

__all__ = [
    "DEFAULT_BLOCKS",
    "FastNet",
    "ORIGINAL_BLOCKS",
    "INPUT_NORMALIZATIONS",
    "MODELS",
    "PiResNet",
    "PolyNet",
    "adapt_whitening",
    "get_model",
    "has_pixel_preprocessing",
    "pixel_preprocessing",
    "polynomial_degree",
    "polynomial_layers",
    "preprocessing_config",
    "set_output_ranges",
]
