"""Mixed precision: rebuild a model in float32 with the same weights before export."""

import keras
import numpy as np

from pinet_keras import _compat

_FLOAT_DTYPES = ("float16", "bfloat16", "float64")
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")


def is_float32(model):
    """Whether every layer of ``model`` computes and stores in float32."""
    for layer in [model] + _compat.sublayers(model):
        policy = getattr(layer, "dtype_policy", None)
        if policy is None:
            continue
        if policy.compute_dtype != "float32" or policy.variable_dtype != "float32":
            return False
    return True


def as_float32(model):
    """Returns ``model`` itself if it is float32, else a float32 copy with its weights.

    A model under a mixed precision policy (``mixed_float16``,
    ``mixed_bfloat16``) keeps float32 variables but computes in half
    precision; converted as is, its casts need Flex (SELECT_TF_OPS) kernels
    that the LiteRT interpreter does not have. The copy is rebuilt from the
    model's configuration with every dtype policy set to float32 (so is a
    ``float64`` or ``float16`` model) and receives the same weights, cast to
    float32.

    Raises:
        ValueError: if the model cannot be rebuilt from its configuration
            (a custom layer that is not registered with
            ``keras.saving.register_keras_serializable``).
    """
    if is_float32(model):
        return model
    return with_float_dtype(model, "float32")


def with_float_dtype(model, dtype):
    """A copy of ``model`` computing and storing in ``dtype`` (e.g. ``"float16"``), same weights.

    Every floating dtype policy of the model becomes ``dtype``; the weights
    are cast to it. `as_float32` is ``with_float_dtype(model, "float32")``
    (for a model that is not float32 already); ``"float16"`` gives a model
    that computes as a float16 GPU delegate does, for checking overflow.
    """
    config = _float32_config(keras.saving.serialize_keras_object(model), dtype)
    try:
        rebuilt = keras.saving.deserialize_keras_object(config)
    except Exception as error:
        raise ValueError(
            f"Cannot rebuild model {model.name!r} in {dtype} from its configuration "
            f"({str(error).splitlines()[0][:300]}). Register its custom layers with "
            "keras.saving.register_keras_serializable, or rebuild it in float32 yourself."
        ) from error
    if not rebuilt.built:
        rebuilt.build(model.input_shape)
    weights = model.get_weights()
    expected = [tuple(w.shape) for w in rebuilt.weights]
    if [tuple(w.shape) for w in weights] != expected:
        raise ValueError(
            f"The {dtype} rebuild of model {model.name!r} does not have the same weights "
            f"as the original; cannot rebuild it in {dtype}."
        )
    rebuilt.set_weights([np.asarray(w, dtype=dtype) for w in weights])
    return rebuilt


def _float32_config(value, dtype="float32"):
    """Replaces every floating dtype policy in a serialized model by ``dtype``."""
    if isinstance(value, list):
        return [_float32_config(v, dtype) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") in _POLICY_CLASSES and isinstance(value.get("config"), dict):
        name = value["config"].get("name", "")
        if name.startswith("mixed_") or name in _FLOAT_DTYPES + ("float32",):
            return {**value, "config": {**value["config"], "name": dtype}}
        return value
    result = {}
    for key, item in value.items():
        if (
            key == "dtype"
            and isinstance(item, str)
            and (item.startswith("mixed_") or item in _FLOAT_DTYPES + ("float32",))
        ):
            result[key] = dtype
        else:
            result[key] = _float32_config(item, dtype)
    return result
