#!/usr/bin/env bash
# Iterative self-improvement, Qwen-1.5 on MATH with CoT-Binary, 4 updates (Fig. 13).
source "$(dirname "$0")/_common.sh"
start_sweep iterative_math
multirun $(updater_smoke_args "$@") "$@"
analyse
