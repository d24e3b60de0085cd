#!/usr/bin/env bash
# Verification variance, Qwen-1.5 on GSM8K (Fig. 11): 8 generations x 64 CoT-Binary
# verifications each; writes variance.{csv,png}. A smoke test uses 4 verifications.
source "$(dirname "$0")/_common.sh"
start_sweep verifier_variance
smoke=()
if is_smoke "$@"; then smoke=(verifier.num_verifications=4); fi
multirun "${smoke[@]}" "$@"
analyse
