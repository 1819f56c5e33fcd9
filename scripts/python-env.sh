#!/usr/bin/env bash
# Creates .venv with maturin, pytest and the reference anonlink package (for parity tests),
# then builds and installs the anonlink-py wheel in it; and .venv-blocklib with blocklib
# 0.1.11 for the blocking parity tests (blocklib needs pydantic 1, which the test services'
# packages in .venv cannot share).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" pytest \
  "anonlink==0.15.3" "clkhash==0.18.3" bitarray numpy setuptools pyyaml "moto[server]"
if [ ! -x .venv-blocklib/bin/python ]; then
  python3 -m venv .venv-blocklib
fi
.venv-blocklib/bin/pip install --quiet --disable-pip-version-check "blocklib==0.1.11" bitarray
.venv/bin/maturin build --release --quiet -m anonlink-py/Cargo.toml --out target/wheels
.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  target/wheels/anonlink_rs-*.whl
