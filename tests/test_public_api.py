"""The public API: each package's `__all__`, as the API reference lists it, nothing private."""

import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = [
    "pinet_keras",
    "pinet_keras.models",
    "pinet_keras.data",
    "pinet_keras.training",
    "pinet_keras.export",
    "pinet_keras.tuning",
    "pinet_keras.pretrained",
]


def readme_table():
    """The table of docs/api/index.md (README's table of the public API until 0.3)."""
    with open(os.path.join(ROOT, "docs", "api", "index.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## Public API") :]
    section = section[: section.index("\n## ", 1)]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(pinet_keras[\w.]*)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return rows


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_what_readme_lists(name):
    module = importlib.import_module(name)
    # The layer names follow pinet_keras.layers, whose own row points there.
    layers = set(importlib.import_module("pinet_keras.layers").__all__)
    listed = readme_table()[name]
    public = set(module.__all__)
    if name == "pinet_keras":
        public -= layers
        listed -= layers
    assert public == listed, (sorted(public - listed), sorted(listed - public))
    for item in module.__all__:
        assert hasattr(module, item), item
        assert not item.startswith("_"), item


@pytest.mark.parametrize("name", PACKAGES)
def test_no_unlisted_public_function_or_class(name):
    """Every public function or class a package defines or imports is in its `__all__`."""
    module = importlib.import_module(name)
    unlisted = [
        attribute
        for attribute, value in vars(module).items()
        if not attribute.startswith("_")
        and (isinstance(value, type) or callable(value))
        and getattr(value, "__module__", "").startswith("pinet_keras")
        and attribute not in module.__all__
        # `pretrained.list` is public but left out of `__all__` (it would hide the builtin).
        and (name, attribute) != ("pinet_keras.pretrained", "list")
    ]
    assert not unlisted, unlisted


def test_scripts_use_only_public_names():
    """Every `<package>.<name>(...)` a script in examples/ or benchmarks/ calls is in `__all__`.

    (A name dropped from `__all__` would otherwise fail only when the
    script runs, as `export.as_float32` once did in `make_pretrained.py`.)
    """
    aliases = {"export": "pinet_keras.export", "pretrained": "pinet_keras.pretrained"}
    used = []
    for folder in ("examples", "benchmarks"):
        for file_name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if not file_name.endswith(".py"):
                continue
            with open(os.path.join(ROOT, folder, file_name), encoding="utf-8") as f:
                text = f.read()
            for alias, package in aliases.items():
                if f"from pinet_keras import {alias}\n" not in text:
                    continue
                # Public calls (the packaging script also reads private constants).
                for name in re.findall(rf"(?<![\w./]){alias}\.([A-Za-z]\w*)\(", text):
                    used.append((file_name, package, name))
    assert used
    missing = [
        (file_name, f"{package}.{name}")
        for file_name, package, name in used
        if name not in importlib.import_module(package).__all__
    ]
    assert not missing, missing
