"""The robustness sweep: probe sets, the gradient search, the sweep of several runners."""

import numpy as np

from conftest import DIGITS_SHAPE
from conftest import tensorflow_only
from pinet_keras.export import robustness

pytestmark = tensorflow_only


def test_robustness_probes_search_and_sweep(unit_model, digits):
    _, (x_test, _) = digits
    sets = robustness.probe_sets(x_test[:20], seed=0, size=6)
    assert set(sets) == {"test", "gaussian", "uniform", "extremes", "patterns"}
    for name, images in sets.items():
        assert images.shape[1:] == DIGITS_SHAPE and images.dtype == np.float32, name
        assert images.min() >= 0 and images.max() <= 255, name
    assert len(sets["gaussian"]) == 12 and len(sets["extremes"]) == 3 + 5 * 6
    # 3 sizes that fit twice in 8x8 x (checkerboard, horizontal, vertical
    # stripes), and their inverses; 4 sizes at 28x28.
    patterns = sets["patterns"]
    assert len(patterns) == 18 and set(np.unique(patterns)) == {0.0, 255.0}
    np.testing.assert_array_equal(patterns[:9], 255.0 - patterns[9:])
    assert len({image.tobytes() for image in patterns}) == 18
    assert robustness.patterns((28, 28, 3)).shape == (24, 28, 28, 3)
    assert (patterns[0, 0, :2, 0] == [0.0, 255.0]).all()  # a 1-pixel checkerboard
    other = robustness.to_input_shape(np.zeros((2, 16, 16, 3), "uint8"), DIGITS_SHAPE)
    assert other.shape == (2, *DIGITS_SHAPE)
    assert "other" in robustness.probe_sets(x_test[:4], other, size=2)

    starts = x_test[:3].astype("float32")
    start_values = np.abs(unit_model.predict(starts, verbose=0)).max(-1)
    found, values = robustness.gradient_search(unit_model, starts, steps=6, step_size=16.0)
    assert found.shape == starts.shape and found.min() >= 0 and found.max() <= 255
    assert (values >= start_values - 1e-3).all() and (values > 1.01 * start_values).any()
    np.testing.assert_allclose(
        np.abs(unit_model.predict(found, verbose=0)).max(-1), values, rtol=1e-3
    )

    def keras_logits(x):
        return unit_model.predict(x, verbose=0)

    def sometimes_nan(x):
        logits = keras_logits(x).copy()
        logits[::3] = np.nan
        return logits

    results = robustness.sweep({"keras": keras_logits, "broken": sometimes_nan}, sets)
    for probe, images in sets.items():
        assert results["keras"][probe]["non_finite"] == 0
        assert results["keras"][probe]["top1_agreement"] == 1.0
        assert results["broken"][probe]["non_finite"] == len(range(0, len(images), 3)), probe
    total = sum(len(images) for images in sets.values())
    assert results["broken"]["all"]["examples"] == total
    assert results["broken"]["all"]["non_finite"] == sum(
        len(range(0, len(images), 3)) for images in sets.values()
    )
    assert results["broken"]["all"]["top1_agreement"] < 0.7
