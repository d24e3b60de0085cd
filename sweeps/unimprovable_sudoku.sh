#!/usr/bin/env bash
# Sudoku 4x4 (Tables 2, 6): accuracy, gap and relative gap with CoT-Binary, every model.
source "$(dirname "$0")/_common.sh"
start_sweep unimprovable_sudoku
multirun "$@"
analyse
