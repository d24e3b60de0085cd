"""The `mathrational` fast path against math-verify itself, on every MATH test gold.

    python -m benchmarks.grading_identity [--limit N] [--out PATH]

For each gold (the last \\boxed{} of the 5000 MATH test solutions), its variants:
`grading_mix.equivalent_forms` (equal spellings), `grading_mix.wrong_answer` (three
wrong ones) and arithmetic spellings of the same and of other values (`g+0`, `1\\cdot g`,
`(g)`, `g/1`, `g+1`, `2\\cdot g`, `g-0.5`, `g+0.001`). Every pair the fast path decides
(and the existing string/number paths leave open) is also checked by the plain worker
(`mathworker.compare`, no `mathfast` speed-ups, in this process under a 10 s alarm);
the report counts pairs decided, agreements, and lists every disagreement.
"""

from __future__ import annotations

import argparse
import json
import random
import time

EXTRA = ("{g}+0", "1\\cdot{g}", "({g})", "{g}/1", "{g}+1", "2\\cdot{g}", "{g}-0.5", "{g}+0.001", "-{g}", "{g}\\times3")


def pairs_for(gold: str, others: list[str], rng: random.Random) -> list[str]:
    from benchmarks.grading_mix import equivalent_forms, wrong_answer

    out = equivalent_forms(gold) + [wrong_answer(gold, others, rng) for _ in range(3)]
    return list(dict.fromkeys(out + [e.format(g=gold) for e in EXTRA]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N golds only")
    ap.add_argument("--shard", default="0/1", help="k/n: every n-th gold from the k-th (to run in parallel)")
    ap.add_argument("--out", default=None, help="write the report here (JSON)")
    args = ap.parse_args(argv)
    from benchmarks.grading import _rows
    from benchmarks.workload import data_dir
    from gvgap.tasks import mathworker
    from gvgap.tasks.mathanswer import cheap_equal, for_verify, last_boxed, normalise, prepare
    from gvgap.tasks.mathrational import rational_equal

    rows = [r for r in _rows("math", str(data_dir())) if last_boxed(r["solution"])]
    golds = [last_boxed(r["solution"]) for r in rows][: args.limit]
    rng = random.Random(0)
    others = rng.sample(golds, min(500, len(golds)))
    k, n = (int(x) for x in args.shard.split("/"))
    golds = golds[k::n]
    mathworker.setup(4096, shortcuts=False)
    t0 = time.perf_counter()
    n_pairs = decided = agree = timeouts = 0
    golds_in = set()
    bad = []
    for i, gold in enumerate(golds):
        if i % 500 == 499:
            print(f"[identity] {i + 1}/{len(golds)} golds, {decided} decided, {len(bad)} disagree", flush=True)
        for pred in pairs_for(gold, others, random.Random(gold)):
            n_pairs += 1
            if cheap_equal(gold, pred) is not None:
                continue  # decided before math-verify on both paths
            fast = rational_equal(normalise(gold), normalise(pred))
            if fast is None:
                continue
            decided += 1
            golds_in.add(gold)
            ref, how = mathworker.timed_compare(for_verify(prepare(gold), None), for_verify(prepare(pred), None), 10.0)
            timeouts += how == "timeout"
            if ref == fast:
                agree += 1
            else:
                bad.append({"gold": gold, "answer": pred, "fast": fast, "math_verify": [ref, how]})
    out = {"golds": len(golds), "golds_with_a_decided_pair": len(golds_in), "pairs": n_pairs,
           "decided_by_fast_path": decided, "agree_with_math_verify": agree, "disagree": len(bad),
           "reference_timeouts": timeouts, "seconds": time.perf_counter() - t0, "disagreements": bad[:50]}
    print(json.dumps({k: v for k, v in out.items() if k != "disagreements"}), flush=True)
    for b in bad[:50]:
        print("DISAGREE", b, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
