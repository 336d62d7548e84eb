"""The commands' one error boundary: one line, the file and what to do, status 2, --debug."""

import errno
import os

import pytest

from conftest import TINY_TRAIN_FLAGS
from conftest import TRAIN
from conftest import error_line
from conftest import run_command
from conftest import tensorflow_only

pytestmark = tensorflow_only


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/model.keras"),
            "free some disk space",
        ),
        (
            OSError(errno.EROFS, os.strerror(errno.EROFS), "/out"),
            "read-only; choose another --output_dir",
        ),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/out"), "fix its permissions"),
        (
            NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/f/x"),
            "is a file, not a folder",
        ),
        (
            FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/m.keras"),
            "/m.keras, check the path",
        ),
    ],
)
def test_os_errors_are_one_line_with_the_file_and_what_to_do(error, expected):
    from pinet_keras.cli import boundary as _cli

    line = _cli.describe(error)
    assert "\n" not in line and expected in line and error.filename in line


def test_script_bad_flag_is_one_line_status_2(tmp_path):
    result = run_command(
        [*TRAIN, *TINY_TRAIN_FLAGS, "--learning_rate=nan", f"--output_dir={tmp_path / 'run'}"],
        timeout=300,
    )
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert "--learning_rate" in line and "nan" in line and "diverged" not in line
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_script_unparsable_flag_and_debug_traceback(tmp_path):
    result = run_command([*TRAIN, *TINY_TRAIN_FLAGS, "--steps_per_execution=two"], timeout=300)
    assert result.returncode == 2
    assert "--steps_per_execution" in error_line(result.stderr)
    result = run_command(
        [*TRAIN, *TINY_TRAIN_FLAGS, "--steps_per_execution=0", "--debug"]
        + [f"--output_dir={tmp_path}"],
        timeout=300,
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
