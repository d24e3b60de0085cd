#!/usr/bin/env bash
# Instruct models (Fig. 9): Qwen-1.5-Chat and Llama-2-Chat on GSM8K, Qwen-2.5-Instruct on MATH.
source "$(dirname "$0")/_common.sh"
start_sweep ablation_instruct
multirun "$@"
# its own folder: the run folders do not name the experiment, so they would collide
EXPERIMENT=ablation_instruct_math DIR="$DIR/math" multirun "$@"
analyse
