"""PiResNet (activation-free ResNet of polynomial blocks) and the CIFAR-10 presets."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import BACKEND
from conftest import ROOT
from conftest import float64_images
from conftest import gradients
from conftest import random_images
from conftest import tensorflow_only
from pinet_keras import PiResNet
from pinet_keras import PolynomialConv2D
from pinet_keras import get_model
from pinet_keras import polynomial_degree

# Two stages of one block: every kind of layer, a fraction of a second to build.
TINY = dict(stage_widths=(4, 8), blocks_per_stage=(1, 1))

NON_POLYNOMIAL = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)


def _all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


@pytest.mark.parametrize(
    "input_shape, num_classes",
    [((32, 32, 3), 10), ((28, 28, 1), 10), ((8, 8, 1), 3)],
)
def test_output_shape(input_shape, num_classes):
    model = PiResNet(input_shape=input_shape, num_classes=num_classes, **TINY)
    assert isinstance(model, keras.Model)
    assert model.output_shape == (None, num_classes)
    y = model.predict(random_images((2, *input_shape)), verbose=0)
    assert y.shape == (2, num_classes) and np.isfinite(y).all()


def test_preprocessing_layers_come_first():
    from pinet_keras.models import pixel_preprocessing

    layers = pixel_preprocessing((8, 8, 1), "standardize", mean=(78.0,), variance=(9200.0,))
    model = PiResNet(input_shape=(8, 8, 1), preprocessing=layers, **TINY)
    model_layers = [
        layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
    ]
    assert (
        all(a is b for a, b in zip(model_layers, layers))
        and model_layers[len(layers)].name == "stem"
    )
    assert model.count_params() == PiResNet(input_shape=(8, 8, 1), **TINY).count_params()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1)).astype("uint8")
    y = model.predict(pixels, verbose=0)
    assert y.shape == (2, 10) and np.isfinite(y).all()


def test_architecture():
    model = PiResNet(stage_widths=(8, 16, 32), blocks_per_stage=(2, 1, 1), dropout=0.1)
    polys = [layer for layer in model.layers if isinstance(layer, PolynomialConv2D)]
    # Stem + 4 blocks of 2 polynomial convolutions.
    assert len(polys) == 9
    for layer in polys:
        assert layer.use_skip and layer.normalization == "batch" and layer.kernel_size == (3, 3)
    assert model.get_layer("stage1_block2_poly1").output.shape[1:] == (32, 32, 8)
    assert model.get_layer("stage2_block1_poly1").strides == (2, 2)
    assert model.get_layer("stage3_block1_add").output.shape[1:] == (8, 8, 32)
    # Identity shortcuts inside a stage, a strided 1x1 projection between stages.
    assert "stage1_block2_shortcut" not in [layer.name for layer in model.layers]
    assert model.get_layer("stage2_block1_shortcut").strides == (2, 2)
    assert isinstance(model.get_layer("pool"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("dropout").rate == 0.1


def test_no_activation_anywhere():
    for model in (PiResNet(**TINY, dropout=0.2), PiResNet(**TINY, stem="conv")):
        layers = _all_layers(model)
        assert any(isinstance(layer, PolynomialConv2D) for layer in layers)
        for layer in layers:
            assert not isinstance(layer, NON_POLYNOMIAL), layer.name
            activation = getattr(layer, "activation", None)
            assert activation is None or activation.__name__ == "linear", layer.name
            if isinstance(layer, keras.layers.Activation):
                assert layer.get_config()["activation"] == "linear", layer.name


def test_inference_is_exactly_a_polynomial_of_the_degree_reported():
    # At inference batch normalization is affine: along any line x + t d the
    # logits are a polynomial in t of degree polynomial_degree(model). A
    # degree-4 network: its 5th finite differences vanish, its 4th do not.
    # (A full product scale and long steps make the degree-4 term stand out.)
    keras.utils.set_random_seed(0)
    model = PiResNet(
        input_shape=(6, 6, 2),
        num_classes=3,
        stage_widths=(3,),
        blocks_per_stage=(1,),
        stem="conv",
        product_scale=1.0,
        dtype="float64",
    )
    assert polynomial_degree(model) == 4
    x = float64_images((1, 6, 6, 2), seed=1)
    d = float64_images((1, 6, 6, 2), seed=2)
    values = np.stack(
        [keras.ops.convert_to_numpy(model(x + 10.0 * t * d, training=False))[0] for t in range(6)]
    )
    fourth = np.abs(np.diff(values, n=4, axis=0)).max()
    fifth = np.abs(np.diff(values, n=5, axis=0)).max()
    # keras.ops.mean (batch normalization, global average pooling) loses the
    # float64 precision on JAX (float32-level errors, measured): a looser bound.
    tolerance = 1e-9 if BACKEND == "tensorflow" else 1e-5
    scale = np.abs(values).max()
    print(f"4th differences {fourth / scale:.2e}, 5th {fifth / scale:.2e} of the largest logit")
    assert fourth > 1e-3 * scale
    assert fifth < tolerance * scale


@pytest.mark.parametrize(
    "kwargs, degree",
    [
        (dict(TINY), 2 * 4**2),
        (dict(TINY, stem="conv"), 4**2),
        (dict(TINY, convs_per_block=1), 2 * 2**2),
        (dict(stage_widths=(4, 8, 16), blocks_per_stage=(2, 2, 2)), 2 * 4**6),
    ],
)
def test_polynomial_degree(kwargs, degree):
    assert polynomial_degree(PiResNet(**kwargs)) == degree


def test_registered_presets():
    small = get_model("pi_resnet_small", (32, 32, 3), 10)
    assert small.count_params() == 154_554
    assert polynomial_degree(small) == 2**7
    # --width and --num_blocks of examples/train.py reach the model.
    model = get_model("pi_resnet_small", (32, 32, 3), 10, width=8, num_blocks=2, dropout=None)
    assert model.get_layer("stage3_block2_poly2").filters == 32
    assert model.get_layer("stem").filters == 8


@tensorflow_only  # 22M parameters: a few seconds on TensorFlow, slow to initialize on JAX
def test_gpu_preset_is_the_resnet18_analogue():
    model = get_model("pi_resnet", (32, 32, 3), 10)
    assert model.count_params() == 22_198_090
    assert polynomial_degree(model) == 2**17
    polys = [layer for layer in model.layers if isinstance(layer, PolynomialConv2D)]
    assert [layer.filters for layer in polys] == [64] + [64] * 4 + [128] * 4 + [256] * 4 + [512] * 4
    assert model.get_layer("stage4_block2_add").output.shape[1:] == (4, 4, 512)


@pytest.mark.parametrize("scale", [0.1, 0.02])
def test_product_scale_starts_small(scale):
    model = PiResNet(**TINY, product_scale=scale)
    polys = [layer for layer in model.layers if isinstance(layer, PolynomialConv2D)]
    assert len(polys) == 5
    for layer in polys:
        assert layer.product_scale == scale
        gamma = keras.ops.convert_to_numpy(layer.product_scale_weight)
        np.testing.assert_allclose(gamma, scale)
        assert layer.product_scale_weight.trainable


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(stage_widths=()), "stage_widths"),
        (dict(stage_widths=(8, 16), blocks_per_stage=(1,)), "same length"),
        (dict(blocks_per_stage=(1, 0, 1, 1)), "blocks_per_stage"),
        (dict(convs_per_block=0), "convs_per_block"),
        (dict(stem="relu"), "stem"),
        (dict(product_scale=None), "product_scale"),
        (dict(dropout=1.0), "dropout"),
        (dict(input_shape=(32, 32)), "input_shape"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PiResNet(**kwargs)


def _compiled(model):
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_training_lowers_the_loss_and_gradients_are_finite():
    keras.utils.set_random_seed(0)
    model = PiResNet(input_shape=(8, 8, 3), **TINY)
    x = random_images((16, 8, 8, 3))
    y = np.arange(16) % 10
    grads = gradients(model, x)
    assert len(grads) == len(model.trainable_variables)
    for path, grad in grads.items():
        assert np.isfinite(grad).all(), path
    assert any(np.abs(g).max() > 0 for p, g in grads.items() if "product_scale" in p)
    _compiled(model)
    losses = [float(model.train_on_batch(x, y)) for _ in range(8)]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_serialization_round_trip_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(0)
    model = _compiled(PiResNet(input_shape=(16, 16, 3), num_classes=5, **TINY, dropout=0.1))
    x = random_images((4, 16, 16, 3))
    # A training step, so that the moving statistics and scales are not the initial ones.
    model.train_on_batch(x, np.arange(4))
    expected = model.predict(x, verbose=0)
    path = tmp_path / "pi_resnet.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, keras, pinet_keras\n"
        "model = keras.saving.load_model(sys.argv[1], safe_mode=True)\n"
        "print(pinet_keras.polynomial_degree(model))\n"
        "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(polynomial_degree(model))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["global", "argument"])
def test_mixed_bfloat16_reaches_every_sublayer(how):
    if how == "global":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = PiResNet(**TINY, dtype=None if how == "global" else "mixed_bfloat16")
        y = model(random_images((2, 32, 32, 3)))
        assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
        checked = 0
        for layer in _all_layers(model):
            if isinstance(layer, keras.layers.InputLayer):
                continue
            assert layer.dtype_policy.name == "mixed_bfloat16", layer.name
            assert layer.compute_dtype == "bfloat16", layer.name
            checked += 1
        assert checked > 20  # the branches and normalizations inside the blocks too
        assert all(w.dtype == "float32" for w in model.weights)
        assert np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))).all()
    finally:
        keras.config.set_dtype_policy("float32")


# -- presets -----------------------------------------------------------------


def test_presets_are_valid_configs():
    from pinet_keras.models import MODELS
    from pinet_keras.training import TrainConfig
    from pinet_keras.training.presets import PRESETS
    from pinet_keras.training.presets import apply_preset

    assert {"cifar10", "cifar10_fast", "cifar10_cpu", "cifar10_authors"} <= set(PRESETS)
    for name in PRESETS:
        config = apply_preset(TrainConfig(), name)
        config.validate()
        assert config.model in MODELS and config.augment
        if not name.startswith("cifar10"):
            continue
        assert config.dataset == "cifar10"
        # The fast recipes' label smoothing is 0.2, the others' 0.1.
        fast_family = config.model == "fast_net"
        assert config.label_smoothing == (0.2 if fast_family else 0.1)
        assert config.weight_decay > 0
        assert config.input_normalization == "standardize"
        if name != "cifar10_authors":
            assert config.lr_schedule == "cosine" and config.warmup_epochs > 0
    assert PRESETS["cifar10"]["model"] == "pi_resnet"
    assert PRESETS["cifar10_cpu"]["model"] == "pi_resnet_small"
    # The CPU recipe is the plain one plus the authors' regularizers and TTA.
    cpu, plain = (apply_preset(TrainConfig(), n) for n in ("cifar10_cpu", "cifar10_cpu_plain"))
    assert cpu.tta_flip and not plain.tta_flip and plain.model_overrides == {"width": 32}
    model = get_model(cpu.model, (32, 32, 3), 10, **cpu.model_overrides)
    names = {type(layer).__name__ for layer in model.layers}
    assert {"InstanceBatchNormalization", "MaxPooling2D", "DropBlock2D"} <= names
    assert 100 <= PRESETS["cifar10"]["epochs"] <= 200
    # The R-PolyNets authors' recipe: SGD 0.1, plain momentum, batch 128, 120 epochs
    # divided by 10 at 40/60/80/100, instance-batch norm, max pooling, DropBlock.
    authors = apply_preset(TrainConfig(), "cifar10_authors")
    assert (authors.optimizer, authors.learning_rate, authors.nesterov) == ("sgd", 0.1, False)
    assert (authors.batch_size, authors.epochs, authors.lr_schedule) == (128, 120, "multistep")
    model = get_model(authors.model, (32, 32, 3), 10)
    names = {type(layer).__name__ for layer in model.layers}
    assert {"InstanceBatchNormalization", "MaxPooling2D", "DropBlock2D"} <= names
    assert 11_000_000 <= model.count_params() <= 12_000_000
    # The GPU recipe keeps its data on the device and needs no TensorFlow pipeline.
    fast = apply_preset(TrainConfig(), "cifar10_fast")
    assert fast.pipeline == "device" and fast.mixed_precision == "bf16" and fast.tta_flip
    # The one-hour CPU pair: the polynomial FastNet and its ReLU reference.
    poly, relu = (apply_preset(TrainConfig(), n) for n in ("cifar10_cpu_fast", "cifar10_cpu_relu"))
    assert polynomial_degree(get_model(poly.model, (32, 32, 3), 10, **poly.model_overrides)) == 64
    assert relu.model == "fast_net" and relu.model_overrides["block"] == "relu"
    assert (
        poly.tta_flip and relu.tta_flip and poly.mixed_precision == relu.mixed_precision == "none"
    )
    # The digits recipe: the seed network with BN and skips, within 1.3M parameters,
    # translated but never mirrored.
    digits = apply_preset(TrainConfig(), "mnist_cpu")
    assert digits.dataset == "mnist" and not digits.tta_flip
    fashion = apply_preset(TrainConfig(), "fashion_mnist_cpu")
    assert fashion.dataset == "fashion_mnist" and fashion.tta_flip
    for config in (digits, fashion):
        model = get_model(config.model, (28, 28, 1), 10, **(config.model_overrides or {}))
        assert model.count_params() <= 1_300_000 and polynomial_degree(model) == 32
    assert model.get_layer("dropout").rate == 0.1
    # The GPU recipe: the fast layout at the widths of the fastest ReLU recipe.
    model = get_model(fast.model, (32, 32, 3), 10, **fast.model_overrides)
    assert fast.model == "fast_net" and fast.label_smoothing == 0.2
    assert model.get_layer("group1_conv1").filters == 64 and polynomial_degree(model) == 64


def test_apply_preset_explicit_fields_win():
    from pinet_keras.training import TrainConfig
    from pinet_keras.training.presets import PRESETS
    from pinet_keras.training.presets import apply_preset

    config = TrainConfig(
        epochs=3, input_normalization="unit", output_dir="runs/x", model_overrides={"width": 8}
    )
    new = apply_preset(
        config, "cifar10_cpu", explicit=["epochs", "input_normalization", "output_dir"]
    )
    assert new is not config and config.model == "polynet"  # the input is untouched
    assert (new.epochs, new.input_normalization, new.output_dir) == (3, "unit", "runs/x")
    for field in (
        "model",
        "optimizer",
        "learning_rate",
        "label_smoothing",
        "weight_decay",
        "augment",
    ):
        assert getattr(new, field) == PRESETS["cifar10_cpu"][field], field
    # The preset's model options, then the caller's: --width wins.
    assert new.model_overrides == {
        "width": 8,
        "normalization": "instance_batch",
        "max_pooling": True,
        "dropblock": 0.1,
    }
    with pytest.raises(ValueError, match="Unknown preset"):
        apply_preset(config, "imagenet")
    with pytest.raises(ValueError, match="Not fields of TrainConfig: normalization"):
        apply_preset(config, "cifar10", explicit=["normalization"])  # the flag's old field


def test_apply_preset_names_the_preset_behind_a_bad_value():
    from pinet_keras.training import TrainConfig
    from pinet_keras.training.presets import apply_preset

    # A quick try of a recipe: --epochs=1 against the recipe's 2-epoch warm-up.
    with pytest.raises(ValueError) as error:
        apply_preset(TrainConfig(epochs=1), "cifar10_cpu", explicit=["epochs"])
    message = str(error.value)
    assert "--warmup_epochs" in message and "epochs=1" in message
    assert message.endswith("(preset 'cifar10_cpu' sets warmup_epochs=2.0)")
    # A bad value the caller gave is its own: no preset named.
    with pytest.raises(ValueError, match=r"--learning_rate\.$"):
        apply_preset(TrainConfig(learning_rate=-1.0), "cifar10_cpu", explicit=["learning_rate"])
    # Given explicitly, a warm-up that fits the shorter run is accepted.
    new = apply_preset(
        TrainConfig(epochs=1, warmup_epochs=0.0),
        "cifar10_cpu",
        explicit=["epochs", "warmup_epochs"],
    )
    assert (new.epochs, new.warmup_epochs) == (1, 0.0)


@pytest.fixture
def train_script(monkeypatch):
    """The train command's module (`pinet_keras.cli.train`), with `train` replaced by a recorder."""
    module = importlib.import_module("pinet_keras.cli.train")
    import pinet_keras.training

    seen = []

    def fake_train(config):
        seen.append(config)
        return dict(
            dataset=config.dataset,
            model=config.model,
            params=0,
            epochs=config.epochs,
            test_accuracy=0.0,
            test_loss=0.0,
        )

    monkeypatch.setattr(pinet_keras.training, "train", fake_train)
    yield module, seen
    module.FLAGS.unparse_flags()


def test_train_script_preset_flag(train_script, capsys):
    module, seen = train_script
    argv = [
        "--preset=cifar10_cpu",
        "--data_dir=/data",
        "--epochs=3",
        "--input_normalization=unit",
        "--width=8",
    ]
    module.FLAGS(["train.py", *argv])
    assert module.explicit_fields() == [
        "data_dir",
        "epochs",
        "input_normalization",
        "model_overrides",
    ]
    assert module.main([]) == 0
    (config,) = seen
    assert (config.epochs, config.input_normalization, config.data_dir) == (3, "unit", "/data")
    assert config.model_overrides["width"] == 8
    assert (config.dataset, config.model, config.optimizer) == ("cifar10", "pi_resnet_small", "sgd")
    assert config.label_smoothing == 0.1 and config.augment and config.lr_schedule == "cosine"
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"] == "pi_resnet_small"
    )

    module.FLAGS.unparse_flags()
    module.FLAGS(["train.py", "--preset=nope"])
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):  # one line through _cli.run
        module.main([])
    assert len(seen) == 1

    module.FLAGS.unparse_flags()
    module.FLAGS(["train.py", "--epochs=4"])  # no preset: the flags' defaults, as before
    assert module.main([]) == 0
    assert (seen[-1].model, seen[-1].optimizer, seen[-1].epochs) == ("polynet", "adam", 4)


def test_results_rows_are_made_by_their_flags(train_script):
    # Each one-hour and 30-minute row of the results tables gives the flags of
    # `pinet-keras train` it was made with: they must give its stored settings.
    from pinet_keras.data import augmentation_policy
    from pinet_keras.training import TrainConfig

    spec = importlib.util.spec_from_file_location(
        "results_tables", os.path.join(ROOT, "scripts", "results_tables.py")
    )
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    module, seen = train_script
    rows = [
        (f"results/cifar10/{run}", flags) for run, (_, flags) in tables.CIFAR10_HOUR_RUNS.items()
    ]
    rows += [(f"results/{run}", flags) for run, (_, flags) in tables.DIGITS_CPU_RUNS.items()]
    defaults = TrainConfig().settings()
    for folder, flags in rows:
        module.FLAGS.unparse_flags()
        module.FLAGS(["train.py", *flags.strip("`").split()])
        assert module.main([]) == 0
        made = json.loads(json.dumps(seen[-1].settings()))
        with open(os.path.join(ROOT, folder, "metrics.json")) as f:
            stored = json.load(f)["config"]
        # Fields added since a run was made have their default in it.
        stored = {k: stored.get(k, json.loads(json.dumps(defaults[k]))) for k in made}
        # An unset --translate is the data set's translation.
        for settings in (made, stored):
            if settings["translate"] is None:
                settings["translate"] = augmentation_policy(settings["dataset"]).padding
        assert made == stored, folder
