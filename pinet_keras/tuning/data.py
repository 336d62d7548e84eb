"""`search_datasets`: unbatched training and validation data for a search; the test split apart."""

import collections

from pinet_keras.data import make_datasets

SearchData = collections.namedtuple("SearchData", ["train", "validation", "test", "info"])
SearchData.__doc__ = """What `search_datasets` returns.

Attributes:
    train: unbatched `tf.data.Dataset` of `(uint8 image HWC, int64 label)`:
        raw pixels, shuffled every epoch; `PolyNetHyperModel.fit` batches it
        with the trial's batch size. The trial's model normalizes (and
        augments) them itself, in its first layers.
    validation: the same, carved from the training split, not shuffled.
    test: batched dataset of the untouched test split, for the one final
        evaluation; the search never receives it.
    info: a `pinet_keras.data.PipelineInfo` (`batch_size` is the test's), with
        the `pixel_mean` and `pixel_variance` of the training examples.
"""

VALIDATION_SPLIT_RULE = "must be in (0, 1): the search is scored on it, never on the test split"


def search_datasets(
    name,
    data_dir=None,
    validation_split=0.1,
    seed=0,
    max_train_examples=None,
    test_batch_size=256,
    image_size=None,
):
    """Loads ``name`` for a hyperparameter search.

    The validation split is the one `make_datasets` (and so
    `pinet-keras train`) uses for the same ``validation_split`` and ``seed``:
    `split_validation` of the training split. ``max_train_examples`` then
    keeps a random subset of the remaining training examples (drawn once,
    seeded, the same for every trial) for quick searches; the validation
    split stays whole. It is `make_datasets` with ``batch_size=None``: raw
    uint8 pixels, as in training; normalization and augmentation are layers
    of the trial's model (`PolyNetHyperModel`'s ``input_normalization`` and
    ``augmentation``), as in a model that `pinet_keras.training` trains.

    Example:

    >>> data = search_datasets("digits", max_train_examples=500)  # doctest: +SKIP
    >>> data.info.num_train, data.info.num_validation, data.info.num_test  # doctest: +SKIP
    (500, 144, 360)
    """
    if not 0.0 < validation_split < 1.0:
        raise ValueError(
            f"`validation_split` {VALIDATION_SPLIT_RULE}. Received: {validation_split!r}"
        )
    data = make_datasets(
        name,
        data_dir=data_dir,
        batch_size=None,
        validation_split=validation_split,
        seed=seed,
        max_train_examples=max_train_examples,
        image_size=image_size,
    )
    test = data.test.batch(test_batch_size).prefetch(-1)
    return SearchData(
        data.train, data.validation, test, data.info._replace(batch_size=int(test_batch_size))
    )
