"""Argument checks shared by the model builders."""

import numbers


def positive_int(value, name):
    """Raises a ValueError naming ``name`` unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive int. Received: {name}={value!r}")


def check_input_shape(input_shape):
    """Raises a ValueError unless ``input_shape`` is (height, width, channels) of positive ints."""
    if len(input_shape) != 3 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        raise ValueError(
            "Argument `input_shape` must be (height, width, channels) of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
