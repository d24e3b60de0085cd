"""Re-analysis of finished runs from their artifacts alone (no model loaded unless a
new verifier must run): re-measure, threshold sweeps, re-verification, correlations.
Entry point: `python -m gvgap.analyze` (see gvgap/analyze.py)."""
