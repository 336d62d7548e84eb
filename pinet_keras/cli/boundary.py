"""One error boundary for the commands (`pinet_keras.cli`) and the tools.

`run(main)` replaces ``absl.app.run(main)``. A known failure (a bad flag or
argument, a file that cannot be read or written, a locked run folder, other
settings than the run to resume, a diverged training...) prints one line,

    error: <what>, <which file or flag>, <what to do>

on stderr and exits with status 2; ``--debug`` shows the traceback instead.
SIGTERM is turned into `KeyboardInterrupt`, so that a terminated script
cleans up like an interrupted one (temporary files removed, the run folder
unlocked, a previous run put back) and exits with status 130 at once, without
the interpreter's shutdown: TensorFlow's threads, stopped mid-step, can make
that shutdown abort (SIGABRT) after the clean-up is done.

Example (in a script):

>>> from pinet_keras.cli import boundary  # doctest: +SKIP
>>> if __name__ == "__main__":  # doctest: +SKIP
...     boundary.run(main)
"""

import dataclasses
import errno
import os
import signal
import sys
import typing

from absl import app
from absl import flags

DEBUG_HELP = "Show the full traceback of an error instead of one line."
flags.DEFINE_bool("debug", False, DEBUG_HELP)


def command_flags():
    """A command's own flags (``absl.flags.FlagValues``), with ``--debug``.

    Each ``pinet-keras`` command defines its flags there rather than in
    absl's global ``FLAGS``, so that the commands live side by side in one
    process (``--dataset`` means one thing to ``train``, another to ``export``).
    """
    flag_values = flags.FlagValues()
    flags.DEFINE_bool("debug", False, DEBUG_HELP, flag_values=flag_values)
    return flag_values


# The help of the flags that several scripts share, defined once.
HELP = {
    "dataset": "Data set.",
    "data_dir": (
        "A folder with the raw files (IDX .gz; CIFAR-10 class folders or their tar.gz), "
        "your images for --dataset=folder (DIR/<class>/*.png, or train/ and test/ of them), "
        "or a TFDS data_dir. Default: TFDS's own (TFDS_DATA_DIR)."
    ),
    "validation_split": "Fraction of the training split held out for validation.",
    "augment": "Random crops (and flips for CIFAR-10) during training.",
    "input_normalization": "Pixels to [0, 1] or standardized.",
    "epochs": "Epochs.",
    "seed": "Random seed.",
    "image_size": "--dataset=folder: resize every image to this size, like 32 or 28x28 "
    "(default: the images' own size, which must then be the same for all).",
    "output_dir": "Where the run writes its files.",
    "overwrite": "Start again from scratch over the run (finished or not) in --output_dir.",
}
# The data set flags of the scripts that take a trained model.
MODEL_DATA_HELP = {
    "dataset": "Data set of the model (default: the run's metrics.json).",
    "data_dir": "Where the data set is (default: the loader's own).",
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

# What to do about an OSError, by errno.
_OS_ADVICE = {
    errno.ENOSPC: "free some disk space or choose another --output_dir",
    errno.EDQUOT: "free some disk space or choose another --output_dir",
    errno.EROFS: "the file system is read-only; choose another --output_dir",
    errno.EACCES: "permission denied; choose another path or fix its permissions",
    errno.EPERM: "permission denied; choose another path or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "the path is a folder, not a file; pass a file",
    errno.ENOENT: "check the path",
    errno.EFBIG: (
        "a file grew past the largest size allowed here (the shell's `ulimit -f`, or the file "
        "system's limit); raise the limit (ulimit -f unlimited) or choose another --output_dir "
        "on a file system that takes large files"
    ),
}


def define_config_flags(config_class, help=None, choices=None, skip=(), flag_values=None):
    """Defines one flag per field of the dataclass ``config_class``; returns their names.

    A flag takes the field's name, type and default; its help is ``help[name]``
    or else `HELP`'s; a field in ``choices`` is an enum flag of those values.
    Fields in ``skip`` get no flag. The flags go to ``flag_values`` (default:
    absl's global ``FLAGS``).
    """
    flag_values = flags.FLAGS if flag_values is None else flag_values
    help, choices = help or {}, choices or {}
    # The flags belong to the calling script, so that its --help lists them
    # (absl names the main module after sys.argv[0]).
    module = sys._getframe(1).f_globals.get("__name__")
    module = sys.argv[0] if module == "__main__" else module
    names = []
    types = _field_types(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        text = help.get(field.name) or HELP[field.name]
        if field.name in choices:
            flags.DEFINE_enum(
                field.name,
                field.default,
                list(choices[field.name]),
                text,
                module_name=module,
                flag_values=flag_values,
            )
        else:
            define = {
                bool: flags.DEFINE_bool,
                int: flags.DEFINE_integer,
                float: flags.DEFINE_float,
            }.get(types[field.name], flags.DEFINE_string)
            define(field.name, field.default, text, module_name=module, flag_values=flag_values)
        names.append(field.name)
    return tuple(names)


def _field_types(config_class):
    """``{field: bool, int, float or str}``: each field's type, ``X | None`` read as ``X``."""
    hints = typing.get_type_hints(config_class)
    types = {}
    for name, hint in hints.items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        types[name] = args[0] if len(args) == 1 else hint
    return types


def config_from_flags(config_class, names, flag_values=None, **values):
    """``config_class`` from the parsed flags ``names`` (`define_config_flags`) and ``values``."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    return config_class(**{name: flag_values[name].value for name in names}, **values)


def define_model_data_flags(flag_values=None):
    """``--dataset`` and ``--data_dir`` of the scripts that take a trained model."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    module = sys._getframe(1).f_globals.get("__name__")
    module = sys.argv[0] if module == "__main__" else module
    for name in ("dataset", "data_dir"):
        flags.DEFINE_string(
            name, None, MODEL_DATA_HELP[name], module_name=module, flag_values=flag_values
        )


def known_errors():
    """The exception types reported in one line (an unexpected one keeps its traceback)."""
    from pinet_keras._run import RunLocked
    from pinet_keras.training.callbacks import TrainingDiverged

    return (
        app.UsageError,
        flags.Error,
        ValueError,
        OSError,
        ImportError,
        RunLocked,
        TrainingDiverged,
        RuntimeError,
    )


def describe(error):
    """The one-line message for ``error``, after ``error: ``."""
    if isinstance(error, OSError) and error.strerror:
        message = str(error.strerror).rstrip(".")
        if error.filename is not None and str(error.filename) not in message:
            message += f", {error.filename}"
        advice = _OS_ADVICE.get(error.errno)
        if advice and ";" not in message:  # the package's own messages say what to do after a ";"
            message += f", {advice}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())


def _terminate(signum, frame):
    del signum, frame
    raise KeyboardInterrupt("terminated (SIGTERM)")


def _exit_interrupted():
    """Exits with 130 once stdout and stderr are flushed, skipping the interpreter's shutdown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(EXIT_INTERRUPTED)


def _flags_parser(flag_values):
    def parse(argv):
        flag_values.unparse_flags()  # a second run in one process starts from the defaults
        try:
            rest = flag_values(argv)
        except flags.Error as error:
            print(f"error: {describe(error)}; see --help.", file=sys.stderr)
            sys.exit(EXIT_ERROR)
        if flag_values is not flags.FLAGS and not flags.FLAGS.is_parsed():
            flags.FLAGS(argv[:1])  # absl's own (logging) flags keep their defaults
        return rest

    return parse


def print_help(doc, module, flag_values=None):
    """``--help``: the command's docstring and its flags (``module``'s and ``--debug``)."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    sys.stdout.write((doc or "").strip() + "\n\nflags:\n")
    for name in (module, __name__):
        text = flag_values.module_help(name)
        if text:
            sys.stdout.write(text + "\n")


def run(main, argv=None, doc=None, module=None, flag_values=None):
    """``absl.app.run(main)`` with one error boundary (see the module's docstring).

    ``doc`` and ``module`` (the command's docstring and module name) make
    ``--help`` print that command's flags; ``flag_values`` holds them
    (`command_flags`; default: absl's global ``FLAGS``). Exits
    (``SystemExit``) with the status: 0, 2 for an error, 130 when interrupted.
    """
    flag_values = flags.FLAGS if flag_values is None else flag_values
    argv = list(sys.argv if argv is None else argv)
    if module is not None and any(a in ("-h", "--help", "-?", "--helpshort") for a in argv[1:]):
        try:
            print_help(doc, module, flag_values)
            sys.stdout.flush()
        except BrokenPipeError:  # `--help | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)

    def guarded(argv):
        signal.signal(signal.SIGTERM, _terminate)
        try:
            return main(argv)
        except KeyboardInterrupt as error:
            if flag_values.debug:
                raise
            reason = str(error) or "interrupted"
            print(
                f"error: {reason}; nothing half-written was left, rerun the command to resume.",
                file=sys.stderr,
            )
            _exit_interrupted()
        except known_errors() as error:
            if flag_values.debug:
                raise
            print(f"error: {describe(error)}", file=sys.stderr)
            sys.exit(EXIT_ERROR)

    app.run(guarded, argv=argv, flags_parser=_flags_parser(flag_values))
