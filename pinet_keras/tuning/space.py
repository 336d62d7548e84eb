"""The search space of `PolyNetHyperModel`, as data, and its registration on a `HyperParameters`."""

import contextlib

# One entry per hyperparameter, in the order they are registered. "type" is
# the KerasTuner kind (choice, int, float, boolean); "when" makes the entry
# conditional on a parent's values. The defaults are the original
# experiment's recipe, which is also `pinet-keras train`'s default run.
SEARCH_SPACE = {
    "width": {"type": "choice", "values": (8, 16, 32), "default": 16},
    "num_blocks": {"type": "int", "min": 1, "max": 5, "default": 5},
    "use_skip": {"type": "boolean", "default": False},
    # The layers' normalization="batch" (True) or None (False).
    "batch_norm": {"type": "boolean", "default": False},
    "dropout": {"type": "choice", "values": (0.0, 0.1, 0.25, 0.5), "default": 0.0},
    "optimizer": {"type": "choice", "values": ("adam", "adamw", "sgd"), "default": "adam"},
    "learning_rate": {
        "type": "float",
        "min": 1e-4,
        "max": 1e-2,
        "sampling": "log",
        "default": 1e-3,
    },
    "weight_decay": {
        "type": "float",
        "min": 1e-5,
        "max": 1e-1,
        "sampling": "log",
        "default": 1e-4,
        "when": ("optimizer", ("adamw", "sgd")),
    },
    "batch_size": {"type": "choice", "values": (32, 64, 128, 256), "default": 128},
}


def _register(hp, name, spec, fixed):
    if name in fixed:
        return hp.Fixed(name, fixed[name])
    kind = spec["type"]
    if kind == "choice":
        return hp.Choice(name, list(spec["values"]), default=spec["default"])
    if kind == "int":
        return hp.Int(name, spec["min"], spec["max"], default=spec["default"])
    if kind == "float":
        return hp.Float(
            name, spec["min"], spec["max"], sampling=spec.get("sampling"), default=spec["default"]
        )
    if kind == "boolean":
        return hp.Boolean(name, default=spec["default"])
    raise ValueError(f"Unknown hyperparameter type {kind!r} for {name!r}.")


def declare_hyperparameters(hp, fixed=None):
    """Registers `SEARCH_SPACE` on ``hp`` and returns the current values.

    ``fixed`` maps names to values registered as ``hp.Fixed`` instead (not
    searched). A conditional hyperparameter whose condition does not hold
    (``weight_decay`` with ``optimizer="adam"``) has the value ``None``.
    Registering again is harmless: KerasTuner keeps the first registration
    and returns the values it already holds.
    """
    fixed = check_fixed(fixed or {})
    values = {}
    for name, spec in SEARCH_SPACE.items():
        when = spec.get("when")
        scope = hp.conditional_scope(when[0], list(when[1])) if when else contextlib.nullcontext()
        with scope:
            values[name] = _register(hp, name, spec, fixed)
    return values


def check_fixed(fixed):
    """Returns ``fixed`` if each of its names is in `SEARCH_SPACE`, else raises `ValueError`."""
    unknown = sorted(set(fixed) - set(SEARCH_SPACE))
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {', '.join(unknown)} to fix. "
            f"Known: {', '.join(SEARCH_SPACE)}."
        )
    return dict(fixed)


def parse_fixed(assignments):
    """Parses ``["width=8", "use_skip=true", ...]`` into ``{"width": 8, "use_skip": True}``.

    Each value takes the type of its hyperparameter in `SEARCH_SPACE`; it
    does not have to be one of the searched values (``width=4`` is fine).

    Example:

    >>> parse_fixed(["width=8", "optimizer=sgd", "use_skip=false", "learning_rate=3e-3"])
    {'width': 8, 'optimizer': 'sgd', 'use_skip': False, 'learning_rate': 0.003}
    """
    fixed = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not text:
            raise ValueError(
                f"Expected name=value to fix a hyperparameter. Received: {assignment!r}"
            )
        check_fixed({name: None})
        if name in fixed:
            raise ValueError(
                f"{name} is fixed twice (--fix={name}={fixed[name]} and {assignment!r}); "
                "fix each hyperparameter once."
            )
        spec = SEARCH_SPACE[name]
        try:
            if spec["type"] == "boolean":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1")
            elif spec["type"] == "int" or (
                spec["type"] == "choice" and isinstance(spec["values"][0], int)
            ):
                value = int(text)
            elif spec["type"] == "float" or (
                spec["type"] == "choice" and isinstance(spec["values"][0], float)
            ):
                value = float(text)
            else:
                value = text
        except ValueError:
            if spec["type"] == "boolean":
                kind = "true or false"
            elif "values" in spec:
                kind = "like " + ", ".join(str(v) for v in spec["values"])
            else:
                kind = f"searched between {spec['min']} and {spec['max']}"
            raise ValueError(
                f"Cannot parse {text!r} as a value of {name} ({spec['type']}); "
                f"pass --fix={name}=<value>, {kind}."
            ) from None
        fixed[name] = value
    return fixed
