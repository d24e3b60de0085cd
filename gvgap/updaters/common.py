"""What the updater base class and the multi-process training path both use (their own
module, so gvgap.updaters.base and gvgap.updaters.distributed do not import each other)."""

from __future__ import annotations


class Skip(Exception):
    """Nothing to train on: the next model is the current one, unchanged."""


def saved_dtype(model_path: str):
    """The dtype the input model is stored in (the next model is stored the same way)."""
    import torch
    from transformers import AutoConfig

    d = getattr(AutoConfig.from_pretrained(model_path), "dtype", None)
    if isinstance(d, str):
        d = getattr(torch, d.replace("torch.", ""), None)
    return d if isinstance(d, torch.dtype) else None
