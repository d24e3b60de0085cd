"""Grading at paper scale: MATH verdicts per second, the serial per-sample path vs
gvgap's grading, side by side in one run, every verdict compared.

    python -m benchmarks.grading                  # 500 prompts x 128 samples (~4 min)
    python -m benchmarks.grading --quick          # 12 prompts (~30 s)
    python -m benchmarks.run                      # also runs this (section "grading")

serial: one `MathChecker.check` per sample, verdict cache off, one worker, and the
        worker without `mathfast`'s speed-ups: grading as it was before them, with the
        same string fast paths, normalisation and time-out.
ours:   `gvgap.pipeline.grade` as a run calls it: `MATHTask.prefetch` grades each
        prompt's distinct normalised answers once, fast paths first, math-verify checks
        over all cores; then the per-sample utility and time-out columns (cache hits).
The workload (benchmarks/grading_mix.py) is synthetic, built from MATH test golds with
the repeat structure of model samples; it is graded twice: as built (every check
finishes: the throughput ratio) and with 2% of the prompts holding one answer sympy
cannot finish (each check of it costs the whole time-out: serial per sample, ours per
prompt). Both paths start their workers before the clock.
Size: the throughput mix has 500 prompts (64,000 samples, a tenth of a paper round of
5000 x 128) because each worker process pays a one-off warm-up of the LaTeX parser
(ANTLR builds its prediction DFA as it meets new answer shapes: one process grades the
399 checks of the 100-prompt mix in 3.0 s cold, 1.9 s warm) that a paper round spreads
over 640,000 samples, and ours runs one such process per core. `block_speedups` (the
ratio per block) shows the cold start. The time-out mix keeps 100 prompts (its serial
path pays 5 s per hanging sample).
Results: res["grading"], res["grading_speedup"], res["grading_speedup_with_timeouts"],
res["grading_verdicts_identical"] (both mixes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

MAX_MISMATCHES = 20  # listed in the results when verdicts differ


def _contention():
    from benchmarks.run import Contention

    return Contention(threads=os.cpu_count() or 1)


def _cpu(checker) -> float:
    """CPU seconds used so far by this process and by the checker's live workers."""
    import psutil

    total = time.process_time()
    for c in [checker] + checker._helpers:
        if c._proc is not None and c._proc.poll() is None:
            try:
                t = psutil.Process(c._proc.pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def _rows(dataset: str, data_dir: str | None) -> list[dict]:
    from gvgap.data import load_rows

    return load_rows(dataset, "test", "auto", data_dir)


class Serial:
    """The serial path: one `check` per sample, verdict cache off, one plain worker."""

    def __init__(self, timeout: float):
        from gvgap.tasks import get_task
        from gvgap.tasks.mathcheck import MathChecker

        self.task = get_task("math", timeout=timeout)
        self.task.checker = MathChecker(timeout=timeout, cache_size=0, shortcuts=False)
        self.task.checker.start(1)  # off the clock
        self.seconds = self.cpu = 0.0

    def grade(self, problems, texts) -> list:
        task, c0, t0 = self.task, _cpu(self.task.checker), time.perf_counter()
        out = [[task.checker.check(p.gold, task.extract_answer(c), p.question) for c in cs]
               for p, cs in zip(problems, texts)]
        self.seconds += time.perf_counter() - t0
        self.cpu += _cpu(self.task.checker) - c0
        return out

    def counters(self) -> dict:
        c = self.task.checker
        return {"seconds": self.seconds, "cpu_seconds": self.cpu, "math_verify_calls": c.n_verify,
                "timeouts": c.n_timeouts, "worker_errors": c.n_errors, "workers": 1}


class Ours:
    """`gvgap.pipeline.grade` as a run calls it (prefetch over `workers` processes)."""

    def __init__(self, timeout: float, workers: int):
        from gvgap.tasks import get_task

        import gvgap.pipeline  # noqa: F401 - a run has imported it before it grades: off the clock

        self.task = get_task("math", timeout=timeout)
        self.workers = workers
        self.task.checker.start(workers)  # off the clock
        prefetch = self.task.prefetch
        self.task.prefetch = lambda ps, ts: prefetch(ps, ts, workers=workers)
        self.seconds, self.cpu, self.distinct, self.parent_cpu = 0.0, 0.0, 0, 0.0

    def grade(self, problems, texts) -> tuple[list, object]:
        from gvgap.pipeline import grade

        task, c0, t0, p0 = self.task, _cpu(self.task.checker), time.perf_counter(), time.process_time()
        before = len(task.checker.cache)
        df = grade(task, problems, texts)
        self.seconds += time.perf_counter() - t0
        self.cpu += _cpu(self.task.checker) - c0
        self.parent_cpu += time.process_time() - p0
        self.distinct += len(task.checker.cache) - before
        verdicts = [[task.checker.check(p.gold, task.extract_answer(c), p.question) for c in cs]
                    for p, cs in zip(problems, texts)]  # cache hits: what each row was graded from
        return verdicts, df

    def counters(self) -> dict:
        c = self.task.checker
        return {"seconds": self.seconds, "cpu_seconds": self.cpu, "math_verify_calls": c.n_verify,
                "timeouts": c.n_timeouts, "worker_errors": c.n_errors, "workers": self.workers,
                "distinct_keys": self.distinct, "parent_cpu_seconds": self.parent_cpu}


def compare(problems, serial, ours, df) -> tuple[list[dict], list[dict], int]:
    """Every sample: the serial verdict against ours and against the DataFrame's utility
    and time-out columns. Returns (verdicts that differ, samples whose verdicts agree but
    whose `how` differs otherwise than by ours' rational fast path: a check one path
    finished and the other cut at the time-out, number of samples ours decided by the
    rational fast path where serial called math-verify)."""
    bad, how, rational = [], [], 0
    flat = [(p, i, s, o) for p, ss, os_ in zip(problems, serial, ours) for i, (s, o) in enumerate(zip(ss, os_))]
    assert len(flat) == len(df)
    for (p, i, s, o), u, t in zip(flat, df["utility"], df["math_verify_timeout"]):
        row = {"prompt": p.id, "sample": i, "serial": [s.equal, s.how], "ours": [o.equal, o.how],
               "row_utility": u, "row_timeout": t}
        if s.equal != o.equal or float(o.equal) != u or float(o.timed_out) != t:
            bad.append(row)
        elif o.how == "rational" and s.how == "math_verify":
            rational += 1
        elif s.how != o.how:
            how.append(row)
    return bad, how, rational


def gsm8k_mix(rows: list[dict], n_prompts: int, n_samples: int, seed: int = 0):
    """GSM8K completions: the gold number or Zipf-weighted wrong numbers, in the taught format."""
    from gvgap.tasks.base import Problem
    from gvgap.tasks.gsm8k import gold_number

    rng = random.Random(seed)
    problems, texts = [], []
    for i, row in enumerate(rng.sample(rows, n_prompts)):
        gold = gold_number(row["answer"])
        g = float(gold)
        pool = [gold] + [f"{v:g}" for v in (g + 1, g - 1, 2 * g, g / 2, g + 10, g * 3, g - 7, g + 100)]
        weights = [1 / (r + 1) ** 1.1 for r in range(len(pool))]
        picks = rng.choices(pool, weights=weights, k=n_samples)
        problems.append(Problem(id=f"g{i}", question=row["question"], gold=gold))
        texts.append([f"{row['answer'].split('####')[0].strip()} The answer is {a}." for a in picks])
    return problems, texts


def bench_gsm8k(n_prompts: int, n_samples: int, data_dir: str | None = None) -> dict:
    """Per-sample cost of `gvgap.pipeline.grade` for GSM8K (regex extraction, string compare)."""
    from gvgap.pipeline import grade
    from gvgap.tasks import get_task

    task = get_task("gsm8k")
    problems, texts = gsm8k_mix(_rows("gsm8k", data_dir), n_prompts, n_samples)
    t0 = time.perf_counter()
    df = grade(task, problems, texts)
    seconds = time.perf_counter() - t0
    n = len(df)
    return {"samples": n, "seconds": seconds, "samples_per_s": n / seconds,
            "projected_round_s_1319x128": 1319 * 128 * seconds / n, "accuracy": float(df["utility"].mean())}


def compare_paths(problems, texts, timeout: float, workers: int, blocks: int) -> dict:
    """Serial vs ours on one mix, in `blocks` blocks, each graded by the serial path then by
    ours (so that a change in the machine's load falls on both); every verdict compared."""
    serial, ours = Serial(timeout), Ours(timeout, workers)
    bad, how, accuracy, rational, ratios = [], [], 0.0, 0, []
    size = -(-len(problems) // blocks)
    for b in range(0, len(problems), size):
        ps, ts = problems[b:b + size], texts[b:b + size]
        s0, o0 = serial.seconds, ours.seconds
        sv = serial.grade(ps, ts)
        ov, df = ours.grade(ps, ts)
        ratios.append((serial.seconds - s0) / (ours.seconds - o0))
        differ, labels, fast = compare(ps, sv, ov, df)
        bad, how, rational = bad + differ, how + labels, rational + fast
        accuracy += float(df["utility"].sum())
        print(f"[grading] prompts {b}-{b + len(ps) - 1}: serial {serial.seconds:.1f} s, ours {ours.seconds:.1f} s "
              f"so far ({ratios[-1]:.1f}x in this block)", flush=True)
    s, o = serial.counters(), ours.counters()
    serial.task.close()
    ours.task.close()
    n = sum(len(t) for t in texts)
    for part in (s, o):
        part["checks_per_s"] = n / part["seconds"]
        part["projected_round_s_5000x128"] = 5000 * 128 * part["seconds"] / n
    return {"samples": n, "blocks": blocks, "block_speedups": ratios, "serial": s, "ours": o,
            "speedup": s["seconds"] / o["seconds"],
            "cpu_ratio": s["cpu_seconds"] / o["cpu_seconds"], "verdicts_compared": n, "mismatches": len(bad),
            "verdicts_identical": not bad, "first_mismatches": bad[:MAX_MISMATCHES], "how_differs": len(how),
            "first_how_differs": how[:MAX_MISMATCHES], "samples_by_rational_fast_path": rational,
            "accuracy": accuracy / n}


def bench_grading(res: dict, quick: bool = False, prompts: int | None = None, samples: int = 128,
                  timeout: float = 5.0, workers: int | None = None, seed: int = 0, data_dir: str | None = None,
                  blocks: int | None = None, slow_share: float = 0.02, timeout_prompts: int | None = None) -> dict:
    """The MATH comparison (and the GSM8K cost), written into `res`, on two mixes: the main
    one, whose every check finishes (`grading_speedup`), and the same build with
    `slow_share` of the prompts holding one answer sympy cannot finish, which costs the
    whole time-out each time it is checked (`grading_speedup_with_timeouts`): the
    serial path pays it per sample, ours per prompt. `prompts`: the main mix (500; quick
    12); `timeout_prompts`: the second (100; quick 12)."""
    from benchmarks.grading_mix import build

    if not data_dir:
        from benchmarks.workload import data_dir as find_data

        data_dir = str(find_data())
    prompts = prompts or (12 if quick else 500)
    timeout_prompts = timeout_prompts or (12 if quick else 100)
    blocks = blocks or (1 if quick else 4)
    workers = workers or os.cpu_count() or 1
    rows = _rows("math", data_dir)
    load = _contention()
    problems, texts, mix = build(rows, prompts, samples, seed, slow_share=0.0)
    print(f"[grading] mix: {prompts} prompts x {samples}, {mix['distinct_raw_answers_mean']:.1f} distinct answers "
          f"per prompt; {blocks} blocks, serial then ours", flush=True)
    out = {"mix": mix, "timeout_s": timeout, "cores": os.cpu_count(), **compare_paths(problems, texts, timeout, workers, blocks)}
    slow_problems, slow_texts, slow_mix = build(rows, timeout_prompts, samples, seed, slow_share=slow_share)
    print(f"[grading] the mix with {slow_mix['slow_prompts']} prompts holding an answer that runs into the "
          f"{timeout:g} s time-out", flush=True)
    slow = {"mix": slow_mix, **compare_paths(slow_problems, slow_texts, timeout, workers, blocks)}
    o, s = out["ours"], out["serial"]
    out["mix"]["distinct_keys_per_prompt"] = o["distinct_keys"] / prompts
    out.update({"with_timeouts": slow, **load.done(), "gsm8k": bench_gsm8k(8 if quick else 40, samples, data_dir)})
    res["grading"] = out
    res["grading_speedup"] = out["speedup"]
    res["grading_speedup_with_timeouts"] = slow["speedup"]
    res["grading_verdicts_identical"] = out["verdicts_identical"] and slow["verdicts_identical"]
    print(f"[grading] serial {s['seconds']:.1f} s ({s['checks_per_s']:.0f} checks/s, {s['math_verify_calls']} "
          f"math-verify calls), ours {o['seconds']:.1f} s ({o['checks_per_s']:.0f} checks/s, {o['math_verify_calls']} "
          f"calls, {workers} workers): speedup {out['speedup']:.1f}x (CPU time {out['cpu_ratio']:.1f}x); with "
          f"time-outs: serial {slow['serial']['seconds']:.1f} s ({slow['serial']['timeouts']} cut), ours "
          f"{slow['ours']['seconds']:.1f} s ({slow['ours']['timeouts']} cut), {slow['speedup']:.1f}x; verdicts "
          f"identical: {res['grading_verdicts_identical']} ({out['samples'] + slow['samples']} compared); others' CPU share "
          f"{out['others_cpu_share']}; GSM8K {out['gsm8k']['samples_per_s']:.0f} samples/s", flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--prompts", type=int, default=None, help="MATH prompts in the main mix (500; quick 12)")
    ap.add_argument("--timeout-prompts", type=int, default=None, help="MATH prompts in the time-out mix (100; quick 12)")
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=5.0, help="s per math-verify check (the task default)")
    ap.add_argument("--workers", type=int, default=None, help="checker processes (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blocks", type=int, default=None, help="alternating serial/ours blocks (4; quick 1)")
    ap.add_argument("--slow-share", type=float, default=0.02,
                    help="share of prompts holding an answer that runs into the time-out, in the second mix")
    ap.add_argument("--name", default="grading", help="benchmarks/results/<name>.json")
    args = ap.parse_args(argv)
    from benchmarks.run import RESULTS, machine
    from gvgap.artifacts import atomic_write

    res = {"name": args.name, "machine": machine(os.cpu_count() or 1),
           "command": "python -m benchmarks.grading " + " ".join(argv if argv is not None else sys.argv[1:])}
    bench_grading(res, args.quick, args.prompts, args.samples, args.timeout, args.workers, args.seed,
                  blocks=args.blocks, slow_share=args.slow_share, timeout_prompts=args.timeout_prompts)
    res["machine"]["load_avg_end"] = list(os.getloadavg())
    path = RESULTS / f"{args.name}.json"
    text = json.dumps(res, indent=2, default=float)

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)
    path.chmod(0o644)  # readable like the other results (the temporary file was private)
    print(f"[grading] wrote {path}", flush=True)
    return res


if __name__ == "__main__":
    main()
