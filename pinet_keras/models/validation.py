"""Argument checks shared by the model builders."""

import numbers


def positive_int(value, name):
    """Raises a ValueError naming ``name`` unless ``value`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive int. Received: {name}={value!r}")


def positive_ints(values, name):
    """``values`` as a tuple of ints; a ValueError naming ``name`` unless all are positive."""
    given = values
    values = tuple(values) if isinstance(values, (list, tuple)) else None
    if not values or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0 for v in values
    ):
        raise ValueError(
            f"Argument `{name}` must be a non-empty sequence of positive ints, like (16, 32). "
            f"Received: {name}={given!r}"
        )
    return tuple(int(v) for v in values)


def rate(value, name):
    """Raises a ValueError naming ``name`` unless ``value`` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"Argument `{name}` must be in [0, 1). Received: {name}={value!r}")


def check_input_shape(input_shape):
    """Raises a ValueError unless ``input_shape`` is (height, width, channels) of positive ints."""
    if len(input_shape) != 3 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in input_shape
    ):
        raise ValueError(
            "Argument `input_shape` must be (height, width, channels) of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
