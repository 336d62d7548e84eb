"""Fine-tune a pretrained Π-net on a small new data set.

The pretrained Fashion-MNIST PolyNet's blocks are kept and frozen; a new
head learns scikit-learn's 8x8 digits, resized to 28x28, from a few hundred
images. Then the blocks are unfrozen for a short second stage at a lower
learning rate, as in Keras' transfer-learning guide.

    python examples/fine_tune_pretrained.py
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

from pinet_keras import Accuracy
from pinet_keras import pretrained


def digits_28x28():
    digits = load_digits()
    images = digits.images / 16.0 * 255.0  # 0..255 pixels, as the model takes
    images = keras.ops.convert_to_numpy(
        keras.ops.image.resize(images[..., None].astype("float32"), (28, 28))
    )
    return np.clip(images, 0, 255), digits.target


def main(epochs=3, fine_tune_epochs=1, num_train=600):
    x, y = digits_28x28()
    x_train, y_train, x_test, y_test = x[:num_train], y[:num_train], x[1437:], y[1437:]

    trained = pretrained.load("polynet_fashion_mnist", bounded=False)
    # Everything before the 10-class head, as one layer of the new model.
    base = keras.Model(trained.inputs, trained.layers[-2].output, name="polynet_features")
    base.trainable = False
    inputs = keras.Input((28, 28, 1), name="pixels")
    outputs = keras.layers.Dense(10, name="new_head")(base(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Accuracy()],  # a NaN logit counts as wrong (Keras' "accuracy": class 0)
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=2)
    head_only = model.evaluate(x_test, y_test, verbose=0)[1]

    base.trainable = True  # then everything, gently
    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Accuracy()],  # a NaN logit counts as wrong (Keras' "accuracy": class 0)
    )
    model.fit(x_train, y_train, epochs=fine_tune_epochs, batch_size=32, verbose=2)
    fine_tuned = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"test accuracy: new head {head_only:.3f}, fine-tuned {fine_tuned:.3f}")
    return head_only, fine_tuned


if __name__ == "__main__":
    main()
