"""HF transformers engine: seeded batched sampling and continuation log-probabilities.

Two implementations behind one interface:
* `fast=True` (default): our own decode loop (gvgap.engines.fast_decode) with
  shared-prefix attention (gvgap.engines.shared_prefix): the prompt's KV is computed
  once and never replicated, finished rows leave the batch and are refilled, nucleus
  sampling avoids the full-vocabulary sort (gvgap.engines.sampling). Scoring prefills
  the prefix shared by a batch of verification prompts once.
  `attention="standard"` runs the same loop with the prompt KV replicated per row.
* `fast=False`: plain `model.generate` and one padded forward per batch of
  (prompt, continuation) rows, the reference the benchmark compares against.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from gvgap.engines.base import SamplingParams, cut_at_stop, prompt_seed


class HFEngine:
    """The gvgap.engines.base.Engine protocol on transformers (CPU fast path or plain)."""

    def __init__(self, model_path: str, **options):
        """options: the fields of HFEngineConfig (gvgap/engines/hf_schema.py), which holds
        their defaults and ranges (a bad value raises gvgap.schema.ConfigError)."""
        from gvgap.engines.hf_schema import HFEngineConfig

        c = HFEngineConfig(**options)
        dtype, device, batch_size, threads, progress = c.dtype, c.device, c.batch_size, c.threads, c.progress
        fast, attention, sampler, max_rows, kv_budget_mb = c.fast, c.attention, c.sampler, c.max_rows, c.kv_budget_mb
        prefill_tokens, min_shared, topk, skinny_linear = c.prefill_tokens, c.min_shared, c.topk, c.skinny_linear
        prefix_tree = c.prefix_tree
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.device = device
        self.batch_size = int(batch_size)
        self.progress = progress
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        from gvgap.engines.cpu import resolve_dtype

        self.dtype = resolve_dtype(dtype, device)  # "auto": bf16 only where it is native
        self.fast = bool(fast) and str(device).startswith("cpu")
        if fast and not self.fast:
            import logging

            logging.getLogger("gvgap").warning("engine.fast=true is CPU-only; using plain generate on %s", device)
        kwargs = {}
        if self.fast:
            from gvgap.engines.shared_prefix import register

            kwargs["attn_implementation"] = register()  # behaves as sdpa without a context
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, self.dtype), **kwargs)
        self.model.to(device).eval()
        self.decoder = None
        if self.fast:
            from gvgap.engines.fast_decode import FastDecoder

            self.decoder = FastDecoder(
                self.model, self.tokenizer, max_rows=int(max_rows or self.batch_size), kv_budget_mb=kv_budget_mb,
                attention=attention, sampler=sampler, prefill_tokens=prefill_tokens,
                min_shared=min_shared, topk=topk, skinny_linear=skinny_linear, prefix_tree=prefix_tree,
            )

    def close(self) -> None:
        """Drop the model so its memory is freed before another one loads."""
        import gc

        self.model = self.decoder = None
        gc.collect()

    @contextmanager
    def _progress(self, total: int, desc: str):
        """A progress bar (if engine.progress) that the fast decoder also reports into."""
        from tqdm.auto import tqdm

        with tqdm(total=total, desc=desc, disable=not self.progress, leave=False) as bar:
            if self.decoder is not None:
                self.decoder.progress = bar.update
            try:
                yield bar
            finally:
                if self.decoder is not None:
                    self.decoder.progress = None

    # -- sampling ------------------------------------------------------------------------
    def generate(self, prompts: list[str], params: SamplingParams, indices: list[int] | None = None) -> list[list[str]]:
        """`params.n` completions per prompt. Prompt i is seeded by (seed, indices[i])."""
        indices = list(range(len(prompts))) if indices is None else list(indices)
        if len(indices) != len(prompts):
            raise ValueError("generate: indices and prompts differ in length")
        if self.decoder is None:
            return self._generate_plain(prompts, params, indices)
        ids = [self.tokenizer(p).input_ids for p in prompts]
        seeds = [prompt_seed(params.seed, i) for i in indices]
        with self._progress(len(prompts) * params.n, "generate"):
            seqs = self.decoder.generate_ids(ids, params, seeds)
        stop = tuple(params.stop or ())
        return [[cut_at_stop(self.tokenizer.decode(s, skip_special_tokens=True), stop) for s in row] for row in seqs]

    def _generate_plain(self, prompts, params, indices):
        torch = self.torch
        out = []
        with self._progress(len(prompts) * params.n, "generate") as bar:
            for prompt, idx in zip(prompts, indices):
                ids = self.tokenizer(prompt, return_tensors="pt").input_ids.to(self.device)
                texts = []
                for chunk, start in enumerate(range(0, params.n, self.batch_size)):
                    k = min(self.batch_size, params.n - start)
                    torch.manual_seed(prompt_seed(params.seed, idx) + chunk)
                    texts += self._sample(ids, k, params)
                    bar.update(k)
                out.append(texts)
        return out

    def _sample(self, ids, k: int, params: SamplingParams) -> list[str]:
        torch = self.torch
        greedy = params.temperature == 0
        kwargs = dict(
            max_new_tokens=params.max_new_tokens,
            do_sample=not greedy,
            pad_token_id=self.tokenizer.pad_token_id,
            attention_mask=torch.ones_like(ids),
        )
        if not greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            seqs = self.model.generate(ids.expand(k, -1), **kwargs)
        new = seqs[:, ids.shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [cut_at_stop(t, params.stop) for t in texts]

    # -- scoring -------------------------------------------------------------------------
    def continuation_logprobs(self, prompts: list[str], continuations: list[str]) -> np.ndarray:
        """log p(c | prompt) summed over c's tokens, for every prompt and continuation.

        Returns an array [len(prompts), len(continuations)]. A word that is several
        tokens (" Incorrect" in SmolLM2) is scored whole.
        """
        tok = self.tokenizer
        prompt_ids = [tok(p).input_ids for p in prompts]
        cont_ids = [tok(c, add_special_tokens=False).input_ids for c in continuations]
        with self._progress(len(prompts) * len(continuations), "score") as bar:
            if self.decoder is None:
                return self._score_plain(prompt_ids, cont_ids, bar)
            return self.decoder.score_ids(prompt_ids, cont_ids)

    def _score_plain(self, prompt_ids, cont_ids, bar):
        torch = self.torch
        pad = self.tokenizer.pad_token_id
        result = np.zeros((len(prompt_ids), len(cont_ids)), dtype=np.float64)
        rows = [(i, j) for i in range(len(prompt_ids)) for j in range(len(cont_ids))]
        for s in range(0, len(rows), self.batch_size):
            batch = rows[s: s + self.batch_size]
            seqs = [prompt_ids[i] + cont_ids[j] for i, j in batch]
            width = max(map(len, seqs))
            # left-pad so every continuation ends at the last position
            input_ids = torch.tensor([[pad] * (width - len(q)) + q for q in seqs], device=self.device)
            mask = torch.tensor([[0] * (width - len(q)) + [1] * len(q) for q in seqs], device=self.device)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            for b, (i, j) in enumerate(batch):
                c = cont_ids[j]
                L = len(c)
                # token at position t is predicted by logits at t-1
                tgt = torch.tensor(c, device=self.device)
                lp = logp[b, width - L - 1: width - 1].gather(-1, tgt[:, None]).sum()
                result[i, j] = float(lp)
            bar.update(len(batch))
        return result
