"""The parts of benchmarks/train_throughput.py that compute numbers: FLOPs, ratios, cores."""

import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCHMARKS)

import epoch_time  # noqa: E402
from throughput import report  # noqa: E402
from throughput import roofline  # noqa: E402
from train_throughput import parse_args  # noqa: E402


def test_training_flops_skip_the_input_gradient_of_layers_on_the_images():
    # forward, weight gradient and input gradient; no input gradient on the images
    assert roofline.training_flops([(10, False), (20, True)]) == 2 * 10 + 3 * 20
    assert roofline.training_flops([]) == 0


def test_polynet_flops_match_the_convolution_arithmetic():
    import pinet_keras
    from pinet_keras.models.polynet import ORIGINAL_BLOCKS

    layers = roofline.keras_layer_flops(pinet_keras.PolyNet())
    # Independently: rows (width multiplier, kernel, stride, padding) of the
    # seed network, two branches per block, 28×28×1 in, width 16.
    expected, size, channels = [], 28, 1
    for mult, kernel, stride, padding in ORIGINAL_BLOCKS:
        size = (size + 2 * padding - kernel) // stride + 1
        filters = 16 * mult
        expected.append(2 * 2 * kernel * kernel * channels * filters * size * size)
        channels = filters
    expected.append(2 * channels * size * size * 10)  # the dense head
    assert [flops for flops, _ in layers] == expected
    assert [needs for _, needs in layers] == [False] + [True] * (len(expected) - 1)


def _run(step_ms, step_cpu_ms, flops_layers=((100, False),), gemm=None):
    return {
        "step_ms": step_ms,
        "step_cpu_ms": step_cpu_ms,
        "training_flops_layers": [list(x) for x in flops_layers],
        "gemm_gflops": gemm,
        "latency_b1_ms": [1.0],
        "latency_b256_ms": [10.0],
        "peak_rss_mb": 900.0,
        "rss_after_import_mb": 800.0,
        "peak_rss_after_train_mb": 850.0,
        "params": 1,
    }


def test_ratios_per_round_cores_and_share_of_the_peak():
    runs = {
        "keras": [_run([50.0, 60.0], [90.0, 120.0], gemm=100.0), _run([40.0], [80.0])],
        "torch": [_run([55.0], [110.0], gemm=150.0), _run([60.0], [120.0])],
    }
    per_network = {n: report.summarize(runs.get(n), batch_size=100) for n in report.NETWORKS}
    flat = report.flatten_precision(per_network, runs)
    assert flat["ratio_vs_torch_rounds"] == pytest.approx([55 / 50, 60 / 40])
    assert flat["ratio_vs_torch_rounds_median"] == pytest.approx((55 / 50 + 60 / 40) / 2)
    assert flat["ratio_vs_torch"] == pytest.approx(55 / 40)  # fastest epochs, pooled
    assert flat["keras_cores_used"] == pytest.approx(2.0)  # median of 1.8, 2.0, 2.0
    assert flat["gemm_peak_gflops"] == 150.0  # the best framework's product
    # 300 FLOPs per image (2 × 100 on the input layer) at 100 / 40 ms = 2,500 img/s
    assert flat["keras_training_gflop_per_image"] == pytest.approx(200e-9)
    assert flat["keras_peak_share"] == pytest.approx(200 * 2500 / 1e9 / 150)
    assert flat["relu_cnn_img_per_s"] is None


@pytest.mark.parametrize(
    "argv", [["--steps=0"], ["--networks=keras,tensorflow"], ["--precisions=fp16"]]
)
def test_bad_arguments_stop_with_one_line(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--recipes=mnist_cpu,mnits_cpu"], "mnits_cpu"),
        (["--images=0"], "--images"),
        (["--rounds=0"], "--rounds"),
        (["--output=no_such_folder/epoch_time.json"], "no_such_folder"),
    ],
)
def test_epoch_time_bad_arguments_stop_with_one_line(argv, named, capsys):
    with pytest.raises(SystemExit):
        epoch_time.parse_args(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in last and named in last, last


def test_steal_share_is_the_stolen_part_of_the_cpu_time():
    from throughput.common import steal_share

    before = [100, 0, 50, 800, 0, 0, 0, 10, 5, 0]  # guest time (index 8) is inside user
    after = [160, 0, 70, 900, 10, 0, 0, 20, 9, 0]
    assert steal_share(before, after) == pytest.approx(10 / 200)
    assert steal_share(before, before) == 0.0
    assert steal_share(None, after) is None and steal_share(before[:4], after[:4]) is None


def test_epoch_time_recipes_are_the_presets():
    from pinet_keras.training import TrainConfig
    from pinet_keras.training.presets import apply_preset

    airbench = epoch_time.config_of("airbench94_network")
    assert airbench.model == "fast_net" and airbench.batch_size == 1024
    assert airbench.model_overrides == {"width": 64, "block": "relu"}
    for name in ("cifar10_cpu_relu", "cifar10_cpu_fast", "mnist_cpu"):
        assert epoch_time.config_of(name) == apply_preset(TrainConfig(), name)
    plain = epoch_time.config_of("cifar10_cpu_plain_float32")
    assert plain.mixed_precision == "none" and plain.model == "pi_resnet_small"
    assert epoch_time.build(epoch_time.config_of("mnist_cpu")).count_params() == 1_222_346


@pytest.mark.parametrize("method", ["tf", "slices", "s2d", "halves"])
def test_last_block_variants_compute_the_convolutions(method):
    """experiments/last_block.py: each variant is the block it replaces (training and inference)."""
    keras = pytest.importorskip("keras")
    if method == "tf" and keras.backend.backend() != "tensorflow":
        pytest.skip("tf.image.extract_patches needs TensorFlow")
    import numpy as np

    import pinet_keras

    sys.path.insert(0, os.path.join(BENCHMARKS, "experiments"))
    from last_block import HalvesBlock
    from last_block import PatchesBlock

    x = np.random.default_rng(0).normal(size=(4, 6, 6, 3)).astype("float32")
    reference = pinet_keras.PolynomialConv2D(5, 4, strides=2, padding="same")
    if method == "halves":
        variant = HalvesBlock(5, 4, strides=2, padding="same")
    else:
        variant = PatchesBlock(5, 4, strides=2, padding="same", method=method)
    reference.build(x.shape)
    variant.build(x.shape)
    variant.set_weights([w + 0.1 for w in reference.get_weights()])
    reference.set_weights(variant.get_weights())
    expected = np.asarray(reference(x, training=True))
    np.testing.assert_allclose(np.asarray(variant(x, training=True)), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(variant(x, training=False)), expected, atol=1e-5)


def _onednn_conv():
    sys.path.insert(0, os.path.join(BENCHMARKS, "experiments"))
    import onednn_conv

    return onednn_conv


def test_onednn_conv_shapes_are_the_polynet_blocks_inputs():
    """experiments/onednn_conv.py convolves what each block of the seed PolyNet receives."""
    import pinet_keras

    model = pinet_keras.PolyNet()
    blocks = [layer for layer in model.layers if isinstance(layer, pinet_keras.PolynomialConv2D)]
    for number, (size, channels, filters, kernel, stride, padding) in (
        _onednn_conv().block_shapes().items()
    ):
        layer = blocks[number - 1]
        assert tuple(layer.input.shape[1:]) == (size, size, channels)
        assert (layer.filters, layer.kernel_size, layer.strides, layer.padding) == (
            filters,
            (kernel, kernel),
            (stride, stride),
            "same" if padding else "valid",  # "same" pads 1 on each side in these blocks
        )


def test_onednn_conv_reads_the_fastest_call_of_each_pass():
    line = "onednn_verbose,v1,primitive,exec,cpu,convolution,{},{},src:bf16 wei:bf16,,alg,mb128,{}"
    lines = [line.format("jit_bf16:avx512_core", "backward_weights", ms) for ms in (90, 1, 20, 18)]
    lines += [line.format("brgconv:avx512_core", "forward_training", 5)]
    lines += ["onednn_verbose,v1,primitive,create:cache_miss,cpu,convolution,x,forward,,9"]
    lines += ["onednn_verbose,v1,primitive,exec,cpu,reorder,simple:any,undef,,0.1"]
    found = _onednn_conv().kernels("\n".join(lines))
    # The first two calls create the primitive and are left out, unless there are no others.
    assert found == {
        "backward_weights": ("jit_bf16:avx512_core", 18.0),
        "forward_training": ("brgconv:avx512_core", 5.0),
    }
