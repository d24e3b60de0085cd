#!/usr/bin/env bash
# Iterative self-improvement, Qwen-1.5 on GSM8K (Fig. 4): SFT and RPO, CoT-Binary, 3 updates;
# writes rounds.{csv,png} (accuracy, gap per round) and passk.png (pass@k per round).
source "$(dirname "$0")/_common.sh"
start_sweep iterative_qwen15
multirun $(updater_smoke_args "$@") "$@"
analyse
