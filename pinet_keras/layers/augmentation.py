"""Keras' random augmentation layers, inactive unless called with ``training=True``."""

import keras


@keras.saving.register_keras_serializable(package="pinet_keras")
class RandomTranslation(keras.layers.RandomTranslation):
    """``keras.layers.RandomTranslation`` that is the identity unless ``training=True``.

    Keras' own layer augments when a model that holds it is called as
    ``model(images)`` without a ``training`` argument (its ``call`` defaults
    to ``training=True``), so a user calling a trained model directly would
    get randomly shifted predictions. `fit` passes ``training=True``; every
    other call (``model(x)``, ``predict``, ``evaluate``, exports) leaves the
    images as they are. Arguments, input and output shapes: those of
    ``keras.layers.RandomTranslation``.
    """

    def call(self, data, training=False):
        return super().call(data, training=training)


@keras.saving.register_keras_serializable(package="pinet_keras")
class RandomFlip(keras.layers.RandomFlip):
    """``keras.layers.RandomFlip`` that is the identity unless ``training=True``.

    See `RandomTranslation`. Arguments, input and output shapes: those of
    ``keras.layers.RandomFlip``.
    """

    def call(self, data, training=False):
        return super().call(data, training=training)
