#!/usr/bin/env bash
# The scaling chain on this CPU with the two packaged real models (SmolLM2-135M, Gemma-3
# 270M) on arithmetic: a check of sweep -> FLOPs -> fit -> plots, not a paper figure.
source "$(dirname "$0")/_common.sh"
start_sweep scaling_cpu
multirun "$@"
analyse
