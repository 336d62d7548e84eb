"""`PatchWhitening`: a fixed convolution that whitens the image's small patches."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="pinet_keras")
class PatchWhitening(keras.layers.Layer):
    """A ``patch_size``×``patch_size`` convolution that whitens patches, fixed after `adapt`.

    `adapt` estimates the second-moment matrix of the input's patches
    (``patch_size**2 * channels`` values each) on training images and sets
    the kernel to its eigenvectors divided by the square roots of their
    eigenvalues, each with both signs: ``2 * patch_size**2 * channels``
    output channels (24 for 2×2 patches of RGB images). The kernel is not
    trained; the bias is. The layer is affine (``degree = 1``): a model that
    starts with it keeps its polynomial degree. Fast CIFAR-10 recipes use it
    as their first layer (a whitened, frozen first convolution).

    Without `adapt` the kernel keeps its random initialization (an untrained
    random projection); a model trained by `pinet-keras train` is adapted on
    its training images before the first step.

    Args:
        patch_size: side of the patches (the kernel), ``padding="valid"``.
        epsilon: added to the eigenvalues before the square root.
        **kwargs: base layer keyword arguments, such as ``name`` and ``dtype``.

    Input shape:
        4D tensor ``(batch, height, width, channels)`` (channels last).

    Output shape:
        ``(batch, height - patch_size + 1, width - patch_size + 1,
        2 * patch_size**2 * channels)``.

    Example:

    >>> import numpy as np
    >>> layer = PatchWhitening(2)
    >>> layer.adapt(np.random.default_rng(0).normal(size=(64, 8, 8, 3)))
    >>> tuple(layer(np.zeros((1, 8, 8, 3))).shape)
    (1, 7, 7, 24)
    """

    # An affine map of its input: a model with it keeps its polynomial degree.
    degree = 1

    def __init__(self, patch_size=2, epsilon=5e-4, **kwargs):
        super().__init__(**kwargs)
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(
                f"Argument `patch_size` must be a positive int. Received: patch_size={patch_size!r}"
            )
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(
                f"Argument `epsilon` must be a number > 0. Received: epsilon={epsilon!r}"
            )
        self.patch_size = patch_size
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("PatchWhitening needs a known number of input channels.")
        size = self.patch_size**2 * channels
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.patch_size, self.patch_size, channels, 2 * size),
            initializer="glorot_uniform",
            trainable=False,
        )
        self.bias = self.add_weight(name="bias", shape=(2 * size,), initializer="zeros")

    def adapt(self, images, batch_size=256):
        """Sets the kernel from ``images`` ``(N, H, W, C)``, in the space of the layer's input."""
        images = np.asarray(images, dtype="float64")
        p = self.patch_size
        if images.ndim != 4 or min(images.shape[1:3]) < p:
            raise ValueError(
                f"PatchWhitening.adapt takes images (N, H, W, C) of at least {self.patch_size} "
                f"pixels a side. Received shape {images.shape}."
            )
        if not self.built:
            self.build(images.shape)
        channels = images.shape[-1]
        moment, count = 0.0, 0
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            windows = np.lib.stride_tricks.sliding_window_view(chunk, (p, p), axis=(1, 2))
            # (n, h', w', C, p, p) -> rows of (dy, dx, c), the kernel's order.
            patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, p * p * channels)
            moment = moment + patches.T @ patches
            count += len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(moment / count)
        # Largest first; each output is one eigen-direction, scaled to unit variance.
        order = np.argsort(eigenvalues)[::-1]
        scaled = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0) + self.epsilon)
        kernel = np.concatenate([scaled, -scaled], axis=1).reshape(p, p, channels, -1)
        self.kernel.assign(kernel.astype(self.kernel.dtype))

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        return ops.conv(inputs, kernel, padding="valid") + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        rows, cols = (None if s is None else s - p + 1 for s in input_shape[1:3])
        return (input_shape[0], rows, cols, 2 * p * p * input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "epsilon": self.epsilon})
        return config
