# Sourced by every sweep script: run one experiment as a Hydra multirun into a known folder,
# then aggregate it. Environment:
#   PYTHON      interpreter (default: python)
#   SWEEP_DIR   where the runs go (default: outputs/sweeps/<experiment>/<date>_<time>)
#   TOURNAMENT  0 skips the tournament pass of the scaling/threshold sweeps
# Any arguments are Hydra overrides added to every pass, e.g. a CPU smoke test:
#   bash sweeps/scaling_qwen15.sh model=tiny_random debug=smoke
# or a cluster: ... hydra/launcher=slurm_gpu engine=vllm hydra.launcher.partition=gpu
set -euo pipefail

PYTHON=${PYTHON:-python}
if [[ $PYTHON == */* ]]; then PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON"); fi  # survives cd

has_arg() {  # has_arg KEY ARGS...: some argument is KEY=...
  local key=$1; shift
  local a
  for a in "$@"; do [[ $a == "$key="* ]] && return 0; done
  return 1
}

arg_value() {  # arg_value KEY ARGS...: the value of the last KEY=... argument (empty if none)
  local key=$1; shift
  local a v=""
  for a in "$@"; do [[ $a == "$key="* ]] && v=${a#"$key="}; done
  echo "$v"
}

is_smoke() { [[ $(arg_value debug "$@") == smoke ]]; }

start_sweep() {  # start_sweep EXPERIMENT: sets EXPERIMENT and DIR
  EXPERIMENT=$1
  DIR=${SWEEP_DIR:-outputs/sweeps/$EXPERIMENT/$(date +%Y-%m-%d_%H-%M-%S)}
  mkdir -p "$DIR"
  echo "[sweeps] $EXPERIMENT -> $DIR"
}

multirun() {  # multirun [overrides...]: one Hydra multirun of $EXPERIMENT into $DIR
  "$PYTHON" -m gvgap -m "experiment=$EXPERIMENT" "hydra.sweep.dir=$DIR" "$@"
}

tiny_verifier_args() {  # a smoke test on tiny_random verifies with tiny_random too
  if [[ $(arg_value model "$@") == tiny_random ]] && ! has_arg model@verifier.model "$@"; then
    echo "model@verifier.model=tiny_random"
  fi
}

tournament_pass() {  # the tournament verifier over the largest power of two <= N (at most 2^7)
  [[ ${TOURNAMENT:-1} == 0 ]] && return 0
  local n rounds=0
  n=$(arg_value generation.n_samples "$@")
  if [[ -z $n ]]; then if is_smoke "$@"; then n=4; else n=128; fi; fi
  while (( (1 << (rounds + 1)) <= n && rounds < 7 )); do rounds=$((rounds + 1)); done
  local k=$(( rounds < 5 ? rounds : 5 ))  # the paper's "round 5"
  multirun verifier=tournament "verifier.rounds=$rounds" weight_fn=tournament "weight_fn.round=$k" "$@"
}

updater_smoke_args() {  # a smoke test of an iterative sweep: one tiny update, on CPU
  if is_smoke "$@"; then
    echo "iterations=1 updater.max_steps=2 updater.batch_size=2 updater.gradient_accumulation_steps=1 updater.bf16=false"
  fi
}

analyse() {
  "$PYTHON" -m gvgap.analysis.sweeps "$DIR"
}
