"""Test-time augmentation: accuracy of the predictions averaged over an image and its mirror."""

import numpy as np
from keras import ops


def flip_averaged_accuracy(model, dataset):
    """Top-1 accuracy of ``model`` with its class probabilities averaged over horizontal flips.

    Each image and its left-right mirror are predicted; the softmax of the
    two logit vectors is averaged (test-time augmentation, "TTA flip"). A
    non-finite prediction counts as wrong.

    Args:
        model: a model producing logits from images ``(N, H, W, C)``.
        dataset: an iterable of ``(images, labels)`` batches with integer
            labels, or ``(images, labels, sample_weights)``: examples of
            weight 0 (padding) are not counted.

    Returns:
        The accuracy, a float in ``[0, 1]``.
    """
    correct = total = 0
    for batch in dataset:
        images, labels = np.asarray(batch[0]), np.asarray(batch[1]).reshape(-1)
        counted = np.asarray(batch[2]) > 0 if len(batch) > 2 else np.ones(len(labels), bool)
        probabilities = 0.0
        for view in (images, images[:, :, ::-1]):
            logits = ops.convert_to_tensor(model.predict_on_batch(view), "float32")
            probabilities = probabilities + ops.convert_to_numpy(ops.softmax(logits, axis=-1))
        finite = np.isfinite(probabilities).all(axis=-1)
        predicted = np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=-1)
        correct += int(np.sum(counted & finite & (predicted == labels)))
        total += int(np.sum(counted))
    return correct / max(total, 1)
