#!/usr/bin/env bash
# Scaling, Qwen-2.5 on MATH (Fig. 1, 12; Tables 3-4): every model x {MC, CoT-Binary, CoT-Score},
# then the tournament; writes runs/paper/scaling tables, the per-family fits and plots.
source "$(dirname "$0")/_common.sh"
start_sweep scaling_qwen25_math
multirun "$@"
tournament_pass "$@"
analyse
