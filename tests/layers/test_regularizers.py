"""The anchors' regularizers: `DropBlock2D`, `StochasticDepth`, `InstanceBatchNormalization`,
their `PiResNet` options and the ReLU twin, the "multistep" schedule, test-time flip averaging,
the on-device pipeline and Keras' `DataParallel` on two virtual CPU devices (JAX)."""

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

# Keras' own layer test harness (`run_layer_test`); in keras.src, as in Keras
# 3.15's own tests, not in the public API.
from keras.src import testing

from conftest import ROOT
from conftest import TRAIN
from conftest import jax_env
from pinet_keras.data.numpy_pipeline import NumpyDataset
from pinet_keras.layers import DropBlock2D
from pinet_keras.layers import InstanceBatchNormalization
from pinet_keras.layers import StochasticDepth
from pinet_keras.models import PiResNet
from pinet_keras.models import get_model
from pinet_keras.models import polynomial_degree
from pinet_keras.training.evaluation import flip_averaged_accuracy
from pinet_keras.training.evaluation import shifted
from pinet_keras.training.evaluation import tta_accuracy
from pinet_keras.training.evaluation import tta_views
from pinet_keras.training.optimizers import learning_rate_schedule


class LayerTest(testing.TestCase):
    def test_dropblock(self):
        self.run_layer_test(
            DropBlock2D,
            init_kwargs={"rate": 0.2, "block_size": 3, "seed": 1},
            input_shape=(2, 8, 8, 3),
            expected_output_shape=(2, 8, 8, 3),
            expected_num_trainable_weights=0,
            expected_num_seed_generators=1,
            supports_masking=True,
            run_training_check=False,
        )

    def test_stochastic_depth(self):
        self.run_layer_test(
            StochasticDepth,
            init_kwargs={"rate": 0.3, "seed": 1},
            input_shape=(4, 5, 5, 2),
            expected_output_shape=(4, 5, 5, 2),
            expected_num_trainable_weights=0,
            expected_num_seed_generators=1,
            supports_masking=True,
            run_training_check=False,
        )

    def test_instance_batch_normalization(self):
        self.run_layer_test(
            InstanceBatchNormalization,
            init_kwargs={"ratio": 0.5},
            input_shape=(3, 6, 6, 4),
            expected_output_shape=(3, 6, 6, 4),
            # gamma, beta of the instance part; gamma, beta of the batch part
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=2,
        )


def test_dropblock_drops_blocks_in_training_only():
    x = np.ones((8, 16, 16, 4), "float32")
    layer = DropBlock2D(rate=0.2, block_size=5, seed=0)
    np.testing.assert_array_equal(layer(x), x)
    y = np.asarray(layer(x, training=True))
    dropped = y == 0
    assert 0.1 < dropped.mean() < 0.3  # about `rate` of the map
    # Dropped squares, not scattered pixels: a dropped pixel's neighbours are mostly dropped too.
    assert (dropped[:, 1:] & dropped[:, :-1]).sum() > 0.7 * dropped[:, 1:].sum()
    np.testing.assert_allclose(y.mean(), 1.0, rtol=1e-5)  # rescaled


def test_stochastic_depth_drops_whole_examples():
    y = np.asarray(
        StochasticDepth(0.25, seed=0)(np.ones((2000, 3, 3, 2), "float32"), training=True)
    )
    per_example = y.reshape(2000, -1)
    assert (per_example == per_example[:, :1]).all()
    assert 0.2 < (per_example[:, 0] == 0).mean() < 0.3
    np.testing.assert_allclose(per_example[per_example > 0], 1 / 0.75, rtol=1e-6)


def test_instance_part_normalizes_each_example():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(4, 6, 6, 5)) * np.arange(1, 5)[:, None, None, None] + 3).astype("f4")
    y = np.asarray(InstanceBatchNormalization(ratio=0.8)(x, training=False))
    # 4 instance channels: zero mean, unit variance per example, at inference too.
    np.testing.assert_allclose(y[..., :4].mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y[..., :4].std(axis=(1, 2)), 1, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 1.0}, {"rate": -0.1}, {"rate": True}, {"block_size": 0}],
)
def test_dropblock_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="rate|block_size"):
        DropBlock2D(**kwargs)


def test_pi_resnet_options_train_save_and_reload(tmp_path):
    model = PiResNet(
        input_shape=(16, 16, 3),
        stage_widths=(8, 16, 16),
        blocks_per_stage=(1, 1, 1),
        normalization="instance_batch",
        max_pooling=True,
        dropblock=0.1,
        dropblock_size=3,
        stochastic_depth=0.2,
    )
    names = [layer.name for layer in model.layers]
    assert "stage1_max_pool" in names and "stage2_max_pool" in names
    assert "stage3_max_pool" not in names
    assert "stage1_dropblock" in names and "stage3_dropblock" not in names
    rates = [model.get_layer(f"stage{s}_block1_drop_path").rate for s in (1, 2, 3)]
    np.testing.assert_allclose(rates, [0.2 / 3, 0.4 / 3, 0.2])
    assert isinstance(model.get_layer("stage1_block1_bn1"), InstanceBatchNormalization)
    assert isinstance(model.get_layer("stage3_block1_bn1"), keras.layers.BatchNormalization)
    x = np.random.default_rng(0).uniform(0, 1, (8, 16, 16, 3)).astype("float32")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, np.arange(8) % 10, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(
        keras.saving.load_model(path).predict(x, verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="not known to be polynomial"):
        polynomial_degree(model)  # max pooling and instance normalization are not polynomial


def test_regularizers_keep_the_degree():
    plain = PiResNet(input_shape=(8, 8, 3), stage_widths=(4, 8), blocks_per_stage=(1, 1))
    regularized = PiResNet(
        input_shape=(8, 8, 3),
        stage_widths=(4, 8),
        blocks_per_stage=(1, 1),
        dropblock=0.1,
        stochastic_depth=0.1,
    )
    assert polynomial_degree(regularized) == polynomial_degree(plain) == 32


def test_relu_twin_has_one_convolution_per_polynomial_layer():
    kwargs = dict(input_shape=(8, 8, 3), stage_widths=(4, 8), blocks_per_stage=(1, 1))
    twin = PiResNet(block="relu", **kwargs)
    poly = PiResNet(**kwargs)
    convs = [layer for layer in twin.layers if isinstance(layer, keras.layers.Conv2D)]
    polys = [layer for layer in poly.layers if hasattr(layer, "branches")]
    shortcuts = [layer for layer in convs if layer.name.endswith("shortcut")]
    assert len(convs) - len(shortcuts) == len(polys) == 5
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in twin.layers) == 5
    with pytest.raises(ValueError, match="relu"):
        polynomial_degree(twin)


def test_pinet18_matched_parameter_count():
    model = get_model("pi_resnet18_matched", (32, 32, 3), 10)
    assert 11_000_000 <= model.count_params() <= 12_000_000  # PiNet-18: 11.7M


def test_model_options_are_checked_against_the_model():
    with pytest.raises(ValueError, match="has no option stochastic_depth"):
        get_model("polynet", (28, 28, 1), 10, stochastic_depth=0.1)
    with pytest.raises(ValueError, match="block"):
        PiResNet(block="gelu")


def test_multistep_schedule():
    lr = learning_rate_schedule(0.1, "multistep", total_steps=120)
    values = [float(lr(step)) for step in (0, 39, 41, 61, 81, 101)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.01, 1e-3, 1e-4, 1e-5], rtol=1e-5)


def linear_classifier_and_images(size, count, seed):
    """A dense 3-class model of ``size``×``size`` images, and ``count`` random images."""
    inputs = keras.Input((size, size, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    images = np.random.default_rng(seed).normal(size=(count, size, size, 1)).astype("float32")
    return keras.Model(inputs, outputs), images


def test_flip_averaged_accuracy():
    model, images = linear_classifier_and_images(4, 50, seed=0)

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    plain = model.predict(images, verbose=0)
    mirrored = model.predict(np.flip(images, axis=2), verbose=0)  # left-right
    averaged = (softmax(plain) + softmax(mirrored)).argmax(-1)
    assert (averaged != plain.argmax(-1)).any()  # the average decides some images
    labels = np.where(np.arange(50) < 30, averaged, (averaged + 1) % 3)
    batches = [(images[:25], labels[:25]), (images[25:], labels[25:])]
    assert flip_averaged_accuracy(model, batches) == pytest.approx(0.6)
    # Padding (weight 0) is not counted; a NaN prediction is wrong.
    nan = np.full_like(images[:2], np.nan)
    weights = np.array([1.0] * 30 + [0.0] * 20 + [1.0, 0.0])
    padded = (np.concatenate([images, nan]), np.concatenate([labels, [0, 0]]), weights)
    assert flip_averaged_accuracy(model, [padded]) == pytest.approx(30 / 31)


def test_shifted_moves_and_fills_black():
    images = np.arange(1, 17, dtype="float32").reshape(1, 4, 4, 1)
    down_right = shifted(images, 1, 2)[0, :, :, 0]
    np.testing.assert_array_equal(down_right[1:, 2:], images[0, :3, :2, 0])
    assert (down_right[0] == 0).all() and (down_right[:, :2] == 0).all()
    up = shifted(images, -1, 0)[0, :, :, 0]
    np.testing.assert_array_equal(up[:3], images[0, 1:, :, 0])
    assert (up[3] == 0).all()
    assert not shifted(images, 4, 0).any() and not shifted(images, 0, -9).any()


def test_tta_accuracy_averages_the_translated_and_mirrored_views():
    model, images = linear_classifier_and_images(6, 40, seed=1)
    views = tta_views(images, flip=True, translate=1)
    assert len(views) == 6 and len(tta_views(images, flip=False, translate=2)) == 3
    np.testing.assert_array_equal(views[1], shifted(images, 1, 1))
    np.testing.assert_array_equal(views[5], shifted(images, -1, -1)[:, :, ::-1])
    probabilities = sum(keras.ops.softmax(model.predict(v, verbose=0)) for v in views)
    averaged = keras.ops.convert_to_numpy(probabilities).argmax(-1)
    assert (averaged != model.predict(images, verbose=0).argmax(-1)).any()
    labels = np.where(np.arange(40) < 25, averaged, (averaged + 1) % 3)
    assert tta_accuracy(model, [(images, labels)], translate=1) == pytest.approx(25 / 40)
    # translate=0, flip=False: the plain accuracy.
    plain = model.predict(images, verbose=0).argmax(-1)
    expected = np.mean(plain == labels)
    assert tta_accuracy(model, [(images, labels)], flip=False) == pytest.approx(expected)


def test_device_pipeline_pads_for_the_devices():
    images = np.arange(10 * 2 * 2 * 1, dtype="uint8").reshape(10, 2, 2, 1)
    dataset = NumpyDataset(images, np.arange(10), 4, on_device=True, batch_multiple=4)
    x, y, w = dataset[2]  # the last batch: 2 examples, padded to 4
    assert keras.ops.is_tensor(x) and tuple(x.shape) == (4, 2, 2, 1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), [8, 9, 8, 9])
    np.testing.assert_array_equal(w, [1, 1, 0, 0])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_data_parallel_on_two_virtual_cpu_devices(tmp_path):
    out = tmp_path / "run"
    argv = [
        *TRAIN,
        "--dataset=digits",
        "--model=polynet",
        "--width=4",
        "--num_blocks=2",
        "--epochs=1",
        "--batch_size=64",
        "--strategy=data_parallel",
        "--pipeline=device",
        f"--output_dir={out}",
    ]
    env = jax_env("--xla_force_host_platform_device_count=2", PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["devices"] == 2
    # Every test image counted once (360: the last batch padded for the devices).
    assert metrics["num_test"] == 360 and 0 <= metrics["test_accuracy"] <= 1


def test_data_parallel_needs_jax():
    if keras.backend.backend() == "jax":
        pytest.skip("the refusal is for other backends")
    from pinet_keras.training.distribute import get_strategy

    with pytest.raises(ValueError, match="JAX backend"):
        get_strategy("data_parallel")


def test_loss_and_accuracy_take_class_probabilities():
    from pinet_keras.losses import Accuracy
    from pinet_keras.losses import LabelSmoothingCrossentropy

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32")
    mixed = rng.dirichlet(np.ones(4), size=6).astype("float32")
    ours = LabelSmoothingCrossentropy(from_logits=True, label_smoothing=0.1)
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    np.testing.assert_allclose(float(ours(mixed, logits)), float(keras_loss(mixed, logits)), 1e-5)
    labels = logits.argmax(-1)
    one_hot = np.eye(4, dtype="float32")[labels]
    np.testing.assert_allclose(float(ours(labels, logits)), float(ours(one_hot, logits)), 1e-6)
    for y in (labels, labels[:, None], one_hot):
        metric = Accuracy()
        metric.update_state(y, logits)
        assert float(metric.result()) == 1.0
    metric = Accuracy()
    metric.update_state((labels + 1) % 4, logits)
    assert float(metric.result()) == 0.0
    nan_logits = logits.copy()
    nan_logits[:3, 1] = np.nan  # argmax would still name a class
    metric = Accuracy()
    metric.update_state(labels, nan_logits)
    assert float(metric.result()) == 0.5


def test_a_non_finite_validation_loss_is_not_a_divergence(capsys):
    from pinet_keras.training.callbacks import DivergenceGuard
    from pinet_keras.training.callbacks import TrainingDiverged

    guard = DivergenceGuard()
    guard.on_epoch_end(0, {"loss": 1.0, "val_loss": float("inf")})
    assert "validation loss is inf" in capsys.readouterr().out
    with pytest.raises(TrainingDiverged):
        guard.on_epoch_end(0, {"loss": float("nan"), "val_loss": 1.0})


def test_mix_batches_on_both_pipelines():
    from pinet_keras.data.mixing import mix_batches

    images = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 1)).astype("uint8")
    labels = np.arange(32) % 4
    base = NumpyDataset(images, labels, 16)
    assert mix_batches(base, 4) is base  # both off
    mixed = mix_batches(base, 4, mixup=1.0, cutmix=1.0, seed=0)
    for index in range(len(mixed)):
        x, y = (keras.ops.convert_to_numpy(t) for t in mixed[index])
        assert x.dtype == np.float32 and y.shape == (16, 4)
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
        assert (y.max(-1) < 1).any() and 0 <= x.min() and x.max() <= 255
    with pytest.raises(ValueError, match="mixup"):
        mix_batches(base, 4, mixup=-1.0)
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    batches = list(mix_batches(dataset, 4, mixup=1.0, cutmix=1.0, seed=0))
    assert len(batches) == 2
    for x, y in batches:
        assert x.dtype == tf.float32 and tuple(y.shape) == (16, 4)
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-5)
