"""OmegaConf resolvers the recipes use, registered when the CLI (or a test) imports this.

  ${gvgap.bracket_rounds:N}  rounds of a single-elimination tournament over N samples:
                             the largest r with 2^r <= N, at most 7 (128 entrants)
  ${gvgap.min:a,b}           the smaller of two numbers (e.g. the paper's "round 5")
  ${gvgap.or:a,b}            a, or b when a is null: a verifier option's own default unless
                             the recipe sets the top-level `verification` block
  ${gvgap_run_id:}           this process's run id, the suffix that makes the default run
                             folder unique (two runs started in the same second differ)
"""

from __future__ import annotations

import os
import secrets

from omegaconf import OmegaConf

MAX_ROUNDS = 7
# One value per process (the pid keeps it unique on one machine, the random part across
# machines); Hydra's sweep copies the resolver cache, so every use in a run agrees.
RUN_ID = f"{os.getpid() % 0x10000:04x}{secrets.token_hex(2)}"


def bracket_rounds(n_samples) -> int:
    n = int(n_samples)
    if n < 1:
        raise ValueError(f"generation.n_samples must be >= 1 for a tournament (got {n})")
    return min(MAX_ROUNDS, n.bit_length() - 1)


def register() -> None:
    OmegaConf.register_new_resolver("gvgap.bracket_rounds", bracket_rounds, replace=True)
    OmegaConf.register_new_resolver("gvgap.min", lambda a, b: min(a, b), replace=True)
    OmegaConf.register_new_resolver("gvgap.or", lambda a, b: b if a is None else a, replace=True)
    if not OmegaConf.has_resolver("gvgap_run_id"):
        OmegaConf.register_new_resolver("gvgap_run_id", lambda: RUN_ID, use_cache=True)


register()
