"""A NaN is never right: non-finite logits count as wrong, non-finite pixels are refused."""

import numpy as np
import pytest

from conftest import tensorflow_only
from pinet_keras import export

pytestmark = tensorflow_only


def test_compare_logits_counts_nan_as_wrong():
    logits = np.array([[np.nan, 0.0, 0.0], [0.0, 5.0, 0.0], [np.inf, 0.0, 0.0], [2.0, 0.0, 0.0]])
    reference = np.array([[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    # argmax of a NaN row is 0, the label: still wrong.
    result = export.compare_logits(logits, reference, labels=[0, 1, 0, 0])
    assert result["non_finite"] == 2
    assert result["accuracy"] == 0.5 and result["top1_agreement"] == 0.5
    assert result["max_abs_diff"] == float("inf")
    assert result["max_abs_logit"] == 5.0
    both = export.compare_logits(logits, logits, labels=[0, 1, 0, 0])
    assert both["top1_agreement"] == 0.5 and both["max_abs_diff"] == 0.0
    assert np.isnan(export.compare_logits(np.full((2, 3), np.nan))["max_abs_logit"])
    empty = export.compare_logits(np.zeros((0, 3)), np.zeros((0, 3)), labels=np.zeros(0))
    assert empty["non_finite"] == 0 and empty["max_abs_diff"] == 0.0 and np.isnan(empty["accuracy"])


def test_evaluate_tflite_refuses_nan_pixels(unit_model, unit_files, digits):
    _, (x_test, y_test) = digits
    images = x_test[:8].astype("float32")
    labels = unit_model.predict(images, verbose=0).argmax(-1)
    images[[1, 5], 2, 3, 0] = np.nan  # NaN is not a pixel: refused, never given a class
    with pytest.raises(ValueError, match="2 of 8 images hold non-finite pixels"):
        export.evaluate_tflite(unit_files["float32"], images, labels, latency_runs=0)
