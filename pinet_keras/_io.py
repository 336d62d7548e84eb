"""Writing files all at once or not at all (private).

Every file or folder the package writes goes through `atomic_output`: the
content is written to a temporary path beside the target, then renamed onto
it. A failure of any kind (a full disk, Ctrl-C, SIGTERM turned into
`KeyboardInterrupt` by `pinet_keras.cli.boundary`) removes the temporary output and
leaves the target as it was. The temporary names are recognizable
(`is_temporary`), so that the leftovers of a process killed outright
(SIGKILL) can be removed later by `remove_leftovers`.
"""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import uuid

TEMP_MARK = ".pinet-tmp-"
# ".<target name>.pinet-tmp-<pid>-<12 hex digits><suffix>"
_TEMP_NAME = re.compile(r"^\..*" + re.escape(TEMP_MARK) + r"(\d+)-[0-9a-f]{12}(\..*)?$")


def check_overwrite(path, overwrite=False, folder=None, owns=None, flag=None):
    """Raises ``FileExistsError`` naming ``path`` if it exists and must not be replaced.

    Without ``overwrite``, whenever it exists. With it, ``overwrite`` replaces
    only what the new output would rewrite, never something else that happens
    to have its name: ``folder`` (True for a folder output, False for a file)
    refuses a file where a folder goes and a folder where a file goes, and
    ``owns(name)``, for a folder output, refuses a folder holding a name that
    the output does not write (a training run where an export goes).
    ``flag`` (e.g. ``"--output_dir"``) is named in the messages.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    option, where = ("--overwrite", flag) if flag else ("overwrite", "path")
    if not overwrite:
        if flag:
            raise FileExistsError(
                f"{path} already exists; choose another {flag}, or pass --overwrite to replace it"
            )
        raise FileExistsError(
            f"{path} already exists. Pass overwrite=True (--overwrite) to replace it."
        )
    is_folder = os.path.isdir(path) and not os.path.islink(path)
    if folder is not None and folder != is_folder:
        found, wanted = ("a folder", "a file") if is_folder else ("a file", "a folder")
        raise FileExistsError(
            f"{path} is {found}, not {wanted}, and {option} replaces only {wanted}; "
            f"choose another {where}"
        )
    if owns is not None and is_folder:
        others = sorted(name for name in os.listdir(path) if not owns(name))
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise FileExistsError(
                f"{path} holds files that this output does not write ({shown}), and "
                f"{option} would delete them; choose another {where}, or move them away"
            )


def _suffix(name):
    # Keras and matplotlib choose the format from the extension of the name.
    if name.endswith(".weights.h5"):
        return ".weights.h5"
    return os.path.splitext(name)[1]


def temporary_path(path):
    """A new temporary path beside ``path``, recognized by `is_temporary`."""
    path = os.fspath(path)
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(
        parent, f".{name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}{_suffix(name)}"
    )


def is_temporary(name):
    """Whether ``name`` (a base name) is one of `temporary_path`'s."""
    return _TEMP_NAME.match(name) is not None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(folder, recursive=True, only_dead=True):
    """Removes the temporary outputs left in ``folder`` by killed processes.

    Args:
        folder: where to look (a missing folder is fine).
        recursive: look in subfolders too.
        only_dead: keep the temporary outputs of processes still running
            (their pid is part of the name). Pass False where a lock
            guarantees that no other process writes in ``folder``.

    Returns:
        The paths removed.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for root, dirs, files in os.walk(folder):
        for name in list(dirs) + files:
            match = _TEMP_NAME.match(name)
            if match is None:
                continue
            pid = int(match.group(1))
            if only_dead and pid != os.getpid() and _pid_alive(pid):
                continue
            path = os.path.join(root, name)
            remove(path)
            removed.append(path)
            if name in dirs:
                dirs.remove(name)
        if not recursive:
            break
    return removed


def remove(path):
    """Removes a file, link or folder; nothing if absent."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_output(path, overwrite=False, owns=None):
    """Yields a temporary path beside ``path``, moved onto ``path`` on success.

    The caller writes a file or a folder at the yielded path (it keeps the
    extension of ``path``, e.g. ``.keras``, for the writers that choose the
    format from it). When the block ends normally the result replaces
    ``path`` with a rename in the same folder; when it raises (including
    `KeyboardInterrupt`), the temporary output is removed and ``path`` is
    left as it was (absent, or the previous version). ``FileExistsError`` is
    raised before any work if ``path`` exists and ``overwrite`` is False, or
    if it is a folder holding a name that ``owns(name)`` refuses (see
    `check_overwrite`); a file never replaces a folder, nor a folder a file.

    Example:

    >>> with atomic_output("/tmp/a.txt", overwrite=True) as tmp:  # doctest: +SKIP
    ...     open(tmp, "w").write("all or nothing")
    """
    path = os.fspath(path)
    check_overwrite(path, overwrite, owns=owns)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    temporary = temporary_path(path)
    try:
        yield temporary
        if not os.path.lexists(temporary):
            raise RuntimeError(f"Nothing was written for {path}.")
        _move_into_place(temporary, path, overwrite, owns)
    finally:
        remove(temporary)


def _move_into_place(temporary, path, overwrite, owns=None):
    folder = os.path.isdir(temporary) and not os.path.islink(temporary)
    check_overwrite(path, overwrite, folder=folder, owns=owns if folder else None)
    if not os.path.lexists(path):
        os.replace(temporary, path)
        return
    if os.path.isfile(temporary) and not os.path.isdir(path):
        os.replace(temporary, path)  # atomic for files
        return
    # A folder cannot be renamed onto an existing one: set the old one aside
    # first and put it back if the new one cannot take its place.
    previous = temporary_path(path)
    os.replace(path, previous)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.replace(previous, path)
        raise
    remove(previous)


def write_bytes(path, data, overwrite=False):
    """Writes ``data`` to ``path`` all at once (see `atomic_output`)."""
    with atomic_output(path, overwrite) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return os.fspath(path)


def write_text(path, text, overwrite=False):
    """Writes ``text`` (UTF-8) to ``path`` all at once (see `atomic_output`)."""
    return write_bytes(path, text.encode("utf-8"), overwrite)


def write_json(path, payload, overwrite=False):
    """Writes ``payload`` as indented, key-sorted JSON to ``path`` all at once."""
    return write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n", overwrite)


def write_csv(path, rows, columns, overwrite=False):
    """Writes ``rows`` (dicts) under the header ``columns`` to ``path`` all at once."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue(), overwrite)


def save_model_atomic(model, path, overwrite=True):
    """``model.save(path)`` all at once: a failed save leaves ``path`` as it was."""
    with atomic_output(path, overwrite) as temporary:
        model.save(temporary)
    return os.fspath(path)


def save_figure_atomic(fig, path, overwrite=True, **kwargs):
    """``fig.savefig(path, **kwargs)`` (matplotlib) all at once, then closes ``fig``."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with atomic_output(path, overwrite) as temporary:
            fig.savefig(temporary, **kwargs)
    finally:
        plt.close(fig)
    return os.fspath(path)


def check_writable_folder(path, flag="--output_dir"):
    """Raises the `OSError` that writing into folder ``path`` would raise, before any write.

    Goes up to the nearest existing folder of ``path`` (``path`` itself if
    it exists) and creates and removes a temporary file there. Nothing is
    left behind.
    """
    path = os.path.abspath(os.fspath(path))
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise NotADirectoryError(
            f"{probe} is a file, not a folder, so {path} cannot be created; choose another {flag}."
        )
    temporary = temporary_path(os.path.join(probe, "probe"))
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise type(error)(
            error.errno,
            f"{error.strerror}: cannot write in {probe}; "
            f"choose a writable {flag} or fix its permissions",
            probe,
        ) from error
    os.close(fd)
    os.remove(temporary)
