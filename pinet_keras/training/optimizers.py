"""Optimizers and learning-rate schedules by name, as the scripts ask for them."""

import keras

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step")


def learning_rate_schedule(learning_rate, schedule, total_steps, warmup_steps=0):
    """Returns a float or a `LearningRateSchedule` over ``total_steps`` steps.

    ``"cosine"`` decays to 0 after an optional linear warm-up; ``"step"``
    divides by 10 at 50% and again at 75% of training.

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
    boundaries = [int(total_steps * 0.5), int(total_steps * 0.75)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [learning_rate, learning_rate * 0.1, learning_rate * 0.01]
    )


def build_optimizer(
    name="adam",
    learning_rate=1e-3,
    schedule="constant",
    total_steps=1,
    warmup_steps=0,
    weight_decay=0.0,
    clipnorm=None,
):
    """Builds a Keras optimizer by name.

    Weight decay is decoupled (Keras applies it to the variables directly)
    and spares biases and normalization parameters.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}. Available: {', '.join(OPTIMIZERS)}.")
    if weight_decay < 0:
        raise ValueError(f"Argument `weight_decay` must be >= 0. Received: {weight_decay}")
    lr = learning_rate_schedule(learning_rate, schedule, total_steps, warmup_steps)
    kwargs = dict(learning_rate=lr, weight_decay=weight_decay or None, clipnorm=clipnorm)
    if name == "adam":
        optimizer = keras.optimizers.Adam(**kwargs)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(**{**kwargs, "weight_decay": weight_decay})
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(momentum=0.9, nesterov=True, **kwargs)
    else:
        optimizer = keras.optimizers.RMSprop(**kwargs)
    if weight_decay:
        optimizer.exclude_from_weight_decay(
            var_names=["bias", "gamma", "beta", "product_scale", "moving_mean", "moving_variance"]
        )
    return optimizer
