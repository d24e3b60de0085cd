"""Verification prompts, per task family, in our own words (after the paper's App. G).

A prompt is: instructions, then k worked judgements (verifier.num_shots; the cases of
gvgap/verifiers/exemplars.py), then the sample to judge. The output formats the parsers
read (gvgap/verifiers/parsing.py):
- MC scores the continuations " Correct" and " Incorrect" after `Verdict:`;
- CoT-Binary ends with `Correctness: <correct>` / `<incorrect>`; on Sudoku (App. G's
  Sudoku verifier) it ends with `Therefore, the response is: Correct` / `Incorrect`;
- CoT-Score ends with `Score: <k>`, k an integer from 1 to 10;
- Tournament ends with `Preferred solution: <A>` or `Preferred solution: <B>`.
Math prompts state the task's grading rule (answer_rule): which phrase carries the final
answer, and that a solution without it is wrong (App. G).
Placeholders: {problem}, {solution}; the tournament uses {solution_a} and {solution_b}.
A custom template (verifier.template) is used as written (num_shots does not apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from gvgap.verifiers import exemplars
from gvgap.verifiers.exemplars import MAX_SHOTS  # noqa: F401  (re-exported for the schemas)

FAMILY = {"arithmetic": "math", "gsm8k": "math", "math": "math", "math500": "math",
          "nq_open": "qa", "sudoku4": "sudoku"}
KINDS = ("mc", "cot_binary", "cot_score", "tournament")

_NOUN = {"math": ("Problem", "Solution"), "qa": ("Question", "Answer"), "sudoku": ("Puzzle", "Answer")}

# What a careful grader checks, per family.
_CHECKS = {
    "math": "Work out the problem yourself, then compare.",
    "qa": ("Only the answer itself counts: it must name the right entity, date or number for "
           "the question. A vague, evasive or missing answer is wrong."),
    "sudoku": ("A valid answer is a full 4x4 grid using digits 1-4, each exactly once in every "
               "row, every column and every 2x2 box, that keeps every digit given in the puzzle "
               "(0 marks an empty cell). Anything else is wrong."),
}

_MC_HEAD = {
    "math": "Decide whether the solution below answers the math problem correctly. ",
    "qa": "Decide whether the answer below correctly answers the question. ",
    "sudoku": ("Decide whether the grid below is a valid solution of the 4x4 Sudoku puzzle "
               "(digits 1-4 once in every row, column and 2x2 box, all givens kept). "),
}

_MC_LABEL = {"math": "Solution", "qa": "Answer", "sudoku": "Proposed solution"}

_MINERVA = "Final Answer: The final answer is"


def family(task_name: str) -> str:
    return FAMILY.get(task_name, "math")


def _esc(text: str) -> str:
    """Literal text inside a template: braces doubled, so str.format leaves them alone."""
    return text.replace("{", "{{").replace("}", "}}")


def _minerva_task(task) -> bool:
    return task.name in ("math", "math500")


def answer_line(task, value: str) -> str:
    """How an attempt at `task` states its final answer (the format its grader reads)."""
    return f"{_MINERVA} ${value}$. I hope it is correct." if _minerva_task(task) else f"The answer is {value}."


def answer_rule(task) -> str:
    """The grading rule of a math task's final answer, as the grader applies it."""
    if _minerva_task(task):
        return ('The final answer is what follows the phrase "The final answer is" at the end of '
                'the solution (as in "Final Answer: The final answer is $x$."), or, without that '
                'phrase, the last \\boxed{...}. A solution with neither has no final answer and is '
                "wrong, however good its working.")
    if task.name == "gsm8k" and getattr(task, "mode", "strict") == "flexible":
        return "The final answer is the last number the solution writes."
    if task.name == "arithmetic":
        return ('The final answer is the number after the phrase "The answer is" (without that '
                "phrase, the last number the solution writes).")
    return ('The final answer is the number right after the phrase "The answer is" at the end of '
            "the solution. A solution without that phrase has no final answer and is wrong, "
            "however good its working.")


def _rules(task, fam: str) -> str:
    if fam == "math":
        return f"{_CHECKS[fam]} {answer_rule(task)} Only the final answer decides right or wrong."
    return _CHECKS[fam]


def cases(task, num_shots: int, gold=None) -> list[exemplars.Case]:
    """The first num_shots exemplar cases for `task` (a sudoku case solving `gold` left out)."""
    fam = family(task.name)
    if fam == "math":
        found = exemplars.math_cases(lambda v: answer_line(task, v))
    elif fam == "qa":
        found = exemplars.qa_cases()
    else:
        found = list(exemplars.sudoku_cases(getattr(task, "givens", 7), gold))
    if num_shots > len(found):
        raise ValueError(f"verifier.num_shots={num_shots}: only {len(found)} exemplars for {task.name}")
    return found[:num_shots]


def _shot_attempts(shots):
    """Shot i shows the wrong attempt when i is even, the right one when odd."""
    return [(c, i % 2 == 0) for i, c in enumerate(shots)]


def mc(task, shots) -> str:
    fam = family(task.name)
    p, s = _NOUN[fam][0], _MC_LABEL[fam]
    body = "".join(f"{p}: {_esc(c.problem)}\n{s}: {_esc(c.bad if wrong else c.good)}\n"
                   f"Verdict: {'Incorrect' if wrong else 'Correct'}\n\n" for c, wrong in _shot_attempts(shots))
    return (f"{_esc(_MC_HEAD[fam])}Reply with one word: Correct or Incorrect.\n" + body
            + f"{p}: {{problem}}\n{s}: {{solution}}\nVerdict:")


def _pointwise(task, shots, head: str, verdict) -> str:
    fam = family(task.name)
    p, s = _NOUN[fam]
    body = "".join(f"{p}: {_esc(c.problem)}\nProposed {s.lower()}: {_esc(c.bad if wrong else c.good)}\n"
                   f"Reasons: {_esc(c.why_bad if wrong else c.why_good)}\n{verdict(not wrong)}\n\n"
                   for c, wrong in _shot_attempts(shots))
    return f"{head}\n\n{body}{p}: {{problem}}\nProposed {s.lower()}: {{solution}}\nReasons:"


def cot_binary(task, shots) -> str:
    fam = family(task.name)
    if fam == "sudoku":
        return _sudoku_binary(shots)
    p, s = _NOUN[fam]
    head = (f"You are checking someone else's work. Read the {p.lower()} and the proposed "
            f"{s.lower()}, and decide whether it is right. {_esc(_rules(task, fam))} Give your reasons in "
            "at most 50 words, then finish with one line, `Correctness: <correct>` or "
            "`Correctness: <incorrect>`. Be strict.")
    return _pointwise(task, shots, head, lambda ok: f"Correctness: <{'correct' if ok else 'incorrect'}>")


def _sudoku_binary(shots) -> str:
    """App. G's Sudoku verifier format: a check of givens, rows, columns and boxes that
    ends with the word Correct or Incorrect."""
    head = ("You check proposed answers to 4x4 Sudoku puzzles. The puzzle and the answer are "
            f"each four lines of digits, two pairs per line. {_CHECKS['sudoku']} Check that every given digit is kept, then the rows, "
            "the columns and the 2x2 boxes, briefly, and end with one line: "
            "`Therefore, the response is: Correct` or `Therefore, the response is: Incorrect`.")
    body = "".join(f"Question:\n{_esc(c.problem)}\nAnswer:\n{_esc(c.bad if wrong else c.good)}\n"
                   f"Judgment: {_esc(c.why_bad if wrong else c.why_good)}\n"
                   f"Therefore, the response is: {'Incorrect' if wrong else 'Correct'}\n\n"
                   for c, wrong in _shot_attempts(shots))
    return f"{head}\n\n{body}Question:\n{{problem}}\nAnswer:\n{{solution}}\nJudgment:"


def cot_score(task, shots) -> str:
    fam = family(task.name)
    p, s = _NOUN[fam]
    head = (f"You are grading someone else's work. Read the {p.lower()} and the proposed "
            f"{s.lower()}, and rate it from 1 to 10. {_esc(_rules(task, fam))} Give 1 when the final "
            "answer is wrong or missing, and 10 only when the answer and the reasoning are "
            "both right. Give your reasons in at most 50 words, then finish with one line of "
            "the form `Score: <k>`, where k is a whole number from 1 to 10. Be strict.")
    return _pointwise(task, shots, head, lambda ok: f"Score: <{10 if ok else 1}>")


def tournament(task, shots) -> str:
    fam = family(task.name)
    p, s = _NOUN[fam]
    body = ""
    for i, c in enumerate(shots):  # the right attempt is B in even shots, A in odd ones
        a, b, why_a, why_b = (c.bad, c.good, c.why_bad, c.why_good) if i % 2 == 0 else \
            (c.good, c.bad, c.why_good, c.why_bad)
        body += (f"{p}: {_esc(c.problem)}\n{s} A: {_esc(a)}\n{s} B: {_esc(b)}\n"
                 f"Reasons: A: {_esc(why_a)} B: {_esc(why_b)}\nPreferred solution: <{'B' if i % 2 == 0 else 'A'}>\n\n")
    return (f"Two attempts, A and B, answer the same {p.lower()}. Decide which one is better. "
            f"{_esc(_rules(task, fam))} A right final answer beats a wrong one; an attempt that states "
            "its final answer beats one that does not; if both are right or both wrong, "
            "prefer the clearer and sounder reasoning. Give your reasons in at most 50 words, "
            "then finish with one line, `Preferred solution: <A>` or `Preferred solution: <B>`.\n\n"
            + body + f"{p}: {{problem}}\n{s} A: {{solution_a}}\n{s} B: {{solution_b}}\nReasons:")


_BUILD = {"mc": mc, "cot_binary": cot_binary, "cot_score": cot_score, "tournament": tournament}


@dataclass(frozen=True)
class _TaskKey:
    """What a template depends on: the task's name, grading mode and sudoku givens."""

    name: str
    mode: str | None
    givens: int | None


def template(kind: str, task, num_shots: int, gold=None) -> str:
    """The `kind` template for `task` with num_shots exemplars. `gold`, the judged
    problem's gold answer, only matters for Sudoku, whose exemplar solving the same grid
    is never shown."""
    leave_out = gold if family(task.name) == "sudoku" and gold in exemplars.SUDOKU_SOLUTIONS else None
    return _cached(kind, _TaskKey(task.name, getattr(task, "mode", None), getattr(task, "givens", 7)),
                   num_shots, leave_out)


@lru_cache(maxsize=256)
def _cached(kind: str, key: _TaskKey, num_shots: int, leave_out) -> str:
    return _BUILD[kind](key, cases(key, num_shots, leave_out))


# The zero-shot MC template of each family (MC states no task rule, so one per family).
MC = {fam: mc(_TaskKey(name, None, 7), []) for name, fam in (("gsm8k", "math"), ("nq_open", "qa"), ("sudoku4", "sudoku"))}
