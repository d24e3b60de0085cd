"""Re-analysis of finished runs from their artifacts alone (no model loaded unless a new
verifier must run), one job per module:

  runs        find run folders, read their config, rounds and identity
  overrides   the analysis commands' key=value arguments (Hydra's grammar and compose)
  remeasure   reproduce metrics.json; weight-function / threshold sweeps of one run
  reverify    verify stored generations again with another verifier
  correlate   correlations between verifiers on the same samples
  sanity      Section 6.1's checks: CoT-Score distributions, tournament first-position rate
  tables      a sweep's tables (runs, paper settings, cross grid, thresholds, ...)
  figures     a sweep's figures; plots: the small matplotlib helpers under them
  scaling     the gap against pre-training FLOPs, fitted per family
  sweeps      the aggregation of a whole sweep (`python -m gvgap.analysis.sweeps DIR`)
  callbacks   the Hydra callback that runs it when a multirun ends

Entry point for single runs: `python -m gvgap.analyze` (gvgap/analyze.py)."""
