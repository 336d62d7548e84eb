"""Runs a Python script as if TensorFlow were not installed: ``import tensorflow`` raises.

The GPU machine of this project has JAX but no TensorFlow; this proves on
any machine that a command needs none (the test suite and README's GPU
recipe check use it):

    KERAS_BACKEND=jax python scripts/without_tensorflow.py examples/train.py --dataset=digits ...

After the script, prints ``tensorflow imported: False`` (or ``True``) and
exits with the script's status. The blocking is a `sys.meta_path` finder,
not ``sys.modules["tensorflow"] = None``: Keras' preprocessing layers take a
``"tensorflow"`` key in `sys.modules` for TensorFlow being imported and
import it.
"""

import importlib.abc
import os
import runpy
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/without_tensorflow.py SCRIPT [ARGS...]")
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    sys.meta_path.insert(0, NoTensorFlow())
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    print("tensorflow imported:", "tensorflow" in sys.modules, flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
