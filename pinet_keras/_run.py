"""A run folder that knows its run (private): lock, settings, safe ``--overwrite``.

Used by `pinet_keras.training.train` and `pinet_keras.tuning.tune`. The
life of a run in its folder:

1. `RunFolder.open` (before any data is read): checks that the folder can
   be written, takes its lock (a second process fails at once, naming the
   holder's pid), cleans what a killed run left (temporary files; the
   previous outputs a killed ``--overwrite`` had set aside are put back),
   and checks that the settings match those of the run found there.
2. `RunFolder.begin` (after the data and the model were checked): unless
   the run resumes, moves the previous outputs (``overwrite``) aside into
   ``.previous-<id>/``.
3. `RunFolder.commit` (once the new run has written its first checkpoint):
   writes the settings (``run_config.json`` for a training run), deletes
   the outputs set aside. Until then a failure removes what the new run
   wrote and puts them back.
4. `RunFolder.close`: releases the lock.
"""

import errno
import json
import math
import os
import uuid

from pinet_keras import _io

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_FILE = ".lock"
PREVIOUS = ".previous-"
DISCARD = ".discard-"

# The file that marks each kind of folder the package writes: a run or a
# search never writes into a folder of another kind, even with --overwrite.
FOLDER_KINDS = {
    "run_config.json": "a training run",
    "search_config.json": "a hyperparameter search",
    "report.json": "an export",
}


class RunLocked(RuntimeError):
    """Another process holds the lock of a run folder."""


def _try_lock(fd):
    """Takes the exclusive lock of the open file ``fd`` without waiting; whether it did."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def take_lock(path, what, advice):
    """Takes the exclusive lock of file ``path`` (created) at once; returns its descriptor.

    The holder's pid is written in the file. Raises `RunLocked`, naming
    ``what`` (the folder in use), the holder's pid and ``advice``, when
    another process holds it: nobody waits.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            try:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            except OSError:
                holder = "unknown"
            os.close(fd)
            raise RunLocked(
                f"{what} is in use by another process (pid {holder}, lock file {path}); {advice}"
            ) from None
        # The holder before us deletes the file as it lets go: a lock taken
        # on a file that is no longer at ``path`` locks nothing.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def release_lock(fd, path):
    """Lets go of the lock `take_lock` took: the file is deleted while held, then closed."""
    # Deleted while held: no stale lock file naming a dead process.
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            os.remove(path)
    except OSError:
        pass
    os.close(fd)


class SettingsMismatch(ValueError):
    """A run folder holds a run made with other settings."""


class InvalidSetting(ValueError):
    """A setting of a run or search that cannot be used; ``field`` names it.

    The message names the field and its flag (the field's name unless
    ``flag`` says otherwise) and the value, and says what to pass.
    """

    def __init__(self, field, value, rule, flag=None):
        flag = flag or field
        super().__init__(
            f"`{field}` (--{flag}) {rule}. Received: {value!r}; pass a valid --{flag}."
        )
        self.field = field


def check_count(config, name, rule="must be an integer >= 1"):
    """Raises `InvalidSetting` unless ``config.<name>`` is an int >= 1 (a bool is not)."""
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSetting(name, value, rule)


def check_number(config, name, rule, ok):
    """Raises `InvalidSetting` unless ``config.<name>`` is finite and ``ok`` holds for it."""
    value = getattr(config, name)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not ok(value)
    ):
        raise InvalidSetting(name, value, rule)


def _flatten(settings, prefix=""):
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_settings(previous, current):
    """``{name: (old, new)}`` for each setting that differs; nested dicts by dotted names.

    Both are compared as JSON would store them (tuples as lists).
    """
    previous = _flatten(json.loads(json.dumps(previous)))
    current = _flatten(json.loads(json.dumps(current)))
    return {
        name: (previous.get(name), current.get(name))
        for name in sorted(set(previous) | set(current))
        if previous.get(name) != current.get(name)
    }


def describe_changes(changed, names=None):
    """``"name: old -> new, ..."``; ``names`` maps a setting to the name shown (e.g. its flag)."""
    names = names or {}
    return ", ".join(f"{names.get(k, k)}: {old!r} -> {new!r}" for k, (old, new) in changed.items())


def check_same_settings(previous, current, folder, what="run", names=None):
    """Raises `SettingsMismatch`, listing the differences, unless ``previous == current``."""
    changed = changed_settings(previous, current)
    if changed:
        raise SettingsMismatch(
            f"{folder} holds a {what} made with other settings "
            f"({describe_changes(changed, names)}); "
            f"rerun with the same settings to resume it, choose another --output_dir, or pass "
            f"--overwrite to start that {what} again."
        )


def check_data(config):
    """Checks ``dataset``, ``data_dir`` and ``image_size`` of a `TrainConfig` or `TuneConfig`."""
    from pinet_keras.data.folder import parse_image_size
    from pinet_keras.data.info import DATASETS

    if config.dataset not in DATASETS:
        raise InvalidSetting("dataset", config.dataset, f"must be one of {', '.join(DATASETS)}")
    if config.dataset == "folder" and config.data_dir is None:
        raise InvalidSetting(
            "data_dir", None, "is needed with --dataset=folder: a folder of class sub-folders"
        )
    if config.image_size is not None:
        if config.dataset != "folder":
            raise InvalidSetting(
                "image_size",
                config.image_size,
                f"resizes --dataset=folder images only ({config.dataset}'s size is fixed)",
            )
        try:
            parse_image_size(config.image_size)
        except ValueError:
            raise InvalidSetting(
                "image_size", config.image_size, "must be a size like 32 or 28x28"
            ) from None


def check_data_dir(data_dir, dataset):
    """Raises `FileNotFoundError` naming ``--data_dir`` unless it is None or a folder."""
    if data_dir is not None and not os.path.isdir(data_dir):
        what = "a file, not a folder" if os.path.exists(data_dir) else "not found"
        raise FileNotFoundError(
            f"Data folder {what}: {data_dir} (--data_dir); "
            f"pass the folder holding the {dataset} files, "
            "or leave --data_dir unset to use TFDS's own."
        )


def read_json(path):
    """The JSON in ``path``; `ValueError` naming the file when it is not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); delete it or pass --overwrite to start again."
        ) from error


class RunFolder:
    """The output folder of one run: see the module's docstring.

    Args:
        path: the folder (created if missing).
        outputs: the names of the run's outputs in the folder, files or
            folders; the ones ``--overwrite`` moves aside.
        settings_file: the name of the file holding the settings.
        finished: the name of the output whose presence means the run has
            finished (e.g. ``metrics.json``).
        finished_is_final: a finished run cannot be run again without
            ``overwrite`` (training); otherwise it may be resumed (a search
            that gains trials).
        what: the word for the run in messages (``"run"``, ``"search"``).
        names: maps a setting to the flag shown in messages.
    """

    def __init__(
        self, path, outputs, settings_file, finished, finished_is_final=True, what="run", names=None
    ):
        self.path = os.fspath(path)
        self.outputs = tuple(outputs) + (settings_file,)
        self.settings_file = settings_file
        self.finished = finished
        self.finished_is_final = finished_is_final
        self.what = what
        self.names = names
        self._lock_fd = None
        self._created = False
        self._aside = None
        self._settings = None
        # Nothing to undo until `begin` starts a new run.
        self._committed = True

    @property
    def committed(self):
        """False between `begin` of a new run and its `commit`."""
        return self._committed

    # -- 1. open --------------------------------------------------------------

    def open(self, settings, overwrite):
        """Checks the folder and takes its lock; see the module's docstring. Returns self."""
        _io.check_writable_folder(self.path)
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise NotADirectoryError(
                errno.ENOTDIR,
                f"Not a folder: {self.path} is a file; choose another --output_dir",
                self.path,
            )
        self._check_kind()
        self._created = not os.path.exists(self.path)
        os.makedirs(self.path, exist_ok=True)
        try:
            self._lock()
            self._recover()
            if not overwrite:
                self._check_resumable(settings)
        except BaseException:
            self.close(failed=True)
            raise
        return self

    def _check_kind(self):
        """Refuses a folder of another kind, or one whose outputs no run of this kind wrote."""
        own = FOLDER_KINDS.get(self.settings_file, f"a {self.what}")
        for marker, kind in FOLDER_KINDS.items():
            if marker != self.settings_file and os.path.isfile(os.path.join(self.path, marker)):
                raise FileExistsError(
                    f"{self.path} holds {kind} ({marker}), not {own}, and --overwrite "
                    f"replaces only {own}; choose another --output_dir"
                )
        # A run leaves its lock file, and its settings once it has a checkpoint
        # (version 0.1.0 left neither, but its finished runs have `finished`).
        marks = (self.settings_file, LOCK_FILE, self.finished)
        if any(os.path.lexists(os.path.join(self.path, name)) for name in marks):
            return
        found = [n for n in self.outputs if os.path.lexists(os.path.join(self.path, n))]
        if found:
            raise FileExistsError(
                f"{self.path} holds {', '.join(found)} but not {own} (no "
                f"{self.settings_file}), and the run would replace them; choose another "
                "--output_dir, or move them away"
            )

    def _lock(self):
        self._lock_fd = take_lock(
            os.path.join(self.path, LOCK_FILE),
            self.path,
            "wait for it to finish, or choose another --output_dir.",
        )

    def _recover(self):
        """Cleans what a killed run left: its temporary files, outputs set aside."""
        _io.remove_leftovers(self.path, only_dead=False)
        for name in sorted(os.listdir(self.path)):
            folder = os.path.join(self.path, name)
            if name.startswith(DISCARD):
                _io.remove(folder)
            elif name.startswith(PREVIOUS):
                # A run started with overwrite was killed before its first
                # checkpoint: what it wrote goes, the previous run comes back.
                self._aside = folder
                self._restore()

    def _check_resumable(self, settings):
        if os.path.exists(os.path.join(self.path, self.finished)) and self.finished_is_final:
            raise FileExistsError(
                f"{self.path} holds a finished {self.what} ({self.finished}); choose another "
                f"--output_dir, or pass --overwrite to start that {self.what} again from scratch."
            )
        path = os.path.join(self.path, self.settings_file)
        if os.path.exists(path):
            check_same_settings(read_json(path), settings, self.path, self.what, self.names)

    def has_outputs(self):
        return any(os.path.lexists(os.path.join(self.path, name)) for name in self.outputs)

    # -- 2. begin -------------------------------------------------------------

    def begin(self, settings, resume):
        """Starts the run once its data and model were checked.

        ``resume``: the run continues the one in the folder (which `open`
        found to have the same settings); it is committed at once. Otherwise
        any previous outputs (``overwrite``, or the remains of a run that
        never reached its first checkpoint) are moved aside until `commit`.
        """
        self._settings = settings
        if resume:
            self.commit()
            return
        self._committed = False
        if self.has_outputs():
            aside = os.path.join(self.path, f"{PREVIOUS}{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.mkdir(aside)
            self._aside = aside
            for name in self.outputs:
                source = os.path.join(self.path, name)
                if os.path.lexists(source):
                    os.replace(source, os.path.join(aside, name))

    # -- 3. commit ------------------------------------------------------------

    def commit(self):
        """Records the settings and deletes the previous outputs set aside by `begin`.

        Call it once the new run has written its first checkpoint: from then
        on a failure keeps the new run (to resume) instead of the old one.
        """
        path = os.path.join(self.path, self.settings_file)
        if not os.path.exists(path):
            _io.write_json(path, self._settings, overwrite=True)
        self._committed = True
        if self._aside is None:
            return
        # Renamed first, so that a run killed while deleting leaves no doubt.
        discard = os.path.join(self.path, DISCARD + os.path.basename(self._aside)[len(PREVIOUS) :])
        os.replace(self._aside, discard)
        self._aside = None
        _io.remove(discard)

    def _restore(self):
        """Removes the outputs of a run that never reached a checkpoint; puts back the old ones."""
        for name in self.outputs:
            _io.remove(os.path.join(self.path, name))
        if self._aside is None:
            return
        for name in os.listdir(self._aside):
            os.replace(os.path.join(self._aside, name), os.path.join(self.path, name))
        os.rmdir(self._aside)
        self._aside = None

    # -- 4. close -------------------------------------------------------------

    def close(self, failed=False):
        """Puts back the old outputs if the run ``failed`` before `commit`; releases the lock."""
        try:
            if failed and not self._committed:
                self._restore()
            _io.remove_leftovers(self.path, only_dead=False)
            if failed and self._created and not self.has_outputs():
                # Nothing of this run's is worth keeping: leave no empty folder.
                _io.remove(self.path)
        finally:
            if self._lock_fd is not None:
                release_lock(self._lock_fd, os.path.join(self.path, LOCK_FILE))
                self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False
