"""pinet_keras: polynomial neural networks (Π-nets) for Keras 3.

A Π-net has no activation function: each block multiplies the outputs of
two linear branches elementwise, so ``n`` stacked blocks make a polynomial
of degree ``2**n`` in the input (Chrysos et al., "Π-nets: Deep Polynomial
Neural Networks", CVPR 2020).

Example:

>>> from pinet_keras import PolyNet, polynomial_degree
>>> model = PolyNet(input_shape=(28, 28, 1), num_classes=10)
>>> polynomial_degree(model)
32
"""

from pinet_keras.initializers import BranchUniform
from pinet_keras.layers import PixelRange
from pinet_keras.layers import PolynomialConv1D
from pinet_keras.layers import PolynomialConv2D
from pinet_keras.layers import PolynomialConv3D
from pinet_keras.layers import PolynomialDense
from pinet_keras.losses import Accuracy
from pinet_keras.losses import LabelSmoothingCrossentropy
from pinet_keras.models import FastNet
from pinet_keras.models import PiResNet
from pinet_keras.models import PolyNet
from pinet_keras.models import get_model
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models import polynomial_degree

# Registers the optimizers that `.keras` files trained with weight decay name.
from pinet_keras.training import optimizers as _optimizers  # noqa: F401, E402

__version__ = "0.3.0"

__all__ = [
    "Accuracy",
    "BranchUniform",
    "FastNet",
    "LabelSmoothingCrossentropy",
    "PiResNet",
    "PixelRange",
    "PolyNet",
    "PolynomialConv1D",
    "PolynomialConv2D",
    "PolynomialConv3D",
    "PolynomialDense",
    "get_model",
    "pixel_preprocessing",
    "polynomial_degree",
]


def __getattr__(name):
    # The loss's name in pinet_keras 0.1 and 0.2, Keras' own class name with
    # another default: kept one release, with a warning.
    if name == "SparseCategoricalCrossentropy":
        import warnings

        from pinet_keras.losses import _SparseCategoricalCrossentropy

        warnings.warn(
            "pinet_keras.SparseCategoricalCrossentropy is deprecated: use "
            "pinet_keras.LabelSmoothingCrossentropy(from_logits=True, ...).",
            DeprecationWarning,
            stacklevel=2,
        )
        return _SparseCategoricalCrossentropy
    raise AttributeError(f"module 'pinet_keras' has no attribute {name!r}")
