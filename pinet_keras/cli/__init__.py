"""The ``pinet-keras`` command: ``pinet-keras train|export|predict|tune [flags]``.

``python -m pinet_keras`` is the same command. Each sub-command is a module
of this package whose flags are generated from its settings object
(`pinet_keras.training.TrainConfig`, `pinet_keras.export.ExportConfig`,
`pinet_keras.tuning.TuneConfig`); `boundary.run` is the one error boundary:
a user's mistake prints one line, ``error: ...``, and exits with status 2.

    pinet-keras train --dataset=folder --data_dir=my_images --image_size=32 --output_dir=runs/mine
    pinet-keras export --model=runs/mine/model.keras --output_dir=runs/mine/export
    pinet-keras predict --model=runs/mine/export/model_int8.tflite photo.png
    pinet-keras tune --dataset=digits --max_trials=6 --output_dir=runs/tune
"""

from __future__ import annotations

import difflib
import importlib
import sys

COMMANDS = {
    "train": "Train a model on a data set or a folder of your images.",
    "export": "Export a trained model to SavedModel and TFLite (float32, float16, dynamic, int8).",
    "predict": "Name the classes of images with a .keras, SavedModel or .tflite model.",
    "tune": "Search a PolyNet's hyperparameters with KerasTuner.",
}
PROGRAM = "pinet-keras"

__all__ = ["COMMANDS", "main"]


def usage() -> str:
    """The help of ``pinet-keras`` without a command."""
    lines = [f"usage: {PROGRAM} <command> [flags]   ({PROGRAM} <command> --help for its flags)", ""]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Runs ``pinet-keras`` with ``argv`` (default: ``sys.argv``); returns the exit status."""
    argv = list(sys.argv if argv is None else argv)
    args = argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return 0
    if args[0] == "--version":
        from pinet_keras import __version__

        print(f"{PROGRAM} {__version__}")
        return 0
    name = args[0]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(
            f"error: unknown command {name!r}; {hint}pass one of {', '.join(COMMANDS)} "
            f"({PROGRAM} --help).",
            file=sys.stderr,
        )
        return 2
    try:
        module = importlib.import_module(f"pinet_keras.cli.{name}")
    except ImportError as error:  # an optional dependency of the command (keras-tuner...)
        if "--debug" in args:
            raise
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return module.run([f"{PROGRAM} {name}", *args[1:]])
