"""A run folder in real processes: two at once, SIGKILL, SIGTERM, Ctrl-C."""

import json
import os
import signal
import time

import pytest

from conftest import TINY_TRAIN_FLAGS
from conftest import TRAIN
from conftest import error_line
from conftest import run_command
from conftest import snapshot
from conftest import start_command
from conftest import temporary_files
from conftest import tensorflow_only

pytestmark = tensorflow_only


def _start(args):
    return start_command([*TRAIN, *args], default_sigint=True)


def _wait_for(predicate, process, timeout=300):
    # A first epoch takes 5-20 s here; the margin is for a CI machine under load,
    # where one such wait once ran past 90 s.
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _epochs_done(folder):
    path = folder / "backup" / "chief" / "training_metadata.json"
    try:
        return json.loads(path.read_text())["epoch"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_two_processes_on_one_folder_then_sigkill_and_resume(tmp_path):
    folder = tmp_path / "run"
    args = TINY_TRAIN_FLAGS + ["--epochs=10", f"--output_dir={folder}"]
    first = _start(args)
    try:
        _wait_for(lambda: _epochs_done(folder) >= 1, first)
        # Paused (it keeps its lock), so that it cannot finish its 10 epochs
        # while the second process starts on an idle machine.
        os.kill(first.pid, signal.SIGSTOP)
        second = run_command([*TRAIN, *args], timeout=300)
        assert second.returncode == 2
        assert f"pid {first.pid}" in error_line(second.stderr)
        # SIGKILL mid-run: no cleanup at all.
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()
    finally:
        if first.poll() is None:
            first.kill()
    before = snapshot(folder)
    result = run_command(
        [*TRAIN, *TINY_TRAIN_FLAGS, "--epochs=3", f"--output_dir={folder}"], timeout=180
    )
    assert result.returncode == 2  # other --epochs: refused, nothing changed
    assert "--epochs: 10 -> 3" in error_line(result.stderr)
    assert snapshot(folder) == before
    # What a kill during a save would leave: a temporary file of the dead process.
    litter = folder / f".model.keras.pinet-tmp-{first.pid}-0123456789ab.keras"
    litter.write_bytes(b"half")
    result = run_command([*TRAIN, *args], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resuming {folder} after epoch" in result.stdout
    assert temporary_files(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_leave_no_temporary_file(tmp_path, sig):
    folder = tmp_path / "run"
    process = _start(TINY_TRAIN_FLAGS + ["--epochs=200", f"--output_dir={folder}"])
    try:
        _wait_for(lambda: _epochs_done(folder) >= 1, process)
        time.sleep(0.3)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr[:1500] + stderr[-1500:]
    assert "rerun the command to resume" in error_line(stderr)
    assert temporary_files(folder) == []
    assert "metrics.json" not in os.listdir(folder)
    assert json.loads((folder / "run_config.json").read_text())["epochs"] == 200
    # The script exits without the interpreter's shutdown (`_cli`): what the
    # TensorBoard logs had of the finished epochs is on disk all the same.
    events = list((folder / "logs" / "train").glob("events.out.tfevents.*"))
    assert any(b"epoch_loss" in path.read_bytes() for path in events), events
