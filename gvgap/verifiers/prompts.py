"""Verification prompt templates, per task family, in our own words.

The output formats the parsers read are fixed: MC scores the continuations " Correct" and
" Incorrect" after the template.
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


def family(task_name: str) -> str:
    return FAMILY.get(task_name, "math")
