"""One error boundary for the example scripts (private; needs absl-py).

`run(main)` replaces ``absl.app.run(main)``. A known failure (a bad flag or
argument, a file that cannot be read or written, a locked run folder, other
settings than the run to resume, a diverged training...) prints one line,

    error: <what>, <which file or flag>, <what to do>

on stderr and exits with status 2; ``--debug`` shows the traceback instead.
SIGTERM is turned into `KeyboardInterrupt`, so that a terminated script
cleans up like an interrupted one (temporary files removed, the run folder
unlocked, a previous run put back) and exits with status 130.

Example (in a script):

>>> from pinet_keras import _cli  # doctest: +SKIP
>>> if __name__ == "__main__":  # doctest: +SKIP
...     _cli.run(main)
"""

import errno
import signal
import sys

from absl import app
from absl import flags

flags.DEFINE_bool("debug", False, "Show the full traceback of an error instead of one line.")

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
}


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


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {describe(error)}; see --help.", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def run(main, argv=None):
    """``absl.app.run(main)`` with one error boundary (see the module's docstring)."""

    def guarded(argv):
        signal.signal(signal.SIGTERM, _terminate)
        try:
            return main(argv)
        except KeyboardInterrupt as error:
            if flags.FLAGS.debug:
                raise
            reason = str(error) or "interrupted"
            print(f"error: {reason}; nothing half-written was left, rerun the command to resume.", file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
        except known_errors() as error:
            if flags.FLAGS.debug:
                raise
            print(f"error: {describe(error)}", file=sys.stderr)
            sys.exit(EXIT_ERROR)

    app.run(guarded, argv=argv, flags_parser=_parse_flags)
