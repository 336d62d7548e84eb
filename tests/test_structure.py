"""The package's shape: public names in examples, no import cycle, Keras' privates in one place."""

import ast
import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "pinet_keras")


def _python_files(folder):
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(root, name)


def _module_name(path):
    relative = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
    if relative[-1] == "__init__":
        relative = relative[:-1]
    return ".".join(relative)


def _imports(path):
    """``[(module, name or None)]`` of every import in the file at ``path``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_examples_import_only_public_names():
    """Every ``from pinet_keras... import X`` of examples/ names an ``__all__`` entry or module."""
    used = []
    for path in _python_files(os.path.join(ROOT, "examples")):
        for module, name in _imports(path):
            if module.split(".")[0] == "pinet_keras":
                used.append((os.path.basename(path), module, name))
    assert len({file for file, _, _ in used}) >= 4, used
    wrong = []
    for file, module, name in used:
        if any(part.startswith("_") for part in module.split(".")):
            wrong.append((file, module))
            continue
        if name is None:
            continue
        imported = importlib.import_module(module)
        submodule = hasattr(imported, "__path__") and (
            importlib.util.find_spec(f"{module}.{name}") is not None
        )
        if name not in getattr(imported, "__all__", ()) and not (
            submodule and not name.startswith("_")
        ):
            wrong.append((file, f"{module}.{name}"))
    assert not wrong, wrong


def _module_level_imports(tree):
    """The import statements that run when the module is imported (not inside functions)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            pending += node.body + node.orelse + getattr(node, "finalbody", [])
            pending += [n for handler in getattr(node, "handlers", []) for n in handler.body]


def test_package_import_graph_has_no_cycle():
    """Module-level imports between pinet_keras' modules form no cycle."""
    paths = {_module_name(path): path for path in _python_files(PACKAGE)}
    graph = {}
    for name, path in paths.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        edges = set()
        for node in _module_level_imports(tree):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
            elif node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges.add(full if full in paths else node.module)
        graph[name] = {t for t in edges if t in paths and t != name}
    assert len(graph) > 40 and graph["pinet_keras.export.job"]
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


@pytest.mark.parametrize("pattern", [r"\._inbound_nodes", r"\._outbound_nodes", r"keras\.src"])
def test_keras_private_names_only_in_compat(pattern):
    found = []
    for path in _python_files(PACKAGE):
        if os.path.basename(path) == "_compat.py":
            continue
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if re.search(pattern, line):
                    found.append(f"{os.path.relpath(path, ROOT)}:{number}")
    assert not found, found


def test_import_does_not_need_fcntl():
    """``import pinet_keras`` (and its run folders) work where ``fcntl`` does not exist."""
    import subprocess
    import sys

    script = (
        "import sys, types, tempfile, os, subprocess, multiprocessing.pool\n"
        "import keras\n"
        "sys.modules['fcntl'] = None  # as on Windows\n"
        "calls = []\n"
        "msvcrt = types.SimpleNamespace(LK_NBLCK=2, locking=lambda fd, mode, n: calls.append(fd))\n"
        "sys.modules['msvcrt'] = msvcrt\n"
        "from pinet_keras import _run\n"
        "assert _run.fcntl is None\n"
        "folder = tempfile.mkdtemp()\n"
        "run = _run.RunFolder(folder, ('model.keras',), 'run_config.json', finished='m.json',"
        " what='run').open({}, False)\n"
        "run.close()\n"
        "assert calls and not os.path.exists(os.path.join(folder, '.lock'))\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
        timeout=120,
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]
