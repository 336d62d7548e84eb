"""The helper scripts of scripts/: a CIFAR-10 subset, and running a script without TensorFlow."""

import io
import os
import tarfile

from conftest import ROOT
from conftest import run_command

SCRIPTS = os.path.join(ROOT, "scripts")


def _archive(folder, per_class=3):
    path = folder / "cifar10-jpeg.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for label in ("airplane", "cat"):
                for i in range(per_class):
                    data = f"{split}-{label}-{i}".encode()
                    info = tarfile.TarInfo(f"cifar10/{split}/{label}/{i:04d}.jpg")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


def test_cifar10_subset(tmp_path):
    _archive(tmp_path)
    out = tmp_path / "subset"
    script = os.path.join(SCRIPTS, "cifar10_subset.py")
    args = (script, str(tmp_path), str(out), "--train_per_class=2", "--test_per_class=1")
    result = run_command(args, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out / "train" / "cat")) == ["0000.jpg", "0001.jpg"]
    assert (out / "test" / "airplane" / "0000.jpg").read_bytes() == b"test-airplane-0"
    assert not os.path.exists(out / "test" / "airplane" / "0001.jpg")
    # An existing output folder is refused, untouched; so is a folder without the archive.
    result = run_command(args, timeout=120)
    assert result.returncode != 0 and "exists" in result.stderr
    assert sorted(os.listdir(out / "train" / "cat")) == ["0000.jpg", "0001.jpg"]
    result = run_command([script, str(out), str(tmp_path / "other")], timeout=120)
    assert result.returncode != 0 and "no " in result.stderr


def test_without_tensorflow_blocks_the_import(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "try:\n"
        "    import tensorflow\n"
        "except ModuleNotFoundError:\n"
        "    print('blocked', sys.argv[1:])\n"
        "sys.exit(3)\n"
    )
    result = run_command(
        [os.path.join(SCRIPTS, "without_tensorflow.py"), str(script), "--flag"], timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert "blocked ['--flag']" in result.stdout
    assert "tensorflow imported: False" in result.stdout
