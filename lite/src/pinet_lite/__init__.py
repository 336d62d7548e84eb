"""pinet_lite: pinet_keras ``.tflite`` classifiers on the LiteRT runtime alone.

Needs numpy, ai-edge-litert and Pillow; no TensorFlow, no Keras.

>>> import pinet_lite  # doctest: +SKIP
>>> classifier = pinet_lite.Classifier("model_int8.tflite")  # doctest: +SKIP
>>> classifier.predict(["shoe.png"], top_k=3)  # doctest: +SKIP
>>> pinet_lite.read_metadata("model_int8.tflite")["class_names"]  # doctest: +SKIP
"""

from pinet_lite.classifier import Classifier
from pinet_lite.classifier import Prediction
from pinet_lite.classifier import softmax
from pinet_lite.images import image_pixels
from pinet_lite.images import read_image
from pinet_lite.metadata import metadata_entries
from pinet_lite.metadata import read_metadata

__version__ = "0.1.0"

__all__ = [
    "Classifier",
    "Prediction",
    "image_pixels",
    "metadata_entries",
    "read_image",
    "read_metadata",
    "softmax",
]
