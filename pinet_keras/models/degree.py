"""`polynomial_degree`: the degree of a model as a polynomial of its input."""

from __future__ import annotations

import keras

from pinet_keras import _compat

# Layers that are affine maps of their single input (batch normalization at
# inference, average pooling and resizing by interpolation included).
_AFFINE = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.BatchNormalization,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Identity,
    keras.layers.InputLayer,
    keras.layers.RandomFlip,
    keras.layers.RandomTranslation,
    keras.layers.RandomCrop,
)
_MAX_OF_INPUTS = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Concatenate,
)


def _layer_degree(layer, input_degrees):
    if isinstance(layer, keras.Model):
        return model_degree(layer) * max(input_degrees)
    if isinstance(layer, keras.layers.Multiply):
        return sum(input_degrees)
    if isinstance(layer, _MAX_OF_INPUTS):
        return max(input_degrees)
    if isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] == "linear":
        return max(input_degrees)
    if isinstance(layer, _AFFINE):
        activation = getattr(layer, "activation", None)
        if activation is not None and getattr(activation, "__name__", "linear") != "linear":
            raise ValueError(
                f"Layer {layer.name!r} has activation {activation.__name__!r}: "
                "the model is not a polynomial of its input."
            )
        return max(input_degrees)
    degree = getattr(layer, "degree", None)
    if isinstance(degree, int):
        return degree * max(input_degrees)
    raise ValueError(
        f"Layer {layer.name!r} ({type(layer).__name__}) is not known to be polynomial: "
        "give it an int `degree` attribute if it is."
    )


def model_degree(model):
    if isinstance(model, keras.Sequential):
        degree = 1
        for layer in model.layers:
            degree = _layer_degree(layer, [degree])
        return degree
    cache = {}

    def tensor_degree(tensor):
        key = id(tensor)
        if key not in cache:
            operation, inputs = _compat.producer(tensor)
            if isinstance(operation, keras.layers.InputLayer):
                cache[key] = 1
            else:
                cache[key] = _layer_degree(operation, [tensor_degree(t) for t in inputs])
        return cache[key]

    return max(tensor_degree(t) for t in keras.tree.flatten(model.outputs))


def polynomial_degree(model_or_layer) -> int:
    """Returns the degree of a model (or layer) as a polynomial of its input.

    Polynomial layers contribute their ``degree`` attribute (``N`` for a
    `PolynomialConv2D` of ``degree=N``, 2 by default); affine layers (convolutions and dense layers
    without activation, flatten, dropout, batch normalization at inference,
    average pooling) keep the degree; ``Multiply`` adds the degrees of its
    inputs and ``Add`` / ``Concatenate`` take their maximum. Raises a
    ``ValueError`` naming the first layer that is not polynomial (a ReLU,
    max pooling, ...).

    Example:

    >>> from pinet_keras import PolyNet
    >>> polynomial_degree(PolyNet())
    32
    """
    if isinstance(model_or_layer, keras.Model):
        return model_degree(model_or_layer)
    return _layer_degree(model_or_layer, [1])
