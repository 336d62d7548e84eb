"""The optional dependencies, imported one way (private).

The layers and models need only Keras and NumPy. TensorFlow (``tf.data``,
``tf.distribute``, export), TensorFlow Datasets, LiteRT (``ai-edge-litert``),
matplotlib and KerasTuner are imported where they are used, through
`require` (the module, or an `ImportError` that says what needs it and how
to install it) or `available` (whether it can be imported, without
importing it):

>>> from pinet_keras import _optional
>>> _optional.available("numpy")
True
>>> _optional.require("no_such_module", "this example")
Traceback (most recent call last):
...
ImportError: this example needs no_such_module, which cannot be imported (...); install it (...).
"""

import importlib
import importlib.util

# How messages name a module, where not by its import name.
_NAMES = {
    "tensorflow": "TensorFlow",
    "tensorflow_datasets": "TensorFlow Datasets",
    "ai_edge_litert": "LiteRT (ai-edge-litert)",
    "keras_tuner": "keras-tuner",
    "PIL": "Pillow",
    "sklearn": "scikit-learn",
}
# What installs each optional module: the extra of setup.cfg, or the package.
_INSTALL = {
    "tensorflow": "pip install tensorflow",
    "tensorflow_datasets": 'pip install "pinet_keras[data]"',
    "ai_edge_litert": 'pip install "pinet_keras[litert]"',
    "matplotlib": 'pip install "pinet_keras[examples]"',
    "keras_tuner": 'pip install "pinet_keras[tuning]"',
    "PIL": 'pip install "pinet_keras[data]"',
    "sklearn": 'pip install "pinet_keras[data]"',
}


def available(name):
    """Whether the module ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        # A parent package that fails to import, or a module set to None in
        # `sys.modules` (how tests hide one).
        return False


def require(name, purpose=None, alternative=None):
    """Imports and returns the module ``name``.

    Raises:
        ImportError: the module cannot be imported; the message names
            ``purpose`` (what needs it), the install command and the
            ``alternative`` (what to do without it) if any, and keeps the
            original error as its cause.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        top = name.split(".")[0]
        display = _NAMES.get(top, top)
        what = f"{purpose} needs {display}" if purpose else f"{display} is needed"
        install = _INSTALL.get(top, f"pip install {top}")
        alternative = f" or {alternative}" if alternative else ""
        raise ImportError(
            f"{what}, which cannot be imported ({error}); install it ({install}){alternative}."
        ) from error


def tensorflow(purpose=None, alternative=None):
    """The ``tensorflow`` module (`require`)."""
    return require("tensorflow", purpose, alternative)


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only)."""
    matplotlib = require("matplotlib", "Plotting")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "Plotting")
