#!/usr/bin/env bash
# Verifier correlation and ensembles, all base models on GSM8K (Fig. 7, 17-19; Table 7):
# writes ensembles.{csv,md}, gap_distribution.png and correlation/<model>/.
source "$(dirname "$0")/_common.sh"
start_sweep verifier_correlation
multirun "$@"
analyse
