"""Batched sampling and scoring on top of shared-prefix attention.

`FastDecoder.generate_ids` -- the paper's sampling workload (N samples of long k-shot
prompts):
  1. the longest common token prefix of all prompts (the few-shot exemplars, the
     "trunk") is prefilled once, batch 1;
  2. each prompt's remainder (the "branch") is prefilled once, several prompts per
     forward, attending to the trunk segment; its last logits give the first token of
     every sample;
  3. decode runs up to `max_rows` rows at a time (fewer if the KV memory budget says
     so); each row attends to trunk + its branch (shared, un-replicated segments) and
     to its own suffix; finished rows are refilled at once (gvgap.engines.decode_batch).

`FastDecoder.score_ids` -- MC verification (log p(continuation | prompt)): prompts that
share a prefix are grouped and the prefix prefilled once (gvgap.engines.prefix_scoring).

With `prefix_tree` (default) the decode loop is gvgap.engines.prefix_tree's: prompts
that share more than the trunk (verification prompts: instruction -> problem ->
solution) share that level too, and with n == 1 each prompt's own remainder sits in its
row's private KV.

`attention="standard"` keeps the same loop but copies the prompt's KV into every row
(what `generate` + `DynamicCache.batch_repeat_interleave` does): a reference for tests
and the benchmark's middle row.
"""

from __future__ import annotations

import numpy as np
import torch

from gvgap.engines import prefix_scoring
from gvgap.engines.base import SamplingParams
from gvgap.engines.decode_batch import TRUNK, DecodeBatch
from gvgap.engines.sampling import reference_sample, top_p_sample
from gvgap.engines.shared_prefix import Segment, SharedPrefixContext, register


class FastDecoder:
    """Model calls over a SharedPrefixContext (the context is the KV cache), and the two
    workloads built on them. `stats` counts decode steps, rows per step, prefilled
    tokens, compactions, decode seconds and attended context tokens (for benchmarks)."""

    def __init__(self, model, tokenizer, *, max_rows: int = 32, kv_budget_mb: float = 2048,
                 attention: str = "shared_prefix", sampler: str = "fast", prefill_tokens: int = 4096,
                 min_shared: int = 16, topk: int = 64, skinny_linear: bool = True, prefix_tree: bool = True,
                 progress=None):
        if attention not in ("shared_prefix", "standard"):
            raise ValueError(f"engine.attention: {attention!r} is not shared_prefix or standard")
        if sampler not in ("fast", "reference"):
            raise ValueError(f"engine.sampler: {sampler!r} is not fast or reference")
        self.model = model
        self.tok = tokenizer
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.max_rows = int(max_rows)
        self.kv_budget = float(kv_budget_mb) * 2**20  # bytes
        self.attention = attention
        self.sampler = sampler
        self.prefill_tokens = int(prefill_tokens)
        self.min_shared = int(min_shared)
        self.topk = int(topk)
        self.prefix_tree = bool(prefix_tree)  # generate_ids: two-level prefixes (gvgap.engines.prefix_tree)
        self.progress = progress  # callable(n_done) or None
        name = register()
        if model.config._attn_implementation != name:
            model.set_attn_implementation(name)
        if skinny_linear:
            from gvgap.engines.kernels import use_skinny_linear

            use_skinny_linear(model)
        cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        self.n_layers = int(cfg.num_hidden_layers)
        heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
        self.elem = torch.finfo(model.dtype).bits // 8
        eos = set()
        for src in (getattr(model, "generation_config", None), tokenizer):
            e = getattr(src, "eos_token_id", None)
            if e is None:
                continue
            eos.update(e if isinstance(e, (list, tuple)) else [e])
        self.eos = eos
        self.stats = {"steps": 0, "rows_sum": 0, "prefill_tokens": 0, "compactions": 0, "decode_s": 0.0,
                      "attn_ctx": 0}
        # scoring keeps activations, final norm and LM head in float32, matmuls in the
        # model's dtype (gvgap.engines.fp32_head); False scores in the model's own dtype
        # (the benchmark's "before")
        self.fp32_scores = True
        self._head32 = None

    # -- model calls (also used by DecodeBatch, prefix_scoring and the benchmarks) ----------
    def _forward(self, ctx: SharedPrefixContext, ids: torch.Tensor, keep=None) -> torch.Tensor:
        """Logits of ids [rows, T] appended to the context's rows (not yet committed: call
        ctx.advance after). keep: None -> the last position [rows, 1, V]; 0 -> all
        positions [rows, T, V]; a LongTensor [rows] or [rows, 1] -> that position of each
        row [rows, 1, V]."""
        T = ids.shape[1]
        ctx.begin(T)
        hook = None
        if isinstance(keep, torch.Tensor):
            # keep[r] = the one position of row r whose logits are wanted: select it
            # before the output head, so only [rows, 1, V] logits are ever computed
            rows, idx = torch.arange(ids.shape[0]), keep.reshape(-1)
            hook = self.model.get_output_embeddings().register_forward_pre_hook(
                lambda mod, args: (args[0][rows, idx][:, None],) + tuple(args[1:]))
            keep = 0
        try:
            out = self.model(input_ids=ids, position_ids=ctx.position_ids(T), use_cache=False, gvgap_ctx=ctx,
                             logits_to_keep=1 if keep is None else keep)
        finally:
            if hook is not None:
                hook.remove()
        return out.logits

    def _token_bytes(self) -> int:
        """KV bytes of one token over all layers."""
        return 2 * self.n_layers * self.kv_heads * self.head_dim * self.elem

    def _context(self, trunk: Segment | None, rows: int, tokens: int, start: int) -> SharedPrefixContext:
        """A context of `rows` rows that attend to `trunk` (if any), suffixes from `start`."""
        ctx = SharedPrefixContext(self.n_layers, rows, tokens)
        if trunk is not None:
            ctx.add_segment(TRUNK, trunk)
        for i in range(rows):
            ctx.set_row(i, (TRUNK,) if trunk is not None else (), start)
        return ctx

    def _prefill_trunk(self, ids: list[int]) -> Segment:
        """K/V of `ids` (absolute positions from 0) as a Segment, in chunks."""
        ctx = self._context(None, 1, len(ids), 0)
        step = max(1, self.prefill_tokens)
        for s in range(0, len(ids), step):
            self._forward(ctx, torch.tensor([ids[s: s + step]]))
            ctx.advance()
        self.stats["prefill_tokens"] += len(ids)
        return ctx.to_segment(0, len(ids), 0)

    def _prefill_branches(self, trunk: Segment | None, branches: list[list[int]], start: int):
        """Prefill several remainders after a shared trunk. Returns (segments, last logits [k, V])."""
        k = len(branches)
        T = max(map(len, branches))
        ctx = self._context(trunk, k, T, start)
        if k == 1 and T > self.prefill_tokens:  # one long prompt: chunk it
            ids = branches[0]
            for s in range(0, T, self.prefill_tokens):
                logits = self._forward(ctx, torch.tensor([ids[s: s + self.prefill_tokens]]))
                ctx.advance()
            logits = logits[:, -1].float()
        else:  # right-padded, one forward
            ids = torch.tensor([b + [self.pad] * (T - len(b)) for b in branches])
            last = torch.tensor([len(b) - 1 for b in branches])
            logits = self._forward(ctx, ids, keep=last)[:, 0].float()
            ctx.advance([len(b) for b in branches])
        self.stats["prefill_tokens"] += sum(map(len, branches))
        return [ctx.to_segment(i, len(b), start) for i, b in enumerate(branches)], logits

    def _sample(self, logits: torch.Tensor, params: SamplingParams, u: torch.Tensor) -> torch.Tensor:
        """Tokens [B] from logits [B, V] with uniforms u [B] (float64)."""
        if self.sampler == "fast":
            return top_p_sample(logits, params.temperature, params.top_p, u, self.topk)
        return reference_sample(logits, params.temperature, params.top_p, u)

    # -- workloads ------------------------------------------------------------------------
    def generate_ids(self, prompt_ids: list[list[int]], params: SamplingParams, seeds: list[int]):
        """Token ids of params.n samples per prompt: [P][n] lists (EOS not included).
        seeds[i] seeds prompt i's samples."""
        n, max_new = int(params.n), int(params.max_new_tokens)
        P = len(prompt_ids)
        if P == 0:
            return []
        if n <= 0 or max_new <= 0:
            return [[[] for _ in range(n)] for _ in range(P)]
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("generate: empty prompt (no tokens)")
        batch = DecodeBatch
        if self.prefix_tree and self.attention == "shared_prefix":
            from gvgap.engines.prefix_tree import TreeDecodeBatch as batch
        with torch.inference_mode():
            return batch(self, prompt_ids, params, seeds).run()

    def score_ids(self, prompt_ids: list[list[int]], cont_ids: list[list[int]]) -> np.ndarray:
        """log p(cont | prompt) summed over the continuation's tokens: [P, C] float64."""
        P, C = len(prompt_ids), len(cont_ids)
        out = np.zeros((P, C), dtype=np.float64)
        if P == 0 or C == 0:
            return out
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("continuation_logprobs: empty prompt (no tokens)")
        from contextlib import nullcontext

        from gvgap.engines.fp32_head import Float32Head

        if self.fp32_scores and self._head32 is None:
            self._head32 = Float32Head(self.model, body=True)
        with torch.inference_mode(), (self._head32 if self.fp32_scores else nullcontext()):
            for group, tl in self._prefix_groups(prompt_ids):
                trunk = self._prefill_trunk(prompt_ids[group[0]][:tl]) if tl else None
                for sub in self._length_buckets(group, prompt_ids, tl):
                    out[sub] = prefix_scoring.score_batch(self, trunk, tl, [prompt_ids[i] for i in sub], cont_ids)
                    if self.progress:
                        self.progress(len(sub) * C)
        return out

    def _prefix_groups(self, prompt_ids: list[list[int]]) -> list[tuple[list[int], int]]:
        return prefix_scoring.prefix_groups(prompt_ids, self.min_shared)

    def _length_buckets(self, group: list[int], prompt_ids: list[list[int]], tl: int) -> list[list[int]]:
        return prefix_scoring.length_buckets(group, prompt_ids, tl, self.prefill_tokens)
