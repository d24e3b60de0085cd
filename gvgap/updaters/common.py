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


def save_model(model, tokenizer, model_path: str, save_dtype: str, out) -> None:
    """Save `model` and `tokenizer` to `out`, cast to `save_dtype` (auto: the dtype the input
    model `model_path` is stored in, so a bf16 model stays bf16)."""
    import torch

    dtype = saved_dtype(model_path) if save_dtype == "auto" else getattr(torch, save_dtype)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
