#!/usr/bin/env bash
# Iterative self-improvement with MC (quantile 0.7), Qwen-1.5 7B on GSM8K (Fig. 4).
source "$(dirname "$0")/_common.sh"
start_sweep iterative_mc
multirun $(updater_smoke_args "$@") "$@"
analyse
