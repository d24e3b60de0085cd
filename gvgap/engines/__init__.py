"""Engines turn prompts into completions and log-probabilities; the only code that
knows about devices, batching, KV caches and seeds."""
