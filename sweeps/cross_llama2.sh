#!/usr/bin/env bash
# Cross-verification, Llama-2 on GSM8K (Fig. 3): generator x verifier model x {MC, CoT-Score};
# writes cross_<verifier>.{csv,md,png}, the gap grid.
source "$(dirname "$0")/_common.sh"
start_sweep cross_llama2
multirun $(tiny_verifier_args "$@") "$@"
analyse
