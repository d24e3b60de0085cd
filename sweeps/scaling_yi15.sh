#!/usr/bin/env bash
# Scaling, Yi-1.5 on GSM8K (Fig. 1, 12; Tables 3-4): every model x {MC, CoT-Binary, CoT-Score},
# then the tournament; writes runs/paper/scaling tables, the per-family fits and plots.
source "$(dirname "$0")/_common.sh"
start_sweep scaling_yi15
multirun "$@"
tournament_pass "$@"
analyse
