"""Experiment tracking: one option of conf/logger/ per module here, each with its schema.

The pipeline always writes the local metrics.jsonl; a logger only mirrors it.
"""
