"""Named model presets, for scripts and the tuner: ``get_model("polynet_bn", ...)``."""

from pinet_keras.models.polynet import PolyNet

# Each preset is a builder and its default arguments; any argument can be
# overridden by the caller.
MODELS = {
    # The original five-block network, exactly.
    "polynet": (PolyNet, {}),
    # Batch-normalized product and first-order skip in every block, dropout
    # before the head: the regularized variant for long training runs.
    "polynet_bn": (PolyNet, {"normalization": "batch", "use_skip": True, "dropout": 0.3}),
}


def register_model(name, builder, **defaults):
    """Adds a preset (used by the package for models defined elsewhere)."""
    MODELS[name] = (builder, defaults)


def get_model(name, input_shape, num_classes, **overrides):
    """Builds the preset ``name`` for ``input_shape`` and ``num_classes``.

    Arguments whose value is ``None`` in ``overrides`` are ignored, so that
    unset command-line flags keep the preset's value.

    Example:

    >>> model = get_model("polynet_bn", (28, 28, 1), 10, width=8)
    >>> model.get_layer("block1").normalization
    'batch'
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Available: {', '.join(sorted(MODELS))}.")
    builder, defaults = MODELS[name]
    kwargs = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
    return builder(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
