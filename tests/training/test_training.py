"""Training runs: outputs, resume after a kill, divergence, distribution strategies."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from conftest import ROOT
from conftest import TRAIN
from conftest import run_command
from conftest import tensorflow_only
from conftest import tiny_train_config

pytestmark = tensorflow_only

TINY = ["--dataset=digits", "--width=4", "--num_blocks=3"]


def _config(tmp_path, **kwargs):
    """`conftest.tiny_train_config` of a width-4, three-block PolyNet in ``tmp_path/run``."""
    kwargs.setdefault("model_overrides", dict(width=4, num_blocks=3))
    return tiny_train_config(tmp_path / "run", **kwargs)


def test_train_writes_every_output(tmp_path):
    from pinet_keras.training import HistoryCSV
    from pinet_keras.training import train

    config = _config(
        tmp_path,
        tensorboard=True,
        label_smoothing=0.1,
        lr_schedule="cosine",
        warmup_epochs=0.5,
        tta_translate=1,
    )
    metrics = train(config)
    out = tmp_path / "run"
    for name in ("model.keras", "history.csv", "curves.png", "metrics.json"):
        assert (out / name).is_file(), name
    assert any((out / "logs").rglob("*tfevents*"))
    assert not (out / "backup").exists()
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "epochs", "dataset", "params"):
        assert key in saved
    assert saved == json.loads(json.dumps(metrics))
    assert saved["epochs"] == 2 and saved["dataset"] == "digits"
    assert 0.0 <= saved["test_accuracy"] <= 1.0
    rows = HistoryCSV.read(str(out / "history.csv"))
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    # The saved model is the best epoch on validation and reproduces it.
    model = keras.saving.load_model(out / "model.keras")
    assert model.count_params() == saved["params"]
    # It takes raw pixels; metrics.json says how it normalizes them.
    assert [layer.name for layer in model.layers[:2]] == ["pixel_range", "rescaling"]
    assert saved["input_normalization"] == "unit" and saved["pixel_range"] == [0, 255]
    assert saved["input_shape"] == [8, 8, 1] and saved["class_names"] == [str(i) for i in range(10)]
    # It is bounded: each polynomial layer clips to its range on the training images.
    from pinet_keras.models import polynomial_layers

    assert saved["output_range_images"] == saved["num_train"]  # digits: fewer than 2,000
    ranges = [layer.output_range for layer in polynomial_layers(model)]
    assert len(ranges) == 3 and all(low < 0 < high for low, high in ranges), ranges
    # --tta_translate: the bounded model's accuracy over translated views, both splits.
    from pinet_keras.data import make_datasets
    from pinet_keras.training.evaluation import tta_accuracy

    data = make_datasets("digits", batch_size=64, seed=config.seed, shuffle=False)
    for split, dataset in (("val", data.validation), ("test", data.test)):
        expected = tta_accuracy(model, dataset, flip=False, translate=1)
        assert saved[f"{split}_accuracy_tta_translate"] == pytest.approx(expected)
    assert "test_accuracy_tta_flip" not in saved
    # scripts/tta_eval.py measures the same views of the finished run.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tta_eval", os.path.join(ROOT, "scripts", "tta_eval.py")
    )
    tta_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tta_eval)
    views = tta_eval.evaluate(str(out), None, 1)["views"]
    assert set(views) == {"none", "translate"}  # digits are not flipped
    assert views["translate"]["test"] == pytest.approx(saved["test_accuracy_tta_translate"])
    assert views["none"]["test"] == pytest.approx(saved["test_accuracy"], abs=1e-6)
    assert json.loads((out / "tta.json").read_text())["views"] == views


def test_tta_eval_of_a_broken_run_is_one_line(tmp_path, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tta_eval", os.path.join(ROOT, "scripts", "tta_eval.py")
    )
    tta_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tta_eval)
    run = tmp_path / "run"
    run.mkdir()
    config = {"dataset": "digits", "data_dir": None, "batch_size": 64}
    config.update(validation_split=0.1, seed=0, image_size=None)
    (run / "metrics.json").write_text(json.dumps({"config": config, "input_shape": [8, 8, 1]}))
    (run / "model.keras").write_text("not a model")
    monkeypatch.setattr(sys, "argv", ["tta_eval.py", str(run)])
    with pytest.raises(SystemExit) as exit:
        tta_eval.main()
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "model.keras" in error, error
    assert sorted(os.listdir(run)) == ["metrics.json", "model.keras"]


@pytest.mark.slow
def test_finished_run_is_not_overwritten(tmp_path):
    from pinet_keras.training import train

    train(_config(tmp_path, epochs=1))
    before = (tmp_path / "run" / "metrics.json").read_text()
    with pytest.raises(FileExistsError, match="overwrite"):
        train(_config(tmp_path, epochs=1))
    assert (tmp_path / "run" / "metrics.json").read_text() == before
    train(_config(tmp_path, epochs=1, overwrite=True, seed=1))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["seed"] == 1


@pytest.mark.slow
def test_killed_run_resumes_from_last_epoch(tmp_path):
    out = tmp_path / "run"
    args = TINY + ["--epochs=6", "--batch_size=8", f"--output_dir={out}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    process = subprocess.Popen(
        [sys.executable, *TRAIN, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    metadata = out / "backup" / "chief" / "training_metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "metrics.json").exists()
    done = json.loads(metadata.read_text())["epoch"]
    assert 2 <= done < 6

    result = run_command([*TRAIN, *args], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming {out} after epoch {done} of 6" in result.stdout
    from pinet_keras.training import HistoryCSV

    rows = HistoryCSV.read(str(out / "history.csv"))
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 6
    # The resumed run trained only the missing epochs.
    trained = result.stdout.count("Epoch ")
    assert trained == 6 - done, result.stdout


def test_divergence_stops_with_epoch_and_batch(tmp_path):
    from pinet_keras.training import TrainingDiverged
    from pinet_keras.training import train

    with pytest.raises(TrainingDiverged, match=r"at epoch 1, batch \d+.*learning_rate") as info:
        train(_config(tmp_path, optimizer="sgd", learning_rate=1e6))
    assert info.value.epoch == 0
    assert info.value.checkpoint is None


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import tensorflow as tf

    import pinet_keras.data
    from pinet_keras.training import TrainingDiverged
    from pinet_keras.training import train

    real = pinet_keras.data.make_datasets
    steps = tf.Variable(0, dtype=tf.int64)

    def poisoned(*args, **kwargs):
        data = real(*args, **kwargs)
        steps_per_epoch = -(-data.info.num_train // kwargs["batch_size"])

        def maybe_nan(x, y):
            # Batches of the third epoch and later carry a NaN (the raw uint8
            # pixels as floats: the model takes either).
            steps.assign_add(1)
            bad = steps > 2 * steps_per_epoch
            x = tf.cast(x, tf.float32)
            return tf.where(bad, x * np.nan, x), y

        return data._replace(train=data.train.map(maybe_nan))

    monkeypatch.setattr(pinet_keras.data, "make_datasets", poisoned)
    with pytest.raises(TrainingDiverged, match="at epoch 3, batch 1") as info:
        train(_config(tmp_path, epochs=4))
    checkpoint = info.value.checkpoint
    assert checkpoint == str(tmp_path / "run" / "model.keras")
    model = keras.saving.load_model(checkpoint)
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices(tmp_path):
    out = tmp_path / "run"
    result = run_command(
        [*TRAIN, *TINY, "--epochs=1", "--strategy=mirrored", "--cpu_devices=2"]
        + [f"--output_dir={out}"],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CPU:1" in result.stderr  # MirroredStrategy logs the devices it uses
    assert json.loads((out / "metrics.json").read_text())["config"]["strategy"] == "mirrored"


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_strategy_with_two_processes(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        args = TINY + [
            "--epochs=1",
            "--strategy=multi_worker",
            f"--output_dir={tmp_path / f'w{index}'}",
        ]
        processes.append(
            subprocess.Popen(
                [sys.executable, *TRAIN, *args],
                env={**env, "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in processes]
    for p, (_, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    assert (tmp_path / "w0" / "metrics.json").is_file()  # the chief writes
    assert not (tmp_path / "w1" / "metrics.json").exists()  # the other worker does not


def test_bad_config_is_rejected(tmp_path):
    from pinet_keras.training import train

    with pytest.raises(ValueError, match="epochs"):
        train(_config(tmp_path, epochs=0))
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        train(_config(tmp_path, model="nope"))
    with pytest.raises(ValueError, match="Unknown optimizer"):
        train(_config(tmp_path, optimizer="adagrad2"))
    with pytest.raises(ValueError, match="input_normalization"):
        train(_config(tmp_path, input_normalization="minmax"))
    with pytest.raises(TypeError, match="normalization"):
        _config(tmp_path, normalization="unit")  # renamed input_normalization


X86_FLAGS = "fpu vme sse2 avx2 avx512f avx512_vnni"


@pytest.mark.parametrize(
    "cpuinfo, devices, noted",
    [
        pytest.param(f"processor\t: 0\nflags\t\t: {X86_FLAGS}\n", ["cpu:0"], True, id="x86"),
        pytest.param(f"flags\t: {X86_FLAGS} avx512_bf16\n", ["cpu:0"], False, id="avx512_bf16"),
        pytest.param(f"flags\t: {X86_FLAGS} amx_bf16\n", ["cpu:0"], False, id="amx_bf16"),
        pytest.param("Features\t: fp asimd sve\n", ["cpu:0"], True, id="arm"),
        pytest.param("Features\t: fp asimd bf16\n", ["cpu:0"], False, id="arm_bf16"),
        pytest.param(f"flags\t: {X86_FLAGS}\n", ["cpu:0", "gpu:0"], False, id="gpu"),
        pytest.param("processor\t: 0\n", ["cpu:0"], False, id="no_flags_line"),
        pytest.param(None, ["cpu:0"], False, id="no_cpuinfo"),  # macOS, Windows
    ],
)
def test_bf16_note_on_a_cpu_without_bf16_instructions(tmp_path, cpuinfo, devices, noted):
    from pinet_keras.training import trainer

    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    note = trainer.bf16_note(devices, trainer.cpu_flags(str(path)))
    assert (note is not None) == noted, note
    if noted:
        assert "no bf16 instructions" in note and "--mixed_precision=none" in note


@pytest.mark.parametrize(
    "flags, mixed_precision, printed",
    [
        (X86_FLAGS, "bf16", True),
        (X86_FLAGS + " avx512_bf16", "bf16", False),
        (X86_FLAGS, "none", False),
        (X86_FLAGS, "fp16", False),
    ],
)
def test_train_prints_the_bf16_note(tmp_path, monkeypatch, capsys, flags, mixed_precision, printed):
    from pinet_keras.training import trainer

    def stop(*args):
        raise KeyboardInterrupt  # the note comes before any training

    path = tmp_path / "cpuinfo"
    path.write_text(f"flags\t\t: {flags}\n")
    monkeypatch.setattr(trainer, "_train", stop)
    monkeypatch.setattr(trainer, "CPUINFO", str(path))
    with pytest.raises(KeyboardInterrupt):
        trainer.train(_config(tmp_path, mixed_precision=mixed_precision))
    assert ("no bf16 instructions" in capsys.readouterr().out) == printed
    assert keras.config.dtype_policy().name == "float32"
