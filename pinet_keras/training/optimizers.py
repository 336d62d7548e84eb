"""Optimizers and learning-rate schedules by name, as the scripts ask for them."""

import keras

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "multistep")
# Variables spared by weight decay, by name: biases (both branches of a
# polynomial block), normalization parameters and statistics, product scales.
WEIGHT_DECAY_EXCLUSIONS = (
    "bias",
    "gamma",
    "beta",
    "product_scale",
    "moving_mean",
    "moving_variance",
)


class _WeightDecayExclusions:
    """Makes `exclude_from_weight_decay(var_names=...)` part of the optimizer's config.

    Keras does not save the exclusions, so an optimizer restored from a
    ``.keras`` file would decay every variable. Here they are a constructor
    argument, ``weight_decay_exclusions`` (patterns searched in each
    variable's path), stored by `get_config`.
    """

    def __init__(self, *args, weight_decay_exclusions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_decay_exclusions = list(weight_decay_exclusions or ())
        if self.weight_decay_exclusions:
            self.exclude_from_weight_decay(var_names=self.weight_decay_exclusions)

    def get_config(self):
        config = super().get_config()
        config["weight_decay_exclusions"] = list(self.weight_decay_exclusions)
        return config


@keras.saving.register_keras_serializable(package="pinet_keras")
class Adam(_WeightDecayExclusions, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose weight-decay exclusions survive a save."""


@keras.saving.register_keras_serializable(package="pinet_keras")
class AdamW(_WeightDecayExclusions, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose weight-decay exclusions survive a save."""


@keras.saving.register_keras_serializable(package="pinet_keras")
class SGD(_WeightDecayExclusions, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose weight-decay exclusions survive a save."""


@keras.saving.register_keras_serializable(package="pinet_keras")
class RMSprop(_WeightDecayExclusions, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` whose weight-decay exclusions survive a save."""


def learning_rate_schedule(learning_rate, schedule, total_steps, warmup_steps=0):
    """Returns a float or a `LearningRateSchedule` over ``total_steps`` steps.

    ``"cosine"`` decays to 0 after an optional linear warm-up; ``"step"``
    divides by 10 at 50% and again at 75% of training; ``"multistep"``
    divides by 10 at 1/3, 1/2, 2/3 and 5/6 of training (the R-PolyNets
    authors' epochs 40, 60, 80 and 100 of 120).

    Example:

    >>> lr = learning_rate_schedule(0.1, "step", total_steps=100)
    >>> float(lr(80))
    0.001...
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}. Available: {', '.join(SCHEDULES)}.")
    if learning_rate <= 0:
        raise ValueError(f"Argument `learning_rate` must be positive. Received: {learning_rate}")
    if schedule == "constant":
        return learning_rate
    total_steps = max(1, int(total_steps))
    if schedule == "cosine":
        warmup_steps = min(int(warmup_steps), total_steps - 1)
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=0.0,
                decay_steps=total_steps - warmup_steps,
                warmup_target=learning_rate,
                warmup_steps=warmup_steps,
            )
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    fractions = (1 / 2, 3 / 4) if schedule == "step" else (1 / 3, 1 / 2, 2 / 3, 5 / 6)
    boundaries = [int(round(total_steps * f)) for f in fractions]
    values = [learning_rate * 0.1**i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def build_optimizer(
    name="adam",
    learning_rate=1e-3,
    schedule="constant",
    total_steps=1,
    warmup_steps=0,
    weight_decay=0.0,
    clipnorm=None,
    nesterov=True,
):
    """Builds a Keras optimizer by name.

    ``"sgd"`` has momentum 0.9, Nesterov's unless ``nesterov=False``.

    Weight decay is decoupled (Keras applies it to the variables directly)
    and spares biases, normalization parameters and product scales
    (`WEIGHT_DECAY_EXCLUSIONS`). With weight decay the optimizer is one of
    this module's subclasses, which keep these exclusions in a saved
    ``.keras`` file; loading such a file needs ``import pinet_keras`` first.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}. Available: {', '.join(OPTIMIZERS)}.")
    if weight_decay < 0:
        raise ValueError(f"Argument `weight_decay` must be >= 0. Received: {weight_decay}")
    lr = learning_rate_schedule(learning_rate, schedule, total_steps, warmup_steps)
    kwargs = dict(learning_rate=lr, weight_decay=weight_decay or None, clipnorm=clipnorm)
    if weight_decay:
        # Subclasses that save the exclusions; Keras' own classes otherwise,
        # so that a model trained without decay loads without this package.
        classes = dict(adam=Adam, adamw=AdamW, sgd=SGD, rmsprop=RMSprop)
        kwargs["weight_decay_exclusions"] = list(WEIGHT_DECAY_EXCLUSIONS)
    else:
        opt = keras.optimizers
        classes = dict(adam=opt.Adam, adamw=opt.AdamW, sgd=opt.SGD, rmsprop=opt.RMSprop)
    if name == "adamw":
        kwargs["weight_decay"] = weight_decay
    if name == "sgd":
        kwargs.update(momentum=0.9, nesterov=bool(nesterov))
    return classes[name](**kwargs)
