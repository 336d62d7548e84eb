"""`PolyNetHyperModel`: PolyNet's architecture and training recipe as a KerasTuner search space."""

import keras_tuner

from pinet_keras import _optional
from pinet_keras.models import PolyNet
from pinet_keras.models import pixel_preprocessing
from pinet_keras.training import TrainConfig
from pinet_keras.training import compile_model
from pinet_keras.tuning.space import check_fixed
from pinet_keras.tuning.space import declare_hyperparameters

# Validation batches do not change the metrics, only the speed.
VALIDATION_BATCH_SIZE = 256


class PolyNetHyperModel(keras_tuner.HyperModel):
    """A `PolyNet` whose architecture, optimizer and batch size are searched.

    `build(hp)` returns a PolyNet compiled by `pinet_keras.training.compile_model`
    (the optimizer of `build_optimizer`, `pinet_keras.LabelSmoothingCrossentropy`
    on logits, accuracy), exactly as `pinet-keras train` compiles it, with a
    constant learning rate. Like a model that `pinet_keras.training` trains,
    it takes raw pixels (``0..255``): its first layers are
    `pinet_keras.models.pixel_preprocessing`'s (the input-range guard,
    augmentation if asked, ``input_normalization``), not searched.
    `fit(hp, model, train, validation_data=...)`
    batches the *unbatched* ``tf.data`` datasets it is given with the trial's
    ``batch_size`` (arrays are passed to Keras with ``batch_size=``), so the
    tuner can search the batch size too. The objective is ``val_accuracy``:
    ``fit`` needs ``validation_data``.

    Search space (`SEARCH_SPACE`; the defaults are the original experiment's
    recipe, `pinet-keras train`'s default run):

    | hyperparameter | kind | values | default | active | notes |
    |---|---|---|---|---|---|
    | width | choice | 8, 16, 32 | 16 | always | block i: width * (1, 2, 4, 8, 16)[i] filters |
    | num_blocks | int | 1 .. 5 | 5 | always | `DEFAULT_BLOCKS`' first rows; degree 2**num_blocks |
    | use_skip | boolean | False, True | False | always | first-order term: A(x) ⊙ B(x) + A(x) |
    | batch_norm | boolean | False, True | False | always | normalization="batch" in every block |
    | dropout | choice | 0.0, 0.1, 0.25, 0.5 | 0.0 | always | dropout before the dense head |
    | optimizer | choice | adam, adamw, sgd | adam | always | sgd: Nesterov momentum 0.9 |
    | learning_rate | float, log | 0.0001 .. 0.01 | 0.001 | always | constant over training |
    | weight_decay | float, log | 1e-05 .. 0.1 | 0.0001 | optimizer in adamw, sgd | decoupled |
    | batch_size | choice | 32, 64, 128, 256 | 128 | always | used by `fit` |

    ``weight_decay`` is conditional: `build_optimizer` decays the weights
    the same decoupled way for every optimizer, so Adam with weight decay
    would be AdamW again; here ``adam`` is plain Adam (the original recipe)
    and ``adamw`` is Adam with decay.

    Args:
        input_shape: ``(height, width, channels)`` of the images.
        num_classes: number of classes (logits).
        fixed: optional ``{name: value}``: hyperparameters registered with
            ``hp.Fixed`` instead of being searched (see `parse_fixed`).
        label_smoothing, clipnorm: passed to `compile_model`, not searched.
        input_normalization: ``"unit"`` (pixels / 255) or ``"standardize"``;
            see `pixel_preprocessing`.
        pixel_mean, pixel_variance: for ``"standardize"``, the per-channel
            statistics of the raw training pixels (``PipelineInfo.pixel_mean``
            and ``pixel_variance`` of `search_datasets`).
        augmentation: ``None``, or ``(padding, flip)`` such as
            ``pinet_keras.data.AUGMENTATIONS[dataset]``: random translations
            (and flips) during training, the identity at inference.
        seed: seed of the augmentation layers.
        name, tunable: see `keras_tuner.HyperModel`.

    Example:

    >>> import keras_tuner
    >>> from pinet_keras.tuning import SEARCH_SPACE
    >>> hypermodel = PolyNetHyperModel((28, 28, 1), 10)
    >>> hp = keras_tuner.HyperParameters()
    >>> model = hypermodel.build(hp)  # the default values
    >>> model.count_params()
    1220362
    >>> [layer.name for layer in model.layers[:2]]  # raw pixels in
    ['pixel_range', 'rescaling']
    >>> sorted(p.name for p in hp.space) == sorted(SEARCH_SPACE)
    True
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        fixed=None,
        label_smoothing=0.0,
        clipnorm=None,
        input_normalization="unit",
        pixel_mean=None,
        pixel_variance=None,
        augmentation=None,
        seed=None,
        name="polynet",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.fixed = check_fixed(fixed or {})
        self.label_smoothing = label_smoothing
        self.clipnorm = clipnorm
        self.input_normalization = input_normalization
        self.pixel_mean = pixel_mean
        self.pixel_variance = pixel_variance
        self.augmentation = None if augmentation is None else tuple(augmentation)
        self.seed = seed
        self.preprocessing()  # checks the arguments before any trial

    def values(self, hp):
        """Registers the search space on ``hp`` and returns the trial's values."""
        return declare_hyperparameters(hp, self.fixed)

    def preprocessing(self):
        """New layers that put raw pixels into the form the trial's model is trained on."""
        return pixel_preprocessing(
            self.input_shape,
            self.input_normalization,
            mean=self.pixel_mean,
            variance=self.pixel_variance,
            augmentation=self.augmentation,
            seed=self.seed,
        )

    def build(self, hp):
        v = self.values(hp)
        model = PolyNet(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            preprocessing=self.preprocessing(),
            width=v["width"],
            num_blocks=v["num_blocks"],
            use_skip=v["use_skip"],
            normalization="batch" if v["batch_norm"] else None,
            dropout=v["dropout"],
        )
        config = TrainConfig(
            optimizer=v["optimizer"],
            learning_rate=v["learning_rate"],
            lr_schedule="constant",
            weight_decay=v["weight_decay"] or 0.0,
            label_smoothing=self.label_smoothing,
            clipnorm=self.clipnorm,
        )
        # A constant rate does not depend on the number of steps.
        return compile_model(model, config, steps_per_epoch=1)

    def fit(self, hp, model, x, y=None, validation_data=None, **kwargs):
        if validation_data is None:
            raise ValueError(
                "PolyNetHyperModel.fit needs `validation_data`: the objective is val_accuracy "
                "on a validation split carved from the training data."
            )
        batch_size = self.values(hp)["batch_size"]
        if _is_dataset(x):
            if y is not None:
                raise ValueError("Pass labels inside the dataset, not as `y`.")
            x = _batch(x, batch_size, len(self.input_shape))
            # A dataset shuffles itself (`search_datasets` does, every epoch).
            kwargs.setdefault("shuffle", False)
            if _is_dataset(validation_data):
                validation_data = _batch(
                    validation_data, max(batch_size, VALIDATION_BATCH_SIZE), len(self.input_shape)
                )
        else:
            kwargs["batch_size"] = batch_size
        return model.fit(x, y, validation_data=validation_data, **kwargs)


def _is_dataset(data):
    tf = _optional.tensorflow("A tf.data search")
    return isinstance(data, tf.data.Dataset)


def _batch(dataset, batch_size, image_rank):
    """Batches an unbatched ``(image, label)`` dataset; re-batches a batched one."""
    tf = _optional.tensorflow("A tf.data search")
    rank = dataset.element_spec[0].shape.rank
    if rank == image_rank + 1:
        dataset = dataset.unbatch()
    elif rank != image_rank:
        raise ValueError(
            f"Expected a dataset of (image, label) with images of rank {image_rank}, "
            f"unbatched or batched. Received element_spec={dataset.element_spec}."
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
