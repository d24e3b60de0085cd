"""Verification prompt templates, per task family, in our own words.

The output formats the parsers read are fixed (gvgap/verifiers/parsing.py):
- MC scores the continuations " Correct" and " Incorrect" after the template;
- CoT-Binary ends with `Correctness: <correct>` or `Correctness: <incorrect>`;
- CoT-Score ends with `Score: <k>`, k an integer from 1 to 10;
- Tournament ends with `Preferred solution: <A>` or `Preferred solution: <B>`.
Placeholders: {problem}, {solution}; the tournament uses {solution_a} and {solution_b}.
A custom template (verifier.template) must keep the same placeholders.
"""

from __future__ import annotations

FAMILY = {"arithmetic": "math", "gsm8k": "math", "math": "math", "math500": "math",
          "nq_open": "qa", "sudoku4": "sudoku"}

MC = {
    "math": (
        "Decide whether the solution below answers the math problem correctly. "
        "Reply with one word: Correct or Incorrect.\n"
        "Problem: {problem}\nSolution: {solution}\nVerdict:"
    ),
    "qa": (
        "Decide whether the answer below correctly answers the question. "
        "Reply with one word: Correct or Incorrect.\n"
        "Question: {problem}\nAnswer: {solution}\nVerdict:"
    ),
    "sudoku": (
        "Decide whether the grid below is a valid solution of the 4x4 Sudoku puzzle "
        "(digits 1-4 once in every row, column and 2x2 box, all givens kept). "
        "Reply with one word: Correct or Incorrect.\n"
        "Puzzle: {problem}\nProposed solution: {solution}\nVerdict:"
    ),
}

# What a careful grader checks, per family; shared by the three sampled verifiers.
_CHECKS = {
    "math": (
        "Work out the problem yourself, then compare. Only the final answer stated at the "
        "end of the solution counts; a solution that never states a final answer is wrong."
    ),
    "qa": (
        "Only the answer itself counts: it must name the right entity, date or number for "
        "the question. A vague, evasive or missing answer is wrong."
    ),
    "sudoku": (
        "A valid answer is a full 4x4 grid using digits 1-4, each exactly once in every "
        "row, every column and every 2x2 box, that keeps every digit given in the puzzle "
        "(0 marks an empty cell). Anything else is wrong."
    ),
}

_NOUN = {"math": ("Problem", "Solution"), "qa": ("Question", "Answer"), "sudoku": ("Puzzle", "Answer")}

# Two worked judgements per family, one right and one wrong, so that small models see
# the verdict format in use (they rarely follow a format that is only described).
# Each: (problem, good attempt, bad attempt, why the good one is right, why the bad one is wrong).
_EXAMPLES = {
    "math": (
        "A shelf has 4 rows of 6 cups. How many cups are on the shelf?",
        "4 rows of 6 cups is 4 x 6 = 24 cups. The answer is 24.",
        "4 rows of 6 cups is 4 + 6 = 10 cups. The answer is 10.",
        "4 x 6 = 24, the same as the final answer.",
        "The rows must be multiplied: 4 x 6 = 24, not 10.",
    ),
    "qa": (
        "which planet is closest to the sun",
        "Mercury",
        "Venus",
        "Mercury orbits closest to the sun.",
        "Venus is second; Mercury is closest.",
    ),
    "sudoku": (
        "12 00 / 00 12 / 21 00 / 00 21",
        "12 34 / 34 12 / 21 43 / 43 21",
        "12 34 / 34 12 / 21 34 / 43 21",
        "Every row, column and box holds 1-4 once and the givens are kept.",
        "Row 3 is 2 1 3 4 but column 3 then has 3 twice.",
    ),
}


def _example(fam: str, verdict_good: str, verdict_bad: str) -> str:
    p, s = _NOUN[fam]
    q, good, bad, why_good, why_bad = _EXAMPLES[fam]
    return (
        f"{p}: {q}\nProposed {s.lower()}: {bad}\nReasons: {why_bad}\n{verdict_bad}\n\n"
        f"{p}: {q}\nProposed {s.lower()}: {good}\nReasons: {why_good}\n{verdict_good}\n\n"
    )


def _cot_binary(fam: str) -> str:
    p, s = _NOUN[fam]
    return (
        f"You are checking someone else's work. Read the {p.lower()} and the proposed "
        f"{s.lower()}, and decide whether it is right. {_CHECKS[fam]} Give your reasons in "
        "at most 50 words, then finish with one line, `Correctness: <correct>` or "
        "`Correctness: <incorrect>`. Be strict.\n\n"
        + _example(fam, "Correctness: <correct>", "Correctness: <incorrect>")
        + f"{p}: {{problem}}\nProposed {s.lower()}: {{solution}}\nReasons:"
    )


def _cot_score(fam: str) -> str:
    p, s = _NOUN[fam]
    return (
        f"You are grading someone else's work. Read the {p.lower()} and the proposed "
        f"{s.lower()}, and rate it from 1 to 10. {_CHECKS[fam]} Give 1 when the final "
        "answer is wrong or missing, and 10 only when the answer and the reasoning are "
        "both right. Give your reasons in at most 50 words, then finish with one line of "
        "the form `Score: <k>`, where k is a whole number from 1 to 10. Be strict.\n\n"
        + _example(fam, "Score: <10>", "Score: <1>")
        + f"{p}: {{problem}}\nProposed {s.lower()}: {{solution}}\nReasons:"
    )


def _tournament(fam: str) -> str:
    p, s = _NOUN[fam]
    q, good, bad, why_good, why_bad = _EXAMPLES[fam]
    return (
        f"Two attempts, A and B, answer the same {p.lower()}. Decide which one is better. "
        f"{_CHECKS[fam]} A right final answer beats a wrong one; an attempt that states "
        "its final answer beats one that does not; if both are right or both wrong, "
        "prefer the clearer and sounder reasoning. Give your reasons in at most 50 words, "
        "then finish with one line, `Preferred solution: <A>` or `Preferred solution: <B>`.\n\n"
        f"{p}: {q}\n{s} A: {bad}\n{s} B: {good}\nReasons: {why_bad} {why_good}\n"
        "Preferred solution: <B>\n\n"
        f"{p}: {q}\n{s} A: {good}\n{s} B: {bad}\nReasons: {why_good} {why_bad}\n"
        "Preferred solution: <A>\n\n"
        f"{p}: {{problem}}\n{s} A: {{solution_a}}\n{s} B: {{solution_b}}\nReasons:"
    )


COT_BINARY = {fam: _cot_binary(fam) for fam in _CHECKS}
COT_SCORE = {fam: _cot_score(fam) for fam in _CHECKS}
TOURNAMENT = {fam: _tournament(fam) for fam in _CHECKS}


def family(task_name: str) -> str:
    return FAMILY.get(task_name, "math")
