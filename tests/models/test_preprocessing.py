"""Preprocessing inside the model: `PixelRange`, `pixel_preprocessing`, raw-pixel models."""

import json
import os

import keras
import numpy as np

# Keras' own layer test harness (`run_layer_test`); in keras.src, as in Keras
# 3.15's own tests, not in the public API.
from keras.src import testing

import pinet_keras
from conftest import float32_tolerance
from pinet_keras.data import AUGMENTATIONS
from pinet_keras.data import augmentation_policy
from pinet_keras.data import dataset_info
from pinet_keras.data import load_arrays
from pinet_keras.data import pixel_statistics
from pinet_keras.layers import PixelRange
from pinet_keras.models import INPUT_NORMALIZATIONS
from pinet_keras.models import PiResNet
from pinet_keras.models import PolyNet
from pinet_keras.models import get_model
from pinet_keras.models import has_pixel_preprocessing
from pinet_keras.models import pixel_preprocessing
from pinet_keras.models import polynomial_degree
from pinet_keras.models import preprocessing_config

SHAPE = (8, 8, 1)
# Per-channel statistics of raw pixels (digits' training split is near these).
MEAN, VARIANCE = (78.0,), (9200.0,)


def raw_pixels(n, shape=SHAPE, low=0, seed=0):
    return np.random.default_rng(seed).integers(low, 256, (n, *shape)).astype("uint8")


def tiny_polynet(preprocessing=None, **kwargs):
    # polynet_bn's blocks (batch-normalized products, skip), small.
    kwargs = {"width": 4, "num_blocks": 3, "normalization": "batch", "use_skip": True, **kwargs}
    return PolyNet(input_shape=SHAPE, preprocessing=preprocessing, **kwargs)


def tiny_pi_resnet(preprocessing=None, **kwargs):
    return PiResNet(
        input_shape=SHAPE,
        stage_widths=(4, 8),
        blocks_per_stage=(1, 1),
        preprocessing=preprocessing,
        **kwargs,
    )


def layers_of(model):
    """The model's layers, without its `InputLayer` (which a functional model lists)."""
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def perturb_batch_norm(model, seed=0):
    """Moving statistics away from (0, 1): inference batch normalization is not the identity."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.endswith("moving_mean"):
            variable.assign(rng.uniform(-0.1, 0.1, variable.shape).astype(variable.dtype))
        elif variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype(variable.dtype))


def copy_weights(source, target, skip):
    """Copies the weights of ``source``'s layers after its first ``skip`` into ``target``'s."""
    layers, targets = layers_of(source)[skip:], layers_of(target)
    assert len(layers) == len(targets)
    for a, b in zip(layers, targets):
        assert type(a) is type(b)
        b.set_weights(a.get_weights())


def translated(image, dy, dx):
    """`out[i, j] = image[i + dy, j + dx]`, zero (black) where that falls outside `image`."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    out[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)] = image[
        max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)
    ]
    return out


def explain(original, augmented, padding):
    """The `(dy, dx, flipped)` that turn `original` into `augmented`, or `None`."""
    for flipped in (False, True):
        for dy in range(-padding, padding + 1):
            for dx in range(-padding, padding + 1):
                candidate = translated(original, dy, dx)
                if flipped:
                    candidate = candidate[:, ::-1]
                if np.array_equal(candidate, augmented):
                    return dy, dx, flipped
    return None


class PixelRangeTest(testing.TestCase):
    def test_basics(self):
        self.run_layer_test(
            PixelRange,
            init_kwargs={"min_value": 0, "max_value": 255},
            input_shape=(2, 8, 8, 3),
            expected_output_shape=(2, 8, 8, 3),
            expected_output_dtype="float32",
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=0,
            expected_num_losses=0,
            supports_masking=True,
        )

    def test_clips_and_casts_raw_pixels(self):
        x = np.array([[-1e6, -3.0, 0.0, 12.5, 255.0, 300.0, 1e30, np.inf, -np.inf]], "float32")
        self.run_layer_test(
            PixelRange,
            init_kwargs={},
            input_data=x,
            expected_output=keras.ops.convert_to_tensor(
                [[0.0, 0.0, 0.0, 12.5, 255.0, 255.0, 255.0, 255.0, 0.0]], "float32"
            ),
            expected_output_dtype="float32",
        )
        # uint8 pixels in, the same float values out.
        pixels = np.arange(256, dtype="uint8").reshape(1, 16, 16, 1)
        y = PixelRange()(pixels)
        self.assertEqual(keras.backend.standardize_dtype(y.dtype), "float32")
        self.assertAllClose(y, pixels.astype("float32"), atol=0, rtol=0)
        # Another box; NaN is not a pixel and stays NaN.
        y = PixelRange(-1, 1)(np.array([-5.0, 0.5, 5.0, np.nan], "float32"))
        y = self.convert_to_numpy(y)
        self.assertAllClose(y[:3], [-1.0, 0.5, 1.0])
        self.assertTrue(np.isnan(y[3]))

    def test_config_and_errors(self):
        layer = PixelRange(min_value=-2, max_value=3, name="guard")
        config = layer.get_config()
        self.assertEqual(
            (config["min_value"], config["max_value"], config["name"]), (-2.0, 3.0, "guard")
        )
        self.assertEqual(PixelRange.from_config(config).get_config(), config)
        self.assertEqual(PixelRange.degree, 1)
        for kwargs, message in [
            (dict(min_value=255, max_value=0), "smaller than"),
            (dict(min_value=1, max_value=1), "smaller than"),
            (dict(min_value="0"), "must be a number"),
            (dict(max_value=True), "must be a number"),
            (dict(max_value=float("nan")), "must be a number"),
        ]:
            with self.assertRaisesRegex(ValueError, message):
                PixelRange(**kwargs)


class PixelPreprocessingTest(testing.TestCase):
    def test_layer_lists(self):
        self.assertEqual(INPUT_NORMALIZATIONS, ("unit", "standardize"))
        layers = pixel_preprocessing(SHAPE)
        self.assertEqual([type(layer) for layer in layers], [PixelRange, keras.layers.Rescaling])
        self.assertEqual((layers[0].min_value, layers[0].max_value), (0.0, 255.0))
        self.assertAllClose((layers[1].scale, layers[1].offset), (1 / 255, 0.0), atol=0, rtol=1e-7)

        layers = pixel_preprocessing((32, 32, 3), "standardize", mean=(1, 2, 3), variance=[4, 5, 6])
        self.assertEqual(
            [type(layer) for layer in layers], [PixelRange, keras.layers.Normalization]
        )
        config = layers[1].get_config()
        self.assertEqual(
            (config["axis"], config["mean"], config["variance"]), ((-1,), [1, 2, 3], [4, 5, 6])
        )

        for augmentation, expected in [
            ((2, False), [pinet_keras.layers.RandomTranslation]),
            ((0, True), [pinet_keras.layers.RandomFlip]),
            ((4, True), [pinet_keras.layers.RandomTranslation, pinet_keras.layers.RandomFlip]),
            ((0, False), []),
        ]:
            layers = pixel_preprocessing((32, 32, 3), augmentation=augmentation, seed=1)
            self.assertEqual(
                [type(layer) for layer in layers], [PixelRange, *expected, keras.layers.Rescaling]
            )
        translation, flip = pixel_preprocessing((32, 16, 3), augmentation=(4, True))[1:3]
        self.assertEqual((translation.height_factor, translation.width_factor), (4 / 32, 4 / 16))
        self.assertEqual((translation.fill_mode, translation.fill_value), ("constant", 0.0))
        self.assertEqual(translation.interpolation, "nearest")
        self.assertEqual(flip.mode, "horizontal")

        # New layers at each call; they compute in float32 under any global policy.
        self.assertIsNot(pixel_preprocessing(SHAPE)[0], pixel_preprocessing(SHAPE)[0])
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            layers = pixel_preprocessing(SHAPE, augmentation=(1, True))
        finally:
            keras.config.set_dtype_policy("float32")
        self.assertEqual({layer.dtype_policy.name for layer in layers}, {"float32"})

    def test_errors(self):
        for args, kwargs, message in [
            (((8, 8),), {}, "input_shape"),
            ((SHAPE, "minmax"), {}, "input_normalization"),
            ((SHAPE, "standardize"), {}, "mean.*variance"),
            ((SHAPE, "standardize"), dict(mean=MEAN), "mean.*variance"),
            ((SHAPE, "standardize"), dict(mean=(1, 2), variance=(1, 2)), "1 value"),
            (((8, 8, 3), "standardize"), dict(mean=MEAN, variance=VARIANCE), "3 value"),
            ((SHAPE, "standardize"), dict(mean=MEAN, variance=(0.0,)), "positive"),
        ]:
            with self.assertRaisesRegex(ValueError, message):
                pixel_preprocessing(*args, **kwargs)

    def test_has_pixel_preprocessing_and_config(self):
        plain = tiny_polynet()
        self.assertFalse(has_pixel_preprocessing(plain))
        self.assertEqual(preprocessing_config(plain), {})
        unit = tiny_polynet(pixel_preprocessing(SHAPE, augmentation=(1, False)))
        self.assertTrue(has_pixel_preprocessing(unit))
        self.assertEqual(
            preprocessing_config(unit), {"input_normalization": "unit", "pixel_range": [0.0, 255.0]}
        )
        standardized = tiny_pi_resnet(
            pixel_preprocessing(SHAPE, "standardize", mean=MEAN, variance=VARIANCE)
        )
        self.assertTrue(has_pixel_preprocessing(standardized))
        config = preprocessing_config(standardized)
        self.assertEqual(config["input_normalization"], "standardize")
        self.assertAllClose((config["mean"], config["variance"]), (MEAN, VARIANCE))


class RawPixelsTest(testing.TestCase):
    """A model with preprocessing, fed raw pixels, is the model without it fed normalized pixels."""

    def check_same_logits(self, build, input_normalization):
        mean, variance = pixel_statistics(raw_pixels(200, seed=1))
        preprocessing = pixel_preprocessing(
            SHAPE,
            input_normalization,
            mean=mean,
            variance=variance,
            augmentation=(1, False),
            seed=0,
        )
        model = build(preprocessing)
        perturb_batch_norm(model)
        old = build()  # as 0.1.0 built it: it takes normalized floats
        copy_weights(model, old, skip=len(preprocessing))
        self.assertEqual(model.count_params(), old.count_params())

        pixels = raw_pixels(16)
        logits = self.convert_to_numpy(model.predict(pixels, verbose=0))
        self.assertTrue(np.isfinite(logits).all() and np.abs(logits).max() > 0)
        # uint8 or the same values as floats: the same logits.
        self.assertAllClose(
            model.predict(pixels.astype("float32"), verbose=0), logits, atol=0, rtol=0
        )
        self.assertAllClose(
            model(pixels, training=False), logits, rtol=1e-6, atol=1e-6 * np.abs(logits).max()
        )
        # The old float pipeline: pixels / 255, or standardized with the same statistics.
        if input_normalization == "unit":
            x = pixels.astype("float32") / np.float32(255)
        else:
            x = ((pixels - mean) / np.sqrt(variance)).astype("float32")
        expected = self.convert_to_numpy(old.predict(x, verbose=0))
        self.assertAllClose(logits, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())

    def test_polynet_unit(self):
        self.check_same_logits(tiny_polynet, "unit")

    def test_polynet_standardize(self):
        self.check_same_logits(tiny_polynet, "standardize")

    def test_pi_resnet_unit(self):
        self.check_same_logits(tiny_pi_resnet, "unit")

    def test_pi_resnet_standardize(self):
        self.check_same_logits(tiny_pi_resnet, "standardize")

    def test_get_model_passes_preprocessing_through(self):
        for name in ("polynet_bn", "pi_resnet_small"):
            model = get_model(name, SHAPE, 10, width=4, preprocessing=pixel_preprocessing(SHAPE))
            self.assertEqual(type(layers_of(model)[0]), PixelRange)
            self.assertEqual(
                model.count_params(), get_model(name, SHAPE, 10, width=4).count_params()
            )

    def test_polynomial_degree_is_unchanged(self):
        for build in (tiny_polynet, tiny_pi_resnet):
            degree = polynomial_degree(build())
            for preprocessing in (
                pixel_preprocessing(SHAPE),
                pixel_preprocessing(
                    SHAPE, "standardize", mean=MEAN, variance=VARIANCE, augmentation=(1, True)
                ),
            ):
                self.assertEqual(polynomial_degree(build(preprocessing)), degree)
        self.assertEqual(
            polynomial_degree(
                PolyNet(input_shape=SHAPE, width=4, preprocessing=pixel_preprocessing(SHAPE))
            ),
            32,
        )


class AugmentationTest(testing.TestCase):
    def test_inactive_at_inference(self):
        layers = pixel_preprocessing(SHAPE, augmentation=(2, True), seed=3)
        pixels = raw_pixels(32)
        expected = pixels.astype("float32") / np.float32(255)
        stack = keras.Sequential([keras.Input(SHAPE), *layers])
        for y in (
            stack(pixels, training=False),
            stack.predict(pixels, verbose=0),
            stack.predict_on_batch(pixels),
        ):
            self.assertAllClose(y, expected, rtol=1e-6, atol=1e-7)
        model = tiny_polynet(pixel_preprocessing(SHAPE, augmentation=(1, True), seed=3))
        logits = model.predict(pixels, verbose=0)
        # (Eager and compiled calls differ in float32 rounding only.)
        self.assertAllClose(
            model(pixels, training=False), logits, rtol=1e-5, atol=1e-5 * np.abs(logits).max()
        )

    def test_inactive_when_called_without_training(self):
        # Keras' own random layers default to `training=True` when the caller
        # passes none (`model(x)`); the package's subclasses default to False.
        pixels = raw_pixels(32)
        model = tiny_polynet(pixel_preprocessing(SHAPE, augmentation=(1, True), seed=3))
        logits = model.predict(pixels, verbose=0)
        self.assertAllClose(model(pixels), logits, rtol=1e-5, atol=1e-5 * np.abs(logits).max())

    def test_active_in_training_as_the_policy_says(self):
        # The data sets' policies, and one with its translation replaced (--translate).
        cases = [
            *sorted(AUGMENTATIONS.items()),
            ("cifar10", augmentation_policy("cifar10", padding=2)),
        ]
        for name, policy in cases:
            shape = dataset_info(name).input_shape
            stack = keras.Sequential(
                [keras.Input(shape), *pixel_preprocessing(shape, augmentation=policy, seed=5)]
            )
            # Pixels 1..255: a 0 in the output can only be the black fill.
            pixels = raw_pixels(64, shape, low=1, seed=2)
            augmented = np.round(self.convert_to_numpy(stack(pixels, training=True)) * 255).astype(
                "uint8"
            )
            self.assertEqual(augmented.shape, pixels.shape)
            moves = [explain(a, b, policy.padding) for a, b in zip(pixels, augmented)]
            # Each output is its image translated by at most `padding` pixels, filled black.
            self.assertNotIn(None, moves, msg=name)
            self.assertGreater(sum(move != (0, 0, False) for move in moves), 32, msg=name)
            self.assertGreater(
                sum(abs(dy) == policy.padding or abs(dx) == policy.padding for dy, dx, _ in moves),
                0,
            )
            self.assertTrue((augmented == 0).any(), msg=name)
            # Flipped only where the policy flips (not digits: a mirrored 2 is no 2).
            flips = {flipped for _, _, flipped in moves}
            self.assertEqual(flips, {False, True} if policy.flip else {False}, msg=name)

    def test_fill_is_black_whatever_the_normalization(self):
        stack = keras.Sequential(
            [
                keras.Input(SHAPE),
                *pixel_preprocessing(
                    SHAPE, "standardize", mean=MEAN, variance=VARIANCE, augmentation=(2, False)
                ),
            ]
        )
        y = self.convert_to_numpy(stack(np.full((32, *SHAPE), 255, "uint8"), training=True))
        white, black = (np.array([255.0, 0.0]) - MEAN[0]) / np.sqrt(VARIANCE[0])
        values = np.unique(np.round(y, 4))
        self.assertAllClose(values, np.round([black, white], 4))


class GuardTest(testing.TestCase):
    """Without the guard a degree-32 polynomial overflows on raw or huge inputs; with it, never."""

    def test_guard(self):
        guarded = PolyNet(
            input_shape=SHAPE, width=4, use_bias=False, preprocessing=pixel_preprocessing(SHAPE)
        )
        plain = PolyNet(input_shape=SHAPE, width=4, use_bias=False)
        copy_weights(guarded, plain, skip=2)

        def f(model, x):
            return self.convert_to_numpy(model.predict(np.asarray(x, "float32"), verbose=0))

        # Its value at corners of the pixel box (all white, all black, a checkerboard).
        checker = (np.indices(SHAPE).sum(0) % 2).astype("float32")
        corners = np.stack([np.full(SHAPE, 255.0), np.zeros(SHAPE), 255 * checker])
        at_corners = f(guarded, corners)
        self.assertTrue(np.isfinite(at_corners).all() and np.abs(at_corners[0]).max() > 0)
        self.assertAllClose(at_corners[1], np.zeros(10), atol=0)  # homogeneous: f(0) = 0
        bound = np.abs(at_corners).max()

        # Far outside the box: clipped to a corner, so the corner's (finite) value.
        far = np.stack(
            [
                np.full(SHAPE, 1e6),
                np.full(SHAPE, np.inf),
                np.full(SHAPE, 3e38),
                np.full(SHAPE, -1e6),
                np.full(SHAPE, -np.inf),
                np.where(checker > 0, 1e6, -1e6),
                np.where(checker > 0, np.inf, -np.inf),
            ]
        )
        # Seven images here, three there: the CPU kernels may round each batch
        # differently, so "the same value" holds to float32 rounding of the degree.
        y = f(guarded, far)
        degree = polynomial_degree(guarded)
        rtol, atol = float32_tolerance(at_corners, degree)
        self.assertTrue(np.isfinite(y).all())
        self.assertLessEqual(np.abs(y).max(), bound * (1 + rtol))
        self.assertAllClose(y, at_corners[[0, 0, 0, 1, 1, 2, 2]], rtol=rtol, atol=atol)
        # Valid pixels in, the same as the plain model on pixels / 255.
        pixels = raw_pixels(8)
        expected = f(plain, pixels / 255.0)
        self.assertAllClose(
            f(guarded, pixels), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
        )

        # The check has teeth: the same polynomial fed raw 0..255 pixels or
        # huge values overflows float32 (255**32 > 1e76).
        for x in (np.full((1, *SHAPE), 255.0), np.full((1, *SHAPE), 1e6), far[:1]):
            self.assertFalse(np.isfinite(f(plain, x)).all())
        # ...and so does the model with its normalization but no guard.
        unguarded = keras.Sequential([keras.Input(SHAPE), *guarded.layers[1:]])
        self.assertAllClose(f(unguarded, pixels), f(guarded, pixels), atol=0, rtol=0)
        self.assertFalse(np.isfinite(f(unguarded, far[:1])).all())


class SavingTest(testing.TestCase):
    def test_keras_round_trip(self):
        pixels = raw_pixels(8)
        for input_normalization in INPUT_NORMALIZATIONS:
            for build in (tiny_polynet, tiny_pi_resnet):
                preprocessing = pixel_preprocessing(
                    SHAPE,
                    input_normalization,
                    mean=MEAN,
                    variance=VARIANCE,
                    augmentation=(1, True),
                    seed=4,
                )
                model = build(preprocessing)
                perturb_batch_norm(model)
                path = os.path.join(
                    self.get_temp_dir(), f"{model.name}_{input_normalization}.keras"
                )
                model.save(path)
                loaded = keras.saving.load_model(path)
                first = layers_of(loaded)[: len(preprocessing)]
                self.assertEqual(
                    [type(layer) for layer in first], [type(layer) for layer in preprocessing]
                )
                self.assertEqual(preprocessing_config(loaded), preprocessing_config(model))
                self.assertEqual(
                    [layer.get_config() for layer in first],
                    [layer.get_config() for layer in preprocessing],
                )
                self.assertAllClose(
                    loaded.predict(pixels, verbose=0),
                    model.predict(pixels, verbose=0),
                    atol=0,
                    rtol=0,
                )


class TrainerTest(testing.TestCase):
    def test_trained_model_takes_raw_pixels(self):
        from pinet_keras.data import make_datasets
        from pinet_keras.training import TrainConfig
        from pinet_keras.training import train

        out = os.path.join(self.get_temp_dir(), "run")
        config = TrainConfig(
            dataset="digits",
            model_overrides=dict(width=4, num_blocks=2),
            epochs=1,
            batch_size=128,
            input_normalization="standardize",
            augment=True,
            output_dir=out,
            verbose="0",
            tensorboard=False,
        )
        metrics = train(config)
        model = keras.saving.load_model(os.path.join(out, "model.keras"))
        self.assertEqual(
            [type(layer) for layer in model.layers[:3]],
            [PixelRange, pinet_keras.layers.RandomTranslation, keras.layers.Normalization],
        )
        info = make_datasets("digits", batch_size=128).info
        self.assertAllClose(np.ravel(model.layers[2].mean), info.pixel_mean, rtol=1e-6)
        self.assertAllClose(np.ravel(model.layers[2].variance), info.pixel_variance, rtol=1e-6)
        _, (x_test, _) = load_arrays("digits")
        logits = model.predict(x_test, verbose=0)
        self.assertTrue(np.isfinite(logits).all())
        self.assertAllClose(
            model.predict(x_test.astype("float32"), verbose=0), logits, atol=0, rtol=0
        )

        with open(os.path.join(out, "metrics.json")) as f:
            saved = json.load(f)
        self.assertEqual(saved, json.loads(json.dumps(metrics)))
        self.assertEqual(saved["input_normalization"], "standardize")
        self.assertEqual(saved["class_names"], [str(i) for i in range(10)])
        self.assertEqual(saved["package_version"], pinet_keras.__version__)
        self.assertEqual((saved["input_shape"], saved["pixel_range"]), ([8, 8, 1], [0, 255]))
        self.assertEqual(saved["config"]["input_normalization"], "standardize")
        self.assertNotIn("normalization", saved["config"])
