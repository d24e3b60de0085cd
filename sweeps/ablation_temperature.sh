#!/usr/bin/env bash
# Temperature ablation, Qwen-1.5 on GSM8K (Fig. 8): CoT-Score scaling at t = 0.5, then at
# t = 1.0 (generation and verification together); one fitted line per temperature.
source "$(dirname "$0")/_common.sh"
start_sweep ablation_temperature
multirun "$@"
multirun generation.temperature=1.0 verifier.temperature=1.0 "$@"
analyse
