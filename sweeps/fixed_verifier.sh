#!/usr/bin/env bash
# Fixed verifier, Qwen-1.5 7B on GSM8K (Fig. 10): iterative SFT verified by gold labels or by
# Qwen-1.5 72B; writes rounds.{csv,png} and passk.png.
source "$(dirname "$0")/_common.sh"
start_sweep fixed_verifier
multirun $(updater_smoke_args "$@") $(tiny_verifier_args "$@") "$@"
analyse
