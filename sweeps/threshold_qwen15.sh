#!/usr/bin/env bash
# Threshold study, Qwen-1.5 on GSM8K (Fig. 5, 6, 14, 15): one run per model x verifier, then
# the thresholds swept on the stored scores (no model loaded): per run with
# `python -m gvgap.analyze` (RUN/analysis/gap_vs_threshold.*), and across models in
# thresholds.{csv,png} and tournament.png.
source "$(dirname "$0")/_common.sh"
start_sweep threshold_qwen15
multirun "$@"
tournament_pass "$@"
for cfg in "$DIR"/*/config.yaml; do
  run=$(dirname "$cfg")
  read -r kind rounds < <("$PYTHON" -c 'import sys, yaml
v = yaml.safe_load(open(sys.argv[1]))["verifier"]
print(v["_target_"].rsplit(".", 1)[-1], v.get("rounds", 0))' "$cfg")
  # run folder names contain "=", which analyze would read as an override: run it from inside
  case $kind in
    MCVerifier) (cd "$run" && "$PYTHON" -m gvgap.analyze . weight_fn=quantile weight_fn.q=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9) ;;
    CoTScoreVerifier) (cd "$run" && "$PYTHON" -m gvgap.analyze . weight_fn=threshold weight_fn.tau=1,2,3,4,5,6,7,8,9,10) ;;
    TournamentVerifier) (cd "$run" && "$PYTHON" -m gvgap.analyze . weight_fn=tournament "weight_fn.round=$(seq -s, 0 "$rounds")") ;;
  esac
done
analyse
