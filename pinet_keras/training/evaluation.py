"""Test-time augmentation: accuracy of the predictions averaged over views of each image."""

import numpy as np
from keras import ops


def shifted(images, dy, dx):
    """``images`` ``(N, H, W, C)`` moved by ``dy`` rows and ``dx`` columns, filled with 0.

    The same translation as the training augmentation's (black fill): a pixel
    at ``(i, j)`` goes to ``(i + dy, j + dx)``.
    """
    out = np.zeros_like(images)
    height, width = images.shape[1:3]
    if abs(dy) >= height or abs(dx) >= width:
        return out
    rows = slice(max(dy, 0), height + min(dy, 0)), slice(max(-dy, 0), height + min(-dy, 0))
    cols = slice(max(dx, 0), width + min(dx, 0)), slice(max(-dx, 0), width + min(-dx, 0))
    out[:, rows[0], cols[0]] = images[:, rows[1], cols[1]]
    return out


def tta_views(images, flip=True, translate=0):
    """The views of a batch that `tta_accuracy` averages over.

    The images themselves; with ``translate``, the images moved by
    ``(+translate, +translate)`` and ``(-translate, -translate)`` pixels (the
    fast CIFAR-10 recipes' test-time translations); with ``flip``, the
    left-right mirror of each of those.
    """
    views = [images]
    if translate:
        views += [shifted(images, translate, translate), shifted(images, -translate, -translate)]
    if flip:
        views += [view[:, :, ::-1] for view in views]
    return views


def view_probabilities(model, images, flip=True, translate=0):
    """Class probabilities (softmax of the logits) of each of `tta_views`, in its order."""
    probabilities = []
    for view in tta_views(images, flip, translate):
        logits = ops.convert_to_tensor(model.predict_on_batch(view), "float32")
        probabilities.append(ops.convert_to_numpy(ops.softmax(logits, axis=-1)))
    return probabilities


def correct_predictions(probabilities, labels):
    """Whether the top class of each row of ``probabilities`` is its label; non-finite is wrong."""
    finite = np.isfinite(probabilities).all(axis=-1)
    predicted = np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=-1)
    return finite & (predicted == labels)


def tta_accuracy(model, dataset, flip=True, translate=0):
    """Top-1 accuracy of ``model`` with its class probabilities averaged over `tta_views`.

    The softmax of each view's logits is averaged (test-time augmentation).
    A non-finite prediction counts as wrong.

    Args:
        model: a model producing logits from images ``(N, H, W, C)``.
        dataset: an iterable of ``(images, labels)`` batches with integer
            labels, or ``(images, labels, sample_weights)``: examples of
            weight 0 (padding) are not counted.
        flip: average over left-right mirrors too.
        translate: average over translations by this many pixels too (0: none).

    Returns:
        The accuracy, a float in ``[0, 1]``.
    """
    correct = total = 0
    for batch in dataset:
        images, labels = np.asarray(batch[0]), np.asarray(batch[1]).reshape(-1)
        counted = np.asarray(batch[2]) > 0 if len(batch) > 2 else np.ones(len(labels), bool)
        probabilities = sum(view_probabilities(model, images, flip, translate))
        correct += int(np.sum(counted & correct_predictions(probabilities, labels)))
        total += int(np.sum(counted))
    return correct / max(total, 1)


def flip_averaged_accuracy(model, dataset):
    """Top-1 accuracy averaged over each image and its left-right mirror ("TTA flip").

    ``tta_accuracy(model, dataset, flip=True)``.
    """
    return tta_accuracy(model, dataset, flip=True)
