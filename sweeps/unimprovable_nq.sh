#!/usr/bin/env bash
# Natural Questions (Tables 1, 5): MC gaps of every base model; writes runs/paper tables.
source "$(dirname "$0")/_common.sh"
start_sweep unimprovable_nq
multirun "$@"
analyse
