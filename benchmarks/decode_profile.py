"""Where one decode step's time goes (issue 11, item 4), for benchmarks/run.py.

The benchmark's step shape: B rows of one prompt (~650 cached tokens in one shared
segment, a few private suffix tokens each), one token per row. Wall-clock timers around
the parts of a step, summed over steps:
  * linears: every nn.Linear of the body (forward pre/post hooks);
  * head: the output embedding (LM head);
  * attention: SharedPrefixContext.attend (shared segment + own suffix + merge);
  * sampling: top_p_sample on the step's logits;
  * other: the rest of the step (embedding, norms, rotary, residual adds, MLP
    activation, HF's per-layer Python, our context bookkeeping).
The hooks cost a little themselves (counted in their parts); the untimed steps before
them give the step time without hooks (`step_ms_median`).
"""

from __future__ import annotations

import time

import numpy as np


class _Timers:
    def __init__(self):
        self.t = {"linears": 0.0, "head": 0.0, "attention": 0.0, "sampling": 0.0}
        self._start = {}

    def pre(self, key):
        def hook(mod, args):
            self._start[key] = time.perf_counter()
        return hook

    def post(self, key):
        def hook(mod, args, out):
            self.t[key] += time.perf_counter() - self._start.pop(key)
        return hook


def profile_steps(dec, ids: list[int], rows: int, steps: int, seed: int = 0) -> dict:
    """Timed decode steps of `rows` rows after the prompt `ids` with decoder `dec`
    (a FastDecoder): median step ms untimed, and the per-part breakdown (ms per step)."""
    import torch

    from gvgap.engines.sampling import top_p_sample
    from gvgap.engines.shared_prefix import SharedPrefixContext

    model = dec.model
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        seg = dec._prefill_trunk(ids)
        ctx = SharedPrefixContext(dec.n_layers, rows, 2 * steps + 8)
        ctx.add_segment(0, seg)
        for r in range(rows):
            ctx.set_row(r, (0,), len(ids))
        cur = torch.full((rows, 1), 13)
        tm = _Timers()

        def step(timed: bool):
            nonlocal cur
            t0 = time.perf_counter()
            logits = dec._forward(ctx, cur)[:, -1]
            ctx.advance()
            t1 = time.perf_counter()
            nxt = top_p_sample(logits, 0.7, 0.9, torch.rand(rows, generator=g, dtype=torch.float64))
            t2 = time.perf_counter()
            if timed:
                tm.t["sampling"] += t2 - t1
            cur = nxt[:, None]
            return t2 - t0

        step(False)  # warm-up
        plain = [step(False) for _ in range(steps)]
        head = model.get_output_embeddings()
        hooks = []
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear) and mod is not head:
                hooks += [mod.register_forward_pre_hook(tm.pre("linears")),
                          mod.register_forward_hook(tm.post("linears"))]
        hooks += [head.register_forward_pre_hook(tm.pre("head")), head.register_forward_hook(tm.post("head"))]
        orig = ctx.attend

        def attend(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                tm.t["attention"] += time.perf_counter() - t0

        ctx.attend = attend
        try:
            total = sum(step(True) for _ in range(steps))
        finally:
            for h in hooks:
                h.remove()
            del ctx.attend
    parts = {k: 1e3 * v / steps for k, v in tm.t.items()}
    parts["other"] = 1e3 * total / steps - sum(parts.values())
    tot = sum(parts.values())
    return {"rows": rows, "cached": len(ids), "steps": steps, "step_ms_median": 1e3 * float(np.median(plain)),
            "timed_step_ms": tot, "ms": {k: round(v, 2) for k, v in parts.items()},
            "share": {k: round(v / tot, 3) for k, v in parts.items()}}


def main(argv=None) -> None:
    """`python -m benchmarks.decode_profile --model DIR --out FILE [...]`: the breakdown in a
    fresh interpreter, so the OpenMP environment (e.g. OMP_WAIT_POLICY) can differ."""
    import argparse
    import json
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args(argv)
    from gvgap.engines.hf import HFEngine

    from benchmarks.workload import gsm8k_prompts

    eng = HFEngine(a.model, fast=True, dtype=a.dtype, threads=a.threads, progress=False)
    ids = eng.tokenizer(gsm8k_prompts(1)[0][0]).input_ids
    out = profile_steps(eng.decoder, ids, a.rows, a.steps)
    out["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "(default)")
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, a.out)


def wait_policy_compare(model: str, dtype: str, threads: int, rows: int, steps: int, rounds: int = 1,
                        timeout: int = 1200) -> dict:
    """Step time with OpenMP's default wait policy vs OMP_WAIT_POLICY=PASSIVE, children
    alternating (default, passive, default, ...). On a shared machine, threads that spin
    at the end of every parallel region burn the time slices the busy other core needs."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    got: dict[str, list] = {"default": [], "passive": []}
    with tempfile.TemporaryDirectory() as td:
        for r in range(rounds):
            for label in ("default", "passive"):
                env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
                if label == "passive":
                    env["OMP_WAIT_POLICY"] = "PASSIVE"
                env["PYTHONPATH"] = str(root)
                of = Path(td) / f"{label}{r}.json"
                p = subprocess.run([sys.executable, "-m", "benchmarks.decode_profile", "--model", model, "--out",
                                    str(of), "--dtype", dtype, "--threads", str(threads), "--rows", str(rows),
                                    "--steps", str(steps)], cwd=root, env=env, capture_output=True, text=True,
                                   timeout=timeout)
                if p.returncode != 0 or not of.exists():
                    return {"failed": (p.stderr or p.stdout)[-1500:]}
                got[label].append(json.loads(of.read_text()))
    med = {k: float(np.median([x["step_ms_median"] for x in v])) for k, v in got.items()}
    return {"step_ms_median": med, "default_over_passive": med["default"] / med["passive"],
            "runs": got, "threads": threads}


if __name__ == "__main__":
    main()
