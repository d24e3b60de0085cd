#!/usr/bin/env bash
# The runs behind docs/results.md (SmolLM2-135M-Instruct and Gemma-3 270M on CPU).
#   bash docs/results/run.sh verifiers|cross|iterative_oracle|iterative_mc|all
# (on the shared 2-core machine they ran as three parallel chains, OMP_NUM_THREADS=1:
# iterative_oracle, iterative_mc, and "verifiers cross")
# Each run writes outputs/results/<study>/<name>/ (git-ignored) and, beside it,
# <name>.cmd (the command), <name>.time (/usr/bin/time -v: CPU and wall time) and
# <name>.load (load averages before and after: the machine's contention).
# Then: python -m gvgap.analyze results outputs/results out=docs/results.md
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
OUT=outputs/results
COMMON="logger=none generation.n_samples=8 generation.max_new_tokens=64"

run() {  # run <folder> <gvgap arguments...>: one timed run
  local dir=$1; shift
  if [ -e "$dir.time" ]; then echo "done already: $dir"; return; fi
  mkdir -p "$(dirname "$dir")"
  echo "$PY -m gvgap $*" > "$dir.cmd"
  uptime > "$dir.load"
  /usr/bin/time -v -o "$dir.time" "$PY" -m gvgap "$@" > "$dir.log" 2>&1 || { echo "FAILED: $dir (see $dir.log)"; mv "$dir.time" "$dir.failed"; }
  uptime >> "$dir.load"
}

verifiers() {  # study 3: one generation set (32 prompts x 8), five verifiers; judgements <= 64 tokens
  local base="$COMMON task.limit=32 updater=none"
  local short="verifier.max_new_tokens=64"
  run $OUT/verifiers/mc $base verifier=mc weight_fn=quantile weight_fn.q=0.8 run_dir=$OUT/verifiers/mc
  run $OUT/verifiers/oracle $base verifier=oracle weight_fn=threshold weight_fn.tau=1 run_dir=$OUT/verifiers/oracle
  run $OUT/verifiers/tournament $base verifier=tournament $short verifier.rounds=2 weight_fn=tournament weight_fn.round=2 \
    run_dir=$OUT/verifiers/tournament
  run $OUT/verifiers/cot_binary $base verifier=cot_binary $short weight_fn=threshold weight_fn.tau=1 run_dir=$OUT/verifiers/cot_binary
  run $OUT/verifiers/cot_score $base verifier=cot_score $short weight_fn=threshold weight_fn.tau=8 run_dir=$OUT/verifiers/cot_score
}

cross() {  # study 2: generator x verifier model, MC (top 0.8), one Hydra multirun; the gold
  # verifier's run on Gemma's samples first (its generations are then cache hits in the sweep)
  run $OUT/cross/gemma_oracle $COMMON task.limit=32 updater=none model=gemma3_270m verifier=oracle \
    weight_fn=threshold weight_fn.tau=1 run_dir=$OUT/cross/gemma_oracle
  run $OUT/cross/sweep -m experiment=cross_cpu hydra.sweep.dir=$OUT/cross/sweep
}

iterative() {  # study 1: 3 SFT updates (6 steps each) on 16 train prompts x 8; 32 held-out test prompts x 8
  local v=$1 wf=$2  # task.train_split: D_t comes from the train split, the test prompts are only measured
  run $OUT/iterative/$v $COMMON task.limit=32 task.train_split=train task.train_limit=16 iterations=3 \
    verifier=$v $wf updater=sft updater.max_steps=6 updater.learning_rate=3e-5 run_dir=$OUT/iterative/$v
}

ORACLE="weight_fn=threshold weight_fn.tau=1"
MC="weight_fn=quantile weight_fn.q=0.8"

for step in "${@:-all}"; do
  case "$step" in
    verifiers) verifiers ;;
    cross) cross ;;
    iterative_oracle) iterative oracle "$ORACLE" ;;
    iterative_mc) iterative mc "$MC" ;;
    all) verifiers; iterative oracle "$ORACLE"; iterative mc "$MC"; cross ;;
    *) echo "usage: $0 verifiers|cross|iterative_oracle|iterative_mc|all ..." >&2; exit 2 ;;
  esac
done
