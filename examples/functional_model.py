"""`PolynomialConv2D` inside a functional model of your own.

A polynomial layer is a Keras layer like any other: here two of them (a
degree-2 product and a degree-3 CCP layer, 2 * 3 = degree 6 in all) sit in
a small functional model with a residual connection, trained with
``model.fit`` on scikit-learn's 8x8 digits. No activation function anywhere.

    python examples/functional_model.py
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

from pinet_keras import Accuracy
from pinet_keras import PixelRange
from pinet_keras import PolynomialConv2D
from pinet_keras import polynomial_degree


def build_model(num_classes=10):
    inputs = keras.Input((8, 8, 1))
    x = PixelRange(0, 16)(inputs)  # bounds every input a user can give
    x = keras.layers.Rescaling(1 / 16)(x)
    x = PolynomialConv2D(16, 3, padding="same", normalization="batch")(x)
    skip = x
    x = PolynomialConv2D(16, 3, padding="same", degree=3, form="ccp", normalization="batch")(x)
    x = keras.layers.Add()([x, skip])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs)


def main(epochs=15):
    digits = load_digits()
    x = digits.images[..., None].astype("float32")
    y = digits.target
    x_train, y_train, x_test, y_test = x[:1437], y[:1437], x[1437:], y[1437:]

    model = build_model()
    print(f"degree {polynomial_degree(model)}, {model.count_params()} parameters")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Accuracy()],  # a NaN logit counts as wrong (Keras' "accuracy": class 0)
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.3f}")
    assert np.isfinite(loss)
    return model, accuracy


if __name__ == "__main__":
    main()
