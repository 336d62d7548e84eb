"""Runs a Python script as if TensorFlow were not installed: ``import tensorflow`` raises.

A GPU machine may have JAX but no TensorFlow; this proves on any machine
that a command needs none (the test suite and the GPU recipe check,
scripts/gpu_recipe_check.sh, use it):

    KERAS_BACKEND=jax python scripts/without_tensorflow.py -m pinet_keras train --dataset=digits ...

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
        sys.exit("usage: python scripts/without_tensorflow.py SCRIPT|-m MODULE [ARGS...]")
    script = sys.argv[1]
    sys.meta_path.insert(0, NoTensorFlow())
    try:
        if script == "-m":  # a module: -m pinet_keras train ...
            sys.argv = sys.argv[2:]
            runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
        else:
            sys.argv = sys.argv[1:]
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    print("tensorflow imported:", "tensorflow" in sys.modules, flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
