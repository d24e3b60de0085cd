"""A synthetic MATH grading workload with the repeat structure of real samples.

No real 128-sample MATH generations exist on this machine (the cached runs are 2-4
samples of a tiny random model), so the answers are built from the MATH test golds:

* per prompt, a pool of candidate answers: the gold in several equivalent spellings
  (`\\frac{1}{2}`, `\\dfrac{1}{2}`, `1/2`, `0.5`, spaces, `\\left(`, a trailing period),
  wrong answers derived from it (off-by-one / sign / digit changes / inverted fractions /
  `+1`), other problems' golds, unparseable text (truncated LaTeX, words), no answer at
  all, and, in a small share of prompts, one answer that sympy cannot finish (it spends
  the whole time-out);
* the pool is drawn from with Zipf-like frequencies (rank r has weight r^-s): the
  correct spellings get a level-dependent share of the mass (85% at level 1 down to 25%
  at level 5), the wrong ones the rest, more of them at higher levels; so 128 samples
  of an easy problem hold a handful of distinct answers and those of a hard one a few
  dozen, most seen once or twice;
* each answer is put in a completion the way the exemplars teach (`Final Answer: The
  final answer is $X$. I hope it is correct.`), some as `\\boxed{X}` only, so the
  measured time includes extraction.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from gvgap.tasks.base import Problem

LEVEL_CORRECT = {1: 0.85, 2: 0.7, 3: 0.55, 4: 0.4, 5: 0.25}  # mass on correct spellings
ZIPF_S = 1.1
NO_ANSWER = 0.04  # share of samples with no final answer at all (truncated)
SLOW = "(x+1)^{3000}-x^{3000}"  # no size rule reads it; sympy spends > 20 s expanding it, with or without shortcuts
_FRAC = re.compile(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}")
_INT = re.compile(r"-?\d+")


def equivalent_forms(gold: str) -> list[str]:
    """Spellings of the same value a model writes (the gold first)."""
    out = [gold, gold.replace("\\frac", "\\dfrac"), re.sub(r"\s*([+=,]|(?<=\w)-)\s*", r" \1 ", gold).strip(),
           gold + ".", gold.replace(" ", "")]
    m = _FRAC.fullmatch(gold)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        out += [f"{sign}{a}/{b}", f"{sign}\\frac{a}{b}" if a < 10 and b < 10 else f"{sign}\\tfrac{{{a}}}{{{b}}}"]
        value = a / b
        if abs(value * 10 ** 4 - round(value * 10 ** 4)) < 1e-12:  # terminating: an exact decimal
            out.append(f"{'-' if sign else ''}{value:g}")
    if _INT.fullmatch(gold):
        out += [f"{gold}.0", f"{int(gold):,}" if abs(int(gold)) >= 1000 else f"{gold}.00"]
    if gold.startswith("(") and gold.endswith(")"):
        out.append(f"\\left{gold[:-1]}\\right)")
    return list(dict.fromkeys(out))


def wrong_answer(gold: str, others: list[str], rng: random.Random) -> str:
    """One plausible wrong (or unreadable) answer."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(others)  # another problem's answer
    if kind < 0.20:
        return rng.choice(["\\frac{1}{", "\\text{no solution}", "\\sqrt{", "I don't know", "x=", "\\begin{pmatrix}1"])
    if _INT.fullmatch(gold):
        n = int(gold)
        return str(rng.choice([n + 1, n - 1, n + 2, 2 * n, -n, n * 10, n + rng.randint(3, 50), n // 2 or 7]))
    m = _FRAC.fullmatch(gold)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        return rng.choice([f"{sign}\\frac{{{b}}}{{{a}}}", f"{sign}\\frac{{{a + 1}}}{{{b}}}", f"\\frac{{{a}}}{{{b + 1}}}",
                           f"{a / b + 0.1:.3f}", f"{'' if sign else '-'}\\frac{{{a}}}{{{b}}}", str(a)])
    digits = [k for k, ch in enumerate(gold) if ch.isdigit()]
    if digits and kind < 0.6:
        k = rng.choice(digits)
        return gold[:k] + str((int(gold[k]) + rng.randint(1, 9)) % 10) + gold[k + 1:]
    if "+" in gold and kind < 0.75:
        return gold.replace("+", "-", 1)
    return rng.choice([f"{gold}+1", f"2{gold}" if not gold[:1].isdigit() else f"2\\cdot {gold}", f"-{gold}"])


def completion(answer: str | None, rng: random.Random) -> str:
    work = "We simplify the expression step by step and check the result.\n"
    if answer is None:
        return work + "Therefore the value is the sum of the two cases, which is"  # cut off
    if rng.random() < 0.2:
        return work + f"So the answer is $\\boxed{{{answer}}}$."
    return work + f"Final Answer: The final answer is ${answer}$. I hope it is correct."


def zipf_pick(items: list, weights_mass: float, rng: random.Random) -> list[tuple[object, float]]:
    w = [1 / (r + 1) ** ZIPF_S for r in range(len(items))]
    total = sum(w)
    return [(x, weights_mass * v / total) for x, v in zip(items, w)]


def build(rows: list[dict], n_prompts: int, n_samples: int = 128, seed: int = 0,
          slow_share: float = 0.02) -> tuple[list[Problem], list[list[str]], dict]:
    """(problems, completions [n_prompts][n_samples], stats). `rows`: MATH test rows with a
    boxed gold; prompts are a seeded sample of them; `slow_share` of the prompts hold one
    answer that runs into the time-out."""
    from gvgap.tasks.mathanswer import last_boxed

    rng = random.Random(seed)
    rows = [r for r in rows if last_boxed(r["solution"])]
    chosen = rng.sample(rows, n_prompts)
    others = [last_boxed(r["solution"]) for r in rng.sample(rows, min(500, len(rows)))]
    n_slow = max(1, round(slow_share * n_prompts)) if slow_share > 0 else 0
    problems, texts, distinct = [], [], []
    for i, row in enumerate(chosen):
        gold = last_boxed(row["solution"])
        m = re.search(r"\d", str(row.get("level")))
        level = int(m.group()) if m else 3
        n_wrong = 3 + 8 * (level - 1) + rng.randint(0, 4)
        wrong = list(dict.fromkeys(wrong_answer(gold, others, rng) for _ in range(n_wrong)))
        if i < n_slow:
            wrong.insert(rng.randint(2, min(6, len(wrong))), SLOW)
        right = equivalent_forms(gold)
        p_right = LEVEL_CORRECT.get(level, 0.5)
        pool = zipf_pick(right, p_right * (1 - NO_ANSWER), rng) + zipf_pick(wrong, (1 - p_right) * (1 - NO_ANSWER), rng)
        pool.append((None, NO_ANSWER))
        answers = rng.choices([a for a, _ in pool], weights=[w for _, w in pool], k=n_samples)
        problems.append(Problem(id=f"mix{i}", question=row["problem"], gold=gold, meta={"level": level}))
        texts.append([completion(a, rng) for a in answers])
        distinct.append(len(Counter(answers)))
    order = list(range(n_prompts))
    rng.shuffle(order)  # the slow prompts anywhere, not first
    problems, texts, distinct = [problems[k] for k in order], [texts[k] for k in order], [distinct[k] for k in order]
    stats = {"prompts": n_prompts, "samples_per_prompt": n_samples, "zipf_s": ZIPF_S, "slow_prompts": n_slow,
             "distinct_raw_answers_mean": sum(distinct) / n_prompts,
             "distinct_raw_ratio": sum(distinct) / (n_prompts * n_samples)}
    return problems, texts, stats
