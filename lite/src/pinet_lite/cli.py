"""The ``pinet-lite`` command (also ``python -m pinet_lite``).

    pinet-lite predict MODEL.tflite IMAGE [IMAGE ...] [--top-k 3]
    pinet-lite info MODEL.tflite
    pinet-lite add-metadata MODEL.tflite OUTPUT.tflite

A bad argument (a missing file, a file that is not a TFLite model or not an
image, a truncated one) prints one line, ``pinet-lite: error: ...``, and
exits with status 2.
"""

import argparse
import json
import sys

PROG = "pinet-lite"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify images with a pinet_keras .tflite file, on the LiteRT runtime.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="print the top classes of each image")
    predict.add_argument("model", help="the .tflite file")
    predict.add_argument("images", nargs="+", help="PNG, JPEG or other image files")
    predict.add_argument("--top-k", type=int, default=3, help="classes per image (default 3)")
    predict.add_argument("--threads", type=int, default=None, help="interpreter threads")
    info = commands.add_parser("info", help="print the file's pinet_keras metadata (JSON)")
    info.add_argument("model", help="the .tflite file")
    standard = commands.add_parser(
        "add-metadata",
        help="write a copy with the standard TFLite Model Metadata (TFLITE_METADATA, labels.txt)",
    )
    standard.add_argument("model", help="the .tflite file")
    standard.add_argument("output", help="the new .tflite file")
    args = parser.parse_args(argv)
    try:
        if args.command == "predict":
            return _predict(args)
        if args.command == "add-metadata":
            return _add_metadata(args)
        return _info(args)
    except (OSError, ValueError) as error:
        print(f"{PROG}: error: {_message(error)}", file=sys.stderr)
        return 2


def _predict(args):
    from pinet_lite.classifier import Classifier

    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    classifier = _load(args.model, lambda: Classifier(args.model, num_threads=args.threads))
    width = max(len(path) for path in args.images)
    for path in args.images:
        (top,) = classifier.predict([path], top_k=args.top_k)
        classes = "  ".join(f"{p.name} {p.probability:.3f}" for p in top)
        print(f"{path.ljust(width)}  {classes}", flush=True)
    return 0


def _info(args):
    import os

    from pinet_lite.metadata import read_metadata

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"{args.model} does not exist")
    metadata = _load(args.model, lambda: read_metadata(args.model))
    print(json.dumps(metadata, indent=1, sort_keys=True))
    return 0


def _add_metadata(args):
    import os

    from pinet_lite.standard_metadata import add_standard_metadata

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"{args.model} does not exist")
    content = _load(args.model, lambda: add_standard_metadata(args.model))
    with open(args.output, "wb") as f:
        f.write(content)
    print(f"wrote {args.output} ({len(content)} bytes): TFLITE_METADATA and labels.txt")
    return 0


def _load(path, load):
    try:
        return load()
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(path) else f"{path}: {message}") from None


def _message(error):
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
