#!/usr/bin/env bash
# Builds the documentation site (MkDocs, Material, mkdocstrings; mkdocs.yml)
# into site/, in strict mode: a broken link, a missing page or a reference
# that mkdocstrings cannot resolve fails it. First checks that the tables
# (scripts/results_tables.py) and figures (scripts/figures.py) in docs/ are
# those the stored results make. Installs the package with its docs extra
# into .venv (scripts/venv.sh) first. Extra arguments go to mkdocs build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh docs
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3} NO_MKDOCS_2_WARNING=1
.venv/bin/python scripts/results_tables.py --check
.venv/bin/python scripts/figures.py --check
exec .venv/bin/mkdocs build --strict "$@"
