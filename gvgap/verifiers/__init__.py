"""Verifiers give each (prompt, completion) a proxy utility score."""
