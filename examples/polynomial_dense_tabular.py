"""Degree-N CCP and NCP layers on a 1-D signal and on tabular data.

`PolynomialDense` fits a polynomial of its input of the degree you ask for,
in the CCP form (a sum of products) or the NCP form (a nested recursion);
`PolynomialConv1D` does the same with convolutions along a signal. Here a
degree-3 dense layer learns y = x1 * x2 * x3 exactly, and a Conv1D model
tells rising from falling chirps.

    python examples/polynomial_dense_tabular.py
"""

import keras
import numpy as np

from pinet_keras import Accuracy
from pinet_keras import PolynomialConv1D
from pinet_keras import PolynomialDense
from pinet_keras import polynomial_degree


def tabular(epochs=300, seed=0):
    """A cubic target: one degree-3 layer fits it; a linear model cannot."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (2048, 3)).astype("float32")
    y = (x[:, 0] * x[:, 1] * x[:, 2])[:, None]
    results = {}
    for form in ("ccp", "ncp"):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((3,)), PolynomialDense(1, degree=3, form=form)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        model.fit(x, y, epochs=epochs, batch_size=256, verbose=0)
        results[form] = float(model.evaluate(x, y, verbose=0))
        print(f"{form}: degree {polynomial_degree(model)}, mse {results[form]:.2e}")
    return results


def signals(epochs=10, seed=0):
    """Rising or falling chirps, classified by a two-layer Conv1D polynomial network."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 64)
    labels = rng.integers(0, 2, 512)
    f0 = rng.uniform(2, 4, 512)[:, None]
    sweep = np.where(labels[:, None] == 1, 6.0, -1.5)
    x = np.sin(2 * np.pi * (f0 + sweep * t) * t) + 0.1 * rng.normal(size=(512, 64))
    x = x[..., None].astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64, 1)),
            PolynomialConv1D(8, 5, padding="same", normalization="batch"),
            keras.layers.MaxPooling1D(4),
            PolynomialConv1D(8, 5, padding="same", degree=3, form="ncp", normalization="batch"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Accuracy()],  # a NaN logit counts as wrong (Keras' "accuracy": class 0)
    )
    model.fit(x[:400], labels[:400], epochs=epochs, batch_size=32, verbose=0)
    accuracy = model.evaluate(x[400:], labels[400:], verbose=0)[1]
    print(f"chirps: test accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    tabular()
    signals()
