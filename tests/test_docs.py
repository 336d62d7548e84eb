"""The documentation: README of one screen, its links, the generated tables up to date.

(`bash scripts/docs.sh` builds the site in strict mode and checks the figures
too; these checks need no MkDocs and run in a second.)
"""

import importlib.util
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_is_one_screen_with_the_commands():
    text = _readme()
    assert text.count("\n") <= 200
    for command in ("bash scripts/main.sh", "bash scripts/test.sh", "bash scripts/docs.sh"):
        assert command in text, command


def test_readme_links_into_the_docs_exist():
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", _readme())
    assert links
    missing = [link for link in links if not os.path.exists(os.path.join(ROOT, link))]
    assert not missing, missing


def test_every_example_has_its_page():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        nav = f.read()
    for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if name.endswith(".py"):
            page = f"examples/{name[:-3]}.md"
            assert page in nav, page
            with open(os.path.join(ROOT, "docs", page), encoding="utf-8") as f:
                assert f'--8<-- "examples/{name}"' in f.read(), page


def test_result_tables_are_up_to_date():
    spec = importlib.util.spec_from_file_location(
        "results_tables", os.path.join(ROOT, "scripts", "results_tables.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run python scripts/results_tables.py"
