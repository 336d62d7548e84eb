"""`pinet_keras._io`: every file written all at once or not at all, and no litter.

Each case asserts that no file that existed before changed (`snapshot`).
"""

import errno
import os
from pathlib import Path

import pytest

from conftest import ROOT
from conftest import snapshot
from conftest import temporary_files
from conftest import tensorflow_only

pytestmark = tensorflow_only


def test_leftovers_of_a_live_process_are_kept_without_a_lock(tmp_path):
    from pinet_keras import _io

    parent_pid = os.getppid()
    live = tmp_path / f".out.tflite{_io.TEMP_MARK}{parent_pid}-0123456789ab.tflite"
    dead = tmp_path / f".out.tflite{_io.TEMP_MARK}{2**22 + 17}-0123456789ab.tflite"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    assert _io.remove_leftovers(tmp_path) == [str(dead)]
    assert live.exists()


def test_full_disk_while_writing_a_file_keeps_the_old_one(tmp_path, monkeypatch):
    from pinet_keras import _io

    target = tmp_path / "history.csv"
    target.write_text("old")
    before = snapshot(tmp_path)

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_fsync)
    with pytest.raises(OSError, match="No space left"):
        _io.write_text(target, "new", overwrite=True)
    assert snapshot(tmp_path) == before


def test_failed_model_save_leaves_no_temporary_file(tmp_path):
    from pinet_keras import _io

    class Unsaveable:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half a zip")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    (tmp_path / "model.keras").write_bytes(b"the good one")
    before = snapshot(tmp_path)
    with pytest.raises(OSError):
        _io.save_model_atomic(Unsaveable(), tmp_path / "model.keras")
    assert snapshot(tmp_path) == before


def test_interrupted_atomic_output_leaves_the_target_and_no_litter(tmp_path):
    from pinet_keras import _io

    (tmp_path / "best_model.keras").write_bytes(b"old")
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with _io.atomic_output(tmp_path / "best_model.keras", overwrite=True) as temporary:
            with open(temporary, "wb") as f:
                f.write(b"half")
            raise KeyboardInterrupt
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_what_the_output_writes(tmp_path):
    from pinet_keras import _io

    run = tmp_path / "run"  # a training run where a file or an export folder would go
    run.mkdir()
    (run / "model.keras").write_bytes(b"weeks of training")
    document = tmp_path / "notes.txt"
    document.write_text("keep me\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "model_int8.tflite").write_bytes(b"old export")
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="is a folder, not a file"):
        _io.write_text(run, "a report\n", overwrite=True)
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        with _io.atomic_output(document, overwrite=True) as temporary:
            os.makedirs(temporary)
    owns = lambda name: name.endswith(".tflite")  # noqa: E731
    with pytest.raises(FileExistsError, match=r"does not write \(model.keras\)"):
        with _io.atomic_output(run, overwrite=True, owns=owns) as temporary:
            pytest.fail("the check comes before any work")
    assert snapshot(tmp_path) == before and temporary_files(tmp_path) == []
    with pytest.raises(FileExistsError, match="--output_dir.*--overwrite"):
        _io.check_overwrite(run, overwrite=False, flag="--output_dir")
    with _io.atomic_output(export, overwrite=True, owns=owns) as temporary:  # an export: replaced
        os.makedirs(temporary)
        (Path(temporary) / "model_float32.tflite").write_bytes(b"new export")
    assert os.listdir(export) == ["model_float32.tflite"]


def test_only_the_io_module_writes_files():
    """Every file of the package is written by `pinet_keras._io` (all at once, or not at all)."""
    import re

    package = os.path.join(ROOT, "pinet_keras")
    # A call, not a mention in a message (`model.save(...)`).
    writes = re.compile(
        r"\bopen\(.*,\s*[\"'][wax]b?\+?[\"']|(?<![`\w])\w+\.(savefig|save)\(|json\.dump\("
        r"|os\.replace\("
    )
    found = []
    for folder, _, names in os.walk(package):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or os.path.relpath(path, package) in ("_io.py", "_run.py"):
                continue
            with open(path, encoding="utf-8") as f:
                found += [f"{name}: {line.strip()}" for line in f if writes.search(line)]
    assert not found, found
