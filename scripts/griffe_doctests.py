"""A griffe extension for the API reference (mkdocs.yml): the doctests of the
package's docstrings shown as Python console blocks.

The docstrings write their examples as bare doctests (``>>> ...`` and the
expected output, as ``pytest --doctest-modules`` runs them). Markdown would
read ``>>>`` as nested quotes and ``[...]`` as links; this wraps each run of
doctest lines (up to the next blank line) in a ```` ```pycon ```` fence.
"""

import re

import griffe

_PROMPT = re.compile(r"^(\s*)>>> ")


def fence_doctests(text):
    """``text`` with every doctest block fenced as ``pycon``."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = _PROMPT.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        out += [f"{indent}```pycon", *(f"{indent}{line}" for line in block), f"{indent}```"]
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fences the doctests of every docstring as it is loaded."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>> " in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
